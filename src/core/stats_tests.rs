//! A torrent's stats as the engine hands them out: its magnet link's tail
//! follows its trackers and web seeds.

use super::tests::core_having_with;
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
