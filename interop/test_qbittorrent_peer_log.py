"""The peer log (`log/peers`) against Debian's qbittorrent-nox: an address
banned over the API (`transfer/banPeers`) dials each client's peer port from
127.0.0.2 and is refused; each log then has one entry for it, the same in
both but for its id and time (`blocked`, and the reason "IP filter"), its
timestamp in the same unit, and `last_known_id` reads past it."""

import socket
import time

from qbit_common import side_by_side


def dial_from(source, port):
    """A TCP connection from `source` to the loopback port; what came back
    before the other end closed it (nothing, for a refused peer)."""
    s = socket.socket()
    s.settimeout(5)
    s.bind((source, 0))
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"\x13BitTorrent protocol" + bytes(48))
        try:
            return s.recv(100)
        except (socket.timeout, ConnectionResetError):
            return b""
    finally:
        s.close()


def test_a_banned_address_is_refused_and_logged_alike(tmp):
    qb, sr, a, b, homes = side_by_side(tmp)
    try:
        for c in (a, b):
            c.post("transfer/banPeers", {"peers": "127.0.0.2:6881"})
        before = {c.url: c.json("log/peers") for c in (a, b)}
        assert before[a.url] == [], before
        for c in (a, b):
            port = c.json("app/preferences")["listen_port"]
            assert dial_from("127.0.0.2", port) == b""

        def entries(c):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                got = [e for e in c.json("log/peers") if e["ip"] == "127.0.0.2"]
                if got:
                    return got
                time.sleep(0.2)
            raise TimeoutError(f"{c.url}: nothing in log/peers")

        ours, theirs = entries(a), entries(b)
        assert set(ours[0]) == set(theirs[0]) == {"id", "ip", "timestamp", "blocked", "reason"}
        same = ("ip", "blocked", "reason")
        assert {k: ours[0][k] for k in same} == {k: theirs[0][k] for k in same}, (ours, theirs)
        assert ours[0]["blocked"] is True and ours[0]["reason"] == "IP filter"
        # The same unit: both near now, in the same count of digits.
        now = time.time()
        for e in (ours[0], theirs[0]):
            scale = 1000 if e["timestamp"] > 10 * now else 1
            assert abs(e["timestamp"] / scale - now) < 60, (ours, theirs)
        assert len(str(ours[0]["timestamp"])) == len(str(theirs[0]["timestamp"])), (ours, theirs)
        for c, got in ((a, ours), (b, theirs)):
            assert c.json("log/peers", last_known_id=got[-1]["id"]) == []
    finally:
        qb.stop()
        assert sr.stop() == 0
