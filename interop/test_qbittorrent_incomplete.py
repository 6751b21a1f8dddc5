"""The incomplete folder through the qBittorrent API, against Debian's
qbittorrent-nox: `temp_path_enabled` and `temp_path` set and read back alike;
a torrent added while it is on shows the same `save_path`, `download_path`
and `content_path` in `torrents/info` and `torrents/properties` while it waits
(each client's downloads folder written as HOME); downloaded from a libtorrent
seeder, its files end in the save path in both, nothing left in the
incomplete folder, the same content path. An add with `useDownloadPath=false`
stays in the save path in both; switched off, the folder given is kept to
show in both.

One deliberate difference: once finished, qBittorrent still shows the folder
it downloaded in as `download_path`; seedring shows "" (its files are no
longer there, and a recheck that finds a piece missing downloads it in the
save path)."""

import json

import libtorrent as lt

from conftest import lt_create, make_tree
from qbit_common import same_in_both, side_by_side, wait_state
from test_download import LtSeeder

LAYOUT = {"a.bin": 2_000_000, "d/b.bin": 30_000}
KEYS = ("save_path", "download_path", "content_path")


def test_the_incomplete_folder_works_as_in_qbittorrent(tmp):
    qb, sr, a, b, homes = side_by_side(tmp)
    src = make_tree(tmp / "src" / "t", LAYOUT, seed=7)
    data = lt_create(src, 16384, lt.create_torrent.v1_only)
    (tmp / "t.torrent").write_bytes(data)
    seeder = LtSeeder(tmp / "t.torrent", tmp / "src")
    ih = lt.torrent_info(lt.bdecode(data)).info_hash().to_bytes().hex()

    def both(f):
        return same_in_both(a, b, homes, f)

    def home(c, v):
        return json.loads(json.dumps(v).replace(str(homes[c.url]), "HOME"))

    def info(c, h=ih):
        t = next(t for t in c.json("torrents/info") if t["hash"] == h)
        return {k: t[k] for k in KEYS}

    try:
        for c in (a, b):
            c.post("app/setPreferences", {"json": json.dumps({
                "temp_path_enabled": True, "temp_path": str(homes[c.url] / "incomplete")})})
        prefs = both(lambda c: {k: c.json("app/preferences")[k]
                                for k in ("temp_path_enabled", "temp_path")})
        assert prefs == {"temp_path_enabled": True, "temp_path": "HOME/incomplete"}

        for c in (a, b):
            c.post("torrents/add", {"savepath": str(homes[c.url]), "paused": "true"},
                   files={"torrents": ("t.torrent", data, "application/x-bittorrent")})
        for c in (a, b):
            wait_state(c, ih, {"pausedDL"}, 30)
        waiting = both(info)
        assert waiting == {"save_path": "HOME", "download_path": "HOME/incomplete",
                           "content_path": "HOME/incomplete/t"}
        both(lambda c: {k: c.json("torrents/properties", hash=ih)[k]
                        for k in ("save_path", "download_path")})

        for c in (a, b):
            c.post("torrents/resume", {"hashes": ih})
            c.post("torrents/addPeers", {"hashes": ih, "peers": f"127.0.0.1:{seeder.port}"})
        for c in (a, b):
            wait_state(c, ih, {"stalledUP", "uploading"}, 120)
        done = {c.url: home(c, info(c)) for c in (a, b)}
        for d in done.values():
            assert (d["save_path"], d["content_path"]) == ("HOME", "HOME/t"), done
        assert done[a.url]["download_path"] == ""
        assert done[b.url]["download_path"] == "HOME/incomplete"
        for c in (a, b):
            h = homes[c.url]
            assert sorted(str(p.relative_to(h)) for p in h.rglob("*.bin")) == ["t/a.bin", "t/d/b.bin"]
            assert (h / "t" / "a.bin").read_bytes() == (src / "a.bin").read_bytes()

        # Told not to at its add: the save path in both.
        other = make_tree(tmp / "src2" / "u", {"c.bin": 50_000}, seed=8)
        data2 = lt_create(other, 16384, lt.create_torrent.v1_only)
        ih2 = lt.torrent_info(lt.bdecode(data2)).info_hash().to_bytes().hex()
        for c in (a, b):
            c.post("torrents/add", {"savepath": str(homes[c.url]), "paused": "true",
                                    "useDownloadPath": "false"},
                   files={"torrents": ("u.torrent", data2, "application/x-bittorrent")})
        for c in (a, b):
            wait_state(c, ih2, {"pausedDL"}, 30)
        assert both(lambda c: info(c, ih2)) == {
            "save_path": "HOME", "download_path": "", "content_path": "HOME/u/c.bin"}

        # Off: the folder is kept to show.
        for c in (a, b):
            c.post("app/setPreferences", {"json": json.dumps({"temp_path_enabled": False})})
        prefs = both(lambda c: {k: c.json("app/preferences")[k]
                                for k in ("temp_path_enabled", "temp_path")})
        assert prefs == {"temp_path_enabled": False, "temp_path": "HOME/incomplete"}
    finally:
        seeder.close()
        qb.stop()
        assert sr.stop() == 0
