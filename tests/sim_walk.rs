//! What a tick looks at (`core::walk`): with many idle torrents each tick visits
//! the active ones and a tenth of the rest, so every torrent is still seen
//! about once a second (its announce falls due on time) at a tenth of the cost
//! of walking them all every tick.

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
fn idle_torrents_are_visited_once_a_second_and_reannounce_on_time() {
    let (seed, _g) = seed(66);
    let world = world(seed);
    world.add_tracker(TRACKER, INTERVAL);
    let cfg = CoreConfig {
        announces_per_sec: 10_000,
        ..CoreConfig::default()
    };
    let e = Engine::memory(&world, cfg);
    add_tracked_magnets(&e, TORRENTS, 9, TRACKER);
    world.run_until(Time::from_secs(10));
    assert_eq!(world.tracker_log(TRACKER).len(), TORRENTS as usize);

    // Idle (announced, no peers, nothing to do): ten seconds of ticks visit
    // each torrent about ten times, where walking all at every tick would be
    // about a hundred.
    let before = visits(&e);
    world.run_until(Time::from_secs(20));
    let per_torrent = (visits(&e) - before) as f64 / f64::from(TORRENTS);
    assert!(
        (9.0..=13.0).contains(&per_torrent),
        "{per_torrent} visits per torrent in 10 s"
    );

    // Every torrent is announced again once its interval is over, within the
    // sweep's round (about a second) of it.
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
            (0.0..=1.5).contains(&late),
            "{ih}: re-announced {late} s after its interval"
        );
    }
    assert!(
        log.iter()
            .skip(TORRENTS as usize)
            .all(|r| r.request.event == AnnounceEvent::None)
    );
}
