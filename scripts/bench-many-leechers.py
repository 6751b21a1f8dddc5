#!/usr/bin/python3
"""Seeding to many leechers at once against seeding to one at a time, on
loopback, in one run: a seeder (seedring on io_uring, seedring on epoll,
libtorrent) serves one file of SIZE_MIB to libtorrent leechers over TCP, first
one leecher after another until about a GiB is served, then LEECHERS leechers
all at once. Prints per row the seeder's CPU seconds per GiB served in each
mode, their ratio (the target: many at once cost no more per GiB than one),
the aggregate MiB/s, and when the first and the last of the many finished (a
seeder that serves a few at a time finishes some early and some late).

    scripts/bench-many-leechers [SIZE_MIB (128)] [LEECHERS (50)] [RUNS (3)]

The leechers are libtorrent sessions in this process (TCP only; PEX, DHT and
LSD off, so each takes every byte from the seeder, which is checked), saving
to /dev/shm; the seeders read their file from the page cache. The seeder's CPU
is read from /proc over the download only (not its start-up check).
"""

import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import libtorrent as lt
from bench_lt import BIN, LOOPBACK, cpu_of, make_data

BASE = {**LOOPBACK, "enable_outgoing_utp": False, "enable_incoming_utp": False}
# The leechers: one network thread, one disk thread and one hashing thread each,
# so fifty of them fit beside the seeder on a small machine.
LEECHER = {**BASE, "aio_threads": 1, "hashing_threads": 1}


def add(ses, ti, save):
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = str(save)
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    atp.flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd | \
        lt.torrent_flags.disable_pex
    return ses.add_torrent(atp)


def start_seeder(kind, torrent, src):
    """Starts a seeder process; returns (process, its listening port)."""
    if kind == "libtorrent":
        cmd = [sys.executable, __file__, "lt-seed", str(torrent), str(src)]
        pattern = r"^PORT (\d+)"
    else:
        cmd = [BIN, "download", str(torrent), "-o", str(src), "--seed", "--io", kind,
               "--listen-port", "0", "--listen-address", "127.0.0.1"]
        pattern = r"listening on port (\d+)"
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = None
    stream = proc.stdout if kind == "libtorrent" else proc.stderr
    for line in stream:
        m = re.search(pattern, line)
        if m:
            port = int(m.group(1))
        if port and (kind == "libtorrent" or "seeding until" in line):
            break
    if port is None:
        proc.kill()
        raise RuntimeError(f"{kind} seeder did not start")
    # Nothing reads its output from here on: send it nowhere, not to a full pipe.
    threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()
    return proc, port


def leech(ti, port, count, shm, timeout=900):
    """`count` leechers at once from the seeder at `port`. Returns (wall
    seconds, each leecher's finish time from the start)."""
    sessions = []
    for i in range(count):
        ses = lt.session(LEECHER)
        save = shm / f"l{i}"
        save.mkdir()
        sessions.append((ses, add(ses, ti, save)))
    t0 = time.monotonic()
    for _, h in sessions:
        h.connect_peer(("127.0.0.1", port))
    done = {}
    end = t0 + timeout
    while len(done) < count and time.monotonic() < end:
        for i, (_, h) in enumerate(sessions):
            if i not in done and h.status().is_seeding:
                done[i] = time.monotonic() - t0
                peers = {p.ip[1] for p in h.get_peer_info()}
                if peers - {port}:
                    raise RuntimeError(f"leecher {i} took data from {peers - {port}}")
        time.sleep(0.01)
    wall = time.monotonic() - t0
    for ses, h in sessions:
        ses.remove_torrent(h)
    del sessions
    if len(done) < count:
        raise TimeoutError(f"{count - len(done)} of {count} leechers unfinished")
    return wall, sorted(done.values())


def row(kind, torrent, ti, src, size_mib, many, shm):
    """One seeder: a GiB served one leecher at a time, then `many` at once.
    Returns (CPU s/GiB one at a time, CPU s/GiB many at once, MiB/s one at a
    time, MiB/s many at once, first and last of the many to finish)."""
    proc, port = start_seeder(kind, torrent, src)
    try:
        singles = max(1, 1024 // size_mib)
        before = cpu_of(proc.pid)
        wall1 = 0.0
        for _ in range(singles):
            w, _ = leech(ti, port, 1, shm)
            wall1 += w
            shutil.rmtree(shm / "l0")
        cpu1 = cpu_of(proc.pid) - before
        gib1 = singles * size_mib / 1024
        time.sleep(1)
        before = cpu_of(proc.pid)
        walln, finishes = leech(ti, port, many, shm)
        cpun = cpu_of(proc.pid) - before
        for d in shm.iterdir():
            shutil.rmtree(d)
        gibn = many * size_mib / 1024
        return (cpu1 / gib1, cpun / gibn, gib1 * 1024 / wall1, gibn * 1024 / walln,
                finishes[0], finishes[-1])
    finally:
        proc.terminate()
        proc.wait()


def lt_seed(torrent, src):
    ses = lt.session({**BASE, "send_socket_buffer_size": 4 << 20})
    h = add(ses, lt.torrent_info(torrent), src)
    while not h.status().is_seeding:
        time.sleep(0.02)
    print(f"PORT {ses.listen_port()}", flush=True)
    while True:
        time.sleep(3600)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "lt-seed":
        return lt_seed(sys.argv[2], sys.argv[3])
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 128
    many = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    work = Path(tempfile.mkdtemp(prefix="bench-many-"))
    shm = Path(tempfile.mkdtemp(prefix="bench-many-", dir="/dev/shm"))
    try:
        src, torrent, ti = make_data(work, size_mib)
        kinds = {"uring": "seedring io_uring", "epoll": "seedring epoll",
                 "libtorrent": f"libtorrent {lt.__version__}"}
        results = {k: [] for k in kinds}
        for _ in range(runs):
            for kind in kinds:
                results[kind].append(row(kind, torrent, ti, src, size_mib, many, shm))
                time.sleep(1)
        print(f"\nseeding a {size_mib} MiB file to libtorrent leechers on loopback: one at "
              f"a time ({max(1, 1024 // size_mib)} in turn), then {many} at once; medians "
              f"of {runs}\n")
        print(f"| seeder | CPU s/GiB, one at a time | CPU s/GiB, {many} at once | "
              f"**{many} ÷ one** | MiB/s, one | MiB/s, {many} | first, last of the "
              f"{many} done (s) |\n|---|---|---|---|---|---|---|")
        for kind, name in kinds.items():
            med = [statistics.median(r[i] for r in results[kind]) for i in range(6)]
            print(f"| {name} | {med[0]:.2f} | {med[1]:.2f} | **{med[1] / med[0]:.2f}** | "
                  f"{med[2]:.0f} | {med[3]:.0f} | {med[4]:.1f}, {med[5]:.1f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)


if __name__ == "__main__":
    main()
