//! The shard's disk lanes: each torrent's verified pieces are written in
//! batches, one batch of a torrent in flight at a time, on the blocking pool
//! ([`crate::disk_uring::write`] says why). The preparation of an added
//! torrent's files, its moves to another root and the deletion of a removed
//! torrent's files run in the same lane, in the order they were asked for,
//! after the batch in flight: no late write makes a deleted file again, a
//! torrent added again has its files prepared only once the old ones are
//! gone, a torrent removed while its files are being prepared has them
//! deleted once they are made, and one removed while it moves has them
//! deleted where the move leaves them (`WriteLanes::moved`).
//!
//! Bound: a lane holds only pieces the core counts as being written
//! (`Torrent::writing`), and the core asks for no more blocks of a torrent
//! whose backlog passes 16 MiB, so a lane never holds much more. A batch
//! takes at most [`BATCH`] pieces, so progress reaches the core at least that
//! often. File steps wait one per add, move or removal of a torrent this
//! shard holds.

use super::*;
use crate::core::MoveStorage;
use crate::disk_uring::write::{PieceWrite, WriteMode, write_pieces};
use driver::{blocking, with_shard};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// Most pieces one job writes.
const BATCH: usize = 16;

/// A step on a torrent's files, taken in the order asked for.
#[derive(Debug)]
enum FileStep {
    /// Make an added torrent's files (unless `prepared`: already made), then
    /// tell the core its storage is open.
    Prepare {
        root: Arc<Path>,
        info: Arc<Info>,
        marked: bool,
        prepared: bool,
    },
    /// Delete a removed torrent's files.
    Delete { root: Arc<Path>, info: Arc<Info> },
    /// Move a torrent's files to another root, then tell the core.
    Move(Box<MoveStorage>),
}

/// What waits in one torrent's lane: file steps first (a removal drops its
/// pieces, and a torrent added again has none before its files are
/// prepared), then pieces.
#[derive(Debug, Default)]
struct Lane {
    files: VecDeque<FileStep>,
    pieces: Vec<PieceWrite>,
}

/// One step of a lane.
enum Step {
    Files(FileStep),
    Write(Vec<PieceWrite>, WriteMode),
}

/// The work waiting in each torrent's lane; a torrent is here while its
/// lane's task runs.
#[derive(Debug)]
pub(crate) struct WriteLanes {
    queued: HashMap<InfoHash, Lane>,
    mode: WriteMode,
}

impl WriteLanes {
    /// No lanes yet; pieces will be written the `mode` way.
    pub(crate) fn new(mode: WriteMode) -> WriteLanes {
        WriteLanes {
            queued: HashMap::new(),
            mode,
        }
    }

    /// Queues `w` on its torrent's lane, and starts the lane's task if it was
    /// not running.
    pub(crate) fn push(&mut self, rc: &ShardRc, info_hash: InfoHash, w: PieceWrite) {
        self.lane(rc, info_hash).pieces.push(w);
    }

    /// The lane of `info_hash`, its task started if it was not running.
    fn lane(&mut self, rc: &ShardRc, info_hash: InfoHash) -> &mut Lane {
        use std::collections::hash_map::Entry;
        match self.queued.entry(info_hash) {
            Entry::Occupied(q) => q.into_mut(),
            Entry::Vacant(v) => {
                compio::runtime::spawn(run_lane(rc.clone(), info_hash)).detach();
                v.insert(Lane::default())
            }
        }
    }

    /// Drops the writes of `info_hash` not yet started: its storage is being
    /// closed (and maybe deleted), and no write may make its files again.
    pub(crate) fn drop_queued(&mut self, info_hash: InfoHash) {
        if let Some(q) = self.queued.get_mut(&info_hash) {
            if !q.pieces.is_empty() {
                tracing::debug!(%info_hash, pieces = q.pieces.len(), "queued piece writes dropped: the torrent's storage closed");
            }
            q.pieces.clear();
        }
    }

    /// Drops the writes of `info_hash` not yet started and deletes its files
    /// under `root` once the steps before it are done.
    pub(crate) fn delete_files(
        &mut self,
        rc: &ShardRc,
        info_hash: InfoHash,
        root: Arc<Path>,
        info: Arc<Info>,
    ) {
        self.drop_queued(info_hash);
        let step = FileStep::Delete { root, info };
        self.lane(rc, info_hash).files.push_back(step);
    }

    /// Makes the files of `info_hash` under `root` (unless `prepared`) once
    /// the steps before it are done, then hands the core
    /// [`Event::StorageOpened`].
    pub(crate) fn prepare_files(
        &mut self,
        rc: &ShardRc,
        info_hash: InfoHash,
        (root, info): (Arc<Path>, Arc<Info>),
        marked: bool,
        prepared: bool,
    ) {
        let step = FileStep::Prepare {
            root,
            info,
            marked,
            prepared,
        };
        self.lane(rc, info_hash).files.push_back(step);
    }

    /// Moves the files of `m.info_hash` once the steps before it are done,
    /// then hands the core [`Event::StorageMoved`].
    pub(crate) fn move_files(&mut self, rc: &ShardRc, m: MoveStorage) {
        let info_hash = m.info_hash;
        let step = FileStep::Move(Box::new(m));
        self.lane(rc, info_hash).files.push_back(step);
    }

    /// The files of `info_hash` are now under `to`, no longer under `from`:
    /// a deletion queued since (the torrent removed while it moved) deletes
    /// them there.
    fn moved(&mut self, info_hash: InfoHash, from: &Path, to: &Arc<Path>) {
        let Some(q) = self.queued.get_mut(&info_hash) else {
            return;
        };
        for step in &mut q.files {
            if let FileStep::Delete { root, .. } = step
                && **root == *from
            {
                *root = to.clone();
            }
        }
    }

    /// The next step of `info_hash`'s lane, or `None` (and the lane ends)
    /// when nothing waits.
    fn next_step(&mut self, info_hash: InfoHash) -> Option<Step> {
        let q = self.queued.get_mut(&info_hash)?;
        if let Some(step) = q.files.pop_front() {
            return Some(Step::Files(step));
        }
        if q.pieces.is_empty() {
            self.queued.remove(&info_hash);
            return None;
        }
        q.pieces.sort_unstable_by_key(|w| w.piece);
        let rest = q.pieces.split_off(q.pieces.len().min(BATCH));
        Some(Step::Write(
            std::mem::replace(&mut q.pieces, rest),
            self.mode,
        ))
    }
}

/// A torrent's lane: prepares, moves and deletes its files and writes its
/// batches, one step after another, each outcome handed to the core, until
/// none waits.
async fn run_lane(rc: ShardRc, info_hash: InfoHash) {
    loop {
        let Some(step) = rc.borrow_mut().writes.next_step(info_hash) else {
            return;
        };
        let (batch, mode) = match step {
            Step::Write(batch, mode) => (batch, mode),
            Step::Files(step) => {
                files_step(&rc, info_hash, step).await;
                continue;
            }
        };
        let done = write_pieces(batch, mode).await;
        with_shard(&rc, |c, now, out| {
            for (piece, result) in done {
                let ev = Event::PieceWritten {
                    info_hash,
                    piece,
                    result,
                };
                c.on_event(now, ev, out);
            }
        });
    }
}

/// Takes one step on the files of `info_hash`, on the blocking pool.
async fn files_step(rc: &ShardRc, info_hash: InfoHash, step: FileStep) {
    match step {
        FileStep::Prepare {
            root,
            info,
            marked,
            prepared,
        } => {
            let result = if prepared {
                Ok(true)
            } else {
                let job = move || storage::prepare_files(&mut RealFiles, &root, marked, &info);
                let failed = || Err(DiskError("preparing files panicked".into()));
                blocking(job, "preparing files", failed).await
            };
            with_shard(rc, |c, now, out| {
                c.on_event(now, Event::StorageOpened { info_hash, result }, out);
            });
        }
        FileStep::Move(m) => {
            let (from, to): (PathBuf, Arc<Path>) = (m.from.clone().into(), Path::new(&m.to).into());
            let job = move || storage::carry_out_move(&mut RealFiles, &m);
            let failed = || Err(DiskError("the move thread panicked".into()));
            let result = blocking(job, "a move", failed).await;
            if result.is_ok() {
                rc.borrow_mut().writes.moved(info_hash, &from, &to);
            }
            with_shard(rc, |c, now, out| {
                c.on_event(now, Event::StorageMoved { info_hash, result }, out);
            });
        }
        FileStep::Delete { root, info } => {
            let (r2, i2) = (root.clone(), info.clone());
            let job = move || {
                storage::delete_files(&mut RealFiles, &r2, &i2);
            };
            blocking(job, "deleting a removed torrent's files", || ()).await;
            // A block read for a peer may have opened one of them since the
            // removal: a deleted file held open keeps its disk space in use.
            rc.borrow_mut().files.forget_torrent(&root, &info);
        }
    }
}
