//! What a torrent's pieces are checked against: the SHA-1 of each piece (v1 and
//! hybrid torrents, which are checked on their v1 side), or the merkle root of
//! each piece's 16 KiB blocks (v2-only torrents, BEP 52). A hybrid whose piece
//! layers came with it keeps its pieces' roots beside their SHA-1, to answer
//! its v2 peers' hash requests.
//!
//! A v2 piece holds the bytes of one file only (files start on piece
//! boundaries; the engine's layout puts pad files between them), so a piece's
//! root is over the blocks of its file's bytes, the tree filled with zero
//! leaves to its width: a piece's worth of leaves for a file longer than a
//! piece, the next power of two of its blocks for a file of one piece.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use super::Sha1Digest;
use super::merkle::{BLOCK, Sha256Digest, merkle_root};
use super::parallel::{Listed, PieceSource, on_threads};

/// One v2 piece's expected root and the shape of its tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MerklePiece {
    /// The root over the piece's blocks: its entry in the file's piece layer, or
    /// the file's `pieces root` for a file of one piece.
    pub root: Sha256Digest,
    /// Bytes of the file in this piece (the rest of the piece is padding).
    pub file_bytes: u32,
    /// Leaves of the piece's tree (a power of two).
    pub leaves: u32,
}

/// A torrent's piece hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PieceHashes {
    /// SHA-1 of every piece.
    Sha1(Vec<Sha1Digest>),
    /// Merkle roots of every piece (v2-only).
    Merkle(Vec<MerklePiece>),
    /// A hybrid's pieces: checked by their SHA-1; their merkle roots (the same
    /// pieces, files aligned to pieces by the pad files) tell its v2 peers.
    Hybrid {
        /// SHA-1 of every piece, what pieces are checked against.
        sha1: Vec<Sha1Digest>,
        /// Every piece's merkle root, one per entry of `sha1`.
        merkle: Vec<MerklePiece>,
    },
}

impl Default for PieceHashes {
    fn default() -> Self {
        PieceHashes::Sha1(Vec::new())
    }
}

impl PieceHashes {
    /// Pieces described.
    pub fn len(&self) -> usize {
        match self {
            PieceHashes::Sha1(h) | PieceHashes::Hybrid { sha1: h, .. } => h.len(),
            PieceHashes::Merkle(h) => h.len(),
        }
    }

    /// No piece described (a layout whose hashes are elsewhere).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `data` (the whole piece, padding included) is piece `piece`;
    /// `None` for a piece the table does not describe.
    pub fn check(&self, piece: u32, data: &[u8]) -> Option<bool> {
        let i = piece as usize;
        match self {
            PieceHashes::Sha1(h) | PieceHashes::Hybrid { sha1: h, .. } => {
                h.get(i).map(|want| super::sha1(data) == *want)
            }
            PieceHashes::Merkle(h) => h.get(i).map(|p| p.digest(data) == p.root),
        }
    }

    /// The v1 hashes, if pieces are checked by them (v1 and hybrid).
    pub fn sha1(&self) -> Option<&[Sha1Digest]> {
        match self {
            PieceHashes::Sha1(h) | PieceHashes::Hybrid { sha1: h, .. } => Some(h),
            PieceHashes::Merkle(_) => None,
        }
    }

    /// The pieces' merkle roots, if known (v2-only, and a hybrid whose piece
    /// layers came with it).
    pub fn merkle(&self) -> Option<&[MerklePiece]> {
        match self {
            PieceHashes::Merkle(h) | PieceHashes::Hybrid { merkle: h, .. } => Some(h),
            PieceHashes::Sha1(_) => None,
        }
    }
}

impl MerklePiece {
    /// The root `data` (a whole piece, padding included) hashes to in this
    /// piece's tree; bytes past [`MerklePiece::file_bytes`] are not the file's
    /// and are left out.
    pub fn digest(&self, data: &[u8]) -> Sha256Digest {
        let mut t = PieceTree::new(*self);
        t.update(data);
        t.finish()
    }

    /// The leaves of this piece's tree from `data` (as [`MerklePiece::digest`]
    /// takes it): its blocks' hashes, zero leaves to its width.
    pub fn leaves(&self, data: &[u8]) -> Vec<Sha256Digest> {
        let mut t = PieceTree::new(*self);
        t.update(data);
        t.into_leaves()
    }
}

/// A piece's root computed from its bytes fed in any number of slices.
#[derive(Debug)]
pub struct PieceTree {
    piece: MerklePiece,
    leaves: Vec<Sha256Digest>,
    block: Sha256,
    in_block: u64,
    fed: u64,
}

impl PieceTree {
    /// An empty tree for `piece`.
    pub fn new(piece: MerklePiece) -> PieceTree {
        PieceTree {
            piece,
            leaves: Vec::with_capacity(piece.leaves as usize),
            block: Sha256::new(),
            in_block: 0,
            fed: 0,
        }
    }

    /// Feeds the piece's next bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        let file = u64::from(self.piece.file_bytes);
        while !data.is_empty() && self.fed < file {
            let room = (BLOCK - self.in_block).min(file - self.fed);
            let n = usize::try_from(room).map_or(data.len(), |r| r.min(data.len()));
            self.block.update(&data[..n]);
            self.in_block += n as u64;
            self.fed += n as u64;
            data = &data[n..];
            if self.in_block == BLOCK || self.fed == file {
                let done = std::mem::replace(&mut self.block, Sha256::new());
                self.leaves.push(done.finalize().into());
                self.in_block = 0;
            }
        }
    }

    /// The root; leaves never fed (a short piece) are zero, so a short piece
    /// does not match.
    pub fn finish(self) -> Sha256Digest {
        merkle_root(&self.into_leaves(), [0; 32])
    }

    /// The tree's leaves, those never fed zero.
    pub fn into_leaves(mut self) -> Vec<Sha256Digest> {
        self.leaves
            .resize(self.piece.leaves.max(1) as usize, [0; 32]);
        self.leaves
    }
}

/// Pieces a thread takes from the shared counter at a time (then lets go of
/// their pages, see [`PieceSource::release`]).
const RUN: usize = 16;

/// The root of each listed piece of `src` in its tree from `hashes` (`None`
/// where some of its bytes are not there), on `threads` threads; `progress`
/// grows by each piece's length as it is done.
pub fn merkle_listed<S: PieceSource + ?Sized>(
    src: &S,
    hashes: &[MerklePiece],
    pieces: &[u32],
    threads: usize,
    progress: Option<&AtomicU64>,
) -> Vec<Option<Sha256Digest>> {
    let listed = Listed::new(src, pieces);
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let start = next.fetch_add(RUN, Ordering::Relaxed);
            if start >= pieces.len() {
                break;
            }
            let end = (start + RUN).min(pieces.len());
            for (i, &p) in pieces.iter().enumerate().take(end).skip(start) {
                let at = u32::try_from(i).expect("fewer than 2^32 pieces");
                let root = hashes.get(p as usize).and_then(|h| {
                    let mut tree = PieceTree::new(*h);
                    listed
                        .feed_piece(at, &mut |b| tree.update(b))
                        .then(|| tree.finish())
                });
                if let Some(n) = progress {
                    n.fetch_add(src.piece_len(p), Ordering::Relaxed);
                }
                done.push((i, root));
            }
            let run = u32::try_from(start).expect("fewer than 2^32 pieces")
                ..u32::try_from(end).expect("fewer than 2^32 pieces");
            listed.release(run);
        }
        done
    };
    let mut out = vec![None; pieces.len()];
    let threads = threads.clamp(1, pieces.len().max(1));
    for (i, root) in on_threads(threads, "sr-merkle", work).into_iter().flatten() {
        out[i] = root;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::merkle::merkle_file;

    #[test]
    fn merkle_pieces_check_what_merkle_file_built() {
        // A file of five blocks and 7 bytes in pieces of two blocks: three pieces,
        // the last one block of the file and 7 bytes, then padding.
        let data: Vec<u8> = (0..(4 * BLOCK + 7)).map(|i| (i % 239) as u8).collect();
        let tree = merkle_file(&data[..], data.len() as u64, 2 * BLOCK).unwrap();
        let plen = 2 * usize::try_from(BLOCK).unwrap();
        let mut padded = data.clone();
        padded.resize(3 * plen, 0);
        let hashes = PieceHashes::Merkle(
            tree.layer
                .iter()
                .enumerate()
                .map(|(i, root)| MerklePiece {
                    root: *root,
                    file_bytes: u32::try_from((data.len() - i * plen).min(plen)).unwrap(),
                    leaves: 2,
                })
                .collect(),
        );
        for p in 0..3u32 {
            let bytes = &padded[p as usize * plen..(p as usize + 1) * plen];
            assert_eq!(hashes.check(p, bytes), Some(true), "piece {p}");
            let mut bad = bytes.to_vec();
            bad[3] ^= 1;
            assert_eq!(hashes.check(p, &bad), Some(false));
        }
        // The padding is not the file's: other bytes there change nothing.
        let mut last = padded[2 * plen..].to_vec();
        *last.last_mut().unwrap() = 9;
        assert_eq!(hashes.check(2, &last), Some(true));
        assert_eq!(hashes.check(3, &last), None);
        // Fed in odd slices, the same root.
        let p = match &hashes {
            PieceHashes::Merkle(h) => h[0],
            _ => unreachable!(),
        };
        let mut t = PieceTree::new(p);
        for c in padded[..plen].chunks(5000) {
            t.update(c);
        }
        assert_eq!(t.finish(), p.root);
    }

    #[test]
    fn a_one_piece_file_is_its_pieces_root() {
        // Three blocks in pieces of eight: the tree is four leaves wide.
        let data: Vec<u8> = (0..(2 * BLOCK + 100)).map(|i| (i % 251) as u8).collect();
        let tree = merkle_file(&data[..], data.len() as u64, 8 * BLOCK).unwrap();
        let p = MerklePiece {
            root: tree.root.unwrap(),
            file_bytes: u32::try_from(data.len()).unwrap(),
            leaves: 4,
        };
        let mut piece = data.clone();
        piece.resize(8 * usize::try_from(BLOCK).unwrap(), 0);
        assert_eq!(p.digest(&piece), p.root);
        assert_ne!(p.digest(&piece[..usize::try_from(BLOCK).unwrap()]), p.root);
    }

    #[test]
    fn sha1_pieces_check_their_digest() {
        let h = PieceHashes::Sha1(vec![super::super::sha1(b"abc")]);
        assert_eq!(h.check(0, b"abc"), Some(true));
        assert_eq!(h.check(0, b"abd"), Some(false));
        assert_eq!(h.check(1, b"abc"), None);
        assert_eq!(h.len(), 1);
    }
}
