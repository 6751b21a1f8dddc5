//! Saving resume records into the LMDB session store, against baselines measured
//! in the same run. The records are those of a seedbox's torrents (1,000–2,000
//! pieces, one to sixteen files, a tracker, a few peers), written through
//! [`resume_ops`] as a resume save writes them, into a store that already holds
//! them (a save overwrites the last one):
//!
//! - `lmdb_save_100k`: one transaction of 100,000 torrents' records, committed
//!   (LMDB syncs its data file): what a daemon's save of everything costs (a
//!   shutdown, a restore's first save);
//! - `lmdb_save_1k_of_100k`: 1,000 of them (a periodic save of the torrents that
//!   changed), into the same store;
//! - `encode_100k`: building those records' bytes, nothing written (the part of
//!   a save the core pays before the store sees it);
//! - `file_write_100k`, the floor: the same keys and values in one file, one
//!   `write` and one `fdatasync`.
//!
//! Run: `cargo bench --bench store` (`-- --warm-up-time 1 --measurement-time 5`
//! for a shorter run).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use seedring::InfoHash;
use seedring::core::{Bitfield, ResumeSave, ShareLimits};
use seedring::metainfo::ContentLayout;
use seedring::resume_lmdb::record::{FileStamp, PeerRecord, StateRecord};
use seedring::resume_lmdb::{LmdbSessionStore, SessionStore, StoreOp, resume_ops};

/// Torrents in the store.
const TORRENTS: usize = 100_000;
/// Torrents in a periodic save.
const CHANGED: usize = 1_000;

/// A small deterministic generator (xorshift), so every run saves the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn small(&mut self, n: u32) -> u32 {
        u32::try_from(self.below(u64::from(n))).expect("below a u32")
    }
}

/// Torrent `i`'s resume save: most complete, one in five part-way.
fn save(i: usize, rng: &mut Rng) -> ResumeSave {
    let pieces = 1_000 + rng.small(1_001);
    let mut have = Bitfield::full(pieces);
    if i.is_multiple_of(5) {
        have = Bitfield::new(pieces);
        for p in 0..pieces {
            if rng.below(2) == 0 {
                have.set(p);
            }
        }
    }
    let files = 1 + rng.small(16) as usize;
    let record = StateRecord {
        have,
        downloaded: rng.below(40 << 30),
        uploaded: rng.below(400 << 30),
        added_at: 1_700_000_000 + rng.below(10_000_000),
        completed_at: Some(1_710_000_000),
        root: "default".into(),
        paused: false,
        sequential: false,
        file_priorities: vec![1; files],
        download_limit: 0,
        upload_limit: 0,
        files: (0..files)
            .map(|_| {
                Some(FileStamp {
                    size: rng.below(4 << 30),
                    mtime_ns: 1_700_000_000_000_000_000 + rng.below(1 << 50) as i64,
                })
            })
            .collect(),
        name: format!("Some.Release.Name.{i:06}.1080p.WEB-DL"),
        trackers: vec![vec![format!(
            "https://tracker.example.org/{:016x}/announce",
            rng.next()
        )]],
        web_seeds: Vec::new(),
        labels: Vec::new(),
        category: "tv".into(),
        share: ShareLimits::default(),
        share_action: None,
        seeding_secs: rng.below(10_000_000),
        running_secs: rng.below(20_000_000),
        seen_complete: None,
        active_at: None,
        queue_pos: 0,
        forced: false,
        display_name: String::new(),
        first_last: false,
        manual: false,
        super_seeding: false,
        content_layout: ContentLayout::Original,
        renames: Vec::new(),
        finish_in: None,
        checking: false,
    };
    let peers = (0..rng.below(8))
        .map(|_| PeerRecord {
            addr: SocketAddr::from((Ipv4Addr::from(rng.small(u32::MAX)), 6881)),
            last_seen: 1_710_000_000 + rng.below(1_000_000),
        })
        .collect();
    let mut ih = [0u8; 20];
    ih[..8].copy_from_slice(&(i as u64).to_le_bytes());
    ih[8..16].copy_from_slice(&rng.next().to_le_bytes());
    ResumeSave {
        info_hash: InfoHash(ih),
        info: None,
        root: "/srv/data".into(),
        sync_files: Vec::new(),
        record,
        keep_stamps: false,
        peers,
    }
}

fn ops(saves: &[ResumeSave]) -> Vec<StoreOp> {
    saves.iter().flat_map(resume_ops).collect()
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng(0x5eed_5a7e_0000_0001);
    let saves: Vec<ResumeSave> = (0..TORRENTS).map(|i| save(i, &mut rng)).collect();
    let all = ops(&saves);
    // Every hundredth torrent changed since the last save.
    let changed: Vec<ResumeSave> = saves.iter().step_by(TORRENTS / CHANGED).cloned().collect();
    let some = ops(&changed);
    let bytes: usize = all
        .iter()
        .map(|op| match op {
            StoreOp::Set(k, v) => k.len() + v.len(),
            StoreOp::Delete(k) | StoreOp::DeletePrefix(k) => k.len(),
        })
        .sum();
    println!(
        "store: {TORRENTS} torrents, {} operations, {:.1} MiB of keys and values",
        all.len(),
        bytes as f64 / f64::from(1 << 20)
    );

    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = LmdbSessionStore::open(&dir.path().join("state")).expect("the store opens");
    store.apply(all.clone()).expect("the first save");

    let mut g = c.benchmark_group("store");
    g.sample_size(10);
    g.bench_function("lmdb_save_100k", |b| {
        b.iter_batched(
            || all.clone(),
            |ops| store.apply(ops).expect("saved"),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("lmdb_save_1k_of_100k", |b| {
        b.iter_batched(
            || some.clone(),
            |ops| store.apply(ops).expect("saved"),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("encode_100k", |b| b.iter(|| ops(&saves)));
    let flat = dir.path().join("flat");
    g.bench_function("file_write_100k", |b| {
        b.iter(|| {
            let mut buf = Vec::with_capacity(bytes);
            for op in &all {
                if let StoreOp::Set(k, v) = op {
                    buf.extend_from_slice(k);
                    buf.extend_from_slice(v);
                }
            }
            let mut f = std::fs::File::create(&flat).expect("a file");
            f.write_all(&buf).expect("written");
            f.sync_data().expect("synced");
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
