"""Renaming a torrent's files and folders through the qBittorrent API,
against Debian's qbittorrent-nox: the same complete torrent in both, the same
renameFile and renameFolder requests; after each, the status, the reason of a
refusal, the file list and the files on disk are the same in both. Then the
data still checks whole (a recheck finds every piece), and seedring keeps the
names across a restart. One deliberate difference: qBittorrent 4.5 renames a
file to `../x.bin`, out of its save path; seedring refuses it."""

import time

import libtorrent as lt

from conftest import lt_create, make_tree
from qbit_common import Client, side_by_side, wait_state

LAYOUT = {"a.bin": 100_000, "d/b.bin": 50_000, "d/e/c.bin": 3_000}


def test_renames_answer_and_land_on_disk_like_qbittorrent(tmp):
    qb, sr, a, b, homes = side_by_side(tmp)
    try:
        ihs = {}
        for c in (a, b):
            src = make_tree(homes[c.url] / "t", LAYOUT, seed=3)
            data = lt_create(src, 16384, lt.create_torrent.v1_only)
            ihs[c.url] = lt.torrent_info(lt.bdecode(data)).info_hash().to_bytes().hex()
            c.post("torrents/add", {"savepath": str(homes[c.url])},
                   files={"torrents": ("t.torrent", data, "application/x-bittorrent")})
        for c in (a, b):
            wait_state(c, ihs[c.url], {"stalledUP", "uploading"}, 60)

        def files(c):
            return sorted(f["name"] for f in c.json("torrents/files", hash=ihs[c.url]))

        def disk(c):
            home = homes[c.url]
            return sorted(str(p.relative_to(home)) for p in home.rglob("*")
                          if p.is_file() and p.name != ".seedring-root")

        def step(route, old, new):
            seen = {}
            for c in (a, b):
                r = c.s.post(c.url + "/api/v2/torrents/" + route,
                             data={"hash": ihs[c.url], "oldPath": old, "newPath": new},
                             timeout=30)
                seen[c.url] = (r.status_code, r.text)
            assert seen[a.url] == seen[b.url], f"{route} {old} -> {new}: {seen}"
            if seen[a.url][0] == 200:
                # seedring renames once the torrent has stopped: a moment later.
                deadline = time.monotonic() + 30
                while files(a) != files(b) and time.monotonic() < deadline:
                    time.sleep(0.1)
            for c in (a, b):
                wait_state(c, ihs[c.url], {"stalledUP", "uploading"}, 30)
            time.sleep(0.5)
            assert files(a) == files(b), f"{route} {old} -> {new}"
            assert disk(a) == disk(b), f"{route} {old} -> {new}"
            return seen[a.url]

        assert step("renameFile", "t/a.bin", "t/z/a2.bin")[0] == 200
        assert files(a) == ["t/d/b.bin", "t/d/e/c.bin", "t/z/a2.bin"]
        assert step("renameFile", "t/z/a2.bin", "t/d/b.bin") == (
            409, "The file already exists: 't/d/b.bin'.")
        step("renameFile", "t/nope.bin", "t/x.bin")
        step("renameFile", "t/z/a2.bin", "/etc/x.bin")
        step("renameFile", "t/z/a2.bin", "")
        assert step("renameFolder", "t/d", "t/dd")[0] == 200
        assert step("renameFolder", "t", "u")[0] == 200
        step("renameFolder", "u/nope", "u/x")
        assert step("renameFolder", "u/dd", "u/z") == (409, "The folder already exists: 'u/z'.")
        assert step("renameFolder", "u/dd", "u/y")[0] == 200
        assert files(a) == ["u/y/b.bin", "u/y/e/c.bin", "u/z/a2.bin"]

        # Out of the save path: qBittorrent does it, seedring refuses.
        r = a.post("torrents/renameFile",
                   {"hash": ihs[a.url], "oldPath": "u/z/a2.bin", "newPath": "../x.bin"},
                   expect=409)
        assert "invalid" in r.text, r.text
        # A folder that holds another file: refused (qBittorrent would make
        # the file a folder's namesake and fail later).
        r = a.post("torrents/renameFile",
                   {"hash": ihs[a.url], "oldPath": "u/z/a2.bin", "newPath": "u/y/e"},
                   expect=409)
        assert "already" in r.text, r.text

        # The data checks whole under its new names.
        a.post("torrents/recheck", {"hashes": ihs[a.url]})
        wait_state(a, ihs[a.url], {"stalledUP", "uploading"}, 60)
        assert a.json("torrents/info", hashes=ihs[a.url])[0]["progress"] == 1

        # And keeps them across a restart.
        ih = ihs[a.url]
        assert sr.stop() == 0
        sr.start()
        a = Client(sr.url)
        assert a.login() == "Ok."
        wait_state(a, ih, {"stalledUP", "uploading"}, 60)
        assert sorted(f["name"] for f in a.json("torrents/files", hash=ih)) == [
            "u/y/b.bin", "u/y/e/c.bin", "u/z/a2.bin"]
        assert a.json("torrents/info", hashes=ih)[0]["progress"] == 1
    finally:
        qb.stop()
        sr.stop()
