//! Checks take turns: at most [`CoreConfig::checks_at_once`] torrents of a
//! core read their files for a check at a time (one by default), the others
//! wait in the order they asked, shown as checking. Hundreds of torrents
//! added at once (an import, a tool adding a batch) would otherwise read
//! their files all at once: a spinning disk seeks between them for the
//! whole time, and every torrent finishes its check at the end instead of
//! one after another, each seeding as soon as its own is done (libtorrent,
//! Transmission and rTorrent also check one torrent at a time).
//!
//! A turn is held while the torrent's check can run; one paused, moving,
//! whose root went away or whose check ended gives it back: the running
//! list is tidied before a newcomer is refused, and the tick hands free
//! turns to the waiting (so a turn given back by a pause or a removal goes
//! within a tick).
//!
//! Bounds: `running` holds at most `checks_at_once` torrents; `waiting` at
//! most one entry per torrent of the core with a check (a torrent is queued
//! once, `Check::queued`; one removed or no longer checking is skipped
//! when its entry comes up).

use std::collections::VecDeque;

use super::torrent::Torrent;
use super::*;

/// Whose checks read now, and who waits.
#[derive(Debug, Default)]
pub(super) struct Turns {
    running: Vec<InfoHash>,
    waiting: VecDeque<InfoHash>,
    /// Handing out turns: a check that ends meanwhile does not start another
    /// round (the loop goes on).
    handing: bool,
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
    /// Whether torrent `ih`'s check may read now: it has a turn, or takes a
    /// free one no one waits for (or is handed it); else it waits in line
    /// (once). A newcomer never takes a turn before the line: one given back
    /// by a pause stays free until the next tick, and the one arriving then
    /// waits behind those who asked first (the caller hands the turn on).
    pub(super) fn check_turn(&mut self, ih: InfoHash) -> bool {
        let turns = &mut self.turns;
        if turns.running.contains(&ih) {
            return true;
        }
        let torrents = &self.torrents;
        turns
            .running
            .retain(|r| torrents.get(r).is_some_and(|t| t.check_runs()));
        let free = turns.running.len() < self.cfg.checks_at_once.max(1);
        if free && (turns.handing || turns.waiting.is_empty()) {
            turns.running.push(ih);
            if let Some(c) = self.torrents.get_mut(&ih).and_then(|t| t.checking.as_mut()) {
                c.queued = false;
            }
            return true;
        }
        if let Some(c) = self.torrents.get_mut(&ih).and_then(|t| t.checking.as_mut())
            && !c.queued
        {
            c.queued = true;
            turns.waiting.push_back(ih);
        }
        false
    }

    /// Hands free turns to the waiting, in the order they came (after a
    /// check ends, and at each tick).
    pub(super) fn next_checks(&mut self, out: &mut Vec<Action>) {
        if self.turns.handing || self.turns.waiting.is_empty() {
            return;
        }
        self.turns.handing = true;
        let torrents = &self.torrents;
        self.turns
            .running
            .retain(|r| torrents.get(r).is_some_and(|t| t.check_runs()));
        while self.turns.running.len() < self.cfg.checks_at_once.max(1) {
            let Some(ih) = self.turns.waiting.pop_front() else {
                break;
            };
            let Some(check) = self.torrents.get_mut(&ih).and_then(|t| t.checking.as_mut()) else {
                continue; // removed, or its check ended another way
            };
            if !std::mem::take(&mut check.queued) {
                continue; // already had its turn
            }
            self.drive_checking(ih, out);
        }
        self.turns.handing = false;
    }
}
