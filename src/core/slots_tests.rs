//! Upload slots and connection room against scripted peers: a slot is tried,
//! not held; a torrent at its cap makes room for a newcomer only by closing a
//! peer of no use.

use super::tests::{closed, connect, core_having_with, feed, feed_at, raw_at, sent_contains};
use super::*;

/// A seed with room for a crowd.
fn seeding_core() -> (Core, InfoHash, u32) {
    let cfg = CoreConfig {
        max_connections_per_torrent: 200,
        ..CoreConfig::default()
    };
    core_having_with(true, cfg)
}

fn req(piece: u32, offset: u32, len: u32) -> BlockRequest {
    BlockRequest { piece, offset, len }
}

/// A hundred peers say they are interested and never ask (a flood, or broken
/// clients); 64 of them hold the slots. A leecher that comes later is
/// unchoked once their two-second trial is up, not when it wins a draw at a
/// later choker round, and keeps its slot while it asks.
#[test]
fn interested_peers_that_never_ask_do_not_crowd_out_a_leecher() {
    let (mut core, ih, _) = seeding_core();
    let idle: Vec<PeerKey> = (0..100)
        .map(|_| {
            let k = connect(&mut core, ih, true);
            feed(&mut core, k, &[Message::HaveNone, Message::Interested]);
            k
        })
        .collect();
    let unchoked = |core: &Core, k: PeerKey| !core.peers[&k].am_choking;
    let held = idle.iter().filter(|k| unchoked(&core, **k)).count();
    assert_eq!(held, core.cfg.max_unchoke_slots);
    let ms = Time::from_millis;
    let mut out = Vec::new();
    core.on_tick(ms(10_000), &mut out);
    // The 64 asked for nothing: their slots went to the 36 others.
    let leecher = connect(&mut core, ih, true);
    let out = feed_at(
        &mut core,
        ms(11_000),
        leecher,
        &[Message::HaveNone, Message::Interested],
    );
    assert!(!sent_contains(&out, &Message::Unchoke), "no slot was free");
    let mut unchoked_at = None;
    let mut asked = 0;
    for tenth in 111..=400 {
        let now = ms(tenth * 100);
        if tenth % 10 == 0 {
            for k in &idle {
                feed_at(&mut core, now, *k, &[Message::KeepAlive]);
            }
        }
        if unchoked(&core, leecher) {
            unchoked_at.get_or_insert(now);
            // It asks for a block each second, as a slow leecher would.
            if tenth % 10 == 0 {
                let r = Message::Request(req(asked % 6, 0, 16384));
                asked += 1;
                let out = feed_at(&mut core, now, leecher, &[r]);
                assert!(!closed(&out));
            }
        }
        let mut out = Vec::new();
        core.on_tick(now, &mut out);
        if unchoked_at.is_some() {
            assert!(unchoked(&core, leecher), "choked while it asks, at {now:?}");
        }
    }
    let at = unchoked_at.expect("the leecher was never unchoked");
    assert!(at <= ms(13_100), "unchoked at {at:?}");
}

/// A peer that dials us, from its own address, named by `n`.
fn dial_in(core: &mut Core, now: Time, ih: InfoHash, n: u8) -> (PeerKey, Vec<Action>) {
    let addr = SocketAddr::new([127, 0, 0, n].into(), 6881);
    let key = core.on_incoming(now, addr).unwrap();
    let mut id = [9u8; 20];
    id[0] = n;
    let out = raw_at(core, now, key, &Handshake::new(ih, id).encode());
    (key, out)
}

/// At its cap of three, a torrent refuses a newcomer while its peers are of
/// use or new; once one has been of no use for a minute, a newcomer takes the
/// place of the one of no use the longest, and a peer that asks keeps its own.
#[test]
fn a_torrent_at_its_cap_makes_room_only_by_closing_a_peer_of_no_use() {
    let cfg = CoreConfig {
        max_connections_per_torrent: 3,
        ..CoreConfig::default()
    };
    let (mut core, ih, _) = core_having_with(true, cfg);
    let ms = Time::from_millis;
    let (a, _) = dial_in(&mut core, ms(0), ih, 1);
    let (b, _) = dial_in(&mut core, ms(1_000), ih, 2);
    let (c, _) = dial_in(&mut core, ms(2_000), ih, 3);
    let (d, out) = dial_in(&mut core, ms(30_000), ih, 4);
    assert!(
        closed(&out) && !core.peers.contains_key(&d),
        "refused: nobody is of no use yet"
    );
    // A asks for a block at 50 s (and is served); B and C say nothing.
    feed_at(
        &mut core,
        ms(50_000),
        a,
        &[Message::HaveNone, Message::Interested],
    );
    let out = feed_at(
        &mut core,
        ms(50_000),
        a,
        &[Message::Request(req(0, 0, 16384))],
    );
    assert!(!closed(&out));
    let (e, out) = dial_in(&mut core, ms(61_500), ih, 5);
    let gone: Vec<PeerKey> = out
        .iter()
        .filter_map(|x| match x {
            Action::Close { peer, reason } => Some((*peer, reason.clone())),
            _ => None,
        })
        .map(|(p, r)| {
            assert_eq!(r, CloseReason::Caps);
            p
        })
        .collect();
    assert_eq!(gone, vec![b], "B, of no use the longest, makes way");
    assert!(core.peers.contains_key(&e) && core.peers.contains_key(&a));
    assert_eq!(core.torrents[&ih].peers.len(), 3);
    // C goes next; A, which asked, stays while the others come and go.
    let (_, out) = dial_in(&mut core, ms(62_500), ih, 6);
    assert!(
        out.iter()
            .any(|x| matches!(x, Action::Close { peer, .. } if *peer == c))
    );
    let (_, out) = dial_in(&mut core, ms(63_000), ih, 7);
    assert!(closed(&out), "the rest are new");
    assert!(core.peers.contains_key(&a));
}

/// One fixed slot. A leecher that holds it and asks for nothing keeps it while
/// nobody waits (it may need us later); once another interested peer waits,
/// the slot goes to the newcomer at the next tick, and the round after keeps
/// it there (A, marked, gets only the optimistic slot).
#[test]
fn an_unused_slot_is_taken_back_only_for_a_peer_that_waits() {
    let cfg = CoreConfig {
        slot_mode: SlotMode::Fixed,
        unchoke_slots: 1,
        ..CoreConfig::default()
    };
    let (mut core, ih, _) = core_having_with(true, cfg);
    let ms = Time::from_millis;
    let unchoked = |core: &Core, k: PeerKey| !core.peers[&k].am_choking;
    let a = connect(&mut core, ih, true);
    feed(&mut core, a, &[Message::HaveNone, Message::Interested]);
    assert!(unchoked(&core, a));
    for tenth in 1..=95 {
        let mut out = Vec::new();
        core.on_tick(ms(tenth * 100), &mut out);
        assert!(
            unchoked(&core, a),
            "choked at {} ms with nobody waiting",
            tenth * 100
        );
    }
    let b = connect(&mut core, ih, true);
    let out = feed_at(
        &mut core,
        ms(9_600),
        b,
        &[Message::HaveNone, Message::Interested],
    );
    assert!(
        !sent_contains(&out, &Message::Unchoke),
        "the one slot is held"
    );
    let mut out = Vec::new();
    core.on_tick(ms(9_700), &mut out);
    assert!(!unchoked(&core, a) && unchoked(&core, b), "{out:?}");
    for tenth in 98..=120 {
        let mut out = Vec::new();
        core.on_tick(ms(tenth * 100), &mut out);
    }
    assert!(unchoked(&core, b), "the round kept B");
    assert!(core.peers[&a].optimistic && !core.peers[&b].optimistic);
}

/// A torrent still downloading fills its cap of two with peers that have
/// nothing for it. At the next round it lets the one of no use the longest go
/// and dials an address it never tried in its place; with no untried address
/// left, the round after lets nobody go.
#[test]
fn a_full_torrent_lets_a_peer_of_no_use_go_to_try_a_new_address() {
    let cfg = CoreConfig {
        max_connections_per_torrent: 2,
        ..CoreConfig::default()
    };
    let (mut core, ih, _) = core_having_with(false, cfg);
    let ms = Time::from_millis;
    let (a, _) = dial_in(&mut core, ms(0), ih, 1);
    let (b, _) = dial_in(&mut core, ms(1_000), ih, 2);
    feed(&mut core, a, &[Message::HaveNone]);
    feed(&mut core, b, &[Message::HaveNone]);
    let fresh: SocketAddr = "10.0.0.7:6881".parse().unwrap();
    core.add_peers(ih, &[fresh]).unwrap();
    let mut out = Vec::new();
    core.on_tick(ms(30_000), &mut out);
    assert!(!closed(&out), "nobody has been of no use for a minute yet");
    let mut out = Vec::new();
    core.on_tick(ms(70_000), &mut out);
    let gone: Vec<PeerKey> = out
        .iter()
        .filter_map(|x| match x {
            Action::Close { peer, reason } if *reason == CloseReason::Caps => Some(*peer),
            _ => None,
        })
        .collect();
    assert_eq!(gone, vec![a], "{out:?}");
    assert!(
        out.iter()
            .any(|x| matches!(x, Action::Connect { addr, .. } if *addr == fresh)),
        "{out:?}"
    );
    let mut out = Vec::new();
    core.on_tick(ms(80_000), &mut out);
    assert!(!closed(&out), "no untried address left: {out:?}");
    assert!(core.peers.contains_key(&b));
}
