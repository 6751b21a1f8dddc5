//! What makes a torrent outlive its process, and its storage movable: resume saves
//! under the durability rule, restore, storage roots that vanish and return, and
//! moving a torrent's data to another root.
//!
//! The durability rule: a piece's bit is recorded only in a save asked for after
//! its write completed ([`Event::PieceWritten`]); the save names every file written
//! since the previous one, and the driver `fdatasync`s them before committing. So a
//! record never claims a piece whose bytes could still be lost.

use std::sync::Arc;

use super::clock::StateClock;
use super::event::{Action, DiskError, ResumeSave};
use super::torrent::{StampsDue, Torrent};
use super::{CommandError, Core, Resume};
use crate::core::record::{PeerRecord, StateRecord};
use crate::types::{InfoHash, Time};

/// Peers kept in a torrent's resume record, most recent first.
const SAVED_PEERS: usize = 50;

/// Seconds seeded beyond the stored figure after which a periodic save writes
/// the torrent's clock record (at exit, any difference is written).
const CLOCK_SAVE_SECS: u64 = 3600;

impl Torrent {
    /// Whether connections may be made or accepted for it now.
    pub(crate) fn takes_peers(&self) -> bool {
        !self.stopped()
            && self.error.is_none()
            && self.checking.is_none()
            && self.moving.is_none()
            && !self.comparing()
    }

    /// Carries on from what it did in another client (an import): totals,
    /// seeding time and add time from there; this run's numbers count from
    /// here.
    pub(crate) fn apply_history(&mut self, h: super::History) {
        self.downloaded = h.downloaded;
        self.uploaded = h.uploaded;
        self.session_from = (h.downloaded, h.uploaded);
        if let Some(at) = h.added_at {
            self.added_at = at;
        }
        self.seed_clock = StateClock::from_secs(h.seeding_secs, false);
        let running = h.running_secs.max(h.seeding_secs);
        self.run_clock = StateClock::from_secs(running, false);
        self.done_elsewhere = h.completed_at;
        self.dirty = true;
    }

    /// Installs what a resume record said (the bitfield came with `have`).
    pub(crate) fn apply_resume(&mut self, r: Resume) -> Result<(), CommandError> {
        self.downloaded = r.downloaded;
        self.uploaded = r.uploaded;
        self.saved_counters = (r.downloaded, r.uploaded);
        self.session_from = (r.downloaded, r.uploaded);
        self.added_at = r.added_at;
        self.completed_at = r.completed_at;
        self.seed_clock = StateClock::from_secs(r.seeding_secs, true);
        // Never less than it seeded (it ran all that time): a record from
        // before the running clock was kept says none.
        let running = r.running_secs.max(r.seeding_secs);
        self.run_clock = StateClock::from_secs(running, true);
        self.active_before = r.active_at;
        self.seen_complete = r
            .seen_complete
            .map_or(0, |s| u32::try_from(s).unwrap_or(u32::MAX));
        if let Some(info) = &self.info
            && r.file_priorities.len() == info.files.len()
        {
            // The record's own list, kept (not copied).
            let mut priorities = r.file_priorities;
            for p in &mut priorities {
                *p = (*p).min(super::MAX_PRIORITY);
            }
            self.file_priority = priorities;
            self.recompute_piece_priority();
        }
        self.learn(
            r.peers.into_iter().map(|a| (a, 0)),
            super::PeerSource::Resume,
            None,
        );
        if !self.is_finished() {
            // Completed before and being checked again (a check a restart cut
            // short, an import's): a check that finds it whole keeps that time
            // and is no new finish.
            let done = self.completed_at.take();
            self.done_elsewhere = done.filter(|_| self.checking.is_some());
        }
        if r.root_missing {
            // Nothing to compare with: trusted until the root returns, when a
            // sample is checked.
            self.lose_root();
        } else if let Some(digest) = r.stamps_digest
            && self.info.is_some()
            && self.checking.is_none()
        {
            self.stamps_due = StampsDue::Digest(digest);
        }
        self.note = r.note;
        // Restored as saved: nothing new to save until something changes.
        self.dirty = false;
        self.save_now = false;
        Ok(())
    }

    pub(super) fn lose_root(&mut self) {
        self.root_lost = true;
        self.error = Some(format!(
            "storage root {} is unavailable (unmounted or removed); waiting for it to return",
            self.root
        ));
    }

    /// When it last sent or received payload, unix seconds (`unix_at_zero`:
    /// the core's clock's zero), this run or before.
    pub(crate) fn active_at(&self, unix_at_zero: u64) -> Option<u64> {
        let unix = |t: Option<Time>| t.map(|t| unix_at(unix_at_zero, t));
        [
            unix(self.served_at),
            unix(self.received_at),
            self.active_before,
        ]
        .into_iter()
        .flatten()
        .max()
    }

    /// What a save records now (`unix_at_zero`: the core's clock's zero).
    pub(super) fn resume_record(&self, unix_at_zero: u64) -> StateRecord {
        StateRecord {
            have: self.have.clone(),
            downloaded: self.downloaded,
            uploaded: self.uploaded,
            added_at: self.added_at,
            // Before its check at add, an import's completion elsewhere.
            completed_at: self.completed_at.or(self.done_elsewhere),
            root: self.root_token.to_string(),
            paused: self.paused || (self.moving.is_some() && self.paused_before_move),
            sequential: self.sequential,
            file_priorities: self.file_priority.clone(),
            download_limit: self.down_limit.rate(),
            upload_limit: self.up_limit.rate(),
            // Stamped by the save (`storage::save_resume`).
            files: Vec::new(),
            name: self.name.to_string(),
            trackers: self.announcer.tiers().to_vec(),
            web_seeds: self.web_seeds.iter().map(|w| w.url.clone()).collect(),
            labels: self.labels.clone(),
            category: self.category.clone(),
            share: self.share,
            share_action: self.share_action,
            seeding_secs: self.seed_clock.banked(),
            running_secs: self.run_clock.banked(),
            seen_complete: (self.seen_complete > 0).then_some(u64::from(self.seen_complete)),
            active_at: self.active_at(unix_at_zero),
            queue_pos: self.queue_pos,
            forced: self.forced,
            display_name: self.display_name.clone(),
            first_last: self.first_last,
            manual: self.manual,
            super_seeding: self.super_seeding,
            content_layout: self.content_layout,
            renames: self.renames.clone(),
            finish_in: self.finish_in.as_ref().map(|f| f.token.clone()),
            checking: self.checking.is_some(),
        }
    }

    /// Something to save: a change flagged, or counters moved since the last save.
    fn changed_since_save(&self) -> bool {
        self.dirty || (self.downloaded, self.uploaded) != self.saved_counters
    }

    /// Anything its whole record would say differently now, but the seeding
    /// clock: what a save at exit writes the record for.
    fn record_stale(&self) -> bool {
        self.save_now || self.changed_since_save() || self.peers_changed || !self.touched.is_empty()
    }

    fn saved_peers(&self) -> Vec<PeerRecord> {
        let mut v: Vec<PeerRecord> = self
            .good_peers
            .iter()
            .map(|(&addr, &last_seen)| PeerRecord { addr, last_seen })
            .collect();
        v.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.addr.cmp(&b.addr)));
        v.truncate(SAVED_PEERS);
        v
    }
}

/// Unix seconds at core time `t`, the core's clock's zero being
/// `unix_at_zero`.
pub(super) fn unix_at(unix_at_zero: u64, t: Time) -> u64 {
    unix_at_zero + t.since(Time::ZERO).as_secs()
}

impl Core {
    /// Unix seconds at `now`.
    pub(crate) fn unix(&self, now: Time) -> u64 {
        unix_at(self.cfg.unix_at_zero, now)
    }

    /// Asks the driver for a resume save when one is due: every `save_interval`
    /// for torrents that changed, at once for those that must not wait (completed,
    /// paused, added, checked). One save in flight at a time.
    /// Saves what changed when the interval is due, or at once when `urgent` (some
    /// torrent's `save_now`, found by the tick's walk).
    pub(crate) fn maybe_save(&mut self, now: Time, urgent: bool, out: &mut Vec<Action>) {
        if self.saves_in_flight > 0 {
            return;
        }
        let interval_due = now.since(self.last_save) >= self.cfg.save_interval;
        if !urgent && !interval_due {
            return;
        }
        let mut due = Vec::new();
        let mut clocks = Vec::new();
        for (ih, t) in &self.torrents {
            if t.save_now || (interval_due && t.changed_since_save()) {
                due.push(*ih);
            } else if interval_due && t.clocks_unsaved() >= CLOCK_SAVE_SECS {
                clocks.push(*ih);
            }
        }
        if interval_due {
            self.last_save = now;
        }
        self.save(&due, &clocks, out);
    }

    /// Saves the torrents that changed since their last save, now, whatever is
    /// in flight (the rounds of a flush after the first).
    pub fn save_changed(&mut self, out: &mut Vec<Action>) {
        let due: Vec<InfoHash> = self
            .torrents
            .iter()
            .filter(|(_, t)| t.save_now || t.changed_since_save())
            .map(|(ih, _)| *ih)
            .collect();
        self.save(&due, &[], out);
    }

    /// Verified pieces handed to the driver to write and not yet written.
    pub fn writes_in_flight(&self) -> usize {
        self.torrents.values().map(|t| t.writing.len()).sum()
    }

    /// Saves everything not yet saved now (shutdown, a flush), whatever is in
    /// flight: each seeding clock banked up to `now`; the whole record of a
    /// torrent with any other change, the clock record alone of one whose
    /// seeding clock is all that moved, nothing for the rest (their records
    /// stand as written, file stamps included: 100,000 idle torrents stop in
    /// one small transaction, not 100,000 records stamped again).
    pub fn save_all(&mut self, now: Time, out: &mut Vec<Action>) {
        let mut due = Vec::new();
        let mut clocks = Vec::new();
        for (ih, t) in &mut self.torrents {
            if t.seed_clock.is_on() || t.run_clock.is_on() {
                t.run_clocks(now);
            }
            if t.record_stale() {
                due.push(*ih);
            } else if t.clocks_unsaved() > 0 {
                clocks.push(*ih);
            }
        }
        self.save(&due, &clocks, out);
    }

    /// Asks the driver to save the whole records of `ihs` and the clock
    /// records of `clock_only`.
    fn save(&mut self, ihs: &[InfoHash], clock_only: &[InfoHash], out: &mut Vec<Action>) {
        if ihs.is_empty() && clock_only.is_empty() {
            return;
        }
        let zero = self.cfg.unix_at_zero;
        let mut torrents = Vec::with_capacity(ihs.len());
        let mut batch = Vec::with_capacity(ihs.len() + clock_only.len());
        let mut clocks = Vec::with_capacity(clock_only.len());
        for ih in clock_only {
            let Some(t) = self.torrents.get_mut(ih) else {
                continue;
            };
            clocks.push((*ih, t.clocks_saved()));
            batch.push((*ih, Vec::new()));
        }
        for ih in ihs {
            let Some(t) = self.torrents.get_mut(ih) else {
                continue;
            };
            // Mid-move, the root is in flux: the save after the move records it.
            if t.move_started {
                continue;
            }
            let sync_files: Vec<usize> = std::mem::take(&mut t.touched).into_iter().collect();
            t.dirty = false;
            t.save_now = false;
            t.peers_changed = false;
            t.saved_counters = (t.downloaded, t.uploaded);
            t.clocks_saved();
            batch.push((*ih, sync_files.clone()));
            torrents.push(ResumeSave {
                info_hash: *ih,
                info: t.info.clone(),
                root: t.root.to_string(),
                sync_files,
                record: t.resume_record(zero),
                keep_stamps: t.comparing(),
                peers: t.saved_peers(),
            });
        }
        if batch.is_empty() {
            return;
        }
        let id = self.next_save_id;
        self.next_save_id += 1;
        self.saves_in_flight += 1;
        self.save_batches.insert(id, batch);
        out.push(Action::SaveResume {
            id,
            torrents,
            clocks,
        });
    }

    pub(crate) fn on_resume_saved(&mut self, id: u64, result: Result<(), DiskError>) {
        self.saves_in_flight = self.saves_in_flight.saturating_sub(1);
        let Some(batch) = self.save_batches.remove(&id) else {
            return;
        };
        let Err(e) = result else {
            return;
        };
        // Nothing of it was committed: the files must be synced, and the
        // whole record written, by the next one.
        for (ih, files) in batch {
            if let Some(t) = self.torrents.get_mut(&ih) {
                t.touched.extend(files);
                t.dirty = true;
                t.note = Some(format!("saving resume data failed: {}", e.0));
            }
        }
    }

    /// The driver prepared a torrent's files, or could not: a torrent whose files
    /// cannot be made is stopped with the reason (resuming it tries again).
    pub(crate) fn on_storage_opened(
        &mut self,
        ih: InfoHash,
        result: Result<bool, DiskError>,
        out: &mut Vec<Action>,
    ) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        match result {
            Ok(had_data) => {
                t.storage_ready = true;
                if !had_data && t.checking.is_some() {
                    // Not one byte was there: no piece is, and nothing is read to
                    // find that out.
                    t.checking = None;
                    t.have = super::Bitfield::new(t.have.len());
                    t.completed_at = None;
                    t.dirty = true;
                    t.save_now = true;
                }
                self.drive_checking(ih, out);
                // Its `started` at the end of this call if nothing is left to
                // check (`announce_promptly`).
                self.announce_soon.push(ih);
            }
            // A vanished root is the root watcher's to report.
            Err(_) if t.root_lost => {}
            Err(e) => {
                tracing::error!(info_hash = %ih, error = %e, "cannot prepare the torrent's files");
                t.error = Some(format!("cannot prepare its files: {}", e.0));
            }
        }
    }

    /// Moves a torrent's data to another root (path, and its token). The torrent
    /// stops while its data moves and runs again after (unless it was paused).
    pub fn move_storage(
        &mut self,
        info_hash: InfoHash,
        to: String,
        to_token: String,
        to_marked: bool,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        // Its root, or whether root checks look at it, changes.
        self.root_book.forget();
        let t = self.torrent_mut(info_hash)?;
        if t.moving.is_some() {
            return Err(CommandError::BadArgument(
                "a move is already under way".into(),
            ));
        }
        if t.root_lost {
            return Err(CommandError::BadArgument(
                "its storage root is unavailable; it cannot be moved now".into(),
            ));
        }
        // A torrent in error does not read its hashes back, which a move's
        // copy is verified against.
        if let Some(e) = &t.error {
            return Err(CommandError::BadArgument(format!(
                "it is stopped by an error ({e}): resume or recheck it first"
            )));
        }
        // Put somewhere by hand: it stays there when it finishes (a refused
        // move changes nothing).
        t.finish_in = None;
        if *t.root == *to {
            t.root_token = to_token.into();
            t.root_marked = to_marked;
            t.save_now = true;
            return Ok(());
        }
        if t.info.is_none() {
            // Nothing on disk yet: the files are created where it now points.
            t.root = to.into();
            t.root_token = to_token.into();
            t.root_marked = to_marked;
            t.save_now = true;
            return Ok(());
        }
        self.stop_peers(info_hash, out)?;
        let t = self.torrent_mut(info_hash)?;
        // The move verifies what is had at the new place: no comparison of
        // the files with the record is left to make.
        t.stamps_due = StampsDue::No;
        t.paused_before_move = t.paused;
        t.moving = Some(Box::new((to, to_token, to_marked)));
        t.move_started = false;
        t.picker.drop_all();
        self.drive_move(info_hash, out);
        Ok(())
    }

    /// Hands a pending move to the driver once no write or check read is in flight.
    pub(crate) fn drive_move(&mut self, ih: InfoHash, out: &mut Vec<Action>) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        if t.moving.is_none() {
            return;
        }
        let check_reads = t.checking.as_ref().map_or(0, |c| c.pending);
        if t.move_started || !t.writing.is_empty() || check_reads > 0 {
            return;
        }
        // A copy is verified against the hashes: read back first if need be.
        // A rename within its root never copies (a rename that crosses a
        // mount point inside the root fails its verification instead, and
        // nothing moves), so it goes without them.
        let hashes = if t.renamed.is_some() {
            self.resident_hashes(ih).unwrap_or_default()
        } else {
            match self.need_hashes(ih, out) {
                Some(h) => h,
                None => return,
            }
        };
        let t = self.torrents.get_mut(&ih).expect("looked up above");
        let Some((to, _, to_marked)) = t.moving.as_deref() else {
            return;
        };
        t.move_started = true;
        let info = Arc::clone(t.info.as_ref().expect("moves need metadata"));
        out.push(Action::MoveStorage(super::MoveStorage {
            info_hash: ih,
            to_info: t.renamed.clone().unwrap_or_else(|| Arc::clone(&info)),
            info,
            have: t.have.clone(),
            hashes,
            from: t.root.to_string(),
            to: to.clone(),
            to_marked: *to_marked,
        }));
    }

    pub(crate) fn on_storage_moved(
        &mut self,
        ih: InfoHash,
        result: Result<(), DiskError>,
        out: &mut Vec<Action>,
    ) {
        self.root_book.forget();
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        let Some((to, token, marked)) = t.moving.take().map(|m| *m) else {
            return;
        };
        t.move_started = false;
        let from = t.root.clone();
        match result {
            Ok(()) => {
                t.root = to.as_str().into();
                t.root_token = token.into();
                t.root_marked = marked;
                t.note = None;
                if let Some(info) = t.renamed.take() {
                    t.note_renames(&info);
                    t.content_path = info.content_path_unless(&t.name).map(Into::into);
                    t.info = Some(info);
                }
                // Opening it again at the new place replaces the old storage.
                t.storage_ready = false;
                out.push(t.open_storage(ih, false, false));
            }
            Err(e) if t.renamed.take().is_some() => {
                t.note = Some(format!(
                    "renaming its files failed, they keep their names: {}",
                    e.0
                ));
            }
            Err(e) => {
                t.note = Some(format!(
                    "moving to {to} failed, data stays in {from}: {}",
                    e.0
                ));
            }
        }
        t.paused = t.paused_before_move;
        t.save_now = true;
        t.dirty = true;
        let finishing = std::mem::take(&mut t.finishing);
        if finishing {
            // The engine's books follow (past the bound, the torrent's root
            // is found again at the next start).
            if self.relocated_here.len() < super::share::MAX_REMOVED {
                self.relocated_here.push(ih);
            }
            // Where its files now are, moved or not (the note says why not).
            out.push(Action::Milestone {
                info_hash: ih,
                what: super::Milestone::Finished,
            });
        }
        self.drive_checking(ih, out);
    }

    /// A torrent has come to have every wanted piece where it had not: its
    /// files move to where they finish, if they downloaded elsewhere, and
    /// then (at the move's end) whoever listens is told.
    pub(crate) fn now_complete(&mut self, ih: InfoHash, out: &mut Vec<Action>) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        if let Some(to) = t.finish_in.take() {
            t.dirty = true;
            t.save_now = true;
            if *to.path != *t.root {
                let name = t.name.clone();
                let to = *to;
                match self.move_storage(ih, to.path.clone(), to.token, to.marked, out) {
                    Ok(()) => {
                        let t = self.torrents.get_mut(&ih).expect("looked up above");
                        if t.moving.is_some() {
                            t.finishing = true;
                            tracing::info!(info_hash = %ih, %name, to = %to.path, "finished: its files move to where they finish");
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(info_hash = %ih, %name, to = %to.path, error = %e, "finished, but its files cannot move to where they finish: they stay");
                        let t = self.torrents.get_mut(&ih).expect("looked up above");
                        t.note = Some(format!(
                            "finished, but its files could not move to {}: {e}",
                            to.path
                        ));
                    }
                }
            }
        }
        out.push(Action::Milestone {
            info_hash: ih,
            what: super::Milestone::Finished,
        });
    }
}
