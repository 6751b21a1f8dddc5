//! Which torrents a tick looks at.
//!
//! A tick used to walk every torrent (at 100,000 idle seeding torrents, 500,000
//! visits a second per daemon: most of an idle daemon's CPU). Now each tick
//! visits:
//! - the *active* torrents: those that may want a tick's work without time
//!   passing (a check or a move to drive, peers, addresses to dial, web seeds,
//!   a save or an announce transition owed, a peer exchange round, file stamps
//!   to take or drop). A torrent joins when something happens to it (a command
//!   naming it, an event for it, its add) and leaves at the first visit that
//!   finds it wanting nothing (`wants_walk`);
//! - a slice of the *sweep*, which goes round every torrent once per
//!   [`SWEEP_TICKS`] ticks (about a second) in key order: it finds what only
//!   time brings (an announce falling due) and anything the hooks above missed
//!   (a torrent that wants work joins the active set when the sweep meets it).
//!
//! A change that may touch any torrent (a global setting, a root gone or
//! back) walks them all at the next tick. A core of few torrents has no other
//! way: the whole test suite runs this one.

use std::ops::Bound::{Excluded, Unbounded};

use super::tracking::Need;
use super::*;

/// Ticks over which the sweep visits every torrent once (~1 s at 100 ms).
pub(super) const SWEEP_TICKS: usize = 10;

/// What one walk over the torrents found (see [`Core::walk`]).
#[derive(Default)]
pub(super) struct Walk {
    pub drive: Vec<InfoHash>,
    pub connect: Vec<InfoHash>,
    /// In key order.
    pub announce: Vec<InfoHash>,
    /// Peer exchange rounds due.
    pub pex: Vec<InfoHash>,
    /// Downloading torrents with web seeds.
    pub web: Vec<InfoHash>,
    /// Seeding torrents whose files are due a stamp, and torrents whose stamps
    /// are no longer watched.
    pub stat: Vec<InfoHash>,
    pub unstat: Vec<InfoHash>,
    pub save_now: bool,
}

/// A walk in progress.
struct Visit {
    walk: Walk,
    /// Visited torrents that want the next tick too, and those that do not.
    keep: Vec<InfoHash>,
    idle: Vec<InfoHash>,
    /// Regular announces the budget can still start this tick.
    due_room: usize,
    visits: usize,
}

/// The active set and the sweep's place.
#[derive(Debug, Default)]
pub(super) struct Attention {
    /// Torrents visited every tick while they want it: bounded by the torrents
    /// (an id that names none is dropped at its next visit).
    active: BTreeSet<InfoHash>,
    /// Walk every torrent at the next tick.
    everything: bool,
    /// The last torrent the sweep visited.
    sweep_from: Option<InfoHash>,
    /// Torrents visited by ticks since the core started.
    pub(super) visits: u64,
}

impl Attention {
    /// `ih` may want a tick's work: visited at the next tick.
    pub(super) fn note(&mut self, ih: InfoHash) {
        self.active.insert(ih);
    }

    /// Something that may touch any torrent changed: walk them all next tick.
    pub(super) fn note_all(&mut self) {
        self.everything = true;
    }
}

impl Core {
    /// One pass over this tick's torrents (see the module): the sweep's slice
    /// straight from the map, then the active torrents it did not cover. What
    /// it finds: the few that have a check or a move to drive, could use a
    /// connection or have an announce to make, and whether any wants saving.
    pub(super) fn walk(&mut self, now: Time) -> Walk {
        let n = self.torrents.len();
        let a = &mut self.attention;
        let (from, slice) = if std::mem::take(&mut a.everything) {
            (None, n)
        } else {
            (a.sweep_from, n.div_ceil(SWEEP_TICKS))
        };
        let mut v = Visit {
            walk: Walk::default(),
            keep: Vec::new(),
            idle: Vec::new(),
            due_room: self.announce_room(now),
            visits: 0,
        };
        // The slice: after `from` to the end, then round again from the first
        // torrent, never past `from`.
        let after = from.map_or(Unbounded, Excluded);
        let mut last = None;
        for (ih, t) in self.torrents.range((after, Unbounded)).take(slice) {
            self.visit(now, *ih, t, &mut v);
            last = Some(*ih);
        }
        let mut wrapped = None;
        if let Some(f) = from {
            let rest = slice - v.visits;
            for (ih, t) in self.torrents.range(..=f).take(rest) {
                self.visit(now, *ih, t, &mut v);
                wrapped = Some(*ih);
            }
        }
        let covered = |ih: &InfoHash| {
            from.is_none_or(|f| *ih > f) && last.is_some_and(|l| *ih <= l)
                || wrapped.is_some_and(|w| *ih <= w)
        };
        for ih in &self.attention.active {
            if covered(ih) {
                continue;
            }
            match self.torrents.get(ih) {
                Some(t) => self.visit(now, *ih, t, &mut v),
                None => v.idle.push(*ih),
            }
        }
        let a = &mut self.attention;
        a.sweep_from = wrapped.or(last).or(from);
        a.visits += v.visits as u64;
        // Judged before this tick's work on them: a torrent that wants more
        // after it is noted by that work or met again by the sweep.
        a.active.extend(v.keep);
        for ih in v.idle {
            a.active.remove(&ih);
        }
        v.walk.announce.sort_unstable();
        v.walk
    }

    /// One torrent's part of [`Core::walk`].
    fn visit(&self, now: Time, ih: InfoHash, t: &Torrent, v: &mut Visit) {
        v.visits += 1;
        let walk = &mut v.walk;
        if t.checking.is_some() || t.moving.is_some() {
            walk.drive.push(ih);
        }
        let connect = wants_connections(t, self.cfg.max_connections_per_torrent);
        if connect {
            walk.connect.push(ih);
        }
        if !t.web_seeds.is_empty() && t.info.is_some() && t.is_running() && !t.is_finished() {
            walk.web.push(ih);
        }
        if t.stamp_due(now) {
            walk.stat.push(ih);
        } else if t.stale_stamps() {
            walk.unstat.push(ih);
        }
        walk.save_now |= t.save_now;
        if t.pex.as_ref().is_some_and(|r| now >= r.next) {
            walk.pex.push(ih);
        }
        // Regular announces due beyond what the budget can start this tick
        // wait for the next (at a restart of 100,000 torrents, nearly all are).
        let need = self.needs_announce(t, now);
        match need {
            Some(Need::Transition) => walk.announce.push(ih),
            Some(Need::Due) if v.due_room > 0 => {
                v.due_room -= 1;
                walk.announce.push(ih);
            }
            _ => {}
        }
        let transition = matches!(need, Some(Need::Transition));
        if wants_walk(t, now, connect || transition) {
            v.keep.push(ih);
        } else {
            v.idle.push(ih);
        }
    }
}

/// Whether a torrent may want a tick's work without time passing (see the
/// module): what `walk` looks for, but for announces falling due. `owed`: it
/// could use a connection or owes an announce transition (what `visit` just
/// found, not asked again).
fn wants_walk(t: &Torrent, now: Time, owed: bool) -> bool {
    owed || t.checking.is_some()
        || t.moving.is_some()
        || t.save_now
        || !t.peers.is_empty()
        || !t.web_seeds.is_empty()
        || t.pex.is_some()
        || t.stale_stamps()
        || t.recently_served(now)
}

/// Addresses known and room for a peer: most of a large seedbox's torrents
/// have neither. A finished torrent still accepts leechers but does not seek
/// peers that might be seeds as well; it connects only while it has none.
pub(super) fn wants_connections(t: &Torrent, per_torrent: usize) -> bool {
    !t.addrs.is_empty()
        && t.peers.len() < per_torrent
        && t.takes_peers()
        && (t.peers.is_empty() || !t.is_finished())
}

impl Core {
    /// A command is about to run: the torrent it changes is visited at the
    /// next tick, or every torrent if it may change any; reads change nothing.
    pub(super) fn note_command(&mut self, cmd: &Command) {
        let ih = match cmd {
            Command::Remove { info_hash, .. }
            | Command::SetTorrentLimits { info_hash, .. }
            | Command::SetFilePriorities { info_hash, .. }
            | Command::SetSequential { info_hash, .. }
            | Command::SetLabels { info_hash, .. }
            | Command::SetShareLimits { info_hash, .. }
            | Command::SetQueued { info_hash, .. }
            | Command::SetQueuePos { info_hash, .. }
            | Command::SetForced { info_hash, .. }
            | Command::SetFirstLast { info_hash, .. }
            | Command::SetDisplayName { info_hash, .. }
            | Command::SetCategory { info_hash, .. }
            | Command::AddPeers { info_hash, .. }
            | Command::MoveStorage { info_hash, .. }
            | Command::SetUrgent { info_hash, .. }
            | Command::AddTrackers { info_hash, .. } => *info_hash,
            Command::Pause(ih)
            | Command::Resume(ih)
            | Command::Recheck(ih)
            | Command::Reannounce(ih) => *ih,
            Command::SetGlobalLimits { .. }
            | Command::SetGlobalShare(_)
            | Command::SetSlowRates(..)
            | Command::SetTunables(_)
            | Command::SaveAll
            | Command::ShutDown => {
                self.attention.note_all();
                return;
            }
            // Each added torrent notes itself.
            Command::Add(_)
            | Command::TakeRemoved
            | Command::StatsSince(_)
            | Command::AnnouncesInFlight
            | Command::Torrents
            | Command::DhtTorrents
            | Command::Info(_)
            | Command::Have(_)
            | Command::FilePriorities(_)
            | Command::Stats(_)
            | Command::AllStats
            | Command::StatsFrom { .. }
            | Command::QueueEntries
            | Command::Trackers(_)
            | Command::Counters
            | Command::PeerStats(_)
            | Command::Connections
            | Command::UnixNow => return,
            // Each torrent compared is noted by its answer (`FilesStated`).
            Command::RestoreDone => return,
            #[cfg(test)]
            Command::Panic => return,
        };
        // A hybrid's other name reaches it too.
        let ih = self.resolve_name(ih);
        self.attention.note(ih);
    }

    /// An event about to be handled: the torrent it names is visited at the
    /// next tick (peers' events need not: a torrent with peers stays active).
    pub(super) fn note_event(&mut self, ev: &Event<'_>) {
        match ev {
            Event::StorageOpened { info_hash, .. }
            | Event::AnnounceReply { info_hash, .. }
            | Event::FilesStated { info_hash, .. }
            | Event::StorageMoved { info_hash, .. }
            | Event::MetaLoaded { info_hash, .. }
            | Event::PiecesVerified { info_hash, .. }
            | Event::PieceWritten { info_hash, .. } => self.attention.note(*info_hash),
            // A root check notes what it changes (`on_roots_checked`).
            _ => {}
        }
    }
}
