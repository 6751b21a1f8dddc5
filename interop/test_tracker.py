"""Swarms that find each other only through a tracker: Debian's opentracker on
loopback, over HTTP and over UDP (BEP 15)."""

import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import libtorrent as lt
import pytest

from conftest import download_args, lt_create, make_tree, run_download, seedring_bin
from test_download import LAYOUT, LtSeeder, same_files


def free_port():
    # TCP and UDP both free on the same number.
    for _ in range(50):
        with socket.socket() as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


@pytest.fixture
def start_tracker(tmp):
    """Starts opentracker on a free loopback port for the given info-hashes (Debian
    builds it in whitelist mode: only listed torrents are tracked)."""
    exe = shutil.which("opentracker")
    assert exe, "opentracker is not installed (scripts/test installs it)"
    procs = []

    def start(port, info_hashes):
        # opentracker chroots into -d, then drops root: the whitelist path is inside
        # that folder, and both must be readable by an unprivileged user.
        root = tmp / f"opentracker-{port}"
        root.mkdir(mode=0o755)
        root.chmod(0o755)
        whitelist = root / "whitelist.txt"
        whitelist.write_text("".join(f"{ih}\n" for ih in info_hashes))
        whitelist.chmod(0o644)
        proc = subprocess.Popen(
            [exe, "-i", "127.0.0.1", "-p", str(port), "-P", str(port), "-d", str(root),
             "-w", "whitelist.txt"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        return port

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=10)


def scrape(port, ih_hex):
    """The tracker's counts for a torrent (HTTP scrape): complete, downloaded, ..."""
    q = urllib.parse.quote(bytes.fromhex(ih_hex))
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/scrape?info_hash={q}", timeout=2).read()
    files = lt.bdecode(body).get(b"files", {})
    return next(iter(files.values()), {}) if files else {}


def seeds_known(port, ih_hex):
    return scrape(port, ih_hex).get(b"complete", 0)


def wait_until(what, pred, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise TimeoutError(what)


def wait_for_seeder(seeder, tracker, ih):
    """Registers the libtorrent seeder with the tracker: an HTTP announce made on its
    behalf (its address and port, left=0), so no test waits on libtorrent's own
    announce timing (which backs off after a refused first UDP announce)."""
    q = urllib.parse.quote(bytes.fromhex(ih))
    url = (f"http://127.0.0.1:{tracker}/announce?info_hash={q}&peer_id=-LT2080-000000000000"
           f"&port={seeder.port}&uploaded=0&downloaded=0&left=0&compact=1&event=started")
    urllib.request.urlopen(url, timeout=5).read()
    wait_until("the tracker to count the seeder", lambda: seeds_known(tracker, ih) >= 1, 10)


def seedring_leech(torrent, out):
    """A `seedring download` running in the background (leechers side by side)."""
    return subprocess.Popen(download_args(torrent, out), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("scheme", ["http", "udp"])
def test_download_finds_the_seeder_through_the_tracker(tmp, start_tracker, scheme):
    tracker = free_port()
    url = f"{scheme}://127.0.0.1:{tracker}/announce"
    src = make_tree(tmp / "src" / "tracked", LAYOUT, seed=12)
    torrent = tmp / "t.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only, trackers=[url]))
    ih = str(lt.torrent_info(str(torrent)).info_hashes().v1)
    start_tracker(tracker, [ih])
    seeder = LtSeeder(torrent, tmp / "src")
    try:
        wait_for_seeder(seeder, tracker, ih)
        p = seedring_leech(torrent, tmp / "dst")
        out, err = p.communicate(timeout=120)
    finally:
        seeder.close()
    assert p.returncode == 0, err
    same_files(src, tmp / "dst" / "tracked", LAYOUT)


def test_swarm_of_three_through_opentracker(tmp, start_tracker):
    tracker = free_port()
    url = f"http://127.0.0.1:{tracker}/announce"
    src = make_tree(tmp / "src" / "swarm", LAYOUT, seed=13)
    torrent = tmp / "s.torrent"
    torrent.write_bytes(lt_create(src, 32 * 1024, lt.create_torrent.v1_only, trackers=[url]))
    ih = str(lt.torrent_info(str(torrent)).info_hashes().v1)
    start_tracker(tracker, [ih])
    seeder = LtSeeder(torrent, tmp / "src")
    try:
        wait_for_seeder(seeder, tracker, ih)
        leechers = [seedring_leech(torrent, tmp / f"dst{i}") for i in range(2)]
        results = [p.communicate(timeout=120) for p in leechers]
    finally:
        seeder.close()
    for i, (p, (_, err)) in enumerate(zip(leechers, results)):
        assert p.returncode == 0, f"leecher {i}: {err}"
        same_files(src, tmp / f"dst{i}" / "swarm", LAYOUT)
    # Both seedring leechers announced `completed` (then `stopped` as they exited):
    # the tracker counted two finished downloads.
    wait_until(
        "completed announces",
        lambda: scrape(tracker, ih).get(b"downloaded", 0) >= 2,
        timeout=10,
    )


def test_unreachable_tracker_is_reported_and_peers_still_work(tmp):
    src = make_tree(tmp / "src" / "lonely", LAYOUT, seed=14)
    torrent = tmp / "l.torrent"
    dead = f"http://127.0.0.1:{free_port()}/announce"  # nothing listens there
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only, trackers=[dead]))
    seeder = LtSeeder(torrent, tmp / "src")
    try:
        proc = run_download(torrent, tmp / "dst", "--peer", f"127.0.0.1:{seeder.port}")
    finally:
        seeder.close()
    assert f"tracker {dead}:" in proc.stderr, proc.stderr
    same_files(src, tmp / "dst" / "lonely", LAYOUT)


def test_scrape_reports_the_swarm_over_http_and_udp(tmp, start_tracker):
    # One opentracker serves both protocols from one swarm table. libtorrent registers
    # over HTTP (its first tier); seedring then scrapes both.
    tracker = free_port()
    http = f"http://127.0.0.1:{tracker}/announce"
    udp = f"udp://127.0.0.1:{tracker}/announce"
    src = make_tree(tmp / "src" / "scraped", {"x.bin": 100_000}, seed=15)
    torrent = tmp / "x.torrent"
    torrent.write_bytes(lt_create(src, 16 * 1024, lt.create_torrent.v1_only, trackers=[http, udp]))
    ih = str(lt.torrent_info(str(torrent)).info_hashes().v1)
    start_tracker(tracker, [ih])
    seeder = LtSeeder(torrent, tmp / "src")
    try:
        wait_for_seeder(seeder, tracker, ih)
        proc = subprocess.run([seedring_bin(), "scrape", str(torrent), "--json"],
                              capture_output=True, text=True, timeout=60)
    finally:
        seeder.close()
    assert proc.returncode == 0, proc.stderr + proc.stdout
    import json
    rows = {r["tracker"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert rows[http]["complete"] == 1, rows
    assert rows[udp]["complete"] == 1, rows


def test_torrent_added_through_control_announces_and_completes(tmp, start_tracker):
    """A torrent added to a running seedring (`download --control`, `add`) is
    announced by the engine itself: it finds the libtorrent seeder through
    opentracker, completes, and the tracker counts the finished download."""
    from test_resume import Controlled

    tracker = free_port()
    url = f"http://127.0.0.1:{tracker}/announce"
    # The main torrent is complete already: seedring seeds it and keeps running.
    main_src = make_tree(tmp / "main" / "first", {"f.bin": 50_000}, seed=16)
    main = tmp / "first.torrent"
    main.write_bytes(lt_create(main_src, 16 * 1024, lt.create_torrent.v1_only))
    src = make_tree(tmp / "src" / "added", LAYOUT, seed=17)
    added = tmp / "added.torrent"
    added.write_bytes(lt_create(src, 32 * 1024, lt.create_torrent.v1_only, trackers=[url]))
    ih = str(lt.torrent_info(str(added)).info_hashes().v1)
    start_tracker(tracker, [ih])
    seeder = LtSeeder(added, tmp / "src")
    ctl = Controlled(main, tmp / "main", "--seed")
    try:
        wait_for_seeder(seeder, tracker, ih)
        ctl.cmd(f"add {added} {tmp / 'dst'}")

        def complete():
            st = ctl.stats(ih)
            return st["total_pieces"] > 0 and st["have_pieces"] == st["total_pieces"]

        wait_until("the added torrent to complete", complete, timeout=60)
        # `completed` reached the tracker: one finished download, two seeds.
        wait_until("the completed announce",
                   lambda: scrape(tracker, ih).get(b"downloaded", 0) >= 1, timeout=10)
        assert seeds_known(tracker, ih) == 2
        assert ctl.stop() == 0
        # `stopped` on the way out: the tracker forgets seedring, not libtorrent.
        wait_until("the stopped announce", lambda: seeds_known(tracker, ih) == 1, timeout=10)
    finally:
        seeder.close()
        if ctl.proc.poll() is None:
            ctl.proc.kill()
    same_files(src, tmp / "dst" / "added", LAYOUT)


def test_the_daemon_shows_the_swarm_as_the_tracker_counts_it(tmp, start_tracker):
    """Over the qBittorrent WebAPI (the Python client the *arr tools use): the
    tracker row carries opentracker's counts from its announce answer, the
    torrent its swarm size, the DHT, PeX and LSD rows whether each runs, and
    the web seeds list the torrent's `url-list`."""
    import qbittorrentapi
    from qbit_common import PASSWORD, USER, SeedringQb

    tracker = free_port()
    url = f"http://127.0.0.1:{tracker}/announce"
    web = f"http://127.0.0.1:{free_port()}/files/"  # nothing answers: it backs off
    src = make_tree(tmp / "src" / "counted", LAYOUT, seed=18)
    fs = lt.file_storage()
    lt.add_files(fs, str(src))
    ct = lt.create_torrent(fs, 32 * 1024, flags=lt.create_torrent.v1_only)
    ct.add_tracker(url, 0)
    ct.add_url_seed(web)
    lt.set_piece_hashes(ct, str(src.parent))
    torrent = tmp / "counted.torrent"
    torrent.write_bytes(lt.bencode(ct.generate()))
    ih = str(lt.torrent_info(str(torrent)).info_hashes().v1)
    start_tracker(tracker, [ih])
    seeder = LtSeeder(torrent, tmp / "src")
    d = SeedringQb(tmp / "sr", {"default": tmp / "sr" / "dl"})
    try:
        wait_for_seeder(seeder, tracker, ih)
        c = qbittorrentapi.Client(host=d.host, port=int(d.port), username=USER,
                                  password=PASSWORD, REQUESTS_ARGS={"timeout": 30})
        c.auth_log_in()
        assert c.torrents_add(torrent_files=str(torrent)) == "Ok."

        def done():
            got = c.torrents_info(torrent_hashes=ih)
            return bool(got) and got[0].progress == 1

        wait_until("the download", done, timeout=120)
        # Complete, it owes `completed`: after that answer opentracker counts
        # two seeds (libtorrent's registration and seedring) and one download.
        def counted():
            row = next(r for r in c.torrents_trackers(torrent_hash=ih) if r.url == url)
            return row.status == 2 and row.num_seeds == 2

        wait_until("the tracker's counts", counted, timeout=30)
        rows = {r.url: r for r in c.torrents_trackers(torrent_hash=ih)}
        row = rows[url]
        assert (row.num_seeds, row.num_leeches, row.num_downloaded) == (2, 0, 1), row
        assert row.num_peers >= 0, row
        # The config: the DHT and PeX on, LSD off; the torrent is public.
        assert rows["** [DHT] **"].status == 2 and rows["** [PeX] **"].status == 2
        assert rows["** [LSD] **"].status == 0
        assert all(rows[n].msg == "" for n in ("** [DHT] **", "** [PeX] **"))
        t = c.torrents_info(torrent_hashes=ih)[0]
        assert (t.num_complete, t.num_incomplete) == (2, 0), t
        # Complete: availability is qBittorrent's "unknown".
        assert t.availability == -1
        assert [w.url for w in c.torrents_webseeds(torrent_hash=ih)] == [web]
    finally:
        seeder.close()
        code = d.stop()
    assert code == 0, d.log_path.read_text()
