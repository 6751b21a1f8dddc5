"""Web seeds (BEP 19) against a real HTTP server on loopback.

The torrents are made by libtorrent with `add_url_seed`; a small HTTP server
started by the test serves the files with byte ranges (as nginx or Apache do).

- a multi-file and a single-file torrent download from the web seed alone;
- a web seed that serves a corrupted range: the download still completes with
  the right data, the bad pieces coming from a libtorrent seeder instead.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import libtorrent as lt

from conftest import LT_SETTINGS, make_tree, run_download, write_random
from test_download import wait_for

LAYOUT = {"a.bin": 1_200_000, "sub/b c.bin": 700_001, "tiny.txt": 9}


class Files:
    """What the server serves: files under `root`, and bytes to corrupt."""

    def __init__(self, root: Path):
        self.root = root
        self.corrupt = {}  # path under root -> set of offsets changed
        self.ranges = 0


def server_for(files: Files):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            rel = unquote(self.path.split("?")[0]).lstrip("/")
            path = (files.root / rel).resolve()
            if files.root.resolve() not in path.parents or not path.is_file():
                self.send_error(404)
                return
            data = bytearray(path.read_bytes())
            for off in files.corrupt.get(rel, ()):
                data[off] ^= 0xFF
            start, end = 0, len(data) - 1
            header = self.headers.get("Range")
            if header:
                a, b = header.removeprefix("bytes=").split("-")
                start, end = int(a), min(int(b), len(data) - 1)
                files.ranges += 1
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            else:
                self.send_response(200)
            body = bytes(data[start:end + 1])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def torrent_with_seed(src: Path, url: str, piece: int) -> bytes:
    fs = lt.file_storage()
    lt.add_files(fs, str(src))
    ct = lt.create_torrent(fs, piece, flags=lt.create_torrent.v1_only)
    ct.add_url_seed(url)
    lt.set_piece_hashes(ct, str(src.parent))
    return lt.bencode(ct.generate())


def same(a: Path, b: Path):
    assert a.read_bytes() == b.read_bytes(), a


def test_a_multi_file_torrent_downloads_from_a_web_seed(tmp):
    src = make_tree(tmp / "www" / "pack", LAYOUT, seed=31)
    files = Files(tmp / "www")
    srv = server_for(files)
    try:
        torrent = tmp / "w.torrent"
        torrent.write_bytes(torrent_with_seed(src, f"http://127.0.0.1:{srv.server_port}/", 64 * 1024))
        run_download(torrent, tmp / "dst")
    finally:
        srv.shutdown()
    for rel in LAYOUT:
        same(src / rel, tmp / "dst" / "pack" / rel)
    assert files.ranges > 0


def test_a_single_file_url_is_the_file(tmp):
    src = tmp / "www" / "mirror" / "movie.mkv"
    write_random(src, 2_000_000, 32)
    files = Files(tmp / "www")
    srv = server_for(files)
    try:
        torrent = tmp / "s.torrent"
        url = f"http://127.0.0.1:{srv.server_port}/mirror/movie.mkv"
        torrent.write_bytes(torrent_with_seed(src, url, 128 * 1024))
        run_download(torrent, tmp / "dst")
    finally:
        srv.shutdown()
    same(src, tmp / "dst" / "movie.mkv")


def test_a_corrupted_range_is_refetched_from_a_peer(tmp, monkeypatch):
    src = make_tree(tmp / "www" / "pack", LAYOUT, seed=33)
    files = Files(tmp / "www")
    # A byte wrong in three pieces of the large file.
    files.corrupt["pack/a.bin"] = {10, 300_000, 900_000}
    srv = server_for(files)
    torrent = tmp / "c.torrent"
    torrent.write_bytes(torrent_with_seed(src, f"http://127.0.0.1:{srv.server_port}/", 64 * 1024))
    # The seeder is slow, so the web seed serves (and fails) its share first.
    ses = lt.session({**LT_SETTINGS, "upload_rate_limit": 100_000,
                      "ignore_limits_on_local_network": False})
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(str(torrent))
    atp.save_path = str(tmp / "www")
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    # The seeder must not use the web seed itself.
    atp.url_seeds = []
    h = ses.add_torrent(atp)
    h.remove_url_seed(f"http://127.0.0.1:{srv.server_port}/")
    wait_for("libtorrent to check its data", lambda: h.status().is_seeding)
    monkeypatch.setenv("SEEDRING_LOG", "info")
    try:
        proc = run_download(torrent, tmp / "dst", "--peer", f"127.0.0.1:{ses.listen_port()}")
    finally:
        srv.shutdown()
        del h, ses
    for rel in LAYOUT:
        same(src / rel, tmp / "dst" / "pack" / rel)
    assert files.ranges > 0
    # The web seed's bad pieces failed their check and were counted against it.
    assert "piece failed its hash check; all of it came from one peer" in proc.stderr, \
        proc.stderr[-3000:]
