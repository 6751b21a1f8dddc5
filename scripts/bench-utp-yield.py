#!/usr/bin/python3
"""Does uTP yield to TCP behind a bottleneck, as LEDBAT should? (root; makes its
own network namespaces and removes them.)

Two namespaces joined by a veth pair; the seeders' side sends through a `tbf`
rate limit (default 4 MiB/s) with room for half a second of queue, so a TCP flow
builds a queue whose delay is what LEDBAT measures. Two seeding seedrings on one
side, each with a torrent of its own (so the leechers cannot trade with each
other); on the other, seedring leechers: uTP alone, TCP alone, then one of each
at once. Prints each one's rate (bytes on disk over time) and, for the shared run,
the rates while both were running.

    scripts/bench-utp-yield.py [--mib 48] [--rate-mib 4]
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
A, B = f"sryA{os.getpid()}", f"sryB{os.getpid()}"
IP_A, IP_B = "10.77.0.1", "10.77.0.2"


def sh(*cmd):
    subprocess.run(cmd, check=True)


def setup(rate_mib):
    sh("ip", "netns", "add", A)
    sh("ip", "netns", "add", B)
    sh("ip", "link", "add", "va", "netns", A, "type", "veth", "peer", "name", "vb", "netns", B)
    for ns, dev, ip in ((A, "va", IP_A), (B, "vb", IP_B)):
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    rate = rate_mib * 8 * 1024 * 1024
    sh("ip", "netns", "exec", A, "tc", "qdisc", "add", "dev", "va", "root", "tbf",
       "rate", f"{rate}bit", "burst", "64kb", "latency", "500ms")


def teardown():
    for ns in (A, B):
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


def rate_until(samples, t_end):
    got = max((b for t, b in samples if t <= t_end), default=0)
    return got / t_end / 2**20


def done_at(samples, size):
    return next(t for t, b in samples if b >= size)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=48)
    ap.add_argument("--rate-mib", type=int, default=4)
    a = ap.parse_args()
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
        print(f"\nbottleneck {a.rate_mib} MiB/s (tbf, up to 500 ms of queue), {a.mib} MiB\n")
        print("| leecher | MiB/s |\n|---|---|")
        for name, r in rows:
            print(f"| {name} | {r:.2f} |")
        shared = dict(rows)
        u = shared[f"utp_only beside the other (until the first ends, {first:.1f} s)"]
        t = shared[f"tcp_only beside the other (until the first ends, {first:.1f} s)"]
        print(f"| **uTP share of the link while both ran** | **{u / (u + t):.2f}** |")
    finally:
        for seeder in seeders:
            seeder.kill()
        teardown()
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("bench-utp-yield: needs root (network namespaces)")
    main()
