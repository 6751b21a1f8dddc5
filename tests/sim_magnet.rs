//! A leecher that has only a magnet link fetches the metadata from peers, checks it
//! against the info-hash, and completes.

mod sim_common;

use seedring::Time;
use seedring::core::{AddTorrent, CoreConfig, TorrentSource, TorrentState};
use seedring::metainfo::Magnet;
use sim_common::*;

#[test]
fn magnet_only_leecher_fetches_metadata_and_completes() {
    let (seed, _g) = seed(11);
    let world = world(seed);
    let fx = fixture(seed, "magnetic", FILES, 16 * 1024);
    let ih = fx.meta.info_hash;
    let s1 = seeder(&world, &fx, CoreConfig::default());
    let s2 = seeder(&world, &fx, CoreConfig::default());
    let store = seedring::resume_lmdb::MemorySessionStore::default();
    let m = seedring::Engine::memory_with_store(&world, CoreConfig::default(), store.clone());
    let uri = format!(
        "magnet:?xt=urn:btih:{}&dn=from+a+link&x.pe={}",
        ih.to_hex(),
        s1.listen_addr()
    );
    m.add_torrent(AddTorrent::new(
        TorrentSource::Magnet(Magnet::parse(&uri).unwrap()),
        ROOT,
    ))
    .unwrap();
    let st = m.stats(ih).unwrap();
    assert_eq!(st.state, TorrentState::FetchingMetadata);
    assert_eq!(&*st.name, "from a link");
    m.add_peers(ih, &[s2.listen_addr()]).unwrap();
    let ok = world.run_while(
        Time::from_secs(300),
        std::time::Duration::from_millis(250),
        || done(&m, ih),
    );
    assert!(ok, "magnet leecher stuck: {:?}", m.stats(ih));
    let st = m.stats(ih).unwrap();
    assert_eq!(&*st.name, "magnetic");
    assert_eq!(st.total_pieces, fx.meta.info.geometry.piece_count());
    assert_same_data(&world, &m, &fx, "magnet leecher");
    // The fetched metadata is in the session store, exactly the bytes that hash to
    // the info-hash, and leaves with the torrent.
    use seedring::resume_lmdb::{SessionStore, meta_key};
    let meta = store.get(&meta_key(ih)).unwrap().expect("metadata stored");
    assert_eq!(seedring::hash::sha1(&meta), ih.0);
    m.remove(ih, false).unwrap();
    assert_eq!(store.get(&meta_key(ih)).unwrap(), None);
}
