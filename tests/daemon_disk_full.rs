//! A real full disk: the downloading daemon's root is a 2 MiB tmpfs (mounted
//! in a mount namespace the test makes, so nothing outside it sees the mount)
//! and the torrent is 6 MiB. The download stops with a note saying the disk is
//! full, the torrent neither errors nor drops its seed; when the tmpfs grows
//! (as when a user frees space) the download completes, byte for byte.
// Real daemons take real time: the test waits on the wall clock.
#![allow(clippy::disallowed_methods)]

mod daemon_common;
mod netns;

use std::process::Command;
use std::time::{Duration, Instant};

use daemon_common::{Daemon, make_torrent};
use serde_json::{Value, json};

const MARKER: &str = "SEEDRING_DISK_FULL_INSIDE";

fn mount(args: &[&str]) {
    let st = Command::new("mount")
        .args(args)
        .status()
        .expect("mount runs");
    assert!(st.success(), "mount {args:?}");
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
