//! Which torrents a tick looks at.
//!
//! A tick used to walk every torrent (at 100,000 idle seeding torrents, 500,000
//! visits a second per daemon: most of an idle daemon's CPU), then a tenth of
//! them (still most of it: 100,000 visits a second). Now each tick visits:
//! - the *active* torrents: those that may want a tick's work without time
//!   passing (a check or a move to drive, peers, addresses to dial, web seeds,
//!   a save or an announce transition owed, a peer exchange round, file stamps
//!   to take or drop). A torrent joins when something happens to it (a command
//!   naming it, an event for it, its add) and leaves at the first visit that
//!   finds it wanting nothing (`wants_walk`);
//! - the torrents whose next announce has fallen due, from the *wake heap*:
//!   every visit files the torrent's next announce time there (once: its
//!   `wake_at` says which entry is current), and a tick takes out of it, in
//!   time order, no more due torrents than the announce budget can start, so
//!   a restart of 100,000 torrents, all due at once, costs a tick the few it
//!   announces, not a pass over the rest;
//! - a slice of the *sweep*, which goes round every torrent once per
//!   [`SWEEP_TICKS`] ticks (about half a minute) in key order: a safety net
//!   for anything the hooks above missed (a torrent that wants work joins
//!   the active set when the sweep meets it).
//!
//! A change that may touch any torrent (a global setting, a root gone or
//! back) walks them all at the next tick. A core of few torrents has no other
//! way: the whole test suite runs this one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Bound::{Excluded, Unbounded};

use super::tracking::Need;
use super::*;

/// Ticks over which the sweep visits every torrent once (~30 s at 100 ms).
pub(super) const SWEEP_TICKS: usize = 300;

/// A wake heap's time: whole seconds from the core's zero, rounded up (an
/// announce is woken up to a second late, never early), in 4 bytes (the heap
/// and the torrents hold one each: 100,000 of them at scale).
pub(super) type WakeSecs = u32;

/// No wake entry.
pub(super) const NO_WAKE: WakeSecs = WakeSecs::MAX;

fn wake_secs(at: Time) -> WakeSecs {
    let secs = at.since(Time::ZERO).as_nanos().div_ceil(1_000_000_000);
    WakeSecs::try_from(secs).unwrap_or(NO_WAKE - 1)
}

fn wake_time(secs: WakeSecs) -> Time {
    Time::from_secs(u64::from(secs))
}

/// Entries of the wake heap a tick may take out that start nothing (their
/// torrent gone, announcing already, or due later than filed): what keeps a
/// tick's work bounded when many entries went stale at once.
const STALE_WAKES_PER_TICK: usize = 1024;

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
    /// Visited torrents whose wake entry changes: their next announce time
    /// (`NO_WAKE`: no announce will fall due by time alone).
    wake: Vec<(InfoHash, WakeSecs)>,
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
    /// Torrents by the time their next announce falls due (see the module).
    /// Bounded: a torrent's current entry is the one its `wake_at` names, and
    /// once stale entries make the heap more than twice the torrents it is
    /// rebuilt from the torrents' `wake_at`.
    wakes: BinaryHeap<Reverse<(WakeSecs, InfoHash)>>,
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
        let due_room = self.announce_room(now);
        self.wake_due(now, due_room);
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
            due_room,
            visits: 0,
            wake: Vec::new(),
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
        self.file_wakes(v.wake);
        v.walk.announce.sort_unstable();
        v.walk
    }

    /// Takes out of the wake heap the torrents whose announce is due at `now`,
    /// at most `room` of them (what the budget can start), into the active
    /// set; an entry that starts nothing is dropped or filed again at its
    /// torrent's real time.
    fn wake_due(&mut self, now: Time, room: usize) {
        let (mut due, mut stale) = (0, 0);
        let a = &mut self.attention;
        while due < room && stale < STALE_WAKES_PER_TICK {
            let Some(&Reverse((at, ih))) = a.wakes.peek() else {
                break;
            };
            if wake_time(at) > now {
                break;
            }
            a.wakes.pop();
            let Some(t) = self.torrents.get_mut(&ih).filter(|t| t.wake_at == at) else {
                stale += 1;
                continue;
            };
            t.wake_at = NO_WAKE;
            match t.announcer.next_due() {
                Some(next) if next <= now => {
                    due += 1;
                    a.active.insert(ih);
                }
                // Moved on without a visit: filed again at its time.
                Some(next) => {
                    stale += 1;
                    t.wake_at = wake_secs(next);
                    a.wakes.push(Reverse((t.wake_at, ih)));
                }
                None => stale += 1,
            }
        }
    }

    /// Files the wake entries a walk found changed.
    fn file_wakes(&mut self, wake: Vec<(InfoHash, WakeSecs)>) {
        let a = &mut self.attention;
        for (ih, at) in wake {
            let Some(t) = self.torrents.get_mut(&ih) else {
                continue;
            };
            t.wake_at = at;
            if at != NO_WAKE {
                a.wakes.push(Reverse((at, ih)));
            }
        }
        if a.wakes.len() > 2 * self.torrents.len() + STALE_WAKES_PER_TICK {
            a.wakes = self
                .torrents
                .iter()
                .filter(|(_, t)| t.wake_at != NO_WAKE)
                .map(|(ih, t)| Reverse((t.wake_at, *ih)))
                .collect();
        }
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
        // A transition's announce comes first; its next time is filed when
        // the torrent is visited after it.
        let next = if transition {
            t.wake_at
        } else {
            t.announcer.next_due().map_or(NO_WAKE, wake_secs)
        };
        if next != t.wake_at {
            v.wake.push((ih, next));
        }
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
            | Command::SetSomeFilePriorities { info_hash, .. }
            | Command::SetSequential { info_hash, .. }
            | Command::SetLabels { info_hash, .. }
            | Command::SetShareLimits { info_hash, .. }
            | Command::SetQueued { info_hash, .. }
            | Command::SetQueuePos { info_hash, .. }
            | Command::SetForced { info_hash, .. }
            | Command::SetFirstLast { info_hash, .. }
            | Command::SetManual { info_hash, .. }
            | Command::SetFinishIn { info_hash, .. }
            | Command::SetSuperSeeding { info_hash, .. }
            | Command::SetDisplayName { info_hash, .. }
            | Command::SetCategory { info_hash, .. }
            | Command::AddPeers { info_hash, .. }
            | Command::MoveStorage { info_hash, .. }
            | Command::RenameFiles { info_hash, .. }
            | Command::SetUrgent { info_hash, .. }
            | Command::AddTrackers { info_hash, .. }
            | Command::SetTrackers { info_hash, .. } => *info_hash,
            Command::Pause(ih)
            | Command::Resume(ih)
            | Command::Recheck(ih)
            | Command::Reannounce(ih) => *ih,
            Command::SetGlobalLimits { .. }
            | Command::SetGlobalShare(_)
            | Command::SetSlowRates(..)
            | Command::SetTunables(_)
            | Command::SaveAll
            | Command::SetIpFilter(_)
            | Command::ShutDown => {
                self.attention.note_all();
                return;
            }
            // Each added torrent notes itself.
            Command::Add(_)
            | Command::TakeRemoved
            | Command::TakeRelocated
            | Command::StatsSince(_)
            | Command::AnnouncesInFlight
            | Command::Torrents
            | Command::Resolve(_)
            | Command::DhtTorrents
            | Command::Info(_)
            | Command::Have(_)
            | Command::PieceStates(_)
            | Command::FilePriorities(_)
            | Command::Stats(_)
            | Command::AllStats
            | Command::StatsFrom { .. }
            | Command::QueueEntries
            | Command::Trackers(_)
            | Command::Counters
            | Command::PeerStats(_)
            | Command::Connections
            | Command::SessionBytes
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
