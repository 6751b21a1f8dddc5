#!/usr/bin/env python3
"""Checks taking turns, measured: COUNT torrents of MIB each, their data
already in the storage root (made once under WORK), added to a daemon at
once with the page cache dropped first (root: /proc/sys/vm/drop_caches);
when each is seeding (checked), with `[engine] checks_at_once` 1 (the
default) and COUNT (all at once), alternated RUNS times. Prints, per run,
the time after the adds of the first, the median and the last torrent to
seed.

    scripts/bench-checks.py [--count 8] [--mib 512] [--runs 2]
    WORK=/path (default target/bench/checks): where the data lives (the disk measured)
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "target" / "release" / "seedring"


def request(url, token, body=None, kind=None):
    headers = {"Authorization": f"Bearer {token}"}
    if kind:
        headers["Content-Type"] = kind
    with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=30) as r:
        return r.read()


def run(work, torrents, at_once):
    """One daemon, every torrent added at once: seconds to each one's seeding."""
    home = work / f"daemon-{at_once}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    (home / "seedring.toml").write_text(
        f'data_dir = "{home}/data"\n[peers]\nlisten = "127.0.0.1:0"\n'
        '[dht]\nenabled = false\n[api]\nlisten = "127.0.0.1:0"\n'
        f'[engine]\nchecks_at_once = {at_once}\n'
        f'[[roots]]\ntoken = "default"\npath = "{work / "data"}"\ndefault = true\n')
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")
    daemon = subprocess.Popen([BIN, "daemon", "--config", home / "seedring.toml"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        addr = home / "data" / "admin.addr"
        deadline = time.time() + 30
        while not addr.exists():
            assert time.time() < deadline, "the daemon did not start"
            time.sleep(0.05)
        api = next(l.split("=", 1)[1] for l in addr.read_text().split() if l.startswith("api="))
        token = (home / "data" / "admin.token").read_text().strip()
        start = time.time()
        for t in torrents:
            request(f"http://{api}/api/v1/torrents", token, t, "application/x-bittorrent")
        seeding = {}
        while len(seeding) < len(torrents):
            assert time.time() - start < 600, "the checks did not end"
            for t in json.loads(request(f"http://{api}/api/v1/torrents", token))["torrents"]:
                if t["state"] == "seeding":
                    seeding.setdefault(t["id"], time.time() - start)
            time.sleep(0.02)
        return sorted(seeding.values())
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=2)
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench-checks: needs root (drop_caches)")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "seedring"], cwd=REPO,
                   check=True)
    work = Path(os.environ.get("WORK", REPO / "target" / "bench" / "checks"))
    (work / "data").mkdir(parents=True, exist_ok=True)
    torrents = []
    for i in range(a.count):
        data, torrent = work / "data" / f"t{i}.bin", work / f"t{i}-{a.mib}.torrent"
        if not data.exists() or data.stat().st_size != a.mib << 20:
            with open(data, "wb") as f:
                for _ in range(a.mib):
                    f.write(os.urandom(1 << 20))
            torrent.unlink(missing_ok=True)
        if not torrent.exists():
            subprocess.run([BIN, "create", data, "-o", torrent], check=True,
                           capture_output=True)
        torrents.append(torrent.read_bytes())
    for _ in range(a.runs):
        for at_once in (1, a.count):
            ts = run(work, torrents, at_once)
            print(f"checks_at_once={at_once:<3} first {ts[0]:.2f} s, "
                  f"median {ts[len(ts) // 2]:.2f} s, last {ts[-1]:.2f} s", flush=True)


if __name__ == "__main__":
    main()
