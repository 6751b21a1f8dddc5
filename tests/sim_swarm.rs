//! Whole swarms in memory: one seeder, many leechers, deterministic from a seed.

mod sim_common;

use seedring::Time;
use seedring::core::CoreConfig;
use sim_common::*;

/// The seeder's upload cap, bytes per second.
const SEED_UPLOAD: u64 = 2 << 20;

/// Runs 1 seeder + `n` leechers to completion; returns (seeder uploaded, all
/// downloaded, leechers' uploads) after checking every leecher's data.
fn swarm(seed: u64, n: usize) -> (u64, u64, u64) {
    let (sums, _) = swarm_traced(seed, n);
    sums
}

/// [`swarm`], plus a fingerprint of the run: the hash of every event the world
/// ran (time, kind, node, bytes delivered), and every engine's counters.
type Trace = (u64, Vec<(u64, u64, u64, Option<u64>)>);

fn swarm_traced(seed: u64, n: usize) -> ((u64, u64, u64), Trace) {
    let world = world(seed);
    let fx = fixture(seed, "swarm", FILES, 32 * 1024);
    let ih = fx.meta.info_hash;
    // The seeder's upload is what the swarm shares: capped, so the leechers
    // trade among themselves as in a real swarm.
    let s = seeder(&world, &fx, CoreConfig::default());
    s.set_torrent_limits(ih, 0, SEED_UPLOAD).unwrap();
    let leechers: Vec<_> = (0..n)
        .map(|_| leecher(&world, &fx, CoreConfig::default()))
        .collect();
    let mut all: Vec<&seedring::Engine> = vec![&s];
    all.extend(leechers.iter());
    introduce(&all, ih);
    let finished = world.run_while(
        Time::from_secs(600),
        std::time::Duration::from_millis(500),
        || leechers.iter().all(|l| done(l, ih)),
    );
    let stuck: Vec<String> = leechers
        .iter()
        .enumerate()
        .filter(|(_, l)| !done(l, ih))
        .map(|(i, l)| format!("leecher {i}: {:?}", l.stats(ih)))
        .collect();
    assert!(
        finished,
        "not all leechers finished by {:?}:\n{}",
        world.now(),
        stuck.join("\n")
    );
    for (i, l) in leechers.iter().enumerate() {
        assert_same_data(&world, l, &fx, &format!("leecher {i}"));
    }
    let up_seed = s.stats(ih).unwrap().uploaded;
    let down: u64 = leechers
        .iter()
        .map(|l| l.stats(ih).unwrap().downloaded)
        .sum();
    let up_leech: u64 = leechers.iter().map(|l| l.stats(ih).unwrap().uploaded).sum();
    let counters = all
        .iter()
        .map(|e| {
            let st = e.stats(ih).unwrap();
            (st.downloaded, st.uploaded, st.wasted, st.completed_at)
        })
        .collect();
    let trace = (world.trace_hash(), counters);
    ((up_seed, down, up_leech), trace)
}

#[test]
fn same_seed_gives_the_same_run() {
    let (seed, _g) = seed(99);
    let (a, ta) = swarm_traced(seed, 10);
    let (b, tb) = swarm_traced(seed, 10);
    assert_eq!(a, b);
    assert_eq!(ta, tb);
    let (_, tc) = swarm_traced(seed + 1, 10);
    assert_ne!(ta, tc, "a different seed should give a different run");
}

#[test]
fn one_seeder_twenty_leechers_all_get_identical_data() {
    let (seed, _g) = seed(7);
    let total = FILES.iter().map(|f| f.1 as u64).sum::<u64>();
    let (up_seed, down, up_leech) = swarm(seed, 20);
    assert!(down >= 20 * total, "downloaded {down} < {}", 20 * total);
    // Leechers traded with each other: the seeder did not send everything.
    assert!(up_leech > 0, "leechers uploaded nothing");
    assert!(
        up_seed < down,
        "the seeder sent all {up_seed} of {down} bytes"
    );
}

/// The swarm test over many seeds: a failure names its seed for replay.
fn sweep(seeds: std::ops::Range<u64>) {
    for seed in seeds {
        let _g = SeedGuard(seed);
        let (_, down, up_leech) = swarm(seed, 20);
        assert!(down > 0 && up_leech > 0, "seed {seed}");
    }
}

// 200 seeds in two halves, so the test runner spreads them over two cores.
#[test]
fn swarm_sweep_seeds_1_to_100() {
    sweep(1..101);
}

#[test]
fn swarm_sweep_seeds_101_to_200() {
    sweep(101..201);
}

/// Metadata libtorrent accepts and so must we: a piece length that is a
/// multiple of 16 KiB but not a power of two (48 KiB, so pieces straddle files
/// at odd places), and files that share a path (renamed as libtorrent names
/// them). A leecher gets every byte from a seeder, each file where the renamed
/// path says.
#[test]
fn odd_piece_length_and_clashing_paths_download_whole() {
    let (seed, _g) = seed(11);
    let world = world(seed);
    let given = [
        ("a.txt", 70_000),
        ("a.txt", 20_000),
        ("d", 5_000),
        ("d/x", 100_001),
        ("a.txt", 1),
    ];
    let mut fx = fixture(seed, "odd", &given, 48 * 1024);
    let stored: Vec<String> = fx
        .meta
        .info
        .files
        .iter()
        .map(|f| f.display_path())
        .collect();
    assert_eq!(
        stored,
        [
            "odd/a.txt",
            "odd/a.1.txt",
            "odd/d.1",
            "odd/d/x",
            "odd/a.2.txt"
        ]
    );
    // The seeder's files go where the torrent now puts them.
    for (f, path) in fx.files.iter_mut().zip(&stored) {
        f.0.clone_from(path);
    }
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    let l = leecher(&world, &fx, CoreConfig::default());
    introduce(&[&s, &l], ih);
    let finished = world.run_while(
        Time::from_secs(300),
        std::time::Duration::from_millis(500),
        || done(&l, ih),
    );
    assert!(finished, "not done: {:?}", l.stats(ih));
    assert_same_data(&world, &l, &fx, "leecher");
}

/// A new peer's first requests fill a long round trip: four seeders behind
/// 4 MiB/s links 100 ms away, and in the round trip after the leecher's first
/// block it gets at least three quarters of what the four links carry in one
/// (four requests per new peer brought under a sixth of it), and as much in
/// each of the next two. The download then completes whole.
#[test]
fn first_requests_fill_a_long_round_trip() {
    use std::time::Duration;
    let (seed, _g) = seed(5);
    let rtt = Duration::from_millis(100);
    let link: u64 = 4 << 20;
    let world = seedring::sim::SimWorld::new(seedring::sim::SimConfig {
        seed,
        latency: rtt / 2,
        link_bytes_per_sec: link,
        ..seedring::sim::SimConfig::default()
    });
    let fx = fixture(seed, "ramp", &[("big.bin", 8 << 20)], 256 * 1024);
    let ih = fx.meta.info_hash;
    let (_seeders, l) = seeders_and_leecher(&world, &fx, 4);
    let got = || l.stats(ih).unwrap().downloaded;
    let started = world.run_while(Time::from_secs(30), Duration::from_millis(1), || got() > 0);
    assert!(started, "no block in 30 s: {:?}", l.stats(ih));
    let carried = 4 * link * u64::try_from(rtt.as_millis()).unwrap() / 1000;
    for round in 1..=3 {
        run_for(&world, rtt);
        let d = got();
        assert!(
            d * 4 >= round * carried * 3,
            "{d} bytes in the first {round} round trips of data, the links carry {carried} in each"
        );
    }
    let finished = world.run_while(Time::from_secs(120), Duration::from_millis(100), || {
        done(&l, ih)
    });
    assert!(finished, "not done: {:?}", l.stats(ih));
    assert_same_data(&world, &l, &fx, "leecher");
}

/// A seeder that slows down near the end does not hold the end back: five
/// seeders behind 4 MiB/s links 100 ms away, and once the leecher has half of
/// 24 MiB, one of them is capped to 256 KiB/s (as lost segments or a busy
/// uplink would slow it). What is queued at it when it slows is what the end
/// waits for: the queues shorten as the end nears (`queue_time` in
/// `core/requests.rs`), and the back of a slowed peer's queue moves to idle
/// peers, judged by its rate over the last second. The rest takes 1.42 s
/// where the four other links need 0.75 s (3.0 s with neither change, 2.3 s
/// with the shorter queues alone); the bound is twice the four links' time.
#[test]
fn a_seeder_that_slows_near_the_end_does_not_hold_it_back() {
    use std::time::Duration;
    let (seed, _g) = seed(11);
    let link: u64 = 4 << 20;
    let world = seedring::sim::SimWorld::new(seedring::sim::SimConfig {
        seed,
        latency: Duration::from_millis(50),
        link_bytes_per_sec: link,
        ..seedring::sim::SimConfig::default()
    });
    let len: usize = 24 << 20;
    let size = u64::try_from(len).unwrap();
    let fx = fixture(seed, "slowend", &[("big.bin", len)], 256 * 1024);
    let ih = fx.meta.info_hash;
    let (seeders, l) = seeders_and_leecher(&world, &fx, 5);
    let got = || l.stats(ih).unwrap().downloaded;
    let half = world.run_while(Time::from_secs(60), Duration::from_millis(1), || {
        got() >= size / 2
    });
    assert!(half, "not half done in 60 s: {:?}", l.stats(ih));
    let slowed_at = world.now();
    let left = size - got();
    seeders[0].set_global_limits(0, 256 * 1024).unwrap();
    let finished = world.run_while(Time::from_secs(120), Duration::from_millis(1), || {
        done(&l, ih)
    });
    assert!(finished, "not done: {:?}", l.stats(ih));
    let took = world.now().since(slowed_at);
    // The four others alone need left / (4 links) for the rest.
    let others = Duration::from_secs_f64(left as f64 / (4 * link) as f64);
    eprintln!(
        "{left} bytes left when one seeder slowed; done {took:?} later (four links: {others:?})"
    );
    assert!(
        took <= others.mul_f64(2.0),
        "{took:?} for the {left} bytes left, the four other links need {others:?}"
    );
    assert_same_data(&world, &l, &fx, "leecher");
}
