//! One engine driven from many threads at once: the handle is `Clone + Send +
//! Sync`, and concurrent adds, stats, pauses and removes leave it consistent.
#![allow(clippy::disallowed_methods)] // real threads on a real engine

use std::collections::BTreeSet;

use seedring::core::{AddTorrent, CommandError, CoreConfig, TorrentSource, TorrentState};
use seedring::engine::EngineError;
use seedring::metainfo::Magnet;
use seedring::shard::{IoChoice, ShardConfig};
use seedring::{Engine, InfoHash};

fn magnet(thread: u8, i: u8) -> Magnet {
    let mut ih = [0x5a; 20];
    ih[0] = thread;
    ih[1] = i;
    // Spread over both shards by the first eight bytes.
    ih[7] = thread.wrapping_mul(37) ^ i;
    Magnet::parse(&format!("magnet:?xt=urn:btih:{}", InfoHash(ih).to_hex())).unwrap()
}

#[test]
fn eight_threads_drive_one_engine() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ShardConfig::new(CoreConfig::default(), "127.0.0.1:0".parse().unwrap());
    cfg.shards = 2;
    let engine = Engine::start(cfg, IoChoice::Auto).expect("engine starts");
    let root = dir.path().to_string_lossy().into_owned();
    const PER_THREAD: u8 = 40;

    let kept: Vec<Vec<InfoHash>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8u8)
            .map(|t| {
                let e = engine.clone();
                let root = root.clone();
                s.spawn(move || {
                    let mut kept = Vec::new();
                    for i in 0..PER_THREAD {
                        let m = magnet(t, i);
                        let ih = m.info_hash;
                        let add = AddTorrent::new(TorrentSource::Magnet(m), root.clone());
                        assert_eq!(e.add_torrent(add.clone()).unwrap(), ih);
                        // A second add of the same torrent is refused, whoever asks.
                        assert!(matches!(
                            e.add_torrent(add),
                            Err(EngineError::Command(CommandError::Duplicate(_)))
                        ));
                        assert_eq!(e.stats(ih).unwrap().info_hash, ih);
                        e.pause(ih).unwrap();
                        assert_eq!(e.stats(ih).unwrap().state, TorrentState::Paused);
                        if i % 3 == 0 {
                            e.remove(ih, false).unwrap();
                            assert!(matches!(
                                e.stats(ih),
                                Err(EngineError::Command(CommandError::UnknownTorrent(_)))
                            ));
                        } else {
                            e.resume(ih).unwrap();
                            kept.push(ih);
                        }
                        // Whole-engine calls interleave with the others' commands.
                        let _ = e.torrents().unwrap();
                        let _ = e.connections().unwrap();
                    }
                    kept
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let want: BTreeSet<InfoHash> = kept.into_iter().flatten().collect();
    let have: BTreeSet<InfoHash> = engine.torrents().unwrap().into_iter().collect();
    assert_eq!(have, want);
    assert_eq!(want.len(), 8 * (usize::from(PER_THREAD) - 14));
    for ih in &want {
        assert_ne!(engine.stats(*ih).unwrap().state, TorrentState::Paused);
    }
    assert!(engine.failed_shards().is_empty());
}

/// A library user who drops an engine can start another on the same port at
/// once: the shards close their listener (and the uTP thread its socket) before
/// their runtimes go, instead of leaving a cancelled accept holding it.
#[test]
fn a_dropped_engine_leaves_its_port_free() {
    for io in [IoChoice::Auto, IoChoice::Epoll] {
        let mut cfg = ShardConfig::new(CoreConfig::default(), "127.0.0.1:0".parse().unwrap());
        cfg.shards = 2;
        let engine = Engine::start(cfg.clone(), io).expect("engine starts");
        let addr = engine.listen_addr();
        // Long enough for each shard's accept to be pending in the kernel.
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(engine);
        drop(std::net::UdpSocket::bind(addr).expect("uTP's socket is closed"));
        cfg.listen = addr;
        cfg.bind_patience = std::time::Duration::ZERO;
        let again = Engine::start(cfg, io).expect("the same port is free at once");
        assert_eq!(again.listen_addr(), addr);
    }
}

/// Torrents restored past the queue's limits are queued before any of them
/// starts (announces, dials its recorded peers): the limits are the engine's
/// from its start, not applied once something starts after it.
#[test]
fn a_restart_queues_past_the_limits_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root").to_string_lossy().into_owned();
    let config = || {
        let mut cfg = ShardConfig::new(CoreConfig::default(), "127.0.0.1:0".parse().unwrap());
        cfg.shards = 2;
        cfg.state_dir = Some(dir.path().join("state"));
        cfg
    };
    let ihs: Vec<InfoHash> = {
        let engine = Engine::start(config(), IoChoice::Auto).expect("engine starts");
        let ihs: Vec<InfoHash> = (0..4)
            .map(|i| {
                let add = AddTorrent::new(TorrentSource::Magnet(magnet(9, i)), root.clone());
                engine.add_torrent(add).unwrap()
            })
            .collect();
        let shards: BTreeSet<usize> = ihs
            .iter()
            .map(|ih| seedring::shard::shard_of(*ih, 2))
            .collect();
        assert_eq!(shards.len(), 2, "on both shards");
        ihs
    };
    let mut cfg = config();
    cfg.queue.enabled = true;
    cfg.queue.max_downloads = 1;
    let engine = Engine::start(cfg, IoChoice::Auto).expect("engine restarts");
    let queued = ihs
        .iter()
        .filter(|ih| engine.stats(**ih).unwrap().state == TorrentState::Queued)
        .count();
    assert_eq!(queued, 3, "all but one queued as the engine starts");
}

/// A torrent of one file of `len` bytes named `name` in `root`, the file
/// there (sparse: every check reads it whole and finds nothing good).
fn sparse_torrent(root: &std::path::Path, name: &str, len: u64) -> AddTorrent {
    use seedring::metainfo::{CreateLayout, CreateOptions, Metainfo, build_torrent};
    let piece = 1 << 20;
    let file = std::fs::File::create(root.join(name)).unwrap();
    file.set_len(len).unwrap();
    let layout = CreateLayout {
        name: name.into(),
        files: None,
        length: len,
    };
    let hashes = vec![[7u8; 20]; usize::try_from(len.div_ceil(piece)).unwrap()];
    let (_, meta): (_, Metainfo) = build_torrent(
        &layout,
        u32::try_from(piece).unwrap(),
        &hashes,
        &CreateOptions::default(),
    )
    .unwrap();
    let source = TorrentSource::Metainfo(std::sync::Arc::new(meta));
    AddTorrent::new(source, root.to_string_lossy().into_owned())
}

/// Checks on two engine threads take turns from one line: with one check at
/// once, a small torrent's check asked after a large one's on the other
/// thread ends after it; with two at once, before it.
#[test]
fn checks_take_turns_across_engine_threads() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ShardConfig::new(CoreConfig::default(), "127.0.0.1:0".parse().unwrap());
    cfg.shards = 2;
    let engine = Engine::start(cfg, IoChoice::Auto).expect("engine starts");
    // A large torrent on one thread, a small one on the other.
    let big = sparse_torrent(dir.path(), "big", 1 << 30);
    let big_ih = big.source.info_hash();
    let small = (0..64)
        .map(|i| sparse_torrent(dir.path(), &format!("small{i}"), 1 << 20))
        .find(|a| {
            let (s, b) = (a.source.info_hash(), big_ih);
            seedring::shard::shard_of(s, 2) != seedring::shard::shard_of(b, 2)
        })
        .expect("a small torrent on the other thread");
    let small_ih = small.source.info_hash();
    engine.add_torrent(big).unwrap();
    engine.add_torrent(small).unwrap();
    let checking = |ih| engine.stats(ih).unwrap().state == TorrentState::Checking;
    let settle = || {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while checking(big_ih) || checking(small_ih) {
            assert!(std::time::Instant::now() < end, "checks never ended");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    };
    // Both checked again, the large first; `Some(true)`: the small one's
    // ended while the large one's read.
    let race = || -> Option<bool> {
        settle();
        engine.force_recheck(big_ih).unwrap();
        engine.force_recheck(small_ih).unwrap();
        if !checking(big_ih) {
            return None; // the large one's ended already: no race to see
        }
        loop {
            let (b, s) = (checking(big_ih), checking(small_ih));
            if !s {
                return Some(b);
            }
            if !b {
                return Some(false);
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    };
    let seen = |want: bool| {
        (0..5)
            .find_map(|_| race())
            .map(|ended_first| ended_first == want)
    };
    assert_eq!(
        seen(false),
        Some(true),
        "one at a time: the small one waits"
    );
    settle();
    let counters = engine.counters().unwrap();
    assert!(
        (counters.iter()).all(|c| c.checks_reading == 0 && c.checks_waiting == 0),
        "no turn held once the checks end: {counters:?}"
    );
    let two = seedring::core::Tunables {
        checks_at_once: 2,
        ..Default::default()
    };
    pollster::block_on(engine.set_tunables_async(two)).unwrap();
    assert_eq!(
        seen(true),
        Some(true),
        "two at once: the small one ends first"
    );
}
