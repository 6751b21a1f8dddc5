"""The Python client the *arr scripts use (`qbittorrent-api` from PyPI) drives
seedring through a whole session: login, a category on a second root, adds by
magnet and by file, downloads from a libtorrent seeder, files, trackers,
properties, tags, share limits (a ratio reached pauses the torrent), delete
with files."""

import time

import libtorrent as lt
import qbittorrentapi
import requests

from conftest import lt_create, make_tree
from qbit_common import PASSWORD, USER, SeedringQb
from test_download import LAYOUT, LtSeeder, wait_for

SEEDING = {"uploading", "stalledUP"}


def state(client, ih):
    got = client.torrents_info(torrent_hashes=ih)
    return got[0].state if got else None


def test_a_whole_session_through_qbittorrent_api(tmp):
    src = make_tree(tmp / "src" / "album", LAYOUT, seed=41)
    torrent = tmp / "album.torrent"
    torrent.write_bytes(lt_create(src, 64 * 1024, lt.create_torrent.v1_only))
    ti = lt.torrent_info(str(torrent))
    ih = ti.info_hash().to_bytes().hex()
    other_src = make_tree(tmp / "src2" / "single", {"one.bin": 300_000}, seed=42)
    other = tmp / "single.torrent"
    other.write_bytes(lt_create(other_src / "one.bin", 32 * 1024, lt.create_torrent.v1_only))
    other_ih = lt.torrent_info(str(other)).info_hash().to_bytes().hex()

    seeder = LtSeeder(torrent, tmp / "src")
    seeder2 = LtSeeder(other, tmp / "src2" / "single")
    music = tmp / "disk2" / "music"
    d = SeedringQb(tmp / "sr", {"default": tmp / "sr" / "dl", "disk2": tmp / "disk2"})
    try:
        c = qbittorrentapi.Client(host=d.host, port=int(d.port), username=USER,
                                  password=PASSWORD, REQUESTS_ARGS={"timeout": 30})
        c.auth_log_in()
        assert c.app.version == "v4.5.2"
        assert c.app.web_api_version == "2.8.19"
        prefs = c.app.preferences
        # As the config file sets them: the DHT on (loopback, no bootstrap), the
        # default encryption (allowed: 0).
        assert prefs["dht"] is True and prefs["pex"] is True and prefs["lsd"] is False
        assert prefs["encryption"] == 0
        c.torrents_create_category(name="music", save_path=str(music))
        assert c.torrent_categories.categories["music"]["savePath"] == str(music)

        # By file, filed under the category: its data goes to the second root.
        assert c.torrents_add(torrent_files=str(torrent), category="music",
                              tags="flac") == "Ok."
        # By magnet, with a share limit from the start.
        magnet = f"magnet:?xt=urn:btih:{other_ih}&dn=single"
        assert c.torrents_add(urls=magnet, category="music", ratio_limit=1.0) == "Ok."
        wait_for("both torrents listed", lambda: len(c.torrents_info(category="music")) == 2, 30)
        c.torrents_add_peers(peers=f"127.0.0.1:{seeder.port}", torrent_hashes=ih)
        c.torrents_add_peers(peers=f"127.0.0.1:{seeder2.port}", torrent_hashes=other_ih)
        wait_for("the file's download", lambda: state(c, ih) in SEEDING, 120)
        wait_for("the magnet's download", lambda: state(c, other_ih) in SEEDING, 120)
        for rel in LAYOUT:
            assert (music / "album" / rel).read_bytes() == (src / rel).read_bytes(), rel
        assert (music / "one.bin").read_bytes() == (other_src / "one.bin").read_bytes()

        t = c.torrents_info(torrent_hashes=ih)[0]
        assert t.category == "music" and t.tags == "flac" and t.progress == 1
        assert t.save_path.rstrip("/") == str(music)
        files = c.torrents_files(torrent_hash=ih)
        assert sorted(f.name for f in files) == sorted(f"album/{p}" for p in LAYOUT)
        assert all(f.progress == 1 for f in files)
        props = c.torrents_properties(torrent_hash=ih)
        assert props.pieces_have == props.pieces_num == ti.num_pieces()
        assert props.total_size == sum(LAYOUT.values())
        assert [tr.url for tr in c.torrents_trackers(torrent_hash=ih)][:3] == [
            "** [DHT] **", "** [PeX] **", "** [LSD] **"]
        assert c.torrents_piece_states(torrent_hash=ih) == [2] * ti.num_pieces()

        c.torrents_add_tags(tags="lossless,keep", torrent_hashes=ih)
        assert c.torrents_info(torrent_hashes=ih)[0].tags == "flac, keep, lossless"
        c.torrents_remove_tags(tags="keep", torrent_hashes=ih)
        assert c.torrents_info(torrent_hashes=ih)[0].tags == "flac, lossless"
        assert set(c.torrents_tags()) >= {"flac", "lossless", "keep"}

        # A leecher takes the magnet torrent once: ratio 1.0 reached, paused.
        ses = lt.session({"listen_interfaces": "127.0.0.1:0", "enable_dht": False,
                          "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
                          "allow_multiple_connections_per_ip": True})
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(str(other))
        atp.save_path = str(tmp / "leech")
        atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        seeder2.close()
        h = ses.add_torrent(atp)
        h.connect_peer(("127.0.0.1", d.peer_port))
        wait_for("libtorrent to download from seedring", lambda: h.status().is_seeding, 120)
        wait_for("the ratio limit to pause it", lambda: state(c, other_ih) == "pausedUP", 30)
        assert c.torrents_info(torrent_hashes=other_ih)[0].ratio >= 1.0
        del h, ses

        # Share limits set afterwards show in the list.
        c.torrents_set_share_limits(ratio_limit=3, seeding_time_limit=120,
                                    inactive_seeding_time_limit=-2,
                                    share_limit_action="RemoveWithContent", torrent_hashes=ih)
        t = c.torrents_info(torrent_hashes=ih)[0]
        assert (t.ratio_limit, t.seeding_time_limit, t.max_ratio) == (3, 120, 3)
        # qBittorrent 5's action of this torrent at its limits: seedring's
        # qBittorrent lists have 4.5's fields, so the native API shows it.
        token = (tmp / "sr" / "data" / "admin.token").read_text().strip()
        own = requests.get(f"{d.url}/api/v1/torrents/{ih}", timeout=10,
                           headers={"Authorization": f"Bearer {token}"}).json()["share_limits"]
        assert own["share_limit_action"] == "remove_with_files", own

        # Deleted with its files.
        c.torrents_delete(delete_files=True, torrent_hashes=ih)
        wait_for("the delete", lambda: not c.torrents_info(torrent_hashes=ih), 30)
        wait_for("its files to go", lambda: not (music / "album" / "a.bin").exists(), 30)
        assert (music / "one.bin").exists(), "the other torrent's data was touched"
        c.auth_log_out()
    finally:
        seeder.close()
        code = d.stop()
    assert code == 0, d.log_path.read_text()


def test_a_download_under_way_shows_its_pieces_and_their_availability(tmp):
    """While a torrent downloads from a slow libtorrent seeder: pieceStates
    marks pieces being downloaded (1) between those had (2) and not (0), the
    list's availability counts the seeder's copy, each file's availability is
    the share of its pieces a peer has; once complete, both are -1."""
    src = make_tree(tmp / "src" / "slow", {"a.bin": 600_000, "b.bin": 300_000}, seed=43)
    torrent = tmp / "slow.torrent"
    torrent.write_bytes(lt_create(src, 16 * 1024, lt.create_torrent.v1_only))
    ih = lt.torrent_info(str(torrent)).info_hash().to_bytes().hex()
    seeder = LtSeeder(torrent, tmp / "src")
    # Loopback is a local network, which libtorrent does not limit by default.
    seeder.ses.apply_settings({"upload_rate_limit": 150_000,
                               "ignore_limits_on_local_network": False})
    d = SeedringQb(tmp / "sr", {"default": tmp / "sr" / "dl"})
    try:
        c = qbittorrentapi.Client(host=d.host, port=int(d.port), username=USER,
                                  password=PASSWORD, REQUESTS_ARGS={"timeout": 30})
        c.auth_log_in()
        assert c.torrents_add(torrent_files=str(torrent)) == "Ok."
        wait_for("listed", lambda: len(c.torrents_info(torrent_hashes=ih)) == 1, 30)
        c.torrents_add_peers(peers=f"127.0.0.1:{seeder.port}", torrent_hashes=ih)
        seen = {}

        def under_way():
            states = c.torrents_piece_states(torrent_hash=ih)
            t = c.torrents_info(torrent_hashes=ih)[0]
            if 1 in states and 2 in states and t.progress < 1:
                seen.update(states=states, t=t, files=c.torrents_files(torrent_hash=ih))
                return True
            return False

        wait_for("a piece on its way", under_way, 60)
        assert set(seen["states"]) <= {0, 1, 2}, seen["states"]
        # One seed connected: one whole copy.
        assert seen["t"].availability == 1, seen["t"]
        assert all(f.availability == 1 for f in seen["files"]), seen["files"]
        wait_for("the download", lambda: state(c, ih) in SEEDING, 120)
        assert c.torrents_piece_states(torrent_hash=ih) == [2] * len(seen["states"])
        assert c.torrents_info(torrent_hashes=ih)[0].availability == -1
        assert all(f.availability == -1 for f in c.torrents_files(torrent_hash=ih))
    finally:
        seeder.close()
        code = d.stop()
    assert code == 0, d.log_path.read_text()


def test_ban_peers_refuses_them_and_shows_in_the_preferences(tmp):
    """transfer/banPeers through the Python client: the address joins
    banned_IPs, a connection from it is refused before a byte is answered;
    setPreferences with banned_IPs emptied lets it in again."""
    import socket

    src = make_tree(tmp / "dl" / "banned", {"b.bin": 100_000}, seed=44)
    torrent = tmp / "banned.torrent"
    torrent.write_bytes(lt_create(src / "b.bin", 16 * 1024, lt.create_torrent.v1_only))
    ih = lt.torrent_info(str(torrent)).info_hash().to_bytes().hex()
    d = SeedringQb(tmp / "sr", {"default": tmp / "dl" / "banned"})

    def answered(frm):
        with socket.socket() as s:
            s.bind((frm, 0))
            s.settimeout(10)
            s.connect(("127.0.0.1", d.peer_port))
            try:
                s.sendall(b"\x13BitTorrent protocol" + bytes(8) + bytes.fromhex(ih) + b"-PY0001-" + bytes(12))
                got = b""
                while len(got) < 68:
                    part = s.recv(68 - len(got))
                    if not part:
                        return False
                    got += part
                return got[1:20] == b"BitTorrent protocol"
            except OSError:
                return False

    try:
        c = qbittorrentapi.Client(host=d.host, port=int(d.port), username=USER,
                                  password=PASSWORD, REQUESTS_ARGS={"timeout": 30})
        c.auth_log_in()
        assert c.torrents_add(torrent_files=str(torrent)) == "Ok."
        wait_for("seeding", lambda: state(c, ih) in SEEDING, 60)
        assert answered("127.0.0.5")
        c.transfer_ban_peers(peers="127.0.0.5:6881|[::ffff:127.0.0.8]:1")
        assert c.app.preferences["banned_IPs"] == "127.0.0.5\n127.0.0.8"
        assert not answered("127.0.0.5") and not answered("127.0.0.8")
        c.app_set_preferences({"banned_IPs": ""})
        assert c.app.preferences["banned_IPs"] == ""
        assert answered("127.0.0.5")
    finally:
        code = d.stop()
    assert code == 0, d.log_path.read_text()
