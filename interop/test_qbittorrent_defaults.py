"""What a new torrent starts with when its add does not say, through the
qBittorrent API, against Debian's qbittorrent-nox: `start_paused_enabled` and
`torrent_content_layout` set and read back alike; a single-file torrent added
without `paused` or `contentLayout` starts paused, its file in a folder of its
own, in both (the same state and content path); an add that says otherwise
does as it says in both. `bittorrent_protocol` and the announce preferences
say what seedring does (both transports; the first working tracker of each
tier, qBittorrent's default). `max_active_checking_torrents` is 1 in both
and set alike."""

import json

import libtorrent as lt

from conftest import lt_create, make_tree
from qbit_common import same_in_both, side_by_side, wait_state


def test_adds_that_do_not_say_start_as_the_preferences_say(tmp):
    qb, sr, a, b, homes = side_by_side(tmp)

    def both(f):
        return same_in_both(a, b, homes, f)

    def row(c, ih):
        t = next(t for t in c.json("torrents/info") if t["hash"] == ih)
        return {k: t[k] for k in ("state", "content_path", "save_path")}

    try:
        for c in (a, b):
            c.post("app/setPreferences", {"json": json.dumps({
                "start_paused_enabled": True, "torrent_content_layout": "Subfolder"})})
        keys = ("start_paused_enabled", "torrent_content_layout")
        assert both(lambda c: {k: c.json("app/preferences")[k] for k in keys}) == {
            "start_paused_enabled": True, "torrent_content_layout": "Subfolder"}

        one = make_tree(tmp / "src", {"one.bin": 30_000}, seed=4) / "one.bin"
        two = make_tree(tmp / "src", {"two.bin": 30_000}, seed=5) / "two.bin"
        ihs = {}
        for src, extra in ((one, {}), (two, {"paused": "false", "contentLayout": "Original"})):
            data = lt_create(src, 16384, lt.create_torrent.v1_only)
            ihs[src.name] = lt.torrent_info(lt.bdecode(data)).info_hash().to_bytes().hex()
            for c in (a, b):
                c.post("torrents/add", {"savepath": str(homes[c.url]), **extra},
                       files={"torrents": ("t.torrent", data, "application/x-bittorrent")})
        for c in (a, b):
            wait_state(c, ihs["one.bin"], {"pausedDL"}, 30)
            wait_state(c, ihs["two.bin"], {"stalledDL", "downloading", "metaDL"}, 30)
        assert both(lambda c: row(c, ihs["one.bin"])) == {
            "state": "pausedDL", "content_path": "HOME/one/one.bin", "save_path": "HOME"}
        assert both(lambda c: row(c, ihs["two.bin"]))["content_path"] == "HOME/two.bin"

        ours = a.json("app/preferences")
        assert ours["bittorrent_protocol"] == 0
        reach = ("announce_to_all_tiers", "announce_to_all_trackers")
        assert both(lambda c: {k: c.json("app/preferences")[k] for k in reach}) == {
            "announce_to_all_tiers": True, "announce_to_all_trackers": False}

        # Checks at once: one by default in both, and set alike.
        checking = "max_active_checking_torrents"
        assert both(lambda c: c.json("app/preferences")[checking]) == 1
        for c in (a, b):
            c.post("app/setPreferences", {"json": json.dumps({checking: 3})})
        assert both(lambda c: c.json("app/preferences")[checking]) == 3
    finally:
        qb.stop()
        assert sr.stop() == 0
