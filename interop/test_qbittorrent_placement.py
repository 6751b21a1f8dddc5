"""Automatic torrent management through the qBittorrent API, against Debian's
qbittorrent-nox: the same torrents and the same requests in both, and after
each step the same `auto_tmm`, `save_path` and category for every torrent and
the same files on disk.

With `auto_tmm_enabled` off (qBittorrent's default; seedring's is on, a
listed difference), an add with a category and no save path is placed by
hand in the default folder; `autoTMM=true` puts it in the category's folder
whatever `savepath` says. A category change moves a managed torrent and
leaves one placed by hand; `setAutoManagement` on moves it to its category's
folder; `setLocation` moves it and turns management off; `setSavePath` moves
one placed by hand and leaves a managed one; a managed torrent taken out of
its category goes to the default folder. With `category_changed_tmm_enabled`
on (what seedring always does), a category's new folder moves its managed
torrents in both; removed, they go to the default folder. Missing parameters
are refused with 400 in both."""

import json
import time

import libtorrent as lt

from conftest import lt_create, make_tree
from qbit_common import side_by_side, wait_state

SEEDING = {"stalledUP", "uploading"}


def test_automatic_management_places_files_like_qbittorrent(tmp):
    qb, sr, a, b, homes = side_by_side(tmp)
    clients = (a, b)
    try:
        assert a.json("app/preferences")["auto_tmm_enabled"] is True
        assert b.json("app/preferences")["auto_tmm_enabled"] is False
        a.post("app/setPreferences", {"json": json.dumps({"auto_tmm_enabled": False})})
        assert a.json("app/preferences")["auto_tmm_enabled"] is False
        for c in clients:
            home = homes[c.url]
            for name in ("cat", "cat2"):
                c.post("torrents/createCategory",
                       {"category": name, "savePath": str(home / f"{name}dir")})

        # t1: a category, no save path: by hand, in the default folder.
        # t2: autoTMM: in the category's folder. t3: autoTMM and a save
        # path: the category's folder still. Each one's data is where it goes.
        ihs = {}
        adds = {
            "t1": ("", {"category": "cat"}),
            "t2": ("catdir", {"category": "cat", "autoTMM": "true"}),
            "t3": ("catdir", {"category": "cat", "autoTMM": "true", "savepath": "HOME"}),
        }
        for c in clients:
            home = homes[c.url]
            for seed, (name, (where, form)) in enumerate(adds.items()):
                src = make_tree(home / where / name, {"a.bin": 40_000}, seed=seed + 1)
                data = lt_create(src, 16384, lt.create_torrent.v1_only)
                ihs[name] = lt.torrent_info(lt.bdecode(data)).info_hash().to_bytes().hex()
                form = {k: str(home) if v == "HOME" else v for k, v in form.items()}
                c.post("torrents/add", form,
                       files={"torrents": (f"{name}.torrent", data, "application/x-bittorrent")})

        def seen(c):
            home = homes[c.url]
            out = {}
            for name, ih in ihs.items():
                t = c.json("torrents/info", hashes=ih)[0]
                out[name] = (t["auto_tmm"], t["save_path"].replace(str(home), "HOME"),
                             t["category"], t["state"] in SEEDING)
            disk = sorted(str(p.relative_to(home)) for p in home.rglob("*.bin"))
            return out, disk

        def same(step):
            # Moves take a moment in both: the last look of each is compared.
            deadline = time.monotonic() + 30
            while True:
                got = {c.url: seen(c) for c in clients}
                settled = all(all(v[3] for v in got[c.url][0].values()) for c in clients)
                if (got[a.url] == got[b.url] and settled) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert got[a.url] == got[b.url], f"{step}: {got}"
            return got[a.url]

        def both(route, form, expect=200):
            for c in clients:
                r = c.s.post(f"{c.url}/api/v2/torrents/{route}", data=form, timeout=30)
                assert r.status_code == expect, (c.url, route, r.status_code, r.text)

        for c in clients:
            for ih in ihs.values():
                wait_state(c, ih, SEEDING, 60)
        torrents, disk = same("added")
        assert torrents["t1"] == (False, "HOME", "cat", True)
        assert torrents["t2"] == (True, "HOME/catdir", "cat", True)
        assert torrents["t3"] == (True, "HOME/catdir", "cat", True)

        both("setCategory", {"hashes": ihs["t1"], "category": "cat2"})
        torrents, disk = same("a torrent placed by hand given another category")
        assert torrents["t1"] == (False, "HOME", "cat2", True) and "t1/a.bin" in disk

        both("setCategory", {"hashes": ihs["t2"], "category": "cat2"})
        torrents, disk = same("a managed torrent given another category")
        assert torrents["t2"][1] == "HOME/cat2dir" and "cat2dir/t2/a.bin" in disk

        both("setAutoManagement", {"hashes": ihs["t1"], "enable": "true"})
        torrents, disk = same("management turned on")
        assert torrents["t1"] == (True, "HOME/cat2dir", "cat2", True)

        for c in clients:
            r = c.s.post(f"{c.url}/api/v2/torrents/setLocation",
                         data={"hashes": ihs["t1"], "location": str(homes[c.url] / "loc")}, timeout=30)
            assert r.status_code == 200, (c.url, r.text)
        torrents, disk = same("setLocation")
        assert torrents["t1"] == (False, "HOME/loc", "cat2", True) and "loc/t1/a.bin" in disk

        for c in clients:
            for name in ("t1", "t3"):
                r = c.s.post(f"{c.url}/api/v2/torrents/setSavePath",
                             data={"id": ihs[name], "path": str(homes[c.url] / "sp")}, timeout=30)
                assert r.status_code == 200, (c.url, r.text)
        torrents, disk = same("setSavePath")
        assert torrents["t1"][1] == "HOME/sp" and "sp/t1/a.bin" in disk
        assert torrents["t3"][1] == "HOME/catdir", "a managed torrent keeps its category's folder"

        both("setCategory", {"hashes": ihs["t2"], "category": ""})
        torrents, disk = same("a managed torrent out of its category")
        assert torrents["t2"] == (True, "HOME", "", True) and "t2/a.bin" in disk

        # A category's folder changes: with qBittorrent told to relocate (what
        # seedring does), its managed torrents move in both; by hand, t1 stays.
        b.post("app/setPreferences", {"json": json.dumps({"category_changed_tmm_enabled": True})})
        both("setCategory", {"hashes": ihs["t1"], "category": "cat"})
        for c in clients:
            c.post("torrents/editCategory",
                   {"category": "cat", "savePath": str(homes[c.url] / "catnew")})
        torrents, disk = same("a category's new folder")
        assert torrents["t3"] == (True, "HOME/catnew", "cat", True)
        assert torrents["t1"] == (False, "HOME/sp", "cat", True)

        # The category removed: its managed torrent goes to the default
        # folder, the one placed by hand stays.
        for c in clients:
            c.post("torrents/removeCategories", {"categories": "cat"})
        torrents, disk = same("a category removed")
        assert torrents["t3"] == (True, "HOME", "", True) and "t3/a.bin" in disk
        assert torrents["t1"] == (False, "HOME/sp", "", True)

        # Missing parameters.
        both("setAutoManagement", {"hashes": ihs["t1"]}, expect=400)
        both("setSavePath", {"path": "/x"}, expect=400)
        both("setSavePath", {"id": ihs["t1"]}, expect=400)
    finally:
        qb.stop()
        sr.stop()


def test_download_path_of_an_unfinished_torrent_like_qbittorrent(tmp):
    """`setDownloadPath` against qbittorrent-nox: a paused torrent without its
    data, placed by hand, gets a download folder and loses it again; a
    managed one is left alone; missing parameters are refused."""
    qb, sr, a, b, homes = side_by_side(tmp)
    clients = (a, b)
    try:
        ihs = {}
        for c in clients:
            home = homes[c.url]
            c.post("torrents/createCategory", {"category": "cat", "savePath": str(home / "catdir")})
            for seed, (name, form) in enumerate({
                    "hand": {"savepath": str(home), "paused": "true"},
                    "auto": {"category": "cat", "autoTMM": "true", "paused": "true"}}.items()):
                src = make_tree(tmp / "src" / name, {"a.bin": 40_000}, seed=seed + 7)
                data = lt_create(src, 16384, lt.create_torrent.v1_only)
                ihs[name] = lt.torrent_info(lt.bdecode(data)).info_hash().to_bytes().hex()
                c.post("torrents/add", form,
                       files={"torrents": (f"{name}.torrent", data, "application/x-bittorrent")})

        def paths(c):
            home = str(homes[c.url])
            out = {}
            for name, ih in ihs.items():
                t = c.json("torrents/info", hashes=ih)[0]
                out[name] = (t["save_path"].replace(home, "HOME"),
                             t["download_path"].replace(home, "HOME"), t["auto_tmm"])
            return out

        def step(form, expect_status, want, what):
            for c in clients:
                r = c.s.post(f"{c.url}/api/v2/torrents/setDownloadPath",
                             data={k: v.replace("HOME", str(homes[c.url])) for k, v in form.items()},
                             timeout=30)
                assert r.status_code == expect_status, (what, c.url, r.status_code, r.text)
            deadline = time.monotonic() + 15
            while True:
                got = {c.url: paths(c) for c in clients}
                if (got[a.url] == got[b.url] == want) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert got[a.url] == got[b.url] == want, (what, got)

        start = {"hand": ("HOME", "", False), "auto": ("HOME/catdir", "", True)}
        step({"id": ihs["hand"], "path": "HOME/dl"}, 200,
             {**start, "hand": ("HOME", "HOME/dl", False)}, "a download folder")
        step({"id": ihs["hand"], "path": "HOME/dl2"}, 200,
             {**start, "hand": ("HOME", "HOME/dl2", False)}, "another")
        step({"id": ihs["hand"], "path": ""}, 200, start, "none again")
        step({"id": ihs["auto"], "path": "HOME/dl"}, 200, start, "a managed torrent")
        step({"path": "HOME/dl"}, 400, start, "no id")
        step({"id": ihs["hand"]}, 400, start, "no path")
    finally:
        qb.stop()
        sr.stop()
