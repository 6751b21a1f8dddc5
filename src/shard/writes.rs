//! The shard's disk lanes: each torrent's verified pieces are written in
//! batches, one batch of a torrent in flight at a time, on the blocking pool
//! ([`crate::disk_uring::write`] says why); the deletion of a removed
//! torrent's files runs in the same lane, after the batch in flight, so no
//! late write makes a deleted file again, and a torrent added again waits for
//! it before its files are prepared ([`WriteLanes::settled`]).
//!
//! Bound: a lane holds only pieces the core counts as being written
//! (`Torrent::writing`), and the core asks for no more blocks of a torrent
//! whose backlog passes 16 MiB, so a lane never holds much more. A batch
//! takes at most [`BATCH`] pieces, so progress reaches the core at least that
//! often. Deletions wait one per removal with files of a torrent this shard
//! holds.

use super::*;
use crate::disk_uring::write::{PieceWrite, WriteMode, write_pieces};
use driver::{blocking, with_shard};
use std::path::Path;

/// Most pieces one job writes.
const BATCH: usize = 16;

/// The deletion of a removed torrent's files.
struct Deletion {
    root: Arc<Path>,
    info: Arc<Info>,
    /// Never sent on: dropped when the files are gone, which wakes whoever
    /// waits on its receiver in [`WriteLanes::deleting`].
    done: flume::Sender<()>,
}

impl std::fmt::Debug for Deletion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deletion")
            .field("root", &self.root)
            .finish()
    }
}

/// What waits in one torrent's lane: deletions first (each removal's pieces
/// were dropped with it), then pieces.
#[derive(Debug, Default)]
struct Lane {
    deletions: Vec<Deletion>,
    pieces: Vec<PieceWrite>,
}

/// One step of a lane.
enum Step {
    Delete(Deletion),
    Write(Vec<PieceWrite>, WriteMode),
}

/// The work waiting in each torrent's lane; a torrent is here while its
/// lane's task runs.
#[derive(Debug)]
pub(crate) struct WriteLanes {
    queued: HashMap<InfoHash, Lane>,
    /// Torrents whose files are being deleted: the receiver disconnects when
    /// the deletion is done. At most one entry per torrent this shard removed
    /// with its files and whose deletion is not done.
    deleting: HashMap<InfoHash, flume::Receiver<()>>,
    mode: WriteMode,
}

impl WriteLanes {
    /// No lanes yet; pieces will be written the `mode` way.
    pub(crate) fn new(mode: WriteMode) -> WriteLanes {
        WriteLanes {
            queued: HashMap::new(),
            deleting: HashMap::new(),
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
    /// under `root` once the batch in flight, if any, is written.
    pub(crate) fn delete_files(
        &mut self,
        rc: &ShardRc,
        info_hash: InfoHash,
        root: Arc<Path>,
        info: Arc<Info>,
    ) {
        self.drop_queued(info_hash);
        // Capacity 1, never sent on: only its disconnection is awaited.
        let (done, waiters) = flume::bounded(1);
        self.deleting.insert(info_hash, waiters);
        let d = Deletion { root, info, done };
        self.lane(rc, info_hash).deletions.push(d);
    }

    /// What to await before preparing the files of `info_hash`: the deletion
    /// of its files from an earlier removal, while that runs.
    pub(crate) fn settled(&self, info_hash: InfoHash) -> Option<flume::Receiver<()>> {
        self.deleting.get(&info_hash).cloned()
    }

    /// The next step of `info_hash`'s lane, or `None` (and the lane ends)
    /// when nothing waits.
    fn next_step(&mut self, info_hash: InfoHash) -> Option<Step> {
        let q = self.queued.get_mut(&info_hash)?;
        if !q.deletions.is_empty() {
            return Some(Step::Delete(q.deletions.remove(0)));
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

/// A torrent's lane: deletes its removed files and writes its batches, one
/// step after another, each piece's outcome handed to the core, until none
/// waits.
async fn run_lane(rc: ShardRc, info_hash: InfoHash) {
    loop {
        let Some(step) = rc.borrow_mut().writes.next_step(info_hash) else {
            return;
        };
        let (batch, mode) = match step {
            Step::Write(batch, mode) => (batch, mode),
            Step::Delete(d) => {
                let (root, info) = (d.root.clone(), d.info.clone());
                let job = move || {
                    storage::delete_files(&mut RealFiles, &d.root, &d.info);
                    drop(d.done);
                };
                blocking(job, "deleting a removed torrent's files", || ()).await;
                let mut shard = rc.borrow_mut();
                // A block read for a peer may have opened one of them since the
                // removal: a deleted file held open keeps its disk space in use.
                shard.files.forget_torrent(&root, &info);
                shard
                    .writes
                    .deleting
                    .retain(|_, waiters| !waiters.is_disconnected());
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
