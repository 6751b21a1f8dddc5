//! Engine start-up with 10,000 torrents in the LMDB session store: open the store,
//! restore every torrent into its root and shard (trusting the recorded bitfields,
//! stamping every file against its record), ready to serve.
//!
//! Baselines measured in the same run:
//! - `scan`: opening the store and reading every record, nothing else (the floor);
//! - `empty`: starting an engine on an empty store (threads, runtimes, listener).
//!
//! Reported: wall time of each, restore time per torrent, the ratio to the scan,
//! and resident memory (VmRSS) added by the restored torrents. Every torrent must
//! come back seeding without a recheck.
//!
//! Run: `cargo bench --bench startup` (`-- <count>` for another count).

use std::path::Path;
use std::time::Instant;

/// The bench's own stopwatch (benches measure wall time; the engine never reads it).
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

use seedring::Engine;
use seedring::core::{Bitfield, CoreConfig, TorrentState};
use seedring::disk_uring::RealFiles;
use seedring::metainfo::{CreateLayout, CreateOptions, build_torrent};
use seedring::resume_lmdb::record::StateRecord;
use seedring::resume_lmdb::{
    LmdbSessionStore, MemorySessionStore, SessionStore, StoreOp, meta_key, state_key,
};
use seedring::roots::StorageRootManager;
use seedring::shard::{IoChoice, ShardConfig};
use seedring::storage::{init_root, stat_files};

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Writes `n` single-file torrents (one 16 KiB piece each) and their records.
fn populate(n: usize, data: &Path, state: &Path) {
    init_root(&mut RealFiles, data, "data").unwrap();
    let store = LmdbSessionStore::open(state).unwrap();
    let mut roots = StorageRootManager::default();
    roots.add("data", "data", data).unwrap();
    roots.save(&store).unwrap();
    let mut ops = Vec::with_capacity(n * 2);
    for i in 0..n {
        let name = format!("file-{i:05}.bin");
        let bytes: Vec<u8> = (0..16_384usize).map(|j| (i ^ j).to_le_bytes()[0]).collect();
        std::fs::write(data.join(&name), &bytes).unwrap();
        let layout = CreateLayout {
            name: name.clone(),
            files: None,
            length: bytes.len() as u64,
        };
        let pieces = vec![seedring::hash::sha1(&bytes)];
        let (_, meta) = build_torrent(&layout, 16_384, &pieces, &CreateOptions::default()).unwrap();
        let rec = StateRecord {
            have: Bitfield::full(1),
            downloaded: 16_384,
            uploaded: 0,
            added_at: 1_700_000_000,
            completed_at: Some(1_700_000_001),
            root: "data".into(),
            paused: false,
            sequential: false,
            file_priorities: vec![1],
            download_limit: 0,
            upload_limit: 0,
            files: stat_files(&RealFiles, data, &meta.info),
            name,
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            labels: Vec::new(),
            category: String::new(),
            share: seedring::core::ShareLimits::default(),
            share_action: None,
            seeding_secs: 0,
            running_secs: 0,
            seen_complete: None,
            active_at: None,
            queue_pos: 0,
            forced: false,
            display_name: String::new(),
            first_last: false,
            manual: false,
            super_seeding: false,
            content_layout: seedring::metainfo::ContentLayout::Original,
            renames: Vec::new(),
            finish_in: None,
            checking: false,
        };
        ops.push(StoreOp::Set(
            meta_key(meta.info_hash),
            meta.info_bytes.clone(),
        ));
        ops.push(StoreOp::Set(state_key(meta.info_hash), rec.encode()));
    }
    store.apply(ops).unwrap();
}

fn config(state: Option<&Path>) -> ShardConfig {
    let mut c = ShardConfig::new(CoreConfig::default(), "127.0.0.1:0".parse().unwrap());
    c.shards = 2;
    c.state_dir = state.map(Path::to_path_buf);
    c
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let (data, state) = (dir.path().join("data"), dir.path().join("state"));
    populate(n, &data, &state);

    // Baseline 1: the raw scan.
    let t = now();
    let records = {
        let store = LmdbSessionStore::open(&state).unwrap();
        store.scan(b"torrent:").unwrap().len()
    };
    let scan = t.elapsed();
    assert_eq!(records, n * 2);

    // Baseline 2: an engine on an empty store.
    let rss0 = rss_kib();
    let t = now();
    let empty = Engine::start(config(None), IoChoice::Auto).unwrap();
    let empty_time = t.elapsed();
    let rss_empty = rss_kib();
    drop(empty);
    let _ = MemorySessionStore::default();

    // The restore.
    let rss1 = rss_kib();
    let t = now();
    let engine = Engine::start(config(Some(&state)), IoChoice::Auto).unwrap();
    let restore = t.elapsed();
    let rss2 = rss_kib();
    let report = engine.restore_report().clone();
    assert_eq!(report.restored, n, "{:?}", report.failed.first());
    assert!(
        report.rechecked.is_empty(),
        "{:?}",
        report.rechecked.first()
    );
    let ihs = engine.torrents().unwrap();
    assert_eq!(ihs.len(), n);
    for ih in ihs.iter().step_by(97) {
        assert_eq!(engine.stats(*ih).unwrap().state, TorrentState::Seeding);
    }
    drop(engine);

    println!("startup: {n} torrents in LMDB, 2 shards, restore to seeding");
    println!(
        "  scan (baseline): {:>8.1} ms   ({} records)",
        scan.as_secs_f64() * 1e3,
        records
    );
    println!(
        "  empty engine:    {:>8.1} ms   RSS +{} KiB",
        empty_time.as_secs_f64() * 1e3,
        rss_empty.saturating_sub(rss0)
    );
    println!(
        "  restore:         {:>8.1} ms   ({:.1} us per torrent, {:.1}x the scan)",
        restore.as_secs_f64() * 1e3,
        restore.as_secs_f64() * 1e6 / n as f64,
        restore.as_secs_f64() / scan.as_secs_f64()
    );
    println!(
        "  RSS after restore: {} KiB, +{} KiB over the process before ({:.2} KiB per torrent)",
        rss2,
        rss2.saturating_sub(rss1),
        rss2.saturating_sub(rss1) as f64 / n as f64
    );
}
