//! Memory-mapped read access to a torrent's files, as a [`PieceSource`].

use std::fs::File;
use std::path::PathBuf;

use memmap2::{Mmap, MmapOptions};

use crate::hash::{Digest, PieceSource, Sha1};
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

struct Mapped {
    map: Option<Mmap>,
    /// Bytes that can be read: `min(len on disk, expected)`; `u64::MAX` for pad files.
    readable: u64,
    state: FileState,
}

/// The files of one torrent, mapped for reading.
pub struct MappedFiles {
    geometry: Geometry,
    files: Vec<Mapped>,
}

impl std::fmt::Debug for MappedFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFiles")
            .field("files", &self.files.len())
            .finish()
    }
}

const ZEROS: [u8; 16 * 1024] = [0; 16 * 1024];

impl MappedFiles {
    /// Maps the files of `info` under `dir` (the folder the torrent was downloaded to).
    pub fn for_torrent(info: &Info, dir: &std::path::Path) -> MappedFiles {
        let sources = info.files.iter().map(|f| {
            if f.attr.pad {
                FileSource::Zeros
            } else if f.attr.symlink {
                FileSource::Nothing
            } else {
                // Sanitised components: joining them cannot leave `dir`.
                FileSource::Path(f.path.iter().fold(dir.to_path_buf(), |p, c| p.join(c)))
            }
        });
        MappedFiles::open(info.geometry.clone(), sources)
    }

    /// Maps each file of `geometry` from its source, in torrent order.
    pub fn open(geometry: Geometry, sources: impl IntoIterator<Item = FileSource>) -> MappedFiles {
        let files: Vec<Mapped> = sources
            .into_iter()
            .enumerate()
            .map(|(i, src)| {
                let r = geometry.file_range(i);
                map_one(src, r.end - r.start)
            })
            .collect();
        assert_eq!(files.len(), geometry.file_count(), "one source per file");
        MappedFiles { geometry, files }
    }

    /// What was found for file `i`.
    pub fn state(&self, i: usize) -> &FileState {
        &self.files[i].state
    }

    /// The layout the files were mapped for.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }
}

fn map_one(src: FileSource, expected: u64) -> Mapped {
    let path = match src {
        FileSource::Zeros => {
            return Mapped {
                map: None,
                readable: u64::MAX,
                state: FileState::NotStored,
            };
        }
        FileSource::Nothing => {
            return Mapped {
                map: None,
                readable: 0,
                state: FileState::NotStored,
            };
        }
        FileSource::Path(p) => p,
    };
    let unreadable = |e: String| Mapped {
        map: None,
        readable: 0,
        state: FileState::Unreadable(e),
    };
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Mapped {
                map: None,
                readable: 0,
                state: FileState::Missing,
            };
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
        return Mapped {
            map: None,
            readable,
            state,
        };
    }
    let Ok(len) = usize::try_from(readable) else {
        return unreadable("file too large to map".into());
    };
    // SAFETY: the map is read-only and private to this process. The one hazard of a
    // file mapping is another process truncating the file while we read it, which
    // raises SIGBUS; verify and create run on the user's own files on request, the
    // same contract as libtorrent's memory-mapped storage.
    let map = unsafe { MmapOptions::new().len(len).map(&file) };
    match map {
        Ok(map) => {
            // Pieces are read front to back within each thread's run.
            let _ = map.advise(memmap2::Advice::Sequential);
            Mapped {
                map: Some(map),
                readable,
                state,
            }
        }
        Err(e) => unreadable(e.to_string()),
    }
}

impl PieceSource for MappedFiles {
    fn hash_piece(&self, piece: u32, hasher: &mut Sha1) -> bool {
        for span in self.geometry.piece_spans(piece) {
            let f = &self.files[span.file];
            let end = span.file_offset + u64::from(span.len);
            if end > f.readable {
                return false;
            }
            match &f.map {
                Some(map) => {
                    let start = usize::try_from(span.file_offset).expect("mapped, so fits");
                    hasher.update(&map[start..start + span.len as usize]);
                }
                None => {
                    // A pad file: feed zeros.
                    let mut left = span.len as usize;
                    while left > 0 {
                        let n = left.min(ZEROS.len());
                        hasher.update(&ZEROS[..n]);
                        left -= n;
                    }
                }
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
        let f = &self.files[span.file];
        let start = usize::try_from(span.file_offset).ok()?;
        let end = start.checked_add(span.len as usize)?;
        // A pad file has no map, and a short file's map ends early: both decline.
        f.map.as_ref()?.get(start..end)
    }
}
