//! Writing verified pieces to their files: `pwrite` on compio's blocking pool,
//! whatever the runtime, a batch of pieces to a job.
//!
//! Why the pool: measured (`cargo bench --bench disk_uring`, 64 MiB of 1 MiB
//! pieces into the page cache), io_uring `write_at` 1.66 GiB/s, `pwrite` on
//! the pool 6.3 GiB/s, plain `pwrite` 9.45 GiB/s. Buffered writes through the
//! ring are punted to kernel workers, so the pool wins, and the shard thread
//! never waits on the disk.
//!
//! Why batches: a hash pass releases up to sixteen pieces of one torrent at
//! once. One job a piece woke as many pool threads, each opened the file, and
//! they all wrote it together; ext4 takes the file's inode lock for every
//! buffered write, so they queued on it and spun (`rwsem_spin_on_owner`, 3.6%
//! of a warm download's samples, 8.8% of a cold one's). The shard keeps one
//! batch of a torrent in flight at a time (its write lanes), and a batch opens
//! each file once.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::beneath::{Access, Beneath};
use super::io::file_path;
use crate::core::DiskError;
use crate::metainfo::Info;

/// How verified pieces reach their files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// Through the page cache, written back by the kernel later: a piece
    /// just downloaded is served to other peers from memory (what a seedbox
    /// racing a new torrent wants; qBittorrent's default too).
    #[default]
    Cached,
    /// Around the page cache (`O_DIRECT`) where the filesystem allows it, the
    /// unaligned edges of a file and filesystems without direct IO through
    /// it: a download neither fills memory with pages (nor a memory cgroup's
    /// limit with dirty ones) nor pays to make them, and runs at the disk's
    /// speed; a piece a peer asks for is read back from the disk.
    Direct,
}

/// One verified piece to write, and where.
pub struct PieceWrite {
    /// The storage root of its torrent.
    pub root: Arc<Path>,
    /// The root is there by its marker file (see [`crate::storage::root_available`]).
    pub marked: bool,
    /// Its torrent.
    pub info: Arc<Info>,
    /// Which piece.
    pub piece: u32,
    /// Its bytes, hash-checked.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for PieceWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PieceWrite")
            .field("root", &self.root)
            .field("piece", &self.piece)
            .field("bytes", &self.data.len())
            .finish_non_exhaustive()
    }
}

/// Writes `batch` in order in one job on the blocking pool; the outcome of
/// each piece, by its index, in the same order.
pub async fn write_pieces(
    batch: Vec<PieceWrite>,
    mode: WriteMode,
) -> Vec<(u32, Result<(), DiskError>)> {
    let pieces: Vec<u32> = batch.iter().map(|w| w.piece).collect();
    let job = move || {
        let mut open = OpenFiles {
            direct: mode == WriteMode::Direct,
            ..OpenFiles::default()
        };
        let done = batch.into_iter().map(|w| {
            let result = open.write(&w);
            let result = result.map_err(|e| DiskError(format!("writing piece {}: {e}", w.piece)));
            (w.piece, result)
        });
        done.collect::<Vec<_>>()
    };
    match compio::runtime::spawn_blocking(job).await {
        Ok(done) => done,
        Err(_) => {
            tracing::error!("a piece write panicked");
            let failed = |p| (p, Err(DiskError("the write thread panicked".into())));
            pieces.into_iter().map(failed).collect()
        }
    }
}

/// Most files one batch keeps open (the oldest is closed first).
const MAX_OPEN: usize = 16;

/// What direct IO asks of offsets, lengths and memory: 4 KiB covers disks
/// of 512-byte and of 4 KiB sectors.
const ALIGN: usize = 4096;

/// Most bytes one direct write carries: the size of a batch's aligned copy
/// buffer.
const CHUNK: usize = 1 << 20;

/// An open file of a batch, and whether it writes around the page cache.
struct Open {
    path: PathBuf,
    file: File,
    /// The filesystem took `O_DIRECT` for it.
    direct: bool,
    /// `O_DIRECT` is set on it now (it is cleared for unaligned parts).
    direct_now: bool,
}

/// The roots and files one batch has opened: its pieces mostly fall in one
/// file.
#[derive(Default)]
struct OpenFiles {
    roots: Vec<(Arc<Path>, Beneath)>,
    files: Vec<Open>,
    /// Direct IO is wanted ([`WriteMode::Direct`]).
    direct: bool,
    /// The aligned copy buffer of direct writes: made on the batch's first
    /// one, at most [`CHUNK`] and the room to align it.
    scratch: Vec<u8>,
}

impl OpenFiles {
    /// Writes one piece to the files it spans; pad files are skipped.
    fn write(&mut self, w: &PieceWrite) -> io::Result<()> {
        let mut pos = 0usize;
        for span in w.info.geometry.piece_spans(w.piece) {
            let len = span.len as usize;
            if w.info.files[span.file].is_stored() {
                let path = file_path(&w.root, &w.info, span.file);
                let named =
                    |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
                let i = self.file(&w.root, w.marked, &path).map_err(named)?;
                let (open, scratch) = (&mut self.files[i], &mut self.scratch);
                write_span(open, scratch, &w.data[pos..pos + len], span.file_offset)
                    .map_err(named)?;
            }
            pos += len;
        }
        Ok(())
    }

    /// The index in `files` of the file at `path` under `root`, opened (and
    /// made, with its folders) from the root: no symlink inside it leads a
    /// write out.
    fn file(&mut self, root: &Arc<Path>, marked: bool, path: &Path) -> io::Result<usize> {
        if let Some(i) = self.files.iter().position(|o| o.path == path) {
            return Ok(i);
        }
        let r = match self.roots.iter().position(|(r, _)| r == root) {
            Some(r) => r,
            None => {
                self.roots.push((root.clone(), Beneath::new(root)?));
                self.roots.len() - 1
            }
        };
        let beneath = &self.roots[r].1;
        let rel = Beneath::relative(root, path)?;
        let file = match beneath.open(rel, Access::WriteCreate) {
            // Folders are recreated only inside a root that is there: never into
            // the empty mount point of an unmounted disk.
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    && crate::storage::root_available(&super::RealFiles, root, marked) =>
            {
                if let Some(parent) = rel.parent() {
                    beneath.create_dirs(parent)?;
                }
                beneath.open(rel, Access::WriteCreate)?
            }
            other => other?,
        };
        if self.files.len() >= MAX_OPEN {
            self.files.remove(0);
        }
        // A filesystem without direct IO refuses the flag: the page cache, then.
        let direct = self.direct
            && set_direct(&file, true)
                .inspect_err(|e| refused(path, e))
                .is_ok();
        self.files.push(Open {
            path: path.to_path_buf(),
            file,
            direct,
            direct_now: direct,
        });
        Ok(self.files.len() - 1)
    }
}

/// Says, once in the process's life, that a filesystem refused direct IO:
/// its files' writes go through the page cache (one line, not one a batch).
fn refused(path: &Path, why: &io::Error) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::info!(path = %path.display(), error = %why, "direct writes refused here: this filesystem's writes go through the page cache (logged once)");
    }
}

/// Sets or clears `O_DIRECT` on `file`.
fn set_direct(file: &File, on: bool) -> io::Result<()> {
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    let flags = fcntl_getfl(file)?;
    let flags = if on {
        flags | OFlags::DIRECT
    } else {
        flags - OFlags::DIRECT
    };
    Ok(fcntl_setfl(file, flags)?)
}

/// Writes `data` at `at` of `open`: the whole 4 KiB blocks around the page
/// cache where the file allows it, through an aligned copy; the unaligned
/// head and tail (a file that starts or ends inside a block) through the page
/// cache. A direct write the filesystem refuses after all turns the file to
/// the page cache for good.
fn write_span(open: &mut Open, scratch: &mut Vec<u8>, data: &[u8], at: u64) -> io::Result<()> {
    if !open.direct {
        return buffered(open, data, at);
    }
    // Below ALIGN, so it fits.
    let into_block = usize::try_from(at % ALIGN as u64).unwrap_or(0);
    let head = ((ALIGN - into_block) % ALIGN).min(data.len());
    let body = (data.len() - head) / ALIGN * ALIGN;
    buffered(open, &data[..head], at)?;
    let mut done = head;
    while done < head + body {
        let n = CHUNK.min(head + body - done);
        let wrote = direct(open, scratch, &data[done..done + n], at + done as u64)?;
        if wrote < n {
            // Short (a full disk, a signal): the rest through the page cache,
            // which tells why it stops.
            buffered(
                open,
                &data[done + wrote..done + n],
                at + (done + wrote) as u64,
            )?;
        }
        done += n;
    }
    buffered(open, &data[done..], at + done as u64)
}

/// One write through the page cache (`O_DIRECT` cleared first if set).
fn buffered(open: &mut Open, data: &[u8], at: u64) -> io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    if open.direct_now {
        set_direct(&open.file, false)?;
        open.direct_now = false;
    }
    open.file.write_all_at(data, at)
}

/// One direct write of whole blocks (at most [`CHUNK`]) from the batch's
/// aligned buffer; how many bytes went.
fn direct(open: &mut Open, scratch: &mut Vec<u8>, data: &[u8], at: u64) -> io::Result<usize> {
    if !open.direct_now {
        set_direct(&open.file, true)?;
        open.direct_now = true;
    }
    if scratch.len() < CHUNK + ALIGN {
        scratch.resize(CHUNK + ALIGN, 0);
    }
    let start = scratch.as_ptr().align_offset(ALIGN);
    let aligned = &mut scratch[start..start + data.len()];
    aligned.copy_from_slice(data);
    match open.file.write_at(aligned, at) {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            refused(&open.path, &e);
            open.direct = false;
            buffered(open, data, at).map(|()| data.len())
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// The two-file fixture under a fresh root, and a maker of its pieces'
    /// writes.
    struct Fixture {
        dir: tempfile::TempDir,
        data: Vec<u8>,
        info: Arc<Info>,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let data: Vec<u8> = (0..100_000u32).map(|i| i.to_le_bytes()[0]).collect();
            let info = Arc::new(super::super::fixture::two_files(&data));
            crate::storage::init_root(&mut super::super::RealFiles, dir.path(), "t").unwrap();
            Fixture { dir, data, info }
        }

        fn piece(&self, p: u32) -> PieceWrite {
            let s = p as usize * 32768;
            let e = (s + 32768).min(self.data.len());
            PieceWrite {
                root: self.dir.path().into(),
                marked: true,
                info: self.info.clone(),
                piece: p,
                data: self.data[s..e].to_vec(),
            }
        }

        fn on_disk(&self) -> Vec<u8> {
            let mut all = std::fs::read(self.dir.path().join("t/a")).unwrap();
            all.extend(std::fs::read(self.dir.path().join("t/sub/b")).unwrap());
            all
        }
    }

    /// Both modes write the same bytes, pieces across a file boundary in any
    /// order, with files that start and end inside a 4 KiB block (`t/a` is
    /// 40,000 bytes); the direct one leaves the whole blocks out of the page
    /// cache, the cached one in it.
    #[test]
    fn both_modes_write_the_same_bytes_and_direct_skips_the_cache() {
        let rt = compio::runtime::Runtime::new().unwrap();
        for mode in [WriteMode::Direct, WriteMode::Cached] {
            let f = Fixture::new();
            let batch = vec![f.piece(3), f.piece(1), f.piece(0), f.piece(2)];
            let done = rt.block_on(write_pieces(batch, mode));
            let order: Vec<u32> = done.iter().map(|(p, _)| *p).collect();
            assert_eq!(order, [3, 1, 0, 2]);
            assert!(done.iter().all(|(_, r)| r.is_ok()), "{mode:?}: {done:?}");
            if crate::disk_uring::page_cache::supported() {
                let a = File::open(f.dir.path().join("t/a")).unwrap();
                let cached = crate::disk_uring::page_cache::resident(a.as_fd(), 0, 32768);
                assert_eq!(cached, mode == WriteMode::Cached, "{mode:?}");
            } else {
                eprintln!("no cachestat(2) on this kernel: page cache residency not checked");
            }
            assert!(f.on_disk() == f.data, "{mode:?}");
        }
    }

    /// A piece whose file cannot be made fails alone, its path named.
    #[test]
    fn a_batch_fails_one_piece_alone() {
        let rt = compio::runtime::Runtime::new().unwrap();
        for mode in [WriteMode::Direct, WriteMode::Cached] {
            let f = Fixture::new();
            // `t/sub` is a file: pieces of `t/sub/b` cannot be written.
            std::fs::create_dir(f.dir.path().join("t")).unwrap();
            std::fs::write(f.dir.path().join("t/sub"), b"in the way").unwrap();
            let done = rt.block_on(write_pieces(vec![f.piece(0), f.piece(2)], mode));
            assert!(done[0].1.is_ok(), "{mode:?}");
            let err = done[1].1.as_ref().unwrap_err().0.clone();
            assert!(
                err.starts_with("writing piece 2: ") && err.contains("t/sub/b"),
                "{err}"
            );
            let a = std::fs::read(f.dir.path().join("t/a")).unwrap();
            assert_eq!(a, f.data[..32768]);
        }
    }
}
