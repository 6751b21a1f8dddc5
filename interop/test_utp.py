"""uTP (BEP 29) against libtorrent with TCP switched off both ways:

- seedring (`--transport utp_only`, and `prefer_utp`) dials a uTP-only
  libtorrent seeder and downloads everything;
- a uTP-only libtorrent leecher dials a seeding seedring (two shards, so the
  connection is routed by the handshake, through libtorrent's encrypted
  handshake first as its default policy asks) and downloads everything;
- libtorrent's own view of each connection says it is uTP.
"""


import libtorrent as lt
import pytest

from conftest import LT_SETTINGS, lt_create, make_tree
from test_encryption import lt_leeches_from_seed, seedring_leeches_from_lt

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


def transport(p):
    return "utp" if int(p.flags) & UTP_SOCKET else "tcp"


def same_files(a, b):
    for rel in LAYOUT:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


@pytest.mark.parametrize("mode", ["utp_only", "prefer_utp"])
def test_seedring_downloads_from_a_utp_only_libtorrent(tmp, mode):
    src = make_tree(tmp / "src" / "u", LAYOUT, seed=31)
    torrent = tmp / "u.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    proc, seen = seedring_leeches_from_lt(lt.session(UTP_ONLY), torrent, tmp / "src",
                                          tmp / "dst", transport, "--transport", mode)
    assert proc.returncode == 0, proc.stderr
    same_files(src, tmp / "dst" / "u")
    assert seen == {"utp"}, seen


def test_a_utp_only_libtorrent_downloads_from_seedring(tmp):
    src = make_tree(tmp / "src" / "u", LAYOUT, seed=32)
    torrent = tmp / "u.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    seen = lt_leeches_from_seed(lt.session(UTP_ONLY), torrent, tmp / "src", tmp / "dst",
                                transport)
    same_files(src, tmp / "dst" / "u")
    assert seen == {"utp"}, seen
