//! A torrent removed with its files at a moment its files are busy on disk:
//! - added again at once (as a user or an *arr tool does to start a download
//!   over): the new torrent's files are prepared after the old ones are
//!   deleted, never in between, so the deletion never takes the files just
//!   made for it, nor makes their preparation fail;
//! - removed while its files are being prepared (added by mistake and taken
//!   back): its files are deleted once they are made, none left behind;
//! - removed while it moves to another root (an *arr tool removing a download
//!   it has imported while a category change moves it): its files are
//!   deleted where the move leaves them, none left behind at either root.
//!
//! The root is a FUSE filesystem (`cutfs`) that answers one lookup of the
//! torrent's folder, or one rename, a second late, as a slow or busy disk
//! would, while it serves everything else at once: whatever overlaps,
//! overlaps.
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

/// Outside the mount namespace: runs test `name` again inside one, checks
/// that its output says `done`, and answers true (the caller is finished).
fn reran_in_namespace(name: &str, done: &str) -> bool {
    if netns::inside(MARKER) {
        return false;
    }
    let out = netns::rerun_in(name, MARKER, &["-m"], "mount --make-rprivate /");
    assert!(out.contains(done), "{out}");
    true
}

/// A daemon whose default root is a `cutfs` mount, and a torrent of
/// [`FILES`] files it has none of.
struct Setup {
    d: Daemon,
    src: std::path::PathBuf,
    fs: cutfs::CutFs,
    root: std::path::PathBuf,
    torrent: Vec<u8>,
    // Dropped last: unmounted, then the folders go.
    _mounted: cutfs::Mounted,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    // The torrent, made from data outside the root: the daemon has none of it.
    let src = dir.path().join("src");
    for i in 0..FILES {
        let f = file(&src, i);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, vec![b"abcdefghijklmnopqrst"[i]; 20_000 + i * 1_000]).unwrap();
    }
    let torrent = cli_common::create(&src.join("many"), &dir.path().join("many.torrent"), &[]);
    let torrent = std::fs::read(torrent).unwrap();
    let root = dir.path().join("downloads");
    std::fs::create_dir_all(&root).unwrap();
    let fs = cutfs::CutFs::new();
    let mounted = fs.mount(&root);
    // A second root on the same filesystem: a move there renames.
    std::fs::create_dir_all(root.join("other")).unwrap();
    let other = format!(
        "[[roots]]\ntoken = \"other\"\npath = \"{}\"\n",
        root.join("other").display()
    );
    let d = Daemon::start(dir.path(), &other);
    Setup {
        d,
        src,
        fs,
        root,
        torrent,
        _mounted: mounted,
        _dir: dir,
    }
}

impl Setup {
    /// Adds the torrent; its id.
    fn add(&self) -> String {
        let r = self.d.add_torrent(&self.torrent, "");
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn remove_with_files(&self, id: &str) {
        let r = self.d.delete(&format!("/torrents/{id}?delete_files=true"));
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
}

#[test]
fn a_torrent_removed_with_its_files_and_added_again_keeps_its_new_files() {
    if reran_in_namespace(
        "a_torrent_removed_with_its_files_and_added_again_keeps_its_new_files",
        "re-added: 3 rounds",
    ) {
        return;
    }
    let s = setup();
    let (d, fs, root) = (&s.d, &s.fs, &s.root);
    let add = || {
        let id = s.add();
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
        s.remove_with_files(&id);
        let (_, t) = add();
        assert!(t["error"].is_null(), "round {round}: {t}");
        // Past the end of a deletion that would still run beside it.
        std::thread::sleep(Duration::from_millis(1_500));
        let missing: Vec<usize> = (0..FILES).filter(|i| !file(root, *i).exists()).collect();
        assert!(
            missing.is_empty(),
            "round {round}: files of the new torrent deleted: {missing:?}"
        );
        let t = d.get_json(&format!("/torrents/{id}"));
        assert!(t["error"].is_null(), "round {round}: {t}");
    }
    eprintln!("re-added: 3 rounds");
}

#[test]
fn a_torrent_removed_while_its_files_are_prepared_leaves_none() {
    if reran_in_namespace(
        "a_torrent_removed_while_its_files_are_prepared_leaves_none",
        "removed while prepared: 3 rounds",
    ) {
        return;
    }
    let s = setup();
    for round in 0..3 {
        // The first lookup of the torrent's folder after this is its
        // preparation's, which the removal overtakes.
        s.fs.delay_next_lookup("many", Duration::from_secs(1));
        let id = s.add();
        s.remove_with_files(&id);
        // Past the end of a preparation that would still run after it.
        std::thread::sleep(Duration::from_millis(1_500));
        let left: Vec<usize> = (0..FILES).filter(|i| file(&s.root, *i).exists()).collect();
        assert!(
            left.is_empty() && !s.root.join("many").exists(),
            "round {round}: files of the removed torrent left behind: {left:?} {:?}",
            tree(&s.root)
        );
    }
    eprintln!("removed while prepared: 3 rounds");
}

/// Everything under `p`, for a failure's message.
fn tree(p: &Path) -> Vec<String> {
    let mut out = vec![];
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        out.push(e.path().display().to_string());
        out.extend(tree(&e.path()));
    }
    out
}

#[test]
fn a_torrent_removed_with_its_files_while_it_moves_leaves_none() {
    if reran_in_namespace(
        "a_torrent_removed_with_its_files_while_it_moves_leaves_none",
        "removed while moving: 3 rounds",
    ) {
        return;
    }
    let s = setup();
    let other = s.root.join("other");
    for round in 0..3 {
        // Complete in the default root: it seeds once checked.
        for i in 0..FILES {
            let to = file(&s.root, i);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(file(&s.src, i), to).unwrap();
        }
        let id = s.add();
        s.d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
        // The move's first rename is held back a second; the removal comes
        // meanwhile, once the move has begun (it may first read the
        // torrent's piece hashes back from the store).
        s.fs.delay_next_rename(Duration::from_secs(1));
        let r = s.d.post_json(
            &format!("/torrents/{id}/move"),
            &serde_json::json!({"root": "other"}),
        );
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        std::thread::sleep(Duration::from_millis(300));
        s.remove_with_files(&id);
        // Past the end of a move and a deletion that would run side by side.
        std::thread::sleep(Duration::from_millis(2_000));
        let left: Vec<String> = (0..FILES)
            .flat_map(|i| [file(&s.root, i), file(&other, i)])
            .filter(|f| f.exists())
            .map(|f| f.display().to_string())
            .collect();
        assert!(
            left.is_empty() && !s.root.join("many").exists() && !other.join("many").exists(),
            "round {round}: files of the removed torrent left behind: {left:?} {:?}",
            tree(&s.root)
        );
    }
    eprintln!("removed while moving: 3 rounds");
}
