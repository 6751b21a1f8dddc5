//! Peer exchange (BEP 11) in the sim: leechers that only know the seed find each
//! other through it; a private torrent's traffic never carries peer exchange,
//! checked on every message of the swarm.

mod sim_common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use seedring::Time;
use seedring::core::{AddTorrent, Bitfield, CoreConfig, PeerSource, TorrentSource};
use seedring::proto::ext::ExtHandshake;
use seedring::proto::{HANDSHAKE_LEN, Handshake, Message, MessageDecoder};
use sim_common::*;

#[test]
fn leechers_that_know_only_the_seed_find_each_other_through_it() {
    let (seed, _g) = seed(21);
    let world = world(seed);
    let fx = fixture(seed, "pexed", &[("big.bin", 3 << 20)], 64 * 1024);
    let ih = fx.meta.info_hash;
    // A thin seed: the leechers must trade among themselves to finish soon.
    let s = seeder(
        &world,
        &fx,
        CoreConfig {
            upload_rate_limit: 256 * 1024,
            ..CoreConfig::default()
        },
    );
    let leechers: Vec<_> = (0..6)
        .map(|_| leecher(&world, &fx, CoreConfig::default()))
        .collect();
    for l in &leechers {
        l.add_peers(ih, &[s.listen_addr()]).unwrap();
    }
    // Watch who each leecher is connected to, and through what it learned them.
    let mut through_pex = vec![0usize; leechers.len()];
    let ok = world.run_while(Time::from_secs(900), Duration::from_secs(1), || {
        for (i, l) in leechers.iter().enumerate() {
            let by_pex = l
                .peer_stats(ih)
                .unwrap()
                .iter()
                .filter(|p| p.sources.contains(&PeerSource::Pex))
                .count();
            through_pex[i] = through_pex[i].max(by_pex);
        }
        leechers.iter().all(|l| done(l, ih))
    });
    assert!(ok, "leechers stuck: {:?}", leechers[0].stats(ih));
    for (i, l) in leechers.iter().enumerate() {
        assert_same_data(&world, l, &fx, &format!("leecher {i}"));
        let st = l.stats(ih).unwrap();
        assert!(
            st.known_peers.pex >= 3,
            "leecher {i} learned {:?}",
            st.known_peers
        );
        assert_eq!(st.known_peers.manual, 1, "the seed, added by hand");
        assert_eq!(st.known_peers.tracker, 0);
        assert!(through_pex[i] >= 1, "leecher {i} never dialled a PEX peer");
    }
    // The seed alone could not have served them all in the time: most of the
    // bytes went between leechers, who knew each other only through the seed.
    let total = 6 * fx.meta.info.geometry.total_length();
    let seeded = s.stats(ih).unwrap().uploaded;
    assert!(
        seeded < total / 2,
        "the seed sent {seeded} of {total} bytes"
    );
}

/// One direction of one connection, decoded as it is delivered.
#[derive(Default)]
struct Stream {
    buf: Vec<u8>,
    info_hash: Option<seedring::InfoHash>,
    decoder: Option<MessageDecoder>,
}

#[derive(Default)]
struct Seen {
    /// Per torrent: extension handshakes offering ut_pex.
    offers: BTreeMap<seedring::InfoHash, usize>,
    /// Per torrent: extended messages that were not handshakes nor ut_metadata
    /// (under the ids these engines give: 1 ut_metadata, 2 ut_pex).
    pex_messages: BTreeMap<seedring::InfoHash, usize>,
    messages: usize,
}

#[test]
fn a_private_torrent_never_carries_peer_exchange_on_any_message() {
    let (seed, _g) = seed(22);
    let world = world(seed);
    let public = fixture(seed, "public", FILES, 16 * 1024);
    let private = private_twin(&public, "public", "private");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let streams = Arc::new(Mutex::new(BTreeMap::<(usize, u64), Stream>::new()));
    {
        let seen = seen.clone();
        world.set_wire_tap(move |d| {
            let mut streams = streams.lock().unwrap();
            let s = streams.entry(d.link).or_default();
            let mut seen = seen.lock().unwrap();
            watch(s, d.bytes, &mut seen);
        });
    }
    // In the clear, so the tap can read every message.
    let plain = CoreConfig {
        encryption: seedring::core::Encryption::Disabled,
        ..CoreConfig::default()
    };
    let engines: Vec<_> = (0..5)
        .map(|i| {
            let e = engine(&world, plain.clone());
            for fx in [&public, &private] {
                if i == 0 {
                    for (path, bytes) in &fx.files {
                        world.write_file(&e, &format!("{ROOT}/{path}"), bytes.clone());
                    }
                }
                let pieces = fx.meta.info.geometry.piece_count();
                e.add_torrent(AddTorrent {
                    have: (i != 0).then(|| Bitfield::new(pieces)),
                    ..AddTorrent::new(TorrentSource::Metainfo(fx.meta.clone()), ROOT)
                })
                .unwrap();
            }
            e
        })
        .collect();
    for e in &engines[1..] {
        for fx in [&public, &private] {
            e.add_peers(fx.meta.info_hash, &[engines[0].listen_addr()])
                .unwrap();
        }
    }
    world.run_until(Time::from_secs(200));
    for (i, e) in engines.iter().enumerate() {
        for fx in [&public, &private] {
            assert!(done(e, fx.meta.info_hash), "engine {i}");
            assert_same_data(&world, e, fx, &format!("engine {i}"));
        }
    }
    let seen = seen.lock().unwrap();
    let (pub_ih, priv_ih) = (public.meta.info_hash, private.meta.info_hash);
    assert!(
        seen.messages > 100,
        "the tap saw {} messages",
        seen.messages
    );
    assert!(seen.offers.get(&pub_ih).copied().unwrap_or(0) >= 8);
    assert!(seen.pex_messages.get(&pub_ih).copied().unwrap_or(0) >= 4);
    assert_eq!(
        seen.offers.get(&priv_ih),
        None,
        "ut_pex offered for the private torrent"
    );
    assert_eq!(
        seen.pex_messages.get(&priv_ih),
        None,
        "peer exchange for the private torrent"
    );
    // And nobody learned a peer of the private torrent but by hand.
    for e in &engines[1..] {
        let st = e.stats(priv_ih).unwrap();
        assert_eq!(st.known_peers.pex, 0);
    }
}

/// Decodes what arrived on one stream and counts what matters.
fn watch(s: &mut Stream, bytes: &[u8], seen: &mut Seen) {
    if let Some(d) = &mut s.decoder {
        d.feed(bytes);
    } else {
        s.buf.extend_from_slice(bytes);
        if s.buf.len() < HANDSHAKE_LEN {
            return;
        }
        let hs = Handshake::decode(&s.buf[..HANDSHAKE_LEN]).expect("a handshake first");
        s.info_hash = Some(hs.info_hash);
        let mut d = MessageDecoder::new(1 << 20, true, true);
        d.feed(&s.buf[HANDSHAKE_LEN..]);
        s.decoder = Some(d);
        s.buf = Vec::new();
    }
    let ih = s.info_hash.expect("set with the decoder");
    let d = s.decoder.as_mut().expect("set");
    while let Some(m) = d.next_message().expect("well-formed traffic") {
        seen.messages += 1;
        if let Message::Extended { id, payload } = m {
            match id {
                0 => {
                    if ExtHandshake::decode(&payload)
                        .unwrap()
                        .m
                        .contains_key("ut_pex")
                    {
                        *seen.offers.entry(ih).or_default() += 1;
                    }
                }
                1 => {}
                _ => *seen.pex_messages.entry(ih).or_default() += 1,
            }
        }
    }
}
