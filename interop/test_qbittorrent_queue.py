"""Queued and missing-files states of seedring's qBittorrent layer against
Debian's qbittorrent-nox: seeds waiting their turn behind the active-uploads
limit (`queuedUP`) and a download behind the active-downloads limit
(`queuedDL`), then let through when the limits rise; and a complete torrent
whose file was deleted while the daemon was stopped (`missingFiles`, neither
client downloads it again on its own). Both daemons get the same torrents and
requests, and torrents/info is compared key by key in each state."""

import json
import time

import libtorrent as lt

from qbit_common import Client, side_by_side, wait_state
from test_qbittorrent_states import compare_info, zeros_torrent

MIB = 1 << 20


def add_zeros(c, home, name, size, skip_checking):
    """Adds a torrent of zeros; with `skip_checking` its (sparse) file is
    written first, so it is complete at once. Returns its info-hash."""
    data = zeros_torrent(name, size, MIB)
    if skip_checking:
        with open(home / name, "wb") as f:
            f.truncate(size)
    c.post("torrents/add", {"savepath": str(home), "skip_checking": str(skip_checking).lower()},
           files={"torrents": (name + ".torrent", data, "application/x-bittorrent")})
    return lt.torrent_info(lt.bdecode(data)).info_hash().to_bytes().hex()


def prefs(c, **kv):
    c.post("app/setPreferences", {"json": json.dumps(kv)})


def test_queued_seeds_and_downloads_match_qbittorrent(tmp):
    qb, sr, a, b, homes = side_by_side(tmp)
    try:
        for c in (a, b):
            # One seed and one download at a time; idle torrents count (the
            # "slow torrents" exemption off), so nobody sending anything
            # still holds a slot.
            prefs(c, queueing_enabled=True, max_active_uploads=1, max_active_downloads=1,
                  max_active_torrents=2, dont_count_slow_torrents=False)

        def add_both(name, complete, state):
            ihs = {c.url: add_zeros(c, homes[c.url], name, 8 * MIB, complete) for c in (a, b)}
            for c in (a, b):
                wait_state(c, ihs[c.url], {state}, 60)
            return ihs

        # The first seed takes the only upload slot, so the second waits for
        # it, and so does a download behind a download that holds the slot.
        first = add_both("first.bin", True, "stalledUP")
        second = add_both("second.bin", True, "queuedUP")
        compare_info(a, b, second[a.url], "seed queued behind the upload limit")
        assert a.json("torrents/info", hashes=first[a.url])[0]["state"] == "stalledUP"
        add_both("held.bin", False, "stalledDL")
        behind = add_both("behind.bin", False, "queuedDL")
        compare_info(a, b, behind[a.url], "download queued behind the download limit")
        for c in (a, b):
            got = {t["hash"]: t["state"] for t in c.json("torrents/info", filter="all")}
            assert got[second[c.url]] == "queuedUP", got
            # The filters agree on where a queued seed belongs.
            assert second[c.url] in {t["hash"] for t in c.json("torrents/info", filter="completed")}
            assert second[c.url] not in {t["hash"] for t in c.json("torrents/info",
                                                                      filter="downloading")}
        # Room for everyone: the queued seed and download run.
        for c in (a, b):
            prefs(c, max_active_uploads=4, max_active_downloads=4, max_active_torrents=8)
        for c in (a, b):
            wait_state(c, second[c.url], {"stalledUP"}, 60)
            wait_state(c, behind[c.url], {"stalledDL"}, 60)
        compare_info(a, b, second[a.url], "seed let through")
    finally:
        qb.stop()
        code = sr.stop()
    assert code == 0, sr.log_path.read_text()


def test_files_gone_while_stopped_is_missing_files_as_in_qbittorrent(tmp):
    qb, sr, a, b, by_url = side_by_side(tmp)
    homes = {"sr": by_url[a.url], "qb": by_url[b.url]}
    daemons = {"sr": sr, "qb": qb}
    try:
        clients = {"sr": a, "qb": b}
        ih = {k: add_zeros(c, homes[k], "kept.bin", 8 * MIB, True) for k, c in clients.items()}
        for c in clients.values():
            wait_state(c, ih["sr"], {"stalledUP"}, 60)
        # Both stop with the torrent complete; its file goes meanwhile.
        for k, d in daemons.items():
            d.stop()
            (homes[k] / "kept.bin").unlink()
        for d in daemons.values():
            d.start()
        clients = {k: Client(d.url) for k, d in daemons.items()}
        for c in clients.values():
            assert c.login() == "Ok."
            wait_state(c, ih["sr"], {"missingFiles"}, 60)
        a, b = clients["sr"], clients["qb"]
        compare_info(a, b, ih["sr"], "files gone while stopped")
        # Neither fetches it again, nor makes an empty file in its place.
        time.sleep(3)
        for k, c in clients.items():
            assert c.json("torrents/info", hashes=ih[k])[0]["state"] == "missingFiles", k
            assert not (homes[k] / "kept.bin").exists(), k
        # Put back and rechecked (seedring also on resume), it seeds again.
        with open(homes["sr"] / "kept.bin", "wb") as f:
            f.truncate(8 * MIB)
        a.post("torrents/resume", {"hashes": ih["sr"]})
        wait_state(a, ih["sr"], {"stalledUP"}, 60)
        assert a.json("torrents/info", hashes=ih["sr"])[0]["progress"] == 1
    finally:
        qb.stop()
        code = sr.stop()
    assert code == 0, sr.log_path.read_text()
