//! File stamps (`Action::StatFiles`) taken on the blocking pool a batch of
//! torrents per job. A restart compares 100,000 torrents' files with their
//! records; one job per torrent was 100,000 hand-offs to pool threads and as
//! many wake-ups of the shard, which cost the two cores more than the `statx`
//! calls themselves (futex and scheduling ~40% of the seconds after a
//! start, against statx's 17%) and slowed everything else the daemon did
//! meanwhile. The core keeps up to 32 requests out; the driver packs those
//! one call to the core produced into jobs of [`STAT_BATCH`], so a cold
//! disk still has several jobs waiting on it at once.

use std::path::Path;
use std::sync::Arc;

use super::RealFiles;
use super::driver::{ShardRc, blocking, spawn_then};
use crate::core::Event;
use crate::metainfo::Info;
use crate::resume_lmdb::SharedStore;
use crate::storage;
use crate::types::InfoHash;

/// Torrents stamped by one job at most.
const STAT_BATCH: usize = 8;

/// One torrent to stamp: the fields of its `Action::StatFiles`.
pub(super) struct StatJob {
    pub info_hash: InfoHash,
    pub info: Arc<Info>,
    pub root: String,
    pub with_record: bool,
}

/// Stamps `jobs` a batch per blocking job; each torrent's answer is an
/// `Event::FilesStated` (empty stamps when its job panicked, as before).
pub(super) fn stat_batched(rc: &ShardRc, store: &SharedStore, mut jobs: Vec<StatJob>) {
    while !jobs.is_empty() {
        let batch: Vec<StatJob> = jobs.drain(..jobs.len().min(STAT_BATCH)).collect();
        let ids: Vec<InfoHash> = batch.iter().map(|j| j.info_hash).collect();
        let store = store.clone();
        let job = move || {
            let stamp = |j: StatJob| {
                let root = Path::new(&j.root);
                let (ih, with) = (j.info_hash, j.with_record);
                (
                    ih,
                    storage::files_stated(&RealFiles, &*store, ih, root, &j.info, with),
                )
            };
            batch.into_iter().map(stamp).collect::<Vec<_>>()
        };
        let failed = move || {
            let none = |ih| (ih, (Vec::new(), None));
            ids.into_iter().map(none).collect::<Vec<_>>()
        };
        let work = blocking(job, "stamping files", failed);
        spawn_then(rc, work, move |c, now, out, answers| {
            for (info_hash, (stamps, recorded)) in answers {
                let ev = Event::FilesStated {
                    info_hash,
                    stamps,
                    recorded,
                };
                c.on_event(now, ev, out);
            }
        });
    }
}
