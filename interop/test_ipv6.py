"""IPv6 with libtorrent, on loopback only ([::1] and 127.0.0.1): the daemon
downloads from a libtorrent seed it reaches over IPv6, then, listening
dual-stack on [::], seeds to one libtorrent leecher over IPv6 and one over
IPv4, and lists the IPv4 one as IPv4 (not as an IPv4-mapped address)."""

import libtorrent as lt

from conftest import lt_create, lt_peer, make_tree
from test_daemon import Daemon
from test_download import wait_for


def test_both_families_through_one_dual_stack_listener(tmp):
    src = make_tree(tmp / "src" / "six", {"a.bin": 3_000_000}, seed=51)
    torrent = tmp / "six.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    ses_s, h_s = lt_peer(torrent, tmp / "src", "[::1]:0")
    wait_for("the seed to check", lambda: h_s.status().is_seeding, 60)
    # Peers on [::]: both families on one port.
    d = Daemon(tmp, peers='listen = "[::]:0"', dht="enabled = false")
    try:
        ih = d.call("POST", "/torrents", torrent.read_bytes(), "application/x-bittorrent")["id"]
        d.call("POST", f"/torrents/{ih}/peers", {"peers": [f"[::1]:{ses_s.listen_port()}"]})
        wait_for("the download over IPv6",
                 lambda: d.call("GET", f"/torrents/{ih}")["state"] == "seeding", 120)
        assert (tmp / "downloads" / "six" / "a.bin").read_bytes() == (src / "a.bin").read_bytes()
        del h_s, ses_s

        # Slow enough (about 4 s each) for the peer list to show both.
        d.call("PUT", f"/torrents/{ih}/limits", {"download": 0, "upload": 1_500_000})
        ses6, h6 = lt_peer(torrent, tmp / "l6", "[::1]:0")
        ses4, h4 = lt_peer(torrent, tmp / "l4", "127.0.0.1:0")
        h6.connect_peer(("::1", d.peer_port))
        h4.connect_peer(("127.0.0.1", d.peer_port))
        seen = set()

        def both_done():
            for p in d.call("GET", f"/torrents/{ih}/peers"):
                seen.add(p["addr"].rsplit(":", 1)[0])
            return h6.status().is_seeding and h4.status().is_seeding

        wait_for("both leechers to finish", both_done, 120)
        assert "[::1]" in seen and "127.0.0.1" in seen, seen
        assert not any("ffff" in s for s in seen), seen
        for name in ("l6", "l4"):
            assert (tmp / name / "six" / "a.bin").read_bytes() == (src / "a.bin").read_bytes()
        del h6, h4, ses6, ses4
    finally:
        code = d.stop()
    assert code == 0, (tmp / "daemon.log").read_text()
