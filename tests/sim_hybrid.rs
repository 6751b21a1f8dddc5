//! Hybrid torrents (BEP 52) in both swarms, in the sim: a hybrid known by its
//! v1 hash answers peers that name it by its truncated v2 hash (plaintext and
//! MSE), a `btmh` link to a hybrid downloads by its v1 side and then answers
//! under its v1 hash too, trackers hear of a hybrid under both names, the DHT
//! is asked for both, and adding a hybrid under its other name is a duplicate.

mod sim_common;

use std::time::Duration;

use seedring::core::{AddTorrent, CommandError, CoreConfig, Encryption, TorrentSource};
use seedring::metainfo::Magnet;
use seedring::proto::tracker::AnnounceEvent;
use seedring::{Engine, InfoHash, Time};
use sim_common::*;

const TRACKER: &str = "http://tracker.sim/announce";

fn hybrid(seed: u64) -> (Fixture, InfoHash, InfoHash) {
    let fx = fixture_hybrid(seed, "hy", V2_FILES, 32 * 1024);
    let (v1, v2) = fx.meta.info.hybrid_names().unwrap();
    assert_eq!(fx.meta.info_hash, v1);
    (fx, v1, v2)
}

fn add_magnet(e: &Engine, uri: &str) -> InfoHash {
    let m = Magnet::parse(uri).unwrap();
    e.add_torrent(AddTorrent::new(TorrentSource::Magnet(m), ROOT))
        .unwrap()
}

fn btmh(fx: &Fixture) -> String {
    let v2 = fx.meta.v2.as_ref().unwrap().info_hash_hex();
    format!("magnet:?xt=urn:btmh:1220{v2}")
}

fn run_until_done(world: &seedring::sim::SimWorld, e: &Engine, ih: InfoHash, who: &str) {
    let ok = world.run_while(Time::from_secs(600), Duration::from_millis(250), || {
        done(e, ih)
    });
    assert!(ok, "{who} stuck: {:?}", e.stats(ih));
}

/// A `btmh` link reaches a seed that has the hybrid under its v1 hash; the
/// new copy, known by the v2 name, then serves a `btih` link's leecher that
/// names it by the v1 hash. With `encryption` both ways.
fn both_names_go_both_ways(seed: u64, encryption: Encryption) {
    let world = world(seed);
    let (fx, v1, v2) = hybrid(seed);
    let cfg = CoreConfig {
        encryption,
        ..CoreConfig::default()
    };
    let s = seeder(&world, &fx, cfg.clone());
    let a = engine(&world, cfg.clone());
    let id = add_magnet(&a, &format!("{}&x.pe={}", btmh(&fx), s.listen_addr()));
    assert_eq!(id, v2);
    run_until_done(&world, &a, v2, "btmh leecher");
    assert_same_data(&world, &a, &fx, "btmh leecher");
    let st = a.stats(v2).unwrap();
    assert_eq!(
        st.v1_hash,
        Some(v1),
        "the v1 name is known from the metadata"
    );
    assert_eq!(st.v2_hash, fx.meta.info.v2_hash);
    assert_eq!(st.hash_failures, 0);
    drop(s);

    // Only the copy known by its v2 name is left; a leecher of the v1 name
    // finds it.
    let b = engine(&world, cfg);
    let uri = format!(
        "magnet:?xt=urn:btih:{}&x.pe={}",
        v1.to_hex(),
        a.listen_addr()
    );
    assert_eq!(add_magnet(&b, &uri), v1);
    run_until_done(&world, &b, v1, "btih leecher");
    assert_same_data(&world, &b, &fx, "btih leecher");
    let st = b.stats(v1).unwrap();
    assert_eq!(st.v1_hash, Some(v1));
    assert_eq!(st.v2_hash, fx.meta.info.v2_hash);
}

#[test]
fn a_hybrid_answers_under_both_names_in_plaintext() {
    let (seed, _g) = seed(71);
    both_names_go_both_ways(seed, Encryption::Disabled);
}

#[test]
fn a_hybrid_answers_under_both_names_over_mse() {
    let (seed, _g) = seed(72);
    both_names_go_both_ways(seed, Encryption::Required);
}

/// The seed announces the hybrid under both names, on one schedule; a
/// leecher with a `btmh` link announces the v2 name only and finds the seed
/// there. Removing the torrent says `stopped` under both names.
#[test]
fn trackers_hear_of_a_hybrid_under_both_names() {
    let (seed, _g) = seed(73);
    let world = world(seed);
    world.add_tracker(TRACKER, 1800);
    let (fx, v1, v2) = hybrid(seed);
    let mut meta = (*fx.meta).clone();
    meta.tracker_tiers = vec![vec![TRACKER.to_owned()]];
    let fx = Fixture {
        meta: std::sync::Arc::new(meta),
        files: fx.files,
    };
    let s = seeder(&world, &fx, CoreConfig::default());
    let l = engine(&world, CoreConfig::default());
    add_magnet(&l, &format!("{}&tr={TRACKER}", btmh(&fx)));
    run_until_done(&world, &l, v2, "btmh leecher");
    assert_same_data(&world, &l, &fx, "btmh leecher");

    s.remove(v1, false).unwrap();
    run_for(&world, Duration::from_secs(5));
    let log = world.tracker_log(TRACKER);
    let seed_says = |ih: InfoHash| -> Vec<AnnounceEvent> {
        log.iter()
            .filter(|r| r.from == s.listen_addr() && r.request.info_hash == ih)
            .map(|r| r.request.event)
            .collect()
    };
    let (under_v1, under_v2) = (seed_says(v1), seed_says(v2));
    assert_eq!(under_v1, under_v2, "one schedule for both names");
    assert_eq!(under_v1.first(), Some(&AnnounceEvent::Started));
    assert_eq!(under_v1.last(), Some(&AnnounceEvent::Stopped));
    // The leecher knew only the v2 name until the metadata came, then both.
    let leech_first = log.iter().find(|r| r.from == l.listen_addr()).unwrap();
    assert_eq!(leech_first.request.info_hash, v2);
    assert!(
        log.iter()
            .any(|r| r.from == l.listen_addr() && r.request.info_hash == v1),
        "after its metadata, the btmh leecher announces the v1 name too"
    );
}

/// The DHT is asked for both names of a hybrid; peers it finds under the
/// alias go to the torrent; the other name cannot be added again.
#[test]
fn the_dht_lists_both_names_and_the_other_name_is_a_duplicate() {
    let (seed, _g) = seed(74);
    let world = world(seed);
    let (fx, v1, v2) = hybrid(seed);
    let s = seeder(&world, &fx, CoreConfig::default());
    let mut listed: Vec<InfoHash> = s.dht_torrents().unwrap().into_iter().map(|t| t.0).collect();
    listed.sort();
    let mut both = vec![v1, v2];
    both.sort();
    assert_eq!(listed, both);

    let peer: std::net::SocketAddr = "10.9.9.9:6881".parse().unwrap();
    s.add_peers_from(v2, &[peer], seedring::core::PeerSource::Dht)
        .unwrap();
    assert_eq!(s.stats(v1).unwrap().known_peers.dht, 1);

    let again = s.add_torrent(AddTorrent::new(
        TorrentSource::Magnet(Magnet::parse(&btmh(&fx)).unwrap()),
        ROOT,
    ));
    assert!(
        matches!(again, Err(seedring::engine::EngineError::Command(CommandError::Duplicate(h))) if h == v1),
        "{again:?}"
    );
}

/// An address learned under the alias only (here from the DHT) is dialled by
/// that name: the peer there, a `btmh` link without metadata, knows no other
/// and gets the metadata from us.
#[test]
fn an_address_from_the_other_swarm_is_dialled_by_the_other_name() {
    let (seed, _g) = seed(75);
    let world = world(seed);
    let (fx, v1, v2) = hybrid(seed);
    let l = leecher(&world, &fx, CoreConfig::default());
    let x = engine(&world, CoreConfig::default());
    add_magnet(&x, &btmh(&fx));
    l.add_peers_from(v2, &[x.listen_addr()], seedring::core::PeerSource::Dht)
        .unwrap();
    let ok = world.run_while(Time::from_secs(60), Duration::from_millis(100), || {
        x.stats(v2).is_ok_and(|s| s.v1_hash == Some(v1))
    });
    assert!(ok, "the btmh peer got no metadata: {:?}", x.stats(v2));
}

/// A hybrid added by its v2 name restarts from its store, with its layout
/// record and without it (then from its stored `info`, whose SHA-1 is its v1
/// name), seeding unchecked and answering under its v1 name.
#[test]
fn a_hybrid_known_by_its_v2_name_restarts_with_both_names() {
    use seedring::resume_lmdb::{MemorySessionStore, SessionStore, layout_key};
    let (seed, _g) = seed(76);
    let world = world(seed);
    let (fx, v1, v2) = hybrid(seed);
    let s = seeder(&world, &fx, CoreConfig::default());
    let store = MemorySessionStore::default();
    let a = Engine::memory_with_store(&world, CoreConfig::default(), store.clone());
    a.add_root("data", "data disk", std::path::Path::new(ROOT))
        .unwrap();
    add_magnet(&a, &format!("{}&x.pe={}", btmh(&fx), s.listen_addr()));
    run_until_done(&world, &a, v2, "btmh leecher");
    a.flush().unwrap();
    drop(s);
    let mut a = a;
    for without_layout in [false, true] {
        if without_layout {
            store.delete(&layout_key(v2)).unwrap();
        }
        let (restored, _) = a.memory_crash_restart(CoreConfig::default());
        run_for(&world, Duration::from_millis(10));
        assert!(done(&restored, v2), "{:?}", restored.stats(v2));
        assert!(restored.restore_report().rechecked.is_empty());
        assert_eq!(restored.stats(v2).unwrap().v1_hash, Some(v1));
        let b = engine(&world, CoreConfig::default());
        let uri = format!(
            "magnet:?xt=urn:btih:{}&x.pe={}",
            v1.to_hex(),
            restored.listen_addr()
        );
        add_magnet(&b, &uri);
        run_until_done(&world, &b, v1, "btih leecher");
        a = restored;
    }
}

/// The `btih` and the `btmh` link of one hybrid added to one engine before
/// either's metadata is known: once one link's metadata comes, the other
/// (still fetching) is merged into it: one torrent, with both links' trackers
/// and both names, that downloads the data whole.
#[test]
fn two_links_to_one_hybrid_become_one_torrent() {
    let (seed, _g) = seed(74);
    let world = world(seed);
    let (fx, v1, v2) = hybrid(seed);
    let s = seeder(&world, &fx, CoreConfig::default());
    let l = engine(&world, CoreConfig::default());
    let (tr1, tr2) = ("http://one.sim/announce", "http://two.sim/announce");
    let pe = s.listen_addr();
    let by_v1 = format!("magnet:?xt=urn:btih:{}&tr={tr1}&x.pe={pe}", v1.to_hex());
    assert_eq!(add_magnet(&l, &by_v1), v1);
    assert_eq!(
        add_magnet(&l, &format!("{}&tr={tr2}&x.pe={pe}", btmh(&fx))),
        v2
    );
    assert_eq!(l.torrents().unwrap().len(), 2);

    let one = world.run_while(Time::from_secs(60), Duration::from_millis(100), || {
        l.torrents().unwrap().len() == 1
    });
    assert!(one, "the two links stay two torrents");
    let kept = l.torrents().unwrap()[0];
    let other = if kept == v1 { v2 } else { v1 };
    assert_eq!(l.reconcile().unwrap(), 1, "the engine hears of the merge");
    run_until_done(&world, &l, kept, "merged hybrid");
    assert_same_data(&world, &l, &fx, "merged hybrid");
    let st = l.stats(kept).unwrap();
    assert_eq!((st.v1_hash, st.v2_hash), (Some(v1), fx.meta.info.v2_hash));
    assert_eq!(st.hash_failures, 0);
    let tiers = pollster::block_on(l.trackers_async(kept))
        .unwrap()
        .tiers
        .concat();
    assert!(
        tiers.contains(&tr1.to_owned()) && tiers.contains(&tr2.to_owned()),
        "{tiers:?}"
    );
    // The other link names the kept torrent now.
    let again = Magnet::parse(&format!("magnet:?xt=urn:btih:{}", other.to_hex())).unwrap();
    let again = l.add_torrent(AddTorrent::new(TorrentSource::Magnet(again), ROOT));
    assert!(
        matches!(again, Err(seedring::engine::EngineError::Command(CommandError::Duplicate(h))) if h == kept),
        "{again:?}"
    );
}
