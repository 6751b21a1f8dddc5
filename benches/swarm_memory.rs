//! End-to-end throughput of the core through the sim driver: one seeder, four
//! leechers, a 16 MiB torrent, everything in memory, no kernel. What it measures is
//! the core's cost per byte (protocol, picker, bookkeeping, piece hashing) plus the
//! sim's copying. Run: `cargo bench --bench swarm_memory`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use seedring::Engine;
use seedring::Time;
use seedring::core::{AddTorrent, Bitfield, CoreConfig, Rng, TorrentSource, TorrentState};
use seedring::metainfo::{CreateLayout, CreateOptions, build_torrent};
use seedring::sim::{SimConfig, SimWorld};

const SIZE: usize = 16 << 20;
const PIECE: u32 = 256 * 1024;
const LEECHERS: usize = 4;

fn fixture() -> (Arc<seedring::metainfo::Metainfo>, Vec<u8>) {
    let mut rng = Rng::new(5);
    let data: Vec<u8> = (0..SIZE).map(|_| rng.next_u64().to_le_bytes()[0]).collect();
    let pieces: Vec<[u8; 20]> = data
        .chunks(PIECE as usize)
        .map(seedring::hash::sha1)
        .collect();
    let layout = CreateLayout {
        name: "bench.bin".into(),
        files: None,
        length: SIZE as u64,
    };
    let (_, meta) = build_torrent(&layout, PIECE, &pieces, &CreateOptions::default()).unwrap();
    (Arc::new(meta), data)
}

fn run(meta: &Arc<seedring::metainfo::Metainfo>, data: &[u8]) {
    let world = SimWorld::new(SimConfig {
        // Fast links: the point is the core's cost, not simulated bandwidth.
        link_bytes_per_sec: 10 << 30,
        latency: Duration::from_millis(1),
        tick: Duration::from_millis(50),
        ..SimConfig::default()
    });
    let ih = meta.info_hash;
    let seeder = Engine::memory(&world, CoreConfig::default());
    world.write_file(&seeder, "/d/bench.bin", data.to_vec());
    seeder
        .add_torrent(AddTorrent {
            have: Some(Bitfield::full(meta.info.geometry.piece_count())),
            ..AddTorrent::new(TorrentSource::Metainfo(meta.clone()), "/d")
        })
        .unwrap();
    let leechers: Vec<Engine> = (0..LEECHERS)
        .map(|_| {
            let e = Engine::memory(&world, CoreConfig::default());
            e.add_torrent(AddTorrent {
                have: Some(Bitfield::new(meta.info.geometry.piece_count())),
                ..AddTorrent::new(TorrentSource::Metainfo(meta.clone()), "/d")
            })
            .unwrap();
            e.add_peers(ih, &[seeder.listen_addr()]).unwrap();
            e
        })
        .collect();
    let ok = world.run_while(Time::from_secs(3600), Duration::from_millis(200), || {
        leechers
            .iter()
            .all(|l| l.stats(ih).is_ok_and(|s| s.state == TorrentState::Seeding))
    });
    assert!(ok);
}

fn bench(c: &mut Criterion) {
    let (meta, data) = fixture();
    let mut g = c.benchmark_group("swarm_memory");
    g.throughput(Throughput::Bytes((SIZE * LEECHERS) as u64));
    g.sample_size(10);
    g.bench_function("1_seeder_4_leechers_16MiB", |b| {
        b.iter(|| run(&meta, &data))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
