"""Moving a seedbox from Deluge: Debian's deluged 2.0.3 (on libtorrent 2.0)
holds three torrents over its own data (a single file renamed in Deluge,
labelled with the Label plugin, an upload cap and a stop ratio; an album
with a file skipped and one raised, stopped; a folder partly downloaded,
told to move to another folder when it completes), is shut down, and
`seedring remote import-deluge` adds its configuration folder to a seedring
daemon whose storage root is Deluge's download folder. seedring then
answers for each torrent what Deluge answered over its RPC before it
stopped (name, folder, files and what is wanted, label as category, cap,
stop ratio, stopped or not, progress, trackers, times), the unfinished one
goes to its move-completed folder when it finishes, nothing is downloaded
and no file changes; a second import adds nothing. A folder without
Deluge's state, or with a damaged one, is told."""

import base64
import subprocess
import time

import libtorrent as lt
import requests
from deluge_client import DelugeRPCClient

from conftest import lt_create, make_tree, seedring_bin
from import_common import digests, holds_only, imported, seen_by_seedring
from qbit_common import Client, SeedringQb, free_port, wait_state

KEYS = ("name", "save_path", "category", "files", "stopped", "progress", "trackers",
        "up_limit", "ratio_limit", "added_on", "completion_on", "uploaded")


def priority(p):
    """A file's priority as Deluge sets it (libtorrent's 0 to 7), as
    seedring's qBittorrent API shows it: skipped 0, low and normal 1, high 6."""
    return 0 if p == 0 else 1 if p <= 4 else 6


class Deluge:
    """deluged in the foreground, its RPC on loopback, no DHT, LSD, UPnP or
    PEX, peers on loopback."""

    def __init__(self, conf, home):
        conf.mkdir(parents=True)
        self.conf = conf
        self.port = free_port()
        self.log = open(conf.parent / "deluged.log", "w")
        self.proc = subprocess.Popen(
            ["deluged", "-d", "-c", str(conf), "-p", str(self.port), "-i", "127.0.0.1",
             "-L", "info"], stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while True:
            try:
                user, password = (conf / "auth").read_text().split("\n")[0].split(":")[:2]
                self.rpc = DelugeRPCClient("127.0.0.1", self.port, user, password,
                                           decode_utf8=True)
                self.rpc.connect()
                break
            except (OSError, ValueError):
                assert time.time() < deadline, "Deluge did not start"
                assert self.proc.poll() is None, "Deluge exited"
                time.sleep(0.2)
        self.call("core.set_config", {
            "dht": False, "lsd": False, "upnp": False, "natpmp": False, "utpex": False,
            "listen_interface": "127.0.0.1", "random_port": False,
            "listen_ports": [free_port()] * 2, "download_location": str(home)})

    def call(self, method, *args):
        return self.rpc.call(method, *args)

    def add(self, torrent, home):
        return self.call("core.add_torrent_file", "t.torrent",
                         base64.b64encode(torrent).decode(), {"download_location": str(home)})

    def summary(self, tid):
        """What a user sees of one torrent, in the terms of seedring's
        qBittorrent API."""
        t = self.call("core.get_torrent_status", tid, [
            "name", "save_path", "label", "files", "file_priorities", "state", "progress",
            "trackers", "max_upload_speed", "stop_at_ratio", "stop_ratio", "remove_at_ratio",
            "time_added",
            "completed_time", "total_uploaded", "move_completed", "move_completed_path"])
        done = t["progress"] == 100
        return {
            "name": t["name"],
            # Unfinished with a move-completed folder: that is where it goes.
            "save_path": (t["move_completed_path"] if t["move_completed"] and not done
                          else t["save_path"]).rstrip("/"),
            "category": t["label"],
            "files": [(f["path"], priority(p)) for f, p in zip(t["files"], t["file_priorities"])],
            "stopped": t["state"] == "Paused",
            "progress": round(t["progress"] / 100, 4),
            "trackers": sorted(x["url"] for x in t["trackers"]),
            # KiB/s, -1 none; qBittorrent's API: bytes/s, 0 none.
            "up_limit": int(t["max_upload_speed"] * 1024) if t["max_upload_speed"] > 0 else 0,
            # The global one is -2 in qBittorrent's API.
            "ratio_limit": t["stop_ratio"] if t["stop_at_ratio"] else -2,
            # What it does there; the native API's name of it here.
            "at_ratio": ("remove" if t["remove_at_ratio"] else "pause")
            if t["stop_at_ratio"] else None,
            "added_on": t["time_added"],
            "completion_on": t["completed_time"] if done else 0,
            "uploaded": t["total_uploaded"],
        }

    def stop(self):
        """Shuts down as its service does (the state is saved)."""
        try:
            self.call("daemon.shutdown")
        except Exception:  # the connection closes as it goes
            pass
        self.proc.wait(timeout=30)
        self.log.close()


def test_a_deluge_seedbox_moves_over_with_its_settings_and_data(tmp):
    home = tmp / "downloads"
    tr = ["http://127.0.0.1:1/announce"]
    single = make_tree(home, {"single.bin": 100_000}, 1) / "single.bin"
    album = make_tree(home / "album", {"a.bin": 60_000, "b.bin": 50_000, "c.bin": 5_000}, 2)
    part = make_tree(home / "part", {"p.bin": 64 * 1024, "q.bin": 64 * 1024}, 4)
    torrents, hashes = {}, {}
    for name, src in (("single", single), ("album", album), ("part", part)):
        torrents[name] = lt_create(src, 16384, lt.create_torrent.v1_only, tr)
        hashes[name] = lt.torrent_info(lt.bdecode(torrents[name])).info_hash().to_bytes().hex()
    # Half of q.bin.
    q = (part / "q.bin").read_bytes()
    (part / "q.bin").write_bytes(q[:32768])

    d = Deluge(tmp / "deluge", home)
    try:
        ids = {k: d.add(v, home) for k, v in torrents.items()}
        assert ids == hashes
        deadline = time.time() + 60
        while any(d.call("core.get_torrent_status", i, ["state"])["state"]
                  in ("Checking", "Allocating") for i in ids.values()):
            assert time.time() < deadline, "Deluge's checks did not end"
            time.sleep(0.2)
        d.call("core.enable_plugin", "Label")
        d.call("label.add", "tv")
        d.call("label.set_torrent", ids["single"], "tv")
        d.call("core.set_torrent_options", [ids["single"]], {
            "name": "Single One", "max_upload_speed": 50.0, "stop_at_ratio": True,
            "stop_ratio": 2.5, "remove_at_ratio": True})
        d.call("core.set_torrent_options", [ids["album"]], {"file_priorities": [7, 0, 4]})
        d.call("core.pause_torrents", [ids["album"]])
        d.call("core.set_torrent_options", [ids["part"]], {
            "move_completed": True, "move_completed_path": str(home / "done")})
        deadline = time.time() + 30
        while not d.summary(ids["album"])["stopped"]:
            assert time.time() < deadline, "Deluge did not stop the torrent"
            time.sleep(0.2)
        before = {k: d.summary(i) for k, i in ids.items()}
    finally:
        d.stop()
    assert before["single"]["name"] == "Single One" and before["single"]["category"] == "tv"
    assert before["single"]["up_limit"] == 51_200 and before["single"]["ratio_limit"] == 2.5
    assert before["single"]["at_ratio"] == "remove"
    assert [p for _, p in before["album"]["files"]] == [6, 0, 1]
    assert before["album"]["stopped"] and not before["single"]["stopped"]
    assert before["part"]["progress"] == 0.75, "Deluge found half of q.bin"
    assert before["part"]["save_path"] == str(home / "done")
    on_disk = digests(home)

    sr = SeedringQb(tmp / "sr", {"default": home})
    cmd = [seedring_bin(), "remote", "--data-dir", str(tmp / "sr" / "data"),
           "import-deluge", str(tmp / "deluge")]
    try:
        imported(cmd, 3, 0)
        s = Client(sr.url)
        assert s.login() == "Ok."
        wait_state(s, hashes["single"], {"stalledUP", "uploading"})
        wait_state(s, hashes["album"], {"pausedUP"})
        wait_state(s, hashes["part"], {"stalledDL", "downloading"})
        for k, h in hashes.items():
            after = seen_by_seedring(s, h, KEYS)
            want = {x: before[k][x] for x in KEYS}
            assert after == want, (k, after, want)
        # What reaching the stop ratio does comes too (seedring's qBittorrent
        # lists have 4.5's fields, without it: asked of the native API).
        token = (tmp / "sr" / "data" / "admin.token").read_text().strip()
        for k, h in hashes.items():
            r = requests.get(f"{sr.url}/api/v1/torrents/{h}", timeout=10,
                             headers={"Authorization": f"Bearer {token}"})
            own = r.json().get("share_limits") or {}
            assert own.get("share_limit_action") == before[k]["at_ratio"], (k, r.json())
        # The unfinished one downloads where it is, and goes to its
        # move-completed folder when it finishes.
        part_info = s.json("torrents/info", hashes=hashes["part"])[0]
        assert part_info["download_path"].rstrip("/") == str(home), part_info
        # Beside the storage root's marker, no file changed and none came;
        # q.bin keeps what it held (its length may be made whole: the rest
        # is for peers to send, and none did).
        now = digests(home)
        assert now.pop(".seedring-root")
        assert now.pop("part/q.bin") and on_disk.pop("part/q.bin")
        holds_only(part / "q.bin", q[:32768])
        assert now == on_disk, "no file changed, nothing was fetched"

        imported(cmd, 0, 3)
    finally:
        sr.stop()


def test_a_folder_without_deluge_state_or_with_a_damaged_one_is_told(tmp):
    sr = SeedringQb(tmp / "sr", {"default": tmp / "home"})
    base = [seedring_bin(), "remote", "--data-dir", str(tmp / "sr" / "data"), "import-deluge"]
    try:
        conf = tmp / "conf"
        (conf / "state").mkdir(parents=True)
        out = subprocess.run(base + [str(conf)], capture_output=True, text=True, timeout=60)
        assert out.returncode != 0 and "no torrents.fastresume in" in out.stderr, out.stderr
        (conf / "state" / "torrents.fastresume").write_bytes(b"d40:")
        out = subprocess.run(base + [str(conf)], capture_output=True, text=True, timeout=60)
        assert out.returncode != 0, out.stdout
        assert "the torrents.fastresume file is not readable" in out.stderr, out.stderr
        # A readable list beside a damaged pickle and label file: said, and
        # the torrent is tried without them (its .torrent is not there).
        resume = lt.bencode({"save_path": str(tmp / "home"), "pieces": b"\x01"})
        (conf / "state" / "torrents.fastresume").write_bytes(
            lt.bencode({"ab" * 20: resume}))
        (conf / "state" / "torrents.state").write_bytes(b"\x80\x02cos\nsystem\n")
        (conf / "label.conf").write_text("{}")
        out = subprocess.run(base + [str(conf / "state")], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode != 0, out.stdout
        assert "torrents.state is not readable (it ends early)" in out.stderr, out.stderr
        assert "label.conf is not readable" in out.stderr, out.stderr
        assert f"skipped {'ab' * 20}: it has no metadata and no info-hash" in out.stderr, \
            out.stderr
        token = (tmp / "sr" / "data" / "admin.token").read_text().strip()
        r = requests.get(sr.url + "/api/v1/torrents", timeout=10,
                         headers={"Authorization": f"Bearer {token}"})
        assert r.json()["total"] == 0, "the daemon is untouched by it"
    finally:
        sr.stop()
