//! Checking data on disk against a torrent's piece hashes.

use std::path::Path;
use std::sync::atomic::AtomicU64;

use super::mapped::{FileState, MappedFiles};
use crate::hash::hash_pieces;
use crate::metainfo::Info;

/// The outcome for one piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceState {
    /// All bytes present and the hash matches.
    Valid,
    /// All bytes present but the hash differs.
    Invalid,
    /// Some bytes are not on disk (missing or short file).
    Missing,
}

/// The outcome for one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// Path as shown to users (`name/dir/file`).
    pub path: String,
    /// Expected length.
    pub length: u64,
    /// Bytes of this file inside valid pieces.
    pub have_bytes: u64,
    /// What was on disk.
    pub state: FileState,
    /// Pad file (not stored; reported for completeness of the file list).
    pub pad: bool,
}

impl FileReport {
    /// Every byte of the file is inside a valid piece.
    pub fn complete(&self) -> bool {
        self.have_bytes == self.length
    }
}

/// The outcome of a recheck.
#[derive(Debug, Clone)]
pub struct RecheckReport {
    /// One state per piece.
    pub pieces: Vec<PieceState>,
    /// One report per file, in torrent order (pad files included).
    pub files: Vec<FileReport>,
}

impl RecheckReport {
    /// How many pieces are in `state`.
    pub fn count(&self, state: PieceState) -> usize {
        self.pieces.iter().filter(|&&s| s == state).count()
    }

    /// Every piece is valid.
    pub fn complete(&self) -> bool {
        self.pieces.iter().all(|&s| s == PieceState::Valid)
    }
}

/// Why a recheck could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum RecheckError {
    /// The download folder does not exist or is not a folder.
    #[error("{0}: not a folder")]
    NotAFolder(std::path::PathBuf),
}

/// Hashes every piece of `info` from the files under `dir` on `threads` threads.
/// `progress` grows by each piece's length as it is checked.
pub fn recheck(
    info: &Info,
    dir: &Path,
    threads: usize,
    progress: Option<&AtomicU64>,
) -> Result<RecheckReport, RecheckError> {
    if !dir.is_dir() {
        return Err(RecheckError::NotAFolder(dir.to_path_buf()));
    }
    let files = MappedFiles::for_torrent(info, dir);
    let g = &info.geometry;
    let digests = hash_pieces(&files, g.piece_count(), threads, progress);
    let pieces: Vec<PieceState> = digests
        .iter()
        .zip(&info.pieces)
        .map(|(got, want)| match got {
            None => PieceState::Missing,
            Some(d) if d == want => PieceState::Valid,
            Some(_) => PieceState::Invalid,
        })
        .collect();
    let reports = info
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let range = g.file_range(i);
            let have_bytes = g
                .file_pieces(i)
                .filter(|&p| pieces[p as usize] == PieceState::Valid)
                .map(|p| {
                    let start = g.piece_offset(p);
                    let end = start + u64::from(g.piece_len(p));
                    end.min(range.end) - start.max(range.start)
                })
                .sum();
            FileReport {
                path: f.display_path(),
                length: f.length,
                have_bytes,
                state: files.state(i).clone(),
                pad: f.attr.pad,
            }
        })
        .collect();
    Ok(RecheckReport {
        pieces,
        files: reports,
    })
}
