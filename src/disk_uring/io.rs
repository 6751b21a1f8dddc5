//! Piece IO through compio: io_uring when the shard's runtime has it, otherwise
//! compio's blocking-pool fallback. Runs on the shard thread, never blocks it.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use compio::buf::BufResult;
use compio::fs::{File, OpenOptions};
use compio::io::AsyncReadAtExt;

use crate::core::DiskError;
use crate::metainfo::Info;

/// Open files of one shard, at most `cap` at once (oldest closed first), so a shard
/// with thousands of torrents stays under the process's file-descriptor limit.
#[derive(Debug)]
pub struct FileCache {
    cap: usize,
    open: RefCell<HashMap<PathBuf, Rc<File>>>,
    order: RefCell<VecDeque<PathBuf>>,
    /// The file a block was last read from, by its torrent, root and index: a
    /// peer's requests mostly fall in one file, so most lookups neither build
    /// its path nor hash it. The torrent and root are held, so their addresses
    /// cannot be taken by others while this names them; the file stays open
    /// while remembered, one beyond `cap` at most.
    last: RefCell<Option<LastFile>>,
    /// Rises at every forget: an open that awaited across one is not cached
    /// (its file may be one being deleted, and a deleted file held open keeps
    /// its disk space in use).
    forgets: std::cell::Cell<u64>,
}

#[derive(Debug)]
struct LastFile {
    info: Arc<Info>,
    root: Arc<Path>,
    index: usize,
    file: Rc<File>,
}

impl FileCache {
    /// A cache holding at most `cap` open files.
    pub fn new(cap: usize) -> FileCache {
        FileCache {
            cap: cap.max(1),
            open: RefCell::new(HashMap::new()),
            order: RefCell::new(VecDeque::new()),
            last: RefCell::new(None),
            forgets: std::cell::Cell::new(0),
        }
    }

    /// Opens (creating it and its folders when `create`) or reuses a file. Files are
    /// opened read-write when they can be, else read-only (seeding data we may not
    /// write to).
    async fn get(&self, path: &Path, create: bool) -> Result<Rc<File>, DiskError> {
        if let Some(f) = self.open.borrow().get(path) {
            return Ok(f.clone());
        }
        let err = |e: std::io::Error| DiskError(format!("{}: {e}", path.display()));
        let forgets = self.forgets.get();
        let mut rw = OpenOptions::new();
        rw.read(true).write(true).create(create);
        let file = match open_kept(rw.clone(), path).await {
            Ok(f) => f,
            Err(e) if create && e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent() {
                    compio::fs::create_dir_all(parent).await.map_err(err)?;
                }
                open_kept(rw, path).await.map_err(err)?
            }
            Err(e) if !create && e.kind() == std::io::ErrorKind::PermissionDenied => {
                let mut ro = OpenOptions::new();
                ro.read(true);
                open_kept(ro, path).await.map_err(err)?
            }
            Err(e) => return Err(err(e)),
        };
        let file = Rc::new(file);
        if self.forgets.get() != forgets {
            // Used for this read alone, closed after it.
            return Ok(file);
        }
        let mut open = self.open.borrow_mut();
        let mut order = self.order.borrow_mut();
        while open.len() >= self.cap {
            let Some(old) = order.pop_front() else { break };
            open.remove(&old);
        }
        open.insert(path.to_path_buf(), file.clone());
        order.push_back(path.to_path_buf());
        Ok(file)
    }

    /// File `index` of torrent `info` under `root`, opened for reading (see
    /// [`FileCache::last`]).
    async fn get_indexed(
        &self,
        root: &Arc<Path>,
        info: &Arc<Info>,
        index: usize,
    ) -> Result<Rc<File>, DiskError> {
        if let Some(l) = &*self.last.borrow()
            && l.index == index
            && Arc::ptr_eq(&l.info, info)
            && Arc::ptr_eq(&l.root, root)
        {
            return Ok(l.file.clone());
        }
        let forgets = self.forgets.get();
        let file = self.get(&file_path(root, info, index), false).await?;
        if self.forgets.get() != forgets {
            return Ok(file);
        }
        *self.last.borrow_mut() = Some(LastFile {
            info: info.clone(),
            root: root.clone(),
            index,
            file: file.clone(),
        });
        Ok(file)
    }

    /// Forgets the open files of one torrent under `root` (before they are
    /// deleted): those under its top (its folder, or its one file), and the
    /// file last read if it lies under `root`. Other torrents' files stay open.
    pub fn forget_torrent(&self, root: &Path, info: &Info) {
        if let Some(top) = info.files.first().and_then(|f| f.path.first()) {
            self.forget(&root.join(top), root);
        }
    }

    /// Forgets every open file under `root` (before deleting or moving them).
    pub fn forget_under(&self, root: &Path) {
        self.forget(root, root);
    }

    /// Forgets the open files under `prefix`, and the file last read if its
    /// root lies under `root`.
    fn forget(&self, prefix: &Path, root: &Path) {
        self.forgets.set(self.forgets.get() + 1);
        let mut last = self.last.borrow_mut();
        if last.as_ref().is_some_and(|l| l.root.starts_with(root)) {
            *last = None;
        }
        self.open.borrow_mut().retain(|p, _| !p.starts_with(prefix));
        self.order.borrow_mut().retain(|p| !p.starts_with(prefix));
    }
}

/// Opens `path` in a task of its own, so the new descriptor is always taken:
/// a caller dropped mid-open (a peer's writer, cancelled when its connection
/// closes) would leave compio's open to finish with no one to close what it
/// opened, an open file leaked for good (a deleted one keeps its disk space).
async fn open_kept(opts: OpenOptions, path: &Path) -> std::io::Result<File> {
    let path = path.to_path_buf();
    // One answer; if the caller has gone, the file comes back with the send's
    // error and closes there.
    let (tx, rx) = flume::bounded(1);
    compio::runtime::spawn(async move {
        if let Err(flume::SendError(unwanted)) = tx.send(opts.open(&path).await) {
            drop(unwanted);
        }
    })
    .detach();
    rx.recv_async().await.unwrap_or_else(|_| {
        Err(std::io::Error::other(
            "the open's task ended without an answer",
        ))
    })
}

/// Where file `f` of `info` lives under `root` (sanitised components only).
pub fn file_path(root: &Path, info: &Info, f: usize) -> PathBuf {
    let rel = info.files[f].path.as_str();
    // One allocation, sized once; the path is its components joined by `/`.
    let mut p = PathBuf::with_capacity(root.as_os_str().len() + 1 + rel.len());
    p.push(root);
    if !rel.is_empty() {
        p.push(rel);
    }
    p
}

/// Reads `len` bytes at `offset` of piece `piece`. Pad files read as zeros; a missing
/// or short file is an error.
pub async fn read(
    cache: &FileCache,
    root: &Arc<Path>,
    info: &Arc<Info>,
    piece: u32,
    offset: u32,
    len: u32,
) -> Result<Vec<u8>, DiskError> {
    let mut out = Vec::with_capacity(len as usize);
    for span in block_spans(cache, root, info, piece, offset, len).await? {
        let Some(file) = span.file else {
            out.resize(out.len() + span.len, 0);
            continue;
        };
        let BufResult(res, buf) = file
            .read_exact_at(Vec::with_capacity(span.len), span.offset)
            .await;
        res.map_err(|e| DiskError(format!("reading piece {piece}: {e}")))?;
        out.extend_from_slice(&buf);
    }
    Ok(out)
}

/// Where one part of a block lies: `len` bytes at `offset` of an open file, or
/// of a pad file (`file: None`, zeros).
#[derive(Debug)]
pub struct FileSpan {
    pub file: Option<Rc<File>>,
    pub offset: u64,
    pub len: usize,
}

/// The files and places behind `len` bytes at `offset` of piece `piece`, each
/// file opened (or reused from the cache) for reading.
pub async fn block_spans(
    cache: &FileCache,
    root: &Arc<Path>,
    info: &Arc<Info>,
    piece: u32,
    offset: u32,
    len: u32,
) -> Result<Vec<FileSpan>, DiskError> {
    let mut spans = Vec::with_capacity(1);
    for span in info.geometry.range_spans(piece, offset, len) {
        let file = if info.files[span.file].attr.pad {
            None
        } else {
            Some(cache.get_indexed(root, info, span.file).await?)
        };
        spans.push(FileSpan {
            file,
            offset: span.file_offset,
            len: span.len as usize,
        });
    }
    Ok(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Open descriptors of this process on `path`.
    fn opened(path: &Path) -> usize {
        let fds = std::fs::read_dir("/proc/self/fd").unwrap();
        (fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok()))
            .filter(|t| t == path)
            .count()
    }

    /// A read dropped while its file opens (a peer's writer cancelled as its
    /// connection closes) leaves no descriptor open behind it.
    #[test]
    fn an_open_dropped_midway_leaks_no_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"data").unwrap();
        let rt = compio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let cache = FileCache::new(4);
            for _ in 0..20 {
                let mut get = std::pin::pin!(cache.get(&path, false));
                let waker = std::task::Waker::noop();
                let polled = get
                    .as_mut()
                    .poll(&mut std::task::Context::from_waker(waker));
                assert!(polled.is_pending(), "the open waits on the runtime");
            }
            // Let the opens finish with no one waiting for them.
            compio::time::sleep(std::time::Duration::from_millis(50)).await;
            assert_eq!(opened(&path), 0, "opens dropped midway left descriptors");
            let f = cache.get(&path, false).await.unwrap();
            assert_eq!(opened(&path), 1);
            drop(f);
        });
    }

    /// Writes pieces and reads them back across file boundaries.
    #[test]
    fn write_and_read_through_compio() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| i.to_le_bytes()[1]).collect();
        let info = super::super::fixture::two_files(&data);
        let rt = compio::runtime::Runtime::new().unwrap();
        crate::storage::init_root(&mut super::super::RealFiles, dir.path(), "t").unwrap();
        rt.block_on(async {
            let cache = FileCache::new(4);
            crate::storage::prepare_files(&mut super::super::RealFiles, dir.path(), true, &info)
                .unwrap();
            assert_eq!(
                std::fs::metadata(dir.path().join("t/sub/b")).unwrap().len(),
                60_000
            );
            for p in 0..info.geometry.piece_count() {
                let s = (p * 32768) as usize;
                let e = (s + 32768).min(data.len());
                let w = super::super::write::PieceWrite {
                    root: dir.path().into(),
                    marked: true,
                    info: Arc::new(info.clone()),
                    piece: p,
                    data: data[s..e].to_vec(),
                };
                let done = super::super::write::write_pieces(vec![w], Default::default()).await;
                assert!(matches!(done[..], [(q, Ok(()))] if q == p));
            }
            // Piece 1 spans both files.
            let (root, info): (Arc<Path>, _) = (dir.path().into(), Arc::new(info.clone()));
            let got = read(&cache, &root, &info, 1, 1000, 20_000).await.unwrap();
            assert_eq!(got, data[32768 + 1000..32768 + 21_000]);
            // The file last read is reused without a lookup, and forgotten with
            // its root.
            let a = cache.get_indexed(&root, &info, 1).await.unwrap();
            let b = cache.get_indexed(&root, &info, 1).await.unwrap();
            assert!(Rc::ptr_eq(&a, &b));
            // Another torrent of the same files is another entry.
            let other = Arc::new((*info).clone());
            let c = cache.get_indexed(&root, &other, 1).await.unwrap();
            assert!(
                cache
                    .last
                    .borrow()
                    .as_ref()
                    .is_some_and(|l| Arc::ptr_eq(&l.info, &other))
            );
            assert!(Rc::ptr_eq(&c, &a), "the same path: the same open file");
            cache.forget_under(dir.path());
            assert!(cache.last.borrow().is_none());
            let reopened = cache.get_indexed(&root, &info, 1).await.unwrap();
            assert!(!Rc::ptr_eq(&reopened, &a));
            // A torrent removed forgets its own files only: another torrent's
            // top (`u`) under the same root leaves `t`'s file open.
            let mut elsewhere = (*info).clone();
            for f in &mut elsewhere.files {
                f.path = f.path.without_first().under("u");
            }
            cache.forget_torrent(dir.path(), &elsewhere);
            let again = cache.get_indexed(&root, &info, 1).await.unwrap();
            assert!(
                Rc::ptr_eq(&again, &reopened),
                "another torrent's files stay open"
            );
            cache.forget_torrent(dir.path(), &info);
            let after = cache.get_indexed(&root, &info, 1).await.unwrap();
            assert!(
                !Rc::ptr_eq(&after, &reopened),
                "its own files are forgotten"
            );
        });
        let mut on_disk = std::fs::read(dir.path().join("t/a")).unwrap();
        on_disk.extend(std::fs::read(dir.path().join("t/sub/b")).unwrap());
        assert!(on_disk == data);
    }
}
