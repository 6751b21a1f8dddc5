//! v2-only torrents (BEP 52) in the sim: pieces checked by their SHA-256
//! merkle roots in a swarm with a peer that sends corrupted blocks, and a seed
//! that restarts from its store (the piece roots kept beside the `info`),
//! rechecks and finds a damaged piece.

mod sim_common;

use std::time::Duration;

use seedring::Time;
use seedring::core::{CoreConfig, TorrentState};
use seedring::resume_lmdb::{MemorySessionStore, SessionStore, layout_key};
use sim_common::*;

#[test]
fn a_v2_swarm_with_a_liar_completes_and_bans_it() {
    let (seed, _g) = seed(61);
    let world = world(seed);
    let fx = fixture_v2(seed, "v2", V2_FILES, 32 * 1024);
    liar_swarm_completes_and_bans(&world, &fx, 2);
}

#[test]
fn a_v2_seed_restarts_from_its_store_and_a_recheck_finds_a_damaged_piece() {
    let (seed, _g) = seed(62);
    let world = world(seed);
    let fx = fixture_v2(seed, "v2", V2_FILES, 16 * 1024);
    let ih = fx.meta.info_hash;
    let pieces = fx.meta.info.geometry.piece_count();
    let seeder = seeder(&world, &fx, CoreConfig::default());
    let store = MemorySessionStore::default();
    let leech = seedring::Engine::memory_with_store(&world, CoreConfig::default(), store.clone());
    leech
        .add_root("data", "data disk", std::path::Path::new(ROOT))
        .unwrap();
    leech
        .add_torrent(seedring::core::AddTorrent::new(
            seedring::core::TorrentSource::Metainfo(fx.meta.clone()),
            ROOT,
        ))
        .unwrap();
    introduce(&[&seeder, &leech], ih);
    assert!(
        world.run_while(Time::from_secs(120), Duration::from_millis(100), || done(
            &leech, ih
        ))
    );
    leech.flush().unwrap();
    drop(seeder);

    // Without its layout record, the torrent is read from the stored metadata
    // (the info bytes and the piece roots): it comes back seeding, unchecked.
    store.delete(&layout_key(ih)).unwrap();
    let (restored, _) = leech.memory_crash_restart(CoreConfig::default());
    run_for(&world, Duration::from_millis(10));
    assert!(done(&restored, ih));
    assert!(restored.restore_report().rechecked.is_empty());

    // A byte of a file longer than a piece is damaged: the recheck (its
    // hashes read back from the store) finds exactly that piece bad.
    let (path, bytes) = &fx.files[1];
    let mut bad = bytes.clone();
    bad[300_000] ^= 0x40;
    world.write_file(&restored, &format!("{ROOT}/{path}"), bad);
    restored.force_recheck(ih).unwrap();
    assert!(world.run_while(
        world.now() + Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            restored
                .stats(ih)
                .is_ok_and(|s| s.state != TorrentState::Checking && s.have_pieces < pieces)
        },
    ));
    let st = restored.stats(ih).unwrap();
    assert_eq!(st.have_pieces, pieces - 1, "{st:?}");
}

/// A v2-only torrent from a `btmh` magnet: the info by ut_metadata, then the
/// piece layers by hash requests. One file of 1,100 pieces takes three
/// requests of 512 hashes, each answered with its proof up to the file's
/// root; seedring serves them and checks them.
#[test]
fn a_v2_magnet_downloads_with_its_piece_layers_from_hash_requests() {
    let (seed, _g) = seed(63);
    let world = world(seed);
    let files = &[("big.bin", 1_100 * 16 * 1024 - 7), ("small.txt", 1_000)];
    let fx = fixture_v2(seed, "mag", files, 16 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    let v2 = fx.meta.v2.as_ref().unwrap().info_hash_hex();
    let uri = format!("magnet:?xt=urn:btmh:1220{v2}&x.pe={}", s.listen_addr());
    let m = engine(&world, CoreConfig::default());
    m.add_torrent(seedring::core::AddTorrent::new(
        seedring::core::TorrentSource::Magnet(seedring::metainfo::Magnet::parse(&uri).unwrap()),
        ROOT,
    ))
    .unwrap();
    let ok = world.run_while(Time::from_secs(600), Duration::from_millis(250), || {
        done(&m, ih)
    });
    assert!(ok, "magnet leecher stuck: {:?}", m.stats(ih));
    assert_same_data(&world, &m, &fx, "magnet leecher");
    assert_eq!(m.stats(ih).unwrap().hash_failures, 0);
}
