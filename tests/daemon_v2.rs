//! A v2-only torrent in the daemon: added over the API (its v2 hash shown,
//! its id the hash's first 20 bytes), seeding; killed and started again it
//! comes back from LMDB seeding without a recheck, with its v2 hash; a
//! recheck reads its piece roots back from the store and passes; one byte
//! changed on disk and rechecked, one piece is missing from what it has.
// Real processes take real time: the test waits on the wall clock.
#![allow(clippy::disallowed_methods)]

mod daemon_common;

use std::time::Duration;

use daemon_common::{Daemon, cli_common};
use seedring::metainfo::Metainfo;
use serde_json::Value;

#[test]
fn a_v2_only_torrent_seeds_survives_a_kill_and_rechecks() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let data: Vec<u8> = (0..3_000_000u64)
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[2])
        .collect();
    std::fs::write(src.join("film.mkv"), &data).unwrap();
    let t = cli_common::create(
        &src.join("film.mkv"),
        &dir.path().join("film.torrent"),
        &["--v2", "--piece-length", "64K"],
    );
    let bytes = std::fs::read(&t).unwrap();
    let meta = Metainfo::from_bytes(&bytes).unwrap();
    assert!(meta.is_v2_only());
    let v2 = meta.v2.as_ref().unwrap().info_hash_hex();
    let id = meta.info_hash.to_hex();
    assert_eq!(id, v2[..40]);
    let pieces = u64::from(meta.info.geometry.piece_count());
    {
        let d = Daemon::start(dir.path(), "");
        std::fs::write(dir.path().join("downloads/film.mkv"), &data).unwrap();
        let added: Value = d.add_torrent(&bytes, "").json().unwrap();
        assert_eq!(added["id"], id.as_str());
        let t = d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
        assert_eq!(t["info_hash_v2"], v2.as_str());
        assert_eq!(t["pieces"], pieces);
        std::thread::sleep(Duration::from_millis(1500));
        d.signal("KILL");
    }
    let d = Daemon::start(dir.path(), "");
    let t = d.get_json(&format!("/torrents/{id}"));
    assert_eq!(t["state"], "seeding", "no recheck needed: {t}");
    assert_eq!(t["info_hash_v2"], v2.as_str(), "{t}");
    // Restored complete, it holds no hashes: the recheck reads the piece roots
    // back from the store and passes.
    assert!(
        d.post(&format!("/torrents/{id}/recheck"))
            .status()
            .is_success()
    );
    d.wait_for(&id, "seeding after the recheck", |t| {
        t["state"] == "seeding" && t["have_pieces"] == pieces
    });
    // One byte changed: rechecked, exactly one piece is no longer had.
    let path = dir.path().join("downloads/film.mkv");
    let mut bad = data.clone();
    bad[1_500_000] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    assert!(
        d.post(&format!("/torrents/{id}/recheck"))
            .status()
            .is_success()
    );
    let t = d.wait_for(&id, "one piece short after the recheck", |t| {
        t["state"] != "checking" && t["have_pieces"] == pieces - 1
    });
    assert_eq!(t["have_pieces"], pieces - 1, "{t}");
}
