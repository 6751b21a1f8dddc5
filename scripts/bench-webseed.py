#!/usr/bin/python3
"""A download from a web seed against the same download from a peer, in one
run: SIZE_MIB of data behind an HTTP server with byte ranges on loopback (the
soak's web seed, every answer good), and a seedring seeder of the same data.
`seedring download` fetches it from the web seed alone (a torrent whose
`url-list` names the server), then from the seeder alone (the same data, no
`url-list`), alternated RUNS times. Prints the medians of wall MiB/s and peak
RSS (GNU time's) per row, and web seed ÷ peer.

    scripts/bench-webseed [SIZE_MIB (64)] [RUNS (3)]   (the wrapper builds release first)
"""

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_lt import BIN
from soak_parts import WebSeed


def create(src, out, web=None):
    cmd = [BIN, "create", str(src), "-o", str(out), "--force"]
    if web:
        cmd += ["--web-seed", web]
    subprocess.run(cmd, check=True, capture_output=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def download(torrent, out, extra):
    """(wall seconds, peak RSS MiB) of one `seedring download`. The peak is
    GNU time's: a child forked from this process would report this process's
    RSS before its exec as its own peak."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    peak = out.parent / "peak"
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(peak), BIN, "download", str(torrent),
                        "-o", str(out), "--listen-port", "0", *extra],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"download failed: {p.stderr.decode(errors='replace')[-2000:]}")
    return wall, int(peak.read_text().split()[-1]) / 1024


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    work = Path(tempfile.mkdtemp(prefix="bench-webseed-"))
    seeder = None
    try:
        src = work / "src"
        src.mkdir()
        data = src / "blob.bin"
        with open(data, "wb") as f:
            for _ in range(size):
                f.write(os.urandom(1 << 20))
        web = WebSeed(src)
        web.faulty = False
        create(data, work / "web.torrent", web.url)
        create(data, work / "peer.torrent")
        port = free_port()
        seeder = subprocess.Popen([BIN, "download", str(work / "peer.torrent"), "-o", str(src),
                                   "--seed", "--listen-port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)  # its start-up check of the data
        rows = {"web seed": [], "peer": []}
        for run in range(runs):
            rows["web seed"].append(download(work / "web.torrent", work / "out", []))
            rows["peer"].append(download(work / "peer.torrent", work / "out",
                                         ["--peer", f"127.0.0.1:{port}"]))
            for name, r in rows.items():
                wall, rss = r[-1]
                print(f"run {run + 1} {name:8s} {size / wall:7.1f} MiB/s  peak RSS {rss:5.1f} MiB",
                      flush=True)
        med = {n: (statistics.median(size / w for w, _ in r), statistics.median(m for _, m in r))
               for n, r in rows.items()}
        print(f"\n| {size} MiB from | MiB/s | peak RSS MiB |\n|---|---|---|")
        for n, (rate, rss) in med.items():
            print(f"| {n} | {rate:.1f} | {rss:.1f} |")
        print(f"| **web seed ÷ peer** | {med['web seed'][0] / med['peer'][0]:.2f} | "
              f"**{med['web seed'][1] / med['peer'][1]:.2f}** |")
    finally:
        if seeder:
            seeder.terminate()
            seeder.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
