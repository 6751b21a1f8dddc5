//! Announcing torrents to their trackers: which announce is due, at what pace,
//! with what numbers, and what the replies change. The schedule of one torrent is
//! its [`Announcer`](super::announce::Announcer); this file runs them all.
//!
//! Rules:
//! - a torrent is announced while it runs or fetches its metadata (not while
//!   paused, errored, checking or moving): `started` when it begins, `completed`
//!   when its last wanted piece is written (only if it was started incomplete),
//!   `stopped` when it stops or is removed (after a `completed` still owed,
//!   except for a removed torrent, whose trackers then hear only `stopped`
//!   or `completed`: the reply that would trigger the second finds no torrent);
//! - at most `announces_per_sec` announces start per second, with a burst of as
//!   many, so a thousand torrents added at once are announced over twenty seconds
//!   rather than in one storm; `stopped` is never held back; a core whose
//!   torrents have more lanes (trackers announced to at once) than that rate
//!   can announce to in 15 minutes gets the rate that can, so no tracker waits
//!   past its interval;
//! - `left` is what is missing of the whole torrent (BEP 3), 16 KiB while the
//!   metadata is unknown (so the tracker does not take us for a seed).

use super::announce::Due;
use super::{Action, Core, Torrent};
use crate::proto::tracker::{Announce, AnnounceEvent, AnnounceReply, TrackerError};
use crate::types::{InfoHash, Time};

/// What a torrent's announces need (see [`Core::needs_announce`]).
pub(super) enum Need {
    /// To start (`started`) or stop (`stopped`): never held back.
    Transition,
    /// A regular announce is due: within the budget.
    Due,
}

/// What [`Core::announce_one`] did.
#[derive(Debug, PartialEq, Eq)]
enum Announced {
    /// Handed to the driver.
    Sent,
    /// Due, but the budget is spent: it waits for the next tick.
    HeldBack,
    /// Nothing was due.
    Nothing,
}

/// Whether `t` is to be announced (it runs or fetches its metadata).
fn wants_announcing(announcing_stopped: bool, t: &Torrent) -> bool {
    !announcing_stopped
        && !t.stopped()
        && t.error.is_none()
        && t.checking.is_none()
        && t.moving.is_none()
}

/// What a magnet without metadata says it still needs.
const UNKNOWN_LEFT: u64 = 16 * 1024;

/// Most trackers a torrent takes from the user (a `.torrent`'s own list is
/// bounded by the file's size).
pub const MAX_TRACKERS: usize = 1_000;
/// The longest tracker URL taken from the user.
pub const MAX_TRACKER_URL: usize = 4_096;
/// Seconds within which the budget can announce to every lane once, at least
/// (see [`Core::steady_rate`]).
const STEADY_SECS: f64 = 900.0;

impl Core {
    /// Replaces a torrent's trackers (the user's edit: added, removed or
    /// changed URLs), keeping its announce schedule's place; see
    /// [`super::announce::Announcer::set_tiers`]. A URL it did not have must be
    /// `http`, `https` or `udp` and at most [`MAX_TRACKER_URL`] bytes, and at
    /// most [`MAX_TRACKERS`] are kept; otherwise nothing changes.
    pub fn set_trackers(
        &mut self,
        now: Time,
        info_hash: InfoHash,
        tiers: Vec<Vec<String>>,
    ) -> Result<(), super::CommandError> {
        let bad = super::CommandError::BadArgument;
        let t = self.torrent_mut(info_hash)?;
        let had = t.announcer.tiers();
        for url in tiers.iter().flatten() {
            if had.iter().flatten().any(|h| h == url) {
                continue;
            }
            let scheme_ok = ["http://", "https://", "udp://"].iter().any(|s| {
                url.get(..s.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(s))
            });
            if !scheme_ok || url.len() > MAX_TRACKER_URL || url.chars().any(char::is_control) {
                return Err(bad(format!(
                    "not a tracker URL (http, https or udp): {url:?}"
                )));
            }
        }
        if tiers.iter().map(Vec::len).sum::<usize>() > MAX_TRACKERS {
            return Err(bad(format!("more than {MAX_TRACKERS} trackers")));
        }
        if t.announcer.set_tiers(now, tiers) {
            t.save_now = true;
            tracing::info!(info_hash = %info_hash, trackers = t.announcer.count(), "trackers changed");
        }
        Ok(())
    }

    /// Starts the announces that are due, within the rate.
    /// `listed`: the torrents [`Core::needs_announce`] picked, in key order.
    pub(super) fn announce_due(&mut self, now: Time, listed: Vec<InfoHash>, out: &mut Vec<Action>) {
        self.announce_budget = self.refilled_budget(now);
        self.announce_refilled = now;
        // Torrents after the cursor first, then from the start up to it.
        let cursor = self.announce_cursor.take();
        let split = cursor.map_or(0, |c| listed.partition_point(|ih| *ih <= c));
        for &ih in listed[split..].iter().chain(&listed[..split]) {
            if self.announce_one(now, ih, out) == Announced::HeldBack {
                // Out of budget: this one goes first next time.
                self.announce_cursor.get_or_insert(ih);
            }
        }
    }

    /// The torrents of `announce_soon` start announcing now, not at the next
    /// tick (up to 100 ms later, and as long again before the peers their
    /// trackers name are dialled: see `on_announce_reply`), as far as the
    /// budget goes; the rest, and any torrent not yet to be announced (still
    /// checking, say), are left to the ticks' walks like every other.
    pub(super) fn announce_promptly(&mut self, now: Time, out: &mut Vec<Action>) {
        if self.announce_soon.is_empty() {
            return;
        }
        let mut soon = std::mem::take(&mut self.announce_soon);
        soon.sort_unstable();
        soon.dedup();
        for ih in soon {
            let Some(t) = self.torrents.get(&ih) else {
                continue;
            };
            let budget = self.refilled_budget(now);
            if !matches!(self.needs_announce(t, now), Some(Need::Transition)) || budget < 1.0 {
                continue;
            }
            self.announce_budget = budget;
            self.announce_refilled = now;
            self.announce_one(now, ih, out);
        }
    }

    /// Moves `ih`'s announcer on (started, stopping) and hands the driver its
    /// announce if one is due and the budget allows (`stopped` always goes).
    fn announce_one(&mut self, now: Time, ih: InfoHash, out: &mut Vec<Action>) -> Announced {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return Announced::Nothing;
        };
        if t.announcer.is_empty() {
            return Announced::Nothing;
        }
        let wanted = wants_announcing(self.announcing_stopped, t);
        if wanted && !t.announcer.is_active() {
            t.announcer.start(now, t.is_finished());
        } else if !wanted && t.announcer.is_active() {
            t.announcer.stopping(now);
        }
        let stopping = !wanted;
        let names = (ih, self.names.alias_of(ih));
        let mut sent = Announced::Nothing;
        // One announce per lane that is due (a lane per tier or per tracker
        // announces beside the others), each within the budget.
        loop {
            if !stopping && self.announce_budget < 1.0 {
                return if t.announcer.is_due(now) {
                    Announced::HeldBack
                } else {
                    sent
                };
            }
            let Some(due) = t.announcer.due(now) else {
                return sent;
            };
            if !stopping {
                self.announce_budget -= 1.0;
            }
            emit(&self.cfg, &mut self.announces_in_flight, names, t, due, out);
            sent = Announced::Sent;
        }
    }

    /// The announce budget at `now`: what was left, refilled at the rate,
    /// with a burst of one second's worth at most.
    fn refilled_budget(&self, now: Time) -> f64 {
        let rate = self.announce_rate.max(1.0);
        let elapsed = now.since(self.announce_refilled).as_secs_f64();
        (self.announce_budget + elapsed * rate).min(rate)
    }

    /// The rate the announce budget refills at: the configured one, or, where
    /// this core's torrents have more lanes (trackers announced to at once)
    /// than that can announce to every [`STEADY_SECS`], enough for that (a
    /// lane is announced to every 30 minutes or so, as trackers ask; twice
    /// that pace leaves room for retries and shorter intervals). Counted
    /// every 30 s (a pass over the torrents, reading one number each).
    pub(super) fn steady_rate(&self) -> f64 {
        let lanes: usize = self
            .torrents
            .values()
            .map(|t| t.announcer.lane_count())
            .sum();
        #[allow(clippy::cast_precision_loss)] // a count of lanes, far below 2^52
        let needed = lanes as f64 / STEADY_SECS;
        f64::from(self.cfg.announces_per_sec).max(needed)
    }

    /// Whether `t` has an announce to start, stop or make now (what
    /// [`Core::announce_due`] looks at), and which.
    pub(super) fn needs_announce(&self, t: &Torrent, now: Time) -> Option<Need> {
        if t.announcer.is_empty() {
            None
        } else if wants_announcing(self.announcing_stopped, t) != t.announcer.is_active() {
            Some(Need::Transition)
        } else if t.announcer.is_due(now) {
            Some(Need::Due)
        } else {
            None
        }
    }

    /// How many due announces the budget could start at `now`, one more so a
    /// fraction is not lost.
    pub(super) fn announce_room(&self, now: Time) -> usize {
        // The budget is at most the rate (a u32): the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let room = self.refilled_budget(now).max(0.0) as usize;
        room + 1
    }

    /// A torrent leaves: its trackers are told `stopped` at once, whatever the
    /// budget (the reply, if any, finds no torrent and is dropped).
    pub(super) fn announce_stopped(
        &mut self,
        now: Time,
        ih: InfoHash,
        t: &mut Torrent,
        out: &mut Vec<Action>,
    ) {
        t.announcer.stopping(now);
        let names = (ih, self.names.alias_of(ih));
        while let Some(due) = t.announcer.due(now) {
            emit(&self.cfg, &mut self.announces_in_flight, names, t, due, out);
        }
    }

    /// Every torrent stops announcing and tells its trackers `stopped` now (the
    /// engine's shutdown); torrents keep running otherwise. This core announces
    /// nothing more.
    pub fn stop_announcing(&mut self, now: Time, out: &mut Vec<Action>) {
        self.announcing_stopped = true;
        self.attention.note_all();
        let ihs: Vec<InfoHash> = self.torrents.keys().copied().collect();
        for ih in ihs {
            if let Some(mut t) = self.torrents.remove(&ih) {
                self.announce_stopped(now, ih, &mut t, out);
                self.torrents.insert(ih, t);
            }
        }
    }

    /// Announces handed to the driver and not yet answered, and `stopped`
    /// announces still to be sent (after a `completed` in flight): what shutting
    /// down waits for.
    pub fn announces_in_flight(&self) -> usize {
        let unsent: usize = (self.torrents.values())
            .map(|t| t.announcer.stops_unsent())
            .sum();
        self.announces_in_flight.len() + unsent
    }

    pub(super) fn on_announce_reply(
        &mut self,
        now: Time,
        ih: InfoHash,
        id: u64,
        result: Result<AnnounceReply, TrackerError>,
        out: &mut Vec<Action>,
    ) {
        self.announces_in_flight.remove(&(ih, id));
        let name = ih;
        let ih = self.resolve_name(name);
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        if name != ih {
            // A hybrid's announce under its alias: its schedule and status
            // follow the announce under its id; this one only adds peers.
            match result {
                Ok(reply) => {
                    let peers = reply.peers.into_iter().map(|a| (a, 0));
                    t.learn_named(peers, super::PeerSource::Tracker, None, true);
                    self.dial_now(now, ih, out);
                }
                Err(e) => tracing::debug!(info_hash = %ih, alias = %name, error = %e,
                    "announce under the alias failed"),
            }
            return;
        }
        let Some(replied) = t.announcer.on_reply(now, id, result.as_ref()) else {
            return;
        };
        let (url, had_error) = (replied.url.as_str(), replied.had_error);
        match &result {
            Ok(r) => tracing::debug!(info_hash = %ih, url, peers = r.peers.len(), "announced"),
            // Said when a torrent's tracker starts failing, not at every
            // retry; and per tracker, not per torrent.
            Err(e) if !had_error => self.announce_failures.note(ih, url, &e.to_string()),
            Err(e) => tracing::debug!(info_hash = %ih, url, error = %e, "announce failed again"),
        }
        if let Ok(reply) = result {
            // A tracker is trusted as this machine is: one on loopback may
            // list loopback peers.
            let learned = t.learn(
                reply.peers.into_iter().map(|a| (a, 0)),
                super::PeerSource::Tracker,
                None,
            );
            if learned.refused > 0 {
                tracing::debug!(info_hash = %ih, url, refused = learned.refused,
                    why = learned.why.unwrap_or(""), "tracker peers not kept");
            }
        }
        // A `stopped` that waited for this `completed` goes at once, budget or not.
        if t.announcer.stop_pending() {
            let mut t = self.torrents.remove(&ih).expect("just seen");
            self.announce_stopped(now, ih, &mut t, out);
            self.torrents.insert(ih, t);
        }
        self.dial_now(now, ih, out);
    }
}

/// Hands announce `due` of torrent `ih` to the driver, counted in flight.
/// A hybrid's `alias` is announced beside it, to the same tracker with the
/// same id (its reply only adds peers; see `alias`).
fn emit(
    cfg: &super::CoreConfig,
    in_flight: &mut std::collections::BTreeSet<(InfoHash, u64)>,
    (ih, alias): (InfoHash, Option<InfoHash>),
    t: &Torrent,
    due: Due,
    out: &mut Vec<Action>,
) {
    for name in std::iter::once(ih).chain(alias) {
        in_flight.insert((name, due.id));
        out.push(Action::Announce(super::AnnounceTo {
            info_hash: name,
            id: due.id,
            request: announce_request(cfg, name, t, due.event),
            url: due.url.clone(),
        }));
    }
}

/// The announce of torrent `ih` now.
fn announce_request(
    cfg: &super::CoreConfig,
    ih: InfoHash,
    t: &Torrent,
    event: AnnounceEvent,
) -> Announce {
    let left = match &t.info {
        Some(info) => info.geometry.total_length() - t.have_bytes(),
        None => UNKNOWN_LEFT,
    };
    let id = cfg.peer_id;
    Announce {
        info_hash: ih,
        peer_id: id,
        port: cfg.listen_port,
        uploaded: t.uploaded,
        downloaded: t.downloaded,
        left,
        event,
        numwant: if event == AnnounceEvent::Stopped {
            0
        } else {
            cfg.numwant
        },
        // The same key for every announce of this engine (BEP 7's `key`).
        key: u32::from_be_bytes([id[16], id[17], id[18], id[19]]),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::core_having_with;
    use super::*;

    #[test]
    fn the_user_replaces_trackers_with_urls_that_can_be_announced_to() {
        let (mut core, ih, _) = core_having_with(true, super::super::CoreConfig::default());
        let now = Time::from_secs(1);
        let tiers = |urls: &[&str]| vec![urls.iter().map(|u| (*u).to_owned()).collect()];
        for bad in [
            "file:///etc/passwd",
            "wss://t/a",
            "http://t/a\nb",
            "ftp://t",
        ] {
            let e = core.set_trackers(now, ih, tiers(&[bad])).unwrap_err();
            assert!(e.to_string().contains("not a tracker URL"), "{bad}: {e}");
        }
        let long = format!("http://t/{}", "a".repeat(MAX_TRACKER_URL));
        assert!(core.set_trackers(now, ih, tiers(&[&long])).is_err());
        let many: Vec<Vec<String>> = (0..=MAX_TRACKERS)
            .map(|i| vec![format!("udp://t:{i}")])
            .collect();
        assert!(core.set_trackers(now, ih, many).is_err());
        assert_eq!(core.torrents[&ih].announcer.count(), 0, "nothing changed");
        core.set_trackers(now, ih, tiers(&["HTTPS://t/a", "udp://u:1"]))
            .unwrap();
        let t = &core.torrents[&ih];
        assert_eq!(t.announcer.count(), 2);
        assert!(t.save_now, "kept in its record");
    }
}
