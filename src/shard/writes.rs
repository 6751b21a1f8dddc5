//! The shard's write lanes: each torrent's verified pieces are written in
//! batches, one batch of a torrent in flight at a time, on the blocking pool
//! ([`crate::disk_uring::write`] says why).
//!
//! Bound: a lane holds only pieces the core counts as being written
//! (`Torrent::writing`), and the core asks for no more blocks of a torrent
//! whose backlog passes 16 MiB, so a lane never holds much more. A batch
//! takes at most [`BATCH`] pieces, so progress reaches the core at least that
//! often.

use super::*;
use crate::disk_uring::write::{PieceWrite, WriteMode, write_pieces};
use driver::with_shard;

/// Most pieces one job writes.
const BATCH: usize = 16;

/// The pieces of each torrent waiting for its lane; a torrent is here while
/// its lane's task runs.
#[derive(Debug)]
pub(crate) struct WriteLanes {
    queued: HashMap<InfoHash, Vec<PieceWrite>>,
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
        use std::collections::hash_map::Entry;
        match self.queued.entry(info_hash) {
            Entry::Occupied(mut q) => q.get_mut().push(w),
            Entry::Vacant(v) => {
                v.insert(vec![w]);
                compio::runtime::spawn(run_lane(rc.clone(), info_hash)).detach();
            }
        }
    }

    /// Drops the writes of `info_hash` not yet started: its storage is being
    /// closed (and maybe deleted), and no write may make its files again.
    pub(crate) fn drop_queued(&mut self, info_hash: InfoHash) {
        if let Some(q) = self.queued.get_mut(&info_hash) {
            if !q.is_empty() {
                tracing::debug!(%info_hash, pieces = q.len(), "queued piece writes dropped: the torrent's storage closed");
            }
            q.clear();
        }
    }

    /// The next batch of `info_hash`, lowest pieces first, or `None` (and the
    /// lane ends) when nothing waits.
    fn next_batch(&mut self, info_hash: InfoHash) -> Option<(Vec<PieceWrite>, WriteMode)> {
        let q = self.queued.get_mut(&info_hash)?;
        if q.is_empty() {
            self.queued.remove(&info_hash);
            return None;
        }
        q.sort_unstable_by_key(|w| w.piece);
        let rest = q.split_off(q.len().min(BATCH));
        Some((std::mem::replace(q, rest), self.mode))
    }
}

/// A torrent's lane: writes its batches one after another, each piece's
/// outcome handed to the core, until none waits.
async fn run_lane(rc: ShardRc, info_hash: InfoHash) {
    loop {
        let Some((batch, mode)) = rc.borrow_mut().writes.next_batch(info_hash) else {
            return;
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
