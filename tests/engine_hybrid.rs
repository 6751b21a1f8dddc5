//! A hybrid torrent's other name on a real engine of two shards, the names
//! on different shards: commands naming the alias (peers the DHT found under
//! it, a `btmh` link to add it again) reach the torrent's shard, the API's
//! names resolve to its id, and after
//! its removal the alias names nothing; a hybrid's `.torrent` added while its
//! `btmh` link is on the other shard is that torrent; its `btih` and `btmh`
//! links on the two shards become one torrent once the metadata comes (from
//! a real seeding engine on loopback).
#![allow(clippy::disallowed_methods)] // a real engine

mod sim_common;

use std::time::{Duration, Instant};

use seedring::core::{
    AddTorrent, CommandError, CoreConfig, PeerSource, TorrentSource, TorrentState,
};
use seedring::engine::EngineError;
use seedring::metainfo::Magnet;
use seedring::shard::{IoChoice, ShardConfig, shard_of};
use seedring::{Engine, InfoHash};
use sim_common::{Fixture, V2_FILES, fixture_hybrid};

/// A hybrid whose two names belong to different shards of two.
fn split_hybrid() -> (Fixture, InfoHash, InfoHash) {
    for seed in 0..64 {
        let fx = fixture_hybrid(seed, "hy", V2_FILES, 32 * 1024);
        let (v1, v2) = fx.meta.info.hybrid_names().unwrap();
        if shard_of(v1, 2) != shard_of(v2, 2) {
            return (fx, v1, v2);
        }
    }
    panic!("no hybrid split across two shards in 64 tries");
}

/// A real engine of two shards with a root in a temp dir (kept while the
/// returned guard lives).
fn two_shards() -> (Engine, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ShardConfig::new(CoreConfig::default(), "127.0.0.1:0".parse().unwrap());
    cfg.shards = 2;
    let engine = Engine::start(cfg, IoChoice::Auto).expect("engine starts");
    let root = dir.path().to_string_lossy().into_owned();
    engine.add_root("data", "data", dir.path()).unwrap();
    (engine, root, dir)
}

#[test]
fn commands_naming_the_alias_reach_the_torrents_shard() {
    let (engine, root, _dir) = two_shards();
    let (fx, v1, v2) = split_hybrid();
    let add = AddTorrent::new(TorrentSource::Metainfo(fx.meta.clone()), root.clone());
    assert_eq!(engine.add_torrent(add).unwrap(), v1);

    // The API finds it by either name (qBittorrent's tools may hold its
    // truncated v2 hash); a name of no torrent stays as it came.
    let unknown = InfoHash([7; 20]);
    let resolve = |names: Vec<InfoHash>| pollster::block_on(engine.resolve_async(names)).unwrap();
    assert_eq!(resolve(vec![v2, v1, unknown]), [v1, v1, unknown]);

    let peer: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    engine.add_peers_from(v2, &[peer], PeerSource::Dht).unwrap();
    assert_eq!(engine.stats(v1).unwrap().known_peers.dht, 1);
    let listed: Vec<InfoHash> = engine
        .dht_torrents()
        .unwrap()
        .into_iter()
        .map(|t| t.0)
        .collect();
    assert!(listed.contains(&v1) && listed.contains(&v2), "{listed:?}");

    let v2_hex = fx.meta.v2.as_ref().unwrap().info_hash_hex();
    let link = Magnet::parse(&format!("magnet:?xt=urn:btmh:1220{v2_hex}")).unwrap();
    let again = engine.add_torrent(AddTorrent::new(TorrentSource::Magnet(link), root));
    assert!(
        matches!(again, Err(EngineError::Command(CommandError::Duplicate(h))) if h == v1),
        "{again:?}"
    );

    engine.remove(v1, false).unwrap();
    assert_eq!(resolve(vec![v2]), [v2], "the alias names nothing now");
    let gone = engine.add_peers_from(v2, &[peer], PeerSource::Dht);
    assert!(
        matches!(
            gone,
            Err(EngineError::Command(CommandError::UnknownTorrent(_)))
        ),
        "{gone:?}"
    );
}

#[test]
fn a_hybrid_whose_other_name_is_on_the_other_shard_is_a_duplicate() {
    let (engine, root, _dir) = two_shards();
    let (fx, v1, v2) = split_hybrid();
    // The `btmh` link first: known by v2 on its shard, no metadata yet.
    let v2_hex = fx.meta.v2.as_ref().unwrap().info_hash_hex();
    let link = Magnet::parse(&format!("magnet:?xt=urn:btmh:1220{v2_hex}")).unwrap();
    let by_link = AddTorrent::new(TorrentSource::Magnet(link), root.clone());
    assert_eq!(engine.add_torrent(by_link).unwrap(), v2);
    let file = AddTorrent::new(TorrentSource::Metainfo(fx.meta.clone()), root);
    let again = engine.add_torrent(file.clone());
    assert!(
        matches!(again, Err(EngineError::Command(CommandError::Duplicate(h))) if h == v2),
        "{again:?}"
    );
    engine.remove(v2, false).unwrap();
    assert_eq!(engine.add_torrent(file).unwrap(), v1);
}

/// Waits up to 60 s for `ok`, polling.
fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(Instant::now() < until, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_links_to_one_hybrid_on_two_shards_become_one_torrent() {
    let (fx, v1, v2) = split_hybrid();
    // A real seed on loopback: one shard, the files in its root.
    let seed_dir = tempfile::tempdir().unwrap();
    for (path, bytes) in &fx.files {
        let p = seed_dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let cfg = ShardConfig::new(CoreConfig::default(), "127.0.0.1:0".parse().unwrap());
    let seed = Engine::start(cfg, IoChoice::Auto).expect("seed starts");
    seed.add_root("data", "data", seed_dir.path()).unwrap();
    let root = seed_dir.path().to_string_lossy().into_owned();
    seed.add_torrent(AddTorrent::new(
        TorrentSource::Metainfo(fx.meta.clone()),
        root,
    ))
    .unwrap();
    wait_for("the seed checks its data", || {
        seed.stats(v1)
            .is_ok_and(|s| s.state == TorrentState::Seeding)
    });

    let (engine, root, _dir) = two_shards();
    let pe = seed.listen_addr();
    let (tr1, tr2) = ("http://127.0.0.1:1/announce", "http://127.0.0.1:2/announce");
    let v2_hex = fx.meta.v2.as_ref().unwrap().info_hash_hex();
    for (uri, id) in [
        (
            format!("magnet:?xt=urn:btih:{}&tr={tr1}&x.pe={pe}", v1.to_hex()),
            v1,
        ),
        (
            format!("magnet:?xt=urn:btmh:1220{v2_hex}&tr={tr2}&x.pe={pe}"),
            v2,
        ),
    ] {
        let link = Magnet::parse(&uri).unwrap();
        let add = AddTorrent::new(TorrentSource::Magnet(link), root.clone());
        assert_eq!(engine.add_torrent(add).unwrap(), id);
    }
    // The daemon reconciles every 2 s; here the test does.
    wait_for("the two links become one torrent", || {
        engine.reconcile().unwrap();
        engine.torrents().unwrap().len() == 1
    });
    let kept = engine.torrents().unwrap()[0];
    let other = if kept == v1 { v2 } else { v1 };
    assert_eq!(engine.torrents_per_shard().iter().sum::<usize>(), 1);
    wait_for("the merged torrent downloads", || {
        engine
            .stats(kept)
            .is_ok_and(|s| s.state == TorrentState::Seeding)
    });
    for (path, bytes) in &fx.files {
        let got = std::fs::read(std::path::Path::new(&root).join(path)).unwrap();
        assert!(got == *bytes, "{path} differs from the seed's");
    }
    // The other name is this torrent now, and it has both links' trackers.
    let link = Magnet::parse(&format!("magnet:?xt=urn:btih:{}", other.to_hex())).unwrap();
    let again = engine.add_torrent(AddTorrent::new(TorrentSource::Magnet(link), root.clone()));
    assert!(
        matches!(again, Err(EngineError::Command(CommandError::Duplicate(h))) if h == kept),
        "{again:?}"
    );
    let tiers = pollster::block_on(engine.trackers_async(kept))
        .unwrap()
        .tiers
        .concat();
    assert!(
        tiers.contains(&tr1.to_owned()) && tiers.contains(&tr2.to_owned()),
        "{tiers:?}"
    );
}
