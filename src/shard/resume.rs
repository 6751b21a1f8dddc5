//! The shard's resume writer: the ordered queue of saves, metadata writes and
//! deletions, carried out on the blocking pool.

use super::*;

/// Work for a shard's resume writer, kept in the order the core asked for it: a
/// torrent's records are deleted only after every save asked for before its
/// removal, and a re-added torrent's metadata after its deletion.
pub(crate) enum ResumeJob {
    /// A resume save (the durability rule: sync, stamp, commit).
    Save {
        id: u64,
        saves: Vec<ResumeSave>,
        clocks: Vec<(InfoHash, crate::core::ClockSecs)>,
    },
    /// One store operation (a torrent's metadata, its layout record).
    Op(StoreOp),
    /// Read a torrent's metadata back: answered with `Event::MetaLoaded`, after
    /// every write queued before it.
    Load(InfoHash),
    /// Delete every key of a torrent.
    Forget(InfoHash),
}

/// What wakes a shard's resume writer. Each wake makes it take every job queued
/// so far (`Shard::resume_jobs`), so wakes never carry work themselves.
pub(crate) enum Wake {
    /// Jobs are waiting.
    Work,
    /// Answer once every job queued before this is done (the engine's flush).
    Flush(flume::Sender<()>),
}

/// The shard's resume writer: at each wake, takes every queued job and carries
/// them out in order on the blocking pool. Metadata writes and deletions between
/// two saves go in one transaction.
///
/// A flush also waits for piece writes in flight (2 s at most) and saves what they
/// add, so that what is on disk when the engine stops is what its records say.
pub(crate) async fn resume_writer(rc: ShardRc, store: SharedStore, wakes: flume::Receiver<Wake>) {
    while let Ok(wake) = wakes.recv_async().await {
        run_resume_jobs(&rc, &store).await;
        let Wake::Flush(done) = wake else {
            continue;
        };
        #[allow(clippy::disallowed_methods)] // a bound on the wait, not the core's time
        let start = std::time::Instant::now();
        loop {
            let mut writing = 0;
            with_shard(&rc, |c, _, _| writing = c.writes_in_flight());
            if writing == 0 || start.elapsed() > Duration::from_secs(2) {
                break;
            }
            compio::time::sleep(Duration::from_millis(10)).await;
            with_shard(&rc, |c, _, out| c.save_changed(out));
            run_resume_jobs(&rc, &store).await;
        }
        if done.send(()).is_err() {
            tracing::debug!("flush done, but nobody waits for it any more");
        }
    }
}

/// Carries out every queued resume job, in order.
pub(crate) async fn run_resume_jobs(rc: &ShardRc, store: &SharedStore) {
    let jobs = std::mem::take(&mut rc.borrow_mut().resume_jobs);
    let mut ops = Vec::new();
    for job in jobs {
        match job {
            ResumeJob::Op(op) => ops.push(op),
            ResumeJob::Load(ih) => {
                commit(store, std::mem::take(&mut ops)).await;
                let store = store.clone();
                let read = move || store.get(&meta_key(ih)).map_err(|e| e.to_string());
                let result = compio::runtime::spawn_blocking(read)
                    .await
                    .unwrap_or_else(|_| Err("the read thread panicked".into()));
                with_shard(rc, |c, now, out| {
                    let ev = Event::MetaLoaded {
                        info_hash: ih,
                        result,
                    };
                    c.on_event(now, ev, out);
                });
            }
            ResumeJob::Forget(ih) => ops.extend(forget_ops(ih)),
            ResumeJob::Save { id, saves, clocks } => {
                commit(store, std::mem::take(&mut ops)).await;
                let n = saves.len() + clocks.len();
                let store = store.clone();
                let work = move || storage::save_resume(&mut RealFiles, &*store, saves, &clocks);
                let result = compio::runtime::spawn_blocking(work)
                    .await
                    .unwrap_or_else(|_| Err(DiskError("the save thread panicked".into())));
                match &result {
                    Ok(()) => tracing::debug!(id, torrents = n, "resume data saved"),
                    Err(e) => tracing::warn!(id, error = %e, "resume save failed: retried"),
                }
                with_shard(rc, |c, now, out| {
                    c.on_event(now, Event::ResumeSaved { id, result }, out);
                });
            }
        }
    }
    commit(store, ops).await;
}

/// Commits metadata writes and deletions in one transaction. A failure is logged:
/// a lost metadata write costs a magnet its metadata fetch again after a restart,
/// a lost deletion brings a removed torrent back at the next start.
pub(crate) async fn commit(store: &SharedStore, ops: Vec<StoreOp>) {
    if ops.is_empty() {
        return;
    }
    let store = store.clone();
    let n = ops.len();
    match compio::runtime::spawn_blocking(move || store.apply(ops)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "session store: {n} metadata changes lost"),
        Err(_) => tracing::error!("session store: the commit thread panicked"),
    }
}
