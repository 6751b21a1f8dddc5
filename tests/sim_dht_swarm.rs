//! Engines with DHT nodes in the sim: magnets with no tracker and no peer
//! resolve their metadata and complete through the DHT and peer exchange
//! alone, while a private torrent in the same swarm never appears in any DHT
//! packet (each one is decoded as it is delivered).

mod sim_common;

use std::sync::{Arc, Mutex};

use seedring::Time;
use seedring::core::{AddTorrent, Bitfield, CoreConfig, TorrentSource};
use seedring::dht::krpc::{Body, Packet, Query};
use seedring::metainfo::Magnet;
use sim_common::*;

#[test]
fn trackerless_magnets_complete_through_the_dht_and_pex_only() {
    let (seed, _g) = seed(61);
    let world = world(seed);
    let fx = fixture(seed, "dhtswarm", FILES, 16 * 1024);
    let secret = private_twin(&fx, "dhtswarm", "secret");
    let (ih, private_ih) = (fx.meta.info_hash, secret.meta.info_hash);

    // Every DHT packet of the run, decoded: which info-hashes it names.
    let named = Arc::new(Mutex::new((0usize, Vec::new())));
    {
        let named = named.clone();
        world.set_datagram_tap(move |_, _, bytes| {
            let p = Packet::decode(bytes).expect("engines send well-formed packets");
            let mut n = named.lock().unwrap();
            n.0 += 1;
            if let Body::Query {
                query: Query::GetPeers { info_hash } | Query::AnnouncePeer { info_hash, .. },
                ..
            } = p.body
            {
                n.1.push(info_hash.0);
            }
        });
    }

    // A node everyone joins through, holding no torrent.
    let router = engine(&world, CoreConfig::default());
    world.enable_dht(&router, &[]);
    let boot = [router.listen_addr()];

    // The seed holds both torrents.
    let s = seeder(&world, &fx, CoreConfig::default());
    for (path, bytes) in &secret.files {
        world.write_file(&s, &format!("{ROOT}/{path}"), bytes.clone());
    }
    s.add_torrent(AddTorrent::new(
        TorrentSource::Metainfo(secret.meta.clone()),
        ROOT,
    ))
    .unwrap();
    world.enable_dht(&s, &boot);

    // Five leechers with nothing but a magnet: no tracker, no peer.
    let uri = format!("magnet:?xt=urn:btih:{}", ih.to_hex());
    let leechers: Vec<_> = (0..5)
        .map(|_| {
            let e = engine(&world, CoreConfig::default());
            e.add_torrent(AddTorrent::new(
                TorrentSource::Magnet(Magnet::parse(&uri).unwrap()),
                ROOT,
            ))
            .unwrap();
            world.enable_dht(&e, &boot);
            e
        })
        .collect();
    // And one that holds the private torrent without any data or peer.
    let p = engine(&world, CoreConfig::default());
    p.add_torrent(AddTorrent {
        have: Some(Bitfield::new(secret.meta.info.geometry.piece_count())),
        ..AddTorrent::new(TorrentSource::Metainfo(secret.meta.clone()), ROOT)
    })
    .unwrap();
    world.enable_dht(&p, &boot);

    let ok = world.run_while(
        Time::from_secs(900),
        std::time::Duration::from_secs(1),
        || leechers.iter().all(|l| done(l, ih)),
    );
    assert!(ok, "magnets stuck: {:?}", leechers[0].stats(ih));
    // Nobody was told of anybody: every address anyone knows came from the DHT
    // (a leecher that looked the seed up, or the seed that found the leechers
    // announcing themselves and dialled them) or from peer exchange.
    let (mut by_dht, mut by_pex) = (0, 0);
    for (i, e) in leechers.iter().chain([&s]).enumerate() {
        if i < leechers.len() {
            assert_same_data(&world, e, &fx, &format!("leecher {i}"));
        }
        let k = e.stats(ih).unwrap().known_peers;
        assert_eq!(k.tracker + k.manual + k.resume, 0, "{k:?}");
        by_dht += k.dht;
        by_pex += k.pex;
    }
    eprintln!(
        "magnets done at {:?}: {by_dht} addresses from the DHT, {by_pex} from PEX",
        world.now()
    );
    assert!(by_dht >= 5, "{by_dht} addresses from the DHT");

    // The private torrent: never in a DHT packet, never announced, no peer.
    let (packets, names) = &*named.lock().unwrap();
    assert!(*packets > 100, "the tap saw {packets} packets");
    assert!(names.contains(&ih.0));
    assert!(
        !names.contains(&private_ih.0),
        "a DHT packet named the private torrent"
    );
    assert_eq!(world.dht_stats(&s).unwrap().torrents, 1);
    assert_eq!(world.dht_stats(&p).unwrap().torrents, 0);
    let ps = p.stats(private_ih).unwrap();
    assert_eq!((ps.peers, ps.known_peers.dht), (0, 0));
}
