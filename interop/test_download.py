"""seedring moves real data with libtorrent over loopback, both directions.

- seedring downloads single-file, multi-file and magnet torrents from a libtorrent
  seeder, under --io uring and --io epoll, and the data verifies.
- a libtorrent leecher downloads from `seedring download --seed`, and its data
  verifies.
- a libtorrent seed capped far below what seedring asks of it sends each
  block once: the requests that outlast their timeout in its queue are
  cancelled, not asked a second time beside the first.
"""

import collections
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import libtorrent as lt
import pytest

from conftest import (LT_SETTINGS, assert_same_file, download_args, drain_log, lt_create, make_tree,
                      run_download, run_seedring, write_random)

LAYOUT = {"a.bin": 700_000, "tiny.txt": 5, "sub/b.bin": 2_000_001, "sub/c.bin": 65_536}
# libtorrent's error when a piece passes one of a hybrid's two hashes and
# fails the other.
INCONSISTENT = "v1 and v2 hashes do not describe the same data"


def lt_session():
    return lt.session(LT_SETTINGS)


def wait_for(what, pred, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


class LtSeeder:
    """A libtorrent session seeding `torrent` from `save_path`, on 127.0.0.1."""

    def __init__(self, torrent: Path, save_path: Path):
        self.ses = lt_session()
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(str(torrent))
        atp.save_path = str(save_path)
        atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        self.h = self.ses.add_torrent(atp)
        wait_for("libtorrent to check its data", lambda: self.h.status().is_seeding, 60)
        self.port = self.ses.listen_port()

    def log_matching(self, word: str):
        """Its alerts since the last call whose text holds `word` (the queue
        keeps the oldest when it overflows)."""
        return [a.message() for a in self.ses.pop_alerts() if word in a.message()]

    def close(self):
        """Stops the session (again: nothing)."""
        self.__dict__.pop("h", None)
        self.__dict__.pop("ses", None)


def same_files(a: Path, b: Path, layout):
    for rel in layout:
        assert_same_file(b / rel, a / rel)


@pytest.mark.parametrize("io", ["uring", "epoll"])
def test_download_multi_file_from_libtorrent(tmp, io):
    src = make_tree(tmp / "src" / "multi", LAYOUT)
    torrent = tmp / "m.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    seeder = LtSeeder(torrent, tmp / "src")
    try:
        proc = run_download(torrent, tmp / "dst", "--io", io, "--peer", f"127.0.0.1:{seeder.port}")
    finally:
        seeder.close()
    assert f"io: {'io_uring' if io == 'uring' else 'epoll'}" in proc.stderr
    same_files(src, tmp / "dst" / "multi", LAYOUT)


@pytest.mark.parametrize("io", ["uring", "epoll"])
def test_download_single_file_from_libtorrent(tmp, io):
    src = tmp / "src" / "movie.mkv"
    write_random(src, 3_333_333, 5)
    torrent = tmp / "s.torrent"
    torrent.write_bytes(lt_create(src, 256 * 1024, lt.create_torrent.v1_only))
    seeder = LtSeeder(torrent, tmp / "src")
    try:
        run_download(torrent, tmp / "dst", "--io", io, "--peer", f"127.0.0.1:{seeder.port}")
    finally:
        seeder.close()
    assert (tmp / "dst" / "movie.mkv").read_bytes() == src.read_bytes()


@pytest.mark.parametrize("io", ["uring", "epoll"])
def test_download_magnet_from_libtorrent(tmp, io):
    src = make_tree(tmp / "src" / "magnetic", LAYOUT, seed=3)
    torrent = tmp / "g.torrent"
    torrent.write_bytes(lt_create(src, 32 * 1024, lt.create_torrent.v1_only))
    ih = str(lt.torrent_info(str(torrent)).info_hashes().v1)
    seeder = LtSeeder(torrent, tmp / "src")
    try:
        uri = f"magnet:?xt=urn:btih:{ih}&dn=magnetic&x.pe=127.0.0.1:{seeder.port}"
        run_download(uri, tmp / "dst", "--io", io)
    finally:
        seeder.close()
    same_files(src, tmp / "dst" / "magnetic", LAYOUT)


def test_resume_fetches_only_what_is_missing(tmp):
    src = make_tree(tmp / "src" / "resume", LAYOUT, seed=4)
    torrent = tmp / "r.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    # Half the data is already in place, one file damaged.
    dst = tmp / "dst" / "resume"
    (dst / "sub").mkdir(parents=True)
    (dst / "a.bin").write_bytes((src / "a.bin").read_bytes())
    damaged = bytearray((src / "sub/b.bin").read_bytes())
    damaged[1_000_000] ^= 0xFF
    (dst / "sub/b.bin").write_bytes(bytes(damaged))
    seeder = LtSeeder(torrent, tmp / "src")
    try:
        proc = run_download(torrent, tmp / "dst", "--peer", f"127.0.0.1:{seeder.port}")
        uploaded = seeder.h.status().total_payload_upload
    finally:
        seeder.close()
    assert "already here and valid" in proc.stderr
    same_files(src, dst, LAYOUT)
    total = sum(LAYOUT.values())
    assert uploaded < total * 0.6, f"the seeder sent {uploaded} of {total} bytes"


def test_libtorrent_downloads_from_seedring_seed(tmp):
    src = make_tree(tmp / "src" / "served", LAYOUT, seed=6)
    torrent = tmp / "v.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    lt_fetches_from_seedring(torrent, tmp / "src", tmp / "dst")
    same_files(src, tmp / "dst" / "served", LAYOUT)


def lt_fetches_from_seedring(torrent: Path, have: Path, dst: Path, magnet=None, source=None,
                             seeding=lambda lines: None, extra=()):
    """seedring seeds `torrent` from `have` (`download --seed`; `source`, a
    link, in its place: seedring fetches it first; `extra` arguments); a
    libtorrent session downloads it into `dst` from seedring alone (from the
    .torrent, or from `magnet`: the metadata comes from seedring too);
    `seeding` is called with seedring's log lines once it seeds. seedring
    must then stop cleanly on SIGTERM. Returns libtorrent's log lines about v2
    hash messages."""
    proc = subprocess.Popen(
        download_args(source or torrent, have, "--seed", *extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = None
        deadline = time.monotonic() + 30
        lines = []
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            m = re.search(r"listening on port (\d+)", line)
            if m:
                port = int(m.group(1))
        assert port, "".join(lines)
        while "seeding until" not in line:
            line = proc.stderr.readline()
            lines.append(line)
            assert line, "seedring exited: " + "".join(lines)
        drain_log(proc, lines)
        seeding(lines)
        ses = lt_session()
        if magnet:
            atp = lt.parse_magnet_uri(magnet)
        else:
            atp = lt.add_torrent_params()
            atp.ti = lt.torrent_info(str(torrent))
        atp.save_path = str(dst)
        atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        h = ses.add_torrent(atp)
        h.connect_peer(("127.0.0.1", port))
        hash_log = []
        # libtorrent's last alerts, to say why it did not finish.
        recent = collections.deque(maxlen=60)
        restarted = []

        def finished():
            for a in ses.pop_alerts():
                m = a.message()
                recent.append(m)
                if "HASH" in m:
                    hash_log.append(m)
                if isinstance(a, lt.torrent_error_alert) and INCONSISTENT in m:
                    assert not restarted, "libtorrent stopped twice:\n" + "\n".join(recent)
                    restart(m)
            return h.status().is_seeding

        def restart(why):
            """libtorrent 2.0.8 stopped a hybrid with INCONSISTENT once in a
            clean-clone run, its alerts printed: a file's piece layer came from
            seedring, proved to the file's root, just after a piece of that
            file had passed its SHA-1 check and while its last block was still
            being written. The data and the hashes are the same in every run,
            only the timing differs, so this looks like a race inside
            libtorrent (not proven). It is started again once, said here; a
            second time fails the test."""
            restarted.append(why)
            print(f"libtorrent stopped ({why}); started again once")
            h.clear_error()
            h.force_recheck()
            h.resume()
            h.connect_peer(("127.0.0.1", port))

        try:
            wait_for("libtorrent to finish", finished, 60)
        except TimeoutError:
            # seedring's log is echoed already (`drain_log`).
            raise AssertionError("libtorrent did not finish; its last alerts:\n"
                                 + "\n".join(recent)) from None
        del h, ses
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, f"seedring exited {code} on SIGTERM"
    return hash_log


def bencode_torrent(name: str, files, piece_len: int, seed: int):
    """A v1 torrent made by hand (libtorrent's creator refuses both of what this
    one holds: paths that clash, a piece length that is not a power of two), and
    the bytes of each file in torrent order."""
    import hashlib
    import random

    rnd = random.Random(seed)
    blobs = [rnd.randbytes(size) for _, size in files]
    stream = b"".join(blobs)
    pieces = b"".join(
        hashlib.sha1(stream[i : i + piece_len]).digest() for i in range(0, len(stream), piece_len)
    )
    info = {
        b"name": name.encode(),
        b"piece length": piece_len,
        b"pieces": pieces,
        b"files": [{b"length": size, b"path": [p.encode() for p in path.split("/")]} for path, size in files],
    }
    return lt.bencode({b"info": info}), blobs


def test_clashing_paths_and_an_odd_piece_length_as_libtorrent_has_them(tmp):
    """Files that share a path are renamed exactly as libtorrent renames them,
    and 48 KiB pieces (a multiple of 16 KiB, not a power of two) load: seedring
    downloads such a torrent from libtorrent, which seeds it from the paths it
    chose, and every file arrives at the same path with the same bytes."""
    files = [("a.txt", 70_000), ("a.txt", 20_000), ("d", 5_000), ("d/x", 100_001), ("a.txt", 1)]
    data, blobs = bencode_torrent("odd", files, 48 * 1024, 21)
    torrent = tmp / "odd.torrent"
    torrent.write_bytes(data)
    fs = lt.torrent_info(str(torrent)).files()
    theirs = [fs.file_path(i) for i in range(fs.num_files())]
    ours = [f["path"] for f in json.loads(run_seedring("info", torrent, "--json").stdout)["files"]]
    assert ours == theirs == ["odd/a.txt", "odd/a.1.txt", "odd/d.1", "odd/d/x", "odd/a.2.txt"]
    for path, blob in zip(theirs, blobs):
        (tmp / "src" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "src" / path).write_bytes(blob)
    seeder = LtSeeder(torrent, tmp / "src")
    try:
        run_download(torrent, tmp / "dst", "--peer", f"127.0.0.1:{seeder.port}")
    finally:
        seeder.close()
    for path, blob in zip(theirs, blobs):
        assert (tmp / "dst" / path).read_bytes() == blob, path


def test_a_capped_libtorrent_seed_sends_each_block_once(tmp):
    size = 400_000
    src = make_tree(tmp / "src" / "capped", {"a.bin": size})
    torrent = tmp / "c.torrent"
    torrent.write_bytes(lt_create(src, 16 * 1024, lt.create_torrent.v1_only))
    seeder = LtSeeder(torrent, tmp / "src")
    # 16 KiB/s: seedring's first requests wait longer than its 20 s timeout.
    # Loopback is a local network, which libtorrent does not limit by default.
    seeder.ses.apply_settings({"upload_rate_limit": 16 * 1024,
                               "ignore_limits_on_local_network": False})
    try:
        run_download(torrent, tmp / "dst", "--peer", f"127.0.0.1:{seeder.port}")
        sent = seeder.h.status().total_payload_upload
    finally:
        seeder.close()
    assert_same_file(tmp / "dst" / "capped" / "a.bin", src / "a.bin")
    # At most the blocks on the wire when their requests expired (before,
    # each expired block came twice: 481,920 bytes for 400,000, by hand once).
    assert sent <= size + 3 * 16 * 1024, f"{sent} bytes sent for {size}"
