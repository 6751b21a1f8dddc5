"""Peer exchange (BEP 11) with libtorrent, both ways, through the daemon.

Nobody in this swarm has the data, so nothing completes and every connection
stays up: the test is about who finds whom. libtorrent peer L knows libtorrent
peer S; the daemon is told of L only and must learn S from L's peer exchange;
a third libtorrent peer told of the daemon only must learn S or L from the
daemon's. A private torrent beside it must never be exchanged."""

import time
from pathlib import Path

import libtorrent as lt

from conftest import lt_create, make_tree
from test_daemon import Daemon
from test_download import lt_session, wait_for


def lt_peer(torrent: Path, save: Path, dials=True):
    """A libtorrent peer; `dials=False`: it opens no connection itself."""
    ses = lt_session()
    if not dials:
        ses.apply_settings({"enable_outgoing_tcp": False, "enable_outgoing_utp": False})
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(str(torrent))
    atp.save_path = str(save)
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    return ses, ses.add_torrent(atp)


def peers_of(d, ih):
    return d.call("GET", f"/torrents/{ih}/peers")


def s_and_l(torrent: Path, tmp: Path):
    """Two libtorrent peers with nothing, L connected to S; then the daemon,
    holding the torrent and told of L only. Returns them and the ports. S
    dials nobody: it learns of the daemon from L too, and would otherwise
    often reach it first (over uTP), before the daemon dials it."""
    ses_s, h_s = lt_peer(torrent, tmp / "s", dials=False)
    ses_l, h_l = lt_peer(torrent, tmp / "l")
    s_port, l_port = ses_s.listen_port(), ses_l.listen_port()
    h_l.connect_peer(("127.0.0.1", s_port))
    wait_for("L to connect to S", lambda: h_l.status().num_peers >= 1, 30)
    d = Daemon(tmp)
    ih = d.call("POST", "/torrents", torrent.read_bytes(), "application/x-bittorrent")["id"]
    d.call("POST", f"/torrents/{ih}/peers", {"peers": [f"127.0.0.1:{l_port}"]})
    return d, ih, (ses_s, h_s, ses_l, h_l), s_port, l_port


def test_peer_exchange_both_ways_with_libtorrent(tmp):
    src = make_tree(tmp / "src" / "pexed", {"a.bin": 3_000_000}, seed=31)
    torrent = tmp / "pexed.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    d, ih, lt_peers, s_port, l_port = s_and_l(torrent, tmp)
    try:

        # libtorrent -> seedring: S is learned from L's peer exchange and dialled.
        def dialled_s():
            return [p for p in peers_of(d, ih) if p["addr"] == f"127.0.0.1:{s_port}"]

        wait_for("the daemon to dial S, learned through L", dialled_s, 60)
        assert dialled_s()[0]["sources"] == ["pex"], dialled_s()
        known = d.call("GET", f"/torrents/{ih}")["known_peers"]
        assert known["pex"] >= 1 and known["manual"] == 1, known

        # seedring -> libtorrent: a peer told of the daemon only finds S or L
        # through the daemon's peer exchange.
        ses_x, h_x = lt_peer(torrent, tmp / "x")
        h_x.connect_peer(("127.0.0.1", d.peer_port))

        def found_through_pex():
            return [
                p
                for p in h_x.get_peer_info()
                if p.source & lt.peer_info.pex and p.ip[1] in (s_port, l_port)
            ]

        wait_for("libtorrent to dial a peer the daemon told it of", found_through_pex, 60)
        del h_x, ses_x
    finally:
        code = d.stop()
    del lt_peers
    assert code == 0, (tmp / "daemon.log").read_text()


def test_a_private_torrent_is_never_exchanged(tmp):
    src = make_tree(tmp / "src" / "secret", {"a.bin": 3_000_000}, seed=32)
    torrent = tmp / "secret.torrent"
    fs = lt.file_storage()
    lt.add_files(fs, str(src))
    ct = lt.create_torrent(fs, 64 * 1024, flags=lt.create_torrent.v1_only)
    ct.set_priv(True)
    lt.set_piece_hashes(ct, str(src.parent))
    torrent.write_bytes(lt.bencode(ct.generate()))
    d, ih, lt_peers, s_port, l_port = s_and_l(torrent, tmp)
    try:
        wait_for("the daemon to connect to L", lambda: peers_of(d, ih), 30)
        ses_x, h_x = lt_peer(torrent, tmp / "x")
        h_x.connect_peer(("127.0.0.1", d.peer_port))
        wait_for("X to connect to the daemon", lambda: h_x.status().num_peers >= 1, 30)
        # libtorrent's peer exchange runs each second once two peers are
        # connected; give both sides several rounds.
        time.sleep(8)
        addrs = [p["addr"] for p in peers_of(d, ih)]
        assert f"127.0.0.1:{s_port}" not in addrs, addrs
        assert "known_peers" not in d.call("GET", f"/torrents/{ih}") or \
            d.call("GET", f"/torrents/{ih}")["known_peers"]["pex"] == 0
        assert not [p for p in h_x.get_peer_info() if p.source & lt.peer_info.pex]
        del h_x, ses_x
    finally:
        code = d.stop()
    del lt_peers
    assert code == 0, (tmp / "daemon.log").read_text()
