//! The handle itself: thread safety and failed shards.

use super::pieces::STATS_PIECE;
use super::*;
use crate::core::{AddTorrent, TorrentSource, TorrentStats};
use crate::metainfo::Magnet;
use futures_util::StreamExt;

fn two_shards() -> Engine {
    let mut cfg = ShardConfig::new(CoreConfig::default(), "127.0.0.1:0".parse().unwrap());
    cfg.shards = 2;
    Engine::epoll(cfg).expect("engine starts")
}

/// A magnet whose info-hash belongs to `shard` of 2.
fn magnet_on(shard: usize, salt: u8) -> Magnet {
    (0u8..=255)
        .map(|i| {
            let mut ih = [salt; 20];
            ih[7] = i;
            Magnet::parse(&format!("magnet:?xt=urn:btih:{}", InfoHash(ih).to_hex())).unwrap()
        })
        .find(|m| shard::shard_of(m.info_hash, 2) == shard)
        .expect("both shards get some hashes")
}

#[test]
fn the_handle_is_clone_send_and_sync() {
    fn assert_handle<T: Clone + Send + Sync + 'static>() {}
    assert_handle::<Engine>();
}

#[test]
fn a_panicking_shard_becomes_an_error_and_a_visible_state() {
    let dir = tempfile::tempdir().unwrap();
    let e = two_shards();
    let root = dir.path().to_string_lossy().into_owned();
    let m0 = magnet_on(0, 1);
    let m1 = magnet_on(1, 2);
    for m in [&m0, &m1] {
        let add = AddTorrent::new(TorrentSource::Magnet(m.clone()), root.clone());
        e.add_torrent(add).unwrap();
    }
    assert!(e.failed_shards().is_empty());

    let r = e.on_shard(0, Command::Panic);
    let Err(EngineError::ShardFailed { shard: 0, reason }) = r else {
        panic!("expected shard 0 to fail, got {r:?}");
    };
    assert!(reason.contains("injected fault"), "{reason}");

    // Calls that need shard 0 fail with the reason; shard 1 goes on.
    let err = e.stats(m0.info_hash).unwrap_err();
    assert!(
        matches!(&err, EngineError::ShardFailed { shard: 0, reason } if reason.contains("injected")),
        "{err:?}"
    );
    assert!(e.torrents().is_err());
    assert_eq!(e.stats(m1.info_hash).unwrap().info_hash, m1.info_hash);
    assert_eq!(
        e.failed_shards(),
        vec![ShardFailure {
            shard: 0,
            reason: "injected fault".into()
        }]
    );
    // Dropping the engine with a failed shard neither hangs nor panics.
    drop(e);
}

#[test]
fn a_list_is_taken_in_pieces_each_made_on_its_shard() {
    let dir = tempfile::tempdir().unwrap();
    let e = two_shards();
    let root = dir.path().to_string_lossy().into_owned();
    let n = 2 * STATS_PIECE + 7;
    let mut added: Vec<InfoHash> = (0..n)
        .map(|i| {
            let mut ih = [9u8; 20];
            ih[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let link = format!("magnet:?xt=urn:btih:{}", InfoHash(ih).to_hex());
            let add = AddTorrent::new(
                TorrentSource::Magnet(Magnet::parse(&link).unwrap()),
                root.clone(),
            );
            e.add_torrent(add).unwrap()
        })
        .collect();
    // Each piece is made on the shard that has it: its thread, its torrents.
    let pieces = pollster::block_on(e.all_stats_then(|s| {
        let ids: Vec<InfoHash> = s.iter().map(|s| s.info_hash).collect();
        (std::thread::current().name().map(str::to_owned), ids)
    }))
    .unwrap();
    assert!(pieces.len() >= 4, "{} pieces", pieces.len());
    assert!(pieces.iter().all(|p| p.1.len() <= STATS_PIECE));
    for (thread, ids) in &pieces {
        let thread = thread.as_deref().unwrap_or_default();
        assert!(thread.starts_with("sr-shard-"), "made on {thread:?}");
        let shard: usize = thread["sr-shard-".len()..].parse().unwrap();
        assert!(ids.iter().all(|ih| shard::shard_of(*ih, 2) == shard));
    }
    // Every torrent once, each shard's in id order.
    let mut listed: Vec<InfoHash> = pieces.iter().flat_map(|p| p.1.clone()).collect();
    assert!(listed.len() == n);
    for ids in pieces.iter().map(|p| &p.1) {
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }
    listed.sort();
    added.sort();
    assert_eq!(listed, added);

    // A caller's step that panics fails that call, not the shard.
    let r = pollster::block_on(e.all_stats_then(|s| assert!(s.is_empty(), "a caller's bug")));
    let Err(EngineError::ShardFailed { reason, .. }) = r else {
        panic!("expected the call to fail, got {r:?}");
    };
    assert!(reason.contains("a caller's bug"), "{reason}");
    assert!(e.failed_shards().is_empty());
    assert_eq!(e.torrents().unwrap().len(), n);

    // As a stream: the same pieces, made on their shards, every torrent once.

    let ids = |s: Vec<TorrentStats>| {
        let on = std::thread::current().name().map(str::to_owned);
        (on, s.iter().map(|s| s.info_hash).collect::<Vec<_>>())
    };
    let streamed: Vec<_> = pollster::block_on(e.stats_pieces(ids).collect::<Vec<_>>());
    let streamed: Vec<_> = streamed.into_iter().map(Result::unwrap).collect();
    assert!(streamed.len() >= 4, "{} pieces", streamed.len());
    assert!(streamed.iter().all(|p| p.1.len() <= STATS_PIECE));
    assert!((streamed.iter()).all(|p| p.0.as_deref().is_some_and(|t| t.starts_with("sr-shard-"))));
    let mut listed: Vec<InfoHash> = streamed.into_iter().flat_map(|p| p.1).collect();
    listed.sort();
    assert_eq!(listed, added);
    // A reader that stops after a piece leaves nothing behind; a failing
    // step ends its shard's pieces with why, not the shard.
    let one = pollster::block_on(e.stats_pieces(ids).take(1).collect::<Vec<_>>());
    assert_eq!(one.len(), 1);
    let bad = |s: Vec<TorrentStats>| assert!(s.is_empty(), "a caller's bug");
    let r = pollster::block_on(e.stats_pieces(bad).collect::<Vec<_>>());
    assert_eq!(r.len(), 2, "one failure a shard: {r:?}");
    assert!(
        r.iter()
            .all(|r| matches!(r, Err(EngineError::ShardFailed { .. })))
    );
    assert!(e.failed_shards().is_empty());
    assert_eq!(e.torrents().unwrap().len(), n);
}

/// Compiled, never run: the async calls can be awaited from a multi-threaded
/// runtime's tasks (their futures are `Send`).
#[allow(dead_code)]
fn the_async_calls_are_send(e: &Engine, ih: InfoHash, add: AddTorrent) {
    fn send<T: Send>(_: T) {}
    send(e.add_torrent_async(add));
    send(e.stats_async(ih));
    send(e.torrents_async());
    send(e.pause_async(ih));
    send(e.remove_async(ih, false));
    send(e.set_global_limits_async(0, 0));
    send(e.shut_down_async());
    send(e.flush_async());
}

/// A store read in pages (seven records each under test: pages end inside a
/// torrent's three) brings every torrent back once, seeding, none checked
/// again but the two whose files changed while the engine was down (the
/// files are stamped several torrents to a job: each still gets its answer).
#[test]
#[allow(clippy::disallowed_methods)] // real files and a real store in temp folders
fn a_store_read_in_pages_restores_every_torrent_once() {
    use crate::metainfo::{CreateLayout, CreateOptions, build_torrent};
    assert_eq!(super::restore_read::PAGE_RECORDS, 7);
    let state = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let start = || {
        let mut cfg = ShardConfig::new(CoreConfig::default(), "127.0.0.1:0".parse().unwrap());
        cfg.shards = 2;
        cfg.state_dir = Some(state.path().to_path_buf());
        Engine::epoll(cfg).expect("engine starts")
    };
    let e = start();
    e.add_root("data", "data", data.path()).unwrap();
    let root = data.path().to_string_lossy().into_owned();
    let mut added = Vec::new();
    for i in 0..11u8 {
        let name = format!("t{i}.bin");
        let bytes = vec![i; 20_000];
        std::fs::write(data.path().join(&name), &bytes).unwrap();
        let layout = CreateLayout {
            name,
            files: None,
            length: bytes.len() as u64,
        };
        let pieces: Vec<[u8; 20]> = bytes.chunks(16_384).map(crate::hash::sha1).collect();
        let (_, meta) = build_torrent(&layout, 16_384, &pieces, &CreateOptions::default()).unwrap();
        let ih = e
            .add_torrent(AddTorrent::new(
                TorrentSource::Metainfo(std::sync::Arc::new(meta)),
                root.as_str(),
            ))
            .unwrap();
        added.push(ih);
    }
    let seeding = |e: &Engine| {
        added.iter().all(|ih| {
            e.stats(*ih)
                .is_ok_and(|s| s.state == crate::core::TorrentState::Seeding)
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !seeding(&e) {
        assert!(std::time::Instant::now() < deadline, "the adds are checked");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    e.flush().unwrap();
    drop(e);
    // One file rewritten in place (same size, other bytes, a later mtime),
    // one gone.
    let (changed, gone) = (added[3], added[5]);
    let rewritten = data.path().join("t3.bin");
    std::fs::write(&rewritten, vec![99u8; 20_000]).unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
    let f = std::fs::File::options()
        .write(true)
        .open(&rewritten)
        .unwrap();
    f.set_modified(later).unwrap();
    drop(f);
    std::fs::remove_file(data.path().join("t5.bin")).unwrap();
    // Clocks in their own key range, read a page of torrents at a time:
    // each torrent its own (seconds seeded and run); the first also in a
    // store's from before that range (seconds seeded alone; the larger
    // counts), the second only there (run at least as long as it seeded);
    // two that name no torrent, before the first and after the last.
    let clocks = |i: usize| 100_000 + 1_000 * i as u64;
    let both = |i: usize| crate::core::ClockSecs {
        seeding: clocks(i),
        running: Some(clocks(i) + 500),
    };
    let (only_old, orphans) = (added[1], [InfoHash([0; 20]), InfoHash([0xFF; 20])]);
    {
        use crate::resume_lmdb::{
            LmdbSessionStore, SessionStore, StoreOp, clock_op, old_clock_key,
        };
        let old =
            |ih: InfoHash, secs: u64| StoreOp::Set(old_clock_key(ih), secs.to_be_bytes().to_vec());
        let store = LmdbSessionStore::open(state.path()).unwrap();
        let mut ops: Vec<StoreOp> = (added.iter().enumerate())
            .filter(|(_, ih)| **ih != only_old)
            .map(|(i, ih)| clock_op(*ih, both(i)))
            .collect();
        ops.push(old(added[0], clocks(0) + 7));
        ops.push(old(only_old, clocks(1)));
        ops.extend(orphans.map(|ih| clock_op(ih, both(0))));
        store.apply(ops).unwrap();
    }
    let e = start();
    let report = e.restore_report().clone();
    assert_eq!(report.restored, added.len(), "{report:?}");
    assert!(
        report.failed.is_empty() && report.rechecked.is_empty(),
        "{report:?}"
    );
    assert_eq!(e.torrents().unwrap().len(), added.len());
    for (i, ih) in added.iter().enumerate() {
        let s = e.stats(*ih).unwrap();
        let want = clocks(i) + if i == 0 { 7 } else { 0 };
        let ran = if *ih == only_old {
            want
        } else {
            clocks(i) + 500
        };
        assert!(
            (want..want + 60).contains(&s.seeding_secs)
                && (ran..ran + 60).contains(&s.running_secs),
            "torrent {i}: {} s seeded, {} s run",
            s.seeding_secs,
            s.running_secs
        );
    }
    for ih in orphans {
        let key = crate::resume_lmdb::clock_key(ih);
        assert_eq!(e.store().get(&key).unwrap(), None, "an orphan clock stays");
    }
    let others: Vec<InfoHash> = (added.iter().copied())
        .filter(|ih| ![changed, gone].contains(ih))
        .collect();
    let settled = |e: &Engine| {
        let stats = |ih: InfoHash| e.stats(ih).ok();
        let seeding = |ih| stats(ih).is_some_and(|s| s.state == crate::core::TorrentState::Seeding);
        others.iter().all(|ih| seeding(*ih))
            && stats(changed).is_some_and(|s| {
                s.have_pieces == 0 && s.state != crate::core::TorrentState::Checking
            })
            && stats(gone).is_some_and(|s| s.files_missing)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !settled(&e) {
        let now = [changed, gone].map(|ih| e.stats(ih).map(|s| (s.state, s.have_pieces)));
        assert!(std::time::Instant::now() < deadline, "restored: {now:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
