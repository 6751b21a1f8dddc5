"""A hybrid torrent (BEP 52) in both of its swarms, against libtorrent: a
libtorrent given only the `btmh` link (it knows the torrent by its truncated
v2 hash alone) downloads from a seedring that has the hybrid under its v1
hash, in plaintext and under MSE (two shards: the router finds the torrent by
its other name, which lives on the other shard); seedring given only the `btmh` link downloads from
libtorrent, and fetches the piece layers to serve them to the next; and through opentracker, seedring announces the hybrid under both
names, so a `btmh`-only libtorrent finds it there."""

import libtorrent as lt
import pytest

from conftest import LT_SETTINGS, lt_create, make_tree, run_download
from test_download import LtSeeder, lt_fetches_from_seedring, same_files, wait_for
from test_encryption import forced_session, start_seed, stop
from test_tracker import free_port, seeds_known, start_tracker, wait_until  # noqa: F401
from test_v2 import BIG, every_layer_answered


def names(torrent):
    """The hybrid's v1 hash and its v2 hash, in hex (64 digits)."""
    hashes = lt.torrent_info(str(torrent)).info_hashes()
    return str(hashes.v1), hashes.v2.to_bytes().hex()


def lt_fetches_by_v2_name(ses, uri, port, dst):
    """libtorrent session `ses` downloads the torrent `uri` names from the
    seedring on `port` alone."""
    atp = lt.parse_magnet_uri(uri)
    atp.save_path = str(dst)
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    h = ses.add_torrent(atp)
    if port:
        h.connect_peer(("127.0.0.1", port))
    # libtorrent 2.0.8 now and then stops the torrent with "v1 and v2 hashes
    # do not describe the same data" when a piece layer arrives while its
    # own writes of a piece that passed its v1 check are still pending (its
    # peer log shows the error before that piece's write completes; about
    # one run in fifteen on a loaded machine, with seedring's builds before
    # and after 2026-12-07 alike). Resumed once, as a user would, it must
    # then finish and check every piece both ways; a wrong layer from us
    # would stop it again.
    resumed = []

    def done():
        st = h.status()
        if st.errc.value() and "v1 and v2" in st.errc.message() and not resumed:
            resumed.append(st.errc.message())
            print("libtorrent stopped and was resumed:", resumed[0])
            h.clear_error()
            h.resume()
            if port:
                h.connect_peer(("127.0.0.1", port))
        return st.is_seeding

    wait_for("libtorrent to finish", done, 90)
    assert not h.status().errc.value(), h.status().errc.message()
    del h


def split_hybrid(tmp, first_seed):
    """A hybrid whose two names belong to different shards of two (the first
    8 bytes of a name, modulo 2: the last bit of byte 7), so only the router's
    table of names can find it: its folder, torrent and names."""
    for seed in range(first_seed, first_seed + 64):
        src = make_tree(tmp / f"src{seed}" / "hy", BIG, seed=seed)
        t = tmp / f"h{seed}.torrent"
        t.write_bytes(lt_create(src, 64 * 1024, 0))
        v1, v2 = names(t)
        if (int(v1[14:16], 16) ^ int(v2[14:16], 16)) & 1:
            return src, t, v1, v2
    raise AssertionError("no hybrid split across two shards in 64 tries")


@pytest.mark.parametrize("level", ["none", "rc4"])
def test_libtorrent_joins_seedring_by_the_v2_name(tmp, level):
    src, t, v1, v2 = split_hybrid(tmp, 81)
    extra = ["--encryption", "required"] if level == "rc4" else []
    proc, port = start_seed(t, src.parent, "--shards", "2", *extra)
    try:
        ses = forced_session("rc4") if level == "rc4" else lt.session(LT_SETTINGS)
        lt_fetches_by_v2_name(ses, f"magnet:?xt=urn:btmh:1220{v2}", port, tmp / "lt")
        del ses
    finally:
        stop(proc)
    same_files(src, tmp / "lt" / "hy", BIG)


def lt_seeds_a_hybrid(tmp, seed):
    """A hybrid of `BIG` under `tmp/src/hy`, a libtorrent session seeding it,
    and its `btmh` link pointing at that session: (files, link, seeder)."""
    src = make_tree(tmp / "src" / "hy", BIG, seed=seed)
    t = tmp / "h.torrent"
    t.write_bytes(lt_create(src, 64 * 1024, 0))
    v1, v2 = names(t)
    seeder = LtSeeder(t, tmp / "src")
    return src, f"magnet:?xt=urn:btmh:1220{v2}&x.pe=127.0.0.1:{seeder.port}", seeder


def test_seedring_joins_libtorrent_by_the_v2_name(tmp):
    src, uri, seeder = lt_seeds_a_hybrid(tmp, 82)
    try:
        run_download(uri, tmp / "dst")
    finally:
        seeder.close()
    same_files(src, tmp / "dst" / "hy", BIG)


def test_a_hybrid_by_its_btmh_link_fetches_its_layers_and_serves_them(tmp):
    """seedring given only a hybrid's `btmh` link downloads it from libtorrent
    by its SHA-1 side and fetches its piece layers beside; then, the
    libtorrent seeder gone, a `btmh`-only libtorrent gets every piece layer it
    asks seedring for, none refused."""
    src, uri, seeder = lt_seeds_a_hybrid(tmp, 84)
    try:

        def seeding(lines):
            assert [m for m in lines if "piece layers complete" in m], "".join(lines)
            seeder.close()

        log = lt_fetches_from_seedring(tmp / "h.torrent", tmp / "dst", tmp / "lt", source=uri,
                                       seeding=seeding, magnet=uri.split("&")[0], extra=["-v"])
    finally:
        seeder.close()
    same_files(src, tmp / "dst" / "hy", BIG)
    same_files(src, tmp / "lt" / "hy", BIG)
    every_layer_answered(log)


def test_a_btmh_libtorrent_finds_seedring_through_the_tracker(tmp, start_tracker):
    tracker = free_port()
    url = f"http://127.0.0.1:{tracker}/announce"
    src, t, v1, v2 = split_hybrid(tmp, 83)
    t.write_bytes(lt_create(src, 64 * 1024, 0, trackers=[url]))
    start_tracker(tracker, [v1, v2[:40]])
    proc, _ = start_seed(t, src.parent, "--shards", "2")
    try:
        # seedring announced itself as a seed under each name.
        for name in (v1, v2[:40]):
            wait_until(f"seedring's announce of {name}", lambda: seeds_known(tracker, name) >= 1)
        ses = lt.session(LT_SETTINGS)
        lt_fetches_by_v2_name(ses, f"magnet:?xt=urn:btmh:1220{v2}&tr={url}", None, tmp / "lt")
        del ses
    finally:
        stop(proc)
    same_files(src, tmp / "lt" / "hy", BIG)
