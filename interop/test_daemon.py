"""The daemon with real libtorrent peers: a torrent added over the API downloads
from a libtorrent seeder, then seeds to a libtorrent leecher."""

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import libtorrent as lt

from conftest import lt_create, make_tree, seedring_bin
from test_download import LAYOUT, LtSeeder, lt_session, same_files, wait_for


class Daemon:
    """A daemon on loopback ports in `tmp`; `peers` and `dht` are those sections'
    lines (its DHT never joins anything but what a test tells it)."""

    def __init__(self, tmp: Path, peers='listen = "127.0.0.1:0"',
                 dht='listen = "127.0.0.1:0"\nlisten6 = ""\nbootstrap = []'):
        self.dir = tmp
        cfg = tmp / "seedring.toml"
        cfg.write_text(
            f'data_dir = "{tmp}/data"\n'
            f'[peers]\n{peers}\n'
            f'[dht]\n{dht}\n'
            '[api]\nlisten = "127.0.0.1:0"\n'
            f'[[roots]]\ntoken = "default"\npath = "{tmp}/downloads"\ndefault = true\n'
        )
        self.log = open(tmp / "daemon.log", "w")
        self.proc = subprocess.Popen(
            [seedring_bin(), "daemon", "--config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        addr_file = tmp / "data" / "admin.addr"
        wait_for("the daemon to start", addr_file.exists, 30)
        lines = dict(l.split("=", 1) for l in addr_file.read_text().split())
        self.api = f"http://{lines['api']}/api/v1"
        self.peer_port = int(lines["peers"].rsplit(":", 1)[1])
        self.token = (tmp / "data" / "admin.token").read_text().strip()

    def call(self, method, path, body=None, content_type="application/json"):
        data = None
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.api + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read()
            return json.loads(text) if text else None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self.log.close()
        return code


def test_torrent_added_over_the_api_downloads_then_seeds(tmp):
    src = make_tree(tmp / "src" / "api", LAYOUT, seed=21)
    torrent = tmp / "api.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    seeder = LtSeeder(torrent, tmp / "src")
    d = Daemon(tmp)
    try:
        added = d.call("POST", "/torrents", torrent.read_bytes(), "application/x-bittorrent")
        ih = added["id"]
        d.call("POST", f"/torrents/{ih}/peers", {"peers": [f"127.0.0.1:{seeder.port}"]})
        wait_for(
            "the download over the API",
            lambda: d.call("GET", f"/torrents/{ih}")["state"] == "seeding",
            120,
        )
        seeder.close()
        same_files(src, tmp / "downloads" / "api", LAYOUT)
        t = d.call("GET", f"/torrents/{ih}")
        assert t["progress"] == 1.0 and t["downloaded"] >= sum(LAYOUT.values())

        # Now a libtorrent leecher takes it all from the daemon.
        ses = lt_session()
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(str(torrent))
        atp.save_path = str(tmp / "leech")
        atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        h = ses.add_torrent(atp)
        h.connect_peer(("127.0.0.1", d.peer_port))
        wait_for("libtorrent to download from the daemon", lambda: h.status().is_seeding, 120)
        same_files(src, tmp / "leech" / "api", LAYOUT)
        deadline = time.monotonic() + 10
        while d.call("GET", f"/torrents/{ih}")["uploaded"] < sum(LAYOUT.values()):
            assert time.monotonic() < deadline, "the daemon did not count its upload"
            time.sleep(0.2)
        del h, ses
    finally:
        code = d.stop()
    assert code == 0, (tmp / "daemon.log").read_text()
