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

/// The most hashes one hash request may ask for (as libtorrent allows).
pub const MAX_HASHES: u32 = 8192;

/// A file's merkle tree from its piece layer up, kept to answer hash requests
/// (BEP 52) for that layer and the ones above it.
#[derive(Debug, Clone)]
pub struct LayerTree {
    /// `levels[0]`: the piece layer padded to a power of two; each next one
    /// the parents of the one before; the last the root alone.
    levels: Vec<Vec<Sha256Digest>>,
    /// The piece layer's height above the blocks (log2 of blocks per piece).
    piece_base: u32,
}

impl LayerTree {
    /// The tree over `layer` (a file's piece hashes) for pieces of
    /// `blocks_per_piece` blocks (a power of two).
    pub fn new(layer: &[Sha256Digest], blocks_per_piece: u64) -> LayerTree {
        let mut level = layer.to_vec();
        level.resize(
            layer.len().next_power_of_two(),
            zero_subtree(blocks_per_piece),
        );
        let mut levels = vec![level];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let up = levels.last().expect("one level at least");
            let next = up.chunks_exact(2).map(|c| pair(&c[0], &c[1])).collect();
            levels.push(next);
        }
        LayerTree {
            levels,
            piece_base: blocks_per_piece.trailing_zeros(),
        }
    }

    /// The piece layer's height above the blocks (log2 of blocks per piece).
    pub fn piece_base(&self) -> u32 {
        self.piece_base
    }

    /// The file's root.
    pub fn root(&self) -> Sha256Digest {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or([0; 32])
    }

    /// The answer to a hash request for `count` hashes of layer `base` (0:
    /// the blocks') from `index`, with `proof_layers`: the hashes, then, going
    /// up from the range's first node, the sibling of each ancestor at or above
    /// the range's subtree root, for `proof_layers` levels (libtorrent's
    /// reading of BEP 52). `None`: a request libtorrent would refuse too, one
    /// BEP 52 forbids (a count below two or not a power of two, an index not a
    /// multiple of it), or one below the piece layer (answered from the
    /// pieces' blocks by [`LayerTree::answer_below`]).
    pub fn answer(
        &self,
        base: u32,
        index: u32,
        count: u32,
        proof_layers: u32,
    ) -> Option<Vec<Sha256Digest>> {
        if base < self.piece_base || !self.allowed(base, index, count, proof_layers) {
            return None;
        }
        self.answer_with(base, index, count, proof_layers, &[], 0)
    }

    /// Whether BEP 52 allows the request (see [`LayerTree::answer`]) and the
    /// tree is tall enough for it.
    fn allowed(&self, base: u32, index: u32, count: u32, proof_layers: u32) -> bool {
        let Ok(above) = u32::try_from(self.levels.len() - 1) else {
            return false;
        };
        let layers = self.piece_base + above;
        // BEP 52: a power of two of hashes, two at least (one could not be
        // proved without its sibling), from a multiple of it.
        count >= 2
            && count.is_power_of_two()
            && index.is_multiple_of(count)
            && count <= MAX_HASHES
            && base < layers
            && proof_layers < layers - base
    }

    /// The pieces (of the padded layer, from the file's first) whose blocks
    /// answer a request below the piece layer; `None` for a request
    /// [`LayerTree::answer`] would refuse, at or above the piece layer, or
    /// past the tree's width.
    pub fn pieces_below(
        &self,
        base: u32,
        index: u32,
        count: u32,
        proof_layers: u32,
    ) -> Option<std::ops::Range<u32>> {
        if base >= self.piece_base || !self.allowed(base, index, count, proof_layers) {
            return None;
        }
        let first = (u64::from(index) << base) >> self.piece_base;
        let end = (u64::from(index) + u64::from(count)) << base;
        let end = end.div_ceil(1 << self.piece_base);
        if end > self.levels[0].len() as u64 {
            return None;
        }
        Some(u32::try_from(first).ok()?..u32::try_from(end).ok()?)
    }

    /// The answer to a request below the piece layer (see
    /// [`LayerTree::answer`]) from `leaves`, the block hashes of the pieces
    /// [`LayerTree::pieces_below`] names (each piece's leaves padded with zero
    /// leaves to its width). `None` also when those blocks do not hash up to
    /// the pieces' entries in the layer: the data changed, and an answer
    /// would not prove.
    pub fn answer_below(
        &self,
        base: u32,
        index: u32,
        count: u32,
        proof_layers: u32,
        leaves: &[Sha256Digest],
    ) -> Option<Vec<Sha256Digest>> {
        let pieces = self.pieces_below(base, index, count, proof_layers)?;
        let per_piece = 1usize << self.piece_base;
        if leaves.len() != pieces.len() * per_piece {
            return None;
        }
        let mut lower = vec![leaves.to_vec()];
        for _ in 0..self.piece_base {
            let up = lower.last().expect("the leaves at least");
            let next = up.chunks_exact(2).map(|c| pair(&c[0], &c[1])).collect();
            lower.push(next);
        }
        let roots = lower.pop().expect("the pieces' roots");
        if roots[..] != self.levels[0][pieces.start as usize..pieces.end as usize] {
            return None;
        }
        self.answer_with(base, index, count, proof_layers, &lower, pieces.start)
    }

    /// The range and its proof, the levels below the piece layer from `lower`
    /// (level by level from the blocks', over the pieces from `first_piece`).
    fn answer_with(
        &self,
        base: u32,
        index: u32,
        count: u32,
        proof_layers: u32,
        lower: &[Vec<Sha256Digest>],
        first_piece: u32,
    ) -> Option<Vec<Sha256Digest>> {
        let node = |level: u32, at: usize| -> Option<Sha256Digest> {
            if level >= self.piece_base {
                let l = self.levels.get((level - self.piece_base) as usize)?;
                return l.get(at).copied();
            }
            let from = (first_piece as usize) << (self.piece_base - level);
            lower
                .get(level as usize)?
                .get(at.checked_sub(from)?)
                .copied()
        };
        let (start, end) = (index as usize, index as usize + count as usize);
        let mut out = (start..end)
            .map(|at| node(base, at))
            .collect::<Option<Vec<_>>>()?;
        let skip = count.trailing_zeros();
        let mut at = start;
        for i in 0..proof_layers {
            at /= 2;
            if i + 1 >= skip {
                out.push(node(base + i + 1, at ^ 1)?);
            }
        }
        Some(out)
    }
}

/// The range's hashes, if `hashes` (a hashes message: `count` hashes of a
/// file's piece layer from `index`, a power of two and a multiple of it, and
/// their proof, asked for with `proof_layers`) hash up to `root`; `width` is
/// the piece layer's padded width.
pub fn check_answer(
    root: &Sha256Digest,
    width: u64,
    index: u32,
    count: u32,
    proof_layers: u32,
    hashes: &[Sha256Digest],
) -> Option<Vec<Sha256Digest>> {
    if !count.is_power_of_two()
        || !index.is_multiple_of(count)
        || u64::from(index) + u64::from(count) > width
    {
        return None;
    }
    let skip = count.trailing_zeros();
    let uncles = (0..proof_layers).filter(|i| i + 1 >= skip).count();
    if hashes.len() != count as usize + uncles {
        return None;
    }
    let (range, proof) = hashes.split_at(count as usize);
    let mut node = merkle_root(range, [0; 32]);
    let mut at = index / count;
    for u in proof {
        node = if at.is_multiple_of(2) {
            pair(&node, u)
        } else {
            pair(u, &node)
        };
        at /= 2;
    }
    // The proof must end at the root: the top's only node.
    let top = u64::from(count) << proof.len();
    (top == width && at == 0 && node == *root).then(|| range.to_vec())
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
    fn a_layer_tree_answers_ranges_with_proofs_that_check() {
        // Six pieces of four blocks: a layer eight wide (two pads), four levels.
        let layer: Vec<Sha256Digest> = (0..6u8).map(|i| [i + 1; 32]).collect();
        let t = LayerTree::new(&layer, 4);
        let root = merkle_root(&layer, zero_subtree(4));
        assert_eq!(t.root(), root);
        // The whole layer at the piece level (base 2): no proof needed.
        let all = t.answer(2, 0, 8, 0).unwrap();
        assert_eq!(all.len(), 8);
        assert_eq!(&all[..6], &layer[..]);
        assert_eq!(all[6], zero_subtree(4));
        assert_eq!(check_answer(&root, 8, 0, 8, 0, &all).unwrap().len(), 8);
        // Two pieces with the proof up to just under the root (two uncles).
        let part = t.answer(2, 4, 2, 2).unwrap();
        assert_eq!(part.len(), 4);
        let got = check_answer(&root, 8, 4, 2, 2, &part).unwrap();
        assert_eq!(got, layer[4..6]);
        // A wrong hash, a wrong proof, a short answer: refused.
        let mut bad = part.clone();
        bad[0][0] ^= 1;
        assert!(check_answer(&root, 8, 4, 2, 2, &bad).is_none());
        let mut bad = part.clone();
        bad[3][0] ^= 1;
        assert!(check_answer(&root, 8, 4, 2, 2, &bad).is_none());
        assert!(check_answer(&root, 8, 4, 2, 2, &part[..3]).is_none());
        // Out of range, too deep a proof, the block layer: not answered.
        assert!(t.answer(2, 6, 4, 0).is_none());
        assert!(t.answer(2, 0, 2, 3).is_none());
        assert!(t.answer(0, 0, 2, 0).is_none());
        assert!(t.answer(2, 0, 0, 0).is_none());
        assert!(
            t.answer(2, 1, 2, 0).is_none(),
            "an index not a multiple of the count"
        );
        assert!(t.answer(2, 0, 3, 0).is_none(), "a count not a power of two");
        assert!(
            t.answer(2, 1, 1, 1).is_none(),
            "one hash, which nothing proves"
        );
        // A layer above the pieces': the root's children.
        let l = &all;
        let left = pair(&pair(&l[0], &l[1]), &pair(&l[2], &l[3]));
        let right = pair(&pair(&l[4], &l[5]), &pair(&l[6], &l[7]));
        assert_eq!(t.answer(4, 0, 2, 0).unwrap(), [left, right]);
        assert_eq!(pair(&left, &right), root);
    }

    #[test]
    fn requests_below_the_piece_layer_are_answered_from_the_blocks() {
        // Five pieces of four blocks, the last short: a layer eight wide.
        let data: Vec<u8> = (0..(18 * BLOCK + 5))
            .map(|i| u8::try_from(i % 239).unwrap())
            .collect();
        let f = merkle_file(&data[..], data.len() as u64, 4 * BLOCK).unwrap();
        let root = f.root.unwrap();
        let t = LayerTree::new(&f.layer, 4);
        // Each piece's four leaves, zeros past the file and for the pads.
        let leaves_of = |pieces: std::ops::Range<u32>| -> Vec<Sha256Digest> {
            let mut v: Vec<Sha256Digest> = Vec::new();
            for p in pieces {
                let start = (p as usize * 4 * BLOCK_BYTES).min(data.len());
                let end = (start + 4 * BLOCK_BYTES).min(data.len());
                let mut l: Vec<_> = data[start..end].chunks(BLOCK_BYTES).map(leaf).collect();
                l.resize(4, [0; 32]);
                v.extend(l);
            }
            v
        };
        // (base, index, count, proof layers): a piece's blocks, two blocks
        // inside a piece, a level between, the tail with its pads; each
        // proved to the root over the level's width.
        for (base, index, count, proof) in
            [(0, 4, 4, 4), (0, 2, 2, 4), (1, 2, 2, 3), (0, 16, 16, 4)]
        {
            let pieces = t.pieces_below(base, index, count, proof).unwrap();
            let got = t
                .answer_below(base, index, count, proof, &leaves_of(pieces))
                .unwrap();
            let width = 32 >> base;
            let hashes = check_answer(&root, width, index, count, proof, &got);
            assert!(
                hashes.is_some(),
                "({base}, {index}, {count}, {proof}) does not prove"
            );
        }
        assert_eq!(t.pieces_below(0, 2, 2, 4), Some(0..1));
        assert_eq!(t.pieces_below(0, 16, 16, 4), Some(4..8));
        // Changed data, the wrong number of leaves, past the width, at the
        // piece layer: no answer.
        let mut bad = leaves_of(1..2);
        bad[1][0] ^= 1;
        assert!(t.answer_below(0, 4, 4, 4, &bad).is_none());
        assert!(t.answer_below(0, 4, 4, 4, &bad[..3]).is_none());
        assert!(t.pieces_below(0, 32, 4, 0).is_none());
        assert!(t.pieces_below(2, 0, 2, 0).is_none());
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
