"""seedring's qBittorrent WebAPI against the real thing: Debian's
qbittorrent-nox and seedring side by side on loopback, sent the same
requests the *arr tools send, their answers compared key by key (same keys,
same JSON types) and their state strings through a torrent's life.

Every deliberate difference is in ALLOWED below and in
docs/qbittorrent-api.md."""

import libtorrent as lt

from conftest import lt_create, make_tree
from qbit_common import (Client, QbNox, SeedringQb, by_hash_keys, diff_shapes, shape,
                         wait_state)
from test_download import LAYOUT, LtSeeder


class WebServer:
    """A web server on loopback serving a folder, in a thread."""

    def __init__(self, folder):
        import functools
        import http.server
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)

    def __enter__(self):
        import threading
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc):
        self.httpd.shutdown()

# Paths (as diff_shapes names them) that differ on purpose.
ALLOWED = set()

SEEDING = {"uploading", "stalledUP"}


def compare(ours, theirs, what):
    d = diff_shapes(shape(ours), shape(theirs), allowed=ALLOWED)
    assert not d, f"{what} differs from qBittorrent's:\n" + "\n".join(d)


def test_the_arr_request_sequence_answers_like_qbittorrent(tmp):
    src = make_tree(tmp / "src" / "show", LAYOUT, seed=31)
    torrent = tmp / "show.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    ih = lt.torrent_info(str(torrent)).info_hash().to_bytes().hex()
    seeder = LtSeeder(torrent, tmp / "src")
    (tmp / "qb").mkdir()
    qb = QbNox(tmp / "qb", tmp / "qb" / "downloads")
    sr = SeedringQb(tmp / "sr", {"default": tmp / "sr" / "downloads", "tv": tmp / "sr" / "tv"})
    a, b = Client(sr.url), Client(qb.url)
    both = ((a, tmp / "sr" / "tv" / "shows"), (b, tmp / "qb" / "tv" / "shows"))
    try:
        # Not logged in: refused alike.
        for c in (a, b):
            c.get("app/version", expect=403)
            assert c.login("wrong") == "Fails."
            assert c.login() == "Ok."
            assert "SID" in c.s.cookies
        # The version probe and the preferences.
        for path in ("app/version", "app/webapiVersion"):
            assert a.get(path).text == b.get(path).text
        compare(a.json("app/buildInfo"), b.json("app/buildInfo"), "app/buildInfo")
        compare(a.json("app/preferences"), b.json("app/preferences"), "app/preferences")
        compare(a.json("transfer/info"), b.json("transfer/info"), "transfer/info")
        assert a.get("app/defaultSavePath").text.endswith("/downloads")

        # A category with a save path, then an add filed under it, paused.
        for c, path in both:
            c.post("torrents/createCategory", {"category": "tv", "savePath": str(path)})
            c.post("torrents/createCategory", {"category": "tv", "savePath": str(path)},
                   expect=409)
            r = c.post("torrents/add",
                       {"category": "tv", "tags": "sonarr,hd", "paused": "true",
                        "savepath": str(path), "firstLastPiecePrio": "true"},
                       files={"torrents": ("show.torrent", torrent.read_bytes(),
                                           "application/x-bittorrent")})
            assert r.text == "Ok."
        compare(a.json("torrents/categories"), b.json("torrents/categories"), "categories")
        assert sorted(a.json("torrents/tags")) == sorted(b.json("torrents/tags")) == ["hd", "sonarr"]
        for c, _ in both:
            wait_state(c, ih, {"pausedDL"}, 30)
        ia, ib = a.json("torrents/info", category="tv"), b.json("torrents/info", category="tv")
        assert len(ia) == len(ib) == 1
        compare(ia, ib, "torrents/info")
        assert ia[0]["state"] == ib[0]["state"] == "pausedDL"
        assert ia[0]["tags"] == ib[0]["tags"] == "hd, sonarr"
        assert ia[0]["f_l_piece_prio"] is ib[0]["f_l_piece_prio"] is True
        for c, _ in both:
            c.post("torrents/toggleFirstLastPiecePrio", {"hashes": ih})
            assert c.json("torrents/info", hashes=ih)[0]["f_l_piece_prio"] is False
        assert ia[0]["save_path"].rstrip("/") == str(both[0][1])
        assert a.json("torrents/info", category="nope") == b.json("torrents/info", category="nope") == []
        compare(a.json("torrents/properties", hash=ih), b.json("torrents/properties", hash=ih),
                "torrents/properties")
        compare(a.json("torrents/files", hash=ih), b.json("torrents/files", hash=ih),
                "torrents/files")
        compare(a.json("torrents/trackers", hash=ih), b.json("torrents/trackers", hash=ih),
                "torrents/trackers")
        for c in (a, b):
            c.get("torrents/properties", expect=404, hash="00" * 20)

        # Tracker edits: done, and refused, alike.
        t1, t2, t3 = (f"http://127.0.0.1:9/{n}/announce" for n in "abc")
        for c, _ in both:
            c.post("torrents/addTrackers", {"hash": ih, "urls": f"{t1}\n{t2}"})
            c.post("torrents/editTracker", {"hash": ih, "origUrl": t1, "newUrl": t2}, expect=409)
            c.post("torrents/editTracker", {"hash": ih, "origUrl": "http://127.0.0.1:9/x",
                                            "newUrl": t3}, expect=409)
            c.post("torrents/editTracker", {"hash": ih, "origUrl": t1, "newUrl": t3})
            # qBittorrent 4.5 answers 200 where its documentation says 409.
            c.post("torrents/removeTrackers", {"hash": ih, "urls": "http://127.0.0.1:9/x"})
            c.post("torrents/removeTrackers", {"hash": ih, "urls": t2})
            c.post("torrents/addTrackers", {"hash": "00" * 20, "urls": t1}, expect=404)

        def tracker_urls(c):
            return [r["url"] for r in c.json("torrents/trackers", hash=ih)
                    if not r["url"].startswith("** [")]

        assert tracker_urls(a) == tracker_urls(b) == [t3]
        # Its magnet link carries its hash, name and trackers alike (the
        # percent-encoding's letter case may differ: both are valid).
        def magnet_parts(c):
            from urllib.parse import parse_qs, urlsplit
            uri = c.json("torrents/info", hashes=ih)[0]["magnet_uri"]
            return {k: sorted(v) for k, v in parse_qs(urlsplit(uri).query).items()}

        assert magnet_parts(a) == magnet_parts(b), (magnet_parts(a), magnet_parts(b))
        assert magnet_parts(a)["tr"] == [t3]

        # Renamed: what it is called changes, where its files are does not.
        for c, _ in both:
            c.post("torrents/rename", {"hash": ih, "name": "Show S01 (renamed)"})
            c.post("torrents/rename", {"hash": ih, "name": ""}, expect=409)
            c.post("torrents/rename", {"hash": "00" * 20, "name": "x"}, expect=404)
        ia, ib = a.json("torrents/info", hashes=ih), b.json("torrents/info", hashes=ih)
        assert ia[0]["name"] == ib[0]["name"] == "Show S01 (renamed)"
        assert ia[0]["content_path"].endswith("/show") and ib[0]["content_path"].endswith("/show")

        # A magnet with nobody to fetch its metadata from: metaDL on both, then gone.
        magnet_ih = "ab" * 20
        for c, _ in both:
            c.post("torrents/add", {"urls": f"magnet:?xt=urn:btih:{magnet_ih}&dn=nothing",
                                    "category": "tv"})
            wait_state(c, magnet_ih, {"metaDL"}, 30)
        compare(a.json("torrents/info", hashes=magnet_ih), b.json("torrents/info", hashes=magnet_ih),
                "torrents/info (magnet)")
        for c, _ in both:
            c.post("torrents/delete", {"hashes": magnet_ih, "deleteFiles": "false"})

        # A .torrent by URL (a local web server): added paused on both.
        served = tmp / "served"
        make_tree(served / "web", {"w.bin": 100_000}, seed=33)
        (served / "web.torrent").write_bytes(
            lt_create(served / "web" / "w.bin", 16 * 1024, lt.create_torrent.v1_only))
        web_ih = lt.torrent_info(str(served / "web.torrent")).info_hash().to_bytes().hex()
        with WebServer(served) as url:
            for c, _ in both:
                r = c.post("torrents/add", {"urls": f"{url}/web.torrent", "paused": "true"})
                assert r.text == "Ok."
                wait_state(c, web_ih, {"pausedDL"}, 30)
                c.post("torrents/delete", {"hashes": web_ih, "deleteFiles": "false"})

        # Content layouts: where each says its content is (`content_path`), a
        # folder torrent without its folder and a single file given one.
        lay = tmp / "layouts"
        single = lay / "src" / "movie.mkv"
        make_tree(lay / "src", {"movie.mkv": 50_000}, seed=34)
        cases = []
        for name, src_path, layout in (("folder", make_tree(lay / "src" / "pack", LAYOUT, seed=35),
                                        "NoSubfolder"),
                                       ("file", single, "Subfolder")):
            t = lay / f"{name}.torrent"
            t.write_bytes(lt_create(src_path, 16 * 1024, lt.create_torrent.v1_only))
            cases.append((t, lt.torrent_info(str(t)).info_hash().to_bytes().hex(), layout))
        for t, lih, layout in cases:
            rel = []
            for c, path in both:
                save = path.parent / "layouts"
                c.post("torrents/add", {"paused": "true", "savepath": str(save),
                                        "contentLayout": layout},
                       files={"torrents": (t.name, t.read_bytes(), "application/x-bittorrent")})
                wait_state(c, lih, {"pausedDL"}, 30)
                content = c.json("torrents/info", hashes=lih)[0]["content_path"]
                rel.append(content[len(str(save)):])
                c.post("torrents/delete", {"hashes": lih, "deleteFiles": "true"})
            assert rel[0] == rel[1], (layout, rel)

        # Queueing on with no room: a new torrent waits (queuedDL), and moves in
        # the queue are taken; off again, it runs.
        for c, _ in both:
            c.post("app/setPreferences", {"json": '{"queueing_enabled": true, '
                                          '"max_active_downloads": 0, "max_active_torrents": 0}'})
            c.post("torrents/add", {"urls": f"magnet:?xt=urn:btih:{magnet_ih}&dn=nothing"})
            wait_state(c, magnet_ih, {"queuedDL"}, 30)
            c.post("torrents/topPrio", {"hashes": magnet_ih})
            assert c.json("app/preferences")["queueing_enabled"] is True
        compare(a.json("torrents/info", hashes=magnet_ih), b.json("torrents/info", hashes=magnet_ih),
                "torrents/info (queued)")
        from test_download import wait_for
        for c, _ in both:
            # qBittorrent applies the move a moment later.
            wait_for("the move to the top", lambda c=c: c.json(
                "torrents/info", hashes=magnet_ih)[0]["priority"] == 1, 10)
        for c, _ in both:
            c.post("torrents/setForceStart", {"hashes": magnet_ih, "value": "true"})
            assert wait_state(c, magnet_ih, {"metaDL", "forcedMetaDL"}, 30)[-1] == "forcedMetaDL"
            c.post("app/setPreferences", {"json": '{"queueing_enabled": false}'})
            c.post("torrents/delete", {"hashes": magnet_ih, "deleteFiles": "false"})
            c.post("torrents/topPrio", {"hashes": magnet_ih}, expect=409)

        # sync/maindata: a full update, then deltas with rid.
        ma, mb = a.json("sync/maindata", rid=0), b.json("sync/maindata", rid=0)
        for m in (ma, mb):
            m["torrents"] = by_hash_keys(m["torrents"])
            m["trackers"] = {}
        compare(ma, mb, "sync/maindata (full)")
        assert ma["full_update"] is True

        # Downloading from the same libtorrent seeder, states through its life.
        seen = {}
        added = []
        for c, _ in both:
            c.post("torrents/resume", {"hashes": ih})
            added.append(c.post("torrents/addPeers",
                                {"hashes": ih, "peers": f"127.0.0.1:{seeder.port}"}).json())
        compare(added[0], added[1], "torrents/addPeers")
        for c, _ in both:
            seen[c.url] = wait_state(c, ih, SEEDING, 120)
        known = {"metaDL", "forcedMetaDL", "checkingDL", "checkingUP", "checkingResumeData", "downloading",
                 "stalledDL", "queuedDL", "pausedDL", "forcedDL", "uploading", "stalledUP",
                 "queuedUP", "pausedUP", "forcedUP", "moving", "missingFiles", "error"}
        for url, states in seen.items():
            assert set(states) <= known, (url, states)
        for c, path in both:
            for rel in LAYOUT:
                assert (path / "show" / rel).read_bytes() == (src / rel).read_bytes(), rel

        # A delta now: only what changed since the full update above.
        rid_a = a.json("sync/maindata", rid=0)["rid"]
        rid_b = b.json("sync/maindata", rid=0)["rid"]
        for c, _ in both:
            c.post("torrents/pause", {"hashes": ih})
            wait_state(c, ih, {"pausedUP"}, 30)
        da, db = a.json("sync/maindata", rid=rid_a), b.json("sync/maindata", rid=rid_b)
        assert "full_update" not in da and "full_update" not in db
        assert da["torrents"][ih]["state"] == db["torrents"][ih]["state"] == "pausedUP"
        assert "name" not in da["torrents"][ih], "a delta carries only changed fields"
        # Which fields changed depends on timing; the ones both sent agree in type.
        ta, tb = da["torrents"][ih], db["torrents"][ih]
        common = set(ta) & set(tb)
        compare({k: ta[k] for k in common}, {k: tb[k] for k in common}, "sync/maindata (delta)")

        # Resumed, then deleted with its files.
        for c, _ in both:
            c.post("torrents/resume", {"hashes": ih})
            wait_state(c, ih, SEEDING, 60)
        rid_a = a.json("sync/maindata", rid=0)["rid"]
        rid_b = b.json("sync/maindata", rid=0)["rid"]
        for c, path in both:
            c.post("torrents/delete", {"hashes": ih, "deleteFiles": "true"})
        for c, path in both:
            from test_download import wait_for
            wait_for("the delete", lambda c=c: c.json("torrents/info") == [], 30)
            wait_for("the files to go", lambda p=path: not (p / "show" / "a.bin").exists(), 30)
        ra, rb = a.json("sync/maindata", rid=rid_a), b.json("sync/maindata", rid=rid_b)
        assert ra["torrents_removed"] == rb["torrents_removed"] == [ih]
        a.post("auth/logout")
        a.get("app/version", expect=403)
    finally:
        seeder.close()
        qb.stop()
        code = sr.stop()
    assert code == 0, sr.log_path.read_text()


def test_a_hybrids_files_are_numbered_and_picked_like_qbittorrent(tmp):
    """A hybrid made by libtorrent has pad files between its files: qBittorrent
    numbers the files it shows without them, and `filePrio`'s ids follow that
    numbering; seedring answers alike."""
    src = make_tree(tmp / "src" / "hy", LAYOUT, seed=37)
    torrent = tmp / "hy.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, 0))
    info = lt.torrent_info(str(torrent))
    pads = [i for i in range(info.files().num_files())
            if info.files().file_flags(i) & lt.file_storage.flag_pad_file]
    assert pads, "libtorrent made the hybrid without pad files"
    (tmp / "qb").mkdir()
    qb = QbNox(tmp / "qb", tmp / "qb" / "downloads")
    sr = SeedringQb(tmp / "sr", {"default": tmp / "sr" / "downloads"})
    a, b = Client(sr.url), Client(qb.url)
    try:
        ids = {}
        for c in (a, b):
            assert c.login() == "Ok."
            r = c.post("torrents/add", {"paused": "true"},
                       files={"torrents": ("hy.torrent", torrent.read_bytes(),
                                           "application/x-bittorrent")})
            assert r.text == "Ok."
            # Each under its own id (qBittorrent's for a hybrid is its
            # truncated v2 hash, seedring's its v1 hash): the one torrent.
            from test_download import wait_for
            wait_for("the add", lambda c=c: len(c.json("torrents/info")) == 1, 30)
            ids[c] = c.json("torrents/info")[0]["hash"]
            wait_state(c, ids[c], {"pausedDL"}, 30)

        def rows(c, **kw):
            return [(f["index"], f["name"], f["priority"])
                    for f in c.json("torrents/files", hash=ids[c], **kw)]
        assert rows(a) == rows(b), (rows(a), rows(b))
        assert [r[0] for r in rows(a)] == list(range(len(LAYOUT)))
        assert rows(a, indexes="1|3") == rows(b, indexes="1|3")
        for c in (a, b):
            h = ids[c]
            c.post("torrents/filePrio", {"hash": h, "id": "1|3", "priority": "0"})
            c.post("torrents/filePrio", {"hash": h, "id": "2", "priority": "6"})
            c.post("torrents/filePrio", {"hash": h, "id": str(len(LAYOUT)), "priority": "0"},
                   expect=409)
        assert rows(a) == rows(b), (rows(a), rows(b))
        assert sorted(r[2] for r in rows(a)) == [0, 0, 1, 6]
    finally:
        qb.stop()
        code = sr.stop()
    assert code == 0, sr.log_path.read_text()
