use super::*;

fn ok(interval: u32) -> AnnounceReply {
    AnnounceReply {
        interval,
        ..AnnounceReply::default()
    }
}

/// Hands out the due announce and answers it at once.
fn answer(a: &mut Announcer, now: Time, r: Result<&AnnounceReply, &TrackerError>) -> Due {
    let due = a.due(now).expect("an announce is due");
    assert!(a.on_reply(now, due.id, r).is_some());
    due
}

#[test]
fn tiers_fail_over_then_back_off() {
    let mut a = Announcer::new(
        vec![vec!["a".into(), "b".into()], vec!["c".into()]],
        Reach::OneTracker,
    );
    let t0 = Time::ZERO;
    assert_eq!(a.due(t0), None, "idle until started");
    a.start(t0, false);
    let first = a.due(t0).unwrap();
    assert_eq!(
        (first.url.as_str(), first.event),
        ("a", AnnounceEvent::Started)
    );
    assert_eq!(a.due(t0), None, "one announce at a time");
    let err = TrackerError::Io("timeout".into());
    assert!(a.on_reply(t0, first.id, Err(&err)).is_some());
    assert_eq!(answer(&mut a, t0, Err(&err)).url, "b");
    assert_eq!(answer(&mut a, t0, Err(&err)).url, "c");
    // All failed: back off 15 s before starting over, then 30 s.
    assert_eq!(a.due(Time::from_secs(14)), None);
    let again = answer(&mut a, Time::from_secs(15), Err(&err));
    assert_eq!(
        (again.url.as_str(), again.event),
        ("a", AnnounceEvent::Started)
    );
    answer(&mut a, Time::from_secs(15), Err(&err));
    answer(&mut a, Time::from_secs(15), Err(&err));
    assert_eq!(a.due(Time::from_secs(44)), None);
    assert!(a.due(Time::from_secs(45)).is_some());
    assert_eq!(a.status().status.error.as_deref(), Some("timeout"));
}

#[test]
fn the_swarm_counts_are_the_last_answers_and_go_with_a_failure() {
    let mut a = Announcer::new(vec![vec!["a".into(), "b".into()]], Reach::OneTracker);
    a.start(Time::ZERO, false);
    let counted = AnnounceReply {
        complete: Some(4),
        incomplete: Some(9),
        downloaded: Some(120),
        ..ok(1800)
    };
    answer(&mut a, Time::ZERO, Ok(&counted));
    let st = a.swarm();
    assert_eq!(
        (st.seeders, st.leechers, st.downloaded),
        (Some(4), Some(9), Some(120))
    );
    // A failure: the counts were that tracker's, and are no longer known.
    let t = Time::from_secs(1800);
    answer(&mut a, t, Err(&TrackerError::Io("down".into())));
    assert_eq!(a.swarm(), crate::core::SwarmCounts::default());
    // A tracker that does not count leaves them unknown.
    answer(&mut a, t, Ok(&ok(1800)));
    assert_eq!((a.status().url, a.swarm().seeders), (Some("b"), None));
}

#[test]
fn new_trackers_take_over_the_schedule_and_a_reply_from_before_is_ignored() {
    let mut a = Announcer::new(vec![vec!["a".into(), "b".into()]], Reach::OneTracker);
    let t0 = Time::ZERO;
    a.start(t0, false);
    let out = a.due(t0).unwrap();
    assert_eq!(out.url, "a");
    // Edited while the announce to `a` is out: `a` gone, `c` first.
    let tiers = vec![vec!["c".into(), "b".into(), "c".into()], vec![]];
    assert!(a.set_tiers(t0, tiers.clone()));
    assert!(
        !a.set_tiers(t0, tiers),
        "the same list again changes nothing"
    );
    assert_eq!(
        (a.tiers(), a.count()),
        (&[vec!["c".to_owned(), "b".into()]][..], 2)
    );
    assert!(
        a.on_reply(t0, out.id, Ok(&ok(1800))).is_none(),
        "the answer from before"
    );
    let next = a.due(t0).unwrap();
    assert_eq!(
        (next.url.as_str(), next.event),
        ("c", AnnounceEvent::Started)
    );
    // Every tracker failed: the back-off is forgotten when the list changes.
    let err = TrackerError::Io("refused".into());
    assert!(a.on_reply(t0, next.id, Err(&err)).is_some());
    answer(&mut a, t0, Err(&err));
    assert_eq!(a.due(Time::from_secs(10)), None, "backing off");
    assert!(a.set_tiers(Time::from_secs(10), vec![vec!["d".into()]]));
    assert_eq!(a.due(Time::from_secs(10)).unwrap().url, "d");
    // None at all: nothing to announce to.
    let mut b = Announcer::new(vec![vec!["a".into()]], Reach::OneTracker);
    b.start(t0, true);
    assert!(b.set_tiers(t0, Vec::new()));
    assert_eq!(b.due(t0), None);
}

#[test]
fn a_stale_reply_changes_nothing() {
    let mut a = Announcer::new(vec![vec!["a".into()]], Reach::OneTracker);
    a.start(Time::ZERO, false);
    let old = a.due(Time::ZERO).unwrap();
    // Restarted before the reply came: the old announce is forgotten.
    a.start(Time::ZERO, false);
    assert!(a.on_reply(Time::ZERO, old.id, Ok(&ok(1800))).is_none());
    let new = a.due(Time::ZERO).unwrap();
    assert_ne!(new.id, old.id);
    assert_eq!(a.status().status.announces, 0);
}

#[test]
fn a_tracker_that_answers_moves_to_the_front_and_sets_the_interval() {
    let mut a = Announcer::new(vec![vec!["a".into(), "b".into()]], Reach::OneTracker);
    a.start(Time::ZERO, false);
    answer(&mut a, Time::ZERO, Err(&TrackerError::Io("x".into())));
    answer(&mut a, Time::ZERO, Ok(&ok(1800)));
    assert_eq!(a.due(Time::from_secs(1799)), None);
    let due = a.due(Time::from_secs(1800)).unwrap();
    assert_eq!((due.url.as_str(), due.event), ("b", AnnounceEvent::None));
    // Intervals are clamped: a tracker asking for 1 s gets 30 s.
    a.on_reply(Time::from_secs(1800), due.id, Ok(&ok(1)))
        .unwrap();
    assert_eq!(a.due(Time::from_secs(1829)), None);
    assert!(a.due(Time::from_secs(1830)).is_some());
}

#[test]
fn completed_and_stopped_are_announced_at_once() {
    let mut a = Announcer::new(vec![vec!["a".into()]], Reach::OneTracker);
    a.start(Time::ZERO, false);
    answer(&mut a, Time::ZERO, Ok(&ok(1800)));
    a.owe_completed(Time::from_secs(5), false);
    assert_eq!(a.due(Time::from_secs(5)), None, "still downloading");
    a.owe_completed(Time::from_secs(5), true);
    let done = answer(&mut a, Time::from_secs(5), Ok(&ok(1800)));
    assert_eq!(done.event, AnnounceEvent::Completed);
    a.owe_completed(Time::from_secs(6), true);
    assert_eq!(a.due(Time::from_secs(6)), None, "completed is sent once");
    a.stopping(Time::from_secs(6));
    let stop = answer(
        &mut a,
        Time::from_secs(6),
        Err(&TrackerError::Io("x".into())),
    );
    assert_eq!(stop.event, AnnounceEvent::Stopped);
    // Tried once, then idle: no retries, no regular announces.
    assert!(!a.is_active());
    assert_eq!(a.due(Time::from_secs(100_000)), None);
    assert!(Announcer::new(vec![vec![]], Reach::OneTracker).is_empty());
}

#[test]
fn stopping_right_after_completion_sends_completed_then_stopped() {
    let mut a = Announcer::new(vec![vec!["a".into()]], Reach::OneTracker);
    a.start(Time::ZERO, false);
    answer(&mut a, Time::ZERO, Ok(&ok(1800)));
    a.owe_completed(Time::from_secs(5), true);
    a.stopping(Time::from_secs(5));
    assert!(a.stop_pending());
    let done = answer(&mut a, Time::from_secs(5), Ok(&ok(1800)));
    assert_eq!(done.event, AnnounceEvent::Completed);
    let stop = answer(&mut a, Time::from_secs(5), Ok(&ok(1800)));
    assert_eq!(stop.event, AnnounceEvent::Stopped);
    assert!(!a.stop_pending() && !a.is_active());
}

#[test]
fn a_seed_owes_no_completed_and_an_unheard_torrent_no_stopped() {
    let mut a = Announcer::new(vec![vec!["a".into()]], Reach::OneTracker);
    a.start(Time::ZERO, true);
    answer(&mut a, Time::ZERO, Ok(&ok(1800)));
    a.owe_completed(Time::from_secs(1), true);
    assert_eq!(a.due(Time::from_secs(1)), None);
    let mut b = Announcer::new(vec![vec!["a".into()]], Reach::OneTracker);
    b.start(Time::ZERO, false);
    b.stopping(Time::ZERO);
    assert!(!b.is_active());
    assert_eq!(b.due(Time::ZERO), None);
}

fn urls(tiers: &[&[&str]]) -> Vec<Vec<String>> {
    (tiers.iter())
        .map(|t| t.iter().map(|u| (*u).to_owned()).collect())
        .collect()
}

/// Every announce due now, handed out (not answered).
fn all_due(a: &mut Announcer, now: Time) -> Vec<Due> {
    std::iter::from_fn(|| a.due(now)).collect()
}

#[test]
fn every_tier_announces_to_the_first_working_tracker_of_each() {
    let mut a = Announcer::new(urls(&[&["a", "b"], &["c"], &["d"]]), Reach::EveryTier);
    let t0 = Time::ZERO;
    a.start(t0, false);
    let first = all_due(&mut a, t0);
    let to: Vec<&str> = first.iter().map(|d| d.url.as_str()).collect();
    assert_eq!(to, ["a", "c", "d"], "one announce per tier, at once");
    assert!(first.iter().all(|d| d.event == AnnounceEvent::Started));
    let ids: std::collections::HashSet<u64> = first.iter().map(|d| d.id).collect();
    assert_eq!(ids.len(), 3, "each its own id");
    // `a` fails: its tier goes on to `b` at once; the others answered.
    let err = TrackerError::Io("down".into());
    let r = a.on_reply(t0, first[0].id, Err(&err)).unwrap();
    assert_eq!((r.url.as_str(), r.had_error), ("a", false));
    let counted = |seeders| AnnounceReply {
        complete: Some(seeders),
        ..ok(1800)
    };
    a.on_reply(t0, first[1].id, Ok(&counted(7))).unwrap();
    a.on_reply(t0, first[2].id, Ok(&counted(3))).unwrap();
    let retry = all_due(&mut a, t0);
    assert_eq!(retry.len(), 1);
    assert_eq!(
        (retry[0].url.as_str(), retry[0].event),
        ("b", AnnounceEvent::Started)
    );
    a.on_reply(t0, retry[0].id, Ok(&counted(5))).unwrap();
    assert_eq!(
        a.tiers(),
        urls(&[&["b", "a"], &["c"], &["d"]]),
        "b leads its tier"
    );
    // The torrent's numbers: the first working lane, the largest count.
    assert_eq!(a.status().url, Some("b"));
    assert_eq!(a.swarm().seeders, Some(7));
    let report = a.report(t0);
    let asked: Vec<_> = report
        .lanes
        .iter()
        .map(|l| l.url.as_deref().unwrap())
        .collect();
    assert_eq!(asked, ["b", "c", "d"]);
    assert_eq!(report.last.swarm.seeders, Some(7));
    // Completion and stopping reach every tier.
    a.owe_completed(Time::from_secs(9), true);
    let done = all_due(&mut a, Time::from_secs(9));
    assert_eq!(done.len(), 3);
    assert!(done.iter().all(|d| d.event == AnnounceEvent::Completed));
    for d in &done {
        a.on_reply(Time::from_secs(9), d.id, Ok(&ok(1800))).unwrap();
    }
    a.stopping(Time::from_secs(10));
    assert_eq!(a.stops_unsent(), 3);
    let stops = all_due(&mut a, Time::from_secs(10));
    assert_eq!(stops.len(), 3);
    assert!(stops.iter().all(|d| d.event == AnnounceEvent::Stopped));
    assert_eq!(a.stops_unsent(), 0);
    assert!(a.stop_pending(), "out, not yet answered");
    for d in &stops {
        a.on_reply(Time::from_secs(10), d.id, Err(&err)).unwrap();
    }
    assert!(!a.is_active() && !a.stop_pending());
}

#[test]
fn every_tracker_announces_to_each_and_never_reorders() {
    let mut a = Announcer::new(urls(&[&["a", "b"], &["c"]]), Reach::EveryTracker);
    a.start(Time::ZERO, true);
    let first = all_due(&mut a, Time::ZERO);
    let to: Vec<&str> = first.iter().map(|d| d.url.as_str()).collect();
    assert_eq!(to, ["a", "b", "c"]);
    for d in &first {
        a.on_reply(Time::ZERO, d.id, Ok(&ok(60))).unwrap();
    }
    assert_eq!(a.tiers(), urls(&[&["a", "b"], &["c"]]));
    // A failing tracker backs off alone.
    let t = Time::from_secs(60);
    let again = all_due(&mut a, t);
    assert_eq!(again.len(), 3);
    a.on_reply(t, again[1].id, Err(&TrackerError::Io("x".into())))
        .unwrap();
    a.on_reply(t, again[0].id, Ok(&ok(60))).unwrap();
    a.on_reply(t, again[2].id, Ok(&ok(60))).unwrap();
    assert!(all_due(&mut a, Time::from_secs(74)).is_empty());
    let retry = all_due(&mut a, Time::from_secs(75));
    assert_eq!(
        retry.iter().map(|d| d.url.as_str()).collect::<Vec<_>>(),
        ["b"]
    );
    assert!(
        a.status().status.error.is_none(),
        "the torrent's trackers work"
    );
}

#[test]
fn changing_the_reach_keeps_lanes_over_the_same_trackers() {
    let mut a = Announcer::new(urls(&[&["a"], &["b", "c"]]), Reach::EveryTier);
    let t0 = Time::ZERO;
    a.start(t0, false);
    let first = all_due(&mut a, t0);
    for d in &first {
        a.on_reply(t0, d.id, Ok(&ok(1800))).unwrap();
    }
    // Every tracker: `a`'s lane goes on, and so does `b`'s (the tracker its
    // tier's lane announced to); `c`, never announced to, starts now.
    assert!(a.set_reach(Time::from_secs(5), Reach::EveryTracker));
    assert!(!a.set_reach(Time::from_secs(5), Reach::EveryTracker));
    let now = all_due(&mut a, Time::from_secs(5));
    let to: Vec<_> = now.iter().map(|d| (d.url.as_str(), d.event)).collect();
    assert_eq!(to, [("c", AnnounceEvent::Started)]);
    // Back to one tracker: one lane, `a`'s schedule going on; `c`'s
    // announce out is forgotten.
    assert!(a.set_reach(Time::from_secs(6), Reach::OneTracker));
    assert!(all_due(&mut a, Time::from_secs(6)).is_empty());
    assert!(
        a.on_reply(Time::from_secs(6), now[0].id, Ok(&ok(1800)))
            .is_none()
    );
    assert_eq!(a.report(Time::from_secs(6)).lanes.len(), 1);
    let regular = all_due(&mut a, Time::from_secs(1800));
    let to: Vec<_> = regular.iter().map(|d| (d.url.as_str(), d.event)).collect();
    assert_eq!(to, [("a", AnnounceEvent::None)]);
    // Not started, a new lane stays idle.
    let mut idle = Announcer::new(urls(&[&["a"], &["b"]]), Reach::OneTracker);
    idle.set_reach(t0, Reach::EveryTier);
    assert!(all_due(&mut idle, t0).is_empty());
}

#[test]
fn trackers_added_or_edited_per_tier_start_their_own_lanes() {
    let mut a = Announcer::new(urls(&[&["a"], &["b"]]), Reach::EveryTier);
    let t0 = Time::ZERO;
    a.start(t0, false);
    let first = all_due(&mut a, t0);
    a.on_reply(t0, first[0].id, Ok(&ok(1800))).unwrap();
    // `b`'s announce is out when a tier is added and `a`'s edited.
    assert_eq!(a.absorb(t0, &urls(&[&["a", "c"]])), 1);
    let added = all_due(&mut a, t0);
    assert_eq!(added.len(), 1);
    assert_eq!(
        (added[0].url.as_str(), added[0].event),
        ("c", AnnounceEvent::Started)
    );
    assert!(a.set_tiers(t0, urls(&[&["a2"], &["b"], &["c"]])));
    // `b` and `c` keep their lanes and announces out; `a2` is new.
    let edited = all_due(&mut a, t0);
    assert_eq!(
        edited.iter().map(|d| d.url.as_str()).collect::<Vec<_>>(),
        ["a2"]
    );
    assert_eq!(a.on_reply(t0, first[1].id, Ok(&ok(1800))).unwrap().url, "b");
    assert_eq!(a.on_reply(t0, added[0].id, Ok(&ok(1800))).unwrap().url, "c");
    assert_eq!(a.count(), 3);
}

#[test]
fn the_last_answering_tracker_is_followed_through_moves_and_edits() {
    let mut a = Announcer::new(urls(&[&["a", "b"]]), Reach::OneTracker);
    let t0 = Time::ZERO;
    a.start(t0, false);
    answer(&mut a, t0, Err(&TrackerError::Io("x".into())));
    assert_eq!(a.status().url, Some("a"), "the failure's tracker");
    answer(&mut a, t0, Ok(&ok(1800)));
    assert_eq!(
        (a.tiers(), a.status().url),
        (&urls(&[&["b", "a"]])[..], Some("b"))
    );
    // Moved to another tier by an edit: still named; removed: forgotten.
    assert!(a.set_tiers(t0, urls(&[&["x"], &["a", "b"]])));
    assert_eq!(a.status().url, Some("b"));
    assert_eq!(a.report(t0).last.url.as_deref(), Some("b"));
    assert!(a.set_tiers(t0, urls(&[&["x"]])));
    assert_eq!(a.status().url, None);
    assert_eq!(a.status().status.announces, 1, "its numbers stay");
}

#[test]
fn what_the_numbers_show_is_hashed_as_it_changes() {
    let mut a = Announcer::new(urls(&[&["a"], &["b"]]), Reach::EveryTier);
    let t0 = Time::ZERO;
    let idle = a.shown();
    a.start(t0, false);
    assert_eq!(a.shown(), idle, "starting shows nothing new");
    let first = all_due(&mut a, t0);
    a.on_reply(t0, first[0].id, Ok(&ok(1800))).unwrap();
    let working = a.shown();
    assert_ne!(working, idle, "a tracker works");
    // `b` fails: the headline is still `a`, working, and the counts none.
    a.on_reply(t0, first[1].id, Err(&TrackerError::Io("x".into())))
        .unwrap();
    assert_eq!(a.shown(), working);
    let counted = AnnounceReply {
        complete: Some(2),
        ..ok(1800)
    };
    let again = all_due(&mut a, Time::from_secs(1800));
    a.on_reply(Time::from_secs(1800), again[0].id, Ok(&counted))
        .unwrap();
    assert_ne!(a.shown(), working, "the swarm counted");
    let before = a.shown();
    assert!(a.set_tiers(Time::from_secs(1800), urls(&[&["b"]])));
    assert_ne!(a.shown(), before, "the headline tracker gone");
}

/// One thing done to an announcer in the property test below.
#[derive(Debug, Clone)]
enum Op {
    Start(bool),
    Stop,
    Due,
    Reply(usize, bool),
    SetTiers(Vec<Vec<u8>>),
    Absorb(Vec<Vec<u8>>),
    Reach(u8),
    Complete,
    Reannounce,
    Wait(u16),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let tiers = || proptest::collection::vec(proptest::collection::vec(0u8..6, 0..4), 0..4);
    prop_oneof![
        any::<bool>().prop_map(Op::Start),
        Just(Op::Stop),
        Just(Op::Due),
        (0usize..8, any::<bool>()).prop_map(|(i, ok)| Op::Reply(i, ok)),
        tiers().prop_map(Op::SetTiers),
        tiers().prop_map(Op::Absorb),
        (0u8..3).prop_map(Op::Reach),
        Just(Op::Complete),
        Just(Op::Reannounce),
        (0u16..4000).prop_map(Op::Wait),
    ]
}

proptest::proptest! {
    /// Whatever is done in whatever order (edits and reach changes while
    /// announces are out included), nothing panics, every announce handed out
    /// names one of the torrent's trackers with an id not used before, a
    /// reply is taken once at most, and the lanes are as the reach says.
    #[test]
    fn any_sequence_keeps_the_schedule_whole(ops in proptest::collection::vec(op(), 1..60)) {
        let name = |n: &u8| format!("http://t{n}/a");
        let named = |t: &[Vec<u8>]| -> Vec<Vec<String>> {
            t.iter().map(|tier| tier.iter().map(name).collect()).collect()
        };
        let mut a = Announcer::new(urls(&[&["http://t0/a"], &["http://t1/a", "http://t2/a"]]), Reach::EveryTier);
        let mut now = Time::ZERO;
        let mut out: Vec<u64> = Vec::new();
        let mut ids = std::collections::HashSet::new();
        for op in ops {
            match op {
                Op::Start(complete) => a.start(now, complete),
                Op::Stop => a.stopping(now),
                Op::Due => {
                    while let Some(d) = a.due(now) {
                        proptest::prop_assert!(a.tiers().iter().flatten().any(|u| *u == d.url), "{d:?}");
                        proptest::prop_assert!(ids.insert(d.id), "id {} twice", d.id);
                        out.push(d.id);
                    }
                }
                Op::Reply(i, good) if !out.is_empty() => {
                    let id = out.swap_remove(i % out.len());
                    let err = TrackerError::Io("x".into());
                    let r = if good { Ok(&ok(60)) } else { Err(&err) };
                    if a.on_reply(now, id, r).is_some() {
                        proptest::prop_assert!(a.on_reply(now, id, Ok(&ok(60))).is_none());
                    }
                }
                Op::Reply(..) => {}
                Op::SetTiers(t) => {
                    a.set_tiers(now, named(&t));
                }
                Op::Absorb(t) => {
                    a.absorb(now, &named(&t));
                }
                Op::Reach(r) => {
                    let reach = [Reach::OneTracker, Reach::EveryTier, Reach::EveryTracker][usize::from(r)];
                    a.set_reach(now, reach);
                }
                Op::Complete => a.owe_completed(now, true),
                Op::Reannounce => a.reannounce(now),
                Op::Wait(s) => now = now + std::time::Duration::from_secs(u64::from(s)),
            }
            let tiers = a.tiers();
            proptest::prop_assert!(tiers.iter().all(|t| !t.is_empty()));
            proptest::prop_assert_eq!(a.count(), tiers.iter().map(Vec::len).sum::<usize>());
            let want = match a.reach {
                _ if tiers.is_empty() => 0,
                Reach::OneTracker => 1,
                Reach::EveryTier => tiers.len(),
                Reach::EveryTracker => a.count(),
            };
            proptest::prop_assert_eq!(a.lane_count(), want);
            let report = a.report(now);
            if let Some(u) = &report.last.url {
                proptest::prop_assert!(tiers.iter().flatten().any(|t| t == u));
            }
        }
    }
}
