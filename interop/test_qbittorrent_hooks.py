"""The program run when a torrent is added and when it finishes, against
Debian's qbittorrent-nox: the same command line (qBittorrent's "run external
program" preferences there, `[hooks]` in seedring's config), the same two
torrents added with their data (one in a folder of its own, with a category
and tags; one single file); each program runs twice per torrent in both, with
the same arguments (each client's downloads folder written as HOME). The
qBittorrent API shows seedring's lines and does not change them.

One deliberate difference: qBittorrent 4.5 gives the "added" program the
content path (%F) and the folder (%R) relative to the save path (it runs the
program before the torrent has a place); seedring gives them whole, as it and
qBittorrent do for "finished"."""

import json
import os
import stat
import time

import libtorrent as lt

from conftest import lt_create, make_tree
from qbit_common import Client, QbNox, SeedringQb

SCRIPT = """#!/bin/sh
log="$1"; shift
line=""
for a in "$@"; do line="$line|$a"; done
printf '%s\\n' "$line" >> "$log"
"""
ARGS = '"%N" "%L" "%G" "%F" "%R" "%D" "%C" "%Z" "%T" "%I" "%J" "%K"'


def runs(log, home):
    if not log.exists():
        return []
    return sorted(l.replace(str(home), "HOME") for l in log.read_text().splitlines())


def whole_paths(line):
    """qBittorrent's "added" line with %F and %R made whole (see above)."""
    f = line.split("|")
    if f[1] == "added":
        for i in (5, 6):  # after the leading "", the milestone, %N, %L, %G
            if f[i] and not f[i].startswith("HOME"):
                f[i] = "HOME/" + f[i]
    return "|".join(f)


def test_programs_run_with_the_arguments_qbittorrent_gives(tmp):
    script = tmp / "hook.sh"
    script.write_text(SCRIPT)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    logs = {"sr": tmp / "sr.log", "qb": tmp / "qb.log"}

    def line(who, milestone):
        return f"{script} {logs[who]} {milestone} {ARGS}"

    homes = {"sr": tmp / "sr" / "downloads", "qb": tmp / "qb" / "downloads"}
    for h in homes.values():
        h.mkdir(parents=True)
    hooks = (f'[hooks]\non_added = {json.dumps(line("sr", "added"))}\n'
             f'on_finished = {json.dumps(line("sr", "finished"))}\n')
    sr = SeedringQb(tmp / "sr", {"default": homes["sr"]}, hooks)
    qb = QbNox(tmp / "qb", homes["qb"])
    a, b = Client(sr.url), Client(qb.url)
    try:
        for c in (a, b):
            assert c.login() == "Ok."
        b.post("app/setPreferences", {"json": json.dumps({
            "autorun_enabled": True, "autorun_program": line("qb", "finished"),
            "autorun_on_torrent_added_enabled": True,
            "autorun_on_torrent_added_program": line("qb", "added")})})
        # seedring shows its config's lines and keeps them.
        prefs = a.json("app/preferences")
        assert prefs["autorun_enabled"] and prefs["autorun_on_torrent_added_enabled"]
        assert prefs["autorun_program"] == line("sr", "finished")
        assert prefs["autorun_on_torrent_added_program"] == line("sr", "added")
        a.post("app/setPreferences", {"json": json.dumps({"autorun_program": "rm -rf /"})})
        assert a.json("app/preferences")["autorun_program"] == line("sr", "finished")

        for who, c in (("sr", a), ("qb", b)):
            home = homes[who]
            folder = make_tree(home / "show s01", {"e1.mkv": 100_000, "sub/e2.srt": 3_000}, seed=5)
            single = make_tree(home, {"one file.bin": 40_000}, seed=6) / "one file.bin"
            c.post("torrents/createCategory", {"category": "tv", "savePath": ""})
            for src, extra in ((folder, {"category": "tv", "tags": "x,y"}), (single, {})):
                data = lt_create(src, 16384, lt.create_torrent.v1_only)
                c.post("torrents/add", {"savepath": str(home), **extra},
                       files={"torrents": ("t.torrent", data, "application/x-bittorrent")})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
                len(runs(logs[w], homes[w])) >= 4 for w in ("sr", "qb")):
            time.sleep(0.2)
        time.sleep(1)  # nothing more comes
        ours, theirs = runs(logs["sr"], homes["sr"]), runs(logs["qb"], homes["qb"])
        theirs = sorted(whole_paths(l) for l in theirs)
        assert len(theirs) == 4, theirs
        assert ours == theirs, f"seedring: {ours}\nqBittorrent: {theirs}"
    finally:
        qb.stop()
        assert sr.stop() == 0
