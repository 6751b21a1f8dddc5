//! A session store LMDB cannot read (its first page overwritten) does not keep
//! the daemon from starting: it says so, sets the store aside, starts empty, and
//! a torrent added again finds its data on disk intact and seeds it.
// Tests wait on a real daemon with the wall clock.
#![allow(clippy::disallowed_methods)]

mod daemon_common;

use std::time::Duration;

use daemon_common::{Daemon, make_torrent};
use serde_json::Value;

#[test]
fn a_damaged_store_is_set_aside_and_the_daemon_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (t, data) = make_torrent(dir.path(), "album.flac", 1 << 20);
    let bytes = std::fs::read(&t).unwrap();
    {
        let d = Daemon::start(dir.path(), "");
        std::fs::write(dir.path().join("downloads/album.flac"), &data).unwrap();
        let added: Value = d.add_torrent(&bytes, "").json().unwrap();
        let id = added["id"].as_str().unwrap().to_owned();
        d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
        std::thread::sleep(Duration::from_millis(1500));
        d.signal("TERM");
        let mut d = d;
        d.child.wait().unwrap();
    }
    let store = dir.path().join("data/state/data.mdb");
    let mut raw = std::fs::read(&store).unwrap();
    raw[..4096].fill(0);
    std::fs::write(&store, raw).unwrap();

    let d = Daemon::start(dir.path(), "");
    let log = d.stderr();
    assert!(log.contains("set aside"), "{log}");
    assert!(log.contains("MDB_INVALID"), "{log}");
    let aside: Vec<_> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("state.damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(d.get_json("/torrents")["total"], 0);
    // The data was never touched: added again, it is checked and seeded.
    let added: Value = d.add_torrent(&bytes, "").json().unwrap();
    let id = added["id"].as_str().unwrap().to_owned();
    d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
    assert_eq!(
        std::fs::read(dir.path().join("downloads/album.flac")).unwrap(),
        data
    );
}
