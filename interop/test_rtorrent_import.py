"""Moving a seedbox from rTorrent: Debian's rTorrent 0.9.8 holds five
torrents over its own data (a single file labelled as ruTorrent labels,
then stopped; an album in a folder under another name, with a file turned
off, one raised, a tracker of the user's added and the torrent's own turned
off; a folder labelled "music"; a folder with a file missing, so partly
downloaded; a magnet link still waiting for its metadata), is stopped, and
`seedring remote import-rtorrent` adds its session folder to a seedring
daemon whose storage root is rTorrent's download folder. seedring then
answers for each torrent what rTorrent answered over its XML-RPC before it
stopped (name, where its content is, label as category, stopped or not,
progress, every file's priority, the trackers in use), nothing is
downloaded and no file changes; a second import adds nothing."""

import hashlib
import socket
import subprocess
import time
import xmlrpc.client
from urllib.parse import quote, unquote

import libtorrent as lt
import requests

from conftest import lt_create, make_tree, seedring_bin
from import_common import digests, imported, seen_by_seedring
from qbit_common import Client, SeedringQb, free_port, wait_state

FAKE = "cd" * 20
# rTorrent's file priorities (off, normal, high) as qBittorrent's API gives them.
PRIORITY = {0: 0, 1: 1, 2: 6}


class Rtorrent:
    """rTorrent without a terminal, its XML-RPC on a local SCGI socket, its
    peers on a loopback port, no DHT, no PEX, no UDP trackers."""

    def __init__(self, tmp, home):
        self.session = tmp / "session"
        self.session.mkdir(parents=True)
        self.sock = str(tmp / "rpc.sock")
        port = free_port()
        rc = tmp / "rtorrent.rc"
        rc.write_text(f"session.path.set = {self.session}\n"
                      f"directory.default.set = {home}\n"
                      f"network.scgi.open_local = {self.sock}\n"
                      f"network.bind_address.set = 127.0.0.1\n"
                      f"network.port_range.set = {port}-{port}\n"
                      "dht.mode.set = disable\nprotocol.pex.set = no\n"
                      "trackers.use_udp.set = no\nsystem.daemon.set = true\n")
        self.log = open(tmp / "rtorrent.log", "w")
        self.proc = subprocess.Popen(["rtorrent", "-n", "-o", f"import={rc}"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while True:
            try:
                self.call("system.client_version")
                break
            except OSError:
                assert time.time() < deadline, "rTorrent did not start"
                assert self.proc.poll() is None, "rTorrent exited"
                time.sleep(0.2)

    def call(self, method, *args):
        """One XML-RPC call over SCGI (a netstring of headers, then the body)."""
        body = xmlrpc.client.dumps(args, method).encode()
        head = b"CONTENT_LENGTH\0%d\0SCGI\x001\0" % len(body)
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(30)
            s.connect(self.sock)
            s.sendall(b"%d:%s,%s" % (len(head), head, body))
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        return xmlrpc.client.loads(answer.split(b"\r\n\r\n", 1)[1])[0][0]

    def summary(self, h):
        """What a user sees of one torrent."""
        c = self.call
        files = c("f.multicall", h, "", "f.path=", "f.priority=")
        trackers = c("t.multicall", h, "", "t.url=", "t.is_enabled=")
        size = c("d.size_bytes", h)
        return {
            "content": c("d.base_path", h) or c("d.directory", h),
            "category": unquote(c("d.custom1", h)),
            "stopped": c("d.state", h) == 0,
            "progress": round(c("d.completed_bytes", h) / size, 4),
            "priorities": [PRIORITY[p] for _, p in files],
            "trackers": sorted(u for u, on in trackers if on),
            # ruTorrent's add time, rTorrent's completion time.
            "added_on": int(c("d.custom", h, "addtime") or 0),
            "completion_on": c("d.timestamp.finished", h),
            "uploaded": c("d.up.total", h),
            "downloaded": c("d.down.total", h),
        }

    def stop(self):
        """Saves the session and exits as a user's quit does."""
        if self.proc.poll() is None:
            self.call("session.save")
            self.call("system.shutdown.normal")
            self.proc.wait(timeout=30)
        self.log.close()


def checked(rt, h):
    """rTorrent holds torrent `h` and has checked it. A torrent loaded a moment
    ago may not be known yet: `load.start_verbose` answers before it is (a
    CI run saw "Could not find info-hash" here), which counts as not yet."""
    try:
        return rt.call("d.is_hash_checked", h) and not rt.call("d.hashing", h)
    except xmlrpc.client.Fault as e:
        if e.faultCode == -501:
            return False
        raise


def test_an_rtorrent_seedbox_moves_over_with_its_labels_and_data(tmp):
    home = tmp / "downloads"
    tr = ["http://127.0.0.1:1/announce"]
    single = make_tree(home, {"single.bin": 100_000}, 1) / "single.bin"
    album = make_tree(tmp / "src" / "album", {"a.bin": 60_000, "b.bin": 50_000, "c.bin": 5_000}, 2)
    make_tree(home / "Album (2020)", {"a.bin": 60_000, "b.bin": 50_000, "c.bin": 5_000}, 2)
    flat = make_tree(home / "flat", {"x.bin": 70_000, "d/y.bin": 30_000}, 3)
    part = make_tree(home / "part", {"p.bin": 64 * 1024, "q.bin": 64 * 1024}, 4)
    torrents = {}
    for name, src in (("single", single), ("album", album), ("flat", flat), ("part", part)):
        data = lt_create(src, 16384, lt.create_torrent.v1_only, tr)
        (tmp / f"{name}.torrent").write_bytes(data)
        torrents[name] = lt.torrent_info(lt.bdecode(data)).info_hash().to_bytes().hex()
    (part / "q.bin").unlink()

    rt = Rtorrent(tmp / "rt", home)
    try:
        # ruTorrent keeps each torrent's add time in d.custom "addtime".
        added = {k: 1_600_000_000 + i for i, k in enumerate(torrents)}
        load = lambda name, *cmds: rt.call("load.start_verbose", "", str(tmp / f"{name}.torrent"),
                                           f"d.custom.set=addtime,{added[name]}", *cmds)
        # ruTorrent keeps a label percent-encoded in custom1.
        load("single", f"d.directory.set={home}", f"d.custom1.set={quote('tv shows')}")
        load("album", f'd.directory_base.set="{home / "Album (2020)"}"')
        load("flat", f"d.directory.set={home}", "d.custom1.set=music")
        load("part", f"d.directory.set={home}")
        rt.call("load.start_verbose", "", f"magnet:?xt=urn:btih:{FAKE}&dn=waiting"
                "&tr=http%3A%2F%2F127.0.0.1%3A1%2Fm", "d.custom1.set=tv")
        hashes = {k: v.upper() for k, v in torrents.items()}
        deadline = time.time() + 60
        while not all(checked(rt, h) for h in hashes.values()):
            assert time.time() < deadline, ("rTorrent's checks did not end", [
                (k, checked(rt, h)) for k, h in hashes.items()])
            time.sleep(0.2)
        a = hashes["album"]
        rt.call("f.priority.set", f"{a}:f1", 0)
        rt.call("f.priority.set", f"{a}:f2", 2)
        rt.call("d.update_priorities", a)
        rt.call("d.tracker.insert", a, "1", "http://127.0.0.1:2/mine")
        rt.call("t.is_enabled.set", f"{a}:t0", 0)
        rt.call("d.stop", hashes["single"])
        before = {k: rt.summary(h) for k, h in hashes.items()}
    finally:
        rt.stop()
    assert before["single"]["stopped"] and before["single"]["category"] == "tv shows"
    assert before["album"]["content"] == str(home / "Album (2020)")
    assert before["album"]["priorities"] == [1, 0, 6]
    assert before["album"]["trackers"] == ["http://127.0.0.1:2/mine"]
    assert 0 < before["part"]["progress"] < 1
    on_disk = digests(home)

    sr = SeedringQb(tmp / "sr", {"default": home})
    cmd = [seedring_bin(), "remote", "--data-dir", str(tmp / "sr" / "data"),
           "import-rtorrent", str(tmp / "rt" / "session")]
    try:
        imported(cmd, 5, 0)
        s = Client(sr.url)
        assert s.login() == "Ok."
        for k in ("album", "flat"):
            wait_state(s, torrents[k], {"stalledUP", "uploading"})
        wait_state(s, torrents["single"], {"pausedUP"})
        wait_state(s, torrents["part"], {"stalledDL", "downloading"})
        wait_state(s, FAKE, {"metaDL"})
        after = {k: seen_by_seedring(s, h, before[k]) for k, h in torrents.items()}
        for k in torrents:
            assert after[k] == before[k], (k, after[k], before[k])
        magnet = s.json("torrents/info", hashes=FAKE)[0]
        assert (magnet["name"], magnet["category"]) == ("waiting", "tv")
        assert magnet["save_path"].rstrip("/") == str(home)
        cats = s.json("torrents/categories")
        assert {"tv shows", "music", "tv"} <= set(cats), cats
        # Beside the storage root's marker, no file changed and none came.
        # The missing file rTorrent made empty is sized for what is to come
        # (no peer sent any of it).
        now = digests(home)
        assert now.pop(".seedring-root")
        assert on_disk.pop("part/q.bin") == hashlib.sha256(b"").hexdigest()
        assert now.pop("part/q.bin") and not (home / "part" / "q.bin").read_bytes().strip(b"\0")
        assert now == on_disk, "no file changed, nothing was fetched"

        imported(cmd, 0, 5)
    finally:
        sr.stop()


def test_a_folder_without_rtorrent_files_or_with_a_damaged_one_is_told(tmp):
    sr = SeedringQb(tmp / "sr", {"default": tmp / "home"})
    base = [seedring_bin(), "remote", "--data-dir", str(tmp / "sr" / "data"), "import-rtorrent"]
    try:
        empty = tmp / "empty"
        empty.mkdir()
        out = subprocess.run(base + [str(empty)], capture_output=True, text=True, timeout=60)
        assert out.returncode != 0 and "no rTorrent session files" in out.stderr, out.stderr
        h = "ab" * 20
        (empty / f"{h}.torrent").write_bytes(b"d4:infoi1ee")
        (empty / f"{h}.torrent.rtorrent").write_bytes(b"d9:directory")
        (empty / "rtorrent.lock").write_text("localhost:+1")
        out = subprocess.run(base + [str(empty)], capture_output=True, text=True, timeout=60)
        assert out.returncode != 0, out.stdout
        assert f"skipped {h}: the .rtorrent file is not readable" in out.stderr, out.stderr
        assert "rtorrent.lock" in out.stderr, out.stderr
        assert sr_total(sr, tmp) == 0, "the daemon is untouched by it"
    finally:
        sr.stop()


def sr_total(sr, tmp):
    token = (tmp / "sr" / "data" / "admin.token").read_text().strip()
    r = requests.get(sr.url + "/api/v1/torrents", timeout=10,
                     headers={"Authorization": f"Bearer {token}"})
    return r.json()["total"]
