//! File stamps (`Action::StatFiles`) taken on the blocking pool a batch of
//! torrents per job. A restart compares 100,000 torrents' files with their
//! records; one job per torrent was 100,000 hand-offs to pool threads and as
//! many wake-ups of the shard, which cost the two cores more than the `statx`
//! calls themselves (futex and scheduling ~40% of the seconds after a
//! start, against statx's 17%) and slowed everything else the daemon did
//! meanwhile. The core keeps up to 32 requests out; the driver packs those
//! one call to the core produced into jobs of [`STAT_BATCH`].
//!
//! How many of a shard's jobs run at once follows the disk: while jobs read
//! it (inodes and folders not in memory: the thread's block reads, from
//! `getrusage`), [`MOST_RUNNING`] at once, which a restart on a cold disk
//! needs; once [`WARM_AFTER`] jobs in a row read nothing and are pure CPU,
//! one at a time, so a restart's 100,000 comparisons do not take eight
//! threads' share of two cores from the API answering meanwhile.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use super::driver::{ShardRc, blocking, spawn_then};
use crate::core::Event;
use crate::disk_uring::RootStamps;
use crate::metainfo::Info;
use crate::resume_lmdb::SharedStore;
use crate::storage;
use crate::types::InfoHash;

/// Torrents stamped by one job at most.
const STAT_BATCH: usize = 8;
/// A shard's jobs running at once, at most (on a cold disk).
const MOST_RUNNING: usize = 4;
/// Jobs in a row that read nothing from the disk after which it is taken
/// to be warm.
const WARM_AFTER: u32 = 16;

/// A shard's stamping jobs: how many run, how many may, and the batches
/// waiting for a turn. The waiting batches are bounded by what the core keeps
/// out (32 torrents a shard: at most four batches).
pub(crate) struct Stamping {
    running: usize,
    limit: usize,
    /// Jobs since the last one that read the disk.
    quick: u32,
    waiting: VecDeque<Vec<StatJob>>,
}

impl Default for Stamping {
    fn default() -> Stamping {
        Stamping {
            running: 0,
            // Until a job has shown how warm the disk is.
            limit: MOST_RUNNING,
            quick: 0,
            waiting: VecDeque::new(),
        }
    }
}

impl Stamping {
    /// A job finished (`read`: it read the disk): one that read lets the
    /// next ones run several at once; [`WARM_AFTER`] in a row that did not,
    /// one at a time.
    fn finished(&mut self, read: bool) {
        self.running = self.running.saturating_sub(1);
        if read {
            self.quick = 0;
            self.limit = MOST_RUNNING;
        } else {
            self.quick = self.quick.saturating_add(1);
            if self.quick >= WARM_AFTER {
                self.limit = 1;
            }
        }
    }
}

/// One torrent to stamp: the fields of its `Action::StatFiles`.
pub(super) struct StatJob {
    pub info_hash: InfoHash,
    pub info: Arc<Info>,
    pub root: String,
    pub with_record: bool,
}

/// Stamps `jobs` a batch per blocking job, as many at once as `st` lets run;
/// each torrent's answer is an `Event::FilesStated` (empty stamps when its job
/// panicked, as before).
pub(super) fn stat_batched(
    rc: &ShardRc,
    st: &mut Stamping,
    store: &SharedStore,
    mut jobs: Vec<StatJob>,
) {
    while !jobs.is_empty() {
        st.waiting
            .push_back(jobs.drain(..jobs.len().min(STAT_BATCH)).collect());
    }
    start_waiting(rc, st, store);
}

/// Starts waiting batches while fewer than the limit run.
fn start_waiting(rc: &ShardRc, st: &mut Stamping, store: &SharedStore) {
    while st.running < st.limit
        && let Some(batch) = st.waiting.pop_front()
    {
        st.running += 1;
        run(rc, store.clone(), batch);
    }
}

fn run(rc: &ShardRc, store: SharedStore, batch: Vec<StatJob>) {
    let ids: Vec<InfoHash> = batch.iter().map(|j| j.info_hash).collect();
    let job = move || {
        let blocks = blocks_read();
        // The batch's roots' folders are opened once for it.
        let fs = RootStamps::default();
        let stamp = |j: StatJob| {
            let root = Path::new(&j.root);
            let (ih, with) = (j.info_hash, j.with_record);
            (
                ih,
                storage::files_stated(&fs, &*store, ih, root, &j.info, with),
            )
        };
        let answers = batch.into_iter().map(stamp).collect::<Vec<_>>();
        (answers, blocks_read() != blocks)
    };
    let failed = move || {
        let none = |ih| (ih, (Vec::new(), None));
        (ids.into_iter().map(none).collect::<Vec<_>>(), true)
    };
    let shard = rc.clone();
    let work = async move {
        let (answers, read) = blocking(job, "stamping files", failed).await;
        let mut s = shard.borrow_mut();
        let s = &mut *s;
        s.stamping.finished(read);
        start_waiting(&shard, &mut s.stamping, &s.store);
        answers
    };
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

/// Blocks this thread has read from disks so far (`ru_inblock`; 0 where the
/// kernel will not say).
fn blocks_read() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a live, zeroed `rusage` the kernel fills for the
    // calling thread; it is read only when the call succeeds.
    let r = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
    if r != 0 {
        return 0;
    }
    // SAFETY: filled by the successful call above (and zeroed before it).
    unsafe { usage.assume_init() }.ru_inblock
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_several_at_once_while_they_read_the_disk_and_one_at_a_time_after() {
        let mut st = Stamping::default();
        assert_eq!(st.limit, MOST_RUNNING, "until a job has shown the disk");
        st.running = 2;
        for _ in 1..WARM_AFTER {
            st.finished(false);
            assert_eq!(st.limit, MOST_RUNNING);
        }
        st.finished(false);
        assert_eq!(
            st.limit, 1,
            "warm after {WARM_AFTER} jobs that read nothing"
        );
        assert_eq!(st.running, 0, "never below none");
        st.finished(true);
        assert_eq!(
            st.limit, MOST_RUNNING,
            "one job that read brings the others back"
        );
        st.finished(false);
        assert_eq!(st.limit, MOST_RUNNING, "and the count starts again");
    }

    #[test]
    fn a_thread_that_reads_nothing_counts_no_blocks() {
        let before = blocks_read();
        let x: u64 = (0..1000u64).sum();
        assert_eq!(x, 499_500);
        assert_eq!(blocks_read(), before);
    }
}
