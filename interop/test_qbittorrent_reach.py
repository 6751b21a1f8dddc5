"""Which trackers a torrent is announced to, against Debian's qbittorrent-nox:
two opentrackers on loopback, a torrent listing them in two tiers (as public
torrents list their trackers, one a tier). By default both clients announce
to both (qBittorrent's `announce_to_all_tiers`); each tracker counts both
clients and both show each tracker working. With `announce_to_all_tiers` off
in both, a second torrent is announced to the first tier's tracker only, and
both show the second as not contacted. The preferences read back alike."""

import json
import time

import libtorrent as lt

from conftest import make_tree
from qbit_common import same_in_both, side_by_side
from test_tracker import free_port, scrape, start_tracker, wait_until  # noqa: F401 (a fixture)


def two_tier_torrent(src, trackers):
    fs = lt.file_storage()
    lt.add_files(fs, str(src))
    ct = lt.create_torrent(fs, 16 * 1024, flags=lt.create_torrent.v1_only)
    for tier, url in enumerate(trackers):
        ct.add_tracker(url, tier)
    lt.set_piece_hashes(ct, str(src.parent))
    data = lt.bencode(ct.generate())
    return data, str(lt.torrent_info(lt.bdecode(data)).info_hashes().v1)


def test_both_tiers_are_announced_to_unless_told_otherwise(tmp, start_tracker):
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}/announce" for p in ports]
    first, ih1 = two_tier_torrent(make_tree(tmp / "src", {"a.bin": 40_000}, seed=21) / "a.bin",
                                  urls)
    second, ih2 = two_tier_torrent(make_tree(tmp / "src", {"b.bin": 40_000}, seed=22) / "b.bin",
                                   urls)
    for p in ports:
        start_tracker(p, [ih1, ih2])
    qb, sr, a, b, homes = side_by_side(tmp)

    def both(f):
        return same_in_both(a, b, homes, f)

    def statuses(c, ih):
        return {r["url"]: r["status"] for r in c.json("torrents/trackers", hash=ih)
                if r["url"] in urls}

    def add(c, data):
        c.post("torrents/add", {"savepath": str(homes[c.url])},
               files={"torrents": ("t.torrent", data, "application/x-bittorrent")})

    keys = ("announce_to_all_tiers", "announce_to_all_trackers")
    try:
        assert both(lambda c: {k: c.json("app/preferences")[k] for k in keys}) == {
            "announce_to_all_tiers": True, "announce_to_all_trackers": False}
        for c in (a, b):
            add(c, first)
        # Each tracker hears from both clients (two leechers: same address,
        # two ports), and both clients show both trackers working.
        for p in ports:
            wait_until(f"tracker {p} to count both clients",
                       lambda p=p: scrape(p, ih1).get(b"incomplete", 0) == 2, 60)
        for c in (a, b):
            wait_until(f"{c.url}: both trackers working",
                       lambda c=c: set(statuses(c, ih1).values()) == {2}, 60)
        assert both(lambda c: statuses(c, ih1)) == {urls[0]: 2, urls[1]: 2}

        for c in (a, b):
            c.post("app/setPreferences", {"json": json.dumps({"announce_to_all_tiers": False})})
        assert both(lambda c: {k: c.json("app/preferences")[k] for k in keys}) == {
            "announce_to_all_tiers": False, "announce_to_all_trackers": False}
        for c in (a, b):
            add(c, second)
        wait_until("the first tier's tracker to count both clients",
                   lambda: scrape(ports[0], ih2).get(b"incomplete", 0) == 2, 60)
        for c in (a, b):
            wait_until(f"{c.url}: the first tracker working",
                       lambda c=c: statuses(c, ih2).get(urls[0]) == 2, 60)
        # Long enough for an announce to the second tier to have been made.
        time.sleep(3)
        assert scrape(ports[1], ih2).get(b"incomplete", 0) == 0
        assert both(lambda c: statuses(c, ih2)) == {urls[0]: 2, urls[1]: 1}

        # Every tracker: read back alike (qBittorrent keeps both keys as set;
        # seedring's setting is one of three, so "every tracker" shows "every
        # tier" on too: checked here only for the key both keep alike).
        for c in (a, b):
            c.post("app/setPreferences", {"json": json.dumps({"announce_to_all_trackers": True})})
        assert both(lambda c: c.json("app/preferences")["announce_to_all_trackers"]) is True
    finally:
        qb.stop()
        assert sr.stop() == 0
