"""What the import tests share: a folder's files by content, an import run
and its summary, a file's bytes kept, and a torrent as seedring's
qBittorrent API shows it, in the keys a test compares with the client it
came from."""

import hashlib
import subprocess


def digests(root):
    """Every file under `root`, relative path to SHA-256."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def seen_by_seedring(c, ih, keys):
    """Torrent `ih` through seedring's qBittorrent API (client `c`): the
    `keys` asked for, of name, save_path, content, category, tags, files
    (name, priority), priorities, stopped, progress, trackers (not the DHT,
    PeX or LSD rows), up_limit, ratio_limit, added_on, completion_on,
    uploaded, downloaded."""
    info = c.json("torrents/info", hashes=ih)[0]
    files = c.json("torrents/files", hash=ih)
    trackers = c.json("torrents/trackers", hash=ih)
    every = {
        "name": info["name"],
        "save_path": info["save_path"].rstrip("/"),
        "content": info["content_path"],
        "category": info["category"],
        "tags": sorted(t.strip() for t in info["tags"].split(",") if t.strip()),
        "files": [(f["name"], f["priority"]) for f in files],
        "priorities": [f["priority"] for f in files],
        "stopped": info["state"].startswith("paused"),
        "progress": round(info["progress"], 4),
        "trackers": sorted(t["url"] for t in trackers if not t["url"].startswith("** ")),
        "up_limit": info["up_limit"],
        "ratio_limit": round(info["ratio_limit"], 4),
        "added_on": info["added_on"],
        "completion_on": info["completion_on"],
        "uploaded": info["uploaded"],
        "downloaded": info["downloaded"],
    }
    return {k: every[k] for k in keys}


def imported(cmd, added, there):
    """Runs the import command `cmd`: it succeeds, and says `added` torrents
    were added and `there` were there already. Its output."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = f"{added} added, {there} already there, 0 not added"
    assert summary in out.stdout, out.stdout
    return out.stdout


def holds_only(path, held):
    """File `path` begins with the bytes `held`, then zeros only (sized for
    what peers are to send; none did)."""
    got = path.read_bytes()
    assert got[:len(held)] == held and not got[len(held):].strip(b"\0")
