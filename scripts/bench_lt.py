"""What the loopback benches beside libtorrent share (`bench-utp.py`,
`bench-many-leechers.py`): the seedring binary, a session's settings, the
data file and its torrent, and a process's CPU time from /proc."""

import os
from pathlib import Path

import libtorrent as lt

ROOT = Path(__file__).resolve().parent.parent
BIN = os.environ.get("SEEDRING_BIN", str(ROOT / "target" / "release" / "seedring"))
# A libtorrent session alone on loopback: no discovery, several connections per
# address (every peer is 127.0.0.1).
LOOPBACK = {
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "allow_multiple_connections_per_ip": True,
}


def make_data(work, size_mib):
    """Writes a file of `size_mib` MiB (each MiB its own first byte, so no two
    pieces are equal) under `work`/src, and its v1 torrent (1 MiB pieces) as
    `work`/t.torrent. Returns (the folder holding the file, the torrent's
    path, its libtorrent `torrent_info`)."""
    src = Path(work) / "src"
    src.mkdir()
    data = src / "blob.bin"
    with open(data, "wb") as f:
        chunk = os.urandom(1 << 20)
        for i in range(size_mib):
            f.write(bytes([i & 0xFF]) + chunk[1:])
    fs = lt.file_storage()
    lt.add_files(fs, str(data))
    ct = lt.create_torrent(fs, 1 << 20, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, str(src))
    torrent = Path(work) / "t.torrent"
    torrent.write_bytes(lt.bencode(ct.generate()))
    return src, torrent, lt.torrent_info(str(torrent))


def cpu_of(pid):
    """User + system seconds of a running process (or "self/task/TID"), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
