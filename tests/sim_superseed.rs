//! Super-seeding (BEP 16) in a simulated swarm: a torrent's only seed and
//! eight leechers that know each other. Super-seeded, the seed sends about one
//! copy of the torrent and the leechers trade the rest; every leecher ends
//! with the right data. The same swarm without it, in the same test, has the
//! seed send more. A share limit whose action is `super_seed` turns it on
//! and keeps the torrent seeding.

mod sim_common;

use seedring::core::{CoreConfig, GlobalShare, ShareAction, ShareLimits, TorrentState};
use sim_common::*;

/// Runs the swarm; what the seed uploaded, and the torrent's size.
fn first_seed_uploads(seed: u64, super_seeding: bool) -> (u64, u64) {
    let world = world(seed);
    let fx = fixture(seed, "first", &[("first.bin", 4 << 20)], 64 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    run_for(&world, std::time::Duration::from_secs(2));
    assert!(done(&s, ih));
    s.set_super_seeding(ih, super_seeding).unwrap();
    assert_eq!(s.stats(ih).unwrap().settings.super_seeding, super_seeding);
    let leechers: Vec<_> = (0..8)
        .map(|_| leecher(&world, &fx, CoreConfig::default()))
        .collect();
    let mut all: Vec<&seedring::Engine> = leechers.iter().collect();
    all.push(&s);
    introduce(&all, ih);
    let finished = run_within(&world, 900, std::time::Duration::from_secs(1), || {
        leechers.iter().all(|l| done(l, ih))
    });
    let left = leechers.iter().filter(|l| !done(l, ih)).count();
    assert!(
        finished,
        "{left} of 8 leechers unfinished (super-seeding {super_seeding})"
    );
    for (i, l) in leechers.iter().enumerate() {
        assert_same_data(&world, l, &fx, &format!("leecher {i}"));
    }
    (
        s.stats(ih).unwrap().uploaded,
        fx.meta.info.geometry.total_length(),
    )
}

#[test]
fn a_super_seeding_first_seed_sends_about_one_copy() {
    let (seed, _g) = seed(71);
    let (with, size) = first_seed_uploads(seed, true);
    let (without, _) = first_seed_uploads(seed, false);
    let ratio = |b: u64| b as f64 / size as f64;
    eprintln!(
        "the seed sent {:.2} copies super-seeding, {:.2} without",
        ratio(with),
        ratio(without)
    );
    assert!(
        ratio(with) <= 1.5,
        "super-seeding: {:.2} copies",
        ratio(with)
    );
    assert!(
        with < without,
        "super-seeding sent {with} bytes, without {without}"
    );
}

#[test]
fn a_share_limit_can_turn_super_seeding_on() {
    let (seed, _g) = seed(72);
    let world = world(seed);
    let fx = fixture(seed, "limit", &[("limit.bin", 1 << 20)], 64 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    s.set_global_share(GlobalShare {
        limits: ShareLimits {
            ratio_milli: -1,
            seeding_mins: 1,
            inactive_mins: -1,
        },
        action: ShareAction::SuperSeed,
    })
    .unwrap();
    let on = run_within(&world, 300, std::time::Duration::from_secs(1), || {
        s.stats(ih).unwrap().settings.super_seeding
    });
    assert!(on, "no super-seeding after 300 s past a one-minute limit");
    run_for(&world, std::time::Duration::from_secs(60));
    let st = s.stats(ih).unwrap();
    assert_eq!(st.state, TorrentState::Seeding);
    assert!(st.settings.super_seeding);
    // A leecher still gets the whole torrent from it alone.
    let l = leecher(&world, &fx, CoreConfig::default());
    introduce(&[&s, &l], ih);
    assert!(run_within(
        &world,
        600,
        std::time::Duration::from_secs(1),
        || done(&l, ih)
    ));
    assert_same_data(&world, &l, &fx, "the leecher");
}
