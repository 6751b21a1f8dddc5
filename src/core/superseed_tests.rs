//! Super-seeding against scripted peers: what a peer is shown, what it may
//! ask for, and what it is told when super-seeding ends.

use super::tests::{connect_with, core_having_with, feed, sent_to};
use super::*;

/// The pieces announced one by one in `msgs`.
fn haves(msgs: &[Message]) -> Vec<u32> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Have(i) => Some(*i),
            _ => None,
        })
        .collect()
}

fn super_seeding_core() -> (Core, InfoHash, u32) {
    let (mut core, ih, n) = core_having_with(true, CoreConfig::default());
    core.set_super_seeding(Time::ZERO, ih, true, &mut Vec::new())
        .unwrap();
    (core, ih, n)
}

fn block(piece: u32) -> BlockRequest {
    BlockRequest {
        piece,
        offset: 0,
        // Within the short last piece too.
        len: 1024,
    }
}

fn reads(out: &[Action]) -> usize {
    out.iter()
        .filter(|a| matches!(a, Action::ReadBlock { .. }))
        .count()
}

#[test]
fn a_peer_is_shown_two_pieces_and_may_ask_for_those_only() {
    let (mut core, ih, _) = super_seeding_core();
    let (key, out) = connect_with(&mut core, ih, true);
    let msgs = sent_to(&out, key);
    assert!(msgs.contains(&Message::HaveNone), "{msgs:?}");
    assert!(
        !msgs
            .iter()
            .any(|m| matches!(m, Message::HaveAll | Message::Bitfield(_))),
        "{msgs:?}"
    );
    let shown = haves(&msgs);
    assert_eq!(shown.len(), 2, "{msgs:?}");
    let hidden = (0..7).find(|i| !shown.contains(i)).unwrap();
    let out = feed(
        &mut core,
        key,
        &[Message::Interested, Message::Request(block(hidden))],
    );
    assert!(sent_to(&out, key).contains(&Message::Reject(block(hidden))));
    assert_eq!(reads(&out), 0);
    let out = feed(&mut core, key, &[Message::Request(block(shown[0]))]);
    assert_eq!(reads(&out), 1, "{out:?}");
}

#[test]
fn a_piece_reported_back_brings_a_new_one_and_peers_are_shown_different_pieces() {
    let (mut core, ih, n) = super_seeding_core();
    let (a, out) = connect_with(&mut core, ih, true);
    let first = haves(&sent_to(&out, a));
    let (b, out) = connect_with(&mut core, ih, false);
    let msgs = sent_to(&out, b);
    assert!(
        !msgs.contains(&Message::HaveNone),
        "no fast extension: {msgs:?}"
    );
    let second = haves(&msgs);
    assert_eq!(second.len(), 2);
    assert!(
        second.iter().all(|i| !first.contains(i)),
        "{first:?} {second:?}"
    );
    // A reports one of its pieces: it is shown one more, never one it was
    // shown before.
    let out = feed(&mut core, a, &[Message::HaveNone, Message::Have(first[0])]);
    let more = haves(&sent_to(&out, a));
    assert_eq!(more.len(), 1, "{out:?}");
    assert!(!first.contains(&more[0]));
    // A piece it was never shown (learned elsewhere) brings nothing.
    let other = (0..n)
        .find(|i| !first.contains(i) && !more.contains(i))
        .unwrap();
    let out = feed(&mut core, a, &[Message::Have(other)]);
    assert!(haves(&sent_to(&out, a)).is_empty(), "{out:?}");
}

#[test]
fn turned_off_every_peer_is_told_the_rest_and_new_peers_get_the_bitfield() {
    let (mut core, ih, n) = super_seeding_core();
    let (key, out) = connect_with(&mut core, ih, true);
    let shown = haves(&sent_to(&out, key));
    let mut out = Vec::new();
    core.set_super_seeding(Time::ZERO, ih, false, &mut out)
        .unwrap();
    let mut told = haves(&sent_to(&out, key));
    told.extend(&shown);
    told.sort_unstable();
    assert_eq!(told, (0..n).collect::<Vec<_>>());
    assert!(core.super_shown.is_empty());
    let (b, out) = connect_with(&mut core, ih, true);
    assert!(sent_to(&out, b).contains(&Message::HaveAll));
}

#[test]
fn a_torrent_not_yet_whole_sends_its_bitfield_as_ever() {
    let (mut core, ih, _) = core_having_with(false, CoreConfig::default());
    core.set_super_seeding(Time::ZERO, ih, true, &mut Vec::new())
        .unwrap();
    let (key, out) = connect_with(&mut core, ih, true);
    let msgs = sent_to(&out, key);
    assert!(
        msgs.contains(&Message::HaveNone) && haves(&msgs).is_empty(),
        "{msgs:?}"
    );
    assert!(core.peers[&key].superseed.is_none());
}

#[test]
fn a_peer_gone_gives_back_the_pieces_it_never_reported() {
    let (mut core, ih, _) = super_seeding_core();
    let (key, out) = connect_with(&mut core, ih, true);
    let shown = haves(&sent_to(&out, key));
    let counts = |core: &Core| core.super_shown[&ih].clone();
    assert_eq!(
        shown
            .iter()
            .map(|&i| counts(&core)[i as usize])
            .sum::<u16>(),
        2
    );
    let mut out = Vec::new();
    core.close(key, CloseReason::Protocol("test".into()), &mut out);
    assert!(counts(&core).iter().all(|&c| c == 0));
}
