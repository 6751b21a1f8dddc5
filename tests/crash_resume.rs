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

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use seedring::core::Rng;
use seedring::disk_uring::{PieceState, recheck};
use seedring::metainfo::{CreateLayout, CreateOptions, Metainfo, build_torrent};
use seedring::resume_lmdb::record::StateRecord;
use seedring::resume_lmdb::{LmdbSessionStore, SessionStore, state_key};

const PIECE: u32 = 64 * 1024;
const KILLS: usize = 20;
/// The leecher's download cap: slow enough that 20 kills land across the download.
const RATE: u64 = 1_500_000;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_seedring"))
}

/// A three-file torrent of about 40 MiB, written under `dir/src`.
fn make_torrent(dir: &Path) -> (Metainfo, std::path::PathBuf) {
    let mut rng = Rng::new(42);
    let sizes = [
        (vec!["a.bin".to_string()], 23_000_000u64),
        (vec!["sub".into(), "b.bin".into()], 17_000_000),
        (vec!["c.txt".into()], 12_345),
    ];
    let mut stream = Vec::new();
    let src = dir.join("src/t");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    for (path, len) in &sizes {
        let bytes: Vec<u8> = (0..*len).map(|_| rng.next_u64().to_le_bytes()[3]).collect();
        std::fs::write(src.join(path.join("/")), &bytes).unwrap();
        stream.extend_from_slice(&bytes);
    }
    let pieces: Vec<[u8; 20]> = stream
        .chunks(PIECE as usize)
        .map(seedring::hash::sha1)
        .collect();
    let layout = CreateLayout {
        name: "t".into(),
        files: Some(sizes.to_vec()),
        length: 0,
    };
    let (bytes, meta) = build_torrent(&layout, PIECE, &pieces, &CreateOptions::default()).unwrap();
    let path = dir.join("t.torrent");
    std::fs::write(&path, bytes).unwrap();
    (meta, path)
}

/// Starts a process and reads its stderr until it says which port it listens on.
fn start_listening(cmd: &mut Command) -> (Child, u16) {
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("it reports its port").unwrap();
        if let Some(p) = line.strip_prefix("seedring: listening on port ") {
            break p.trim().parse().unwrap();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, port)
}

fn record(state: &Path, meta: &Metainfo) -> Option<StateRecord> {
    let store = LmdbSessionStore::open(state).unwrap();
    let bytes = store.get(&state_key(meta.info_hash)).unwrap()?;
    Some(StateRecord::decode(&bytes).expect("records are readable after a kill"))
}

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
