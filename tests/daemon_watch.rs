//! Watch folders in a real daemon: a `.torrent` dropped into one is added with
//! the folder's labels and renamed `.added`; a file still being written is
//! not taken until it holds still; a broken one is renamed `.invalid` with
//! the reason in the log; the same torrent again is "already there"; a
//! `.magnet` file in a folder with `after = "delete"` and `paused = true` is
//! added paused and deleted; a folder naming a storage root that does not
//! exist yet keeps its file, says why once, and adds it (with the folder's
//! category) once the root is added.
#![allow(clippy::disallowed_methods)] // a test's deadline reads the clock

mod daemon_common;

use std::io::Write;
use std::time::Duration;

use daemon_common::{Daemon, make_torrent};
use serde_json::{Value, json};

fn torrents(d: &Daemon) -> Vec<Value> {
    d.get_json("/torrents")["torrents"]
        .as_array()
        .unwrap()
        .clone()
}

fn by_name(d: &Daemon, name: &str) -> Option<Value> {
    torrents(d).into_iter().find(|t| t["name"] == name)
}

#[test]
fn dropped_files_are_added_renamed_or_refused_with_why() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let (plain, tv, magnets) = (p.join("watch"), p.join("watch-tv"), p.join("watch-magnets"));
    for w in [&plain, &tv, &magnets] {
        std::fs::create_dir_all(w).unwrap();
    }
    let extra = format!(
        "[[watch]]\ndir = \"{}\"\nlabels = [\"autodl\"]\n\
         [[watch]]\ndir = \"{}\"\ncategory = \"tv\"\nroot = \"disk2\"\n\
         [[watch]]\ndir = \"{}\"\npaused = true\nafter = \"delete\"\n",
        plain.display(),
        tv.display(),
        magnets.display()
    );
    let d = Daemon::start(p, &extra);

    // A .torrent dropped whole: added with the folder's label, renamed.
    let (t, _) = make_torrent(p, "one.bin", 100_000);
    std::fs::copy(&t, plain.join("one.torrent")).unwrap();
    d.until("one.torrent added", || by_name(&d, "one.bin").is_some());
    assert_eq!(by_name(&d, "one.bin").unwrap()["labels"], json!(["autodl"]));
    d.until("one.torrent renamed", || {
        plain.join("one.torrent.added").exists() && !plain.join("one.torrent").exists()
    });

    // One written slowly: never taken half-written (it would be .invalid).
    let (t2, _) = make_torrent(p, "two.bin", 200_000);
    let bytes = std::fs::read(&t2).unwrap();
    let mut f = std::fs::File::create(plain.join("two.torrent")).unwrap();
    for chunk in bytes.chunks(bytes.len().div_ceil(6)) {
        f.write_all(chunk).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(f);
    d.until("two.torrent added", || by_name(&d, "two.bin").is_some());
    d.until("two.torrent renamed", || {
        plain.join("two.torrent.added").exists()
    });
    assert!(!plain.join("two.torrent.invalid").exists());

    // A broken one: .invalid, and why.
    std::fs::write(plain.join("broken.torrent"), b"d4:infoi1ee").unwrap();
    d.until("broken.torrent refused", || {
        plain.join("broken.torrent.invalid").exists()
    });
    let log = d.stderr();
    assert!(
        log.contains("watch folder: not a torrent") && log.contains("broken.torrent"),
        "{log}"
    );

    // The same torrent again: already there, renamed all the same.
    std::fs::copy(&t, plain.join("again.torrent")).unwrap();
    d.until("again.torrent renamed", || {
        plain.join("again.torrent.added").exists()
    });
    assert!(d.stderr().contains("watch folder: torrent already there"));
    assert_eq!(torrents(&d).len(), 2);

    // A magnet link in a .magnet file: added paused, the file deleted.
    let ih = "c".repeat(40);
    std::fs::write(
        magnets.join("m.magnet"),
        format!("magnet:?xt=urn:btih:{ih}&dn=from-a-file\n"),
    )
    .unwrap();
    d.until("the magnet added", || by_name(&d, "from-a-file").is_some());
    let m = by_name(&d, "from-a-file").unwrap();
    assert_eq!(m["id"], ih.as_str());
    assert_eq!(m["state"], "paused", "{m}");
    d.until("m.magnet deleted", || {
        std::fs::read_dir(&magnets).unwrap().next().is_none()
    });

    // A root that does not exist yet: the file waits, said once.
    let (t3, _) = make_torrent(p, "three.bin", 50_000);
    std::fs::copy(&t3, tv.join("three.torrent")).unwrap();
    d.until("the refusal said", || {
        d.stderr().contains("watch folder: torrent not added")
    });
    std::thread::sleep(Duration::from_secs(5));
    assert!(tv.join("three.torrent").exists());
    assert_eq!(
        d.stderr()
            .matches("watch folder: torrent not added")
            .count(),
        1
    );
    let r = d.post_json(
        "/roots",
        &json!({"token": "disk2", "label": "Disk 2", "path": p.join("disk2")}),
    );
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    d.until("three.torrent added once disk2 exists", || {
        by_name(&d, "three.bin").is_some_and(|t| t["category"] == "tv" && t["root"] == "disk2")
    });
    d.until("three.torrent renamed", || {
        tv.join("three.torrent.added").exists()
    });
}

#[test]
fn a_watch_folder_named_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    let w = dir.path().join("w");
    let text = daemon_common::config_text(
        dir.path(),
        &format!(
            "[[watch]]\ndir = \"{0}\"\n[[watch]]\ndir = \"{0}\"\n",
            w.display()
        ),
    );
    std::fs::write(&cfg, text).unwrap();
    let err = daemon_common::refused_start(&cfg);
    assert!(err.contains("is watched twice"), "{err}");
}
