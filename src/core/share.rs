//! Share limits: a seeding torrent that has given enough (a ratio), seeded long
//! enough, or sat without uploading long enough is paused or removed, as a
//! seedbox's tools expect (qBittorrent's "share limits").
//!
//! Each torrent has its own limits or follows the global ones ([`USE_GLOBAL`]);
//! [`NO_LIMIT`] turns one off. What reaching one does is the global action,
//! or the torrent's own (qBittorrent 5's per-torrent share limit action).
//! Seeding time counts while the torrent is complete and running, and is
//! saved in its record; the inactive time counts from its last uploaded byte
//! (or from when it began to seed). The check runs with the choker, every
//! `choke_interval`.

use super::*;

/// A limit that follows the global one.
pub const USE_GLOBAL: i64 = -2;
/// No limit.
pub const NO_LIMIT: i64 = -1;

/// Most torrents the core removed by itself (a share limit, a merged
/// duplicate) waiting for the engine to hear of them ([`Core::take_removed`]);
/// past it the oldest is dropped from the list (the engine then learns of it
/// only by its absence).
pub const MAX_REMOVED: usize = 4096;

/// One torrent's limits, or the global ones (where [`USE_GLOBAL`] means none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareLimits {
    /// Upload over download (or size), in thousandths.
    pub ratio_milli: i64,
    /// Minutes of seeding.
    pub seeding_mins: i64,
    /// Minutes of seeding without uploading.
    pub inactive_mins: i64,
}

impl Default for ShareLimits {
    fn default() -> Self {
        ShareLimits {
            ratio_milli: USE_GLOBAL,
            seeding_mins: USE_GLOBAL,
            inactive_mins: USE_GLOBAL,
        }
    }
}

impl ShareLimits {
    /// No limit at all (the global default).
    pub const NONE: ShareLimits = ShareLimits {
        ratio_milli: NO_LIMIT,
        seeding_mins: NO_LIMIT,
        inactive_mins: NO_LIMIT,
    };

    /// These limits with the global ones where they say [`USE_GLOBAL`].
    pub fn over(self, global: ShareLimits) -> ShareLimits {
        let pick = |own: i64, g: i64| if own == USE_GLOBAL { g } else { own };
        ShareLimits {
            ratio_milli: pick(self.ratio_milli, global.ratio_milli),
            seeding_mins: pick(self.seeding_mins, global.seeding_mins),
            inactive_mins: pick(self.inactive_mins, global.inactive_mins),
        }
    }
}

/// What happens when a limit is reached.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ShareAction {
    /// Pause it (resuming it while the limit still holds pauses it again).
    #[default]
    Pause,
    /// Remove it, keeping its files.
    Remove,
    /// Remove it and its files.
    RemoveWithFiles,
    /// Turn super-seeding on (`core::superseed`): it goes on seeding,
    /// showing new peers a piece at a time.
    SuperSeed,
}

impl ShareAction {
    /// Its name in the API and the state record (as serde writes it).
    pub fn name(self) -> &'static str {
        match self {
            ShareAction::Pause => "pause",
            ShareAction::Remove => "remove",
            ShareAction::RemoveWithFiles => "remove_with_files",
            ShareAction::SuperSeed => "super_seed",
        }
    }

    /// The action a [`ShareAction::name`] names.
    pub fn from_name(name: &str) -> Option<ShareAction> {
        [
            ShareAction::Pause,
            ShareAction::Remove,
            ShareAction::RemoveWithFiles,
            ShareAction::SuperSeed,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }

    /// qBittorrent's name of a torrent's share limit action (its WebAPI's
    /// `shareLimitAction`, its resume data's `qBt-shareLimitAction`):
    /// `Some(None)` for `Default` (the global action), `None` for a name it
    /// does not have.
    pub fn from_qbittorrent(name: &str) -> Option<Option<ShareAction>> {
        Some(Some(match name {
            "Default" => return Some(None),
            "Stop" => ShareAction::Pause,
            "Remove" => ShareAction::Remove,
            "RemoveWithContent" => ShareAction::RemoveWithFiles,
            "EnableSuperSeeding" => ShareAction::SuperSeed,
            _ => return None,
        }))
    }
}

/// What setting a torrent's share limits does to its own action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnAction {
    /// It stays as it is (qBittorrent 4's `setShareLimits` names none).
    Keep,
    /// It becomes this (`None`: the global action).
    Set(Option<ShareAction>),
}

/// The global limits and their action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalShare {
    /// Limits for torrents that follow the global ones ([`NO_LIMIT`]: none).
    pub limits: ShareLimits,
    /// What reaching one does.
    pub action: ShareAction,
}

impl Default for GlobalShare {
    fn default() -> Self {
        GlobalShare {
            limits: ShareLimits::NONE,
            action: ShareAction::Pause,
        }
    }
}

/// Which limit a torrent reached, for the log.
fn reached(t: &Torrent, l: ShareLimits, now: Time) -> Option<String> {
    // The size only when a ratio limit needs it (its `info` is one more
    // cache miss a torrent, every pass, at 100,000 torrents).
    let base = || {
        let size = t.info.as_ref().map_or(0, |i| i.geometry.total_length());
        t.downloaded.max(size).max(1)
    };
    if l.ratio_milli >= 0
        && u128::from(t.uploaded) * 1000 >= u128::from(base()) * l.ratio_milli as u128
    {
        return Some(format!(
            "ratio {:.3} reached",
            l.ratio_milli as f64 / 1000.0
        ));
    }
    let secs = t.seeding_secs_at(now);
    if l.seeding_mins >= 0 && secs >= l.seeding_mins as u64 * 60 {
        return Some(format!("{} minutes of seeding reached", l.seeding_mins));
    }
    // The last upload is reset when seeding starts, so it counts from then.
    if l.inactive_mins >= 0 && t.seed_clock.is_on() {
        let quiet = now.since(t.last_upload_at).as_secs();
        if quiet >= l.inactive_mins as u64 * 60 {
            return Some(format!(
                "{} minutes without uploading reached",
                l.inactive_mins
            ));
        }
    }
    None
}

impl Core {
    /// Sets the global limits and their action.
    pub fn set_global_share(&mut self, g: GlobalShare) {
        self.share = g;
    }

    /// Sets a torrent's own limits, and what reaching one does.
    pub fn set_share_limits(
        &mut self,
        info_hash: InfoHash,
        l: ShareLimits,
        action: OwnAction,
    ) -> Result<(), CommandError> {
        let ok = |v: i64| v >= USE_GLOBAL;
        if !(ok(l.ratio_milli) && ok(l.seeding_mins) && ok(l.inactive_mins)) {
            return Err(CommandError::BadArgument(
                "share limits are -2 (global), -1 (none) or a value of 0 or more".into(),
            ));
        }
        let t = self.torrent_mut(info_hash)?;
        let action = match action {
            OwnAction::Keep => t.share_action,
            OwnAction::Set(a) => a,
        };
        if t.share != l || t.share_action != action {
            t.share = l;
            t.share_action = action;
            t.dirty = true;
        }
        Ok(())
    }

    /// Torrents the core removed by itself since the last call (the engine
    /// forgets them in its books).
    pub fn take_removed(&mut self) -> Vec<InfoHash> {
        std::mem::take(&mut self.removed_here)
    }

    /// Torrent `ih` was removed by the core itself: the engine hears of it at
    /// its next [`Core::take_removed`].
    pub(super) fn remember_removed(&mut self, ih: InfoHash) {
        if self.removed_here.len() >= MAX_REMOVED {
            self.removed_here.remove(0);
        }
        self.removed_here.push(ih);
    }

    /// Every torrent's clocks, when a whole copy was last seen, and the
    /// limits: every seeding torrent past one is paused or removed, as the
    /// action says.
    pub(super) fn apply_share_limits(&mut self, now: Time, out: &mut Vec<Action>) {
        let global = self.share;
        let unix = self.unix(now);
        let mut hit = Vec::new();
        for (ih, t) in &mut self.torrents {
            let seeding = t.run_clocks(now);
            let whole_peer = || {
                (t.peers.iter().filter_map(|k| self.peers.get(k))).any(|p| {
                    p.info_hash == Some(*ih) && p.phase == super::Phase::Active && p.is_seed()
                })
            };
            if t.seeds_whole() || (t.run_clock.is_on() && whole_peer()) {
                t.seen_complete = seen_minute(t, now, unix);
            }
            let action = t.share_action.unwrap_or(global.action);
            // Past its limit already, and super-seeding: nothing more to do.
            if !seeding || (action == ShareAction::SuperSeed && t.super_seeding) {
                continue;
            }
            if t.uploaded != t.last_uploaded {
                t.last_uploaded = t.uploaded;
                t.last_upload_at = now;
            }
            if let Some(why) = reached(t, t.share.over(global.limits), now) {
                hit.push((*ih, why, action));
            }
        }
        for (ih, why, action) in hit {
            tracing::info!(info_hash = %ih, action = action.name(), "share limit: {why}");
            let done = match action {
                ShareAction::Pause => self.pause(ih, out),
                ShareAction::SuperSeed => self.set_super_seeding(now, ih, true, out),
                ShareAction::Remove | ShareAction::RemoveWithFiles => {
                    let files = action == ShareAction::RemoveWithFiles;
                    let r = self.remove_torrent(now, ih, files, out);
                    if r.is_ok() {
                        self.remember_removed(ih);
                    }
                    r
                }
            };
            if let Err(e) = done {
                tracing::warn!(info_hash = %ih, error = %e, "share limit reached, action failed");
            }
        }
    }
}

impl Core {
    /// Starts or stops torrent `ih`'s clocks at once, where a command ran,
    /// paused or queued it (else the next share pass would, up to 10 s late).
    pub(super) fn clocks_at(&mut self, now: Time, ih: InfoHash) {
        if let Some(t) = self.torrents.get_mut(&ih) {
            t.run_clocks(now);
        }
    }
}

/// Unix seconds `unix` (at core time `now`) rounded down to the minute of
/// its seeding clock while it seeds, else of its running clock: a shown
/// "last seen complete" that moves with a minute clock the views show anyway,
/// so it puts no torrent in a `sync/maindata` delta by itself.
fn seen_minute(t: &Torrent, now: Time, unix: u64) -> u32 {
    let clock = if t.seed_clock.is_on() {
        t.seed_clock
    } else {
        t.run_clock
    };
    let at = unix.saturating_sub(clock.at(now) % 60);
    u32::try_from(at).unwrap_or(u32::MAX)
}

impl Torrent {
    /// When a whole copy was last seen, unix seconds (`None`: never): now
    /// (to its seeding clock's minute) while it seeds, else as of its last
    /// share pass that saw one (it seeded, or a connected peer had every
    /// piece, while it ran).
    pub(super) fn seen_complete_at(&self, now: Time, unix: u64) -> Option<u64> {
        if self.seeds_whole() {
            return Some(u64::from(seen_minute(self, now, unix)));
        }
        (self.seen_complete > 0).then_some(u64::from(self.seen_complete))
    }

    /// It seeds with every piece (not only those wanted): a whole copy, now.
    pub(super) fn seeds_whole(&self) -> bool {
        self.seed_clock.is_on() && self.info.is_some() && self.have.all()
    }

    /// Runs its clocks as of `now` (see `core::clock`): the seeding clock
    /// while it seeds, the running clock while it is not paused, queued or
    /// failed. `true` while it seeds.
    pub(super) fn run_clocks(&mut self, now: Time) -> bool {
        let seeding = matches!(self.state(), TorrentState::Seeding);
        let running = !self.stopped() && self.error.is_none();
        if seeding && !self.seed_clock.is_on() {
            self.last_upload_at = now;
            self.last_uploaded = self.uploaded;
        }
        let stopped = self.seed_clock.run(now, seeding);
        if self.run_clock.run(now, running) || stopped {
            self.dirty = true;
        }
        seeding
    }

    /// Seconds seeded, as of `now`.
    pub fn seeding_secs_at(&self, now: Time) -> u64 {
        self.seed_clock.at(now)
    }

    /// The most seconds either clock banked that the store does not hold.
    pub(super) fn clocks_unsaved(&self) -> u64 {
        self.seed_clock.unsaved().max(self.run_clock.unsaved())
    }

    /// What its clock record is to hold now; the store is taken to hold it.
    pub(super) fn clocks_saved(&mut self) -> super::ClockSecs {
        self.seed_clock.mark_saved();
        self.run_clock.mark_saved();
        super::ClockSecs {
            seeding: self.seed_clock.banked(),
            running: Some(self.run_clock.banked()),
        }
    }
}
