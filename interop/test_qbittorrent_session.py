"""This run's numbers through the qBittorrent API, with qbittorrent-api: a
torrent downloaded from a libtorrent seeder counts its bytes in
`downloaded_session` (torrents/info), `total_downloaded_session`
(torrents/properties), `dl_info_data` (transfer/info) and the server state of
sync/maindata; after a restart its all-time `downloaded` stays and the
session's numbers start again from 0; a torrent removed keeps its bytes in the
session's total."""

import time

import libtorrent as lt
import qbittorrentapi

from conftest import lt_create, make_tree
from qbit_common import PASSWORD, USER, SeedringQb
from test_download import LtSeeder, wait_for

SIZE = 3_000_000


def client(d):
    c = qbittorrentapi.Client(host=d.host, port=int(d.port), username=USER,
                              password=PASSWORD, REQUESTS_ARGS={"timeout": 30})
    c.auth_log_in()
    return c


def test_session_numbers_count_this_run(tmp):
    src = make_tree(tmp / "src" / "s", {"s.bin": SIZE}, seed=9)
    torrent = tmp / "s.torrent"
    torrent.write_bytes(lt_create(src / "s.bin", 65536, lt.create_torrent.v1_only))
    ih = lt.torrent_info(str(torrent)).info_hash().to_bytes().hex()
    seeder = LtSeeder(torrent, src)
    d = SeedringQb(tmp / "sr", {"default": tmp / "sr" / "dl"})
    try:
        c = client(d)
        assert c.transfer_info().dl_info_data == 0
        assert c.torrents_add(torrent_files=str(torrent)) == "Ok."
        wait_for("listed", lambda: len(c.torrents_info(torrent_hashes=ih)) == 1, 30)
        c.torrents_add_peers(peers=f"127.0.0.1:{seeder.port}", torrent_hashes=ih)
        wait_for("the download", lambda: c.torrents_info(torrent_hashes=ih)[0].progress == 1, 60)
        t = c.torrents_info(torrent_hashes=ih)[0]
        assert t.downloaded >= SIZE and t.downloaded_session == t.downloaded
        assert c.torrents_properties(torrent_hash=ih).total_downloaded_session == t.downloaded
        assert c.transfer_info().dl_info_data >= SIZE
        assert c.sync_maindata().server_state.dl_info_data >= SIZE

        assert d.stop() == 0
        d.start()
        c = client(d)
        wait_for("restored", lambda: len(c.torrents_info(torrent_hashes=ih)) == 1, 30)
        t = c.torrents_info(torrent_hashes=ih)[0]
        assert t.downloaded >= SIZE, t
        assert (t.downloaded_session, t.uploaded_session) == (0, 0), t
        assert c.torrents_properties(torrent_hash=ih).total_downloaded_session == 0
        assert c.transfer_info().dl_info_data == 0
        state = c.sync_maindata().server_state
        assert state.dl_info_data == 0 and state.alltime_dl >= SIZE, state

        # Downloaded again this run, then removed: the run's total keeps it.
        c.torrents_delete(delete_files=True, torrent_hashes=ih)
        wait_for("removed", lambda: len(c.torrents_info(torrent_hashes=ih)) == 0, 30)
        time.sleep(0.5)
        assert c.torrents_add(torrent_files=str(torrent)) == "Ok."
        wait_for("listed", lambda: len(c.torrents_info(torrent_hashes=ih)) == 1, 30)
        c.torrents_add_peers(peers=f"127.0.0.1:{seeder.port}", torrent_hashes=ih)
        wait_for("the download", lambda: c.torrents_info(torrent_hashes=ih)[0].progress == 1, 60)
        c.torrents_delete(delete_files=True, torrent_hashes=ih)
        wait_for("removed", lambda: len(c.torrents_info(torrent_hashes=ih)) == 0, 30)
        assert c.transfer_info().dl_info_data >= SIZE
    finally:
        seeder.close()
        code = d.stop()
    assert code == 0, d.log_path.read_text()
