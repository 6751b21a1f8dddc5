"""The DHT with libtorrent's: a libtorrent seed that knows only the daemon's DHT
node announces its torrent there, and the daemon's magnet, with no tracker and
no peer given, finds it through the DHT and completes.

Everything stays on loopback: libtorrent's DHT knows no node but the daemon's,
and is told not to ignore loopback nodes."""

import time
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
        ses = lt_dht_session()
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


def lt_dht_session():
    """A libtorrent session whose DHT stays on loopback and knows no router."""
    settings = dict(LT_SETTINGS)
    settings.update({
        "enable_dht": True,
        "dht_bootstrap_nodes": "",
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_ignore_dark_internet": False,
        "dht_prefer_verified_node_ids": False,
    })
    return lt.session(settings)


def lt_add(ses, save: Path, torrent: Path = None, magnet: str = None):
    atp = lt.parse_magnet_uri(magnet) if magnet else lt.add_torrent_params()
    if torrent:
        atp.ti = lt.torrent_info(str(torrent))
    atp.save_path = str(save)
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    return ses.add_torrent(atp)


def test_a_libtorrent_dht_of_three_and_the_daemon(tmp):
    """Three libtorrent sessions form a DHT of their own (each told of the
    others). The daemon joins through one of them (A) and completes a magnet
    seeded by another (B), with no tracker and no peer given. Once B is gone,
    a third (C) finds the daemon's announce through get_peers, and its magnet,
    given no peer, completes from the daemon; a fourth libtorrent (D, no DHT),
    told only of C, learns the daemon from C's peer exchange and connects."""
    src = make_tree(tmp / "src" / "dhtswarm", {"a.bin": 1_500_000}, seed=43)
    torrent = tmp / "dhtswarm.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    ih = str(lt.torrent_info(str(torrent)).info_hash())
    magnet = f"magnet:?xt=urn:btih:{ih}"
    a, b, c = lt_dht_session(), lt_dht_session(), lt_dht_session()
    for s in (a, b, c):
        for o in (a, b, c):
            if o is not s:
                s.add_dht_node(("127.0.0.1", o.listen_port()))
    wait_for("the libtorrent DHT to form",
             lambda: all(s.status().dht_nodes >= 2 for s in (a, b, c)), 60)
    hb = lt_add(b, tmp / "src", torrent=torrent)
    wait_for("B to check its data", lambda: hb.status().is_seeding, 60)
    hb.force_dht_announce()
    (tmp / "d").mkdir()
    d = Daemon(tmp / "d", dht=f'listen = "127.0.0.1:0"\nlisten6 = ""\n'
                              f'bootstrap = ["127.0.0.1:{a.listen_port()}"]')
    try:
        added = d.call("POST", "/torrents", {"magnet": magnet})
        assert added["id"] == ih
        wait_for("the magnet to complete from B through the DHT",
                 lambda: d.call("GET", f"/torrents/{ih}")["state"] == "seeding", 120)
        t = d.call("GET", f"/torrents/{ih}")
        assert t["known_peers"]["dht"] >= 1 and t["known_peers"]["tracker"] == 0, t
        assert (tmp / "d" / "downloads" / "dhtswarm" / "a.bin").read_bytes() == \
            (src / "a.bin").read_bytes()
        b.remove_torrent(hb)

        # C asks the DHT itself: the daemon's announce comes back.
        seen = set()

        def c_found():
            for al in c.pop_alerts():
                if isinstance(al, lt.dht_get_peers_reply_alert):
                    seen.update(al.peers())
            if ("127.0.0.1", d.peer_port) not in seen:
                c.dht_get_peers(lt.sha1_hash(bytes.fromhex(ih)))
                time.sleep(1)
            return ("127.0.0.1", d.peer_port) in seen

        wait_for("C's get_peers to name the daemon", c_found, 120)
        # B is gone: the magnet completes from the daemon alone. Slowly, so
        # that D, told only of C, hears of the daemon from C while C still
        # downloads (two seeds part, and a peer exchange names live peers).
        d.call("PUT", f"/torrents/{ih}/limits", {"download": 0, "upload": 25_000})
        hc = lt_add(c, tmp / "c", magnet=magnet)
        wait_for("C to connect to the daemon", lambda: hc.status().num_peers >= 1, 60)
        ses_d = lt.session(LT_SETTINGS)
        hd = lt_add(ses_d, tmp / "dd", torrent=torrent)
        hd.connect_peer(("127.0.0.1", c.listen_port()))

        def daemon_from_pex():
            return [p for p in hd.get_peer_info()
                    if p.ip[1] == d.peer_port and p.source & lt.peer_info.pex]

        wait_for("D to dial the daemon, learned from C's peer exchange", daemon_from_pex, 60)
        d.call("PUT", f"/torrents/{ih}/limits", {"download": 0, "upload": 0})
        wait_for("C to complete from the daemon", lambda: hc.status().is_seeding, 120)
        assert (tmp / "c" / "dhtswarm" / "a.bin").read_bytes() == (src / "a.bin").read_bytes()
        del hd, ses_d, hc
    finally:
        code = d.stop()
    del a, b, c
    assert code == 0, (tmp / "d" / "daemon.log").read_text()
