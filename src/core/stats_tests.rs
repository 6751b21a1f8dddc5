//! A torrent's stats as the engine hands them out: its magnet link's tail
//! follows its trackers and web seeds; when it last moved payload is kept
//! in its record.

use super::tests::{PIECE, connect, core_having_with, feed, feed_at};
use super::*;

#[test]
fn the_magnet_tail_names_the_trackers_and_web_seeds_of_now() {
    let (mut core, ih, _) = core_having_with(true, CoreConfig::default());
    assert_eq!(&*core.stats(Time::ZERO, ih).unwrap().magnet_tail, "");
    let mut out = Vec::new();
    let add = Command::AddTrackers {
        info_hash: ih,
        tiers: vec![
            vec!["http://t.example/announce?a=1&b=2".into()],
            vec!["udp://u.example:6969".into()],
        ],
    };
    assert!(matches!(
        core.execute(Time::ZERO, add, &mut out),
        Reply::Done(Ok(()))
    ));
    let tail = core.stats(Time::ZERO, ih).unwrap().magnet_tail;
    assert_eq!(
        &*tail,
        "&tr=http%3A%2F%2Ft.example%2Fannounce%3Fa%3D1%26b%3D2&tr=udp%3A%2F%2Fu.example%3A6969"
    );
    // Made once: the same until they change.
    let again = core.stats(Time::ZERO, ih).unwrap().magnet_tail;
    assert!(std::sync::Arc::ptr_eq(&tail, &again));
    let t = core.torrents.get_mut(&ih).unwrap();
    t.web_seeds = webseed::web_seeds(ih, &["http://w.example/files/".into()]);
    let tail = core.stats(Time::ZERO, ih).unwrap().magnet_tail;
    assert!(
        tail.ends_with("&ws=http%3A%2F%2Fw.example%2Ffiles%2F"),
        "{tail}"
    );
}

/// A block received (or sent) is its last activity, in unix seconds, saved
/// in its record and given back by a restore.
#[test]
fn the_last_payload_moved_is_its_activity_and_is_saved() {
    let cfg = CoreConfig {
        unix_at_zero: 1_700_000_000,
        ..CoreConfig::default()
    };
    let (mut core, ih, _) = core_having_with(false, cfg);
    assert_eq!(core.stats(Time::ZERO, ih).unwrap().active_at, None);
    let key = connect(&mut core, ih, true);
    feed(&mut core, key, &[Message::HaveAll, Message::Unchoke]);
    let r = core.peers[&key].inflight[0].req;
    let at = r.piece * PIECE + r.offset;
    let block = Message::Piece {
        piece: r.piece,
        offset: r.offset,
        data: (at..at + r.len).map(|i| i.to_le_bytes()[0]).collect(),
    };
    feed_at(&mut core, Time::from_millis(42_000), key, &[block]);
    let s = core.stats(Time::from_millis(90_000), ih).unwrap();
    assert_eq!(s.active_at, Some(1_700_000_042));
    let t = &core.torrents[&ih];
    let record = t.resume_record(1_700_000_000);
    assert_eq!(record.active_at, Some(1_700_000_042));
    // Restored: the saved time stands until something moves again.
    let back = record::StateRecord::decode(&record.encode()).unwrap();
    let (mut later, ih2, _) = core_having_with(false, CoreConfig::default());
    later.torrents.get_mut(&ih2).unwrap().active_before = back.active_at;
    assert_eq!(
        later.stats(Time::ZERO, ih2).unwrap().active_at,
        Some(1_700_000_042)
    );
}
