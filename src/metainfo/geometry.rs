//! Piece geometry: how a torrent's one long byte stream is cut into pieces and blocks,
//! and where each piece lands in the files.
//!
//! The files (pad files and zero-length files included) are laid end to end in torrent
//! order; piece `i` covers bytes `[i * piece_length, min((i + 1) * piece_length, total))`.
//! Zero-length files own no bytes and so appear in no span.

use std::ops::Range;

/// The unit of request on the wire: 16 KiB (the last block of a piece may be shorter).
pub const BLOCK_LEN: u32 = 16 * 1024;

/// Where pieces fall in a list of files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    piece_length: u32,
    piece_count: u32,
    /// `starts[i]` is where file `i` begins in the stream; the last entry is the total.
    starts: Vec<u64>,
    /// The total, beside the list: a list of 100,000 torrents' sizes reads
    /// it without a second cache miss per torrent.
    total: u64,
}

/// A run of one piece's bytes inside one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSpan {
    /// Index of the file in torrent order.
    pub file: usize,
    /// Offset of the run inside that file.
    pub file_offset: u64,
    /// Length of the run in bytes (never 0).
    pub len: u32,
}

/// One request-sized part of a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// The piece it belongs to.
    pub piece: u32,
    /// Offset inside the piece.
    pub offset: u32,
    /// Length, [`BLOCK_LEN`] except maybe for the last block of a piece.
    pub len: u32,
}

impl Geometry {
    /// Lays out `file_lengths` in pieces of `piece_length` bytes. `None` if the piece
    /// length is 0, the total overflows, or there would be more than `u32::MAX` pieces.
    pub fn new(piece_length: u32, file_lengths: &[u64]) -> Option<Geometry> {
        if piece_length == 0 {
            return None;
        }
        let mut starts = Vec::with_capacity(file_lengths.len() + 1);
        let mut total: u64 = 0;
        for &len in file_lengths {
            starts.push(total);
            total = total.checked_add(len)?;
        }
        starts.push(total);
        let piece_count = u32::try_from(total.div_ceil(u64::from(piece_length))).ok()?;
        Some(Geometry {
            piece_length,
            piece_count,
            starts,
            total,
        })
    }

    /// Nominal piece length (every piece but maybe the last).
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.piece_count
    }

    /// Total bytes in the torrent.
    pub fn total_length(&self) -> u64 {
        self.total
    }

    /// Number of files (as laid out, pad files included).
    pub fn file_count(&self) -> usize {
        self.starts.len() - 1
    }

    /// Where file `file` sits in the stream.
    pub fn file_range(&self, file: usize) -> Range<u64> {
        self.starts[file]..self.starts[file + 1]
    }

    /// Where piece `piece` starts in the stream.
    pub fn piece_offset(&self, piece: u32) -> u64 {
        u64::from(piece) * u64::from(self.piece_length)
    }

    /// Length of piece `piece`: the nominal length, or what is left for the last one.
    pub fn piece_len(&self, piece: u32) -> u32 {
        debug_assert!(piece < self.piece_count);
        let rest = self.total_length() - self.piece_offset(piece);
        u32::try_from(rest.min(u64::from(self.piece_length))).expect("bounded by piece_length")
    }

    /// The first file whose end lies past stream offset `pos` (the file holding
    /// its byte, zero-length files skipped; `file_count()` when `pos` is past the
    /// end).
    pub fn file_at(&self, pos: u64) -> usize {
        self.starts[1..].partition_point(|&file_end| file_end <= pos)
    }

    /// The runs of piece `piece` in file order, skipping zero-length files.
    pub fn piece_spans(&self, piece: u32) -> impl Iterator<Item = FileSpan> + '_ {
        let mut pos = self.piece_offset(piece);
        let end = pos + u64::from(self.piece_len(piece));
        let mut file = self.file_at(pos);
        std::iter::from_fn(move || {
            while pos < end {
                let file_end = self.starts[file + 1];
                if file_end <= pos {
                    file += 1;
                    continue;
                }
                let len = file_end.min(end) - pos;
                let span = FileSpan {
                    file,
                    file_offset: pos - self.starts[file],
                    len: u32::try_from(len).expect("bounded by piece_length"),
                };
                pos += len;
                return Some(span);
            }
            None
        })
    }

    /// The runs of `len` bytes at `offset` inside piece `piece`, in file order (a
    /// block, say, or a batch of blocks).
    pub fn range_spans(
        &self,
        piece: u32,
        offset: u32,
        len: u32,
    ) -> impl Iterator<Item = FileSpan> + '_ {
        let (start, end) = (u64::from(offset), u64::from(offset) + u64::from(len));
        let mut pos = 0u64;
        self.piece_spans(piece).filter_map(move |span| {
            let (s, e) = (pos, pos + u64::from(span.len));
            pos = e;
            let (lo, hi) = (s.max(start), e.min(end));
            (lo < hi).then(|| FileSpan {
                file: span.file,
                file_offset: span.file_offset + (lo - s),
                len: u32::try_from(hi - lo).expect("within one piece"),
            })
        })
    }

    /// The pieces that hold at least one byte of file `file` (empty for a zero-length
    /// file).
    pub fn file_pieces(&self, file: usize) -> Range<u32> {
        let r = self.file_range(file);
        if r.is_empty() {
            return 0..0;
        }
        let pl = u64::from(self.piece_length);
        let first = u32::try_from(r.start / pl).expect("piece count fits in u32");
        let last = u32::try_from((r.end - 1) / pl).expect("piece count fits in u32");
        first..last + 1
    }

    /// The blocks of piece `piece`, in order.
    pub fn blocks(&self, piece: u32) -> impl Iterator<Item = Block> {
        let len = self.piece_len(piece);
        (0..len.div_ceil(BLOCK_LEN)).map(move |i| {
            let offset = i * BLOCK_LEN;
            Block {
                piece,
                offset,
                len: BLOCK_LEN.min(len - offset),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spans_cross_files_and_skip_empty_ones() {
        // Files: 10, 0, 5, 20 bytes; pieces of 16.
        let g = Geometry::new(16, &[10, 0, 5, 20]).unwrap();
        assert_eq!(g.piece_count(), 3);
        assert_eq!(g.piece_len(2), 3);
        let p0: Vec<_> = g.piece_spans(0).collect();
        assert_eq!(
            p0,
            vec![
                FileSpan {
                    file: 0,
                    file_offset: 0,
                    len: 10
                },
                FileSpan {
                    file: 2,
                    file_offset: 0,
                    len: 5
                },
                FileSpan {
                    file: 3,
                    file_offset: 0,
                    len: 1
                },
            ]
        );
        assert_eq!(g.file_pieces(1), 0..0);
        assert_eq!(g.file_pieces(3), 0..3);
    }

    #[test]
    fn blocks_of_a_short_last_piece() {
        let g = Geometry::new(65536, &[65536 + 20000]).unwrap();
        let b: Vec<_> = g.blocks(1).map(|b| (b.offset, b.len)).collect();
        assert_eq!(b, vec![(0, 16384), (16384, 20000 - 16384)]);
    }

    #[test]
    fn empty_and_overflowing_layouts() {
        assert!(Geometry::new(0, &[1]).is_none());
        assert!(Geometry::new(16384, &[u64::MAX, 1]).is_none());
        assert_eq!(Geometry::new(16384, &[0, 0]).unwrap().piece_count(), 0);
    }

    proptest! {
        #[test]
        fn spans_tile_the_stream_exactly(
            lens in proptest::collection::vec(prop_oneof![Just(0u64), 0u64..5000, 0u64..100_000], 1..20),
            shift in 4u32..17,
        ) {
            let pl = 1u32 << shift;
            let g = Geometry::new(pl, &lens).unwrap();
            let total: u64 = lens.iter().sum();
            prop_assert_eq!(g.total_length(), total);
            prop_assert_eq!(u64::from(g.piece_count()), total.div_ceil(u64::from(pl)));
            // Walking every span of every piece visits every byte once, in order.
            let mut pos = 0u64;
            let mut touched = vec![Vec::new(); lens.len()];
            for p in 0..g.piece_count() {
                let mut in_piece = 0u32;
                for s in g.piece_spans(p) {
                    prop_assert!(s.len > 0);
                    let r = g.file_range(s.file);
                    prop_assert_eq!(r.start + s.file_offset, pos);
                    prop_assert!(s.file_offset + u64::from(s.len) <= lens[s.file]);
                    pos += u64::from(s.len);
                    in_piece += s.len;
                    touched[s.file].push(p);
                }
                prop_assert_eq!(in_piece, g.piece_len(p));
                let blocks: u32 = g.blocks(p).map(|b| b.len).sum();
                prop_assert_eq!(blocks, g.piece_len(p));
                prop_assert!(g.blocks(p).all(|b| b.len <= BLOCK_LEN && b.len > 0));
            }
            prop_assert_eq!(pos, total);
            // A range inside a piece: its spans cover exactly that range, in order.
            for p in 0..g.piece_count() {
                let plen = g.piece_len(p);
                let (off, len) = (plen / 3, plen - plen / 3 - plen / 5);
                let mut at = g.piece_offset(p) + u64::from(off);
                let mut covered = 0u32;
                for s in g.range_spans(p, off, len) {
                    prop_assert_eq!(g.file_range(s.file).start + s.file_offset, at);
                    at += u64::from(s.len);
                    covered += s.len;
                }
                prop_assert_eq!(covered, len);
            }
            // file_pieces names exactly the pieces that touched the file.
            for (f, ps) in touched.iter_mut().enumerate() {
                ps.dedup();
                let expected: Vec<u32> = g.file_pieces(f).collect();
                prop_assert_eq!(&expected, ps);
            }
        }
    }
}
