#!/usr/bin/python3
"""Soak: two seedring daemons on loopback under churn for MINUTES, watched for
what a long-running seedbox must not do: grow in memory, leak file
descriptors or threads, panic, or leave a download unfinished.

    scripts/soak [MINUTES (10)] [LT_WORKERS (3)]

The seeder daemon seeds a mix of torrents (single- and multi-file; v1, hybrid
and v2-only). Against it, at once and until the time is up:
- LT_WORKERS libtorrent sessions in turn, each with its own choice of
  encryption (forced, off, either) and transport (TCP or uTP only), download a
  torrent and remove it with its files; one in five is removed mid-download;
- the leecher daemon adds a torrent through our API (a .torrent) or through
  qBittorrent's WebAPI with `qbittorrent-api` (a magnet naming the seeder), now
  and then pauses and resumes it, and deletes it with its files once done;
- pollers read both daemons' lists, qBittorrent's `sync/maindata`, the peer
  lists and `/metrics`;
- hostile sockets send the seeder garbage, truncated handshakes and absurd
  lengths over TCP, and garbage datagrams to its uTP port;
- every 20 s the seeder rechecks one of its torrents, pauses and resumes
  one, or moves one to its other root and back while peers download it.

The daemons keep 1,000 log lines for their API (`SOAK_LOG_RING`; the
default 10,000 take a few MiB that fill over the first half of a run and
would read as growth).

Every 5 s it samples each daemon's RSS, open descriptors and threads. At the
end it waits 70 s for the connections to close and idle pool threads to end,
and prints: cycles done, bytes served, RSS over time, descriptors (sockets,
data files, other) and threads at the start and after the drain, and the
log's warnings by kind. It exits 1 if a daemon panicked or died, a download
did not finish within its deadline, a deleted file is still open (its disk
space still in use), sockets, other descriptors or named
threads did not come back down (data files may stay in the storage's bounded
cache; the shards' blocking-pool threads and the kernel's io_uring workers
end on their own clocks and are only shown), or RSS in the last quarter is
more than 15% and 8 MiB above the second quarter's.
"""

import collections
import json
import os
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
import urllib.error
import urllib.request
from pathlib import Path

import libtorrent as lt
import qbittorrentapi
from bench_lt import BIN, LOOPBACK

PASSWORD = "soak-password"


def make_torrents(src, rng):
    """Writes the seeder's data under `src` and returns [(name, torrent bytes)]."""
    specs = [("one-2m", [2]), ("one-12m", [12]), ("one-24m", [24]),
             ("many-a", [0.3, 1.7, 0.01, 3, 2.2, 0.5]), ("many-b", [4, 4, 0.9, 0.2]),
             ("hybrid-one", [9]), ("hybrid-many", [1.1, 2.5, 3.3]), ("v2-many", [3, 0.7, 5])]
    out = []
    for name, sizes in specs:
        paths = []
        for i, mib in enumerate(sizes):
            p = src / name / f"d{i % 2}" / f"f{i}.bin" if len(sizes) > 1 else src / f"{name}.bin"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(rng.randbytes(int(mib * (1 << 20))))
            paths.append(p)
        fs = lt.file_storage()
        lt.add_files(fs, str(src / name) if len(sizes) > 1 else str(paths[0]))
        flags = {"hybrid": 0, "v2": lt.create_torrent.v2_only}.get(
            name.split("-")[0], lt.create_torrent.v1_only)
        ct = lt.create_torrent(fs, 256 << 10, flags=flags)
        lt.set_piece_hashes(ct, str(src))
        out.append((name, lt.bencode(ct.generate())))
    return out


class Daemon:
    def __init__(self, name, work, root):
        self.name = name
        self.root = root
        self.dir = work / name
        self.dir.mkdir()
        Path(f"{root}-other").mkdir(parents=True)
        phash = subprocess.run([BIN, "hash-password"], input=PASSWORD + "\n", text=True,
                               capture_output=True, check=True).stdout.strip()
        conf = self.dir / "seedring.toml"
        conf.write_text(f"""data_dir = "{self.dir / 'data'}"
[peers]
listen = "127.0.0.1:0"
[dht]
enabled = false
[api]
listen = "127.0.0.1:0"
[qbittorrent]
password_hash = "{phash}"
[log]
filter = "info"
ring_size = {os.environ.get("SOAK_LOG_RING", "1000")}
[[roots]]
token = "default"
label = "root"
path = "{root}"
default = true
[[roots]]
token = "other"
label = "another root"
path = "{root}-other"
""")
        self.log = self.dir / "log.txt"
        self.proc = subprocess.Popen([BIN, "daemon", "--config", str(conf)],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "w"))
        addr = self.dir / "data" / "admin.addr"
        for _ in range(300):
            if addr.exists() and "peers=" in addr.read_text():
                break
            time.sleep(0.05)
        kv = dict(line.split("=", 1) for line in addr.read_text().split())
        self.api_addr = kv["api"]
        self.peer_port = int(kv["peers"].rsplit(":", 1)[1])
        self.token = (self.dir / "data" / "admin.token").read_text().strip()

    def api(self, method, path, body=None, ctype="application/json"):
        """(status, parsed JSON or None)."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        req = urllib.request.Request(f"http://{self.api_addr}{path}", data=body,
                                     method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if body is not None:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            text, status = e.read(), e.code
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, None

    def qbit(self):
        c = qbittorrentapi.Client(host=f"http://{self.api_addr}", username="admin",
                                  password=PASSWORD, REQUESTS_ARGS={"timeout": 30})
        c.auth_log_in()
        return c

    def sample(self):
        pid = self.proc.pid
        status = Path(f"/proc/{pid}/status").read_text()
        field = lambda k: int(re.search(rf"^{k}:\s+(\d+)", status, re.M).group(1))
        kinds = collections.Counter()
        files = []
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            kind = ("socket" if target.startswith("socket:") else
                    "data file" if target.startswith(str(self.root)) else "other")
            kinds[kind] += 1
            if kind == "data file":
                files.append(target)
        names = collections.Counter()
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                names[Path(f"/proc/{pid}/task/{task}/comm").read_text().strip()] += 1
            except OSError:
                pass
        return {"rss": field("VmRSS") / 1024, "threads": field("Threads"),
                "fds": kinds, "names": names, "files": files}

    def ids(self):
        _, body = self.api("GET", "/api/v1/torrents?limit=1000")
        return {t["id"]: t for t in body["torrents"]}


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
        src = self.work / "seed-root"
        src.mkdir()
        self.torrents = make_torrents(src, self.rng)
        self.infos = {name: lt.torrent_info(lt.bdecode(raw)) for name, raw in self.torrents}
        self.seeder = Daemon("seeder", self.work, src)
        self.leecher = Daemon("leecher", self.work, self.shm / "leecher-root")
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
            atp.ti = self.infos[name]
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
            if via_qbit:
                qb.torrents_delete(delete_files=True, torrent_hashes=ih)
            else:
                self.leecher.api("DELETE", f"/api/v1/torrents/{ih}?delete_files=true")
            while self.running() and ih in self.leecher.ids():
                time.sleep(0.05)

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
        jobs += [self.leech_worker, self.poller, self.hostile, self.admin, self.sampler]
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
        print("\n| daemon | RSS MiB: start, 2nd quarter, last quarter, peak, after the "
              "drain | descriptors: start, after | threads: start, after |\n|---|---|---|---|")
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
        for d in (self.seeder, self.leecher):
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
        for d in ("seeder", "leecher"):
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
