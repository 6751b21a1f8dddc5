//! A peer that sends corrupted blocks is found out and banned, and the download still
//! completes with correct data.

mod sim_common;

use seedring::Time;
use seedring::core::{AddTorrent, Bitfield, CoreConfig, TorrentSource};
use sim_common::*;

#[test]
fn peer_sending_corrupted_blocks_is_banned_and_download_completes() {
    let (seed, _g) = seed(23);
    let world = world(seed);
    let fx = fixture(seed, "target", FILES, 32 * 1024);
    liar_swarm_completes_and_bans(&world, &fx, 3);
}

#[test]
fn a_sole_peer_whose_piece_failed_is_retried_and_the_download_completes() {
    let (seed, _g) = seed(24);
    let world = world(seed);
    let fx = fixture(seed, "target", FILES, 32 * 1024);
    let ih = fx.meta.info_hash;
    // The only seeder has one bad byte on disk (its data is trusted, not checked).
    let s = seedring::Engine::memory(&world, CoreConfig::default());
    let (path, good) = &fx.files[0];
    let mut bad = good.clone();
    bad[1000] ^= 0xff;
    world.write_file(&s, &format!("{ROOT}/{path}"), bad);
    for (path, bytes) in &fx.files[1..] {
        world.write_file(&s, &format!("{ROOT}/{path}"), bytes.clone());
    }
    s.add_torrent(AddTorrent {
        have: Some(Bitfield::full(fx.meta.info.geometry.piece_count())),
        ..AddTorrent::new(TorrentSource::Metainfo(fx.meta.clone()), ROOT)
    })
    .unwrap();
    let l = leecher(&world, &fx, CoreConfig::default());
    introduce(&[&s, &l], ih);
    let failed = world.run_while(
        Time::from_secs(60),
        std::time::Duration::from_millis(100),
        || l.stats(ih).unwrap().hash_failures > 0,
    );
    assert!(failed, "the bad piece was never sent");
    // The seeder's disk is mended; the leecher comes back after its backoff.
    world.write_file(&s, &format!("{ROOT}/{path}"), good.clone());
    let ok = world.run_while(
        Time::from_secs(600),
        std::time::Duration::from_millis(500),
        || done(&l, ih),
    );
    let st = l.stats(ih).unwrap();
    assert!(ok, "stalled after the hash failure: {st:?}");
    assert_eq!(st.banned, 0);
    assert_same_data(&world, &l, &fx, "leecher");
}
