//! When to announce to which tracker (BEP 12 tiers), as a pure state machine.

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
}

/// The announce schedule of one torrent.
///
/// Tiers are tried in order, trackers within a tier in order; a tracker that answers
/// moves to the front of its tier (BEP 12). After a failure the next tracker is tried
/// at once; when every tracker has failed, the schedule backs off (15 s, doubling,
/// up to 30 min). After a success the next regular announce is `interval` later
/// (never before `min interval`, and between 30 s and 2 h whatever the tracker says).
#[derive(Debug, Clone)]
pub struct Announcer {
    tiers: Vec<Vec<String>>,
    tier: usize,
    index: usize,
    next_at: Time,
    event: AnnounceEvent,
    in_flight: bool,
    round_failures: u32,
    status: TrackerStatus,
}

const MIN_INTERVAL: Duration = Duration::from_secs(30);
const MAX_INTERVAL: Duration = Duration::from_secs(2 * 3600);
const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);

impl Announcer {
    /// A schedule over `tiers`; the first announce (event `started`) is due at once.
    pub fn new(tiers: Vec<Vec<String>>) -> Announcer {
        Announcer {
            tiers: tiers.into_iter().filter(|t| !t.is_empty()).collect(),
            tier: 0,
            index: 0,
            next_at: Time::ZERO,
            event: AnnounceEvent::Started,
            in_flight: false,
            round_failures: 0,
            status: TrackerStatus::default(),
        }
    }

    /// Whether there is any tracker at all.
    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }

    /// The tracker and event to announce now, if one is due. The caller sends it and
    /// reports back with [`Announcer::on_reply`].
    pub fn due(&mut self, now: Time) -> Option<(String, AnnounceEvent)> {
        if self.in_flight || self.tiers.is_empty() || now < self.next_at {
            return None;
        }
        self.in_flight = true;
        Some((self.tiers[self.tier][self.index].clone(), self.event))
    }

    /// The outcome of the announce [`Announcer::due`] handed out.
    pub fn on_reply(&mut self, now: Time, result: Result<&AnnounceReply, &TrackerError>) {
        self.in_flight = false;
        let url = self.tiers[self.tier][self.index].clone();
        self.status.url = Some(url);
        match result {
            Ok(r) => {
                let t = &mut self.tiers[self.tier];
                let won = t.remove(self.index);
                t.insert(0, won);
                self.tier = 0;
                self.index = 0;
                self.round_failures = 0;
                // A `stopped` announce is the last one.
                self.event = if self.event == AnnounceEvent::Stopped {
                    AnnounceEvent::Stopped
                } else {
                    AnnounceEvent::None
                };
                let mut wait = Duration::from_secs(u64::from(r.interval));
                if let Some(min) = r.min_interval {
                    wait = wait.max(Duration::from_secs(u64::from(min)));
                }
                self.next_at = now + wait.clamp(MIN_INTERVAL, MAX_INTERVAL);
                self.status.error = None;
                self.status.warning.clone_from(&r.warning);
                self.status.peers_received += r.peers.len() as u64;
                self.status.announces += 1;
            }
            Err(e) => {
                self.status.error = Some(e.to_string());
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
    }

    /// The download completed: tell the tracker now.
    pub fn completed(&mut self, now: Time) {
        self.event = AnnounceEvent::Completed;
        self.next_at = now;
    }

    /// The torrent stops: the next announce is `stopped`, due at once.
    pub fn stopping(&mut self, now: Time) {
        self.event = AnnounceEvent::Stopped;
        self.next_at = now;
        self.in_flight = false;
    }

    /// The event the next announce will carry (`completed` still owed, say).
    pub fn pending_event(&self) -> AnnounceEvent {
        self.event
    }

    /// The tracker the next announce goes to, whatever the time.
    pub fn current(&self) -> Option<&str> {
        self.tiers
            .get(self.tier)
            .and_then(|t| t.get(self.index))
            .map(String::as_str)
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

    #[test]
    fn tiers_fail_over_then_back_off() {
        let mut a = Announcer::new(vec![vec!["a".into(), "b".into()], vec!["c".into()]]);
        let t0 = Time::ZERO;
        assert_eq!(a.due(t0), Some(("a".into(), AnnounceEvent::Started)));
        assert_eq!(a.due(t0), None, "one announce at a time");
        let err = TrackerError::Io("timeout".into());
        a.on_reply(t0, Err(&err));
        assert_eq!(a.due(t0).unwrap().0, "b");
        a.on_reply(t0, Err(&err));
        assert_eq!(a.due(t0).unwrap().0, "c");
        a.on_reply(t0, Err(&err));
        // All failed: back off 15 s before starting over.
        assert_eq!(a.due(Time::from_secs(14)), None);
        assert_eq!(a.due(Time::from_secs(15)).unwrap().0, "a");
        assert_eq!(a.status().error.as_deref(), Some("timeout"));
    }

    #[test]
    fn a_tracker_that_answers_moves_to_the_front_and_sets_the_interval() {
        let mut a = Announcer::new(vec![vec!["a".into(), "b".into()]]);
        a.due(Time::ZERO);
        a.on_reply(Time::ZERO, Err(&TrackerError::Io("x".into())));
        a.due(Time::ZERO);
        a.on_reply(Time::ZERO, Ok(&ok(1800)));
        assert_eq!(a.due(Time::from_secs(1799)), None);
        let (url, ev) = a.due(Time::from_secs(1800)).unwrap();
        assert_eq!((url.as_str(), ev), ("b", AnnounceEvent::None));
        // Intervals are clamped: a tracker asking for 1 s gets 30 s.
        a.on_reply(Time::from_secs(1800), Ok(&ok(1)));
        assert_eq!(a.due(Time::from_secs(1829)), None);
        assert!(a.due(Time::from_secs(1830)).is_some());
    }

    #[test]
    fn completed_and_stopped_are_announced_at_once() {
        let mut a = Announcer::new(vec![vec!["a".into()]]);
        a.due(Time::ZERO);
        a.on_reply(Time::ZERO, Ok(&ok(1800)));
        a.completed(Time::from_secs(5));
        assert_eq!(
            a.due(Time::from_secs(5)),
            Some(("a".into(), AnnounceEvent::Completed))
        );
        a.on_reply(Time::from_secs(5), Ok(&ok(1800)));
        a.stopping(Time::from_secs(6));
        assert_eq!(
            a.due(Time::from_secs(6)),
            Some(("a".into(), AnnounceEvent::Stopped))
        );
        assert!(Announcer::new(vec![vec![]]).is_empty());
    }
}
