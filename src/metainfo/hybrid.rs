//! A hybrid torrent's v2 side as the engine keeps it: each piece's merkle root
//! beside its SHA-1 ([`PieceHashes::Hybrid`]), so that peers of its v2 swarm,
//! which know it by its v2 hash alone (a `btmh` link), get the piece layers
//! they ask for with hash requests (BEP 52).
//!
//! A hybrid's pad files start every file on a piece boundary, so its pieces
//! are the same in both swarms: piece `i` of the v1 layout is the `i`-th of
//! the files' v2 pieces laid end to end. A hybrid whose v1 layout does not
//! line up so (a maker that left out a pad file) loads by its SHA-1 side only
//! and refuses hash requests.

use crate::hash::merkle::Sha256Digest;
use crate::hash::{MerklePiece, PieceHashes};

use super::torrent::Info;
use super::v2::V2;
use super::{LayerNeed, MetainfoLimits};

/// Every piece's merkle root, in the order of `info`'s pieces (`info` the
/// hybrid's v1 layout; `layers` each v2 file's piece layer, checked, as
/// [`super::v2_layout::file_layer`] returns them); `None` when the two
/// layouts' pieces are not the same pieces.
pub(super) fn merkle_pieces(
    v2: &V2,
    layers: &[Vec<Sha256Digest>],
    info: &Info,
) -> Option<Vec<MerklePiece>> {
    let g = &info.geometry;
    let v1_files = (0..info.files.len()).filter(|&i| !info.files[i].attr.pad);
    let mut table = Vec::with_capacity(g.piece_count() as usize);
    for (i, (f, layer)) in v1_files.zip(v2.files.iter().zip(layers)) {
        let pieces = super::v2_layout::file_pieces(f, v2.piece_length, layer);
        let want = g.file_pieces(i);
        let start = u32::try_from(table.len()).ok()?;
        let fits = info.files[i].length == f.length
            && (pieces.is_empty() || want == (start..start + u32::try_from(pieces.len()).ok()?));
        if !fits {
            return None;
        }
        table.extend(pieces);
    }
    (table.len() == g.piece_count() as usize).then_some(table)
}

/// `info`'s pieces checked by their SHA-1, with their merkle roots from
/// `v2`'s `layers` when they line up (see [`merkle_pieces`]); otherwise as
/// they were, and why not.
pub(super) fn with_roots(
    v2: &V2,
    layers: &[Vec<Sha256Digest>],
    info: &mut Info,
) -> Result<(), &'static str> {
    let Some(table) = merkle_pieces(v2, layers, info) else {
        return Err("its v1 pieces are not its v2 pieces (a pad file is missing)");
    };
    let PieceHashes::Sha1(sha1) = &mut info.pieces else {
        return Err("its v1 side has no SHA-1 pieces");
    };
    info.pieces = PieceHashes::Hybrid {
        sha1: std::mem::take(sha1),
        merkle: table,
    };
    Ok(())
}

/// A hybrid's bare `info` (what ut_metadata brings; `info` its v1 layout,
/// parsed from `bytes`): its pieces' merkle roots as far as the `info` holds
/// them (a file of one piece or less: its `pieces root`; longer files' zero
/// until their layers come) and those longer files, their pieces numbered as
/// the v1 layout's; `None` when the two layouts' pieces are not the same.
pub fn hybrid_layer_needs(
    bytes: &[u8],
    info: &Info,
    limits: &MetainfoLimits,
) -> Option<(Vec<MerklePiece>, Vec<LayerNeed>)> {
    let node = crate::bencode::decode(bytes, limits.bencode).ok()?;
    let v2 = super::v2::parse_tree(&node).ok()?;
    let per_file = super::v2_layout::layers_to_come(&v2, limits).ok()?;
    let table = merkle_pieces(&v2, &per_file, info)?;
    let needs = super::v2_layout::layer_needs(&v2, info);
    Some((table, needs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::merkle::merkle_file;
    use crate::metainfo::{
        CreateLayout, CreateOptions, Geometry, MetainfoLimits, alignment_pads, build_torrent_v2,
        encode_stored, parse_stored,
    };

    #[test]
    fn a_hybrid_keeps_its_roots_through_the_store_and_refuses_a_misaligned_layout() {
        // `a` of three pieces, an empty `b`, `c` of one piece, `d` of 5 bytes
        // (16 KiB pieces): five pieces in both swarms.
        let files: [(&str, u64); 4] = [("a", 40_000), ("b", 0), ("c", 16_384), ("d", 5)];
        let trees: Vec<_> = (files.iter())
            .map(|(_, l)| {
                merkle_file(&vec![7u8; usize::try_from(*l).unwrap()][..], *l, 16_384).unwrap()
            })
            .collect();
        let lengths: Vec<u64> = files.iter().map(|f| f.1).collect();
        let padded =
            lengths.iter().sum::<u64>() + alignment_pads(&lengths, 16_384).iter().sum::<u64>();
        let v1 = vec![[3u8; 20]; usize::try_from(padded.div_ceil(16_384)).unwrap()];
        let layout = CreateLayout {
            name: "pack".into(),
            files: Some(
                files
                    .iter()
                    .map(|(p, l)| (vec![(*p).to_owned()], *l))
                    .collect(),
            ),
            length: 0,
        };
        let opts = CreateOptions::default();
        let meta = build_torrent_v2(&layout, 16_384, Some(&v1), &trees, &opts)
            .unwrap()
            .meta;
        let PieceHashes::Hybrid { sha1, merkle } = &meta.info.pieces else {
            panic!("{:?}", meta.info.pieces);
        };
        assert_eq!(sha1, &v1);
        let roots: Vec<_> = merkle.iter().map(|p| p.root).collect();
        let want = [
            &trees[0].layer[..],
            &[trees[2].root.unwrap(), trees[3].root.unwrap()],
        ]
        .concat();
        assert_eq!(roots, want);
        assert_eq!(merkle[4].leaves, 1);

        // The store keeps the roots: read back, the same pieces.
        let record = encode_stored(&meta.info_bytes, &meta.info.pieces);
        assert_eq!(record.first(), Some(&b'l'));
        let (ih, info, bytes) = parse_stored(&record, &MetainfoLimits::default()).unwrap();
        assert_eq!((ih, &bytes), (meta.info_hash, &meta.info_bytes));
        assert_eq!(info.pieces, meta.info.pieces);

        // Without its pad file, `c` would start inside a piece: no roots, and
        // the SHA-1 pieces stay as they were.
        let mut odd = meta.info.clone();
        odd.files.retain(|f| !f.attr.pad);
        let lens: Vec<u64> = odd.files.iter().map(|f| f.length).collect();
        odd.geometry = Geometry::new(16_384, &lens).unwrap();
        odd.pieces = PieceHashes::Sha1(v1.clone());
        let v2 = meta.v2.as_deref().unwrap();
        let layers: Vec<_> = trees
            .iter()
            .map(|t| {
                if t.layer.len() > 1 {
                    t.layer.clone()
                } else {
                    Vec::new()
                }
            })
            .collect();
        assert!(merkle_pieces(v2, &layers, &meta.info).is_some());
        assert!(with_roots(v2, &layers, &mut odd).is_err());
        assert_eq!(odd.pieces, PieceHashes::Sha1(v1));
    }
}
