//! The choker. Fixed slots: a seeder with many interested leechers unchokes at
//! most the regular slots plus one optimistic peer at any moment, and the
//! optimistic slot rotates so that, over time, more peers than that get a turn.
//! Filling the uplink (the default): a seeder with many slow leechers serves them
//! all at once; one whose upload is thin closes slots down to those it feeds.
//! A free slot goes to a peer with our pieces, before it says it is interested.

mod sim_common;

use std::collections::BTreeSet;

use seedring::Time;
use seedring::core::{CoreConfig, SlotMode};
use sim_common::*;

fn fixed() -> CoreConfig {
    CoreConfig {
        slot_mode: SlotMode::Fixed,
        ..CoreConfig::default()
    }
}

/// Peers the seeder does not choke now.
fn unchoked(s: &seedring::Engine, ih: seedring::InfoHash) -> usize {
    s.peer_stats(ih)
        .unwrap()
        .into_iter()
        .filter(|p| !p.flags.contains('C'))
        .count()
}

#[test]
fn seeder_unchokes_four_plus_one_and_rotates_the_optimistic_slot() {
    let (seed, _g) = seed(61);
    let world = world(seed);
    // Big enough that nobody finishes during the test: slow links.
    let fx = fixture(seed, "choke", &[("big.bin", 8 << 20)], 64 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, fixed());
    let leechers: Vec<_> = (0..12)
        .map(|_| leecher(&world, &fx, CoreConfig::default()))
        .collect();
    for l in &leechers {
        l.add_peers(ih, &[s.listen_addr()]).unwrap();
        l.set_torrent_limits(ih, 20_000, 0).unwrap();
    }
    let slots = CoreConfig::default().unchoke_slots;
    let mut ever = BTreeSet::new();
    for sec in 1..=120 {
        world.run_until(Time::from_secs(sec));
        let unchoked: Vec<_> = s
            .peer_stats(ih)
            .unwrap()
            .into_iter()
            .filter(|p| !p.flags.contains('C'))
            .map(|p| p.addr)
            .collect();
        assert!(
            unchoked.len() <= slots + 1,
            "{} unchoked at {sec} s",
            unchoked.len()
        );
        ever.extend(unchoked);
    }
    assert!(
        ever.len() > slots + 1,
        "only {} distinct peers were ever unchoked: the optimistic slot did not rotate",
        ever.len()
    );
    assert!(
        !leechers.iter().any(|l| done(l, ih)),
        "test torrent too small"
    );
}

/// Twenty leechers that can each take 20 kB/s: the default choker serves all of
/// them at once (a fixed 4 + 1 would serve five, a quarter of what they can take).
#[test]
fn filling_the_uplink_serves_every_slow_leecher_at_once() {
    let (seed, _g) = seed(62);
    let world = world(seed);
    let fx = fixture(seed, "fill", &[("big.bin", 8 << 20)], 64 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    let leechers: Vec<_> = (0..20)
        .map(|_| leecher(&world, &fx, CoreConfig::default()))
        .collect();
    for l in &leechers {
        l.add_peers(ih, &[s.listen_addr()]).unwrap();
        l.set_torrent_limits(ih, 20_000, 0).unwrap();
    }
    let mut least = usize::MAX;
    for sec in 1..=60 {
        world.run_until(Time::from_secs(sec));
        if sec >= 20 {
            least = least.min(unchoked(&s, ih));
        }
    }
    assert!(least >= 20, "only {least} of 20 leechers served at once");
    let up = s.stats(ih).unwrap().upload_rate;
    assert!(up >= 20 * 15_000, "seeder uploads {up} B/s to 20 × 20 kB/s");
    assert!(
        !leechers.iter().any(|l| done(l, ih)),
        "test torrent too small"
    );
}

/// A seeder capped at 60 kB/s facing twenty fast leechers: spread over all of them
/// each would get 3 kB/s; the choker closes slots down to those the upload feeds.
#[test]
fn a_thin_upload_is_not_spread_over_every_leecher() {
    let (seed, _g) = seed(63);
    let world = world(seed);
    let fx = fixture(seed, "thin", &[("big.bin", 8 << 20)], 64 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    s.set_torrent_limits(ih, 0, 60_000).unwrap();
    let leechers: Vec<_> = (0..20)
        .map(|_| leecher(&world, &fx, CoreConfig::default()))
        .collect();
    for l in &leechers {
        l.add_peers(ih, &[s.listen_addr()]).unwrap();
    }
    let mut at_start = 0;
    let mut late = Vec::new();
    for sec in 1..=90 {
        world.run_until(Time::from_secs(sec));
        if sec == 3 {
            at_start = unchoked(&s, ih);
        }
        if sec > 60 {
            late.push(unchoked(&s, ih));
        }
    }
    // All served at first (nothing measured yet), then few: the slots that pass
    // (k-th peer ≥ k × 2 KiB/s of 60 kB/s: about five), one probe, the optimistic.
    assert!(at_start >= 20, "{at_start} unchoked at the start");
    let most = *late.iter().max().unwrap();
    assert!(
        most <= 10,
        "{most} unchoked late on a 60 kB/s upload: {late:?}"
    );
    let up = s.stats(ih).unwrap().upload_rate;
    assert!(up >= 50_000, "the cap is still used: {up} B/s");
    assert!(
        !leechers.iter().any(|l| done(l, ih)),
        "test torrent too small"
    );
}

#[test]
fn a_leecher_is_unchoked_with_the_seeders_pieces_a_round_trip_sooner() {
    // 100 ms each way; a torrent of one block, so the download is the
    // connection's round trips and one block.
    let world = seedring::sim::SimWorld::new(seedring::sim::SimConfig {
        seed: 71,
        latency: std::time::Duration::from_millis(100),
        ..seedring::sim::SimConfig::default()
    });
    let fx = fixture(71, "quick", &[("one.bin", 16 * 1024)], 16 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    assert!(run_within(
        &world,
        30,
        std::time::Duration::from_millis(10),
        || done(&s, ih)
    ));
    let l = leecher(&world, &fx, CoreConfig::default());
    let start = world.now();
    l.add_peers(ih, &[s.listen_addr()]).unwrap();
    let step = std::time::Duration::from_millis(1);
    assert!(run_within(&world, 30, step, || done(&l, ih)));
    // Four round trips: TCP, the obfuscated handshake, the BitTorrent
    // handshake (answered with our pieces and an unchoke), then `interested`
    // with the request and the block. Five when the unchoke waited for
    // `interested` (1.0 s before).
    let took = world.now().since(start);
    assert!(took <= std::time::Duration::from_millis(850), "{took:?}");
}
