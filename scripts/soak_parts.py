"""The soak's parts (scripts/soak.py): its torrents, a daemon it can stop and
start again, and a web seed that misbehaves now and then."""

import collections
import json
import os
import random
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import libtorrent as lt
import qbittorrentapi
from bench_lt import BIN

PASSWORD = "soak-password"

# Torrents whose .torrent names the web seed (`url-list`): the others are
# downloaded from peers only.
WEB_SEEDED = {"one-12m", "many-b", "hybrid-many"}


def make_torrents(src, rng, web_url):
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
        if name in WEB_SEEDED:
            ct.add_url_seed(web_url)
        lt.set_piece_hashes(ct, str(src))
        out.append((name, lt.bencode(ct.generate())))
    return out


def data_files(ti):
    """The paths (under a root) of a torrent's files, pad files left out."""
    fs = ti.files()
    return [fs.file_path(i) for i in range(fs.num_files())
            if not fs.file_flags(i) & lt.file_storage.flag_pad_file]


class WebSeed:
    """An HTTP server on loopback serving `root` with byte ranges, as a web
    seed's server does, that answers some requests badly: an error status, a
    flipped byte, a body cut short, or a 3 s wait."""

    FAULTS = [("good", 0.75), ("error", 0.07), ("corrupt", 0.06), ("short", 0.06),
              ("slow", 0.06)]

    def __init__(self, root):
        self.root = root.resolve()
        self.rng = random.Random(600)
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        # Off: every answer good.
        self.faulty = True
        web = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                try:
                    web.serve(self)
                except OSError:
                    pass  # the client went away (a download removed, a daemon killed)

        # Not 127.0.0.1: libtorrent bans by address, and a ban of this server
        # must not ban the seeder daemon with it.
        self.server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.2:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def fault(self):
        with self.lock:
            if not self.faulty:
                return "good", 0.0
            kinds, weights = zip(*self.FAULTS)
            kind = self.rng.choices(kinds, weights)[0]
            self.counts[kind] += 1
            return kind, self.rng.random()

    def serve(self, h):
        path = (self.root / unquote(h.path.split("?")[0]).lstrip("/")).resolve()
        if self.root not in path.parents or not path.is_file():
            h.send_error(404)
            return
        size = path.stat().st_size
        start, end = 0, size - 1
        ranged = h.headers.get("Range")
        if ranged:
            m = re.fullmatch(r"bytes=(\d+)-(\d+)", ranged.strip())
            if not m or int(m.group(1)) > int(m.group(2)) or int(m.group(1)) >= size:
                h.send_error(416)
                return
            start, end = int(m.group(1)), min(int(m.group(2)), size - 1)
        kind, x = self.fault()
        if kind == "error":
            h.send_error(503)
            return
        if kind == "slow":
            time.sleep(3)
        with open(path, "rb") as f:
            f.seek(start)
            body = bytearray(f.read(end - start + 1))
        if kind == "corrupt":
            body[int(x * len(body))] ^= 0xFF
        h.send_response(206 if ranged else 200)
        if ranged:
            h.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body[:len(body) // 2] if kind == "short" else body)
        if kind == "short":
            h.close_connection = True

    def close(self):
        self.server.shutdown()


class Daemon:
    """A seedring daemon on loopback with two roots, its log in its folder;
    `extra` is more of its config file."""

    def __init__(self, name, work, root, extra=""):
        self.name = name
        self.root = root
        self.dir = work / name
        self.dir.mkdir()
        Path(f"{root}-other").mkdir(parents=True)
        phash = subprocess.run([BIN, "hash-password"], input=PASSWORD + "\n", text=True,
                               capture_output=True, check=True).stdout.strip()
        self.conf = self.dir / "seedring.toml"
        self.conf.write_text(f"""data_dir = "{self.dir / 'data'}"
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
{extra}""")
        self.log = self.dir / "log.txt"
        self.start()

    def start(self):
        addr = self.dir / "data" / "admin.addr"
        addr.unlink(missing_ok=True)
        self.proc = subprocess.Popen([BIN, "daemon", "--config", str(self.conf)],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "a"))
        end = time.monotonic() + 60
        while not (addr.exists() and "peers=" in addr.read_text()):
            if time.monotonic() > end or self.proc.poll() is not None:
                raise RuntimeError(f"the {self.name} daemon did not start: see {self.log}")
            time.sleep(0.05)
        kv = dict(line.split("=", 1) for line in addr.read_text().split())
        self.api_addr = kv["api"]
        self.peer_port = int(kv["peers"].rsplit(":", 1)[1])
        self.token = (self.dir / "data" / "admin.token").read_text().strip()

    def stop(self, hard):
        """SIGKILL (`hard`) or SIGTERM; returns the seconds it took to exit,
        or None if it had not after 30 s (then it is killed)."""
        t0 = time.monotonic()
        if hard:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        return time.monotonic() - t0

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
