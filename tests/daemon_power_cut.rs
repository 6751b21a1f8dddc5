//! Power cuts, for real: a `seedring daemon` downloads a multi-file torrent into
//! a root on a FUSE filesystem that keeps unsynced writes apart (`cutfs`), and
//! at 20 random moments the power goes: the daemon is killed (SIGKILL), the
//! filesystem unmounted, its unsynced writes thrown away (even cuts) or torn
//! (odd cuts: a random half of them reach the disk), and it is mounted again.
//! After each cut, every piece the resume record claims verifies on what the
//! disk kept; the daemon restarts on it and goes on; at the end the data is
//! whole. The session store (LMDB) stays on the real disk, where a kill loses
//! nothing it committed.
//!
//! Runs in a mount namespace of its own (nothing outside sees the mount).
// Real daemons take real time: the test waits on the wall clock.
#![allow(clippy::disallowed_methods)]

mod crash_common;
mod cutfs;
mod daemon_common;
mod netns;

use std::time::{Duration, Instant};

use crash_common::*;
use daemon_common::Daemon;
use seedring::core::Rng;
use seedring::disk_uring::{PieceState, recheck};
use serde_json::json;

const MARKER: &str = "SEEDRING_POWER_CUT_INSIDE";
const CUTS: usize = 20;
/// Slow enough that the cuts land across the download.
const RATE: u64 = 1_500_000;

#[test]
fn power_cuts_at_random_moments_never_claim_a_bad_piece() {
    if !netns::inside(MARKER) {
        let name = "power_cuts_at_random_moments_never_claim_a_bad_piece";
        let out = netns::rerun_in(name, MARKER, &["-m"], "mount --make-rprivate /");
        assert!(out.contains("power cuts survived: 20"), "{out}");
        if let Some(line) = out.lines().find(|l| l.contains("power cuts survived")) {
            eprintln!("{line}");
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (meta, torrent) = make_torrent(dir.path());
    let ih = meta.info_hash.to_string();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let (mut seeder, port) = start_listening(
        bin()
            .args(["download", &s(&torrent), "-o", &s(&dir.path().join("src"))])
            .args(["--seed", "--listen-port", "0"]),
    );
    // The daemon's root (`downloads`, see daemon_common) is the FUSE mount.
    let disk = dir.path().join("downloads");
    std::fs::create_dir_all(&disk).unwrap();
    let fs = cutfs::CutFs::new();
    let mut mounted = Some(fs.mount(&disk));
    let extra = format!("[limits]\ndownload = {RATE}\n");
    let state = dir.path().join("data/state");
    let bytes = std::fs::read(&torrent).unwrap();

    let mut rng = Rng::new(11);
    let mut claimed = Vec::new();
    let (mut kept, mut lost) = (0, 0);
    for cut in 0..CUTS {
        let d = Daemon::start(dir.path(), &extra);
        if cut == 0 {
            assert!(d.add_torrent(&bytes, "").status().is_success());
        }
        let r = d.post_json(
            &format!("/torrents/{ih}/peers"),
            &json!({"peers": [format!("127.0.0.1:{port}")]}),
        );
        assert!(r.status().is_success(), "cut {cut}: {:?}", r.text());
        std::thread::sleep(Duration::from_millis(700 + rng.below(700)));
        let t = d.get_json(&format!("/torrents/{ih}"));
        assert_ne!(
            t["state"], "seeding",
            "cut {cut}: finished before it; the torrent is too small: {t}"
        );
        d.signal("KILL");
        drop(d);
        // The power goes: the mount (and the kernel's cache of it) with it.
        drop(mounted.take());
        let tear = cut % 2 == 1;
        let (k, l) = fs.cut(|| tear && rng.chance(0.5));
        kept += k;
        lost += l;
        mounted = Some(fs.mount(&disk));
        let Some(rec) = record(&state, &meta) else {
            claimed.push(0);
            continue;
        };
        let report = recheck(&meta.info, &disk, 2, None).unwrap();
        for p in rec.have.ones() {
            assert_eq!(
                report.pieces[p as usize],
                PieceState::Valid,
                "cut {cut}: piece {p} is claimed but the disk lost it"
            );
        }
        claimed.push(rec.have.count());
    }
    assert!(lost > 0, "no cut lost a write: the test cuts nothing");
    let total = meta.info.geometry.piece_count();
    assert!(
        claimed[CUTS - 1] > claimed[CUTS / 2] && claimed[CUTS / 2] > claimed[1],
        "the download did not move on between cuts: {claimed:?}"
    );

    // The last run finishes, on what the cuts left.
    let d = Daemon::start(dir.path(), &extra);
    d.post_json(
        &format!("/torrents/{ih}/peers"),
        &json!({"peers": [format!("127.0.0.1:{port}")]}),
    );
    let start = Instant::now();
    while d.get_json(&format!("/torrents/{ih}"))["state"] != "seeding" {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the last run never finished"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A clean stop: its last save is made before it exits.
    let mut d = d;
    d.signal("TERM");
    assert!(d.child.wait().unwrap().success());
    drop(d);
    let report = recheck(&meta.info, &disk, 2, None).unwrap();
    assert!(report.pieces.iter().all(|p| *p == PieceState::Valid));
    assert_eq!(record(&state, &meta).unwrap().have.count(), total);
    seeder.kill().unwrap();
    seeder.wait().unwrap();
    drop(mounted);
    println!(
        "power cuts survived: {CUTS}; pieces claimed after each: {claimed:?}; \
         unsynced writes kept by torn cuts {kept}, lost {lost}; writes synced {}",
        fs.synced_writes()
    );
}
