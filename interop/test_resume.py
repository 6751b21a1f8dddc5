"""Resume and storage roots against libtorrent, over loopback.

- resume: seedring stopped half-way and started again with the same --state-dir
  keeps its verified pieces without a recheck; the libtorrent seeder is asked only
  for the pieces that were missing.
- two torrents into two storage roots of one seedring.
- a torrent moved to another root while seeding to a libtorrent peer keeps seeding
  correct data afterwards.
"""

import json
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import libtorrent as lt

from conftest import LT_SETTINGS, download_args, lt_create, make_tree, run_download, run_seedring
from test_download import LtSeeder, same_files, wait_for

LAYOUT = {"a.bin": 3_000_000, "sub/b.bin": 2_500_000, "c.txt": 1234}


class Controlled:
    """`seedring download --control`: commands in, JSON lines out."""

    def __init__(self, torrent, out, *extra):
        self.proc = subprocess.Popen(
            download_args(torrent, out, "--control", *extra),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        assert answer["ok"], f"{line}: {answer}\n{''.join(self.stderr)}"
        return answer["result"]

    def stats(self, ih):
        return self.cmd(f"stats {ih}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def info_hash(torrent: Path) -> str:
    return str(lt.torrent_info(str(torrent)).info_hash())


def make_torrent(tmp: Path, name: str, seed: int) -> Path:
    src = make_tree(tmp / "src" / name, LAYOUT, seed=seed)
    torrent = tmp / f"{name}.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    return torrent


class UploadCountingSeeder(LtSeeder):
    """A libtorrent seeder that reports which pieces it uploaded (no alert lost)."""

    def __init__(self, torrent, save_path):
        super().__init__(torrent, save_path)
        self.ses.apply_settings({
            "alert_queue_size": 1_000_000,
            "alert_mask": lt.alert.category_t.upload_notification,
        })
        self.ses.pop_alerts()


def uploaded_pieces(ses) -> set:
    """Pieces libtorrent uploaded blocks of, from its alerts since the last call."""
    pieces = set()
    for a in ses.pop_alerts():
        if isinstance(a, lt.block_uploaded_alert):
            pieces.add(a.piece_index)
    return pieces


def test_resume_keeps_verified_pieces_and_asks_only_for_the_rest(tmp):
    torrent = make_torrent(tmp, "t", 1)
    ih = info_hash(torrent)
    seeder = UploadCountingSeeder(torrent, tmp / "src")
    peer = f"127.0.0.1:{seeder.port}"
    state = tmp / "state"
    try:
        s = Controlled(torrent, tmp / "dst", "--state-dir", state, "--peer", peer,
                       "--download-limit", 1_000_000)
        total = None

        def half():
            nonlocal total
            st = s.stats(ih)
            total = st["total_pieces"]
            return st["have_pieces"] >= total // 2

        wait_for("half of the pieces", half, 60)
        assert s.stop() == 1, "stopped before completion: exit 1"
        first = uploaded_pieces(seeder.ses)
        report = json.loads(run_seedring("verify", torrent, tmp / "dst", "--json",
                                         check=False).stdout)
        kept = set(range(report["piece_count"])) - set(report["missing_pieces"]) \
            - set(report["invalid_pieces"])
        assert len(kept) >= total // 2 and kept <= first
        proc = run_download(torrent, tmp / "dst", "--state-dir", state, "--peer", peer)
        m = re.search(r"resuming from .*: (\d+) of (\d+) pieces saved", proc.stderr)
        assert m, proc.stderr
        assert int(m.group(1)) == len(kept), proc.stderr
        # No recheck on the way: the saved pieces were trusted.
        assert "already here and valid" not in proc.stderr
        time.sleep(0.5)
        second = uploaded_pieces(seeder.ses)
    finally:
        seeder.close()
    assert second, "the rest came from libtorrent"
    assert not second & kept, f"libtorrent was asked again for kept pieces {second & kept}"
    assert second | kept == set(range(total))
    same_files(tmp / "src" / "t", tmp / "dst" / "t", LAYOUT)


def test_two_torrents_into_two_roots(tmp):
    t1, t2 = make_torrent(tmp, "one", 2), make_torrent(tmp, "two", 3)
    ses = lt.session(LT_SETTINGS)
    for t in (t1, t2):
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(str(t))
        atp.save_path = str(tmp / "src")
        atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        ses.add_torrent(atp)
    wait_for("libtorrent seeding", lambda: all(h.status().is_seeding for h in ses.get_torrents()))
    peer = f"127.0.0.1:{ses.listen_port()}"
    root_a, root_b = tmp / "disk-a", tmp / "disk-b"
    s = Controlled(t1, root_a, "--seed", "--peer", peer)
    try:
        s.cmd(f"add-root disk2 {root_b}")
        ih2 = s.cmd(f"add {t2} disk2")["info_hash"]
        assert ih2 == info_hash(t2)
        s.cmd(f"peer {ih2} {peer}")
        for ih in (info_hash(t1), ih2):
            wait_for(f"{ih} complete", lambda ih=ih: s.stats(ih)["state"] == "Seeding", 60)
        assert s.stats(ih2)["root"] == "disk2"
        roots = {r["token"]: r for r in s.cmd("roots")}
        assert roots["disk2"]["torrents"] == 1 and roots["disk2"]["exists"]
        assert sum(r["torrents"] for r in roots.values()) == 2
        assert all(r["exists"] and r["writable"] and r["total_bytes"] > 0 for r in roots.values())
    finally:
        s.stop()
        del ses
    same_files(tmp / "src" / "one", root_a / "one", LAYOUT)
    same_files(tmp / "src" / "two", root_b / "two", LAYOUT)
    assert not (root_b / "one").exists() and not (root_a / "two").exists()


def test_move_while_seeding_to_libtorrent(tmp):
    torrent = make_torrent(tmp, "mv", 4)
    ih = info_hash(torrent)
    root_a, root_b = tmp / "src", tmp / "disk-b"
    ses = lt.session(LT_SETTINGS)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(str(torrent))
    atp.save_path = str(tmp / "lt")
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    h = ses.add_torrent(atp)
    h.set_download_limit(400_000)
    s = Controlled(torrent, root_a, "--seed", "--peer", f"127.0.0.1:{ses.listen_port()}")
    try:
        wait_for("seedring seeding", lambda: s.stats(ih)["state"] == "Seeding", 60)
        wait_for("libtorrent part-way", lambda: h.status().progress > 0.2, 60)
        assert h.status().progress < 0.8
        s.cmd(f"add-root disk2 {root_b}")
        s.cmd(f"move {ih} disk2")
        wait_for("the move", lambda: s.stats(ih)["root"] == "disk2"
                 and s.stats(ih)["state"] == "Seeding", 60)
        assert s.stats(ih)["note"] is None
        assert (root_b / "mv" / "a.bin").exists()
        assert not (root_a / "mv").exists(), "the old copy is gone"
        h.set_download_limit(-1)
        wait_for("libtorrent complete", lambda: h.status().is_seeding, 90)
    finally:
        s.stop()
    # libtorrent's own check of what it got: every piece good.
    h.force_recheck()
    wait_for("libtorrent recheck", lambda: h.status().state == lt.torrent_status.seeding, 60)
    assert all(h.status().pieces)
    del ses
