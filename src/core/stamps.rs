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
//!
//! A restart compares each torrent's files with the stamps of its resume
//! record the same way, after the start rather than during it (a `statx` per
//! file was a fifth of a 100,000-torrent start's CPU):
//! - a restored torrent waits in `Checking`, its storage not opened, no peers,
//!   until its files are stamped (`Torrent::stamps_due`); stamping begins
//!   when the engine says the restore is over ([`Command::RestoreDone`]), at
//!   most [`MAX_STATS_OUT`] out at once with the watcher's; the files'
//!   stamps are compared with a digest of the record's ([`stamps_digest`],
//!   8 bytes a torrent: the stamps themselves were 14 MB at 100,000
//!   torrents), and only when that differs are the record's stamps read back
//!   from the store by the driver, to tell which files changed (reading every
//!   record back would map ~1 GB of the store into the process); a save
//!   meanwhile keeps the record's stamps, true of the record's bitfield the
//!   torrent still holds;
//! - a file whose stamp differs from the record's (or that came or went)
//!   has its pieces hashed again, the others trusted; files that held pieces
//!   and are gone stop the torrent ("its files are missing") until the user
//!   resumes or rechecks it; nothing changed opens its storage with nothing
//!   to prepare;
//! - a full recheck or a move replaces the comparison; a root that went away
//!   meanwhile leaves the torrent to the root's return, as at a restart
//!   without it.

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
            out.extend(t.stat_files(ih));
        }
    }

    /// Asks for the stamps of restored torrents waiting for their comparison,
    /// within the cap, once the restore is over.
    pub(super) fn compare_restored_next(&mut self, out: &mut Vec<Action>) {
        if !self.restore_done {
            return;
        }
        while self.stats_out < MAX_STATS_OUT {
            let Some(ih) = self.to_compare.pop_front() else {
                return;
            };
            let Some(t) = self.torrents.get_mut(&ih) else {
                continue;
            };
            if !t.comparing() || t.stat_out {
                continue;
            }
            let Some(stat) = t.stat_files(ih) else {
                continue;
            };
            t.stat_out = true;
            self.stats_out += 1;
            out.push(stat);
        }
    }

    /// The engine's restore is over: restored torrents' files are compared.
    pub(super) fn restore_done(&mut self, out: &mut Vec<Action>) {
        self.restore_done = true;
        self.compare_restored_next(out);
    }

    /// A torrent's files as they are now: the baseline, or compared with it.
    pub(super) fn on_files_stated(
        &mut self,
        ih: InfoHash,
        stamps: Vec<Option<FileStamp>>,
        recorded: Option<Vec<Option<FileStamp>>>,
        out: &mut Vec<Action>,
    ) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        if t.stat_out {
            t.stat_out = false;
            self.stats_out = self.stats_out.saturating_sub(1);
        }
        if t.comparing() {
            match (recorded, t.stamps_due) {
                (Some(recorded), _) => self.compare_restored(ih, &stamps, &recorded, out),
                // As the record stamped them: nothing changed.
                (None, StampsDue::Digest(d))
                    if !stamps.is_empty() && stamps_digest(&stamps) == d =>
                {
                    self.compare_restored(ih, &stamps, &stamps, out);
                }
                // Something changed: which files, the record's stamps tell.
                (None, _) => {
                    t.stamps_due = StampsDue::Record;
                    self.to_compare.push_back(ih);
                }
            }
            return self.compare_restored_next(out);
        }
        self.compare_restored_next(out);
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
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

impl Core {
    /// A restored torrent's files as they are now, against its record: the
    /// pieces of changed files hashed again, gone files said, and its storage
    /// opened (see the module rules).
    fn compare_restored(
        &mut self,
        ih: InfoHash,
        stamps: &[Option<FileStamp>],
        recorded: &[Option<FileStamp>],
        out: &mut Vec<Action>,
    ) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        t.stamps_due = StampsDue::No;
        // Gone meanwhile: its return checks a sample and opens it.
        if t.root_lost {
            return;
        }
        let Some(info) = t.info.clone() else {
            return;
        };
        let found = if stamps.len() == info.files.len() {
            compare_files(&info, &t.have, recorded, stamps)
        } else {
            // No answer (the stat failed): every piece had is hashed again.
            let check: Vec<u32> = t.have.ones().collect();
            Found {
                changed: info.files.len(),
                present: false,
                gone: None,
                check,
            }
        };
        if let Some(gone) = found.gone {
            tracing::warn!(info_hash = %ih, name = %t.name, files = %gone,
                "files it had are gone: it waits for them (resume or recheck it)");
            t.error = Some(format!(
                "{} ({gone}) since it last ran: put them back and resume it, or recheck it to download them again",
                super::FILES_GONE
            ));
            return;
        }
        if found.changed > 0 {
            let why = format!(
                "{} file(s) changed since the last save: their pieces are checked again",
                found.changed
            );
            tracing::info!(info_hash = %ih, name = %t.name, files = found.changed,
                "files changed since the last save: their pieces are checked again");
            t.note = Some(match t.note.take() {
                Some(n) => format!("{n}; {why}"),
                None => why,
            });
        }
        if !found.check.is_empty() {
            for &p in &found.check {
                t.have.clear(p);
            }
            t.checking = Some(Box::new(Check::of(CheckKind::Pieces, found.check)));
        }
        if !t.is_finished() {
            t.completed_at = None;
        }
        let prepared = found.present && found.changed == 0;
        out.push(t.open_storage(ih, false, prepared));
    }
}

/// A digest of a torrent's file stamps (size and modification time, or
/// absent, per file): equal digests are taken as equal stamps (a 64-bit
/// hash: a change hidden by a collision is one in 2^64).
pub fn stamps_digest(stamps: &[Option<FileStamp>]) -> u64 {
    use std::hash::Hasher;
    let mut h = super::versions::QuickHasher::default();
    h.write_usize(stamps.len());
    for s in stamps {
        match s {
            None => h.write_u64(u64::MAX),
            Some(s) => {
                h.write_u64(s.size);
                h.write_u64(s.mtime_ns.cast_unsigned());
            }
        }
    }
    h.finish()
}

/// What a comparison of a torrent's files with its record found.
struct Found {
    /// Pieces of changed files, to hash again.
    check: Vec<u32>,
    /// Files changed.
    changed: usize,
    /// Every stored file is there.
    present: bool,
    /// Files holding recorded pieces that are gone ("a" or "a and 2 more").
    gone: Option<String>,
}

/// Compares each file's stamp `now` with the record's (`was`; a record
/// without stamps counts every file changed), given the pieces the record
/// says are had.
fn compare_files(
    info: &crate::metainfo::Info,
    have: &Bitfield,
    was: &[Option<FileStamp>],
    now: &[Option<FileStamp>],
) -> Found {
    let present = info
        .files
        .iter()
        .zip(now)
        .all(|(f, n)| !f.is_stored() || n.is_some());
    let mut check = Vec::new();
    let mut changed = 0;
    let mut gone = Vec::new();
    for (i, f) in info.files.iter().enumerate() {
        if !f.is_stored() || f.length == 0 {
            continue;
        }
        let was = was.get(i).copied().flatten();
        if was == now[i] && was.is_some() {
            continue;
        }
        let pieces = info.geometry.file_pieces(i);
        let held = pieces.clone().any(|p| have.get(p));
        // A file never written and still absent: nothing to look at.
        if was.is_none() && now[i].is_none() && !held {
            continue;
        }
        if now[i].is_none() && held {
            gone.push(f.display_path());
        }
        changed += 1;
        check.extend(pieces);
    }
    // Neighbouring files share their edge pieces: each hashed once.
    check.sort_unstable();
    check.dedup();
    let gone = match gone.len() {
        0 => None,
        1 => Some(gone.swap_remove(0)),
        n => Some(format!("{} and {} more", gone[0], n - 1)),
    };
    Found {
        check,
        changed,
        present,
        gone,
    }
}
