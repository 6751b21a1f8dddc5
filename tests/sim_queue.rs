//! The queue in the sim: at most N torrents download at once and the rest wait
//! in their persisted order; moving one to the top runs it first; a forced
//! torrent bypasses the limits; with the slow rule, idle seeds stop counting
//! so the next in line starts; turning the queue off releases everything.
//! The engine balances the queue when a test step asks (the daemon does it
//! every 2 s).

mod sim_common;

use std::time::Duration;

use seedring::core::queue::QueueLimits;
use seedring::core::{AddTorrent, Bitfield, CoreConfig, TorrentSource, TorrentState};
use seedring::engine::queue::QueueMove;
use seedring::sim::SimWorld;
use seedring::{Engine, InfoHash};
use sim_common::*;

fn run(world: &SimWorld, secs: u64, until: impl FnMut() -> bool) -> bool {
    run_within(world, secs, Duration::from_millis(500), until)
}

/// A seeder holding `n` torrents and a leecher that adds them (empty) in order.
fn swarm(seed: u64, n: usize) -> (SimWorld, Engine, Engine, Vec<Fixture>) {
    let world = world(seed);
    let fxs: Vec<Fixture> = (0..n)
        .map(|i| fixture(seed + i as u64, &format!("t{i}"), FILES, 16 * 1024))
        .collect();
    let s = engine(&world, CoreConfig::default());
    let l = engine(&world, CoreConfig::default());
    for fx in &fxs {
        for (path, bytes) in &fx.files {
            world.write_file(&s, &format!("{ROOT}/{path}"), bytes.clone());
        }
        s.add_torrent(AddTorrent::new(
            TorrentSource::Metainfo(fx.meta.clone()),
            ROOT,
        ))
        .unwrap();
    }
    (world, s, l, fxs)
}

fn add_all(l: &Engine, s: &Engine, fxs: &[Fixture]) {
    for fx in fxs {
        let pieces = fx.meta.info.geometry.piece_count();
        l.add_torrent(AddTorrent {
            have: Some(Bitfield::new(pieces)),
            ..AddTorrent::new(TorrentSource::Metainfo(fx.meta.clone()), ROOT)
        })
        .unwrap();
        introduce(&[s, l], fx.meta.info_hash);
    }
}

fn limits(downloads: i64, uploads: i64) -> QueueLimits {
    QueueLimits {
        enabled: true,
        max_downloads: downloads,
        max_uploads: uploads,
        max_torrents: -1,
        ..QueueLimits::default()
    }
}

fn state(e: &Engine, ih: InfoHash) -> TorrentState {
    e.stats(ih).unwrap().state
}

fn downloading(e: &Engine, ihs: &[InfoHash]) -> usize {
    ihs.iter()
        .filter(|ih| !matches!(state(e, **ih), TorrentState::Queued | TorrentState::Seeding))
        .count()
}

#[test]
fn two_at_a_time_in_queue_order_until_all_are_done() {
    let (seed, _g) = seed(81);
    let (world, s, l, fxs) = swarm(seed, 4);
    let ihs: Vec<InfoHash> = fxs.iter().map(|f| f.meta.info_hash).collect();
    l.set_queue_limits(limits(2, -1)).unwrap();
    add_all(&l, &s, &fxs);
    // The last added goes first.
    l.move_in_queue(&[ihs[3]], QueueMove::Top).unwrap();
    assert_eq!(state(&l, ihs[1]), TorrentState::Queued);
    assert_eq!(state(&l, ihs[2]), TorrentState::Queued);
    let mut finished = Vec::new();
    let all_done = run(&world, 1200, || {
        l.balance_queue().unwrap();
        assert!(downloading(&l, &ihs) <= 2, "more than two downloading");
        for ih in &ihs {
            if done(&l, *ih) && !finished.contains(ih) {
                finished.push(*ih);
            }
        }
        finished.len() == ihs.len()
    });
    assert!(
        all_done,
        "{:?}",
        ihs.iter().map(|i| state(&l, *i)).collect::<Vec<_>>()
    );
    // The first two in order finished before the last two started.
    let first: std::collections::BTreeSet<_> = finished[..2].iter().collect();
    assert_eq!(first, [&ihs[3], &ihs[0]].into_iter().collect());
    for fx in &fxs {
        assert_same_data(&world, &l, fx, "leecher");
    }
    // Saved and given back: its place in the queue.
    assert_eq!(l.stats(ihs[3]).unwrap().settings.queue_pos, 1);
}

#[test]
fn a_forced_torrent_runs_past_the_limit_and_turning_the_queue_off_frees_all() {
    let (seed, _g) = seed(82);
    let (world, s, l, fxs) = swarm(seed, 3);
    let ihs: Vec<InfoHash> = fxs.iter().map(|f| f.meta.info_hash).collect();
    l.set_queue_limits(limits(1, -1)).unwrap();
    add_all(&l, &s, &fxs);
    assert_eq!(downloading(&l, &ihs), 1);
    l.set_forced(ihs[2], true).unwrap();
    assert_ne!(state(&l, ihs[2]), TorrentState::Queued);
    assert_eq!(state(&l, ihs[1]), TorrentState::Queued);
    assert!(run(&world, 600, || {
        l.balance_queue().unwrap();
        done(&l, ihs[2])
    }));
    l.set_queue_limits(QueueLimits::default()).unwrap();
    assert!(ihs.iter().all(|ih| state(&l, *ih) != TorrentState::Queued));
    assert!(run(&world, 900, || ihs.iter().all(|ih| done(&l, *ih))));
}

#[test]
fn idle_seeds_stop_counting_with_the_slow_rule() {
    let (seed, _g) = seed(83);
    let (world, s, _l, fxs) = swarm(seed, 3);
    let ihs: Vec<InfoHash> = fxs.iter().map(|f| f.meta.info_hash).collect();
    assert!(run(&world, 60, || ihs.iter().all(|ih| done(&s, *ih))));
    // One seeding slot: two wait.
    s.set_queue_limits(limits(-1, 1)).unwrap();
    assert_eq!(
        ihs.iter()
            .filter(|ih| state(&s, **ih) == TorrentState::Queued)
            .count(),
        2
    );
    // Nobody downloads: after 60 s idle the running seed stops counting and
    // the next starts, and so on, until all three run.
    s.set_queue_limits(QueueLimits {
        ignore_slow: true,
        slow_secs: 60,
        ..limits(-1, 1)
    })
    .unwrap();
    let start = world.now();
    assert!(run(&world, 600, || {
        s.balance_queue().unwrap();
        ihs.iter().all(|ih| state(&s, *ih) == TorrentState::Seeding)
    }));
    let took = world.now().since(start);
    assert!(took >= Duration::from_secs(110), "all ran after {took:?}");
}
