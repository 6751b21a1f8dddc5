//! Peer exchange against scripted peers: what is offered, sent and kept.

use super::*;
use crate::metainfo::{CreateLayout, CreateOptions, build_torrent};
use crate::proto::pex::{FLAG_REACHABLE, FLAG_SEED, Pex, UT_PEX_ID};

const PIECE: u32 = 32 * 1024;
/// The ut_pex id our scripted peers ask for.
const THEIR_PEX: u8 = 7;

fn core_with(all: bool, private: bool) -> (Core, InfoHash) {
    let data = vec![5u8; 100_000];
    let pieces: Vec<[u8; 20]> = data.chunks(PIECE as usize).map(hash::sha1).collect();
    let layout = CreateLayout {
        name: "t.bin".into(),
        files: None,
        length: data.len() as u64,
    };
    let opts = CreateOptions {
        private,
        ..CreateOptions::default()
    };
    let (_, meta) = build_torrent(&layout, PIECE, &pieces, &opts).unwrap();
    let n = meta.info.geometry.piece_count();
    let mut core = Core::new(CoreConfig::default());
    let have = if all {
        Bitfield::full(n)
    } else {
        Bitfield::new(n)
    };
    let ih = core
        .add_torrent(
            Time::ZERO,
            AddTorrent {
                have: Some(have),
                ..AddTorrent::new(TorrentSource::Metainfo(Arc::new(meta)), "/r")
            },
            &mut Vec::new(),
        )
        .unwrap();
    (core, ih)
}

fn at(core: &mut Core, secs: u64, key: PeerKey, msgs: &[Message]) -> Vec<Action> {
    super::tests::feed_at(core, Time::from_secs(secs), key, msgs)
}

/// An inbound peer from `addr` whose handshake is done; our answer.
fn connect(core: &mut Core, ih: InfoHash, addr: &str) -> (PeerKey, Vec<Action>) {
    let key = core.on_incoming(Time::ZERO, addr.parse().unwrap()).unwrap();
    let mut id = [42u8; 20];
    id[..8].copy_from_slice(&key.0.to_be_bytes());
    let out = super::tests::raw(core, key, &Handshake::new(ih, id).encode());
    assert!(
        !out.iter().any(|a| matches!(a, Action::Close { .. })),
        "{out:?}"
    );
    (key, out)
}

fn ext_handshake(port: u16, pex: bool) -> Message {
    let mut hs = ExtHandshake::ours("scripted", port, 250, None);
    if pex {
        hs.m.insert("ut_pex".into(), THEIR_PEX);
    }
    Message::Extended {
        id: 0,
        payload: hs.encode(),
    }
}

/// Every message sent to `key` in `out` (our handshake skipped).
fn sent(out: &[Action], key: PeerKey) -> Vec<Message> {
    let mut d = MessageDecoder::new(1 << 20, true, true);
    for a in out {
        if let Action::Send { peer, bytes } = a
            && *peer == key
        {
            let skip = if bytes.starts_with(b"\x13BitTorrent protocol") {
                HANDSHAKE_LEN
            } else {
                0
            };
            d.feed(&bytes[skip..]);
        }
    }
    std::iter::from_fn(|| d.next_message().unwrap()).collect()
}

fn pex_sent(out: &[Action], key: PeerKey) -> Vec<Pex> {
    sent(out, key)
        .into_iter()
        .filter_map(|m| match m {
            Message::Extended { id, payload } if id == THEIR_PEX => {
                Some(Pex::decode(&payload).unwrap())
            }
            _ => None,
        })
        .collect()
}

fn our_ext_handshake(out: &[Action], key: PeerKey) -> ExtHandshake {
    sent(out, key)
        .into_iter()
        .find_map(|m| match m {
            Message::Extended { id: 0, payload } => Some(ExtHandshake::decode(&payload).unwrap()),
            _ => None,
        })
        .expect("an extension handshake")
}

fn pex_msg(added: &[(&str, u8)]) -> Message {
    let pex = Pex {
        added: added
            .iter()
            .map(|(a, f)| (a.parse().unwrap(), *f))
            .collect(),
        ..Pex::default()
    };
    Message::Extended {
        id: UT_PEX_ID,
        payload: pex.encode(),
    }
}

fn tick(core: &mut Core, secs: u64) -> Vec<Action> {
    let mut out = Vec::new();
    core.on_tick(Time::from_secs(secs), &mut out);
    out
}

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn a_peer_offering_pex_hears_of_the_others_at_once_then_of_changes_each_minute() {
    let (mut core, ih) = core_with(true, false);
    let (pa, out) = connect(&mut core, ih, "127.0.0.9:5000");
    assert_eq!(
        our_ext_handshake(&out, pa).m.get("ut_pex"),
        Some(&UT_PEX_ID)
    );
    let out = at(&mut core, 1, pa, &[ext_handshake(7001, true)]);
    assert_eq!(
        pex_sent(&out, pa),
        vec![Pex::default()],
        "alone: an empty list"
    );

    let (pb, _) = connect(&mut core, ih, "127.0.0.10:5000");
    let out = at(&mut core, 2, pb, &[ext_handshake(7002, true)]);
    let first = pex_sent(&out, pb);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].added, vec![(a("127.0.0.9:7001"), 0)]);
    assert!(pex_sent(&out, pa).is_empty(), "A waits for the round");

    // A peer without ut_pex is listed but never sent to.
    let (pc, _) = connect(&mut core, ih, "127.0.0.11:5000");
    at(&mut core, 3, pc, &[ext_handshake(7003, false)]);

    assert!(
        pex_sent(&tick(&mut core, 30), pa).is_empty(),
        "not a minute yet"
    );
    let out = tick(&mut core, 61);
    let want = vec![
        (a("127.0.0.9:7001"), 0),
        (a("127.0.0.10:7002"), 0),
        (a("127.0.0.11:7003"), 0),
    ];
    for k in [pa, pb] {
        let got = pex_sent(&out, k);
        assert_eq!(got.len(), 1, "{k:?}");
        assert_eq!(got[0].added, want);
    }
    assert!(pex_sent(&out, pc).is_empty());

    let mut out = Vec::new();
    core.on_event(Time::from_secs(70), Event::Closed { peer: pb }, &mut out);
    assert!(
        pex_sent(&tick(&mut core, 100), pa).is_empty(),
        "next round at 121 s"
    );
    let got = pex_sent(&tick(&mut core, 122), pa);
    assert_eq!(got.len(), 1);
    assert!(got[0].added.is_empty());
    assert_eq!(got[0].dropped, vec![a("127.0.0.10:7002")]);
    // Nothing changed: nothing sent.
    assert!(pex_sent(&tick(&mut core, 183), pa).is_empty());
}

#[test]
fn what_peers_tell_is_kept_under_the_rules_and_at_most_every_half_minute() {
    let (mut core, ih) = core_with(false, false);
    let (pa, _) = connect(&mut core, ih, "198.51.100.7:5000");
    at(&mut core, 0, pa, &[ext_handshake(7001, true)]);
    let out = at(
        &mut core,
        1,
        pa,
        &[pex_msg(&[
            ("203.0.113.1:6881", FLAG_SEED | FLAG_REACHABLE),
            ("127.0.0.1:22", 0),
            ("[2001:db8::5]:6881", 0),
            ("224.0.0.1:6881", 0),
            ("192.168.1.1:80", 0),
        ])],
    );
    assert!(!out.iter().any(|a| matches!(a, Action::Close { .. })));
    let t = &core.torrents[&ih];
    assert_eq!(t.addrs.len(), 2, "{:?}", t.addrs.keys());
    let kept = &t.addrs[&a("203.0.113.1:6881")];
    assert!(kept.from(PeerSource::Pex) && !kept.from(PeerSource::Tracker));
    assert_eq!(kept.flags, FLAG_SEED | FLAG_REACHABLE);
    assert!(t.addrs.contains_key(&a("[2001:db8::5]:6881")));
    let stats = core.stats(Time::from_secs(1), ih).unwrap();
    assert_eq!(stats.known_peers.pex, 2);

    // Too soon after the last: ignored.
    at(&mut core, 20, pa, &[pex_msg(&[("203.0.113.2:6881", 0)])]);
    assert_eq!(core.torrents[&ih].addrs.len(), 2);
    at(&mut core, 40, pa, &[pex_msg(&[("203.0.113.2:6881", 0)])]);
    assert_eq!(core.torrents[&ih].addrs.len(), 3);

    // A list that is not whole entries closes the peer.
    let bad = Message::Extended {
        id: UT_PEX_ID,
        payload: b"d5:added5:abcdee".to_vec(),
    };
    let out = at(&mut core, 80, pa, &[bad]);
    assert!(out.iter().any(|a| matches!(a, Action::Close { .. })));
}

#[test]
fn a_private_torrent_never_offers_sends_or_takes_pex() {
    let (mut core, ih) = core_with(true, true);
    let (pa, out) = connect(&mut core, ih, "127.0.0.9:5000");
    assert!(!our_ext_handshake(&out, pa).m.contains_key("ut_pex"));
    let out = at(&mut core, 1, pa, &[ext_handshake(7001, true)]);
    assert!(pex_sent(&out, pa).is_empty());
    let (pb, _) = connect(&mut core, ih, "127.0.0.10:5000");
    at(&mut core, 2, pb, &[ext_handshake(7002, true)]);
    for secs in [61, 122, 183] {
        let out = tick(&mut core, secs);
        assert!(pex_sent(&out, pa).is_empty() && pex_sent(&out, pb).is_empty());
    }
    at(&mut core, 200, pa, &[pex_msg(&[("203.0.113.1:6881", 0)])]);
    assert!(core.torrents[&ih].addrs.is_empty());
}

#[test]
fn the_address_book_is_bounded_and_failed_addresses_make_room() {
    let (mut core, ih) = core_with(false, false);
    let many: Vec<SocketAddr> = (0..2_500u32)
        .map(|i| {
            let [_, _, hi, lo] = i.to_be_bytes();
            SocketAddr::from(([10, 1, hi, lo], 6881))
        })
        .collect();
    core.add_peers(ih, &many).unwrap();
    assert_eq!(core.torrents[&ih].addrs.len(), addrs::MAX_KNOWN_ADDRS);
    // Three fail: three new ones take their place, the fourth does not fit.
    let t = core.torrents.get_mut(&ih).unwrap();
    for a in t.addrs.values_mut().take(3) {
        a.failures = 1;
    }
    let fresh: Vec<(SocketAddr, u8)> = (0..4u16)
        .map(|i| (SocketAddr::from(([10, 9, 9, 9], 7000 + i)), 0))
        .collect();
    let l = t.learn(fresh, PeerSource::Pex, None);
    assert_eq!((l.new, l.full), (3, 1));
    assert_eq!(t.addrs.len(), addrs::MAX_KNOWN_ADDRS);
    assert!(core.add_peers(ih, &[a("127.0.0.1:0")]).is_err());
}

#[test]
fn a_mapped_address_is_kept_as_ipv4_and_told_back_as_yourip() {
    let (mut core, ih) = core_with(true, false);
    let (pa, out) = connect(&mut core, ih, "[::ffff:127.0.0.9]:5000");
    assert_eq!(core.peers[&pa].addr, a("127.0.0.9:5000"));
    assert_eq!(our_ext_handshake(&out, pa).yourip, Some(vec![127, 0, 0, 9]));
    let (pb, out) = connect(&mut core, ih, "[2001:db8::7]:5000");
    assert_eq!(
        our_ext_handshake(&out, pb).yourip.map(|b| b.len()),
        Some(16)
    );
}

fn ext_with(port: u16, f: impl FnOnce(&mut ExtHandshake)) -> Message {
    let mut hs = ExtHandshake::ours("scripted", port, 250, None);
    f(&mut hs);
    Message::Extended {
        id: 0,
        payload: hs.encode(),
    }
}

#[test]
fn our_other_address_is_told_once_peers_agree_and_theirs_is_kept() {
    let (mut core, ih) = core_with(true, false);
    let us6: [u8; 16] = "2001:db8::1"
        .parse::<core::net::Ipv6Addr>()
        .unwrap()
        .octets();
    // Two IPv6 peers see us at the same address.
    for (i, peer) in ["[2001:db8::7]:5000", "[2001:db8::8]:5000"]
        .iter()
        .enumerate()
    {
        let (k, out) = connect(&mut core, ih, peer);
        let (ipv4, ipv6) = {
            let hs = our_ext_handshake(&out, k);
            (hs.ipv4, hs.ipv6)
        };
        assert_eq!((ipv4, ipv6), (None, None), "peer {i}: nothing believed yet");
        at(
            &mut core,
            1,
            k,
            &[ext_with(6000, |h| h.yourip = Some(us6.to_vec()))],
        );
    }
    // An IPv4 peer is told our IPv6 address, and tells us its own.
    let (k4, out) = connect(&mut core, ih, "203.0.113.9:5000");
    let hs = our_ext_handshake(&out, k4);
    assert_eq!((hs.ipv6, hs.ipv4), (Some(us6), None));
    let theirs: [u8; 16] = "2001:db8::99"
        .parse::<core::net::Ipv6Addr>()
        .unwrap()
        .octets();
    at(
        &mut core,
        2,
        k4,
        &[ext_with(6001, |h| h.ipv6 = Some(theirs))],
    );
    let t = &core.torrents[&ih];
    let learned = t.addrs.get(&a("[2001:db8::99]:6001")).expect("kept");
    assert!(learned.from(PeerSource::Pex));
    // An IPv6 peer is not told our IPv6 address (it knows it); no IPv4 one is believed.
    let (k6, out) = connect(&mut core, ih, "[2001:db8::9]:5000");
    let hs = our_ext_handshake(&out, k6);
    assert_eq!((hs.ipv4, hs.ipv6), (None, None));

    // A private torrent keeps to its tracker's peers.
    let (mut core, ih) = core_with(true, true);
    let (k, _) = connect(&mut core, ih, "203.0.113.9:5000");
    at(
        &mut core,
        1,
        k,
        &[ext_with(6001, |h| h.ipv6 = Some(theirs))],
    );
    assert!(
        !core.torrents[&ih]
            .addrs
            .contains_key(&a("[2001:db8::99]:6001"))
    );
}
