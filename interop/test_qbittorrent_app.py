"""The execution log, piece hashes and shutdown of seedring's qBittorrent
layer against Debian's qbittorrent-nox: `log/main` has qBittorrent's shape and
filters (types, `last_known_id`); `torrents/pieceHashes` gives a v1 torrent's
hashes exactly as qBittorrent does, a hybrid's SHA-1 as libtorrent reads them,
and a v2-only torrent's piece roots from its piece layers (qBittorrent 4.5
answers that one with bytes of the info dictionary); `app/shutdown` ends both
daemons cleanly."""

import time

import libtorrent as lt

from conftest import lt_create, make_tree
from qbit_common import diff_shapes, shape, side_by_side

KIB = 1024


def add(c, home, name, data):
    c.post("torrents/add", {"savepath": str(home), "paused": "true"},
           files={"torrents": (name + ".torrent", data, "application/x-bittorrent")})


def test_log_piece_hashes_and_shutdown_answer_like_qbittorrent(tmp):
    qb, sr, a, b, homes = side_by_side(tmp)
    try:
        # log/main: the same shape; the filters and last_known_id work.
        ours, theirs = a.json("log/main"), b.json("log/main")
        assert ours and theirs
        assert diff_shapes(shape(ours), shape(theirs)) == []
        assert any("seedring daemon ready" in e["message"] for e in ours), ours
        assert {e["type"] for e in ours} <= {1, 2, 4, 8}
        assert all(abs(e["timestamp"] - time.time()) < 600 for e in ours)
        normal = a.json("log/main", info="false", warning="false", critical="false")
        assert normal and {e["type"] for e in normal} == {1}
        last = ours[-1]["id"]
        assert a.json("log/main", last_known_id=last) == []
        newer = a.json("log/main", last_known_id=last - 1)
        assert newer and newer[0]["id"] == last
        a.post("log/main", {"normal": "maybe"}, expect=400)

        # pieceHashes: a v1 torrent, the same on both.
        src = make_tree(tmp / "src" / "t", {"a.bin": 100_000, "b.bin": 50_000}, seed=3)
        v1 = lt_create(src, 16 * KIB, lt.create_torrent.v1_only)
        ti = lt.torrent_info(lt.bdecode(v1))
        ih = ti.info_hash().to_bytes().hex()
        for c in (a, b):
            add(c, homes[c.url], "v1", v1)
        time.sleep(1)
        ours = a.json("torrents/pieceHashes", hash=ih)
        assert ours == b.json("torrents/pieceHashes", hash=ih)
        assert len(ours) == ti.num_pieces() == 10
        a.get("torrents/pieceHashes", hash="ab" * 20, expect=404)

        # A hybrid: its SHA-1, as libtorrent reads them.
        hybrid = lt_create(src, 16 * KIB, 0)
        hti = lt.torrent_info(lt.bdecode(hybrid))
        add(a, homes[a.url], "hybrid", hybrid)
        hih = hti.info_hashes().v1.to_bytes().hex()
        time.sleep(1)
        want = [hti.hash_for_piece(i).hex() for i in range(hti.num_pieces())]
        assert a.json("torrents/pieceHashes", hash=hih) == want

        # A v2-only torrent: each piece's root, file by file from its layer.
        v2 = lt_create(src, 16 * KIB, lt.create_torrent.v2_only)
        d = lt.bdecode(v2)
        layers = d[b"piece layers"]
        want = []
        for name in (b"a.bin", b"b.bin"):
            root = d[b"info"][b"file tree"][name][b""][b"pieces root"]
            layer = layers[root]
            want += [layer[i:i + 32].hex() for i in range(0, len(layer), 32)]
        v2ih = lt.torrent_info(d).info_hashes().v2.to_bytes().hex()[:40]
        add(a, homes[a.url], "v2", v2)
        time.sleep(1)
        assert a.json("torrents/pieceHashes", hash=v2ih) == want

        # app/shutdown: both stop on their own, cleanly.
        for c in (a, b):
            r = c.post("app/shutdown")
            assert r.text == ""
        assert sr.proc.wait(timeout=60) == 0
        assert qb.proc.wait(timeout=60) == 0
        assert "stop asked for over the qBittorrent API" in sr.log_path.read_text()
    finally:
        qb.stop()
        sr.stop()
