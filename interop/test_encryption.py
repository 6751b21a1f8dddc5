"""Message stream encryption against libtorrent set to `pe_forced` (no plaintext
connection either way), with RC4 and with plaintext after the handshake.

- seedring dials a forced libtorrent seeder and downloads everything;
- a forced libtorrent leecher dials a seeding seedring (two shards, so the
  handshake is answered by the router of accepted connections before its
  shard takes over) and downloads everything;
- libtorrent's own view of each connection says how it was encrypted;
- `--encryption required` refuses a libtorrent that only speaks plaintext.
"""

import re
import signal
import subprocess
import time

import libtorrent as lt
import pytest

from conftest import LT_SETTINGS, PeerWatch, download_args, drain_log, lt_create, make_tree
from test_download import wait_for

LAYOUT = {"a.bin": 3_000_000, "sub/b.bin": 1_500_001, "tiny.txt": 7}

LEVELS = {
    "rc4": (lt.enc_level.pe_rc4, "rc4_encrypted"),
    "plaintext": (lt.enc_level.pe_plaintext, "plaintext_encrypted"),
}


def forced_session(level):
    enc, _ = LEVELS[level]
    return lt.session({
        **LT_SETTINGS,
        "out_enc_policy": int(lt.enc_policy.pe_forced),
        "in_enc_policy": int(lt.enc_policy.pe_forced),
        "allowed_enc_level": int(enc),
        "prefer_rc4": level == "rc4",
    })


def add(ses, torrent, save_path):
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(str(torrent))
    atp.save_path = str(save_path)
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    return ses.add_torrent(atp)


def encryption(p):
    """How a libtorrent peer's connection is encrypted (None while it connects)."""
    if p.flags & (lt.peer_info.connecting | lt.peer_info.handshake):
        return None
    for name in ("rc4_encrypted", "plaintext_encrypted"):
        if p.flags & getattr(lt.peer_info, name):
            return name
    return "none"


def same_files(a, b):
    for rel in LAYOUT:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def start_seed(torrent, folder, *extra):
    """`seedring download --seed`; returns the process and its port once
    seeding. Its log is read from then on (see `drain_log`)."""
    proc = subprocess.Popen(download_args(torrent, folder, "--seed", *extra),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port, lines = None, []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        assert line, "seedring exited: " + "".join(lines)
        lines.append(line)
        m = re.search(r"listening on port (\d+)", line)
        if m:
            port = int(m.group(1))
        if "seeding until" in line:
            drain_log(proc, lines)
            return proc, port
    raise TimeoutError("".join(lines))


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def lt_leeches_from_seed(ses, torrent, src_dir, dst_dir, label):
    """A seeding seedring of two shards (upload capped, so the transfer lasts
    long enough to be watched) and libtorrent session `ses` downloading from it
    to `dst_dir`; returns every `label(peer_info)` seen on the way."""
    proc, port = start_seed(torrent, src_dir, "--shards", "2", "--upload-limit", "3000000")
    try:
        h = add(ses, torrent, dst_dir)
        watch = PeerWatch(h, label)
        h.connect_peer(("127.0.0.1", port))
        try:
            wait_for("libtorrent to finish", lambda: h.status().is_seeding, 90)
        finally:
            seen = watch.close()
        del h
    finally:
        stop(proc)
    return seen


def seedring_leeches_from_lt(ses, torrent, src_dir, dst_dir, label, *extra):
    """libtorrent session `ses` seeding from `src_dir` and `seedring download`
    (capped, so the transfer lasts long enough to be watched) fetching from it
    into `dst_dir`; returns the finished process and every `label(peer_info)`
    seen on the way."""
    h = add(ses, torrent, src_dir)
    wait_for("libtorrent to check its data", lambda: h.status().is_seeding)
    watch = PeerWatch(h, label)
    try:
        proc = subprocess.run(
            download_args(torrent, dst_dir, "--peer", f"127.0.0.1:{ses.listen_port()}",
                          "--download-limit", "3000000", *extra),
            capture_output=True, text=True, timeout=120)
    finally:
        seen = watch.close()
        del h
    return proc, seen


@pytest.mark.parametrize("level", ["rc4", "plaintext"])
def test_seedring_downloads_from_a_forced_libtorrent(tmp, level):
    src = make_tree(tmp / "src" / "enc", LAYOUT, seed=21)
    torrent = tmp / "e.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    proc, seen = seedring_leeches_from_lt(forced_session(level), torrent, tmp / "src",
                                          tmp / "dst", encryption)
    assert proc.returncode == 0, proc.stderr
    same_files(src, tmp / "dst" / "enc")
    assert LEVELS[level][1] in seen, seen
    assert "none" not in seen, seen


@pytest.mark.parametrize("level", ["rc4", "plaintext"])
def test_a_forced_libtorrent_downloads_from_seedring(tmp, level):
    src = make_tree(tmp / "src" / "enc", LAYOUT, seed=22)
    torrent = tmp / "e.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    seen = lt_leeches_from_seed(forced_session(level), torrent, tmp / "src", tmp / "dst",
                                encryption)
    same_files(src, tmp / "dst" / "enc")
    assert LEVELS[level][1] in seen, seen
    assert "none" not in seen, seen


def test_required_refuses_a_plaintext_only_libtorrent(tmp):
    src = make_tree(tmp / "src" / "enc", LAYOUT, seed=23)
    torrent = tmp / "e.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    proc, port = start_seed(torrent, tmp / "src", "--encryption", "required")
    try:
        ses = lt.session({**LT_SETTINGS,
                          "out_enc_policy": int(lt.enc_policy.pe_disabled),
                          "in_enc_policy": int(lt.enc_policy.pe_disabled)})
        h = add(ses, torrent, tmp / "dst")
        for _ in range(3):
            h.connect_peer(("127.0.0.1", port))
            time.sleep(1.5)
        assert h.status().total_payload_download == 0
        assert not h.get_peer_info()
        del h, ses
    finally:
        stop(proc)
