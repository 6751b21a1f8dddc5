//! Seeding files watched for a change underneath: a file rewritten in place or
//! replaced by another of the same size reads without error, so failed reads
//! (`read_doubt`) never tell; its stamp (size, modification time) does.
//!
//! Rules:
//! - a complete torrent with peers, or that sent a block in the last minute
//!   (a peer that got new bytes may have left at once), has its files stamped
//!   every 10 s
//!   (`Action::StatFiles`; one out per torrent, at most 32 in all): the first
//!   stamps are its baseline, and a later difference is taken as a failed read
//!   (`read_doubt`): once a root check shows the root there, the torrent stops
//!   with an error naming the file ("its data changed on disk ... recheck it")
//!   and its peers are closed; a root gone away is a lost root instead;
//! - the baseline is dropped while the torrent checks, moves, downloads or
//!   errors, and taken again once it seeds with peers.

use super::*;
use crate::core::record::FileStamp;

/// How often a seeding torrent's files are stamped.
const STAT_EVERY: Duration = Duration::from_secs(10);
/// A torrent that sent a block this recently is still watched without peers.
const RECENTLY_SERVED: Duration = Duration::from_secs(60);
/// Stamp requests out at once, across torrents.
const MAX_STATS_OUT: u32 = 32;

impl Torrent {
    /// Whether its files are watched now (see the module rules).
    pub(super) fn watched(&self) -> bool {
        self.info.is_some()
            && self.is_finished()
            && self.is_running()
            && self.moving.is_none()
            && !self.root_lost
    }

    /// Whether a stamp of its files is due.
    pub(super) fn stamp_due(&self, now: Time) -> bool {
        let busy = !self.peers.is_empty() || self.recently_served(now);
        self.watched() && busy && !self.stat_out && now >= self.stat_at
    }

    /// It sent a block in the last minute.
    pub(super) fn recently_served(&self, now: Time) -> bool {
        self.served_at
            .is_some_and(|at| now.since(at) < RECENTLY_SERVED)
    }

    /// Whether it holds a baseline it must drop (it is no longer watched).
    pub(super) fn stale_stamps(&self) -> bool {
        self.stamps.is_some() && !self.watched()
    }
}

impl Core {
    /// Asks for the stamps of `due` (torrents `walk` found due), within the cap,
    /// and drops the baselines of `stale` (no longer watched).
    pub(super) fn stamp_files(
        &mut self,
        now: Time,
        due: Vec<InfoHash>,
        stale: Vec<InfoHash>,
        out: &mut Vec<Action>,
    ) {
        for ih in stale {
            if let Some(t) = self.torrents.get_mut(&ih) {
                t.stamps = None;
            }
        }
        for ih in due {
            if self.stats_out >= MAX_STATS_OUT {
                return;
            }
            let Some(t) = self.torrents.get_mut(&ih) else {
                continue;
            };
            t.stat_out = true;
            t.stat_at = now + STAT_EVERY;
            self.stats_out += 1;
            out.push(Action::StatFiles { info_hash: ih });
        }
    }

    /// A torrent's files as they are now: the baseline, or compared with it.
    pub(super) fn on_files_stated(
        &mut self,
        ih: InfoHash,
        stamps: Vec<Option<FileStamp>>,
        out: &mut Vec<Action>,
    ) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        if t.stat_out {
            t.stat_out = false;
            self.stats_out = self.stats_out.saturating_sub(1);
        }
        // No answer (its storage gone, or the stat failed): nothing learned.
        if !t.watched() || stamps.is_empty() {
            return;
        }
        let Some(base) = &t.stamps else {
            t.stamps = Some(stamps);
            return;
        };
        let Some(i) = (0..base.len().min(stamps.len())).find(|&i| base[i] != stamps[i]) else {
            return;
        };
        let path = t.info.as_ref().map_or(String::new(), |info| {
            info.files
                .get(i)
                .map_or(String::new(), |f| f.display_path())
        });
        let why = match (base[i], stamps[i]) {
            (_, None) => "gone".to_owned(),
            (Some(a), Some(b)) if a.size != b.size => format!("{} bytes, was {}", b.size, a.size),
            _ => "rewritten".to_owned(),
        };
        t.stamps = None;
        tracing::warn!(info_hash = %ih, name = %t.name, file = %path, change = %why,
            "a seeding file changed on disk; a root check tells a changed file from a disk gone away");
        // As a failed read: the torrent stops unless its root is what went away.
        if t.read_doubt.is_none() {
            t.read_doubt = Some((self.root_checks_issued + 1, format!("{path}: {why}")));
            self.want_root_check(out);
        }
    }
}
