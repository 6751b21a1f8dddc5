"""Moving a seedbox from Transmission: Debian's transmission-daemon 3.00
holds five torrents over its own data (a single file renamed; an album with
its folder and a file renamed, a file not wanted, one raised, two labels, an
upload cap, a ratio and an idle limit and a tracker of the user's; a folder
stopped; a folder partly downloaded, its unfinished file named `q.bin.part`
as Transmission names them; a magnet link still waiting for its metadata),
is stopped, and `seedring remote import-transmission` adds its
configuration folder to a seedring daemon whose storage root is
Transmission's download folder. seedring then answers for each torrent what
Transmission answered over its RPC before it stopped (name, folder, files
under their names now with what is wanted, labels, caps, limits, stopped or
not, progress, trackers), the unfinished file has its own name back with
what it held, nothing is downloaded and no other file changes; a second
import adds nothing."""

import base64
import json
import subprocess
import time

import libtorrent as lt
import requests

from conftest import lt_create, make_tree, seedring_bin
from import_common import digests, holds_only, imported, seen_by_seedring
from qbit_common import Client, SeedringQb, free_port, wait_state

FAKE = "ef" * 20
# Transmission's file priorities (low, normal, high) as qBittorrent's API
# gives them; a file not wanted is 0.
PRIORITY = {-1: 1, 0: 1, 1: 6}


class Transmission:
    """transmission-daemon in the foreground, its RPC and peers on loopback,
    no DHT, PEX, LSD or uTP."""

    def __init__(self, conf, home):
        conf.mkdir(parents=True)
        self.conf = conf
        self.port = free_port()
        (conf / "settings.json").write_text(json.dumps({
            "dht-enabled": False, "lpd-enabled": False, "pex-enabled": False,
            "utp-enabled": False, "port-forwarding-enabled": False,
            "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
            "peer-port": free_port(), "rpc-bind-address": "127.0.0.1", "rpc-port": self.port,
            "rpc-authentication-required": False, "rpc-whitelist-enabled": False,
            "rpc-host-whitelist-enabled": False, "download-dir": str(home),
            "incomplete-dir-enabled": False, "message-level": 2}))
        self.log = open(conf / "transmission.log", "w")
        self.proc = subprocess.Popen(["transmission-daemon", "-f", "-g", str(conf)],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.session = ""
        deadline = time.time() + 30
        while True:
            try:
                self.call("session-get")
                break
            except requests.ConnectionError:
                assert time.time() < deadline, "Transmission did not start"
                assert self.proc.poll() is None, "Transmission exited"
                time.sleep(0.2)

    def call(self, method, **args):
        """One RPC call (the session id asked for by a 409 first)."""
        url = f"http://127.0.0.1:{self.port}/transmission/rpc"
        for _ in range(2):
            r = requests.post(url, json={"method": method, "arguments": args}, timeout=30,
                              headers={"X-Transmission-Session-Id": self.session})
            if r.status_code == 409:
                self.session = r.headers["X-Transmission-Session-Id"]
                continue
            r.raise_for_status()
            answer = r.json()
            assert answer["result"] == "success", (method, args, answer)
            return answer["arguments"]
        raise AssertionError("no session id")

    def add(self, torrent, **args):
        added = self.call("torrent-add", metainfo=base64.b64encode(torrent).decode(), **args)
        return added["torrent-added"]["id"]

    def summary(self, tid):
        """What a user sees of one torrent."""
        t = self.call("torrent-get", ids=[tid], fields=[
            "name", "downloadDir", "files", "wanted", "priorities", "labels", "status",
            "percentDone", "trackers", "uploadLimit", "uploadLimited", "seedRatioLimit",
            "seedRatioMode", "addedDate", "doneDate", "uploadedEver",
            "downloadedEver"])["torrents"][0]
        return {
            "name": t["name"],
            "save_path": t["downloadDir"],
            "files": [(f["name"], PRIORITY[p] if w else 0)
                      for f, w, p in zip(t["files"], t["wanted"], t["priorities"])],
            "tags": sorted(t["labels"]),
            "stopped": t["status"] == 0,
            "progress": round(t["percentDone"], 4),
            "trackers": sorted(x["announce"] for x in t["trackers"]),
            # kB/s (1,000 bytes) when on; qBittorrent's API: bytes/s, 0 none.
            "up_limit": t["uploadLimit"] * 1000 if t["uploadLimited"] else 0,
            # Mode 1: its own; 0: the global one (-2 in qBittorrent's API).
            "ratio_limit": t["seedRatioLimit"] if t["seedRatioMode"] == 1 else -2,
            "added_on": t["addedDate"],
            # A torrent added whole has no doneDate in Transmission; seedring
            # (and qBittorrent) say it completed when it was added.
            "completion_on": t["doneDate"] or (t["addedDate"] if t["percentDone"] == 1 else 0),
            "uploaded": t["uploadedEver"],
            "downloaded": t["downloadedEver"],
        }

    def stop(self):
        """Stops as a service stop does (SIGTERM: the resume files are saved)."""
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def test_a_transmission_seedbox_moves_over_with_its_settings_and_data(tmp):
    home = tmp / "downloads"
    tr = ["http://127.0.0.1:1/announce"]
    single = make_tree(home, {"single.bin": 100_000}, 1) / "single.bin"
    album = make_tree(home / "album", {"a.bin": 60_000, "b.bin": 50_000, "c.bin": 5_000}, 2)
    flat = make_tree(home / "flat", {"x.bin": 70_000, "d/y.bin": 30_000}, 3)
    part = make_tree(home / "part", {"p.bin": 64 * 1024, "q.bin": 64 * 1024}, 4)
    torrents, hashes = {}, {}
    for name, src in (("single", single), ("album", album), ("flat", flat), ("part", part)):
        torrents[name] = lt_create(src, 16384, lt.create_torrent.v1_only, tr)
        hashes[name] = lt.torrent_info(lt.bdecode(torrents[name])).info_hash().to_bytes().hex()
    # Half of q.bin, under the name Transmission gives an unfinished file.
    q = (part / "q.bin").read_bytes()
    (part / "q.bin").unlink()
    (part / "q.bin.part").write_bytes(q[:32768])

    t = Transmission(tmp / "tr", home)
    try:
        ids = {k: t.add(v, **{"download-dir": str(home)}) for k, v in torrents.items()}
        t.call("torrent-add", filename=f"magnet:?xt=urn:btih:{FAKE}&dn=waiting"
               "&tr=http%3A%2F%2F127.0.0.1%3A1%2Fm", **{"download-dir": str(home)})
        deadline = time.time() + 60
        while True:
            got = t.call("torrent-get", ids=list(ids.values()), fields=["status", "percentDone"])
            # 1 and 2: waiting for a check, checking.
            if all(x["status"] not in (1, 2) for x in got["torrents"]):
                break
            assert time.time() < deadline, ("Transmission's checks did not end", got)
            time.sleep(0.2)
        a = ids["album"]
        t.call("torrent-set", ids=[a], **{"files-unwanted": [1], "priority-high": [2],
                                          "labels": ["tv", "hd"], "uploadLimit": 100,
                                          "uploadLimited": True, "seedRatioLimit": 1.5,
                                          "seedRatioMode": 1, "seedIdleLimit": 30,
                                          "seedIdleMode": 1,
                                          "trackerAdd": ["http://127.0.0.1:2/mine"]})
        t.call("torrent-rename-path", ids=[a], path="album/a.bin", name="a2.bin")
        t.call("torrent-rename-path", ids=[a], path="album", name="Album X")
        t.call("torrent-rename-path", ids=[ids["single"]], path="single.bin", name="single2.bin")
        t.call("torrent-stop", ids=[ids["flat"]])
        deadline = time.time() + 30
        while not t.summary(ids["flat"])["stopped"]:
            assert time.time() < deadline, "Transmission did not stop the torrent"
            time.sleep(0.2)
        before = {k: t.summary(i) for k, i in ids.items()}
    finally:
        t.stop()
    assert before["album"]["files"][0] == ("Album X/a2.bin", 1)
    assert [p for _, p in before["album"]["files"]] == [1, 0, 6]
    assert before["album"]["up_limit"] == 100_000 and before["album"]["ratio_limit"] == 1.5
    assert before["flat"]["stopped"] and before["single"]["name"] == "single2.bin"
    assert before["part"]["progress"] == 0.75, "Transmission found half of q.bin.part"
    assert (home / "Album X" / "a2.bin").exists()
    on_disk = digests(home)

    sr = SeedringQb(tmp / "sr", {"default": home})
    cmd = [seedring_bin(), "remote", "--data-dir", str(tmp / "sr" / "data"),
           "import-transmission", str(tmp / "tr")]
    try:
        stdout = imported(cmd, 5, 0)
        assert f"renamed {part / 'q.bin.part'} to {part / 'q.bin'}" in stdout, stdout
        s = Client(sr.url)
        assert s.login() == "Ok."
        for k in ("album", "single"):
            wait_state(s, hashes[k], {"stalledUP", "uploading"})
        wait_state(s, hashes["flat"], {"pausedUP"})
        wait_state(s, hashes["part"], {"stalledDL", "downloading"})
        wait_state(s, FAKE, {"metaDL"})
        for k, h in hashes.items():
            after = seen_by_seedring(s, h, before[k])
            assert after == before[k], (k, after, before[k])
        magnet = s.json("torrents/info", hashes=FAKE)[0]
        assert (magnet["name"], magnet["save_path"].rstrip("/")) == ("waiting", str(home))
        assert [x["url"] for x in s.json("torrents/trackers", hash=FAKE)
                if not x["url"].startswith("** ")] == ["http://127.0.0.1:1/m"]
        # Beside the storage root's marker, no file changed and none came;
        # q.bin.part is q.bin again, what it held kept (the rest is for
        # peers to send: none did).
        now = digests(home)
        assert now.pop(".seedring-root")
        assert on_disk.pop("part/q.bin.part") and now.pop("part/q.bin")
        holds_only(part / "q.bin", q[:32768])
        assert now == on_disk, "no file changed, nothing was fetched"

        imported(cmd, 0, 5)
    finally:
        sr.stop()


def test_a_folder_without_transmission_files_or_with_a_damaged_one_is_told(tmp):
    sr = SeedringQb(tmp / "sr", {"default": tmp / "home"})
    base = [seedring_bin(), "remote", "--data-dir", str(tmp / "sr" / "data"),
            "import-transmission"]
    try:
        conf = tmp / "conf"
        (conf / "resume").mkdir(parents=True)
        out = subprocess.run(base + [str(conf)], capture_output=True, text=True, timeout=60)
        assert out.returncode != 0 and "no .resume files" in out.stderr, out.stderr
        (conf / "resume" / "x.resume").write_bytes(b"d11:destination")
        (conf / "resume" / "y.resume").write_bytes(b"d11:destination4:/tmpe")
        out = subprocess.run(base + [str(conf / "resume")], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode != 0, out.stdout
        assert "skipped x: the .resume file is not readable" in out.stderr, out.stderr
        assert "skipped y: the .torrent file is not valid: not there" in out.stderr, out.stderr
        token = (tmp / "sr" / "data" / "admin.token").read_text().strip()
        r = requests.get(sr.url + "/api/v1/torrents", timeout=10,
                         headers={"Authorization": f"Bearer {token}"})
        assert r.json()["total"] == 0, "the daemon is untouched by it"
    finally:
        sr.stop()
