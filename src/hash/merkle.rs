//! BitTorrent v2 merkle trees (BEP 52): SHA-256 over 16 KiB blocks of each
//! file, pairs hashed up to one root per file. A piece's hash is the root of its
//! blocks' subtree; a file's `pieces root` the root over all its blocks.
//!
//! The `sha2` crate picks SHA-NI at run time where the CPU has it.

use std::io::Read;

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Sha256Digest = [u8; 32];

/// The leaves of a v2 tree cover this many bytes each.
pub const BLOCK: u64 = 16 * 1024;
const BLOCK_BYTES: usize = 16 * 1024;

/// The parent of two nodes.
pub fn pair(a: &Sha256Digest, b: &Sha256Digest) -> Sha256Digest {
    let mut s = Sha256::new();
    s.update(a);
    s.update(b);
    s.finalize().into()
}

/// The root of a subtree of `leaves` zero leaves (a power of two).
pub fn zero_subtree(leaves: u64) -> Sha256Digest {
    let mut h = [0u8; 32];
    let mut n = 1;
    while n < leaves {
        h = pair(&h, &h);
        n *= 2;
    }
    h
}

/// The root over `hashes`, padded with `pad` to a power of two.
pub fn merkle_root(hashes: &[Sha256Digest], pad: Sha256Digest) -> Sha256Digest {
    let mut level: Vec<Sha256Digest> = hashes.to_vec();
    let width = level.len().next_power_of_two();
    level.resize(width, pad);
    while level.len() > 1 {
        level = level.chunks_exact(2).map(|c| pair(&c[0], &c[1])).collect();
    }
    level[0]
}

/// One file's tree as a torrent carries it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileMerkle {
    /// The file's `pieces root`; `None` for an empty file.
    pub root: Option<Sha256Digest>,
    /// Its `piece layers` entry: one hash per piece, only for a file longer than
    /// a piece (empty otherwise).
    pub layer: Vec<Sha256Digest>,
}

/// The tree of a file of `length` bytes read from `data`, with pieces of
/// `piece_length` bytes (a power of two of at least [`BLOCK`]). A file shorter
/// than `length` is an `UnexpectedEof` error.
pub fn merkle_file(
    mut data: impl Read,
    length: u64,
    piece_length: u64,
) -> std::io::Result<FileMerkle> {
    if length == 0 {
        return Ok(FileMerkle::default());
    }
    let per_piece = usize::try_from(piece_length / BLOCK).expect("piece length fits memory");
    let mut buf = vec![0u8; usize::try_from(piece_length).expect("piece length fits memory")];
    let mut pieces =
        Vec::with_capacity(usize::try_from(length.div_ceil(piece_length)).unwrap_or(0));
    let mut leaves = Vec::with_capacity(per_piece);
    let mut left = length;
    while left > 0 {
        let n = left.min(piece_length);
        let bytes = &mut buf[..usize::try_from(n).expect("at most a piece")];
        data.read_exact(bytes)?;
        leaves.clear();
        leaves.extend(
            bytes
                .chunks(BLOCK_BYTES)
                .map(|b| Sha256Digest::from(Sha256::digest(b))),
        );
        if length <= piece_length {
            // One piece: its tree is only as wide as its blocks need.
            return Ok(FileMerkle {
                root: Some(merkle_root(&leaves, [0; 32])),
                layer: Vec::new(),
            });
        }
        leaves.resize(per_piece, [0; 32]);
        pieces.push(merkle_root(&leaves, [0; 32]));
        left -= n;
    }
    Ok(FileMerkle {
        root: Some(merkle_root(&pieces, zero_subtree(piece_length / BLOCK))),
        layer: pieces,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merkle_root_pads_with_zero_subtrees() {
        let a = [1u8; 32];
        let pad = zero_subtree(4);
        assert_eq!(zero_subtree(1), [0; 32]);
        assert_eq!(zero_subtree(2), pair(&[0; 32], &[0; 32]));
        // Three leaves: the fourth is the pad.
        let want = pair(&pair(&a, &a), &pair(&a, &pad));
        assert_eq!(merkle_root(&[a, a, a], pad), want);
        assert_eq!(merkle_root(&[a], pad), a);
    }

    fn leaf(b: &[u8]) -> Sha256Digest {
        Sha256::digest(b).into()
    }

    #[test]
    fn a_file_of_one_piece_has_a_root_over_its_blocks_only() {
        // Three blocks, the last short, pieces of four blocks: the tree is four
        // leaves wide (three blocks and a zero leaf), no layer.
        let data: Vec<u8> = (0..(2 * BLOCK + 100))
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        let got = merkle_file(&data[..], data.len() as u64, 4 * BLOCK).unwrap();
        let b: Vec<&[u8]> = data.chunks(BLOCK_BYTES).collect();
        let want = pair(
            &pair(&leaf(b[0]), &leaf(b[1])),
            &pair(&leaf(b[2]), &[0; 32]),
        );
        assert_eq!(got.root, Some(want));
        assert!(got.layer.is_empty());
    }

    #[test]
    fn a_longer_file_has_a_layer_whose_root_is_its_pieces_root() {
        // Pieces of two blocks; five blocks make three pieces, the last one block
        // and a zero leaf; the layer is padded with a zero piece.
        let data: Vec<u8> = (0..(4 * BLOCK + 7))
            .map(|i| u8::try_from(i % 241).unwrap())
            .collect();
        let got = merkle_file(&data[..], data.len() as u64, 2 * BLOCK).unwrap();
        let b: Vec<&[u8]> = data.chunks(BLOCK_BYTES).collect();
        let p = [
            pair(&leaf(b[0]), &leaf(b[1])),
            pair(&leaf(b[2]), &leaf(b[3])),
            pair(&leaf(b[4]), &[0; 32]),
        ];
        assert_eq!(got.layer, p);
        let want = pair(&pair(&p[0], &p[1]), &pair(&p[2], &zero_subtree(2)));
        assert_eq!(got.root, Some(want));
        // The same root as one tree over all the blocks.
        let blocks: Vec<_> = b.iter().map(|x| leaf(x)).collect();
        assert_eq!(got.root, Some(merkle_root(&blocks, [0; 32])));
    }

    #[test]
    fn an_empty_file_has_no_root_and_a_short_one_is_an_error() {
        assert_eq!(
            merkle_file(&[][..], 0, BLOCK).unwrap(),
            FileMerkle::default()
        );
        let e = merkle_file(&[1u8; 10][..], 11, BLOCK).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
