"""Helpers for the qBittorrent WebAPI tests: a seedring daemon with the
layer on, a real qbittorrent-nox (Debian's) on loopback, a small HTTP client
for both, and the JSON "shape" the answers are compared by."""

import json
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from conftest import seedring_bin
from test_download import wait_for

USER = "admin"
PASSWORD = "interop-pass-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def password_hash() -> str:
    out = subprocess.run([seedring_bin(), "hash-password"], input=PASSWORD + "\n",
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


class SeedringQb:
    """A seedring daemon with the qBittorrent layer on; `roots` maps tokens to
    folders (the first is the default)."""

    def __init__(self, tmp: Path, roots: dict, extra: str = ""):
        self.dir = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        cfg = tmp / "seedring.toml"
        text = (f'data_dir = "{tmp}/data"\n'
                '[peers]\nlisten = "127.0.0.1:0"\n'
                '[dht]\nlisten = "127.0.0.1:0"\nlisten6 = ""\nbootstrap = []\n'
                '[api]\nlisten = "127.0.0.1:0"\n'
                f'[qbittorrent]\npassword_hash = "{password_hash()}"\n{extra}\n')
        for i, (token, path) in enumerate(roots.items()):
            text += f'[[roots]]\ntoken = "{token}"\npath = "{path}"\n'
            if i == 0:
                text += "default = true\n"
        cfg.write_text(text)
        self.cfg = cfg
        self.log_path = tmp / "daemon.log"
        self.start()

    def start(self):
        """Starts the daemon on its config (again after `stop`: its log goes
        on, its API and peer ports are new)."""
        addr_file = self.dir / "data" / "admin.addr"
        addr_file.unlink(missing_ok=True)
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([seedring_bin(), "daemon", "--config", str(self.cfg)],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        wait_for("the daemon to start", addr_file.exists, 30)
        lines = dict(l.split("=", 1) for l in addr_file.read_text().split())
        self.host, self.port = lines["api"].rsplit(":", 1)
        self.url = f"http://{lines['api']}"
        self.peer_port = int(lines["peers"].rsplit(":", 1)[1])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self.log.close()
        return code


class QbNox:
    """Debian's qbittorrent-nox on loopback only: DHT, PeX, LSD, UPnP off,
    bound to `lo`, the same password hash as seedring's (which also shows the
    two read each other's hashes)."""

    def __init__(self, tmp: Path, save_path: Path):
        self.port = free_port()
        conf = tmp / "qBittorrent" / "config"
        conf.mkdir(parents=True)
        (conf / "qBittorrent.conf").write_text(
            "[LegalNotice]\nAccepted=true\n\n"
            "[BitTorrent]\nSession\\DHTEnabled=false\nSession\\LSDEnabled=false\n"
            "Session\\PeXEnabled=false\nSession\\Interface=lo\nSession\\InterfaceName=lo\n"
            f"Session\\Port={free_port()}\nSession\\DefaultSavePath={save_path}\n\n"
            "[Network]\nPortForwardingEnabled=false\n\n"
            f"[Preferences]\nWebUI\\Port={self.port}\nWebUI\\Address=127.0.0.1\n"
            f"WebUI\\Username={USER}\nWebUI\\Password_PBKDF2=\"{password_hash()}\"\n"
            "WebUI\\UseUPnP=false\nGeneral\\Locale=en\n")
        self.dir = tmp
        self.url = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self):
        """Starts qbittorrent-nox on its profile (again after `stop`)."""
        self.log = open(self.dir / "qbittorrent.log", "a")
        self.proc = subprocess.Popen(
            ["qbittorrent-nox", f"--profile={self.dir}", f"--webui-port={self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)

        def up():
            try:
                requests.get(self.url + "/api/v2/app/version", timeout=1)
                return True
            except requests.RequestException:
                return False

        wait_for("qbittorrent-nox to answer", up, 30)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def side_by_side(tmp: Path):
    """qbittorrent-nox and seedring side by side, each with a downloads folder,
    logged in: (qb, sr, seedring's client, qbittorrent's client, {url: folder})."""
    (tmp / "qb").mkdir()
    qb = QbNox(tmp / "qb", tmp / "qb" / "downloads")
    sr = SeedringQb(tmp / "sr", {"default": tmp / "sr" / "downloads"})
    a, b = Client(sr.url), Client(qb.url)
    homes = {a.url: tmp / "sr" / "downloads", b.url: tmp / "qb" / "downloads"}
    for c in (a, b):
        assert c.login() == "Ok."
        homes[c.url].mkdir(parents=True, exist_ok=True)
    return qb, sr, a, b, homes


class Client:
    """The requests the *arr tools make, by hand: form-encoded POSTs, the SID
    cookie, a Referer of the host itself (as a browser would send)."""

    def __init__(self, url: str):
        self.url = url
        self.s = requests.Session()
        self.s.headers["Referer"] = url

    def post(self, path, data=None, files=None, expect=200):
        r = self.s.post(self.url + "/api/v2/" + path, data=data or {}, files=files, timeout=30)
        assert r.status_code == expect, f"{self.url} {path}: {r.status_code} {r.text}"
        return r

    def get(self, path, expect=200, **params):
        r = self.s.get(self.url + "/api/v2/" + path, params=params, timeout=30)
        assert r.status_code == expect, f"{self.url} {path}: {r.status_code} {r.text}"
        return r

    def json(self, path, **params):
        return self.get(path, **params).json()

    def login(self, password=PASSWORD):
        return self.post("auth/login", {"username": USER, "password": password}).text


def shape(v):
    """What a value is, for comparing answers: nested keys and JSON types
    (int and float are one type in JSON: both are "number")."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if v is None:
        return "null"
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    return {k: shape(x) for k, x in v.items()}


def diff_shapes(ours, theirs, where="", allowed=()):
    """Differences between two shapes, each as a line; `allowed` are paths
    (`torrents/*/x`) known to differ on purpose."""
    out = []
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for k in sorted(set(ours) | set(theirs)):
            path = f"{where}/{k}" if where else k
            if path in allowed:
                continue
            if k not in ours:
                out.append(f"{path}: missing in seedring's answer")
            elif k not in theirs:
                out.append(f"{path}: seedring has it, qBittorrent does not")
            else:
                out += diff_shapes(ours[k], theirs[k], path, allowed)
    elif isinstance(ours, list) and isinstance(theirs, list):
        if ours and theirs:
            out += diff_shapes(ours[0], theirs[0], where + "[]", allowed)
    elif ours != theirs:
        out.append(f"{where}: seedring {ours!r}, qBittorrent {theirs!r}")
    return out


def by_hash_keys(d):
    """A map keyed by info-hash with its keys replaced by `*` (the hashes are
    the same torrent in both, but the shape compare is per key)."""
    return {"*": next(iter(d.values()))} if d else {}


def wait_state(client, ih, want, timeout=120):
    """Polls torrents/info until the torrent's state is in `want`; returns every
    state seen on the way."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.json("torrents/info", hashes=ih)
        if info:
            st = info[0]["state"]
            if not seen or seen[-1] != st:
                seen.append(st)
            if st in want:
                return seen
        time.sleep(0.1)
    raise TimeoutError(f"{client.url}: {ih} never reached {want}; saw {seen}")


def same_in_both(a, b, homes, f):
    """f(client) for seedring's client `a` and qBittorrent's `b`, each one's
    downloads folder (in `homes`) written as HOME: they must be equal; the
    answer."""
    def home(c):
        return json.loads(json.dumps(f(c)).replace(str(homes[c.url]), "HOME"))
    got = {c.url: home(c) for c in (a, b)}
    assert got[a.url] == got[b.url], got
    return got[a.url]
