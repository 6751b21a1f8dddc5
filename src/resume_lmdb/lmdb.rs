//! [`LmdbSessionStore`]: the session store on LMDB (heed).
//!
//! - One writer thread (`sr-resume`): every `set`/`delete`/`clear` goes to it; it
//!   applies everything queued so far in one write transaction, commits, then
//!   answers each caller. Many small saves cost one commit.
//! - Safe defaults: LMDB's default flags, so a commit is on disk when it returns (no
//!   `WRITE_MAP | MAP_ASYNC`, which can corrupt the file on power loss).
//! - Map-size growth: the map starts at 64 MiB and doubles when a transaction fills
//!   it. LMDB forbids resizing while any transaction is open in the process, so
//!   readers hold a shared gate for the length of their transaction and the writer
//!   takes it exclusively to resize.
//! - One environment per path per process: opening a path twice is an error, not
//!   undefined behaviour.
//! - Scans (`scan_page`) read the data file's pages of their read transaction
//!   with `pread` (`file_scan`), and go through LMDB's cursor only when the
//!   file cannot be read that way; single reads and writes go through LMDB.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use heed::types::Bytes;
use heed::{Database, Env, EnvOpenOptions, WithTls};

use super::file_scan::{self, Unreadable, Wanted};
use super::{Page, SessionStore, StoreError, StoreOp};

type Db = Database<Bytes, Bytes>;

/// An operation and where to send its outcome.
type Job = (Op, flume::Sender<Result<(), StoreError>>);

enum Op {
    Set(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Clear,
    /// All of them or none (a nested transaction inside the writer's batch).
    Batch(Vec<StoreOp>),
}

struct Shared {
    env: Env<WithTls>,
    db: Db,
    /// Readers hold it shared during a transaction; the writer exclusively to resize.
    gate: RwLock<()>,
    path: PathBuf,
    /// Where the data file is mapped, once looked up; forgotten when the map
    /// is resized (under the gate, so no reader is using it then).
    map: Mutex<Option<(usize, usize)>>,
    /// Single-record reads since the map's pages were last released.
    gets: AtomicUsize,
    /// The data file, open for the scans that read it with `pread`
    /// (`file_scan`); `None` if it could not be opened.
    data: Option<std::fs::File>,
    /// A scan had to go through the map instead (said once).
    file_scan_refused: AtomicBool,
}

/// The LMDB session store.
pub struct LmdbSessionStore {
    shared: Arc<Shared>,
    ops: Option<flume::Sender<Job>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for LmdbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LmdbSessionStore({})", self.shared.path.display())
    }
}

/// Paths with an environment open in this process.
static OPEN: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

const INITIAL_MAP: usize = 64 << 20;

/// The named tree that holds every record.
const DB_NAME: &str = "session";

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

impl LmdbSessionStore {
    /// Opens (creating it if needed) the store in folder `dir`.
    pub fn open(dir: &Path) -> Result<LmdbSessionStore, StoreError> {
        Self::open_with_map_size(dir, INITIAL_MAP)
    }

    fn open_with_map_size(dir: &Path, map_size: usize) -> Result<LmdbSessionStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        let path = std::fs::canonicalize(dir).map_err(err)?;
        {
            let mut open = OPEN.lock().map_err(err)?;
            let set = open.get_or_insert_with(HashSet::new);
            if !set.insert(path.clone()) {
                return Err(StoreError(format!(
                    "{} is already open in this process",
                    path.display()
                )));
            }
        }
        let opened = (|| {
            let mut opts = EnvOpenOptions::new();
            // Reader slots: each thread that reads holds one while it lives
            // (LMDB's default is 126); a restart's comparisons read records
            // from up to 32 blocking threads per shard at once.
            opts.map_size(map_size).max_dbs(1).max_readers(1024);
            // SAFETY: LMDB requires that an environment is opened at most once per
            // process; the OPEN registry above refuses a second open of this path
            // until the first store is dropped.
            let env = unsafe { opts.open(&path) }.map_err(err)?;
            let mut wtxn = env.write_txn().map_err(err)?;
            let db: Db = env.create_database(&mut wtxn, Some(DB_NAME)).map_err(err)?;
            wtxn.commit().map_err(err)?;
            Ok::<_, StoreError>((env, db))
        })();
        let (env, db) = match opened {
            Ok(x) => x,
            Err(e) => {
                Self::release(&path);
                return Err(e);
            }
        };
        let data = match std::fs::File::open(path.join("data.mdb")) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::info!(error = %e, "the store's data file could not be opened for reading: scans go through the map");
                None
            }
        };
        let shared = Arc::new(Shared {
            env,
            db,
            gate: RwLock::new(()),
            path,
            map: Mutex::new(None),
            gets: AtomicUsize::new(0),
            data,
            file_scan_refused: AtomicBool::new(false),
        });
        // Every caller waits for its own reply, so at most one job per writing
        // thread waits here; a caller that finds the queue full (one transaction's
        // worth) waits for room as it would wait for its reply.
        let (tx, rx) = flume::bounded::<Job>(MAX_BATCH);
        let s2 = shared.clone();
        let writer = std::thread::Builder::new()
            .name("sr-resume".into())
            .spawn(move || writer_loop(&s2, &rx, map_size))
            .map_err(err)?;
        Ok(LmdbSessionStore {
            shared,
            ops: Some(tx),
            writer: Some(writer),
        })
    }

    fn release(path: &Path) {
        if let Ok(mut open) = OPEN.lock()
            && let Some(set) = open.as_mut()
        {
            set.remove(path);
        }
    }

    fn write(&self, op: Op) -> Result<(), StoreError> {
        let (tx, rx) = flume::bounded(1);
        self.ops
            .as_ref()
            .ok_or_else(|| err("store closed"))?
            .send((op, tx))
            .map_err(|_| err("the writer thread stopped"))?;
        rx.recv().map_err(|_| err("the writer thread stopped"))?
    }
}

impl Drop for LmdbSessionStore {
    fn drop(&mut self) {
        self.ops.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        Self::release(&self.shared.path);
    }
}

/// Jobs applied in one transaction at most (and waiting at most).
const MAX_BATCH: usize = 4096;

/// Applies every queued operation in one transaction; grows the map when full.
fn writer_loop(s: &Shared, rx: &flume::Receiver<Job>, mut map_size: usize) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let result = loop {
            match apply(s, &batch) {
                Err(heed::Error::Mdb(heed::MdbError::MapFull)) => {
                    map_size = map_size.saturating_mul(2);
                    let _gate = s.gate.write();
                    // SAFETY: no transaction is open: readers hold the gate for the
                    // length of theirs and this thread owns every write transaction
                    // (the failed one was dropped, aborting it, before this point).
                    let resized = unsafe { s.env.resize(map_size) };
                    forget_map(s);
                    if let Err(e) = resized {
                        break Err(err(e));
                    }
                }
                other => break other.map_err(err),
            }
        };
        // What the transaction read stays mapped otherwise (see `release_map`).
        release_map(s);
        for (_, reply) in batch {
            let _ = reply.send(result.clone());
        }
    }
}

fn apply(s: &Shared, batch: &[Job]) -> Result<(), heed::Error> {
    let _gate = s.gate.read();
    let mut wtxn = s.env.write_txn()?;
    for (op, _) in batch {
        match op {
            Op::Set(k, v) => s.db.put(&mut wtxn, k, v)?,
            Op::Delete(k) => {
                s.db.delete(&mut wtxn, k)?;
            }
            Op::Clear => s.db.clear(&mut wtxn)?,
            Op::Batch(ops) => {
                for op in ops {
                    match op {
                        StoreOp::Set(k, v) => s.db.put(&mut wtxn, k, v)?,
                        StoreOp::Delete(k) => {
                            s.db.delete(&mut wtxn, k)?;
                        }
                        StoreOp::DeletePrefix(p) => {
                            // An empty prefix cannot position a cursor: that is everything.
                            if p.is_empty() {
                                s.db.clear(&mut wtxn)?;
                                continue;
                            }
                            let doomed =
                                s.db.prefix_iter(&wtxn, p)?
                                    .map(|item| item.map(|(k, _)| k.to_vec()))
                                    .collect::<Result<Vec<_>, _>>()?;
                            for k in doomed {
                                s.db.delete(&mut wtxn, &k)?;
                            }
                        }
                    }
                }
            }
        }
    }
    wtxn.commit()
}

impl SessionStore for LmdbSessionStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let _gate = self.shared.gate.read().map_err(err)?;
        let rtxn = self.shared.env.read_txn().map_err(err)?;
        let value = (self.shared.db.get(&rtxn, key).map_err(err)?).map(<[u8]>::to_vec);
        // A restart compares restored torrents' files from many threads, each
        // reading records one at a time: their pages are let go every so often
        // too, while the gate is still held.
        if self.shared.gets.fetch_add(1, Ordering::Relaxed) % RELEASE_EVERY == RELEASE_EVERY - 1 {
            release_map(&self.shared);
        }
        Ok(value)
    }

    fn set(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.write(Op::Set(key.to_vec(), value.to_vec()))
    }

    fn delete(&self, key: &[u8]) -> Result<(), StoreError> {
        self.write(Op::Delete(key.to_vec()))
    }

    fn keys(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
        let _gate = self.shared.gate.read().map_err(err)?;
        let rtxn = self.shared.env.read_txn().map_err(err)?;
        let mut out = Vec::new();
        // LMDB cannot position a cursor on an empty key: no prefix means everything.
        if prefix.is_empty() {
            for item in self.shared.db.iter(&rtxn).map_err(err)? {
                out.push(item.map_err(err)?.0.to_vec());
            }
        } else {
            for item in self.shared.db.prefix_iter(&rtxn, prefix).map_err(err)? {
                out.push(item.map_err(err)?.0.to_vec());
            }
        }
        Ok(out)
    }

    fn clear(&self) -> Result<(), StoreError> {
        self.write(Op::Clear)
    }

    fn scan_page(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
        keep: &dyn Fn(&[u8]) -> bool,
        page: &mut Page,
    ) -> Result<(), StoreError> {
        let _gate = self.shared.gate.read().map_err(err)?;
        let rtxn = self.shared.env.read_txn().map_err(err)?;
        let want = Wanted {
            prefix,
            from,
            limit,
            keep,
        };
        match self.scan_file(&rtxn, &want, page) {
            Some(Ok(())) => Ok(()),
            Some(Err(why)) => {
                if !self.shared.file_scan_refused.swap(true, Ordering::Relaxed) {
                    tracing::info!(why = %why.0, "the store's data file could not be scanned with reads: this scan and the next that fail go through the map");
                }
                self.scan_map(&rtxn, &want, page)
            }
            None => self.scan_map(&rtxn, &want, page),
        }
    }

    fn apply(&self, ops: Vec<StoreOp>) -> Result<(), StoreError> {
        self.write(Op::Batch(ops))
    }
}

impl LmdbSessionStore {
    /// A scan by reading the data file (see `file_scan`), of `rtxn`'s
    /// snapshot; `None` when the file is not open.
    fn scan_file(
        &self,
        rtxn: &heed::RoTxn<'_, WithTls>,
        want: &Wanted<'_>,
        page: &mut Page,
    ) -> Option<Result<(), Unreadable>> {
        let file = self.shared.data.as_ref()?;
        let txnid = rtxn.id() as u64;
        Some(file_scan::scan(file, txnid, DB_NAME.as_bytes(), want, page))
    }

    /// The same scan both ways, and the read transaction's id (for
    /// `file_scan`'s tests).
    #[cfg(test)]
    pub(super) fn scan_both_ways(
        &self,
        want: &Wanted<'_>,
    ) -> (Result<Page, Unreadable>, Page, u64) {
        let _gate = self.shared.gate.read().unwrap();
        let rtxn = self.shared.env.read_txn().unwrap();
        let mut by_file = Page::default();
        let file = self.scan_file(&rtxn, want, &mut by_file);
        let mut by_map = Page::default();
        self.scan_map(&rtxn, want, &mut by_map).unwrap();
        let file = file.expect("the data file is open").map(|()| by_file);
        (file, by_map, rtxn.id() as u64)
    }

    /// A scan through LMDB's cursor, on its map.
    fn scan_map(
        &self,
        rtxn: &heed::RoTxn<'_, WithTls>,
        want: &Wanted<'_>,
        page: &mut Page,
    ) -> Result<(), StoreError> {
        use std::ops::Bound;
        let Wanted {
            prefix,
            from,
            limit,
            keep,
        } = *want;
        page.clear();
        let from = from.max(prefix);
        // LMDB takes no empty key: from the start, the range is open.
        let start = if from.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Included(from)
        };
        let range: (Bound<&[u8]>, Bound<&[u8]>) = (start, Bound::Unbounded);
        let iter = self.shared.db.range(rtxn, &range).map_err(err)?;
        for (n, item) in iter.enumerate() {
            // A value is a pointer into the map until it is copied: skipped ones
            // are never read.
            let (k, v) = item.map_err(err)?;
            if !k.starts_with(prefix) || page.len() == limit {
                break;
            }
            if keep(k) {
                page.push(k, v);
            }
            if n % RELEASE_EVERY == RELEASE_EVERY - 1 {
                release_map(&self.shared);
            }
        }
        release_map(&self.shared);
        Ok(())
    }
}

/// Records read between two releases of the map's pages (per scan, and
/// across all single reads): each read may map 64 KiB (see `release_map`),
/// so about 32 MiB at most are mapped between two releases.
const RELEASE_EVERY: usize = 512;

/// Drops this process's mapping of the data file's pages (they stay in the page
/// cache). Reading or writing a record faults in its page and, through the
/// kernel's fault-around, up to 64 KiB of neighbours already cached (other
/// torrents' metadata): a restart of 100,000 torrents, or a save of all their
/// records, otherwise kept over a gigabyte of the file resident in the process.
///
/// Only the writer thread, or a reader holding the gate (so that no resize can
/// move the map meanwhile), calls it.
fn release_map(s: &Shared) {
    let Some((start, end)) = mapped(s) else {
        return;
    };
    // SAFETY: the range is LMDB's map of the data file as the kernel listed it
    // after the store opened or last resized it (`mapped`: a resize forgets
    // the range, under the exclusive gate), and it cannot move before the
    // call: the caller is the writer (the only thread that resizes) or holds
    // the gate that resizing waits for. It is
    // a read-only shared file mapping (the store never sets WRITEMAP): dropping
    // its pages discards nothing, the next access faults the same file bytes in
    // again, and LMDB never rewrites a page a live read transaction can see.
    let r = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    if r != 0 {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "madvise(DONTNEED) on the store's map refused; its pages stay resident"
        );
    }
}

/// Where the data file is mapped: looked up once, and again after a resize.
/// Same callers as `release_map`.
fn mapped(s: &Shared) -> Option<(usize, usize)> {
    let mut known = s.map.lock().ok()?;
    if known.is_none() {
        *known = map_range(&s.path.join("data.mdb"));
    }
    *known
}

/// The map moved or grew: the next release looks it up again. Called by the
/// writer while it holds the gate exclusively.
fn forget_map(s: &Shared) {
    if let Ok(mut known) = s.map.lock() {
        *known = None;
    }
}

/// Where `file` is mapped in this process (`/proc/self/maps`), if it is.
fn map_range(file: &Path) -> Option<(usize, usize)> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let want = file.to_str()?;
    maps.lines().find_map(|line| {
        let mut f = line.split_whitespace();
        let range = f.next()?;
        if f.nth(4)? != want {
            return None;
        }
        let (a, b) = range.split_once('-')?;
        Some((
            usize::from_str_radix(a, 16).ok()?,
            usize::from_str_radix(b, 16).ok()?,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_persist_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = LmdbSessionStore::open(dir.path()).unwrap();
            s.set(b"torrent:aa:meta", b"info").unwrap();
            s.set(b"torrent:aa:state", b"bits").unwrap();
            s.set(b"settings:port", b"6881").unwrap();
            s.delete(b"torrent:aa:state").unwrap();
            assert_eq!(
                s.keys(b"torrent:").unwrap(),
                vec![b"torrent:aa:meta".to_vec()]
            );
            // The same folder cannot be opened twice at once.
            assert!(LmdbSessionStore::open(dir.path()).is_err());
        }
        let s = LmdbSessionStore::open(dir.path()).unwrap();
        assert_eq!(
            s.get(b"torrent:aa:meta").unwrap().as_deref(),
            Some(&b"info"[..])
        );
        assert_eq!(s.get(b"torrent:aa:state").unwrap(), None);
        s.clear().unwrap();
        assert!(s.keys(b"").unwrap().is_empty());
    }

    #[test]
    fn concurrent_writers_are_batched_and_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(LmdbSessionStore::open(dir.path()).unwrap());
        std::thread::scope(|sc| {
            for t in 0..4 {
                let s = s.clone();
                sc.spawn(move || {
                    for i in 0..250 {
                        s.set(format!("k:{t}:{i:03}").as_bytes(), &[t; 100])
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(s.keys(b"k:").unwrap().len(), 1000);
        assert_eq!(s.get(b"k:3:249").unwrap(), Some(vec![3; 100]));
    }

    #[test]
    fn batches_apply_whole_and_scan_reads_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let s = LmdbSessionStore::open(dir.path()).unwrap();
        s.apply(vec![
            StoreOp::Set(b"torrent:aa:meta".to_vec(), b"m".to_vec()),
            StoreOp::Set(b"torrent:aa:state".to_vec(), b"s".to_vec()),
            StoreOp::Set(b"torrent:ab:state".to_vec(), b"t".to_vec()),
            StoreOp::Set(b"settings:x".to_vec(), b"1".to_vec()),
        ])
        .unwrap();
        assert_eq!(
            s.scan(b"torrent:aa:").unwrap(),
            vec![
                (b"torrent:aa:meta".to_vec(), b"m".to_vec()),
                (b"torrent:aa:state".to_vec(), b"s".to_vec())
            ]
        );
        s.apply(vec![
            StoreOp::DeletePrefix(b"torrent:aa:".to_vec()),
            StoreOp::Delete(b"settings:x".to_vec()),
        ])
        .unwrap();
        assert_eq!(s.keys(b"").unwrap(), vec![b"torrent:ab:state".to_vec()]);
        assert_eq!(s.scan(b"").unwrap().len(), 1);
    }

    /// Pages read from a key on, keep only what the filter keeps, stop at
    /// the limit and at the prefix's end: the same from LMDB and from memory.
    #[test]
    fn pages_start_at_a_key_and_stop_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let lmdb = LmdbSessionStore::open(dir.path()).unwrap();
        let memory = crate::resume_lmdb::MemorySessionStore::default();
        let stores: [&dyn SessionStore; 2] = [&lmdb, &memory];
        for s in stores {
            let mut ops: Vec<StoreOp> = [
                "a:1",
                "t:1:meta",
                "t:1:state",
                "t:2:layout",
                "t:2:meta",
                "t:3:state",
                "u:1",
            ]
            .iter()
            .map(|k| StoreOp::Set(k.as_bytes().to_vec(), b"v".to_vec()))
            .collect();
            ops.reverse();
            s.apply(ops).unwrap();
            let no_meta = |k: &[u8]| !k.ends_with(b":meta");
            let mut page = Page::default();
            let mut keys = |from: &[u8], limit| -> Vec<String> {
                s.scan_page(b"t:", from, limit, &no_meta, &mut page)
                    .unwrap();
                page.iter()
                    .map(|(k, _)| String::from_utf8(k.to_vec()).unwrap())
                    .collect()
            };
            assert_eq!(keys(b"", 2), ["t:1:state", "t:2:layout"]);
            assert_eq!(keys(b"t:2:layout\0", 2), ["t:3:state"]);
            assert_eq!(keys(b"t:2", 9), ["t:2:layout", "t:3:state"]);
            assert_eq!(keys(b"t:9", 9), Vec::<String>::new());
            let mut page = Page::default();
            s.scan_page(b"", b"", 3, &|_| true, &mut page).unwrap();
            assert_eq!(page.len(), 3);
        }
    }

    #[test]
    fn the_map_grows_when_full() {
        let dir = tempfile::tempdir().unwrap();
        let s = LmdbSessionStore::open_with_map_size(dir.path(), 1 << 20).unwrap();
        // 8 MiB of values into a 1 MiB map.
        for i in 0..128 {
            s.set(format!("big:{i:03}").as_bytes(), &vec![7u8; 64 * 1024])
                .unwrap();
        }
        assert_eq!(s.keys(b"big:").unwrap().len(), 128);
        assert_eq!(s.get(b"big:127").unwrap().unwrap().len(), 64 * 1024);
        // The map moved or grew: the range its pages are released over is
        // the one the kernel lists now, not the first one.
        for i in 0..RELEASE_EVERY {
            s.get(format!("big:{:03}", i % 128).as_bytes()).unwrap();
        }
        let now = map_range(&s.shared.path.join("data.mdb")).expect("mapped");
        assert!(now.1 - now.0 >= 8 << 20, "{now:?}");
        assert_eq!(mapped(&s.shared), Some(now));
    }
}
