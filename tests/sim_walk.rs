//! What a tick looks at (`core::walk`): with many idle torrents each tick visits
//! the active ones, those whose announce has fallen due (the wake heap), and a
//! three-hundredth of the rest (the sweep, a safety net going round in about
//! half a minute): an idle torrent costs a visit every half minute, where
//! walking them all at every tick would be three hundred, and its announce
//! still goes on time.

mod sim_common;

use seedring::core::CoreConfig;
use seedring::proto::tracker::AnnounceEvent;
use seedring::{Engine, Time};
use sim_common::*;

const TRACKER: &str = "http://tracker.sim/announce";
const TORRENTS: u32 = 2_000;
/// The tracker's interval, seconds.
const INTERVAL: u32 = 60;

fn visits(e: &Engine) -> u64 {
    e.counters().unwrap().iter().map(|c| c.torrent_visits).sum()
}

#[test]
fn idle_torrents_are_visited_once_in_half_a_minute_and_reannounce_on_time() {
    let (seed, _g) = seed(66);
    let world = world(seed);
    world.add_tracker(TRACKER, INTERVAL);
    let cfg = CoreConfig {
        announces_per_sec: 10_000,
        ..CoreConfig::default()
    };
    let e = Engine::memory(&world, cfg);
    add_tracked_magnets(&e, TORRENTS, 9, &[TRACKER]);
    world.run_until(Time::from_secs(10));
    assert_eq!(world.tracker_log(TRACKER).len(), TORRENTS as usize);

    // Idle (announced, no peers, nothing to do): ten seconds of ticks visit
    // about a third of the torrents once (the sweep's slices of 7), where
    // walking all at every tick would visit each a hundred times.
    let before = visits(&e);
    world.run_until(Time::from_secs(20));
    let per_torrent = (visits(&e) - before) as f64 / f64::from(TORRENTS);
    assert!(
        (0.2..=0.6).contains(&per_torrent),
        "{per_torrent} visits per torrent in 10 s"
    );

    // Every torrent is announced again once its interval is over, within
    // about a second of it (the wake heap's times are whole seconds): the
    // wake heap, not the sweep, finds it due.
    world.run_until(Time::from_secs(10 + u64::from(INTERVAL) + 5));
    let log = world.tracker_log(TRACKER);
    assert_eq!(
        log.len(),
        2 * TORRENTS as usize,
        "each torrent announced twice"
    );
    for ih in log.iter().map(|r| r.request.info_hash) {
        let at: Vec<f64> = log
            .iter()
            .filter(|r| r.request.info_hash == ih)
            .map(|r| r.at.since(Time::ZERO).as_secs_f64())
            .collect();
        let late = at[1] - at[0] - f64::from(INTERVAL);
        assert!(
            (0.0..=1.2).contains(&late),
            "{ih}: re-announced {late} s after its interval"
        );
    }
    assert!(
        log.iter()
            .skip(TORRENTS as usize)
            .all(|r| r.request.event == AnnounceEvent::None)
    );
}
