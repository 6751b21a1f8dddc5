"""BitTorrent v2 (BEP 52) against libtorrent: `seedring info` and libtorrent
agree on the info-hashes of a hybrid (v1 and v2) and a v2-only torrent made by
libtorrent; a hybrid whose piece layers do not hash to their roots is refused
(libtorrent 2.0.8 loads it; we do not join a v2 swarm whose hashes cannot be
checked); a hybrid downloads from a libtorrent seeder (through its v1 side);
v2-only torrents download from libtorrent and seed to it, their pieces checked
by SHA-256 merkle roots."""

import json

import libtorrent as lt

from conftest import LT_SETTINGS, make_tree, run_download, run_seedring
from test_download import LAYOUT, LtSeeder, lt_fetches_from_seedring, same_files

BIG = {**LAYOUT, "big.bin": 3_000_000}


def make(src, flags):
    fs = lt.file_storage()
    lt.add_files(fs, str(src))
    ct = lt.create_torrent(fs, 64 * 1024, flags=flags)
    lt.set_piece_hashes(ct, str(src.parent))
    return lt.bencode(ct.generate())


def fetch_from_lt(torrent, have, dst):
    """seedring downloads `torrent` into `dst` from a libtorrent session
    seeding it from `have`."""
    seeder = LtSeeder(torrent, have)
    try:
        run_download(torrent, dst, "--peer", f"127.0.0.1:{seeder.port}")
    finally:
        seeder.close()


def info(path):
    return json.loads(run_seedring("info", path, "--json").stdout)


def every_layer_answered(log):
    """libtorrent's hash log (`lt_fetches_from_seedring`): it asked for piece
    layers, every request got hashes, none a reject. Returns the requests."""
    asked = [m for m in log if "==> HASH_REQUEST" in m]
    got = [m for m in log if "<== HASHES" in m]
    assert asked and len(got) == len(asked), log
    assert not [m for m in log if "HASH_REJECT" in m], log
    return asked


def test_info_hashes_agree_with_libtorrent(tmp):
    src = make_tree(tmp / "src" / "pack", BIG, seed=41)
    for name, flags in (("hybrid", 0), ("v2", lt.create_torrent.v2_only)):
        t = tmp / f"{name}.torrent"
        t.write_bytes(make(src, flags))
        hashes = lt.torrent_info(str(t)).info_hashes()
        got = info(t)
        assert got["info_hash_v2"] == hashes.v2.to_bytes().hex(), name
        if name == "hybrid":
            assert got["info_hash"] == hashes.v1.to_bytes().hex()
        else:
            assert got["info_hash"] is None and got["v2_only"] is True
            # Known to peers by the first 20 bytes of its v2 hash.
            assert got["id"] == got["info_hash_v2"][:40]
            stored = [f["path"].split("/", 1)[1] for f in got["files"] if not f["pad"]]
            assert sorted(stored) == sorted(BIG)


def test_a_hybrid_with_a_wrong_piece_layer_is_refused(tmp):
    src = make_tree(tmp / "src" / "pack", BIG, seed=42)
    raw = make(src, 0)
    t = lt.bdecode(raw)
    layers = t[b"piece layers"]
    key = next(iter(layers))
    layer = bytearray(layers[key])
    layer[5] ^= 0xFF
    layers[key] = bytes(layer)
    bad = tmp / "bad.torrent"
    bad.write_bytes(lt.bencode(t))
    proc = run_seedring("info", bad, check=False)
    assert proc.returncode != 0
    assert "does not hash to its pieces root" in proc.stderr, proc.stderr


def test_a_hybrid_downloads_from_libtorrent(tmp):
    src = make_tree(tmp / "src" / "pack", LAYOUT, seed=43)
    t = tmp / "h.torrent"
    t.write_bytes(make(src, 0))
    fetch_from_lt(t, tmp / "src", tmp / "dst")
    same_files(src, tmp / "dst" / "pack", LAYOUT)


def test_torrents_seedring_creates_load_in_libtorrent_with_the_same_hashes(tmp):
    """`seedring create --v2` and `--hybrid` (multi-file with an empty file, and
    single-file): libtorrent loads each with the info-hashes `seedring info`
    gives, and checks the data against it as complete (so every v1 piece hash
    and every v2 merkle root is right)."""
    layout = {**LAYOUT, "empty": 0}
    src = make_tree(tmp / "src" / "pack", layout, seed=44)
    cases = [("v2", src, "--v2"), ("hybrid", src, "--hybrid"), ("one", src / "a.bin", "--hybrid")]
    for name, path, flag in cases:
        t = tmp / f"{name}.torrent"
        run_seedring("create", path, "-o", t, flag, "--piece-length", "32K")
        hashes = lt.torrent_info(str(t)).info_hashes()
        got = info(t)
        assert got["info_hash_v2"] == hashes.v2.to_bytes().hex(), name
        if flag == "--hybrid":
            assert got["info_hash"] == hashes.v1.to_bytes().hex(), name
        else:
            assert not hashes.has_v1() and got["v2_only"] is True
        seeder = LtSeeder(t, path.parent)  # waits until libtorrent seeds
        seeder.close()
    # The hybrid downloads from the libtorrent seeder.
    fetch_from_lt(tmp / "hybrid.torrent", tmp / "src", tmp / "dst")
    same_files(src, tmp / "dst" / "pack", layout)


def test_a_v2_only_torrent_downloads_from_libtorrent_and_seeds_to_it(tmp):
    """A multi-file v2-only torrent libtorrent made (files longer and shorter
    than a piece: piece layers and one-piece roots; padding between files):
    seedring downloads it from a libtorrent seeder, then seeds what it got to a
    fresh libtorrent session, which finds every piece good."""
    src = make_tree(tmp / "src" / "pack", BIG, seed=45)
    t = tmp / "v2.torrent"
    t.write_bytes(make(src, lt.create_torrent.v2_only))
    fetch_from_lt(t, tmp / "src", tmp / "got")
    same_files(src, tmp / "got" / "pack", BIG)
    lt_fetches_from_seedring(t, tmp / "got", tmp / "lt")
    same_files(src, tmp / "lt" / "pack", BIG)
    # `seedring verify` checks the copy by its merkle roots: whole, then one
    # byte changed in the big file makes exactly its piece invalid.
    ok = json.loads(run_seedring("verify", "--json", t, tmp / "got").stdout)
    assert ok["complete"] and ok["v2_only"] and ok["valid"] == ok["piece_count"]
    big = tmp / "got" / "pack" / "big.bin"
    data = bytearray(big.read_bytes())
    data[2_000_000] ^= 1
    big.write_bytes(bytes(data))
    proc = run_seedring("verify", "--json", t, tmp / "got", check=False)
    bad = json.loads(proc.stdout)
    assert proc.returncode != 0 and not bad["complete"]
    assert bad["invalid"] == 1 and bad["missing"] == 0, bad


def test_a_single_file_v2_torrent_seedring_made_goes_both_ways(tmp):
    """`seedring create --v2` of one file (several pieces, the last short):
    libtorrent downloads it from seedring, and seedring downloads it back from
    libtorrent."""
    src = make_tree(tmp / "src", {"one.bin": 1_234_567}, seed=46)
    t = tmp / "one.torrent"
    run_seedring("create", src / "one.bin", "-o", t, "--v2", "--piece-length", "64K")
    assert info(t)["v2_only"] is True
    lt_fetches_from_seedring(t, src, tmp / "lt")
    same_files(src, tmp / "lt", {"one.bin": 1_234_567})
    fetch_from_lt(t, tmp / "lt", tmp / "back")
    same_files(src, tmp / "back", {"one.bin": 1_234_567})


def test_libtorrent_fetches_a_v2_magnet_from_seedring(tmp):
    """libtorrent given only a `btmh` magnet of a v2-only torrent seedring
    seeds: the info dictionary comes by ut_metadata and each file's piece
    layer by hash requests (BEP 52) that seedring answers with hashes whose
    proofs check against the file's root (64 KiB pieces: the piece layer is
    two layers above the blocks)."""
    src = make_tree(tmp / "src" / "pack", BIG, seed=47)
    t = tmp / "v2.torrent"
    t.write_bytes(make(src, lt.create_torrent.v2_only))
    v2 = lt.torrent_info(str(t)).info_hashes().v2.to_bytes().hex()
    log = lt_fetches_from_seedring(
        t, tmp / "src", tmp / "lt", magnet=f"magnet:?xt=urn:btmh:1220{v2}"
    )
    same_files(src, tmp / "lt" / "pack", BIG)
    # Every piece layer libtorrent asked for came, none was refused.
    asked = every_layer_answered(log)
    assert "base: 2" in asked[0], asked


def test_libtorrent_fetches_a_hybrid_by_its_v2_name_and_gets_its_layers(tmp):
    """libtorrent given only the `btmh` link of a hybrid seedring seeds (from
    its .torrent, piece layers and all) asks for each file's piece layer with
    hash requests: seedring answers every one from the roots it keeps beside
    the SHA-1 pieces (a hybrid used to get only hash rejects, which libtorrent
    asked again and again)."""
    src = make_tree(tmp / "src" / "pack", BIG, seed=50)
    t = tmp / "h.torrent"
    t.write_bytes(make(src, 0))
    v2 = lt.torrent_info(str(t)).info_hashes().v2.to_bytes().hex()
    log = lt_fetches_from_seedring(
        t, tmp / "src", tmp / "lt", magnet=f"magnet:?xt=urn:btmh:1220{v2}"
    )
    same_files(src, tmp / "lt" / "pack", BIG)
    every_layer_answered(log)


def test_seedring_fetches_a_v2_magnet_from_libtorrent(tmp):
    """seedring given only a `btmh` magnet of a v2-only torrent libtorrent
    seeds: the info by ut_metadata, each file's piece layer by hash requests
    libtorrent answers (checked against the file's root), then the data."""
    src = make_tree(tmp / "src" / "pack", BIG, seed=48)
    t = tmp / "v2.torrent"
    t.write_bytes(make(src, lt.create_torrent.v2_only))
    v2 = lt.torrent_info(str(t)).info_hashes().v2.to_bytes().hex()
    seeder = LtSeeder(t, tmp / "src")
    try:
        seeder.log_matching("HASH")
        uri = f"magnet:?xt=urn:btmh:1220{v2}&x.pe=127.0.0.1:{seeder.port}"
        run_download(uri, tmp / "dst")
        log = seeder.log_matching("HASH")
    finally:
        seeder.close()
    same_files(src, tmp / "dst" / "pack", BIG)
    # The layers came in answers to seedring's hash requests, none refused.
    asked = [m for m in log if "<== HASH_REQUEST" in m]
    answered = [m for m in log if "==> HASHES" in m]
    assert asked and len(answered) == len(asked), log
    assert not [m for m in log if "HASH_REJECT" in m], log


def test_a_hybrid_seeds_to_libtorrent(tmp):
    """A hybrid seedring made: libtorrent downloads it from seedring, every
    piece checked by libtorrent against both its v1 and v2 hashes."""
    src = make_tree(tmp / "src" / "pack", BIG, seed=49)
    t = tmp / "h.torrent"
    run_seedring("create", src, "-o", t, "--hybrid", "--piece-length", "64K")
    lt_fetches_from_seedring(t, tmp / "src", tmp / "lt")
    same_files(src, tmp / "lt" / "pack", BIG)


def test_exported_torrents_load_in_libtorrent_with_their_hashes_and_layers(tmp):
    """A v1, a hybrid and a v2-only torrent added to the daemon, then exported
    over the qBittorrent WebAPI (`torrents/export`, what cross-seed fetches):
    libtorrent loads each export with the original's info-hashes, trackers,
    web seeds, comment, creator and date, and checks the data against it (a
    v2 piece through the exported piece layers)."""
    import qbittorrentapi
    from conftest import lt_recheck
    from qbit_common import PASSWORD, USER, SeedringQb
    from test_tracker import wait_until

    d = SeedringQb(tmp / "sr", {"default": tmp / "dl"})
    try:
        c = qbittorrentapi.Client(host=d.host, port=int(d.port), username=USER,
                                  password=PASSWORD, REQUESTS_ARGS={"timeout": 30})
        c.auth_log_in()
        for name, flags in (("v1", lt.create_torrent.v1_only), ("hybrid", 0),
                            ("v2", lt.create_torrent.v2_only)):
            where = tmp / "dl" / name
            src = make_tree(where / "pack", BIG, seed=47)
            fs = lt.file_storage()
            lt.add_files(fs, str(src))
            ct = lt.create_torrent(fs, 64 * 1024, flags=flags)
            ct.add_tracker("http://127.0.0.1:9/announce", 0)
            ct.add_url_seed("http://127.0.0.1:9/files/")
            ct.set_comment(f"the {name} one")
            ct.set_creator("libtorrent export test")
            lt.set_piece_hashes(ct, str(where))
            original = lt.bencode(ct.generate())
            ti = lt.torrent_info(lt.bdecode(original))
            hashes = ti.info_hashes()
            ih = (hashes.v1.to_bytes().hex() if hashes.has_v1()
                  else hashes.v2.to_bytes().hex()[:40])
            assert c.torrents_add(torrent_files=original, save_path=str(where)) == "Ok."

            def seeding():
                got = c.torrents_info(torrent_hashes=ih)
                return bool(got) and got[0].state in {"uploading", "stalledUP"}

            wait_until(f"the {name} torrent to be checked", seeding, timeout=60)
            exported = c.torrents_export(torrent_hash=ih)
            back = lt.torrent_info(lt.bdecode(exported))
            assert back.info_hashes() == hashes, name
            layers = lt.bdecode(original).get(b"piece layers")
            assert lt.bdecode(exported).get(b"piece layers") == layers, name
            assert (layers is None) == (name == "v1")
            assert [t.url for t in back.trackers()] == ["http://127.0.0.1:9/announce"]
            assert [w["url"] for w in back.web_seeds()] == ["http://127.0.0.1:9/files/"]
            assert (back.comment(), back.creator(), back.creation_date()) == (
                ti.comment(), ti.creator(), ti.creation_date()), name
            props = c.torrents_properties(torrent_hash=ih)
            assert (props.comment, props.created_by, props.creation_date) == (
                f"the {name} one", "libtorrent export test", ti.creation_date())
            path = tmp / f"{name}-exported.torrent"
            path.write_bytes(exported)
            assert all(lt_recheck(path, where)), name
    finally:
        code = d.stop()
    assert code == 0, d.log_path.read_text()
