//! A torrent removed with its files and added again at once (as a user or an
//! *arr tool does to start a download over): the new torrent's files are
//! prepared after the old ones are deleted, never in between, so the deletion
//! never takes the files just made for it, nor makes their preparation fail.
//!
//! The root is a FUSE filesystem (`cutfs`) that answers the deletion's first
//! lookup a second late, as a slow or busy disk would, while it serves
//! everything else at once: whatever overlaps, overlaps.
//! Runs in a mount namespace of its own (nothing outside sees the mount).
// Real daemons take real time: the test waits on the wall clock.
#![allow(clippy::disallowed_methods)]

mod cutfs;
mod daemon_common;
mod netns;

use std::path::Path;
use std::time::Duration;

use daemon_common::{Daemon, cli_common};
use reqwest::StatusCode;
use serde_json::Value;

const MARKER: &str = "SEEDRING_REMOVE_INSIDE";
/// Files in the torrent.
const FILES: usize = 20;

fn file(root: &Path, i: usize) -> std::path::PathBuf {
    root.join(format!("many/d{}/f{i:02}.bin", i % 3))
}

#[test]
fn a_torrent_removed_with_its_files_and_added_again_keeps_its_new_files() {
    if !netns::inside(MARKER) {
        let name = "a_torrent_removed_with_its_files_and_added_again_keeps_its_new_files";
        let out = netns::rerun_in(name, MARKER, &["-m"], "mount --make-rprivate /");
        assert!(out.contains("re-added: 3 rounds"), "{out}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The torrent, made from data outside the root: the daemon has none of it.
    let src = dir.path().join("src");
    for i in 0..FILES {
        let f = file(&src, i);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, vec![b"abcdefghijklmnopqrst"[i]; 20_000 + i * 1_000]).unwrap();
    }
    let torrent = cli_common::create(&src.join("many"), &dir.path().join("many.torrent"), &[]);
    let bytes = std::fs::read(torrent).unwrap();
    let root = dir.path().join("downloads");
    std::fs::create_dir_all(&root).unwrap();
    let fs = cutfs::CutFs::new();
    let _mounted = fs.mount(&root);
    let d = Daemon::start(dir.path(), "");
    let add = || {
        let r = d.add_torrent(&bytes, "");
        assert_eq!(r.status(), StatusCode::CREATED);
        let id = r.json::<Value>().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let t = d.wait_for(&id, "its files prepared", |t| {
            t["state"] == "downloading" || !t["error"].is_null()
        });
        (id, t)
    };
    let (id, t) = add();
    assert!(t["error"].is_null(), "{t}");
    for round in 0..3 {
        // The first lookup of the torrent's folder after this is the deletion's.
        fs.delay_next_lookup("many", Duration::from_secs(1));
        let r = d.delete(&format!("/torrents/{id}?delete_files=true"));
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let (_, t) = add();
        assert!(t["error"].is_null(), "round {round}: {t}");
        // Past the end of a deletion that would still run beside it.
        std::thread::sleep(Duration::from_millis(1_500));
        let missing: Vec<usize> = (0..FILES).filter(|i| !file(&root, *i).exists()).collect();
        assert!(
            missing.is_empty(),
            "round {round}: files of the new torrent deleted: {missing:?}"
        );
        let t = d.get_json(&format!("/torrents/{id}"));
        assert!(t["error"].is_null(), "round {round}: {t}");
    }
    eprintln!("re-added: 3 rounds");
}
