//! Renaming a torrent's files in a real daemon over `/api/v1`: a file and a
//! folder take new names on disk and in the file list, the data still checks
//! whole, the names outlive a restart (the state record keeps them), and a
//! torrent whose files were renamed behind its back finds them once given
//! those names and rechecked; a name that climbs out (`..`), one that is taken, a foreign file
//! in the way and a name that is not there are refused with why, and nothing
//! on disk changes.
#![allow(clippy::disallowed_methods)] // a test's deadline reads the clock

mod daemon_common;

use std::path::Path;

use daemon_common::{Daemon, config_text};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn put_path(d: &Daemon, id: &str, from: &str, to: &str) -> (StatusCode, Value) {
    let r = d
        .authed(d.http.put(d.url(&format!("/torrents/{id}/paths"))))
        .json(&json!({"from": from, "to": to}))
        .send()
        .unwrap();
    let code = r.status();
    (code, r.json().unwrap_or(Value::Null))
}

fn names(d: &Daemon, id: &str) -> Vec<String> {
    let mut v: Vec<String> = d
        .get_json(&format!("/torrents/{id}/files"))
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn files_and_folders_take_new_names_that_last() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let src = p.join("src/album");
    std::fs::create_dir_all(src.join("cd1")).unwrap();
    std::fs::write(src.join("cover.jpg"), vec![1u8; 70_000]).unwrap();
    std::fs::write(src.join("cd1/01.flac"), vec![2u8; 300_000]).unwrap();
    std::fs::write(src.join("cd1/02.flac"), vec![3u8; 200_000]).unwrap();
    let torrent = p.join("album.torrent");
    daemon_common::cli_common::create(&src, &torrent, &["--piece-length", "32K"]);
    let downloads = p.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    copy_tree(&p.join("src"), &downloads);
    std::fs::write(p.join("seedring.toml"), config_text(p, "")).unwrap();
    let mut d = Daemon::start(p, "");
    let r = d.add_torrent(&std::fs::read(&torrent).unwrap(), "");
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    d.wait_for(&id, "seeding", |t| t["state"] == "seeding");

    // A file, then a folder.
    assert_eq!(
        put_path(&d, &id, "album/cover.jpg", "album/art/front.jpg").0,
        StatusCode::NO_CONTENT
    );
    d.wait_for(&id, "seeding after the rename", |t| t["state"] == "seeding");
    assert_eq!(
        put_path(&d, &id, "album/cd1", "album/disc 1").0,
        StatusCode::NO_CONTENT
    );
    d.wait_for(&id, "seeding after the folder's rename", |t| {
        t["state"] == "seeding"
    });
    let want = [
        "album/art/front.jpg",
        "album/disc 1/01.flac",
        "album/disc 1/02.flac",
    ];
    assert_eq!(names(&d, &id), want);
    assert_eq!(daemon_common::files_under(&downloads), want);

    // Refused, with why; nothing moves.
    std::fs::write(downloads.join("album/stray.txt"), b"not the torrent's").unwrap();
    for (from, to, says) in [
        ("album/art/front.jpg", "../x.jpg", "invalid"),
        (
            "album/art/front.jpg",
            "album/disc 1/01.flac",
            "already exists",
        ),
        ("album/nope", "album/x", "No such file"),
        ("album/art/front.jpg", "album/stray.txt", "already there"),
    ] {
        let (code, body) = put_path(&d, &id, from, to);
        if code == StatusCode::NO_CONTENT {
            // The foreign file is found when the driver renames: the torrent
            // says so, and the files keep their names.
            let t = d.wait_for(&id, "the failed rename noted", |t| {
                t["state"] == "seeding" && t["note"].as_str().is_some_and(|n| n.contains(says))
            });
            assert!(
                t["note"].as_str().unwrap().contains("keep their names"),
                "{t}"
            );
        } else {
            assert_eq!(code, StatusCode::BAD_REQUEST, "{from} -> {to}: {body}");
            assert!(body["detail"].as_str().unwrap().contains(says), "{body}");
        }
    }
    assert_eq!(
        std::fs::read(downloads.join("album/stray.txt")).unwrap(),
        b"not the torrent's"
    );
    assert_eq!(names(&d, &id), want);

    // A name freed by one rename taken by the next (the record keeps both,
    // applied in one go at the next start).
    for (from, to) in [
        ("album/disc 1/02.flac", "album/disc 1/02b.flac"),
        ("album/disc 1/01.flac", "album/disc 1/02.flac"),
    ] {
        assert_eq!(put_path(&d, &id, from, to).0, StatusCode::NO_CONTENT);
        d.wait_for(&id, "seeding after the rename", |t| t["state"] == "seeding");
    }
    let want = [
        "album/art/front.jpg",
        "album/disc 1/02.flac",
        "album/disc 1/02b.flac",
    ];
    assert_eq!(names(&d, &id), want);
    assert_eq!(
        daemon_common::files_under(&downloads).len(),
        4,
        "three files and the stray one"
    );

    // Whole under its new names, and after a restart.
    assert_eq!(
        d.post(&format!("/torrents/{id}/recheck")).status(),
        StatusCode::NO_CONTENT
    );
    d.wait_for(&id, "rechecked", |t| {
        t["state"] == "seeding" && t["progress"] == 1.0
    });
    d.signal("TERM");
    let _ = d.child.wait();
    let mut d = Daemon::start(p, "");
    let t = d.wait_for(&id, "seeding after a restart", |t| t["state"] == "seeding");
    assert_eq!(t["progress"], 1.0, "{t}");
    assert_eq!(names(&d, &id), want);

    // Files renamed behind its back (as a crash right after a rename leaves
    // them): gone at the start; given those names, and rechecked, it seeds.
    d.signal("TERM");
    let _ = d.child.wait();
    std::fs::rename(
        downloads.join("album/art/front.jpg"),
        downloads.join("album/art/cover.jpg"),
    )
    .unwrap();
    let d = Daemon::start(p, "");
    d.wait_for(&id, "its file gone", |t| t["state"] == "error");
    let (code, body) = put_path(&d, &id, "album/art/front.jpg", "album/art/cover.jpg");
    assert_eq!(code, StatusCode::NO_CONTENT, "{body}");
    let start = std::time::Instant::now();
    while !names(&d, &id).contains(&"album/art/cover.jpg".to_owned()) {
        assert!(
            start.elapsed().as_secs() < 30,
            "not renamed: {:?}\n{}\n{}",
            names(&d, &id),
            d.get_json(&format!("/torrents/{id}")),
            d.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        d.post(&format!("/torrents/{id}/recheck")).status(),
        StatusCode::NO_CONTENT
    );
    let t = d.wait_for(&id, "seeding again", |t| t["state"] == "seeding");
    assert_eq!(t["progress"], 1.0, "{t}");
}

fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}
