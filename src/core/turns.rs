//! Checks take turns: at most `checks_at_once` torrents read their files for
//! a check at a time (one by default), the others wait in the order they
//! asked, shown as checking. Hundreds of torrents added at once (an import,
//! a tool adding a batch) would otherwise read their files all at once: a
//! spinning disk seeks between them for the whole time, and every torrent
//! finishes its check at the end instead of one after another, each seeding
//! as soon as its own is done (libtorrent, Transmission and rTorrent also
//! check one torrent at a time).
//!
//! The turns are the engine's, not each core's: the cores of one engine share
//! one [`CheckTurns`] (a count and a line of tickets under a lock, touched
//! only when a check asks, starts or ends, and at a tick while checks wait).
//! A ticket is taken when a check first asks, so the line is in the order
//! checks asked across every core; a turn goes to the oldest tickets only.
//! Each core keeps its own tickets in order and tries its head's at every
//! tick, so a turn freed on one core is taken by the next in line on another
//! within a tick. A core alone (the sim, a test) has a line of its own.
//!
//! A turn is held while the torrent's check can run; one paused, moving,
//! whose root went away or whose check ended gives it back: the running list
//! is tidied whenever turns are handed out, at every tick at the latest. A
//! ticket whose check is held or gone leaves the line when it comes to its
//! core's head (a held one asks again when it can run).
//!
//! Bounds: a core's `running` holds at most the limit; its `waiting` at most
//! one entry per torrent with a check (`Check::queued` names its ticket; an
//! entry whose torrent took its turn, went or stopped checking is dropped
//! when it comes up, and one left by a replaced check when the new check
//! asks). The shared line holds at most the tickets of every core's
//! `waiting`.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::torrent::Torrent;
use super::*;

/// The turns to read for checks, shared by the cores of one engine (a
/// clone is the same turns).
#[derive(Debug, Clone)]
pub struct CheckTurns(Arc<Mutex<Line>>);

#[derive(Debug)]
struct Line {
    /// Checks that may read at once.
    limit: usize,
    /// Turns taken.
    running: usize,
    /// Tickets of the checks waiting, oldest first.
    waiting: BTreeSet<u64>,
    /// The next ticket.
    next: u64,
}

/// What the shared turns hold now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnsNow {
    /// Checks that may read at once.
    pub limit: usize,
    /// Turns taken.
    pub running: usize,
    /// Checks waiting for one.
    pub waiting: usize,
}

impl CheckTurns {
    /// Turns for `limit` checks at once (at least one).
    pub fn new(limit: usize) -> CheckTurns {
        CheckTurns(Arc::new(Mutex::new(Line {
            limit: limit.max(1),
            running: 0,
            waiting: BTreeSet::new(),
            next: 0,
        })))
    }

    fn line(&self) -> MutexGuard<'_, Line> {
        // Plain numbers that every method leaves consistent.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks that may read at once from now on (at least one). Turns already
    /// taken past a lower limit are kept until they are given back.
    pub fn set_limit(&self, limit: usize) {
        self.line().limit = limit.max(1);
    }

    /// The limit, the turns taken and the checks waiting.
    pub fn now(&self) -> TurnsNow {
        let l = self.line();
        TurnsNow {
            limit: l.limit,
            running: l.running,
            waiting: l.waiting.len(),
        }
    }

    /// A place in line, behind every check that asked before.
    fn ask(&self) -> u64 {
        let mut l = self.line();
        let t = l.next;
        l.next += 1;
        l.waiting.insert(t);
        t
    }

    /// Whether `ticket` takes a turn now: one is free for it, counting the
    /// older tickets first.
    fn take(&self, ticket: u64) -> bool {
        let mut l = self.line();
        let free = l.limit.saturating_sub(l.running);
        let ahead = l.waiting.range(..ticket).take(free).count();
        if ahead >= free || !l.waiting.remove(&ticket) {
            return false;
        }
        l.running += 1;
        true
    }

    /// Turns given back.
    fn give_back(&self, n: usize) {
        let mut l = self.line();
        l.running = l.running.saturating_sub(n);
    }

    /// Tickets that leave the line (a no-op for one that took its turn).
    fn withdraw(&self, tickets: impl IntoIterator<Item = u64>) {
        let mut l = self.line();
        for t in tickets {
            l.waiting.remove(&t);
        }
    }
}

/// A core's checks: whose read now, and its tickets in line.
#[derive(Debug)]
pub(super) struct Turns {
    shared: CheckTurns,
    running: Vec<InfoHash>,
    pub(super) waiting: VecDeque<(InfoHash, u64)>,
    /// Handing out turns: a check that ends meanwhile does not start another
    /// round (the loop goes on).
    handing: bool,
}

impl Turns {
    /// A core's own turns, `limit` at once.
    pub(super) fn alone(limit: usize) -> Turns {
        Turns {
            shared: CheckTurns::new(limit),
            running: Vec::new(),
            waiting: VecDeque::new(),
            handing: false,
        }
    }
}

impl Torrent {
    /// Its check can read now (one exists, is unfinished, and nothing holds
    /// it: a pause without `while_paused`, a lost root, a move, storage not
    /// yet prepared).
    pub(super) fn check_runs(&self) -> bool {
        let held = self.paused && !self.checking_while_paused();
        self.checking.as_ref().is_some_and(|c| !c.done())
            && !held
            && !self.root_lost
            && self.moving.is_none()
            && self.storage_ready
    }
}

impl Core {
    /// Takes its turns from `turns` (the engine's, shared with its other
    /// cores) instead of its own; call before any check starts.
    pub fn share_check_turns(&mut self, turns: CheckTurns) {
        self.turns.shared.give_back(self.turns.running.len());
        self.turns
            .shared
            .withdraw(self.turns.waiting.iter().map(|&(_, t)| t));
        self.turns = Turns {
            shared: turns,
            ..Turns::alone(1)
        };
    }

    /// Gives back every turn and ticket of this core (its shard failed: the
    /// other cores' checks go on).
    pub fn give_up_check_turns(&mut self) {
        let t = &mut self.turns;
        t.shared.give_back(std::mem::take(&mut t.running).len());
        t.shared
            .withdraw(std::mem::take(&mut t.waiting).into_iter().map(|(_, t)| t));
    }

    /// A new limit for the turns this core takes from (shared: for every
    /// core of its engine).
    pub(super) fn turns_limit(&mut self, limit: usize) {
        self.turns.shared.set_limit(limit);
    }

    /// The turns this core takes from.
    pub fn check_turns(&self) -> &CheckTurns {
        &self.turns.shared
    }

    /// Its torrents whose checks hold a turn and read.
    pub(super) fn checks_reading(&self) -> usize {
        let torrents = &self.torrents;
        (self.turns.running.iter())
            .filter(|r| torrents.get(r).is_some_and(|t| t.check_runs()))
            .count()
    }

    /// Its torrents whose checks wait in line.
    pub(super) fn checks_waiting(&self) -> usize {
        let torrents = &self.torrents;
        (self.turns.waiting.iter())
            .filter(|(ih, ticket)| {
                torrents.get(ih).is_some_and(|t| {
                    t.check_runs()
                        && t.checking
                            .as_ref()
                            .is_some_and(|c| c.queued == Some(*ticket))
                })
            })
            .count()
    }

    /// Turns of checks that no longer read go back.
    fn tidy_turns(&mut self) {
        let torrents = &self.torrents;
        let before = self.turns.running.len();
        self.turns
            .running
            .retain(|r| torrents.get(r).is_some_and(|t| t.check_runs()));
        self.turns
            .shared
            .give_back(before - self.turns.running.len());
    }

    /// Whether torrent `ih`'s check may read now: it has a turn, or takes one
    /// free for its ticket (taken now if it has none: behind every check that
    /// asked before, on any core); else it waits in line.
    pub(super) fn check_turn(&mut self, ih: InfoHash) -> bool {
        if self.turns.running.contains(&ih) {
            return true;
        }
        self.tidy_turns();
        let turns = &mut self.turns;
        let Some(check) = self.torrents.get_mut(&ih).and_then(|t| t.checking.as_mut()) else {
            return false;
        };
        let ticket = *check.queued.get_or_insert_with(|| {
            // One entry a torrent: one left by a check this one replaced (a
            // recheck while it waited) goes.
            let mut old = Vec::new();
            turns.waiting.retain(|&(i, t)| {
                let mine = i == ih;
                if mine {
                    old.push(t);
                }
                !mine
            });
            turns.shared.withdraw(old);
            let t = turns.shared.ask();
            turns.waiting.push_back((ih, t));
            t
        });
        if !turns.shared.take(ticket) {
            return false;
        }
        // Its entry in `waiting` is stale now, dropped when it comes up.
        check.queued = None;
        turns.running.push(ih);
        true
    }

    /// Hands turns to this core's waiting checks, in the order they asked,
    /// while the shared line has one for the next (after a check ends, and
    /// at each tick); turns of checks that stopped reading go back first.
    pub(super) fn next_checks(&mut self, out: &mut Vec<Action>) {
        if self.turns.handing {
            return;
        }
        self.turns.handing = true;
        loop {
            self.tidy_turns();
            let Some(&(ih, ticket)) = self.turns.waiting.front() else {
                break;
            };
            let Some(t) = self.torrents.get_mut(&ih) else {
                self.turns.shared.withdraw([ticket]); // removed
                self.turns.waiting.pop_front();
                continue;
            };
            let runs = t.check_runs();
            let Some(check) = t.checking.as_mut().filter(|c| c.queued == Some(ticket)) else {
                self.turns.shared.withdraw([ticket]); // took its turn, or its check ended
                self.turns.waiting.pop_front();
                continue;
            };
            if !runs {
                // Held: it asks again, at the back, when it can run.
                check.queued = None;
                self.turns.shared.withdraw([ticket]);
                self.turns.waiting.pop_front();
                continue;
            }
            if !self.turns.shared.take(ticket) {
                break;
            }
            check.queued = None;
            self.turns.waiting.pop_front();
            self.turns.running.push(ih);
            self.drive_checking(ih, out);
        }
        self.turns.handing = false;
    }
}
