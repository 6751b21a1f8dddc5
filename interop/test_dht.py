"""The DHT with libtorrent's: a libtorrent seed that knows only the daemon's DHT
node announces its torrent there, and the daemon's magnet, with no tracker and
no peer given, finds it through the DHT and completes.

Everything stays on loopback: libtorrent's DHT knows no node but the daemon's,
and is told not to ignore loopback nodes."""

from pathlib import Path

import libtorrent as lt

from conftest import LT_SETTINGS, lt_create, make_tree
from test_daemon import Daemon
from test_download import wait_for


def dht_addr(d: Daemon) -> str:
    text = (d.dir / "data" / "admin.addr").read_text()
    return next(l.split("=", 1)[1] for l in text.split() if l.startswith("dht="))


def test_a_magnet_finds_a_libtorrent_seed_through_the_dht(tmp):
    src = make_tree(tmp / "src" / "found", {"a.bin": 2_000_000}, seed=41)
    torrent = tmp / "found.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    d = Daemon(tmp)
    try:
        host, port = dht_addr(d).rsplit(":", 1)
        settings = dict(LT_SETTINGS)
        settings.update({
            "enable_dht": True,
            "dht_bootstrap_nodes": "",
            "dht_restrict_routing_ips": False,
            "dht_restrict_search_ips": False,
            "dht_ignore_dark_internet": False,
            "dht_prefer_verified_node_ids": False,
        })
        ses = lt.session(settings)
        # A node, not a router: libtorrent keeps routers out of its table.
        ses.add_dht_node((host, int(port)))
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(str(torrent))
        atp.save_path = str(tmp / "src")
        atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        h = ses.add_torrent(atp)
        wait_for("libtorrent to check its data", lambda: h.status().is_seeding, 60)
        ih = str(h.info_hash())
        wait_for("libtorrent's DHT to take the daemon's node",
                 lambda: ses.status().dht_nodes >= 1, 60)
        h.force_dht_announce()
        added = d.call("POST", "/torrents", {"magnet": f"magnet:?xt=urn:btih:{ih}"})
        assert added["id"] == ih
        wait_for("the magnet to complete through the DHT",
                 lambda: d.call("GET", f"/torrents/{ih}")["state"] == "seeding", 120)
        t = d.call("GET", f"/torrents/{ih}")
        assert t["known_peers"]["dht"] >= 1, t
        assert t["known_peers"]["manual"] == 0 and t["known_peers"]["tracker"] == 0, t
        assert (tmp / "downloads" / "found" / "a.bin").read_bytes() == \
            (src / "a.bin").read_bytes()
        stats = d.call("GET", "/stats")["dht"]
        assert stats["queries_in"] > 0 and stats["torrents_held"] >= 1, stats
        del h, ses
    finally:
        code = d.stop()
    assert code == 0, (tmp / "daemon.log").read_text()
