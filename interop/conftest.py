"""Shared fixtures for the libtorrent interop tests.

Everything stays on loopback: libtorrent listens on 127.0.0.1 only, and DHT, local
peer discovery, UPnP and NAT-PMP are off, so no packet leaves the machine.
"""

import json
import os
import random
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import libtorrent as lt
import pytest

ROOT = Path(__file__).resolve().parent.parent

LT_SETTINGS = {
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "alert_mask": lt.alert.category_t.all_categories,
    # Every peer of a loopback swarm shares 127.0.0.1: without this, libtorrent keeps
    # one connection per IP and drops the rest as duplicates.
    "allow_multiple_connections_per_ip": True,
}


def seedring_bin() -> str:
    path = os.environ.get("SEEDRING_BIN") or str(ROOT / "target" / "debug" / "seedring")
    if not os.access(path, os.X_OK):
        raise RuntimeError(
            f"seedring binary not found at {path}: run `cargo build --bin seedring` "
            "first, or set SEEDRING_BIN"
        )
    return path


def run_seedring(*args, check=True):
    proc = subprocess.run(
        [seedring_bin(), *map(str, args)], capture_output=True, text=True, timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"seedring {' '.join(map(str, args))} exited {proc.returncode}:\n"
            f"{proc.stdout}\n{proc.stderr}"
        )
    return proc


def drain_log(proc, lines):
    """Reads the rest of a seedring's log (`proc.stderr`, text) on a thread of
    its own, so that a full pipe never stops it (a log line written into a
    pipe nobody reads blocks the thread writing it), and echoes `lines` (read
    so far) and each line after to stdout, which pytest shows when the test
    fails."""

    def run():
        print("".join("seedring: " + line for line in lines), end="")
        for line in proc.stderr:
            print("seedring: " + line, end="")

    threading.Thread(target=run, daemon=True).start()


def download_args(torrent, out, *extra):
    """The `seedring download` command line: any free port, loopback peers only."""
    return [seedring_bin(), "download", str(torrent), "-o", str(out), "--listen-port", "0",
            *map(str, extra)]


def run_download(torrent, out, *extra, timeout=120, check=True, preexec_fn=None):
    """Runs `seedring download` to its end; by default insists that it exits 0."""
    proc = subprocess.run(download_args(torrent, out, *extra), capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec_fn)
    if check:
        assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def write_random(path: Path, size: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    path.write_bytes(rng.randbytes(size))


def make_tree(root: Path, layout: dict, seed: int = 1) -> Path:
    """Writes files {relative path: size} under root and returns root."""
    for i, (rel, size) in enumerate(sorted(layout.items())):
        write_random(root / rel, size, seed * 1000 + i)
    return root


def assert_same_file(got: Path, want: Path) -> None:
    """`got` holds the bytes of `want`. A difference is told in one line (where
    it starts, and whether it is gone two seconds later): pytest's own account
    of two large byte strings takes many minutes."""
    a, b = got.read_bytes(), want.read_bytes()
    if a == b:
        return
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    time.sleep(2)
    later = "the same" if got.read_bytes() == b else "still different"
    raise AssertionError(f"{got} differs from {want}: {len(a)} against {len(b)} bytes, "
                         f"first difference at byte {first}; {later} two seconds later")


def lt_peer(torrent, save, listen="127.0.0.1:0"):
    """A libtorrent session on `listen` with `torrent` added, started, its
    data in `save`: the session and the torrent's handle."""
    settings = dict(LT_SETTINGS)
    settings["listen_interfaces"] = listen
    ses = lt.session(settings)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(str(torrent))
    atp.save_path = str(save)
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    return ses, ses.add_torrent(atp)


def lt_create(src: Path, piece_size: int, flags: int, trackers=()) -> bytes:
    """A .torrent made by libtorrent from src (file or folder)."""
    fs = lt.file_storage()
    lt.add_files(fs, str(src))
    ct = lt.create_torrent(fs, piece_size, flags=flags)
    for i, url in enumerate(trackers):
        ct.add_tracker(url, i)
    ct.set_creator("libtorrent interop test")
    lt.set_piece_hashes(ct, str(src.parent))
    return lt.bencode(ct.generate())


# libtorrent's check, run in a child process: twice in a day's runs of the
# whole suite (2026-12-06) the pytest process died of a segmentation fault
# inside a recheck's session, after the check had answered (the export test
# had written its file and not begun the next torrent). The child prints the
# answer and leaves with os._exit, skipping the session's teardown; a crash in
# the child is a failed call, not the end of the suite.
_RECHECK = r"""
import json, os, sys, time
import libtorrent as lt
torrent, save_path, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
ses = lt.session(json.loads(sys.argv[4]))
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save_path
# Not paused (the default flags include paused): libtorrent does not progress a
# paused torrent's check. With no resume data it hashes every piece on add; the
# only trackers it could contact are on loopback.
atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
h = ses.add_torrent(atp)
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    ses.wait_for_alert(200)
    for a in ses.pop_alerts():
        if isinstance(a, lt.torrent_checked_alert):
            st = h.status()
            if st.state not in (lt.torrent_status.checking_files,
                                lt.torrent_status.checking_resume_data):
                sys.stdout.write(json.dumps([bool(p) for p in st.pieces]))
                sys.stdout.flush()
                os._exit(0)
sys.stderr.write("libtorrent did not finish checking\n")
sys.stderr.flush()
os._exit(3)
"""


def lt_recheck(torrent: Path, save_path: Path, timeout: float = 120.0) -> list:
    """libtorrent's own full hash check of the data: one bool per piece. A
    check whose process crashed (a signal) is run once more, with a warning."""
    settings = json.dumps({**LT_SETTINGS, "alert_mask": int(LT_SETTINGS["alert_mask"])})
    for attempt in (1, 2):
        r = subprocess.run([sys.executable, "-c", _RECHECK, str(torrent), str(save_path),
                            str(timeout), settings], capture_output=True, text=True,
                           timeout=timeout + 30)
        if r.returncode == 0:
            return json.loads(r.stdout)
        if r.returncode < 0 and attempt == 1:
            warnings.warn(f"libtorrent's check of {torrent} died of signal {-r.returncode}; "
                          f"checked again: {r.stderr[-500:]}")
            continue
        raise RuntimeError(f"libtorrent's check of {torrent} failed ({r.returncode}): "
                           f"{r.stderr[-2000:]}")
    raise AssertionError("unreachable")


@pytest.fixture
def tmp(tmp_path):
    return tmp_path


class PeerWatch:
    """Polls a libtorrent torrent's peers every 20 ms and keeps every label
    `label(peer_info)` gives (None: not counted), until `close()`."""

    def __init__(self, h, label):
        self.h, self.label, self.seen, self.stop = h, label, set(), threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            for p in self.h.get_peer_info():
                name = self.label(p)
                if name is not None:
                    self.seen.add(name)
            time.sleep(0.02)

    def close(self):
        self.stop.set()
        self.t.join()
        return self.seen
