//! One announce schedule over some of a torrent's trackers (a lane): every
//! tier in order (BEP 12), one tier, or one tracker. A torrent runs one lane
//! or several side by side (see [`super::Reach`]); the trackers themselves are
//! the announcer's, and a lane keeps only where it stands in them.

use std::time::Duration;

use super::{Due, TrackerStatus};
use crate::proto::tracker::{AnnounceEvent, AnnounceReply, TrackerError};
use crate::types::Time;

const MIN_INTERVAL: Duration = Duration::from_secs(30);
const MAX_INTERVAL: Duration = Duration::from_secs(2 * 3600);
const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);

/// The trackers a lane goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Span {
    /// Every tier, in order.
    All,
    /// One tier (its index), its trackers in order.
    Tier(u32),
    /// One tracker: its tier and its place there.
    Tracker(u32, u32),
}

impl Span {
    /// Where the lane starts (and starts over): a tier and a place in it.
    fn first(self) -> (u32, u32) {
        match self {
            Span::All => (0, 0),
            Span::Tier(t) => (t, 0),
            Span::Tracker(t, i) => (t, i),
        }
    }

    /// The URLs it covers, in order.
    pub(super) fn urls(self, tiers: &[Vec<String>]) -> Vec<&str> {
        let at = |t: u32| tiers.get(t as usize).map_or(&[][..], Vec::as_slice);
        match self {
            Span::All => tiers.iter().flatten().map(String::as_str).collect(),
            Span::Tier(t) => at(t).iter().map(String::as_str).collect(),
            Span::Tracker(t, i) => at(t)
                .get(i as usize)
                .map(String::as_str)
                .into_iter()
                .collect(),
        }
    }
}

/// The schedule of one lane.
///
/// Its trackers are tried in order; one that answers moves to the front of
/// its tier. After a failure the next is tried at once; when every one has
/// failed, the lane backs off (15 s, doubling, up to 30 min). After a success
/// the next regular announce is `interval` later (never before `min interval`,
/// and between 30 s and 2 h whatever the tracker says).
#[derive(Debug, Clone)]
pub(super) struct Lane {
    pub(super) span: Span,
    tier: u32,
    index: u32,
    next_at: Time,
    event: AnnounceEvent,
    active: bool,
    /// Started while pieces were missing: `completed` is owed once they are had.
    downloading: bool,
    /// Stopping while `completed` was owed: `stopped` follows its announce.
    stop_after: bool,
    /// The id of the announce out (0: none; ids start at 1).
    in_flight: u64,
    round_failures: u32,
    /// Where the tracker its last reply came from stands in the tiers now
    /// (kept in step as trackers move; its URL is not copied: 100,000
    /// torrents would hold 100,000 copies).
    last_at: Option<(u32, u32)>,
    /// What the last reply said (`url` left `None`: see `last_at`); boxed,
    /// and only once a reply came: a daemon restoring 100,000 torrents holds
    /// 100,000 lanes before their first answers.
    replied: Option<Box<TrackerStatus>>,
}

impl Lane {
    /// An idle lane over `span`.
    pub(super) fn new(span: Span) -> Lane {
        let (tier, index) = span.first();
        Lane {
            span,
            tier,
            index,
            next_at: Time::ZERO,
            event: AnnounceEvent::Started,
            active: false,
            downloading: false,
            stop_after: false,
            in_flight: 0,
            round_failures: 0,
            last_at: None,
            replied: None,
        }
    }

    /// The tracker it would announce to now.
    pub(super) fn url<'a>(&self, tiers: &'a [Vec<String>]) -> &'a str {
        &tiers[self.tier as usize][self.index as usize]
    }

    /// What its last reply said (nothing yet: all unknown).
    pub(super) fn status(&self) -> &TrackerStatus {
        self.replied.as_deref().unwrap_or(&super::IDLE)
    }

    fn status_mut(&mut self) -> &mut TrackerStatus {
        self.replied.get_or_insert_with(Box::default)
    }

    /// The tracker its last reply came from.
    pub(super) fn last_url<'a>(&self, tiers: &'a [Vec<String>]) -> Option<&'a str> {
        let (t, i) = self.last_at?;
        Some(tiers.get(t as usize)?.get(i as usize)?.as_str())
    }

    /// The tiers changed from `old` to `new`: the last reply's tracker is
    /// found again by its URL (gone: forgotten).
    pub(super) fn retier(&mut self, old: &[Vec<String>], new: &[Vec<String>]) {
        self.last_at = self.last_url(old).and_then(|u| place(new, u));
    }

    /// Covers `span` from now on, at `url` if that is in it (else at its start).
    pub(super) fn respan(&mut self, span: Span, tiers: &[Vec<String>], url: &str) {
        self.span = span;
        (self.tier, self.index) = span.first();
        let found = place(tiers, url).filter(|(t, _)| match span {
            Span::All => true,
            Span::Tier(s) => *t == s,
            Span::Tracker(..) => false,
        });
        if let Some(at) = found {
            (self.tier, self.index) = at;
        }
    }

    /// When its next announce falls due (none while one is out or idle).
    pub(super) fn next_due(&self) -> Option<Time> {
        (self.active && self.in_flight == 0).then_some(self.next_at)
    }

    pub(super) fn is_active(&self) -> bool {
        self.active
    }

    /// The id of its announce out.
    pub(super) fn in_flight(&self) -> Option<u64> {
        (self.in_flight != 0).then_some(self.in_flight)
    }

    /// Started (`started` now); `complete`: no `completed` will be owed.
    pub(super) fn start(&mut self, now: Time, complete: bool) {
        self.active = true;
        self.downloading = !complete;
        self.stop_after = false;
        self.event = AnnounceEvent::Started;
        self.next_at = now;
        self.in_flight = 0;
        self.round_failures = 0;
    }

    /// Its next announce now, back-off forgotten (unless one is out or idle).
    pub(super) fn reannounce(&mut self, now: Time) {
        if self.active && self.in_flight == 0 {
            self.next_at = now;
            self.round_failures = 0;
        }
    }

    /// Its trackers were edited: it starts over at its first; an announce out
    /// is forgotten and made again now, as is one put off by failures.
    pub(super) fn edited(&mut self, now: Time) {
        (self.tier, self.index) = self.span.first();
        if std::mem::take(&mut self.in_flight) != 0 || self.status().error.is_some() {
            self.next_at = self.next_at.min(now);
            self.round_failures = 0;
        }
    }

    /// Its announce, as `id`, if one is due at `now`.
    pub(super) fn due(&mut self, now: Time, id: u64, tiers: &[Vec<String>]) -> Option<Due> {
        if self.next_due().is_none_or(|at| now < at) {
            return None;
        }
        self.in_flight = id;
        Some(Due {
            url: self.url(tiers).to_owned(),
            event: self.event,
            id,
        })
    }

    /// The outcome of its announce out (the caller matched the id).
    pub(super) fn on_reply(
        &mut self,
        now: Time,
        tiers: &mut [Vec<String>],
        result: Result<&AnnounceReply, &TrackerError>,
    ) {
        self.in_flight = 0;
        self.last_at = Some((self.tier, self.index));
        if self.event == AnnounceEvent::Stopped {
            // One try: a tracker that does not hear it drops us after its interval.
            self.active = false;
            if let Err(e) = result {
                self.status_mut().error = Some(e.to_string());
            }
            return;
        }
        if self.stop_after {
            // `completed` had its one try; `stopped` goes now.
            self.stop_after = false;
            match result {
                Ok(_) => self.status_mut().announces += 1,
                Err(e) => self.status_mut().error = Some(e.to_string()),
            }
            self.event = AnnounceEvent::Stopped;
            self.next_at = now;
            return;
        }
        match result {
            Ok(r) => self.answered(now, tiers, r),
            Err(e) => self.failed(now, tiers, e),
        }
    }

    fn answered(&mut self, now: Time, tiers: &mut [Vec<String>], r: &AnnounceReply) {
        if !matches!(self.span, Span::Tracker(..)) {
            let t = &mut tiers[self.tier as usize];
            let won = t.remove(self.index as usize);
            t.insert(0, won);
            self.last_at = Some((self.tier, 0));
        }
        (self.tier, self.index) = self.span.first();
        self.round_failures = 0;
        self.event = AnnounceEvent::None;
        let mut wait = Duration::from_secs(u64::from(r.interval));
        if let Some(min) = r.min_interval {
            wait = wait.max(Duration::from_secs(u64::from(min)));
        }
        self.next_at = now + wait.clamp(MIN_INTERVAL, MAX_INTERVAL);
        let st = self.status_mut();
        st.error = None;
        st.warning.clone_from(&r.warning);
        st.swarm = crate::core::SwarmCounts {
            seeders: r.complete,
            leechers: r.incomplete,
            downloaded: r.downloaded,
        };
        st.peers_received += r.peers.len() as u64;
        st.last_peers = Some(u32::try_from(r.peers.len()).unwrap_or(u32::MAX));
        st.announces += 1;
    }

    fn failed(&mut self, now: Time, tiers: &[Vec<String>], e: &TrackerError) {
        self.status_mut().error = Some(e.to_string());
        // The counts were another answer's, maybe another tracker's.
        self.status_mut().swarm = crate::core::SwarmCounts::default();
        self.status_mut().last_peers = None;
        let tier_len = |t: u32| tiers.get(t as usize).map_or(0, Vec::len);
        let round_over = match self.span {
            Span::All => {
                self.index += 1;
                if self.index as usize >= tier_len(self.tier) {
                    self.index = 0;
                    self.tier += 1;
                }
                self.tier as usize >= tiers.len()
            }
            Span::Tier(t) => {
                self.index += 1;
                self.index as usize >= tier_len(t)
            }
            Span::Tracker(..) => true,
        };
        if round_over {
            // Every tracker of the lane failed this round: back off, then start over.
            (self.tier, self.index) = self.span.first();
            let backoff = Duration::from_secs(15) * (1u32 << self.round_failures.min(7));
            self.round_failures += 1;
            self.next_at = now + backoff.min(MAX_BACKOFF);
        } else {
            self.next_at = now;
        }
    }

    /// `completed` is owed now (the caller checked the torrent was started
    /// incomplete and is complete now).
    pub(super) fn owe_completed(&mut self, now: Time, complete: bool) {
        if self.active && self.downloading && complete {
            self.downloading = false;
            self.event = AnnounceEvent::Completed;
            self.next_at = now;
        }
    }

    /// Stopping: `stopped` next, at once, unless no tracker of the lane ever
    /// heard of the torrent (then it goes idle); a `completed` still owed first.
    pub(super) fn stopping(&mut self, now: Time) {
        if !self.active || self.event == AnnounceEvent::Stopped || self.stop_after {
            return;
        }
        if self.event == AnnounceEvent::Completed {
            self.stop_after = true;
            if self.in_flight == 0 {
                self.next_at = now;
            }
            return;
        }
        self.in_flight = 0;
        if self.status().announces == 0 {
            self.active = false;
            return;
        }
        self.event = AnnounceEvent::Stopped;
        self.next_at = now;
    }

    /// Whether a `stopped` is still to be sent (after the `completed` before it).
    pub(super) fn stop_pending(&self) -> bool {
        self.active && (self.event == AnnounceEvent::Stopped || self.stop_after)
    }
}

/// Where `url` stands in `tiers`.
fn place(tiers: &[Vec<String>], url: &str) -> Option<(u32, u32)> {
    tiers.iter().enumerate().find_map(|(t, tier)| {
        let i = tier.iter().position(|u| u == url)?;
        Some((u32::try_from(t).ok()?, u32::try_from(i).ok()?))
    })
}
