"""Super-seeding (BEP 16) with real libtorrent leechers: the daemon is the
only seed, turned to super-seeding over the API; three libtorrent sessions
that know each other each get the whole torrent, and the daemon has sent
about one copy of it (the leechers traded the rest). A libtorrent leecher
never sees the daemon as a seed while it super-seeds."""

import time

import libtorrent as lt

from conftest import lt_create, lt_peer, make_tree
from test_daemon import Daemon
from test_download import same_files, wait_for

LAYOUT = {"a.bin": 3 * 1024 * 1024, "b.bin": 1024 * 1024 + 4321}


def test_a_super_seeding_daemon_sends_about_one_copy_to_libtorrent_leechers(tmp):
    d = Daemon(tmp)
    src = make_tree(tmp / "downloads" / "ss", LAYOUT, seed=33)
    torrent = tmp / "ss.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    size = sum(LAYOUT.values())
    sessions = []
    try:
        ih = d.call("POST", "/torrents", torrent.read_bytes(), "application/x-bittorrent")["id"]
        wait_for("the daemon to seed", lambda: d.call("GET", f"/torrents/{ih}")["state"] == "seeding", 60)
        d.call("PUT", f"/torrents/{ih}/super_seeding", {"on": True})
        # Slow enough (1 MiB/s) to be watched while the leechers download.
        d.call("PUT", f"/torrents/{ih}/limits", {"download": 0, "upload": 1 << 20})
        assert d.call("GET", f"/torrents/{ih}")["super_seeding"] is True

        handles = []
        for i in range(3):
            ses, h = lt_peer(torrent, tmp / f"leech{i}")
            handles.append(h)
            sessions.append(ses)
        for i, h in enumerate(handles):
            h.connect_peer(("127.0.0.1", d.peer_port))
            for j, other in enumerate(sessions):
                if j != i:
                    h.connect_peer(("127.0.0.1", other.listen_port()))

        seen_as_seed = seen_daemon = False
        deadline = time.monotonic() + 180
        while not all(h.status().is_seeding for h in handles):
            assert time.monotonic() < deadline, [h.status().progress for h in handles]
            for h in handles:
                for p in h.get_peer_info():
                    client = p.client.decode("utf-8", "replace") if isinstance(p.client, bytes) else p.client
                    if "seedring" not in client.lower():
                        continue
                    seen_daemon = True
                    if p.flags & lt.peer_info.seed:
                        seen_as_seed = True
            time.sleep(0.2)
        assert seen_daemon, "no leecher was ever seen connected to the daemon"
        assert not seen_as_seed, "a leecher saw the super-seeding daemon as a seed"
        for i in range(3):
            same_files(src, tmp / f"leech{i}" / "ss", LAYOUT)
        uploaded = d.call("GET", f"/torrents/{ih}")["uploaded"]
        assert uploaded <= 1.5 * size, f"the daemon sent {uploaded / size:.2f} copies"
        print(f"the super-seeding daemon sent {uploaded / size:.2f} copies to three leechers")

        # Turned off: a new leecher sees it as a seed and takes from it.
        d.call("PUT", f"/torrents/{ih}/super_seeding", {"on": False})
        d.call("PUT", f"/torrents/{ih}/limits", {"download": 0, "upload": 0})
        ses, h = lt_peer(torrent, tmp / "late")
        sessions.append(ses)
        h.connect_peer(("127.0.0.1", d.peer_port))
        wait_for("the late leecher", lambda: h.status().is_seeding, 120)
        same_files(src, tmp / "late" / "ss", LAYOUT)
    finally:
        del sessions
        code = d.stop()
    assert code == 0, (tmp / "daemon.log").read_text()


def test_set_super_seeding_answers_and_shows_like_qbittorrent(tmp):
    """`torrents/setSuperSeeding` and `max_ratio_act` 2 against qbittorrent-nox:
    the same answers and the same `super_seeding` after each."""
    import json

    from qbit_common import side_by_side, wait_state

    qb, sr, a, b, homes = side_by_side(tmp)
    try:
        ihs = {}
        for c in (a, b):
            src = make_tree(homes[c.url] / "s", {"s.bin": 100_000}, seed=5)
            data = lt_create(src, 16384, lt.create_torrent.v1_only)
            ihs[c.url] = lt.torrent_info(lt.bdecode(data)).info_hash().to_bytes().hex()
            c.post("torrents/add", {"savepath": str(homes[c.url])},
                   files={"torrents": ("s.torrent", data, "application/x-bittorrent")})
        for c in (a, b):
            wait_state(c, ihs[c.url], {"stalledUP", "uploading"}, 60)

        def step(form, expect):
            status = {}
            for c in (a, b):
                r = c.s.post(f"{c.url}/api/v2/torrents/setSuperSeeding",
                             data={"hashes": ihs[c.url], **form}, timeout=30)
                status[c.url] = r.status_code
            # qBittorrent shows the flag at its next status update.
            deadline = time.monotonic() + 10
            while True:
                got = {c.url: (status[c.url],
                               c.json("torrents/info", hashes=ihs[c.url])[0]["super_seeding"])
                       for c in (a, b)}
                if got[a.url] == got[b.url] == expect or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert got[a.url] == got[b.url] == expect, got

        step({"value": "true"}, (200, True))
        step({}, (400, True))
        step({"value": "false"}, (200, False))
        for c in (a, b):
            c.post("app/setPreferences", {"json": json.dumps({"max_ratio_act": 2})})
        assert a.json("app/preferences")["max_ratio_act"] == b.json("app/preferences")["max_ratio_act"] == 2
    finally:
        qb.stop()
        sr.stop()
