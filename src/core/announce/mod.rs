//! When to announce to which tracker (BEP 12 tiers), as a pure state machine: the
//! core keeps one per torrent and emits the announces it hands out.

mod lane;
#[cfg(test)]
mod tests;

use std::time::Duration;

use lane::{Lane, Span};

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

/// Nothing announced yet.
static IDLE: TrackerStatus = TrackerStatus {
    url: None,
    error: None,
    warning: None,
    peers_received: 0,
    announces: 0,
    swarm: super::SwarmCounts {
        seeders: None,
        leechers: None,
        downloaded: None,
    },
    last_peers: None,
};

/// A torrent's trackers and their schedule, for showing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackersReport {
    /// The tiers, in the order they are tried now (a tracker that answered is at
    /// the front of its tier).
    pub tiers: Vec<Vec<String>>,
    /// What the trackers said, in short: the first working lane's status
    /// (else the first tried), with the largest swarm counts any working
    /// tracker gave.
    pub last: TrackerStatus,
    /// What each lane's last announce said (its `url` is the tracker it used;
    /// one lane, or one per tier or per tracker: see [`Reach`]).
    pub lanes: Vec<TrackerStatus>,
    /// Whether the torrent is announcing (running, or owing `stopped`).
    pub active: bool,
    /// When the next announce is due (from now; zero when due or in flight;
    /// `None` when idle).
    pub next_in: Option<Duration>,
    /// The torrent's web seeds (BEP 19), which stand beside its trackers in
    /// the views (filled in by the core, which holds them).
    pub web_seeds: Vec<String>,
}

/// Which trackers a torrent announces to at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// One: the first that answers, going through the tiers in order (BEP 12
    /// read strictly).
    OneTracker,
    /// The first that answers in each tier, every tier at once (what
    /// qBittorrent does by default: a torrent whose trackers are one a tier,
    /// as most public ones list them, is announced to each).
    #[default]
    EveryTier,
    /// Every tracker of every tier.
    EveryTracker,
}

impl Reach {
    /// The lanes' spans over `tiers`.
    fn spans(self, tiers: &[Vec<String>]) -> Vec<Span> {
        let index = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
        match self {
            _ if tiers.is_empty() => Vec::new(),
            Reach::OneTracker => vec![Span::All],
            Reach::EveryTier => (0..tiers.len()).map(|t| Span::Tier(index(t))).collect(),
            Reach::EveryTracker => (tiers.iter().enumerate())
                .flat_map(|(t, urls)| {
                    (0..urls.len()).map(move |i| Span::Tracker(index(t), index(i)))
                })
                .collect(),
        }
    }
}

/// The announce schedule of one torrent: its trackers by tier, and one or
/// more lanes going through them side by side (one lane over every tier, or
/// one per tier, or one per tracker, as [`Reach`] says). Within a lane,
/// trackers are tried in order and one that answers moves to the front of
/// its tier (BEP 12); see [`lane::Lane`] for the timing.
///
/// The schedule is idle until [`Announcer::start`] (event `started` in every
/// lane) and again after the `stopped` announces that [`Announcer::stopping`]
/// asks for have been tried once. Each announce handed out carries an id; a
/// reply with another id (the answer to an announce overtaken by a stop, a
/// restart or an edit) is ignored.
#[derive(Debug, Clone)]
pub struct Announcer {
    tiers: Vec<Vec<String>>,
    /// On the heap: a torrent without trackers has none.
    lanes: Vec<Lane>,
    /// The trackers in `tiers`, kept beside them (a stats poll reads it for
    /// each of 100,000 torrents without touching their lists).
    count: u32,
    /// A hash of what the torrent's numbers show of its trackers (the
    /// headline's tracker, error and warning, the swarm counts), kept as
    /// they change: a `sync/maindata` poll fingerprints 100,000 torrents
    /// without following their lanes.
    shown: u32,
    /// A hash of `tiers`, made again when they change (what a torrent's
    /// magnet link carries is made again only then).
    tiers_hash: u32,
    reach: Reach,
    /// Started and not stopped since: a lane added now starts at once.
    started: bool,
    /// Started while pieces were missing, and `completed` not yet owed.
    downloading: bool,
    next_id: u64,
}

/// What the trackers said, in short (see [`Announcer::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headline<'a> {
    /// The tracker that said it.
    pub url: Option<&'a str>,
    /// What it said (its `url` is not filled in: see `url`).
    pub status: &'a TrackerStatus,
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

/// What [`Announcer::on_reply`] took a reply for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replied {
    /// The tracker that was asked.
    pub url: String,
    /// Its lane's announce before this one had failed.
    pub had_error: bool,
}

/// `tiers` hashed, folded to 32 bits.
fn hash32(tiers: &[Vec<String>]) -> u32 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    tiers.hash(&mut h);
    let full = h.finish();
    #[allow(clippy::cast_possible_truncation)] // the halves' bits are kept
    let folded = (full ^ (full >> 32)) as u32;
    folded
}

impl Announcer {
    /// A schedule over `tiers` reaching as `reach` says, idle until
    /// [`Announcer::start`].
    pub fn new(tiers: Vec<Vec<String>>, reach: Reach) -> Announcer {
        // Kept for the torrent's life, so no room to grow: lists moved here
        // from a decoded record have the spare room they grew with (a tier
        // of one tracker in room for four), 14 MB at 100,000 torrents.
        let mut tiers: Vec<Vec<String>> = (tiers.into_iter())
            .filter(|t| !t.is_empty())
            .map(|mut t| {
                t.shrink_to_fit();
                t
            })
            .collect();
        tiers.shrink_to_fit();
        let mut a = Announcer {
            count: tracker_count(&tiers),
            shown: 0,
            tiers_hash: hash32(&tiers),
            lanes: reach.spans(&tiers).into_iter().map(Lane::new).collect(),
            tiers,
            reach,
            started: false,
            downloading: false,
            next_id: 0,
        };
        a.reshow();
        a
    }

    /// What the torrent's numbers show of its trackers, hashed (see `shown`).
    pub fn shown(&self) -> u32 {
        self.shown
    }

    /// Its trackers, hashed (kept as they change).
    pub fn tiers_hash(&self) -> u32 {
        self.tiers_hash
    }

    /// Hashes again what the numbers show, after a change that may touch it.
    fn reshow(&mut self) {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let head = self.status();
        (head.url, &head.status.error, &head.status.warning).hash(&mut h);
        self.swarm().hash(&mut h);
        let full = h.finish();
        // Folded to 32 bits: the halves' bits are what is kept.
        #[allow(clippy::cast_possible_truncation)]
        let folded = (full ^ (full >> 32)) as u32;
        self.shown = folded;
    }

    /// The trackers and the schedule as of `now`.
    pub fn report(&self, now: Time) -> TrackersReport {
        let next_in = self.is_active().then(|| {
            let soonest = (self.lanes.iter())
                .filter(|l| l.is_active())
                .map(|l| {
                    if l.in_flight().is_some() {
                        now
                    } else {
                        l.next_due().unwrap_or(now)
                    }
                })
                .min()
                .unwrap_or(now);
            if now >= soonest {
                Duration::ZERO
            } else {
                soonest.since(now)
            }
        });
        let head = self.status();
        let last = TrackerStatus {
            url: head.url.map(str::to_owned),
            swarm: self.swarm(),
            ..head.status.clone()
        };
        let lanes = (self.lanes.iter())
            .map(|l| TrackerStatus {
                url: l.last_url(&self.tiers).map(str::to_owned),
                ..l.status().clone()
            })
            .collect();
        TrackersReport {
            tiers: self.tiers.clone(),
            last,
            lanes,
            active: self.is_active(),
            next_in,
            web_seeds: Vec::new(),
        }
    }

    /// Adds the trackers of `tiers` this schedule does not hold yet, each
    /// tier's new ones as a tier after the last (with lanes of their own where
    /// lanes are per tier or per tracker, started at once if the torrent
    /// announces); how many were added.
    pub fn absorb(&mut self, now: Time, tiers: &[Vec<String>]) -> usize {
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
                self.tiers.push(new);
            }
        }
        if added > 0 {
            self.count = tracker_count(&self.tiers);
            self.tiers_hash = hash32(&self.tiers);
            let spans = self.reach.spans(&self.tiers);
            for span in spans.into_iter().skip(self.lanes.len()) {
                let lane = self.fresh_lane(now, span);
                self.lanes.push(lane);
            }
        }
        self.reshow();
        added
    }

    /// Replaces the trackers with `tiers` (a tracker listed twice is kept
    /// where it first comes; empty tiers go); whether anything changed. With
    /// one lane, an announce out, maybe to a tracker now gone, is forgotten
    /// (its answer is ignored) and made again at once to the new first
    /// tracker, and so is one put off by failures: a user who mends a dead
    /// tracker's URL sees it tried now. With a lane per tier or per tracker,
    /// a lane over the same trackers as before goes on where it was, and the
    /// others start afresh. The last answers' statuses stay until the next.
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
        let old = std::mem::replace(&mut self.tiers, tiers);
        self.count = tracker_count(&self.tiers);
        self.tiers_hash = hash32(&self.tiers);
        if self.reach == Reach::OneTracker && !self.lanes.is_empty() && !self.tiers.is_empty() {
            self.lanes[0].retier(&old, &self.tiers);
            self.lanes[0].edited(now);
        } else {
            self.relane(now, &old);
        }
        self.reshow();
        true
    }

    /// Reaches as `reach` says from now on (lanes over the same trackers as
    /// before go on; the rest start afresh); whether anything changed.
    pub fn set_reach(&mut self, now: Time, reach: Reach) -> bool {
        if reach == self.reach {
            return false;
        }
        self.reach = reach;
        let tiers = self.tiers.clone();
        self.relane(now, &tiers);
        self.reshow();
        true
    }

    /// Lanes for the spans of the present tiers. Each takes over the old lane
    /// (over `old` tiers) that covered the same trackers, else one whose
    /// tracker (the one it announced to last, or tries next) it covers, so
    /// a tracker keeps its schedule; the rest start afresh.
    fn relane(&mut self, now: Time, old: &[Vec<String>]) {
        let mut before: Vec<Option<(Vec<&str>, String, Lane)>> = std::mem::take(&mut self.lanes)
            .into_iter()
            .map(|l| Some((sorted(l.span.urls(old)), l.url(old).to_owned(), l)))
            .collect();
        let spans = self.reach.spans(&self.tiers);
        let mut taken: Vec<Option<(String, Lane)>> = vec![None; spans.len()];
        for (span, slot) in spans.iter().zip(&mut taken) {
            let urls = sorted(span.urls(&self.tiers));
            let same = before
                .iter_mut()
                .find(|b| b.as_ref().is_some_and(|b| b.0 == urls));
            *slot = same.and_then(Option::take).map(|(_, at, l)| (at, l));
        }
        for (span, slot) in spans.iter().zip(&mut taken) {
            if slot.is_none() {
                let urls = span.urls(&self.tiers);
                let within = (before.iter_mut())
                    .find(|b| b.as_ref().is_some_and(|b| urls.contains(&b.1.as_str())));
                *slot = within.and_then(Option::take).map(|(_, at, l)| (at, l));
            }
        }
        for (span, slot) in spans.into_iter().zip(taken) {
            let lane = match slot {
                Some((at, mut lane)) => {
                    lane.retier(old, &self.tiers);
                    lane.respan(span, &self.tiers, &at);
                    lane
                }
                None => self.fresh_lane(now, span),
            };
            self.lanes.push(lane);
        }
    }

    /// A new lane over `span`, announcing at once if the torrent does.
    fn fresh_lane(&self, now: Time, span: Span) -> Lane {
        let mut lane = Lane::new(span);
        if self.started {
            lane.start(now, !self.downloading);
        }
        lane
    }

    /// The trackers, by tier, in the order they are tried (an answering tracker
    /// moves to the front of its tier).
    pub fn tiers(&self) -> &[Vec<String>] {
        &self.tiers
    }

    /// How many trackers there are, in every tier.
    pub fn count(&self) -> usize {
        self.count as usize
    }

    /// How many lanes announce side by side.
    pub fn lane_count(&self) -> usize {
        self.lanes.len()
    }

    /// Whether there is any tracker at all.
    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }

    /// Whether the torrent is announced (started and not yet stopped, or a
    /// `stopped` still owed).
    pub fn is_active(&self) -> bool {
        self.lanes.iter().any(Lane::is_active)
    }

    /// Whether [`Announcer::due`] would hand out an announce at `now`.
    pub fn is_due(&self, now: Time) -> bool {
        self.next_due().is_some_and(|at| now >= at)
    }

    /// When the next announce falls due, if one will without anything else
    /// happening first (none from a lane with one out, or while not announcing).
    pub fn next_due(&self) -> Option<Time> {
        self.lanes.iter().filter_map(Lane::next_due).min()
    }

    /// The torrent runs: announce `started` now. `complete`: nothing is missing, so
    /// no `completed` will be owed.
    pub fn start(&mut self, now: Time, complete: bool) {
        self.started = true;
        self.downloading = !complete;
        for lane in &mut self.lanes {
            lane.start(now, complete);
        }
    }

    /// Announce again now (a user's "reannounce"): a running torrent's next
    /// announces are due at once, the failure back-off forgotten. A lane with
    /// an announce out, or a torrent not announcing, is left as it is.
    pub fn reannounce(&mut self, now: Time) {
        for lane in &mut self.lanes {
            lane.reannounce(now);
        }
    }

    /// A tracker and event to announce now, if one is due (the first lane's
    /// that is). The caller sends it, reports back with
    /// [`Announcer::on_reply`], and asks again while it has room.
    pub fn due(&mut self, now: Time) -> Option<Due> {
        let id = self.next_id + 1;
        let due = (self.lanes.iter_mut()).find_map(|l| l.due(now, id, &self.tiers))?;
        self.next_id = id;
        Some(due)
    }

    /// The outcome of the announce [`Announcer::due`] handed out as `id`: the
    /// tracker it went to, or `None` for a stale reply (which changes nothing).
    pub fn on_reply(
        &mut self,
        now: Time,
        id: u64,
        result: Result<&AnnounceReply, &TrackerError>,
    ) -> Option<Replied> {
        let lane = (self.lanes.iter_mut()).find(|l| l.in_flight() == Some(id))?;
        let url = lane.url(&self.tiers).to_owned();
        let had_error = lane.status().error.is_some();
        lane.on_reply(now, &mut self.tiers, result);
        self.reshow();
        Some(Replied { url, had_error })
    }

    /// Whether `completed` is owed: the torrent was started while incomplete and is
    /// now complete. Owing it makes it due at once.
    pub fn owe_completed(&mut self, now: Time, complete: bool) {
        if complete {
            self.downloading = false;
        }
        for lane in &mut self.lanes {
            lane.owe_completed(now, complete);
        }
    }

    /// The torrent stops: the next announce of each lane is `stopped`, due at
    /// once, unless no tracker of that lane ever heard of it (then the lane just
    /// goes idle). A `completed` still owed is announced first.
    pub fn stopping(&mut self, now: Time) {
        self.started = false;
        for lane in &mut self.lanes {
            lane.stopping(now);
        }
    }

    /// Whether a `stopped` is still to be sent (after the `completed` before it).
    pub fn stop_pending(&self) -> bool {
        self.lanes.iter().any(Lane::stop_pending)
    }

    /// The lanes whose `stopped` is still to be sent and not yet out.
    pub fn stops_unsent(&self) -> usize {
        (self.lanes.iter())
            .filter(|l| l.stop_pending() && l.in_flight().is_none())
            .count()
    }

    /// Asks for its lanes to be loaded into the caches (see
    /// `Torrent::prefetch_parts`).
    pub(crate) fn prefetch_lanes(&self) {
        if let Some(l) = self.lanes.first() {
            crate::prefetch::object(l);
        }
    }

    /// What the trackers said, in short: the first lane whose last announce
    /// worked, else the first that has had a reply, else the first.
    pub fn status(&self) -> Headline<'_> {
        let working = |l: &&Lane| l.status().announces > 0 && l.status().error.is_none();
        let lane = (self.lanes.iter().find(working))
            .or_else(|| (self.lanes.iter()).find(|l| l.last_url(&self.tiers).is_some()))
            .or_else(|| self.lanes.first());
        Headline {
            url: lane.and_then(|l| l.last_url(&self.tiers)),
            status: lane.map_or(&IDLE, Lane::status),
        }
    }

    /// The swarm as the trackers count it: each number the largest a working
    /// tracker gave (a failed lane's counts are unknown).
    pub fn swarm(&self) -> super::SwarmCounts {
        let most = |a: Option<u32>, b: Option<u32>| a.max(b);
        (self.lanes.iter()).fold(super::SwarmCounts::default(), |s, l| {
            let c = l.status().swarm;
            super::SwarmCounts {
                seeders: most(s.seeders, c.seeders),
                leechers: most(s.leechers, c.leechers),
                downloaded: most(s.downloaded, c.downloaded),
            }
        })
    }
}

/// `urls` in order, to compare as sets.
fn sorted(mut urls: Vec<&str>) -> Vec<&str> {
    urls.sort_unstable();
    urls
}

/// How many trackers `tiers` hold.
fn tracker_count(tiers: &[Vec<String>]) -> u32 {
    u32::try_from(tiers.iter().map(Vec::len).sum::<usize>()).unwrap_or(u32::MAX)
}
