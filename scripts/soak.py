#!/usr/bin/python3
"""Soak: seedring daemons on loopback under churn for MINUTES, watched for
what a long-running seedbox must not do: grow in memory, leak file
descriptors or threads, panic, leave a download unfinished, lie about its
data, or leave files behind.

    scripts/soak [MINUTES (10)] [LT_WORKERS (3)]

The seeder daemon seeds a mix of torrents (single- and multi-file; v1, hybrid
and v2-only). Against it, at once and until the time is up:
- LT_WORKERS libtorrent sessions in turn, each with its own choice of
  encryption (forced, off, either) and transport (TCP or uTP only), download a
  torrent and remove it with its files; one in five is removed mid-download;
- the leecher daemon adds a torrent through our API (a .torrent) or through
  qBittorrent's WebAPI with `qbittorrent-api` (a magnet naming the seeder), now
  and then pauses and resumes it, and deletes it with its files once done (one
  in four just after asking for a move to its other root); no file of it may
  be left at either root;
- pollers read both daemons' lists, qBittorrent's `sync/maindata`, the peer
  lists and `/metrics`;
- hostile sockets send the seeder garbage, truncated handshakes and absurd
  lengths over TCP, and garbage datagrams to its uTP port;
- every 20 s the seeder rechecks one of its torrents, pauses and resumes
  one, or moves one to its other root and back while peers download it;
- a third daemon, the phoenix (downloads capped at 8 MB/s), is stopped at a
  random moment of each of its downloads, by SIGKILL or SIGTERM, and started
  again: it must exit within 30 s of a SIGTERM with status 0, finish the
  download, hold the seeder's bytes (compared byte for byte), and delete them.
Three of the torrents name a web seed on loopback that answers one request in
four badly (an error status, a flipped byte, a body cut short, a 3 s wait).

The daemons keep 1,000 log lines for their API (`SOAK_LOG_RING`; the
default 10,000 take a few MiB that fill over the first half of a run and
would read as growth).

Every 5 s it samples each daemon's RSS, open descriptors and threads. At the
end it waits 70 s for the connections to close and idle pool threads to end,
and prints: cycles done, bytes served, RSS over time, descriptors (sockets,
data files, other) and threads at the start and after the drain, and the
log's warnings by kind (the phoenix's only shown: it restarts). It exits 1 if a daemon panicked or died, a download
did not finish within its deadline, a deleted file is still open (its disk
space still in use), sockets, other descriptors or named
threads did not come back down (data files may stay in the storage's bounded
cache; the shards' blocking-pool threads and the kernel's io_uring workers
end on their own clocks and are only shown), or RSS in the last quarter is
more than 15% and 8 MiB above the second quarter's.
"""

import collections
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import libtorrent as lt
from bench_lt import LOOPBACK
from soak_parts import WEB_SEEDED, Daemon, WebSeed, data_files, make_torrents

class Soak:
    def __init__(self, minutes, lt_workers):
        self.deadline = time.monotonic() + minutes * 60
        self.lt_workers = lt_workers
        self.rng = random.Random(7)
        self.work = Path(tempfile.mkdtemp(prefix="soak-"))
        self.shm = Path(tempfile.mkdtemp(prefix="soak-", dir="/dev/shm"))
        self.counts = collections.Counter()
        self.failures = []
        self.lock = threading.Lock()

    def running(self):
        return time.monotonic() < self.deadline and not self.failures

    def fail(self, what):
        with self.lock:
            self.failures.append(what)
        print(f"FAIL: {what}", flush=True)

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] += n

    def setup(self):
        src = self.src = self.work / "seed-root"
        src.mkdir()
        self.web = WebSeed(src)
        self.torrents = make_torrents(src, self.rng, self.web.url)
        self.infos = {name: lt.torrent_info(lt.bdecode(raw)) for name, raw in self.torrents}
        # libtorrent without the web seed: without a smart-ban plugin it blames
        # every source of a piece that fails, and then drops the seeder daemon
        # for the web seed's bad bytes.
        self.lt_infos = {}
        for name, raw in self.torrents:
            meta = lt.bdecode(raw)
            meta.pop(b"url-list", None)
            self.lt_infos[name] = lt.torrent_info(meta)
        self.seeder = Daemon("seeder", self.work, src)
        self.leecher = Daemon("leecher", self.work, self.shm / "leecher-root")
        # Capped, so that a stop finds most of its downloads under way.
        self.phoenix = Daemon("phoenix", self.work, self.shm / "phoenix-root",
                              "[limits]\ndownload = 8000000\n")
        self.stop_secs = []
        self.ids = {}
        for name, raw in self.torrents:
            status, body = self.seeder.api("POST", "/api/v1/torrents", raw,
                                           "application/x-bittorrent")
            assert status == 201, (status, body)
            self.ids[name] = body["id"]
        end = time.monotonic() + 120
        while time.monotonic() < end:
            states = {t["state"] for t in self.seeder.ids().values()}
            if states == {"seeding"}:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"the seeder did not start seeding: {states}")
        # The control plane's thread (web seeds, trackers) starts at its first
        # use and then stays, with its runtime's descriptors: have the leecher
        # start it before the first sample, with a download from the web seed
        # alone, every answer good.
        name, raw = next(t for t in self.torrents if t[0] in WEB_SEEDED)
        self.web.faulty = False
        status, _ = self.leecher.api("POST", "/api/v1/torrents", raw,
                                     "application/x-bittorrent")
        assert status == 201, status
        end = time.monotonic() + 90
        while self.leecher.ids()[self.ids[name]]["state"] != "seeding":
            if time.monotonic() > end:
                raise RuntimeError(f"the leecher's first download, of {name}, did not finish")
            time.sleep(0.1)
        self.leecher.api("DELETE", f"/api/v1/torrents/{self.ids[name]}?delete_files=true")
        while self.ids[name] in self.leecher.ids():
            time.sleep(0.1)
        self.web.faulty = True

    # --- the workers ---------------------------------------------------------

    def lt_worker(self, k):
        rng = random.Random(100 + k)
        while self.running():
            name, _ = rng.choice(self.torrents)
            enc = rng.choice(["forced", "disabled", "enabled"])
            utp = rng.random() < 0.3
            policy = {"forced": lt.enc_policy.forced, "disabled": lt.enc_policy.disabled,
                      "enabled": lt.enc_policy.enabled}[enc]
            ses = lt.session({**LOOPBACK, "out_enc_policy": policy, "in_enc_policy": policy,
                              "enable_outgoing_utp": utp, "enable_incoming_utp": utp,
                              "enable_outgoing_tcp": not utp,
                              "enable_incoming_tcp": not utp})
            save = self.shm / f"lt{k}"
            atp = lt.add_torrent_params()
            atp.ti = self.lt_infos[name]
            atp.save_path = str(save)
            atp.flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd
            h = ses.add_torrent(atp)
            h.connect_peer(("127.0.0.1", self.seeder.peer_port))
            abort = rng.random() < 0.2
            end = time.monotonic() + (0.3 if abort else 90)
            while time.monotonic() < end and not h.status().is_seeding:
                time.sleep(0.02)
            if h.status().is_seeding:
                self.count("libtorrent downloads")
                self.count("bytes to libtorrent", h.status().total_wanted)
            elif abort:
                self.count("libtorrent downloads cut short")
            else:
                s = h.status()
                self.fail(f"libtorrent ({enc}, {'utp' if utp else 'tcp'}) did not finish "
                          f"{name} in 90 s: {s.progress:.2f}, {s.num_peers} peers")
            ses.remove_torrent(h, lt.session.delete_files)
            del h, ses
            shutil.rmtree(save, ignore_errors=True)

    def leech_worker(self):
        rng = random.Random(200)
        qb = self.leecher.qbit()
        seeder = f"127.0.0.1:{self.seeder.peer_port}"
        while self.running():
            name, raw = rng.choice(self.torrents)
            ih = self.ids[name]
            ti = self.infos[name]
            via_qbit = rng.random() < 0.5
            if via_qbit:
                v1 = ti.info_hashes().v1
                xt = (f"xt=urn:btih:{v1}" if not v1.is_all_zeros() else
                      f"xt=urn:btmh:1220{ti.info_hashes().v2}")
                magnet = f"magnet:?{xt}&dn={name}&x.pe={seeder}"
                assert qb.torrents_add(urls=magnet, category="soak") == "Ok."
            else:
                status, _ = self.leecher.api("POST", "/api/v1/torrents", raw,
                                             "application/x-bittorrent")
                assert status == 201, status
                self.leecher.api("POST", f"/api/v1/torrents/{ih}/peers", {"peers": [seeder]})
            paused = False
            end = time.monotonic() + 90
            done = False
            while time.monotonic() < end:
                _, t = self.leecher.api("GET", f"/api/v1/torrents/{ih}")
                if t and t["state"] == "seeding":
                    done = True
                    break
                if not paused and t and t["progress"] > 0.3 and rng.random() < 0.3:
                    self.leecher.api("POST", f"/api/v1/torrents/{ih}/pause")
                    time.sleep(0.2)
                    self.leecher.api("POST", f"/api/v1/torrents/{ih}/resume")
                    paused = True
                    self.count("leecher pauses")
                time.sleep(0.05)
            if done:
                self.count("daemon downloads (qBittorrent API)" if via_qbit else
                           "daemon downloads (our API)")
            else:
                self.fail(f"the leecher daemon did not finish {name} in 90 s: {t}")
            other = Path(f"{self.leecher.root}-other")
            if rng.random() < 0.25:
                # Moved and at once deleted, as an *arr tool may do after a
                # category change: nothing may stay behind at either root.
                qb.torrents_set_location(location=str(other), torrent_hashes=ih)
                self.count("leecher moves, deleted at once")
            if via_qbit:
                qb.torrents_delete(delete_files=True, torrent_hashes=ih)
            else:
                self.leecher.api("DELETE", f"/api/v1/torrents/{ih}?delete_files=true")
            while self.running() and ih in self.leecher.ids():
                time.sleep(0.05)
            files = [r / f for r in (self.leecher.root, other) for f in data_files(ti)]
            end = time.monotonic() + 30
            while time.monotonic() < end and any(f.exists() for f in files):
                time.sleep(0.1)
            left = [str(f) for f in files if f.exists()]
            if left:
                self.fail(f"the leecher left files of {name} 30 s after their deletion: {left}")

    def phoenix_worker(self):
        """A third daemon, stopped at a random moment of each download (SIGKILL
        or SIGTERM) and started again from its data folder: it must finish,
        hold the seeder's bytes, and delete them when asked."""
        rng = random.Random(500)
        d = self.phoenix
        while self.running():
            name, raw = rng.choice(self.torrents)
            ih = self.ids[name]
            status, _ = d.api("POST", "/api/v1/torrents", raw, "application/x-bittorrent")
            if status != 201:
                self.fail(f"phoenix: adding {name} answered {status}")
                return
            d.api("POST", f"/api/v1/torrents/{ih}/peers",
                  {"peers": [f"127.0.0.1:{self.seeder.peer_port}"]})
            time.sleep(rng.uniform(0.1, 3))
            hard = rng.random() < 0.5
            took = d.stop(hard)
            if took is None:
                self.fail("phoenix: still running 30 s after SIGTERM")
                return
            if not hard:
                if d.proc.returncode != 0:
                    self.fail(f"phoenix: exited {d.proc.returncode} on SIGTERM")
                    return
                self.stop_secs.append(took)
            self.count("phoenix SIGKILLs" if hard else "phoenix SIGTERMs")
            d.start()
            end = time.monotonic() + 90
            t, asked = None, 0.0
            while time.monotonic() < end:
                if time.monotonic() - asked > 5:
                    # A restart forgets the addresses given over the API.
                    d.api("POST", f"/api/v1/torrents/{ih}/peers",
                          {"peers": [f"127.0.0.1:{self.seeder.peer_port}"]})
                    asked = time.monotonic()
                _, t = d.api("GET", f"/api/v1/torrents/{ih}")
                if t and t["state"] == "seeding":
                    break
                time.sleep(0.1)
            else:
                self.fail(f"phoenix: {name} not done 90 s after its restart: {t}")
                return
            files = data_files(self.infos[name])
            wrong = [f for f in files
                     if (self.src / f).read_bytes() != (d.root / f).read_bytes()]
            if wrong:
                self.fail(f"phoenix: {name} seeding with other bytes than the seeder's in "
                          f"{wrong}")
                return
            self.count("phoenix downloads checked byte for byte")
            d.api("DELETE", f"/api/v1/torrents/{ih}?delete_files=true")
            end = time.monotonic() + 30
            while time.monotonic() < end and (
                    ih in d.ids() or any((d.root / f).exists() for f in files)):
                time.sleep(0.1)
            if ih in d.ids() or any((d.root / f).exists() for f in files):
                self.fail(f"phoenix: {name} or its files still there 30 s after its deletion")
                return

    def poller(self):
        qb = self.leecher.qbit()
        rid = 0
        while self.running():
            for d in (self.seeder, self.leecher):
                status, body = d.api("GET", "/api/v1/torrents?sort=-upload_rate")
                if status != 200:
                    self.fail(f"{d.name}: GET /api/v1/torrents answered {status}")
                for t in (body or {}).get("torrents", [])[:2]:
                    d.api("GET", f"/api/v1/torrents/{t['id']}/peers")
                d.api("GET", "/metrics")
            rid = qb.sync_maindata(rid=rid).get("rid", 0)
            self.count("polls")
            time.sleep(0.5)

    def hostile(self):
        rng = random.Random(300)
        names = list(self.ids.values())
        while self.running():
            try:
                with socket.create_connection(("127.0.0.1", self.seeder.peer_port), 2) as s:
                    kind = rng.randrange(4)
                    if kind == 0:
                        s.sendall(rng.randbytes(rng.randrange(1, 2000)))
                    elif kind == 1:
                        s.sendall(b"\x13BitTorrent protocol" + bytes(8) +
                                  bytes.fromhex(rng.choice(names))[:rng.randrange(21)])
                    else:
                        ih = bytes.fromhex(rng.choice(names)[:40])
                        s.sendall(b"\x13BitTorrent protocol" + bytes(8) + ih +
                                  rng.randbytes(20) +
                                  (b"\xff\xff\xff\xf0" if kind == 2 else rng.randbytes(64)))
                    s.settimeout(0.2)
                    try:
                        s.recv(4096)
                    except OSError:
                        pass
            except OSError:
                pass
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.sendto(rng.randbytes(rng.randrange(1, 1400)),
                         ("127.0.0.1", self.seeder.peer_port))
            self.count("hostile connections")
            time.sleep(0.25)

    def admin(self):
        rng = random.Random(400)
        while self.running():
            time.sleep(20)
            ih = rng.choice(list(self.ids.values()))
            action = rng.choice(["recheck", "pause", "move"])
            if action == "move":
                # To the other root and back: peers wait while its data moves.
                for root in ("other", "default"):
                    status, _ = self.seeder.api("POST", f"/api/v1/torrents/{ih}/move",
                                                {"root": root})
                    if status != 202:
                        self.fail(f"the seeder's move of {ih} to {root} answered {status}")
                    end = time.monotonic() + 60
                    while time.monotonic() < end:
                        _, t = self.seeder.api("GET", f"/api/v1/torrents/{ih}")
                        if t["root"] == root and t["state"] == "seeding":
                            break
                        time.sleep(0.2)
                    else:
                        self.fail(f"the seeder's move of {ih} to {root} not done in 60 s: {t}")
                self.count("seeder moves (there and back)")
                continue
            self.seeder.api("POST", f"/api/v1/torrents/{ih}/{action}")
            if action == "pause":
                time.sleep(1)
                self.seeder.api("POST", f"/api/v1/torrents/{ih}/resume")
            self.count(f"seeder {action}s")

    def sampler(self):
        while self.running():
            for d in (self.seeder, self.leecher):
                if d.proc.poll() is not None:
                    self.fail(f"the {d.name} daemon exited: {d.proc.returncode}")
                    return
                self.samples[d.name].append(d.sample())
            time.sleep(5)

    # --- the run ---------------------------------------------------------------

    def run(self):
        self.setup()
        self.samples = {"seeder": [], "leecher": []}
        start = {d.name: d.sample() for d in (self.seeder, self.leecher)}
        jobs = [lambda k=k: self.lt_worker(k) for k in range(self.lt_workers)]
        jobs += [self.leech_worker, self.phoenix_worker, self.poller, self.hostile,
                 self.admin, self.sampler]
        threads = []
        for job in jobs:
            t = threading.Thread(target=self.guard, args=(job,), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join(timeout=max(0, self.deadline - time.monotonic()) + 150)
        # Drain: no torrent on the leecher, every peer gone, and the idle
        # blocking-pool threads (compio's, 60 s idle) and io_uring workers ended.
        time.sleep(70)
        after = {d.name: d.sample() for d in (self.seeder, self.leecher)}
        self.report(start, after)

    def guard(self, job):
        try:
            job()
        except Exception as e:  # a worker's own error ends the soak as a failure
            self.fail(f"{job.__name__ if hasattr(job, '__name__') else job}: {e!r}")

    def report(self, start, after):
        print("\n## soak\n")
        for what, n in sorted(self.counts.items()):
            shown = f"{n / (1 << 30):.2f} GiB" if what.startswith("bytes") else n
            print(f"- {what}: {shown}")
        print("- web seed answers: " + ", ".join(
            f"{n} {k}" for k, n in self.web.counts.most_common()))
        if self.stop_secs:
            print(f"- phoenix's exit after SIGTERM: median {statistics.median(self.stop_secs):.2f} s,"
                  f" longest {max(self.stop_secs):.2f} s")
        print("\n| daemon | RSS MiB: start, 2nd quarter, last quarter, peak, after the "
              "drain | descriptors: start, after | threads: start, after |\n|---|---|---|---|")
        for d in (self.seeder, self.leecher):
            s = self.samples[d.name]
            tenth = max(1, len(s) // 10)
            print(f"\n{d.name}'s RSS at each tenth of the run (MiB): " + ", ".join(
                f"{s[i]['rss']:.1f}" for i in range(0, len(s), tenth)))
        print()
        for d in (self.seeder, self.leecher):
            s = self.samples[d.name]
            q = max(1, len(s) // 4)
            second = statistics.median(x["rss"] for x in s[q:2 * q]) if s else 0
            last = statistics.median(x["rss"] for x in s[-q:]) if s else 0
            peak = max((x["rss"] for x in s), default=0)
            a, b = start[d.name], after[d.name]
            fds = lambda x: ", ".join(f"{n} {k}" for k, n in sorted(x["fds"].items()))
            print(f"| {d.name} | {a['rss']:.1f}, {second:.1f}, {last:.1f}, {peak:.1f}, "
                  f"{b['rss']:.1f} | {fds(a)}; {fds(b)} | {a['threads']}, "
                  f"{b['threads']} |")
            deleted = [f for f in b["files"] if f.endswith(" (deleted)")]
            if deleted:
                # A deleted file held open keeps its disk space in use.
                self.fail(f"{d.name}: deleted files still open after the drain: {deleted}")
            if last > second * 1.15 and last - second > 8:
                self.fail(f"{d.name}: RSS grew from {second:.1f} to {last:.1f} MiB")
            # Data files may stay open (the storage keeps a bounded set of handles).
            for kind in ("socket", "other"):
                if b["fds"][kind] > a["fds"][kind]:
                    self.fail(f"{d.name}: {b['fds'][kind] - a['fds'][kind]} {kind} "
                              "descriptors more after the drain")
                    ss = subprocess.run(["ss", "-tuanp"], capture_output=True, text=True)
                    print("\n".join(line for line in ss.stdout.splitlines()
                                    if f"pid={d.proc.pid}," in line))
            # Left out: the kernel's io_uring workers (iou-wrk-*), which end
            # when idle except the last of each ring's kinds, and the shards'
            # blocking-pool threads (named after their shard), which end 60 s
            # after their last job (a resume save may come late in the drain).
            grew = collections.Counter({n: c for n, c in (b["names"] - a["names"]).items()
                                        if not n.startswith(("iou-wrk-", "sr-shard-"))})
            if grew:
                self.fail(f"{d.name}: threads more after the drain: {dict(grew)}")
        for d in (self.seeder, self.leecher, self.phoenix):
            d.proc.terminate()
            d.proc.wait(timeout=30)
            text = d.log.read_text(errors="replace")
            if "panicked" in text:
                self.fail(f"{d.name} panicked: see {d.log}")
            kinds = collections.Counter(
                re.sub(r"[0-9a-f]{40}|\d+(\.\d+)*(:\d+)?", "#", line.split("]", 1)[-1])[:110]
                for line in text.splitlines() if " WARN " in line or " ERROR " in line)
            print(f"\n{d.name}: {sum(kinds.values())} warnings and errors"
                  + "".join(f"\n    {n:5} {k.strip()}" for k, n in kinds.most_common(12)))
        print("\nFAILED:\n- " + "\n- ".join(self.failures) if self.failures else "\nsoak: passed")


def main():
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 10
    lt_workers = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    soak = Soak(minutes, lt_workers)
    try:
        soak.run()
    finally:
        if hasattr(soak, "web"):
            soak.web.close()
        for d in ("seeder", "leecher", "phoenix"):
            if hasattr(soak, d) and getattr(soak, d).proc.poll() is None:
                getattr(soak, d).proc.kill()
        if not soak.failures:
            shutil.rmtree(soak.work, ignore_errors=True)
        else:
            print(f"(logs kept in {soak.work})")
        shutil.rmtree(soak.shm, ignore_errors=True)
    sys.exit(1 if soak.failures else 0)


if __name__ == "__main__":
    main()
