"""seedring and libtorrent agree on torrent metadata and on piece hashes.

1. For torrents libtorrent makes (single- and multi-file, with and without pad
   files), `seedring info --json` reports what libtorrent reports.
2. Torrents `seedring create` makes load in libtorrent with the same info-hash, and
   libtorrent's own recheck finds every piece valid.
3. `seedring verify` agrees piece by piece with libtorrent's recheck on damaged data.
"""

import json
from pathlib import Path

import libtorrent as lt
import pytest

from conftest import lt_create, lt_recheck, make_tree, run_seedring, write_random

TRACKERS = ["http://127.0.0.1:1/announce", "udp://127.0.0.1:2/announce"]

MULTI_LAYOUT = {
    "a.bin": 100_000,
    "tiny.txt": 7,  # smaller than a block
    "sub/b.bin": 200_001,
    "sub/deeper/c.bin": 65_536,
    "with space/d e.bin": 31_337,
}

FLAVOURS = {
    "v1": lt.create_torrent.v1_only,
    "v1-padded": lt.create_torrent.v1_only | lt.create_torrent.canonical_files,
    "hybrid": 0,  # v1 + v2, pad files: seedring loads it as v1
}


def seedring_info(torrent: Path) -> dict:
    return json.loads(run_seedring("info", torrent, "--json").stdout)


def lt_view(torrent: Path) -> dict:
    ti = lt.torrent_info(str(torrent))
    fs = ti.files()
    return {
        "info_hash": str(ti.info_hashes().v1),
        "name": ti.name(),
        "piece_length": ti.piece_length(),
        "piece_count": ti.num_pieces(),
        "total_length": ti.total_size(),
        "files": [
            {
                "path": fs.file_path(i).replace("\\", "/"),
                "length": fs.file_size(i),
                "pad": bool(fs.file_flags(i) & lt.file_storage.flag_pad_file),
            }
            for i in range(fs.num_files())
        ],
        "trackers": [t.url for t in ti.trackers()],
        "private": ti.priv(),
    }


def agree(torrent: Path):
    ours = seedring_info(torrent)
    theirs = lt_view(torrent)
    for key, value in theirs.items():
        assert ours[key] == value, f"{key}: seedring {ours[key]!r} != libtorrent {value!r}"
    return ours


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("piece_kib", [16, 32, 256])
def test_info_matches_libtorrent_multi_file(tmp, flavour, piece_kib):
    src = make_tree(tmp / "My Torrent", MULTI_LAYOUT)
    torrent = tmp / "t.torrent"
    torrent.write_bytes(lt_create(src, piece_kib * 1024, FLAVOURS[flavour], TRACKERS))
    ours = agree(torrent)
    has_pads = any(f["pad"] for f in ours["files"])
    assert has_pads == (flavour != "v1"), ours["files"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_info_matches_libtorrent_single_file(tmp, flavour):
    src = tmp / "movie.mkv"
    write_random(src, 1_234_567, 7)
    torrent = tmp / "s.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, FLAVOURS[flavour], TRACKERS[:1]))
    agree(torrent)


def test_info_private_flag_matches(tmp):
    src = make_tree(tmp / "p", {"x.bin": 50_000})
    fs = lt.file_storage()
    lt.add_files(fs, str(src))
    ct = lt.create_torrent(fs, 16384, flags=lt.create_torrent.v1_only)
    ct.set_priv(True)
    lt.set_piece_hashes(ct, str(src.parent))
    torrent = tmp / "p.torrent"
    torrent.write_bytes(lt.bencode(ct.generate()))
    assert agree(torrent)["private"] is True


@pytest.mark.parametrize(
    "layout,piece",
    [
        ({"single.bin": 3_000_001}, None),
        (MULTI_LAYOUT, "16K"),
        (MULTI_LAYOUT, "64K"),
        ({"f%d.bin" % i: 1000 * i + 1 for i in range(40)}, "32K"),
    ],
    ids=["single-auto", "multi-16K", "multi-64K", "many-files"],
)
def test_seedring_created_torrent_loads_and_checks_in_libtorrent(tmp, layout, piece):
    data = tmp / "data"
    if len(layout) == 1:
        (name, size), = layout.items()
        src = data / name
        write_random(src, size, 3)
    else:
        src = make_tree(data / "folder", layout, seed=4)
    torrent = tmp / "ours.torrent"
    args = ["create", src, "-o", torrent, "--tracker", TRACKERS[0], "--comment", "interop"]
    if piece:
        args += ["--piece-length", piece]
    run_seedring(*args)
    ours = seedring_info(torrent)
    ti = lt.torrent_info(str(torrent))
    assert str(ti.info_hashes().v1) == ours["info_hash"]
    assert ti.num_pieces() == ours["piece_count"]
    pieces = lt_recheck(torrent, data)
    assert len(pieces) == ours["piece_count"]
    assert all(pieces), f"libtorrent found bad pieces: {[i for i, ok in enumerate(pieces) if not ok]}"


def flip(path: Path, offset: int):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


@pytest.mark.parametrize("flavour", ["v1", "v1-padded"])
def test_verify_agrees_with_libtorrent_on_damaged_data(tmp, flavour):
    src = make_tree(tmp / "data" / "damaged", MULTI_LAYOUT, seed=9)
    torrent = tmp / "d.torrent"
    torrent.write_bytes(lt_create(src, 32 * 1024, FLAVOURS[flavour]))

    clean = json.loads(run_seedring("verify", torrent, tmp / "data", "--json").stdout)
    assert clean["complete"] and clean["valid"] == clean["piece_count"]

    flip(src / "a.bin", 10)  # first piece
    flip(src / "a.bin", 99_999)  # last byte of a.bin: a piece shared with the next file
    flip(src / "sub/b.bin", 150_000)
    with open(src / "sub/deeper/c.bin", "r+b") as f:  # short file
        f.truncate(20_000)
    (src / "with space/d e.bin").unlink()  # missing file

    lt_pieces = lt_recheck(torrent, tmp / "data")
    proc = run_seedring("verify", torrent, tmp / "data", "--json", check=False)
    assert proc.returncode == 1
    ours = json.loads(proc.stdout)
    bad_ours = sorted(ours["invalid_pieces"] + ours["missing_pieces"])
    bad_theirs = [i for i, ok in enumerate(lt_pieces) if not ok]
    assert bad_ours == bad_theirs
    # The damage is really there: the first piece, the piece a.bin shares with the
    # next file, and every piece of the missing file.
    assert 0 in bad_theirs and 99_999 // 32768 in bad_theirs
    assert ours["missing"] > 0 and ours["invalid"] >= 2
    assert ours["valid"] == sum(lt_pieces)
    states = {f["path"].split("/", 1)[1]: f["state"] for f in ours["files"] if not f["pad"]}
    assert states["with space/d e.bin"] == "missing"
    assert states["sub/deeper/c.bin"] == "short"
    assert states["tiny.txt"] in ("complete", "incomplete")
