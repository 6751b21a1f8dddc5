//! Storage roots as the core sees them: a check every `root_check_interval`
//! (or sooner when a read failed) asks the driver which roots are there; a root
//! gone stops its torrents, one back brings them back after a sample of their
//! pieces reads good.
//!
//! At 100,000 torrents a check a second was half an idle daemon's CPU: the set
//! of roots is now kept ([`RootBook`]) and rebuilt only when a torrent goes or
//! moves (one that comes adds its root if new), a root reported there as it
//! was last time costs nothing, and failed reads are settled only while there
//! are some.

use super::event::Action;
use super::torrent::{Check, CheckKind};
use super::*;

/// What the core knows of its roots between checks.
#[derive(Debug, Default)]
pub(super) struct RootBook {
    /// The roots of its torrents (path, marked), as the next check asks for
    /// them; `None`: rebuilt at the next check.
    set: Option<Vec<(String, bool)>>,
    /// Roots last reported there, with every torrent in them brought back:
    /// forgotten whenever the set is.
    there: BTreeSet<String>,
    /// Reads failed (a peer's block, a check's piece, a file stamp) that a root
    /// check has yet to settle.
    pub(super) doubts: bool,
}

impl RootBook {
    /// A torrent went or changed roots.
    pub(super) fn forget(&mut self) {
        self.set = None;
        self.there.clear();
    }

    /// A torrent came into `root`: its root joins the set if new, and a root
    /// known there is asked about again only for a torrent that comes without
    /// it (`lost`). Not [`RootBook::forget`]: a restart adds its torrents a
    /// page at a time, and each rebuild of the set, and each walk of a root's
    /// torrents that a forgotten root costs, is one pass over every torrent.
    pub(super) fn joined(&mut self, root: &str, marked: bool, lost: bool) {
        if let Some(set) = &mut self.set
            && !set.iter().any(|(r, m)| r == root && *m == marked)
        {
            set.push((root.to_owned(), marked));
            set.sort_unstable();
        }
        if lost {
            self.there.remove(root);
        }
    }
}

impl Core {
    /// Asks the driver which roots are there, every `root_check_interval` or when
    /// wanted sooner, one check at a time (a hung disk delays the next, never
    /// piles them up).
    pub(super) fn check_roots(&mut self, now: Time, out: &mut Vec<Action>) {
        let due = now.since(self.last_root_check) >= self.cfg.root_check_interval;
        if self.root_check_in_flight || !(due || self.root_check_wanted) {
            return;
        }
        self.last_root_check = now;
        self.issue_root_check(out);
    }

    /// A root check as soon as possible: now, or when the one out answers.
    pub(super) fn want_root_check(&mut self, out: &mut Vec<Action>) {
        self.root_book.doubts = true;
        if self.root_check_in_flight {
            self.root_check_wanted = true;
        } else {
            self.issue_root_check(out);
        }
    }

    pub(super) fn issue_root_check(&mut self, out: &mut Vec<Action>) {
        self.root_check_wanted = false;
        let torrents = &self.torrents;
        let roots = self.root_book.set.get_or_insert_with(|| {
            let set: BTreeSet<(&str, bool)> = torrents
                .values()
                .map(|t| (&*t.root, t.root_marked))
                .collect();
            set.into_iter().map(|(r, m)| (r.to_owned(), m)).collect()
        });
        if roots.is_empty() {
            return;
        }
        let roots = roots.clone();
        self.root_checks_issued += 1;
        self.root_check_in_flight = true;
        out.push(Action::CheckRoots { roots });
    }

    /// A storage root went away or came back.
    pub(crate) fn on_roots_checked(&mut self, roots: Vec<(String, bool)>, out: &mut Vec<Action>) {
        self.root_check_in_flight = false;
        let id = self.root_checks_issued;
        for (root, available) in roots {
            // There as it was, its torrents already back: nothing to do.
            if available && self.root_book.there.contains(&root) {
                continue;
            }
            let changed = self.on_root_status(&root, available, out);
            if available {
                self.root_book.there.insert(root.clone());
            } else {
                self.root_book.there.remove(&root);
            }
            if changed {
                // Its torrents stopped or came back: the next tick sees them.
                self.attention.note_all();
                if available {
                    tracing::info!(root = %root, "storage root is back");
                } else {
                    tracing::warn!(
                        root = %root,
                        "storage root unavailable (its marker file is gone): its torrents stop"
                    );
                }
            }
        }
        if self.root_book.doubts {
            let later = self.settle_doubtful_reads(id, out);
            self.root_book.doubts = self.settle_seeding_reads(id, out) || later;
        }
        if self.root_check_wanted {
            self.issue_root_check(out);
        }
    }

    /// Blocks read for peers that failed before root check `id` was made: on a
    /// root that is there, the torrent's files changed under it (deleted, cut,
    /// unreadable): it stops, saying so, until a recheck says what it holds. On
    /// a root that is gone, the root's handling stops it and brings it back.
    /// Whether some wait for a later check.
    fn settle_seeding_reads(&mut self, id: u64, out: &mut Vec<Action>) -> bool {
        let mut stop = Vec::new();
        let mut later = false;
        for (ih, t) in &mut self.torrents {
            let Some((from, why)) = &t.read_doubt else {
                continue;
            };
            if *from > id {
                self.root_check_wanted = true;
                later = true;
                continue;
            }
            if !t.root_lost && t.error.is_none() {
                t.error = Some(format!(
                    "{} since it was checked ({why}); recheck it to seed again",
                    super::DATA_CHANGED
                ));
                tracing::error!(info_hash = %ih, name = %t.name, error = %why,
                    "torrent stopped: its files changed on disk; a recheck says what is there");
                stop.push(*ih);
            }
            t.read_doubt = None;
        }
        for ih in stop {
            self.attention.note(ih);
            self.close_peers(ih, out);
        }
        later
    }

    /// Check reads that failed before root check `id` was made: on a root that is
    /// there, the piece is missing; on one that is gone, it is read again later.
    /// Whether some wait for a later check.
    fn settle_doubtful_reads(&mut self, id: u64, out: &mut Vec<Action>) -> bool {
        let mut touched = Vec::new();
        let mut waiting = false;
        for (ih, t) in &mut self.torrents {
            let Some(check) = &mut t.checking else {
                continue;
            };
            if check.doubtful.is_empty() {
                continue;
            }
            let (now_known, later): (Vec<_>, Vec<_>) =
                check.doubtful.drain(..).partition(|&(_, from)| from <= id);
            check.doubtful = later;
            for (piece, _) in now_known {
                if t.root_lost {
                    check.retry(piece);
                } else {
                    check.settle_missing(&mut t.have, piece);
                }
            }
            if !check.doubtful.is_empty() {
                self.root_check_wanted = true;
                waiting = true;
            }
            touched.push(*ih);
        }
        for ih in touched {
            self.drive_checking(ih, out);
        }
        waiting
    }

    /// Whether any torrent in `root` changed state.
    fn on_root_status(&mut self, root: &str, available: bool, out: &mut Vec<Action>) -> bool {
        let mut changed = false;
        let ihs: Vec<InfoHash> = self
            .torrents
            .iter()
            .filter(|(_, t)| *t.root == *root && t.moving.is_none())
            .map(|(ih, _)| *ih)
            .collect();
        for ih in ihs {
            if available {
                let t = self.torrents.get_mut(&ih).expect("listed");
                if !t.root_lost {
                    continue;
                }
                changed = true;
                t.root_lost = false;
                t.error = None;
                t.write_failures.clear();
                // Its files were never prepared on this disk: now they can be.
                out.extend(t.reopen_storage(ih));
                if t.info.is_some() && t.checking.is_none() {
                    // Trust it again only if a sample of what it had reads back good.
                    let had: Vec<u32> = t.have.ones().collect();
                    let k = (self.cfg.root_sample_pieces as usize).min(had.len());
                    let mut sample = Vec::with_capacity(k);
                    let mut pool = had;
                    for _ in 0..k {
                        let i =
                            usize::try_from(self.rng.below(pool.len() as u64)).expect("below len");
                        sample.push(pool.swap_remove(i));
                    }
                    if !sample.is_empty() {
                        t.checking = Some(Box::new(Check::of(CheckKind::Sample, sample)));
                    }
                }
                self.drive_checking(ih, out);
            } else {
                self.close_peers(ih, out);
                let t = self.torrents.get_mut(&ih).expect("listed");
                if t.root_lost {
                    continue;
                }
                changed = true;
                t.lose_root();
                // Verified pieces not yet written are dropped: they come back later.
                // A check in progress waits (`drive_checking` issues no reads while
                // the root is lost) and its reads that fail meanwhile are retried.
                t.picker.drop_all();
            }
        }
        changed
    }
}
