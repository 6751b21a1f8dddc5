//! Trackers driven by the engine, in the sim: peers found only through a tracker,
//! the events and numbers announced, the pace of announces, re-announces on the
//! tracker's interval, and backoff from trackers that are down.

mod sim_common;

use std::sync::Arc;
use std::time::Duration;

use seedring::core::CoreConfig;
use seedring::proto::tracker::AnnounceEvent;
use seedring::sim::AnnounceRecord;
use seedring::{Engine, Time};
use sim_common::*;

const TRACKER: &str = "http://tracker.sim/announce";

/// The fixture, listing `tiers` as its trackers.
fn with_trackers(fx: Fixture, tiers: &[&[&str]]) -> Fixture {
    let mut meta = (*fx.meta).clone();
    meta.tracker_tiers = tiers
        .iter()
        .map(|t| t.iter().map(|u| (*u).to_owned()).collect())
        .collect();
    Fixture {
        meta: Arc::new(meta),
        files: fx.files,
    }
}

fn from(log: &[AnnounceRecord], e: &Engine) -> Vec<AnnounceRecord> {
    log.iter()
        .filter(|r| r.from == e.listen_addr())
        .cloned()
        .collect()
}

#[test]
fn leechers_find_each_other_only_through_the_tracker() {
    let (seed, _g) = seed(61);
    let world = world(seed);
    world.add_tracker(TRACKER, 1800);
    let fx = with_trackers(fixture(seed, "t", FILES, 32 * 1024), &[&[TRACKER]]);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    let leechers: Vec<Engine> = (0..5)
        .map(|_| leecher(&world, &fx, CoreConfig::default()))
        .collect();
    // Nobody is told of anybody: only the tracker's replies bring peers.
    assert!(
        world.run_while(Time::from_secs(600), Duration::from_millis(500), || {
            leechers.iter().all(|l| done(l, ih))
        })
    );
    for (i, l) in leechers.iter().enumerate() {
        assert_same_data(&world, l, &fx, &format!("leecher {i}"));
    }
    let total = fx.meta.info.geometry.total_length();
    let log = world.tracker_log(TRACKER);
    for l in &leechers {
        let mine = from(&log, l);
        let first = &mine[0].request;
        assert_eq!(first.event, AnnounceEvent::Started);
        assert_eq!(first.left, total);
        assert_eq!(first.info_hash, ih);
        assert_eq!(first.port, l.listen_addr().port());
        let done = mine
            .iter()
            .find(|r| r.request.event == AnnounceEvent::Completed)
            .expect("completed announced");
        assert_eq!(done.request.left, 0);
        assert!(done.request.downloaded >= total);
        assert_eq!(l.stats(ih).unwrap().tracker_error, None);
    }
    // The seeder started complete: `started` with nothing left, never `completed`.
    let seeder_log = from(&log, &s);
    assert_eq!(seeder_log[0].request.event, AnnounceEvent::Started);
    assert_eq!(seeder_log[0].request.left, 0);
    assert!(
        seeder_log
            .iter()
            .all(|r| r.request.event != AnnounceEvent::Completed)
    );
}

#[test]
fn a_seed_reannounces_on_the_trackers_interval_without_false_failures() {
    let (seed, _g) = seed(62);
    let world = world(seed);
    world.add_tracker(TRACKER, 60);
    let fx = with_trackers(fixture(seed, "t", FILES, 32 * 1024), &[&[TRACKER]]);
    let s = seeder(&world, &fx, CoreConfig::default());
    world.run_until(Time::from_secs(301));
    let mine = from(&world.tracker_log(TRACKER), &s);
    let times: Vec<u64> = mine
        .iter()
        .map(|r| r.at.since(Time::ZERO).as_secs())
        .collect();
    // Started near 0, then every 60 s.
    assert_eq!(times.len(), 6, "announces at {times:?}");
    for w in times.windows(2) {
        assert_eq!(w[1] - w[0], 60, "announces at {times:?}");
    }
    assert!(
        mine[1..]
            .iter()
            .all(|r| r.request.event == AnnounceEvent::None)
    );
    let st = s.stats(fx.meta.info_hash).unwrap();
    assert_eq!(st.tracker_error, None);
}

#[test]
fn trackers_that_are_down_are_retried_with_backoff_not_hammered() {
    let (seed, _g) = seed(63);
    let world = world(seed);
    let (a, b) = ("http://down-a.sim/announce", "http://down-b.sim/announce");
    world.add_dead_tracker(a);
    world.add_dead_tracker(b);
    let fx = with_trackers(fixture(seed, "t", FILES, 32 * 1024), &[&[a], &[b]]);
    let l = leecher(&world, &fx, CoreConfig::default());
    world.run_until(Time::from_secs(8));
    // One round (a, then b), then a 15 s pause.
    assert_eq!(world.tracker_log(a).len(), 1);
    assert_eq!(world.tracker_log(b).len(), 1);
    world.run_until(Time::from_secs(600));
    // Rounds about 0, 15, 45, 105, 225, 465 s: the pause doubles (each round
    // also takes the failed tries' round trips and up to a tick).
    let times: Vec<f64> = world
        .tracker_log(a)
        .iter()
        .map(|r| r.at.since(Time::ZERO).as_secs_f64())
        .collect();
    assert_eq!(times.len(), 6, "rounds at {times:?}");
    for (w, pause) in times.windows(2).zip([15.0, 30.0, 60.0, 120.0, 240.0]) {
        let gap = w[1] - w[0];
        assert!(gap >= pause && gap < pause + 0.5, "rounds at {times:?}");
    }
    assert_eq!(world.tracker_log(b).len(), times.len());
    let err = l.stats(fx.meta.info_hash).unwrap().tracker_error;
    assert!(err.is_some_and(|e| e.contains("connection refused")));
}

#[test]
fn pause_resume_and_remove_tell_the_tracker() {
    let (seed, _g) = seed(64);
    let world = world(seed);
    world.add_tracker(TRACKER, 1800);
    let fx = with_trackers(fixture(seed, "t", FILES, 32 * 1024), &[&[TRACKER]]);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    world.run_until(Time::from_secs(5));
    s.pause(ih).unwrap();
    world.run_until(Time::from_secs(10));
    s.resume(ih).unwrap();
    world.run_until(Time::from_secs(15));
    s.remove(ih, false).unwrap();
    world.run_until(Time::from_secs(20));
    let events: Vec<AnnounceEvent> = world
        .tracker_log(TRACKER)
        .iter()
        .map(|r| r.request.event)
        .collect();
    use AnnounceEvent::*;
    assert_eq!(events, [Started, Stopped, Started, Stopped]);
}

#[test]
fn a_thousand_torrents_added_at_once_spread_their_first_announces() {
    let (seed, _g) = seed(65);
    let world = world(seed);
    world.add_tracker(TRACKER, 1800);
    let cfg = CoreConfig {
        announces_per_sec: 50,
        ..CoreConfig::default()
    };
    let e = Engine::memory(&world, cfg);
    add_tracked_magnets(&e, 1000, 7, &[TRACKER]);
    world.run_until(Time::from_secs(30));
    let log = world.tracker_log(TRACKER);
    assert_eq!(log.len(), 1000, "each torrent announced once");
    let secs: Vec<f64> = log
        .iter()
        .map(|r| r.at.since(Time::ZERO).as_secs_f64())
        .collect();
    // A burst of 50, then 50 a second: nowhere more than 100 in one second, and
    // the last about 19 s after the first.
    for (i, t) in secs.iter().enumerate() {
        let in_window = secs[i..].iter().take_while(|u| **u < t + 1.0).count();
        assert!(
            in_window <= 100,
            "{in_window} announces in the second after {t}"
        );
    }
    let spread = secs.last().unwrap() - secs.first().unwrap();
    assert!((18.0..=21.0).contains(&spread), "spread over {spread} s");
    assert!(
        log.iter()
            .all(|r| r.request.event == AnnounceEvent::Started)
    );
    assert!(log.iter().all(|r| r.request.left == 16 * 1024));
}

#[test]
fn each_tier_hears_from_the_torrent_unless_one_tracker_is_asked() {
    use seedring::core::announce::Reach;
    let (seed, _g) = seed(66);
    let world = world(seed);
    let (dead, a, b) = (
        "http://dead.sim/announce",
        "http://live-a.sim/announce",
        "http://live-b.sim/announce",
    );
    world.add_dead_tracker(dead);
    world.add_tracker(a, 1800);
    world.add_tracker(b, 1800);
    let tiers: &[&[&str]] = &[&[dead, a], &[b]];
    let fx = with_trackers(fixture(seed, "t", FILES, 32 * 1024), tiers);
    let ih = fx.meta.info_hash;
    let events = |url| -> Vec<AnnounceEvent> {
        world
            .tracker_log(url)
            .iter()
            .filter(|r| r.request.info_hash == ih)
            .map(|r| r.request.event)
            .collect()
    };
    use AnnounceEvent::*;
    // Every tier (the default): the first tier fails over from `dead` to
    // `a`, and `b` hears `started` beside it, not after it.
    let s = seeder(&world, &fx, CoreConfig::default());
    world.run_until(Time::from_secs(5));
    assert_eq!(
        (events(dead), events(a), events(b)),
        (vec![Started], vec![Started], vec![Started])
    );
    let first_b = world.tracker_log(b)[0].at;
    assert!(
        first_b < world.tracker_log(a)[0].at,
        "b did not wait for a's tier"
    );
    s.pause(ih).unwrap();
    world.run_until(Time::from_secs(10));
    assert_eq!(
        (events(a), events(b)),
        (vec![Started, Stopped], vec![Started, Stopped])
    );
    s.remove(ih, false).unwrap();
    world.run_until(Time::from_secs(12));

    // One tracker: `a` answers, so `b` never hears of the torrent.
    let cfg = CoreConfig {
        tracker_reach: Reach::OneTracker,
        ..CoreConfig::default()
    };
    let before = (events(a).len(), events(b).len());
    let _l = leecher(&world, &fx, cfg);
    world.run_until(Time::from_secs(20));
    assert_eq!(events(a).len(), before.0 + 1);
    assert_eq!(events(b).len(), before.1, "the second tier is not asked");
}

#[test]
fn many_lanes_raise_the_pace_so_no_tracker_waits_past_its_interval() {
    // 1,000 magnets with three trackers each, one a tier: 3,000 lanes
    // announced to every 30 minutes need 1.7 announces a second, above the
    // configured 1.
    let (seed, _g) = seed(67);
    let world = world(seed);
    let urls = [
        "http://t1.sim/announce",
        "http://t2.sim/announce",
        "http://t3.sim/announce",
    ];
    for u in urls {
        world.add_tracker(u, 1800);
    }
    let cfg = CoreConfig {
        announces_per_sec: 1,
        ..CoreConfig::default()
    };
    let e = Engine::memory(&world, cfg);
    add_tracked_magnets(&e, 1000, 9, &urls);
    world.run_until(Time::from_secs(3 * 3600));
    for u in urls {
        let mut by_torrent: std::collections::BTreeMap<_, Vec<f64>> = Default::default();
        for r in world.tracker_log(u) {
            let at = r.at.since(Time::ZERO).as_secs_f64();
            by_torrent.entry(r.request.info_hash).or_default().push(at);
        }
        assert_eq!(by_torrent.len(), 1000, "{u}: every torrent announced");
        // Started within the first quarter hour (the raised pace: 3,000
        // lanes over about 900 s), then every interval, a minute late at most.
        for (ih, times) in &by_torrent {
            assert!(times[0] < 1000.0, "{u} {ih}: first at {}", times[0]);
            for w in times.windows(2) {
                let gap = w[1] - w[0];
                assert!(
                    (1800.0..1860.0).contains(&gap),
                    "{u} {ih}: announces at {times:?}"
                );
            }
            assert!(
                *times.last().unwrap() > 3.0 * 3600.0 - 1860.0,
                "{u} {ih}: {times:?}"
            );
        }
    }
}
