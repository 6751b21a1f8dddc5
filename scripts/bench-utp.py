#!/usr/bin/python3
"""uTP against TCP on loopback, in one run: a libtorrent seeder (TCP and uTP on)
serves one file; seedring downloads it with `--transport tcp_only` and with
`--transport utp_only`, alternated, and a libtorrent leecher set to uTP only
does too (what libtorrent's own uTP reaches on the same path). Prints MiB/s
and CPU seconds per GiB per row (medians), and uTP / TCP for seedring. For
seedring's rows it also prints how busy the seeder's busiest thread was (its
CPU time over the wall time: libtorrent's network thread, which does every
uTP send) and the rate that thread would reach at a whole core, the ceiling a
leecher can draw from this seeder. Then seedring seeds to a libtorrent leecher
over TCP only and over uTP only.

    scripts/bench-utp [SIZE_MIB] [RUNS]      (the wrapper builds release first)

libtorrent's UDP socket buffers are set to LT_SOCKET_BUFFER_MIB (default 4; 0
keeps the OS default of about 200 KB): with the default, a burst overflows the
receiving socket and every drop halves libtorrent's window, so its own uTP
moves under 10 MiB/s on loopback. qBittorrent exposes the same two settings.
The kernel grants at most net.core.rmem_max / wmem_max.
"""

import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import libtorrent as lt
from bench_lt import BIN, LOOPBACK, cpu_of, make_data

BASE = dict(LOOPBACK)


LT_BUFFER = int(os.environ.get("LT_SOCKET_BUFFER_MIB", "4")) << 20
if LT_BUFFER:
    BASE.update(send_socket_buffer_size=LT_BUFFER, recv_socket_buffer_size=LT_BUFFER)


def session(**extra):
    return lt.session({**BASE, **extra})


def add(ses, ti, save):
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = str(save)
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    return ses.add_torrent(atp)


def wait(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def thread_cpu():
    """CPU seconds of each thread of this process (the libtorrent seeder's)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            out[tid] = cpu_of(f"self/task/{tid}")
        except FileNotFoundError:
            pass
    return out


def run_seedring(torrent, out, port, mode):
    """Returns (wall seconds, seedring's CPU seconds, the share of a core the
    seeder's busiest thread used)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    threads = thread_cpu()
    t0 = time.monotonic()
    subprocess.run([BIN, "download", str(torrent), "-o", str(out), "--listen-port", "0",
                    "--peer", f"127.0.0.1:{port}", "--transport", mode],
                   check=True, capture_output=True, timeout=900)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    busiest = max((c - threads[t] for t, c in thread_cpu().items() if t in threads), default=0)
    return wall, cpu, busiest / wall


def run_lt_utp(ti, out, port):
    ses = session(enable_outgoing_tcp=False, enable_incoming_tcp=False)
    h = add(ses, ti, out)
    t0 = time.monotonic()
    h.connect_peer(("127.0.0.1", port))
    ok = wait(lambda: h.status().is_seeding, 900)
    wall = time.monotonic() - t0
    del h, ses
    if not ok:
        raise TimeoutError("libtorrent uTP leecher")
    return wall, float("nan"), float("nan")


def run_seed_to_lt(torrent, ti, src, out, transport):
    """seedring seeds; a libtorrent leecher on one transport downloads. Returns
    (wall seconds, seedring's CPU seconds over the download)."""
    seed = subprocess.Popen([BIN, "download", str(torrent), "-o", str(src), "--seed",
                             "--listen-port", "0", "--listen-address", "127.0.0.1"],
                            stderr=subprocess.PIPE, text=True)
    port = None
    for line in seed.stderr:
        m = re.search(r"listening on port (\d+)", line)
        if m:
            port = int(m.group(1))
        if "seeding until" in line:
            break
    off = ("tcp" if transport == "utp" else "utp")
    ses = session(**{f"enable_outgoing_{off}": False, f"enable_incoming_{off}": False})
    h = add(ses, ti, out)
    before = cpu_of(seed.pid)
    t0 = time.monotonic()
    h.connect_peer(("127.0.0.1", port))
    ok = wait(lambda: h.status().is_seeding, 900)
    wall = time.monotonic() - t0
    cpu = cpu_of(seed.pid) - before
    del h, ses
    seed.terminate()
    seed.wait()
    if not ok:
        raise TimeoutError(f"libtorrent {transport} leecher")
    return wall, cpu


def main():
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    work = Path(tempfile.mkdtemp(prefix="bench-utp-"))
    try:
        src, torrent, ti = make_data(work, size_mib)
        seeder = session()
        h = add(seeder, ti, src)
        assert wait(lambda: h.status().is_seeding, 300), "seeder check"
        port = seeder.listen_port()
        rows = {"seedring tcp": [], "seedring utp": [], "libtorrent utp": []}
        for r in range(runs):
            for name in rows:
                out = work / f"dst-{r}-{name.replace(' ', '-')}"
                out.mkdir()
                if name == "libtorrent utp":
                    wall, cpu, busy = run_lt_utp(ti, out, port)
                else:
                    wall, cpu, busy = run_seedring(torrent, out, port, name.split()[1] + "_only")
                rows[name].append((size_mib / wall, cpu / (size_mib / 1024), busy))
                shutil.rmtree(out)
                time.sleep(1)
        print(f"\n{size_mib} MiB from a libtorrent {lt.__version__} seeder on loopback, "
              f"medians of {runs}, libtorrent's UDP socket buffers "
              f"{LT_BUFFER >> 20 if LT_BUFFER else 'default'} MiB\n")
        print("| leecher | MiB/s | CPU s/GiB | seeder's busiest thread | "
              "its rate at a whole core |\n|---|---|---|---|---|")
        med = {}
        for name, xs in rows.items():
            rate = statistics.median(x[0] for x in xs)
            cpu = statistics.median(x[1] for x in xs)
            busy = statistics.median(x[2] for x in xs)
            med[name] = rate
            ceiling = f"{rate / busy:.1f}" if busy == busy and busy > 0 else ""
            shown = f"{busy:.2f}" if busy == busy else ""
            print(f"| {name} | {rate:.1f} | {cpu:.2f} | {shown} | {ceiling} |")
        print(f"| **seedring uTP ÷ TCP** | **{med['seedring utp'] / med['seedring tcp']:.2f}** "
              "| | | |")
        seeds = {"tcp": [], "utp": []}
        for r in range(runs):
            for t in seeds:
                out = work / f"lt-{r}-{t}"
                out.mkdir()
                wall, cpu = run_seed_to_lt(torrent, ti, src, out, t)
                seeds[t].append((size_mib / wall, cpu / (size_mib / 1024)))
                shutil.rmtree(out)
                time.sleep(1)
        print(f"\nseedring seeding {size_mib} MiB to a libtorrent leecher on one transport\n")
        print("| seeding over | MiB/s | seedring CPU s/GiB |\n|---|---|---|")
        for t, xs in seeds.items():
            print(f"| {t} | {statistics.median(x[0] for x in xs):.1f} | "
                  f"{statistics.median(x[1] for x in xs):.2f} |")
        ratio = statistics.median(x[0] for x in seeds["utp"]) / \
            statistics.median(x[0] for x in seeds["tcp"])
        print(f"| **uTP ÷ TCP** | **{ratio:.2f}** | |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
