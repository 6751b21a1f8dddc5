//! The choker: a seeder with many interested leechers unchokes at most the regular
//! slots plus one optimistic peer at any moment, and the optimistic slot rotates so
//! that, over time, more peers than that get a turn.

mod sim_common;

use std::collections::BTreeSet;

use seedring::Time;
use seedring::core::CoreConfig;
use sim_common::*;

#[test]
fn seeder_unchokes_four_plus_one_and_rotates_the_optimistic_slot() {
    let (seed, _g) = seed(61);
    let world = world(seed);
    // Big enough that nobody finishes during the test: slow links.
    let fx = fixture(seed, "choke", &[("big.bin", 8 << 20)], 64 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
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
