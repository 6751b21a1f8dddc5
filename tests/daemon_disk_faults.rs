//! Real disk faults, each inside a mount namespace the test makes (nothing
//! outside it sees the mounts).
//!
//! A full disk: the downloading daemon's root is a 2 MiB tmpfs and the torrent
//! is 6 MiB. The download stops with a note saying the disk is full, the
//! torrent neither errors nor drops its seed; when the tmpfs grows (as when a
//! user frees space) the download completes, byte for byte.
//!
//! Read-only roots: a torrent added to a root already read-only, and one whose
//! root turns read-only mid-download, each stop at once with an error naming
//! the file; a torrent in another root downloads meanwhile.
// Real daemons take real time: the test waits on the wall clock.
#![allow(clippy::disallowed_methods)]

mod daemon_common;
mod netns;

use std::process::Command;
use std::time::{Duration, Instant};

use daemon_common::{Daemon, make_torrent};
use serde_json::{Value, json};

const MARKER: &str = "SEEDRING_DISK_FAULTS_INSIDE";

fn mount(args: &[&str]) {
    let st = Command::new("mount")
        .args(args)
        .status()
        .expect("mount runs");
    assert!(st.success(), "mount {args:?}");
}

/// Turns the bind mount at `dir` read-only while a download writes into it.
/// The kernel refuses (`EBUSY`) while any file under it is open for writing,
/// as one is for the instant of each piece write (with `write_mode =
/// "direct"`, seen busy at the first try in 4 runs of 5), so a refusal is
/// tried again, every 10 ms for at most 5 s, as an admin would.
fn remount_ro_while_written(dir: &std::path::Path) {
    let args = ["-o", "remount,bind,ro", dir.to_str().unwrap()];
    for _ in 0..500 {
        let out = Command::new("mount")
            .args(args)
            .output()
            .expect("mount runs");
        if out.status.success() {
            return;
        }
        let why = String::from_utf8_lossy(&out.stderr);
        assert!(why.contains("busy"), "mount {args:?}: {why}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("mount {args:?}: still busy after 5 s");
}

#[test]
fn a_full_disk_pauses_the_download_until_space_returns() {
    if !netns::inside(MARKER) {
        let name = "a_full_disk_pauses_the_download_until_space_returns";
        let out = netns::rerun_in(name, MARKER, &["-m"], "mount --make-rprivate /");
        assert!(out.contains("completed after the disk grew"), "{out}");
        return;
    }
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let (torrent, data) = make_torrent(a_dir.path(), "big.bin", 6 << 20);
    std::fs::create_dir_all(a_dir.path().join("downloads")).unwrap();
    std::fs::write(a_dir.path().join("downloads/big.bin"), &data).unwrap();
    let root = b_dir.path().join("downloads");
    std::fs::create_dir_all(&root).unwrap();
    let root_s = root.to_str().unwrap();
    mount(&["-t", "tmpfs", "-o", "size=2m", "tmpfs", root_s]);

    let a = Daemon::start(a_dir.path(), "");
    let bytes = std::fs::read(&torrent).unwrap();
    let added: Value = a.add_torrent(&bytes, "").json().unwrap();
    let ih = added["id"].as_str().unwrap().to_owned();
    a.wait_for(&ih, "seeding", |t| t["state"] == "seeding");
    let a_port = a.get_json("/stats")["peer_listen"]
        .as_str()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .1
        .to_owned();

    let b = Daemon::start(b_dir.path(), "");
    assert!(b.add_torrent(&bytes, "").status().is_success());
    let r = b.post_json(
        &format!("/torrents/{ih}/peers"),
        &json!({"peers": [format!("127.0.0.1:{a_port}")]}),
    );
    assert!(r.status().is_success(), "{:?}", r.text());
    let full = b.wait_for(&ih, "the disk-full note", |t| {
        t["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("disk full"))
    });
    let note = full["note"].as_str().unwrap();
    assert!(note.contains("No space left on device"), "{note}");
    // A while later: not an error, the seed still connected, no progress.
    std::thread::sleep(Duration::from_secs(3));
    let t = b.get_json(&format!("/torrents/{ih}"));
    assert_eq!(t["state"], "downloading", "{t}");
    assert!(t["peers"].as_u64().unwrap() >= 1, "{t}");
    assert!(t["progress"].as_f64().unwrap() < 0.5, "{t}");

    // Space returns; the next try (within 30 s) goes on to the end.
    mount(&["-o", "remount,size=64m", root_s]);
    let started = Instant::now();
    let done = loop {
        let t = b.get_json(&format!("/torrents/{ih}"));
        if t["state"] == "seeding" {
            break t;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "{t}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(done["note"].is_null(), "{done}");
    assert!(std::fs::read(root.join("big.bin")).unwrap() == data);
    drop(b);
    drop(a);
    let _ = Command::new("umount").arg(root_s).status();
    println!("completed after the disk grew");
}

fn peer_port(d: &Daemon) -> String {
    let listen = d.get_json("/stats")["peer_listen"]
        .as_str()
        .unwrap()
        .to_owned();
    listen.rsplit_once(':').unwrap().1.to_owned()
}

#[test]
fn read_only_roots_stop_their_torrents_with_the_file_named() {
    if !netns::inside(MARKER) {
        let name = "read_only_roots_stop_their_torrents_with_the_file_named";
        let out = netns::rerun_in(name, MARKER, &["-m"], "mount --make-rprivate /");
        assert!(out.contains("read-only roots refused"), "{out}");
        return;
    }
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(a_dir.path().join("downloads")).unwrap();
    let mut torrents = Vec::new();
    for name in ["ro.bin", "late.bin", "fine.bin"] {
        let (t, data) = make_torrent(a_dir.path(), name, 3 << 20);
        std::fs::write(a_dir.path().join("downloads").join(name), &data).unwrap();
        torrents.push((std::fs::read(&t).unwrap(), data));
    }
    let a = Daemon::start(a_dir.path(), "");
    let mut ids = Vec::new();
    for (bytes, _) in &torrents {
        let added: Value = a.add_torrent(bytes, "").json().unwrap();
        let ih = added["id"].as_str().unwrap().to_owned();
        a.wait_for(&ih, "seeding", |t| t["state"] == "seeding");
        ids.push(ih);
    }
    // Slowly, so the second download is still going when its root turns
    // read-only.
    let r = a
        .authed(a.http.put(a.url(&format!("/torrents/{}/limits", ids[1]))))
        .json(&json!({"download": 0, "upload": 200_000}))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let port = peer_port(&a);

    let (ro, late) = (b_dir.path().join("ro"), b_dir.path().join("late"));
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::create_dir_all(&late).unwrap();
    let extra = format!(
        "[[roots]]\ntoken = \"ro\"\npath = \"{}\"\n[[roots]]\ntoken = \"late\"\npath = \"{}\"\n",
        ro.display(),
        late.display()
    );
    let b = Daemon::start(b_dir.path(), &extra);
    // Both roots are marked at start; then `ro` turns read-only.
    for dir in [&ro, &late] {
        let d = dir.to_str().unwrap();
        mount(&["--bind", d, d]);
    }
    mount(&["-o", "remount,bind,ro", ro.to_str().unwrap()]);
    let add = |i: usize, root: &str| {
        let r = b.add_torrent(&torrents[i].0, &format!("?root={root}"));
        assert!(r.status().is_success(), "{:?}", r.text());
        let r = b.post_json(
            &format!("/torrents/{}/peers", ids[i]),
            &json!({"peers": [format!("127.0.0.1:{port}")]}),
        );
        assert!(r.status().is_success());
    };
    add(0, "ro");
    add(1, "late");
    add(2, "default");
    let err = b.wait_for(&ids[0], "the read-only root's error", |t| {
        t["state"] == "error"
    });
    let why = err["error"]
        .as_str()
        .or(err["note"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(
        why.contains("Read-only file system") && why.contains("ro.bin"),
        "{err}"
    );
    // Mid-download, the other root turns read-only: stopped at the next write.
    b.wait_for(&ids[1], "some progress", |t| {
        t["progress"].as_f64().unwrap() > 0.05
    });
    remount_ro_while_written(&late);
    let err = b.wait_for(&ids[1], "the late root's error", |t| t["state"] == "error");
    let why = err["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        why.contains("Read-only file system") && why.contains("late.bin"),
        "{err}"
    );
    // At the first refused write, not after retries that fetch pieces again.
    assert!(!why.contains("times"), "{why}");
    assert_eq!(err["peers"], 0, "{err}");
    // The third, in a writable root, is untouched.
    b.wait_for(&ids[2], "the writable root's download", |t| {
        t["state"] == "seeding"
    });
    assert!(std::fs::read(b_dir.path().join("downloads/fine.bin")).unwrap() == torrents[2].1);
    drop(b);
    drop(a);
    for dir in [&ro, &late] {
        let _ = Command::new("umount").arg(dir).status();
    }
    println!("read-only roots refused: {why}");
}

/// A file rewritten in place with other bytes of the same size under a seeding
/// daemon (reads never fail, so only the file's stamp tells): the torrent
/// stops within a stamp interval (10 s) with an error naming the file, and its
/// leecher is let go.
#[test]
fn a_file_rewritten_with_the_same_size_stops_its_seed() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let (torrent, data) = make_torrent(a_dir.path(), "same.bin", 4 << 20);
    std::fs::create_dir_all(a_dir.path().join("downloads")).unwrap();
    let file = a_dir.path().join("downloads/same.bin");
    std::fs::write(&file, &data).unwrap();
    let a = Daemon::start(a_dir.path(), "");
    let bytes = std::fs::read(&torrent).unwrap();
    let added: Value = a.add_torrent(&bytes, "").json().unwrap();
    let ih = added["id"].as_str().unwrap().to_owned();
    a.wait_for(&ih, "seeding", |t| t["state"] == "seeding");
    // A slow leecher keeps a connection, so the seed is watched.
    let b = Daemon::start(b_dir.path(), "[limits]\ndownload = 100000\n");
    assert!(b.add_torrent(&bytes, "").status().is_success());
    let r = b.post_json(
        &format!("/torrents/{ih}/peers"),
        &json!({"peers": [format!("127.0.0.1:{}", peer_port(&a))]}),
    );
    assert!(r.status().is_success());
    a.wait_for(&ih, "a peer", |t| t["peers"].as_u64() == Some(1));
    std::thread::sleep(Duration::from_secs(1));
    let other: Vec<u8> = data.iter().map(|b| b.wrapping_add(1)).collect();
    // Rewritten in place: `fs::write` truncates first, and a read in that
    // instant fails short (a different case, "reading piece N"), as CI once saw.
    std::io::Write::write_all(
        &mut std::fs::OpenOptions::new().write(true).open(&file).unwrap(),
        &other,
    )
    .unwrap();
    let started = Instant::now();
    let t = loop {
        let t = a.get_json(&format!("/torrents/{ih}"));
        if t["state"] == "error" {
            break t;
        }
        assert!(started.elapsed() < Duration::from_secs(25), "{t}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let why = t["error"]
        .as_str()
        .or(t["note"].as_str())
        .unwrap_or_default();
    assert!(why.contains("same.bin: rewritten"), "{t}");
    a.wait_for(&ih, "its peers let go", |t| t["peers"].as_u64() == Some(0));
}
