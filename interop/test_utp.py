"""uTP (BEP 29) against libtorrent with TCP switched off both ways:

- seedring (`--transport utp_only`, and `prefer_utp`) dials a uTP-only
  libtorrent seeder and downloads everything;
- a uTP-only libtorrent leecher dials a seeding seedring (two shards, so the
  connection is routed by the handshake, through libtorrent's encrypted
  handshake first as its default policy asks) and downloads everything;
- libtorrent's own view of each connection says it is uTP;
- a mixed swarm: seedring (default `prefer_tcp`) downloads from a uTP-only and
  a TCP-only libtorrent seeder at once, and seeds to a uTP-only and a TCP-only
  libtorrent leecher at once; each libtorrent peer moves data over its one
  transport.
"""


import subprocess

import libtorrent as lt
import pytest

from conftest import LT_SETTINGS, PeerWatch, download_args, lt_create, make_tree
from test_download import wait_for
from test_encryption import (add, lt_leeches_from_seed, seedring_leeches_from_lt, start_seed,
                             stop)

LAYOUT = {"a.bin": 3_000_000, "sub/b.bin": 1_500_001, "tiny.txt": 7}

# peer_info::utp_socket (bit 17; the Python bindings do not name it, the bits
# beside it, holepunched and rc4_encrypted, are 15 and 19).
UTP_SOCKET = 1 << 17
assert int(lt.peer_info.holepunched) == 1 << 15 and int(lt.peer_info.rc4_encrypted) == 1 << 19

UTP_ONLY = {
    **LT_SETTINGS,
    "enable_outgoing_tcp": False,
    "enable_incoming_tcp": False,
    "enable_outgoing_utp": True,
    "enable_incoming_utp": True,
}


TCP_ONLY = {
    **LT_SETTINGS,
    "enable_outgoing_tcp": True,
    "enable_incoming_tcp": True,
    "enable_outgoing_utp": False,
    "enable_incoming_utp": False,
}


def transport(p):
    return "utp" if int(p.flags) & UTP_SOCKET else "tcp"


def a_torrent(tmp, seed):
    """The test's files under tmp/src/u and their v1 torrent: (folder, .torrent)."""
    src = make_tree(tmp / "src" / "u", LAYOUT, seed=seed)
    torrent = tmp / "u.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    return src, torrent


def same_files(a, b):
    for rel in LAYOUT:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


@pytest.mark.parametrize("mode", ["utp_only", "prefer_utp"])
def test_seedring_downloads_from_a_utp_only_libtorrent(tmp, mode):
    src, torrent = a_torrent(tmp, 31)
    proc, seen = seedring_leeches_from_lt(lt.session(UTP_ONLY), torrent, tmp / "src",
                                          tmp / "dst", transport, "--transport", mode)
    assert proc.returncode == 0, proc.stderr
    same_files(src, tmp / "dst" / "u")
    assert seen == {"utp"}, seen


def test_a_utp_only_libtorrent_downloads_from_seedring(tmp):
    src, torrent = a_torrent(tmp, 32)
    seen = lt_leeches_from_seed(lt.session(UTP_ONLY), torrent, tmp / "src", tmp / "dst",
                                transport)
    same_files(src, tmp / "dst" / "u")
    assert seen == {"utp"}, seen


def test_a_mixed_swarm_of_utp_only_and_tcp_only_libtorrent_peers(tmp):
    src, torrent = a_torrent(tmp, 33)
    # Downloading from both at once (capped so that both take part).
    seeders = {"utp": lt.session(UTP_ONLY), "tcp": lt.session(TCP_ONLY)}
    handles = {k: add(s, torrent, tmp / "src") for k, s in seeders.items()}
    for h in handles.values():
        wait_for("libtorrent to check its data", lambda h=h: h.status().is_seeding)
    watches = {k: PeerWatch(h, transport) for k, h in handles.items()}
    try:
        peers = [a for k, s in seeders.items() for a in ("--peer", f"127.0.0.1:{s.listen_port()}")]
        proc = subprocess.run(download_args(torrent, tmp / "dst", *peers,
                                            "--download-limit", "600000"),
                              capture_output=True, text=True, timeout=120)
    finally:
        seen = {k: w.close() for k, w in watches.items()}
    assert proc.returncode == 0, proc.stderr
    same_files(src, tmp / "dst" / "u")
    assert seen == {"utp": {"utp"}, "tcp": {"tcp"}}, seen
    for k, h in handles.items():
        assert h.status().all_time_upload > 0, f"the {k}-only seeder sent nothing"
    del handles, seeders
    # Seeding to both at once.
    seed, port = start_seed(torrent, tmp / "src", "--upload-limit", "3000000")
    try:
        leechers = {"utp": lt.session(UTP_ONLY), "tcp": lt.session(TCP_ONLY)}
        handles = {k: add(s, torrent, tmp / f"lt-{k}") for k, s in leechers.items()}
        watches = {k: PeerWatch(h, transport) for k, h in handles.items()}
        try:
            for h in handles.values():
                h.connect_peer(("127.0.0.1", port))
            for k, h in handles.items():
                wait_for(f"the {k}-only leecher", lambda h=h: h.status().is_seeding, 90)
        finally:
            seen = {k: w.close() for k, w in watches.items()}
        for k in handles:
            same_files(src, tmp / f"lt-{k}" / "u")
        assert seen == {"utp": {"utp"}, "tcp": {"tcp"}}, seen
        del handles, leechers
    finally:
        stop(seed)
