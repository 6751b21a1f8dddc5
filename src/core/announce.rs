//! When to announce to which tracker (BEP 12 tiers), as a pure state machine: the
//! core keeps one per torrent and emits the announces it hands out.

use std::time::Duration;

use crate::proto::tracker::{AnnounceEvent, AnnounceReply, TrackerError};
use crate::types::Time;

/// What the last announce said, for showing with the torrent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackerStatus {
    /// The tracker last used.
    pub url: Option<String>,
    /// The last error (failure reason, timeout, bad reply), if the last try failed.
    pub error: Option<String>,
    /// The tracker's last warning message.
    pub warning: Option<String>,
    /// Peers received in all.
    pub peers_received: u64,
    /// Successful announces.
    pub announces: u64,
    /// The swarm as the last tracker's last answer counted it (unknown when
    /// not told, or when its last announce failed).
    pub swarm: super::SwarmCounts,
    /// Peers its last answer gave (`None` when that announce failed).
    pub last_peers: Option<u32>,
}

/// A torrent's trackers and their schedule, for showing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackersReport {
    /// The tiers, in the order they are tried now (a tracker that answered is at
    /// the front of its tier).
    pub tiers: Vec<Vec<String>>,
    /// What the last announce said.
    pub last: TrackerStatus,
    /// Whether the torrent is announcing (running, or owing `stopped`).
    pub active: bool,
    /// When the next announce is due (from now; zero when due or in flight;
    /// `None` when idle).
    pub next_in: Option<Duration>,
    /// The torrent's web seeds (BEP 19), which stand beside its trackers in
    /// the views (filled in by the core, which holds them).
    pub web_seeds: Vec<String>,
}

/// The announce schedule of one torrent.
///
/// Tiers are tried in order, trackers within a tier in order; a tracker that answers
/// moves to the front of its tier (BEP 12). After a failure the next tracker is tried
/// at once; when every tracker has failed, the schedule backs off (15 s, doubling,
/// up to 30 min). After a success the next regular announce is `interval` later
/// (never before `min interval`, and between 30 s and 2 h whatever the tracker says).
///
/// The schedule is idle until [`Announcer::start`] (event `started`) and again after
/// the `stopped` announce that [`Announcer::stopping`] asks for has been tried once.
/// Each announce handed out carries an id; a reply with another id (the answer to
/// an announce overtaken by a stop or a restart) is ignored.
#[derive(Debug, Clone)]
pub struct Announcer {
    tiers: Vec<Vec<String>>,
    /// The trackers in `tiers`, kept beside them (a stats poll reads it for
    /// each of 100,000 torrents without touching their lists).
    count: usize,
    tier: usize,
    index: usize,
    next_at: Time,
    event: AnnounceEvent,
    active: bool,
    /// Started while pieces were missing: `completed` is owed once they are had.
    downloading: bool,
    /// Stopping while `completed` was owed: `stopped` follows its announce.
    stop_after: bool,
    in_flight: Option<u64>,
    next_id: u64,
    round_failures: u32,
    status: TrackerStatus,
}

/// An announce to make now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The tracker.
    pub url: String,
    /// Why.
    pub event: AnnounceEvent,
    /// Hand it back with the reply ([`Announcer::on_reply`]).
    pub id: u64,
}

const MIN_INTERVAL: Duration = Duration::from_secs(30);
const MAX_INTERVAL: Duration = Duration::from_secs(2 * 3600);
const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);

impl Announcer {
    /// The trackers and the schedule as of `now`.
    pub fn report(&self, now: Time) -> TrackersReport {
        let next_in = self.active.then(|| {
            if self.in_flight.is_some() || now >= self.next_at {
                Duration::ZERO
            } else {
                self.next_at.since(now)
            }
        });
        TrackersReport {
            tiers: self.tiers.clone(),
            last: self.status.clone(),
            active: self.active,
            next_in,
            web_seeds: Vec::new(),
        }
    }

    /// A schedule over `tiers`, idle until [`Announcer::start`].
    pub fn new(tiers: Vec<Vec<String>>) -> Announcer {
        let tiers: Vec<Vec<String>> = tiers.into_iter().filter(|t| !t.is_empty()).collect();
        Announcer {
            count: tiers.iter().map(Vec::len).sum(),
            tiers,
            tier: 0,
            index: 0,
            next_at: Time::ZERO,
            event: AnnounceEvent::Started,
            active: false,
            downloading: false,
            stop_after: false,
            in_flight: None,
            next_id: 0,
            round_failures: 0,
            status: TrackerStatus::default(),
        }
    }

    /// Adds the trackers of `tiers` this schedule does not hold yet, each
    /// tier's new ones as a tier after the last; how many were added.
    pub fn absorb(&mut self, tiers: &[Vec<String>]) -> usize {
        let mut added = 0;
        for tier in tiers {
            let mut new: Vec<String> = Vec::new();
            for url in tier {
                if !self.tiers.iter().flatten().chain(&new).any(|k| k == url) {
                    new.push(url.clone());
                }
            }
            if !new.is_empty() {
                added += new.len();
                self.count += new.len();
                self.tiers.push(new);
            }
        }
        added
    }

    /// Replaces the trackers with `tiers` (a tracker listed twice is kept
    /// where it first comes; empty tiers go); whether anything changed. An
    /// announce out, maybe to a tracker now gone, is forgotten (its answer is
    /// ignored) and made again at once to the new first tracker, and so is one
    /// put off by failures: a user who mends a dead tracker's URL sees it
    /// tried now. The last answer's status stays until the next.
    pub fn set_tiers(&mut self, now: Time, tiers: Vec<Vec<String>>) -> bool {
        let mut seen = std::collections::HashSet::new();
        let tiers: Vec<Vec<String>> = (tiers.into_iter())
            .map(|t| {
                t.into_iter()
                    .filter(|u| seen.insert(u.clone()))
                    .collect::<Vec<_>>()
            })
            .filter(|t| !t.is_empty())
            .collect();
        if tiers == self.tiers {
            return false;
        }
        self.count = tiers.iter().map(Vec::len).sum();
        self.tiers = tiers;
        (self.tier, self.index) = (0, 0);
        if self.in_flight.take().is_some() || self.status.error.is_some() {
            self.next_at = self.next_at.min(now);
            self.round_failures = 0;
        }
        true
    }

    /// The trackers, by tier, in the order they are tried (an answering tracker
    /// moves to the front of its tier).
    pub fn tiers(&self) -> &[Vec<String>] {
        &self.tiers
    }

    /// How many trackers there are, in every tier.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether there is any tracker at all.
    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }

    /// Whether the torrent is announced (started and not yet stopped).
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Whether [`Announcer::due`] would hand out an announce at `now`.
    pub fn is_due(&self, now: Time) -> bool {
        self.next_due().is_some_and(|at| now >= at)
    }

    /// When the next announce falls due, if one will without anything else
    /// happening first (none while one is out, or while not announcing).
    pub fn next_due(&self) -> Option<Time> {
        (self.active && self.in_flight.is_none() && !self.tiers.is_empty()).then_some(self.next_at)
    }

    /// Whether an announce is out, waiting for its reply.
    pub fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The torrent runs: announce `started` now. `complete`: nothing is missing, so
    /// no `completed` will be owed.
    pub fn start(&mut self, now: Time, complete: bool) {
        self.active = true;
        self.downloading = !complete;
        self.stop_after = false;
        self.event = AnnounceEvent::Started;
        self.next_at = now;
        self.in_flight = None;
        self.round_failures = 0;
    }

    /// Announce again now (a user's "reannounce"): a running torrent's next
    /// announce is due at once, the failure back-off forgotten. Nothing changes
    /// while an announce is out or the torrent is not announcing.
    pub fn reannounce(&mut self, now: Time) {
        if self.active && self.in_flight.is_none() {
            self.next_at = now;
            self.round_failures = 0;
        }
    }

    /// The tracker and event to announce now, if one is due. The caller sends it and
    /// reports back with [`Announcer::on_reply`].
    pub fn due(&mut self, now: Time) -> Option<Due> {
        if !self.is_due(now) {
            return None;
        }
        self.next_id += 1;
        self.in_flight = Some(self.next_id);
        Some(Due {
            url: self.tiers[self.tier][self.index].clone(),
            event: self.event,
            id: self.next_id,
        })
    }

    /// The outcome of the announce [`Announcer::due`] handed out as `id`. Whether
    /// it was that announce's (a stale reply changes nothing).
    pub fn on_reply(
        &mut self,
        now: Time,
        id: u64,
        result: Result<&AnnounceReply, &TrackerError>,
    ) -> bool {
        if self.in_flight != Some(id) {
            return false;
        }
        self.in_flight = None;
        let url = self.tiers[self.tier][self.index].clone();
        self.status.url = Some(url);
        if self.event == AnnounceEvent::Stopped {
            // One try: a tracker that does not hear it drops us after its interval.
            self.active = false;
            if let Err(e) = result {
                self.status.error = Some(e.to_string());
            }
            return true;
        }
        if self.stop_after {
            // `completed` had its one try; `stopped` goes now.
            self.stop_after = false;
            match result {
                Ok(_) => self.status.announces += 1,
                Err(e) => self.status.error = Some(e.to_string()),
            }
            self.event = AnnounceEvent::Stopped;
            self.next_at = now;
            return true;
        }
        match result {
            Ok(r) => {
                let t = &mut self.tiers[self.tier];
                let won = t.remove(self.index);
                t.insert(0, won);
                self.tier = 0;
                self.index = 0;
                self.round_failures = 0;
                self.event = AnnounceEvent::None;
                let mut wait = Duration::from_secs(u64::from(r.interval));
                if let Some(min) = r.min_interval {
                    wait = wait.max(Duration::from_secs(u64::from(min)));
                }
                self.next_at = now + wait.clamp(MIN_INTERVAL, MAX_INTERVAL);
                self.status.error = None;
                self.status.warning.clone_from(&r.warning);
                self.status.swarm = super::SwarmCounts {
                    seeders: r.complete,
                    leechers: r.incomplete,
                    downloaded: r.downloaded,
                };
                self.status.peers_received += r.peers.len() as u64;
                self.status.last_peers = Some(u32::try_from(r.peers.len()).unwrap_or(u32::MAX));
                self.status.announces += 1;
            }
            Err(e) => {
                self.status.error = Some(e.to_string());
                // The counts were another answer's, maybe another tracker's.
                self.status.swarm = super::SwarmCounts::default();
                self.status.last_peers = None;
                self.index += 1;
                if self.index >= self.tiers[self.tier].len() {
                    self.index = 0;
                    self.tier += 1;
                }
                if self.tier >= self.tiers.len() {
                    // Every tracker failed this round: back off, then start over.
                    self.tier = 0;
                    let backoff = Duration::from_secs(15) * (1u32 << self.round_failures.min(7));
                    self.round_failures += 1;
                    self.next_at = now + backoff.min(MAX_BACKOFF);
                } else {
                    self.next_at = now;
                }
            }
        }
        true
    }

    /// Whether `completed` is owed: the torrent was started while incomplete and is
    /// now complete. Owing it makes it due at once.
    pub fn owe_completed(&mut self, now: Time, complete: bool) {
        if self.active && self.downloading && complete {
            self.downloading = false;
            self.event = AnnounceEvent::Completed;
            self.next_at = now;
        }
    }

    /// The torrent stops: the next announce is `stopped`, due at once, unless no
    /// tracker ever heard of it (then the schedule just goes idle). A `completed`
    /// still owed (the download finished a moment ago) is announced first.
    pub fn stopping(&mut self, now: Time) {
        if !self.active || self.event == AnnounceEvent::Stopped || self.stop_after {
            return;
        }
        if self.event == AnnounceEvent::Completed {
            self.stop_after = true;
            if self.in_flight.is_none() {
                self.next_at = now;
            }
            return;
        }
        self.in_flight = None;
        if self.status.announces == 0 {
            self.active = false;
            return;
        }
        self.event = AnnounceEvent::Stopped;
        self.next_at = now;
    }

    /// Whether a `stopped` is still to be sent (after the `completed` before it).
    pub fn stop_pending(&self) -> bool {
        self.active && (self.event == AnnounceEvent::Stopped || self.stop_after)
    }

    /// What the trackers said last.
    pub fn status(&self) -> &TrackerStatus {
        &self.status
    }
}

#[cfg(test)]
mod tests {
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
        assert!(a.on_reply(now, due.id, r));
        due
    }

    #[test]
    fn tiers_fail_over_then_back_off() {
        let mut a = Announcer::new(vec![vec!["a".into(), "b".into()], vec!["c".into()]]);
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
        assert!(a.on_reply(t0, first.id, Err(&err)));
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
        assert_eq!(a.status().error.as_deref(), Some("timeout"));
    }

    #[test]
    fn the_swarm_counts_are_the_last_answers_and_go_with_a_failure() {
        let mut a = Announcer::new(vec![vec!["a".into(), "b".into()]]);
        a.start(Time::ZERO, false);
        let counted = AnnounceReply {
            complete: Some(4),
            incomplete: Some(9),
            downloaded: Some(120),
            ..ok(1800)
        };
        answer(&mut a, Time::ZERO, Ok(&counted));
        let st = a.status().swarm;
        assert_eq!(
            (st.seeders, st.leechers, st.downloaded),
            (Some(4), Some(9), Some(120))
        );
        // A failure: the counts were that tracker's, and are no longer known.
        let t = Time::from_secs(1800);
        answer(&mut a, t, Err(&TrackerError::Io("down".into())));
        assert_eq!(a.status().swarm, crate::core::SwarmCounts::default());
        // A tracker that does not count leaves them unknown.
        answer(&mut a, t, Ok(&ok(1800)));
        let st = a.status();
        assert_eq!((st.url.as_deref(), st.swarm.seeders), (Some("b"), None));
    }

    #[test]
    fn new_trackers_take_over_the_schedule_and_a_reply_from_before_is_ignored() {
        let mut a = Announcer::new(vec![vec!["a".into(), "b".into()]]);
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
            !a.on_reply(t0, out.id, Ok(&ok(1800))),
            "the answer from before"
        );
        let next = a.due(t0).unwrap();
        assert_eq!(
            (next.url.as_str(), next.event),
            ("c", AnnounceEvent::Started)
        );
        // Every tracker failed: the back-off is forgotten when the list changes.
        let err = TrackerError::Io("refused".into());
        assert!(a.on_reply(t0, next.id, Err(&err)));
        answer(&mut a, t0, Err(&err));
        assert_eq!(a.due(Time::from_secs(10)), None, "backing off");
        assert!(a.set_tiers(Time::from_secs(10), vec![vec!["d".into()]]));
        assert_eq!(a.due(Time::from_secs(10)).unwrap().url, "d");
        // None at all: nothing to announce to.
        let mut b = Announcer::new(vec![vec!["a".into()]]);
        b.start(t0, true);
        assert!(b.set_tiers(t0, Vec::new()));
        assert_eq!(b.due(t0), None);
    }

    #[test]
    fn a_stale_reply_changes_nothing() {
        let mut a = Announcer::new(vec![vec!["a".into()]]);
        a.start(Time::ZERO, false);
        let old = a.due(Time::ZERO).unwrap();
        // Restarted before the reply came: the old announce is forgotten.
        a.start(Time::ZERO, false);
        assert!(!a.on_reply(Time::ZERO, old.id, Ok(&ok(1800))));
        let new = a.due(Time::ZERO).unwrap();
        assert_ne!(new.id, old.id);
        assert_eq!(a.status().announces, 0);
    }

    #[test]
    fn a_tracker_that_answers_moves_to_the_front_and_sets_the_interval() {
        let mut a = Announcer::new(vec![vec!["a".into(), "b".into()]]);
        a.start(Time::ZERO, false);
        answer(&mut a, Time::ZERO, Err(&TrackerError::Io("x".into())));
        answer(&mut a, Time::ZERO, Ok(&ok(1800)));
        assert_eq!(a.due(Time::from_secs(1799)), None);
        let due = a.due(Time::from_secs(1800)).unwrap();
        assert_eq!((due.url.as_str(), due.event), ("b", AnnounceEvent::None));
        // Intervals are clamped: a tracker asking for 1 s gets 30 s.
        a.on_reply(Time::from_secs(1800), due.id, Ok(&ok(1)));
        assert_eq!(a.due(Time::from_secs(1829)), None);
        assert!(a.due(Time::from_secs(1830)).is_some());
    }

    #[test]
    fn completed_and_stopped_are_announced_at_once() {
        let mut a = Announcer::new(vec![vec!["a".into()]]);
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
        assert!(Announcer::new(vec![vec![]]).is_empty());
    }

    #[test]
    fn stopping_right_after_completion_sends_completed_then_stopped() {
        let mut a = Announcer::new(vec![vec!["a".into()]]);
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
        let mut a = Announcer::new(vec![vec!["a".into()]]);
        a.start(Time::ZERO, true);
        answer(&mut a, Time::ZERO, Ok(&ok(1800)));
        a.owe_completed(Time::from_secs(1), true);
        assert_eq!(a.due(Time::from_secs(1)), None);
        let mut b = Announcer::new(vec![vec!["a".into()]]);
        b.start(Time::ZERO, false);
        b.stopping(Time::ZERO);
        assert!(!b.is_active());
        assert_eq!(b.due(Time::ZERO), None);
    }
}
