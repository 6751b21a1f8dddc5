//! A real `seedring download --state-dir` killed with SIGKILL again and again while
//! it downloads a multi-file torrent from a local seedring seeder, and restarted
//! each time. After every kill, every piece the resume record claims verifies on
//! disk; the final data verifies; and what was downloaded again stays within what
//! arrived in the save window before each kill.
//!
//! The re-download bound, from counters alone: the `downloaded` counter continues
//! from the last save after each restart, so the bytes that arrived after the last
//! save before kill k (`window_k`) fall out of it. With `F` the final counter and
//! `T` all payload that really arrived over every run, `T = F + Σ window_k`. The
//! re-downloaded bytes `T - size` stay within `Σ window_k` exactly when
//! `F <= size` -- plus, per kill, the blocks of pieces still in progress at the last
//! save (counted, but not yet pieces) and endgame duplicates: the slack below.

mod crash_common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crash_common::*;
use seedring::core::Rng;
use seedring::disk_uring::{PieceState, recheck};
const KILLS: usize = 20;
/// The leecher's download cap: slow enough that 20 kills land across the download.
const RATE: u64 = 1_500_000;

#[test]
fn sigkill_at_random_moments_never_claims_a_bad_piece() {
    let dir = tempfile::tempdir().unwrap();
    let (meta, torrent) = make_torrent(dir.path());
    let size = meta.info.geometry.total_length();
    let (out, state) = (dir.path().join("out"), dir.path().join("state"));
    let s = |p: &Path| p.to_str().unwrap().to_owned();

    let (mut seeder, port) = start_listening(
        bin()
            .args(["download", &s(&torrent), "-o", &s(&dir.path().join("src"))])
            .args(["--seed", "--listen-port", "0"]),
    );
    let peer = format!("127.0.0.1:{port}");
    let leecher = || {
        let mut c = bin();
        c.args([
            "download",
            &s(&torrent),
            "-o",
            &s(&out),
            "--state-dir",
            &s(&state),
        ])
        .args(["--peer", &peer, "--listen-port", "0"])
        .args([
            "--download-limit",
            &RATE.to_string(),
            "--save-interval-ms",
            "500",
        ]);
        c
    };

    let mut rng = Rng::new(7);
    let mut claimed = Vec::new();
    for kill in 0..KILLS {
        let (mut child, _) = start_listening(&mut leecher());
        #[allow(clippy::disallowed_methods)] // a test pacing a child process
        std::thread::sleep(Duration::from_millis(700 + rng.below(700)));
        assert!(
            child.try_wait().unwrap().is_none(),
            "kill {kill}: the download finished before it; the torrent is too small"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let Some(rec) = record(&state, &meta) else {
            claimed.push(0);
            continue;
        };
        // Every piece the record claims is on disk, whole and right.
        let report = recheck(&meta.info, &out, 2, None).unwrap();
        for p in rec.have.ones() {
            assert_eq!(
                report.pieces[p as usize],
                PieceState::Valid,
                "kill {kill}: piece {p} is claimed but does not verify"
            );
        }
        claimed.push(rec.have.count());
    }
    // The kills were spread across the download, which kept moving.
    let total = meta.info.geometry.piece_count();
    assert!(claimed[KILLS - 1] > claimed[KILLS / 2] && claimed[KILLS / 2] > claimed[1]);
    assert!(claimed[KILLS - 1] < total, "{claimed:?}");

    // The last run finishes.
    let status = leecher()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let report = recheck(&meta.info, &out, 2, None).unwrap();
    assert!(report.pieces.iter().all(|p| *p == PieceState::Valid));
    let final_rec = record(&state, &meta).unwrap();
    assert_eq!(final_rec.have.count(), total);
    let slack = KILLS as u64 * 8 * u64::from(PIECE);
    eprintln!(
        "claimed after each kill: {claimed:?}; final counter {} for {size} bytes (slack {slack})",
        final_rec.downloaded
    );
    assert!(
        final_rec.downloaded <= size + slack,
        "downloaded {} for {size} bytes: more was fetched again than the save windows hold",
        final_rec.downloaded
    );
    seeder.kill().unwrap();
    seeder.wait().unwrap();
}
