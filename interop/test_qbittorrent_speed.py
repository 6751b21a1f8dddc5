"""The alternative speed limits and their scheduler through the qBittorrent
API. Against Debian's qbittorrent-nox: the same requests (limits set, the mode
toggled and set, the global limit set while the alternative ones are in
force, a schedule whose window holds the present minute, a toggle by hand
inside the window, the scheduler turned off) give the same answers in
speedLimitsMode, downloadLimit/uploadLimit, transfer/info, sync/maindata and
the preferences. Then the Python client the *arr tools use switches them on
while seedring downloads from a libtorrent seeder on loopback: the download
crawls at the alternative cap, and finishes once they are switched off."""

import json
import time

import libtorrent as lt
import qbittorrentapi

from conftest import assert_same_file, lt_create, make_tree
from qbit_common import PASSWORD, USER, SeedringQb, side_by_side
from test_download import LtSeeder, wait_for

KIB = 1024
MIB = 1 << 20


def prefs(c, **kv):
    c.post("app/setPreferences", {"json": json.dumps(kv)})


def look(c):
    """What a client shows of its speed limits."""
    p = c.json("app/preferences")
    ti = c.json("transfer/info")
    ss = c.json("sync/maindata")["server_state"]
    keys = ["dl_limit", "up_limit", "alt_dl_limit", "alt_up_limit", "scheduler_enabled",
            "schedule_from_hour", "schedule_from_min", "schedule_to_hour", "schedule_to_min",
            "scheduler_days"]
    return {
        "mode": c.get("transfer/speedLimitsMode").text,
        "downloadLimit": c.get("transfer/downloadLimit").text,
        "uploadLimit": c.get("transfer/uploadLimit").text,
        "info": (ti["dl_rate_limit"], ti["up_rate_limit"]),
        "server_state": (ss["dl_rate_limit"], ss["up_rate_limit"], ss["use_alt_speed_limits"]),
        "prefs": {k: p[k] for k in keys},
    }


def clock(minutes_from_now):
    """(hour, minute) of the local time `minutes_from_now` away."""
    t = time.localtime(time.time() + 60 * minutes_from_now)
    return t.tm_hour, t.tm_min


def test_alternative_limits_and_the_scheduler_answer_like_qbittorrent(tmp):
    qb, sr, a, b, _ = side_by_side(tmp)
    try:
        seen = {a.url: [], b.url: []}

        def both(what, step=None, settle=0.0):
            for c in (a, b):
                if step:
                    step(c)
            time.sleep(settle)
            for c in (a, b):
                seen[c.url].append((what, look(c)))

        # Limits in whole KiB (qBittorrent keeps KiB).
        both("limits set", lambda c: prefs(c, dl_limit=2000 * KIB, up_limit=3000 * KIB,
                                           alt_dl_limit=50 * KIB, alt_up_limit=100 * KIB))
        both("toggled on", lambda c: c.post("transfer/toggleSpeedLimitsMode"))
        # The global limit set while the alternative ones are in force
        # changes the alternative one.
        both("set while on", lambda c: c.post("transfer/setDownloadLimit", {"limit": 70 * KIB}))
        both("toggled off", lambda c: c.post("transfer/toggleSpeedLimitsMode"))
        both("set while off", lambda c: c.post("transfer/setUploadLimit", {"limit": 900 * KIB}))
        both("mode 1", lambda c: c.post("transfer/setSpeedLimitsMode", {"mode": "1"}))
        both("alternative none", lambda c: prefs(c, alt_dl_limit=-5))
        both("mode 0", lambda c: c.post("transfer/setSpeedLimitsMode", {"mode": "0"}))

        # A window holding the present minute (times first, then the switch).
        (fh, fm), (th, tm) = clock(-1), clock(10)

        def window(c):
            prefs(c, schedule_from_hour=fh, schedule_from_min=fm, schedule_to_hour=th,
                  schedule_to_min=tm, scheduler_days=0)
            prefs(c, scheduler_enabled=True)

        for c in (a, b):
            window(c)
        for c in (a, b):
            wait_for(f"{c.url}: the window's start",
                     lambda: c.get("transfer/speedLimitsMode").text == "1", 15)
        both("scheduled on")
        # Off by hand inside the window: it stands.
        both("toggled off in the window", lambda c: c.post("transfer/toggleSpeedLimitsMode"),
             settle=3)
        # The scheduler off leaves the mode as it is.
        both("on again, scheduler off", lambda c: (c.post("transfer/toggleSpeedLimitsMode"),
                                                   prefs(c, scheduler_enabled=False)), settle=2)

        for (what, ours), (_, theirs) in zip(seen[a.url], seen[b.url]):
            assert ours == theirs, f"{what}:\n seedring    {ours}\n qBittorrent {theirs}"
        assert seen[a.url][-1][1]["mode"] == "1"

        # Out-of-range values: qBittorrent ignores them without a word;
        # seedring refuses with why.
        r = a.post("app/setPreferences", {"json": json.dumps({"scheduler_days": 12})}, expect=400)
        assert "scheduler_days" in r.text
        r = a.post("app/setPreferences", {"json": json.dumps({"schedule_to_hour": 24})},
                   expect=400)
        assert "schedule_to_hour" in r.text
        r = a.post("transfer/setSpeedLimitsMode", {"mode": "2"}, expect=400)
        assert "mode" in r.text
    finally:
        qb.stop()
        code = sr.stop()
    assert code == 0, sr.log_path.read_text()


def test_the_alternative_cap_holds_a_download_back_until_switched_off(tmp):
    size = 6 * MIB
    src = make_tree(tmp / "src" / "big", {"big.bin": size}, seed=44)
    torrent = tmp / "big.torrent"
    torrent.write_bytes(lt_create(src / "big.bin", 64 * KIB, lt.create_torrent.v1_only))
    ih = lt.torrent_info(str(torrent)).info_hash().to_bytes().hex()
    seeder = LtSeeder(torrent, src)
    d = SeedringQb(tmp / "sr", {"default": tmp / "sr" / "dl"})
    try:
        c = qbittorrentapi.Client(host=d.host, port=int(d.port), username=USER,
                                  password=PASSWORD, REQUESTS_ARGS={"timeout": 30})
        c.auth_log_in()
        c.app_set_preferences({"alt_dl_limit": 256 * KIB, "dl_limit": 0})
        c.transfer_set_speed_limits_mode(True)
        assert c.transfer_speed_limits_mode() == "1"
        assert c.transfer_download_limit() == 256 * KIB
        assert c.torrents_add(torrent_files=str(torrent)) == "Ok."
        wait_for("listed", lambda: len(c.torrents_info(torrent_hashes=ih)) == 1, 30)
        c.torrents_add_peers(peers=f"127.0.0.1:{seeder.port}", torrent_hashes=ih)

        def done():
            return c.torrents_info(torrent_hashes=ih)[0].downloaded

        wait_for("the first bytes", lambda: done() > 0, 60)
        time.sleep(4)
        # Unlimited, loopback moves 6 MiB in well under a second; at 256 KiB/s
        # four seconds (and the bucket's first second) bring about 1.25 MiB.
        got = done()
        assert got < size // 2, f"{got} bytes in 4 s under a 256 KiB/s cap"
        assert c.sync_maindata().server_state.use_alt_speed_limits is True
        c.transfer_set_speed_limits_mode(False)
        assert c.transfer_download_limit() == 0
        wait_for("the download", lambda: c.torrents_info(torrent_hashes=ih)[0].progress == 1, 60)
        assert_same_file(tmp / "sr" / "dl" / "big.bin", src / "big.bin")
    finally:
        seeder.close()
        code = d.stop()
    assert code == 0, d.log_path.read_text()
