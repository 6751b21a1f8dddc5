//! Read access to a torrent's files for bulk hashing, as a [`PieceSource`]: memory
//! maps for most files, plain reads for the rest when there are too many to map.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use memmap2::{Mmap, MmapOptions, UncheckedAdvice};

use crate::hash::PieceSource;
use crate::metainfo::{Geometry, Info};

/// Where one file's bytes come from.
#[derive(Debug, Clone)]
pub enum FileSource {
    /// A file on disk.
    Path(PathBuf),
    /// A pad file: all zeros, never on disk.
    Zeros,
    /// A BEP 47 symlink entry: no bytes, never touched on disk.
    Nothing,
}

/// What was found on disk for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// The file exists and holds at least the expected length.
    Present,
    /// The file exists but is shorter than expected.
    Short {
        /// Its length on disk.
        len: u64,
    },
    /// No file at that path.
    Missing,
    /// Something that cannot be read as the file: a folder, a socket, no permission,
    /// an IO error.
    Unreadable(String),
    /// A pad file or symlink entry: nothing to find on disk.
    NotStored,
}

/// How a file's bytes are reached.
enum Access {
    /// Mapped once, read from the page cache with no copy.
    Mapped(Mmap),
    /// Opened and read each time a piece needs it: small files past the mapping budget.
    OnDemand(PathBuf),
    /// A pad file.
    Zeros,
    /// Nothing readable (missing, empty, unreadable, symlink entry).
    None,
}

struct Entry {
    access: Access,
    /// Bytes that can be read: `min(len on disk, expected)`; `u64::MAX` for pad files.
    readable: u64,
    state: FileState,
}

/// The files of one torrent, open for reading.
pub struct MappedFiles {
    geometry: Geometry,
    files: Vec<Entry>,
}

impl std::fmt::Debug for MappedFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFiles")
            .field("files", &self.files.len())
            .finish()
    }
}

/// The most files mapped at once. Linux allows about 65,000 mappings per process
/// (`vm.max_map_count`); a torrent with more files than this gets its largest files
/// mapped and the rest read on demand, rather than failing to map and reporting data
/// that is on disk as missing.
pub const MAX_MAPPED_FILES: usize = 8192;

const ZEROS: [u8; 16 * 1024] = [0; 16 * 1024];

impl MappedFiles {
    /// Opens the files of `info` under `dir` (the folder the torrent was downloaded to).
    pub fn for_torrent(info: &Info, dir: &std::path::Path) -> MappedFiles {
        Self::for_files(info, dir, |_| true)
    }

    /// [`MappedFiles::for_torrent`] with only the files that hold bytes of
    /// `pieces` opened: reading a few pieces of a torrent of thousands of
    /// files opens one or two.
    pub fn for_pieces(info: &Info, dir: &std::path::Path, pieces: &[u32]) -> MappedFiles {
        let g = &info.geometry;
        // The files each piece spans, found from its first (not by comparing
        // every file with every piece: a batch of a torrent of 100,000 files).
        let mut held = vec![false; g.file_count()];
        for &p in pieces {
            let (start, end) = (
                g.piece_offset(p),
                g.piece_offset(p) + u64::from(g.piece_len(p)),
            );
            let mut f = g.file_at(start);
            while f < held.len() && g.file_range(f).start < end {
                held[f] = true;
                f += 1;
            }
        }
        Self::for_files(info, dir, |i| held[i])
    }

    /// The files of `info` under `dir`, those `keep` refuses left unopened
    /// (as [`FileSource::Nothing`]: they must not be read).
    fn for_files(info: &Info, dir: &std::path::Path, keep: impl Fn(usize) -> bool) -> MappedFiles {
        let sources = info.files.iter().enumerate().map(|(i, f)| {
            if !keep(i) {
                FileSource::Nothing
            } else if f.attr.pad {
                FileSource::Zeros
            } else if f.attr.symlink {
                FileSource::Nothing
            } else {
                // Sanitised components: joining them cannot leave `dir`.
                FileSource::Path(dir.join(f.path.as_str()))
            }
        });
        MappedFiles::open(info.geometry.clone(), sources)
    }

    /// Opens each file of `geometry` from its source, in torrent order.
    pub fn open(geometry: Geometry, sources: impl IntoIterator<Item = FileSource>) -> MappedFiles {
        Self::open_with_budget(geometry, sources, MAX_MAPPED_FILES)
    }

    fn open_with_budget(
        geometry: Geometry,
        sources: impl IntoIterator<Item = FileSource>,
        max_mapped: usize,
    ) -> MappedFiles {
        // Each file is looked at and closed again: a torrent of 100,000 files
        // must not hold 100,000 descriptors (past the process's limit, opens
        // fail and data that is there would read as unreadable).
        let mut files: Vec<Entry> = sources
            .into_iter()
            .enumerate()
            .map(|(i, src)| {
                let r = geometry.file_range(i);
                probe(src, r.end - r.start).0
            })
            .collect();
        assert_eq!(files.len(), geometry.file_count(), "one source per file");
        // Map the largest files within the budget, each opened again (and
        // looked at again: it may have changed since); the rest stay on demand.
        let mut order: Vec<usize> = (0..files.len())
            .filter(|&i| matches!(files[i].access, Access::OnDemand(_)))
            .collect();
        order.sort_by_key(|&i| std::cmp::Reverse(files[i].readable));
        for &i in order.iter().take(max_mapped) {
            let Access::OnDemand(path) = &files[i].access else {
                continue;
            };
            let r = geometry.file_range(i);
            let (entry, file) = probe(FileSource::Path(path.clone()), r.end - r.start);
            files[i] = entry;
            if let Some(file) = file {
                map_entry(&mut files[i], &file);
            }
        }
        MappedFiles { geometry, files }
    }

    /// What was found for file `i`.
    pub fn state(&self, i: usize) -> &FileState {
        &self.files[i].state
    }

    /// The layout the files were opened for.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }
}

/// Looks at one file: what is there and how much of it can be read. Returns the open
/// file when it has bytes to read, for [`map_entry`] to map (or to close).
fn probe(src: FileSource, expected: u64) -> (Entry, Option<File>) {
    let entry = |access, readable, state| Entry {
        access,
        readable,
        state,
    };
    let path = match src {
        FileSource::Zeros => return (entry(Access::Zeros, u64::MAX, FileState::NotStored), None),
        FileSource::Nothing => return (entry(Access::None, 0, FileState::NotStored), None),
        FileSource::Path(p) => p,
    };
    let unreadable = |e: String| (entry(Access::None, 0, FileState::Unreadable(e)), None);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (entry(Access::None, 0, FileState::Missing), None);
        }
        Err(e) => return unreadable(e.to_string()),
    };
    let meta = match file.metadata() {
        Ok(m) if m.is_file() => m,
        Ok(_) => return unreadable("not a regular file".into()),
        Err(e) => return unreadable(e.to_string()),
    };
    let readable = meta.len().min(expected);
    let state = if meta.len() < expected {
        FileState::Short { len: meta.len() }
    } else {
        FileState::Present
    };
    if readable == 0 {
        return (entry(Access::None, 0, state), None);
    }
    (entry(Access::OnDemand(path), readable, state), Some(file))
}

/// Upgrades an on-demand entry to a mapped one; on failure it stays on demand.
fn map_entry(entry: &mut Entry, file: &File) {
    let Ok(len) = usize::try_from(entry.readable) else {
        return;
    };
    // SAFETY: the map is read-only and private to this process. The one hazard of a
    // file mapping is another process truncating the file while we read it, which
    // raises SIGBUS; verify and create run on the user's own files on request, the
    // same contract as libtorrent's memory-mapped storage.
    if let Ok(map) = unsafe { MmapOptions::new().len(len).map(file) } {
        // Pieces are read front to back within each thread's run.
        let _ = map.advise(memmap2::Advice::Sequential);
        entry.access = Access::Mapped(map);
    }
}

impl PieceSource for MappedFiles {
    fn feed_piece(&self, piece: u32, sink: &mut dyn FnMut(&[u8])) -> bool {
        for span in self.geometry.piece_spans(piece) {
            let f = &self.files[span.file];
            let end = span.file_offset + u64::from(span.len);
            if end > f.readable {
                return false;
            }
            let len = span.len as usize;
            match &f.access {
                Access::Mapped(map) => {
                    let start = usize::try_from(span.file_offset).expect("mapped, so fits");
                    sink(&map[start..start + len]);
                }
                Access::OnDemand(path) => {
                    let mut buf = vec![0u8; len];
                    let read = File::open(path)
                        .and_then(|file| file.read_exact_at(&mut buf, span.file_offset));
                    if read.is_err() {
                        return false;
                    }
                    sink(&buf);
                }
                Access::Zeros => {
                    let mut left = len;
                    while left > 0 {
                        let n = left.min(ZEROS.len());
                        sink(&ZEROS[..n]);
                        left -= n;
                    }
                }
                Access::None => return false,
            }
        }
        true
    }

    fn piece_len(&self, piece: u32) -> u64 {
        u64::from(self.geometry.piece_len(piece))
    }

    fn piece_bytes(&self, piece: u32) -> Option<&[u8]> {
        let mut spans = self.geometry.piece_spans(piece);
        let span = spans.next()?;
        if spans.next().is_some() {
            return None;
        }
        let Access::Mapped(map) = &self.files[span.file].access else {
            return None;
        };
        let start = usize::try_from(span.file_offset).ok()?;
        let end = start.checked_add(span.len as usize)?;
        // A short file's map ends early: the piece declines and hash_piece says missing.
        map.get(start..end)
    }

    fn release(&self, pieces: std::ops::Range<u32>) {
        if pieces.is_empty() {
            return;
        }
        let page = page_size();
        let g = &self.geometry;
        let lo = g.piece_offset(pieces.start);
        let hi = g.piece_offset(pieces.end - 1) + u64::from(g.piece_len(pieces.end - 1));
        for file in g.file_at(lo)..g.file_count() {
            let r = g.file_range(file);
            if r.start >= hi {
                break;
            }
            let Access::Mapped(map) = &self.files[file].access else {
                continue;
            };
            let (Ok(from), Ok(to)) = (
                usize::try_from(lo.max(r.start) - r.start),
                usize::try_from(hi.min(r.end) - r.start),
            ) else {
                continue;
            };
            // Whole pages inside the range only: a page shared with a piece another
            // thread may be reading stays.
            let (a, b) = (from.next_multiple_of(page), to.min(map.len()) / page * page);
            if a < b {
                // SAFETY: the map is a read-only private mapping of a file that
                // nothing in this process writes through; dropping its pages only
                // makes the next access fault them in again from the file, with the
                // same bytes. The range is inside the map and holds only pieces
                // already hashed, which no slice outlives.
                let dropped =
                    unsafe { map.unchecked_advise_range(UncheckedAdvice::DontNeed, a, b - a) };
                if let Err(e) = dropped {
                    tracing::debug!(error = %e, "madvise(DONTNEED) refused; pages stay until the map closes");
                }
            }
        }
    }
}

/// The memory page size.
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions; it only reads a constant.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hash_pieces;

    /// With a mapping budget smaller than the file count, the unmapped files are read
    /// on demand and every digest comes out the same.
    #[test]
    fn files_past_the_mapping_budget_are_read_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let lengths: Vec<u64> = (0..40u64).map(|i| 1 + i * 997 % 20_000).collect();
        let mut sources = Vec::new();
        for (i, &len) in lengths.iter().enumerate() {
            let p = dir.path().join(format!("f{i}"));
            let body: Vec<u8> = (0..len).map(|j| (j ^ i as u64).to_le_bytes()[0]).collect();
            std::fs::write(&p, body).unwrap();
            sources.push(FileSource::Path(p));
        }
        // One pad file and one missing file among them.
        sources[7] = FileSource::Zeros;
        sources[20] = FileSource::Path(dir.path().join("absent"));
        let g = Geometry::new(16384, &lengths).unwrap();
        let all = MappedFiles::open_with_budget(g.clone(), sources.clone(), usize::MAX);
        let few = MappedFiles::open_with_budget(g.clone(), sources.clone(), 3);
        let none = MappedFiles::open_with_budget(g.clone(), sources, 0);
        let expect = hash_pieces(&all, g.piece_count(), 2, None);
        assert!(expect.iter().any(Option::is_none) && expect.iter().any(Option::is_some));
        assert_eq!(hash_pieces(&few, g.piece_count(), 2, None), expect);
        assert_eq!(hash_pieces(&none, g.piece_count(), 1, None), expect);
        assert_eq!(few.state(20), &FileState::Missing);
        assert_eq!(few.state(7), &FileState::NotStored);
    }
}
