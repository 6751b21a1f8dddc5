#!/usr/bin/python3
"""Does uTP yield to TCP behind a bottleneck, as LEDBAT should? (root; makes its
own network namespaces and removes them.)

Three namespaces in a row (seeders, a router, leechers) joined by veth pairs;
the router sends towards the leechers through a `tbf` rate limit (default
4 MiB/s) with room for half a second of queue, so a TCP flow builds a queue
whose delay is what LEDBAT measures. Two seeding seedrings on one
side, each with a torrent of its own (so the leechers cannot trade with each
other); on the other, seedring leechers: uTP alone, TCP alone, then one of each
at once. Prints each one's rate (bytes on disk over time) and, for the shared run,
the rates while both were running.

Last, a uTP leecher beside a plain bulk TCP flow (a sender that always has
data, so the queue is what TCP makes of it), with the bottleneck's median queue.

    scripts/bench-utp-yield.py [--mib 48] [--rate-mib 4] [--bulk-secs 20]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = os.environ.get("SEEDRING_BIN", str(ROOT / "target" / "release" / "seedring"))
A, R, B = f"sryA{os.getpid()}", f"sryR{os.getpid()}", f"sryB{os.getpid()}"
IP_A, IP_B = "10.77.1.1", "10.77.2.1"
TCP_CC = "loss"


def sh(*cmd):
    subprocess.run(cmd, check=True)


def setup(rate_mib):
    """A (seeders) - R (a router) - B (leechers); the bottleneck is R's link
    towards B. Not on A's own link: there TCP's small-queues limit would keep
    a TCP sender from queueing more than about a megabyte, and the queue that
    LEDBAT must see would never build."""
    for ns in (A, R, B):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "link", "add", "va", "netns", A, "type", "veth", "peer", "name", "vra", "netns", R)
    sh("ip", "link", "add", "vrb", "netns", R, "type", "veth", "peer", "name", "vb", "netns", B)
    for ns, dev, ip in ((A, "va", IP_A), (R, "vra", "10.77.1.254"),
                        (R, "vrb", "10.77.2.254"), (B, "vb", IP_B)):
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
    sh("ip", "-n", A, "route", "add", "default", "via", "10.77.1.254")
    sh("ip", "-n", B, "route", "add", "default", "via", "10.77.2.254")
    sh("ip", "netns", "exec", R, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
    rate = rate_mib * 8 * 1024 * 1024
    sh("ip", "netns", "exec", R, "tc", "qdisc", "add", "dev", "vrb", "root", "tbf",
       "rate", f"{rate}bit", "burst", "64kb", "latency", "500ms")
    # LEDBAT yields to a TCP that fills queues until it loses a packet (cubic,
    # Linux's default); BBR keeps the queue near empty, and then there is
    # nothing to yield to (this machine's default is BBR: say which is used).
    # Cubic first, else Reno (this kernel refuses cubic inside a namespace).
    global TCP_CC
    for cc in [TCP_CC] if TCP_CC != "loss" else ["cubic", "reno"]:
        if all(subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                               f"net.ipv4.tcp_congestion_control={cc}"],
                              stderr=subprocess.DEVNULL).returncode == 0 for ns in (A, B)):
            TCP_CC = cc
            return
    sys.exit(f"bench-utp-yield: no TCP congestion control of {TCP_CC} can be set")


def teardown():
    for ns in (A, R, B):
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def on_disk(path):
    try:
        return os.stat(path).st_blocks * 512
    except FileNotFoundError:
        return 0


def leech(work, torrents, name, modes, size):
    """Starts one leecher per mode at once (mode i on torrent i, from the seeder
    on port 6881 + i); returns {mode: [(t, bytes)]}."""
    procs, files = {}, {}
    t0 = time.monotonic()
    for i, mode in enumerate(modes):
        out = work / f"{name}-{mode}"
        out.mkdir()
        files[mode] = out / f"blob{i}.bin"
        procs[mode] = subprocess.Popen(
            ["ip", "netns", "exec", B, BIN, "download", str(torrents[i]), "-o", str(out),
             "--listen-address", IP_B, "--listen-port", "0", "--peer", f"{IP_A}:{6881 + i}",
             "--transport", mode], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = {m: [] for m in modes}
    while any(p.poll() is None for p in procs.values()) and time.monotonic() - t0 < 600:
        now = time.monotonic() - t0
        for m in modes:
            samples[m].append((now, min(on_disk(files[m]), size)))
        time.sleep(0.2)
    for p in procs.values():
        if p.poll() is None:
            p.kill()
    now = time.monotonic() - t0
    for m in modes:
        samples[m].append((now, size if procs[m].returncode == 0 else on_disk(files[m])))
    return samples


def backlog_ms(rate_mib):
    """The bottleneck's queue now, in milliseconds of the link's rate."""
    out = subprocess.run(["ip", "netns", "exec", R, "tc", "-s", "qdisc", "show", "dev", "vrb"],
                         capture_output=True, text=True).stdout
    words = out.split()
    try:
        b = words[words.index("backlog") + 1]
    except (ValueError, IndexError):
        return 0.0
    n = float(b.rstrip("bBkKmM") or 0) * {"K": 1024, "M": 1 << 20}.get(b.rstrip("bB")[-1:], 1)
    return n / (rate_mib * 2**20) * 1000


BULK_SENDER = """
import socket, sys, time
s = socket.create_server(("{ip}", 7000))
c, _ = s.accept()
chunk = bytes(65536)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    c.sendall(chunk)
c.close()
"""

BULK_RECEIVER = """
import socket, sys, time
for _ in range(50):
    try:
        c = socket.create_connection(("{ip}", 7000))
        break
    except OSError:
        time.sleep(0.1)
got, marks, last = 0, [], 0.0
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    got += len(b)
    now = time.monotonic()
    if now - last >= 0.1:
        marks.append((now, got))
        last = now
for t, n in marks:
    print(t, n)
"""


def beside_bulk(work, torrents, size, secs, rate_mib):
    """A uTP leecher beside a plain bulk TCP flow through the same bottleneck
    for `secs` (a sender that always has data: the queue is whatever TCP makes
    of it). Returns (uTP MiB/s, TCP MiB/s, median queue ms)."""
    snd = subprocess.Popen(["ip", "netns", "exec", A, sys.executable, "-c",
                            BULK_SENDER.format(ip=IP_A), str(secs)])
    rcv = subprocess.Popen(["ip", "netns", "exec", B, sys.executable, "-c",
                            BULK_RECEIVER.format(ip=IP_A)], stdout=subprocess.PIPE, text=True)
    time.sleep(2)  # TCP first: its queue is there when uTP starts
    queue = []
    out = work / "bulk-utp"
    out.mkdir()
    f = out / "blob0.bin"
    p = subprocess.Popen(
        ["ip", "netns", "exec", B, BIN, "download", str(torrents[0]), "-o", str(out),
         "--listen-address", IP_B, "--listen-port", "0", "--peer", f"{IP_A}:6881",
         "--transport", "utp_only"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while time.monotonic() - t0 < secs - 4 and p.poll() is None:
        queue.append(backlog_ms(rate_mib))
        time.sleep(0.2)
    took = time.monotonic() - t0
    got = min(on_disk(f), size)
    p.kill()
    snd.wait()
    marks = [tuple(map(float, l.split())) for l in rcv.communicate()[0].split("\n") if l]
    during = [n for t, n in marks if t0 <= t <= t0 + took]
    tcp = (during[-1] - during[0]) / took / 2**20 if len(during) > 1 else 0.0
    queue.sort()
    return got / took / 2**20, tcp, queue[len(queue) // 2] if queue else 0.0


def rate_until(samples, t_end):
    got = max((b for t, b in samples if t <= t_end), default=0)
    return got / t_end / 2**20


def done_at(samples, size):
    return next(t for t, b in samples if b >= size)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=48)
    ap.add_argument("--rate-mib", type=int, default=4)
    ap.add_argument("--bulk-secs", type=int, default=20)
    ap.add_argument("--tcp-cc", default="loss",
                    help="TCP congestion control: loss (cubic, else reno), or a name (bbr)")
    a = ap.parse_args()
    global TCP_CC
    TCP_CC = a.tcp_cc
    size = a.mib << 20
    work = Path(tempfile.mkdtemp(prefix="utp-yield-"))
    os.chmod(work, 0o755)
    src = work / "src"
    src.mkdir()
    torrents = []
    for i in range(2):
        with open(src / f"blob{i}.bin", "wb") as f:
            f.write(os.urandom(size))
        torrents.append(work / f"t{i}.torrent")
        sh(BIN, "create", str(src / f"blob{i}.bin"), "-o", str(torrents[i]),
           "--piece-length", "256K")
    teardown()
    setup(a.rate_mib)
    seeders = [subprocess.Popen(
        ["ip", "netns", "exec", A, BIN, "download", str(torrents[i]), "-o", str(src), "--seed",
         "--listen-address", IP_A, "--listen-port", str(6881 + i)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(2)]
    try:
        for seeder in seeders:
            for line in seeder.stderr:
                if "seeding until" in line:
                    break
        rows = []
        for mode in ("utp_only", "tcp_only"):
            s = leech(work, torrents, "alone", [mode], size)[mode]
            t = done_at(s, size)
            rows.append((f"{mode} alone", size / t / 2**20))
        both = leech(work, torrents, "both", ["tcp_only", "utp_only"], size)
        first = min(done_at(both[m], size) for m in both)
        for m in ("tcp_only", "utp_only"):
            rows.append((f"{m} beside the other (until the first ends, {first:.1f} s)",
                         rate_until(both[m], first)))
        print(f"\nbottleneck {a.rate_mib} MiB/s (tbf, up to 500 ms of queue), {a.mib} MiB, "
              f"TCP congestion control {TCP_CC}\n")
        print("| leecher | MiB/s |\n|---|---|")
        for name, r in rows:
            print(f"| {name} | {r:.2f} |")
        shared = dict(rows)
        u = shared[f"utp_only beside the other (until the first ends, {first:.1f} s)"]
        t = shared[f"tcp_only beside the other (until the first ends, {first:.1f} s)"]
        print(f"| **uTP share of the link while both ran** | **{u / (u + t):.2f}** |")
        u, t, q = beside_bulk(work, torrents, size, a.bulk_secs, a.rate_mib)
        print(f"| utp_only beside a bulk TCP flow ({a.bulk_secs} s, median queue {q:.0f} ms) "
              f"| {u:.2f} |")
        print(f"| the bulk TCP flow, while uTP ran | {t:.2f} |")
        print(f"| **uTP share beside the bulk flow** | **{u / (u + t):.2f}** |")
    finally:
        for seeder in seeders:
            seeder.kill()
        teardown()
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("bench-utp-yield: needs root (network namespaces)")
    main()
