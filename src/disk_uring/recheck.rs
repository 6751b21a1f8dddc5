//! Checking data on disk against a torrent's piece hashes.

use std::path::Path;
use std::sync::atomic::AtomicU64;

use super::mapped::{FileState, MappedFiles};
use crate::hash::merkle::Sha256Digest;
use crate::hash::{MerklePiece, PieceHashes, PieceSource, PieceTree, hash_pieces, merkle_listed};
use crate::metainfo::Info;

/// The outcome for one piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceState {
    /// All bytes present and the hash matches.
    Valid,
    /// All bytes present but the hash differs.
    Invalid,
    /// Not on disk: a file missing or short, or the piece never written (all of
    /// its bytes zero, as a preallocated or sparse file reads where nothing was
    /// written, and the torrent's piece is not all zeros).
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
    /// The file is on disk (an empty one too) and every byte of it is inside a
    /// valid piece.
    pub fn complete(&self) -> bool {
        self.have_bytes == self.length
            && matches!(
                self.state,
                FileState::Present | FileState::NotStored | FileState::Short { .. }
            )
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

    /// Every piece is valid and every file is there (empty files included).
    pub fn complete(&self) -> bool {
        self.pieces.iter().all(|&s| s == PieceState::Valid)
            && self.files.iter().all(FileReport::complete)
    }
}

/// The engine's check: hashes the listed pieces of `info` from the files under
/// `dir` on `threads` threads (mapped files: no copy), each with its verdict
/// against `hashes` (the torrent's piece hashes; `info` is its layout).
pub fn verify_pieces(
    info: &Info,
    hashes: &PieceHashes,
    dir: &Path,
    pieces: &[u32],
    threads: usize,
) -> Vec<(u32, crate::core::Verdict)> {
    use crate::core::Verdict;
    // Only the files holding these pieces: a batch of a torrent of many files
    // opens its own few, not all of them.
    let files = MappedFiles::for_pieces(info, dir, pieces);
    let matched: Vec<Option<bool>> = match hashes {
        PieceHashes::Sha1(want) | PieceHashes::Hybrid { sha1: want, .. } => {
            crate::hash::hash_listed(&files, pieces, threads)
                .into_iter()
                .zip(pieces)
                .map(|(d, &p)| d.map(|d| want.get(p as usize) == Some(&d)))
                .collect()
        }
        PieceHashes::Merkle(want) => merkle_listed(&files, want, pieces, threads, None)
            .into_iter()
            .zip(pieces)
            .map(|(d, &p)| d.map(|d| want.get(p as usize).is_some_and(|w| w.root == d)))
            .collect(),
    };
    pieces
        .iter()
        .zip(matched)
        .map(|(&p, m)| {
            let v = match m {
                None => Verdict::Unreadable,
                Some(true) => Verdict::Valid,
                Some(false) => Verdict::Invalid,
            };
            (p, v)
        })
        .collect()
}

/// The leaves of each of `pieces` of a v2 torrent's files in `dir` (each
/// piece's block hashes, zero leaves to its width), in order; `None` when some
/// of their bytes are not there. What a hash request below the piece layer is
/// answered from (`core::hashes`).
pub fn block_leaves(
    info: &Info,
    dir: &Path,
    pieces: &[(u32, MerklePiece)],
) -> Option<Vec<Sha256Digest>> {
    let listed: Vec<u32> = pieces.iter().map(|p| p.0).collect();
    let files = MappedFiles::for_pieces(info, dir, &listed);
    let mut leaves = Vec::new();
    for (p, shape) in pieces {
        let mut tree = PieceTree::new(*shape);
        if !files.feed_piece(*p, &mut |d| tree.update(d)) {
            return None;
        }
        leaves.extend(tree.into_leaves());
    }
    Some(leaves)
}

/// Why a recheck could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum RecheckError {
    /// The download folder does not exist or is not a folder.
    #[error("{0}: not a folder")]
    NotAFolder(std::path::PathBuf),
}

/// Each piece's state: valid, invalid, or missing (unreadable, or all zeros
/// where the torrent's piece is not).
fn piece_states(
    info: &Info,
    files: &MappedFiles,
    threads: usize,
    progress: Option<&AtomicU64>,
) -> Vec<PieceState> {
    let g = &info.geometry;
    let state = |ok: bool, zeros: bool| match (ok, zeros) {
        (true, _) => PieceState::Valid,
        (false, true) => PieceState::Missing,
        (false, false) => PieceState::Invalid,
    };
    match &info.pieces {
        PieceHashes::Sha1(want) | PieceHashes::Hybrid { sha1: want, .. } => {
            let digests = hash_pieces(files, g.piece_count(), threads, progress);
            // The digest of an all-zero piece of each length there is (two at
            // most: the last piece may be shorter).
            let mut zeros: Vec<(u32, [u8; 20])> = Vec::new();
            digests
                .iter()
                .enumerate()
                .map(|(i, got)| {
                    let p = u32::try_from(i).expect("piece index");
                    let Some(d) = got else {
                        return PieceState::Missing;
                    };
                    let ok = want.get(i) == Some(d);
                    let len = g.piece_len(p);
                    let zero = match zeros.iter().find(|(l, _)| *l == len) {
                        Some((_, z)) => *z,
                        None => {
                            let z = crate::hash::sha1(&vec![0u8; len as usize]);
                            zeros.push((len, z));
                            z
                        }
                    };
                    state(ok, *d == zero)
                })
                .collect()
        }
        PieceHashes::Merkle(want) => {
            let all: Vec<u32> = (0..g.piece_count()).collect();
            let roots = merkle_listed(files, want, &all, threads, progress);
            // The root of an all-zero piece of each shape there is.
            let mut zeros: Vec<((u32, u32), [u8; 32])> = Vec::new();
            roots
                .iter()
                .zip(want)
                .map(|(got, w)| {
                    let Some(d) = got else {
                        return PieceState::Missing;
                    };
                    let shape = (w.file_bytes, w.leaves);
                    let zero = match zeros.iter().find(|(s, _)| *s == shape) {
                        Some((_, z)) => *z,
                        None => {
                            let z = w.digest(&vec![0u8; w.file_bytes as usize]);
                            zeros.push((shape, z));
                            z
                        }
                    };
                    state(*d == w.root, *d == zero)
                })
                .collect()
        }
    }
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
    let pieces = piece_states(info, &files, threads, progress);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::merkle::merkle_file;
    use crate::metainfo::{CreateLayout, CreateOptions, build_torrent_v2};

    #[test]
    fn block_leaves_need_only_the_files_of_their_pieces() {
        // Two files of 3 and 2 pieces of 32 KiB; the first is then deleted.
        let plen = 32 * 1024u32;
        let lens = [3 * u64::from(plen) - 7, 2 * u64::from(plen) - 100];
        let bodies: Vec<Vec<u8>> = (lens.iter().zip(1u8..))
            .map(|(&n, salt)| (0..n).map(|i| (i % 251) as u8 ^ salt).collect())
            .collect();
        let trees: Vec<_> = (bodies.iter().zip(lens))
            .map(|(b, n)| merkle_file(&b[..], n, u64::from(plen)).unwrap())
            .collect();
        let layout = CreateLayout {
            name: "two".into(),
            files: Some(vec![
                (vec!["a".into()], lens[0]),
                (vec!["b".into()], lens[1]),
            ]),
            length: 0,
        };
        let opts = CreateOptions::default();
        let info = build_torrent_v2(&layout, plen, None, &trees, &opts)
            .unwrap()
            .meta
            .info;
        let PieceHashes::Merkle(shapes) = &info.pieces else {
            panic!("a v2 layout");
        };
        let dir = tempfile::tempdir().unwrap();
        let stored: Vec<_> = info.files.iter().filter(|f| !f.attr.pad).collect();
        for (f, body) in stored.iter().zip(&bodies) {
            let p = dir.path().join(f.path.as_str());
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, body).unwrap();
        }
        let first = dir.path().join(stored[0].path.as_str());
        std::fs::remove_file(first).unwrap();
        // The second file's first piece is the torrent's fourth.
        let want = shapes[3].leaves(&bodies[1][..plen as usize]);
        assert_eq!(
            block_leaves(&info, dir.path(), &[(3, shapes[3])]),
            Some(want)
        );
        // The first file's pieces: not there.
        assert_eq!(block_leaves(&info, dir.path(), &[(0, shapes[0])]), None);
    }
}
