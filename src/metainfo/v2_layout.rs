//! A v2-only torrent (BEP 52) as the engine runs it: the files of its tree in
//! order, each followed by the padding that fills its last piece (the pieces
//! peers number are these; libtorrent pads the last file too), and each piece
//! checked against its merkle root ([`PieceHashes::Merkle`]).
//!
//! The `piece layers` live outside the `info` dictionary, so the session store
//! keeps them beside it ([`encode_stored`], [`parse_stored`]): every piece's
//! root, in order, after the `info` bytes.

use crate::bencode::{self, Node, OwnedValue};
use crate::hash::merkle::{BLOCK, Sha256Digest, merkle_root, zero_subtree};
use crate::hash::{MerklePiece, PieceHashes};
use crate::types::InfoHash;

use super::FilePath;
use super::geometry::Geometry;
use super::path::sanitize_path;
use super::torrent::{FileAttr, FileEntry, Info};
use super::v2::{V2, V2File};
use super::{MAX_PIECE_LENGTH, MetainfoError, MetainfoLimits};

fn bad(why: impl Into<String>) -> MetainfoError {
    MetainfoError::BadV2(why.into())
}

/// The piece layer of `f` from `raw` (its bytes), checked against its root:
/// one hash per piece for a file longer than a piece, none otherwise.
pub(super) fn file_layer(
    f: &V2File,
    piece_length: u64,
    raw: Option<&[u8]>,
) -> Result<Vec<Sha256Digest>, MetainfoError> {
    let Some(root) = f.pieces_root else {
        return Ok(Vec::new());
    };
    if f.length <= piece_length {
        return Ok(Vec::new());
    }
    let name = f.path.join("/");
    let layer = raw.ok_or(MetainfoError::NoPieceLayer(name.clone()))?;
    let pieces = f.length.div_ceil(piece_length);
    if layer.len() as u64 != pieces * 32 {
        return Err(bad(format!(
            "{name}: a piece layer of {} bytes for {pieces} pieces",
            layer.len()
        )));
    }
    let hashes: Vec<Sha256Digest> = layer
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32 bytes"))
        .collect();
    if merkle_root(&hashes, zero_subtree(piece_length / BLOCK)) != root {
        return Err(bad(format!(
            "{name}: its piece layer does not hash to its pieces root"
        )));
    }
    Ok(hashes)
}

/// The engine's layout of a v2-only torrent named `name` (the `info`'s
/// `name`), whose files have the piece layers `layers` (one per file, as
/// [`file_layer`] returns them).
pub(super) fn layout(
    v2: &V2,
    name: &str,
    private: bool,
    layers: &[Vec<Sha256Digest>],
    limits: &MetainfoLimits,
) -> Result<Info, MetainfoError> {
    let plen = u32::try_from(v2.piece_length)
        .ok()
        .filter(|&n| n <= MAX_PIECE_LENGTH)
        .ok_or(MetainfoError::BadPieceLength(
            i64::try_from(v2.piece_length).unwrap_or(i64::MAX),
        ))?;
    if v2.files.len() > limits.max_files {
        return Err(MetainfoError::TooManyFiles {
            count: v2.files.len(),
            max: limits.max_files,
        });
    }
    let name = sanitize_path([name])
        .map_err(|reason| MetainfoError::UnsafePath {
            path: name.to_owned(),
            reason,
        })?
        .remove(0);
    // One file at the top of the tree is a single-file torrent, stored under
    // its own name (as libtorrent does); otherwise the files live in a folder.
    let single = v2.files.len() == 1 && v2.files[0].path.len() == 1;
    // Every file is padded to a whole piece, the last too (as libtorrent lays
    // a v2-only torrent out: its peers ask for whole blocks of a last piece).
    let pads = v2.files.iter().map(|f| match f.length % v2.piece_length {
        0 => 0,
        r => v2.piece_length - r,
    });
    let mut files = Vec::with_capacity(v2.files.len() * 2);
    let mut pieces = Vec::new();
    for ((f, pad), layer) in v2.files.iter().zip(pads).zip(layers) {
        let path = if single {
            FilePath::from_parts(&f.path)
        } else {
            FilePath::from_parts(std::iter::once(&name).chain(&f.path))
        };
        files.push(FileEntry {
            path,
            length: f.length,
            attr: FileAttr::default(),
        });
        if pad > 0 {
            let folder = if single { &f.path[0] } else { &name };
            files.push(FileEntry {
                path: FilePath::from_parts([folder, ".pad", &pad.to_string()]),
                length: pad,
                attr: FileAttr {
                    pad: true,
                    ..FileAttr::default()
                },
            });
        }
        pieces.extend(file_pieces(f, v2.piece_length, layer));
    }
    let lengths: Vec<u64> = files.iter().map(|f| f.length).collect();
    let geometry = Geometry::new(plen, &lengths).ok_or(MetainfoError::TotalLengthOverflow)?;
    if geometry.total_length() == 0 {
        return Err(MetainfoError::Empty);
    }
    if pieces.len() != geometry.piece_count() as usize {
        return Err(MetainfoError::PieceCountMismatch {
            expected: geometry.piece_count() as usize,
            actual: pieces.len(),
        });
    }
    Ok(Info {
        name: if single {
            files[0].path.first().unwrap_or_default().to_owned()
        } else {
            name
        },
        multi_file: !single,
        files,
        pieces: PieceHashes::Merkle(pieces),
        private,
        geometry,
        content_layout: super::ContentLayout::Original,
        v2_hash: Some(v2.info_hash),
        v1_hash: None,
    })
}

/// The pieces of one file: each entry of its layer, or its root for a file of
/// one piece.
pub(super) fn file_pieces(f: &V2File, plen: u64, layer: &[Sha256Digest]) -> Vec<MerklePiece> {
    let Some(root) = f.pieces_root else {
        return Vec::new();
    };
    let bytes = |k: u64| u32::try_from((f.length - k * plen).min(plen)).expect("at most a piece");
    if f.length <= plen {
        let blocks = f.length.div_ceil(BLOCK).next_power_of_two();
        return vec![MerklePiece {
            root,
            file_bytes: bytes(0),
            leaves: u32::try_from(blocks).expect("at most a piece of blocks"),
        }];
    }
    let leaves = u32::try_from(plen / BLOCK).expect("a piece of blocks");
    layer
        .iter()
        .zip(0u64..)
        .map(|(root, k)| MerklePiece {
            root: *root,
            file_bytes: bytes(k),
            leaves,
        })
        .collect()
}

/// A v2-only torrent (`root`, whose `info` is `info`): its v2 side and layout,
/// each file's piece layer checked against its root.
pub(super) fn read(
    root: &Node<'_>,
    info: &Node<'_>,
    limits: &MetainfoLimits,
) -> Result<(V2, Info), MetainfoError> {
    let (v2, per_file) = super::v2::parse_with_layers(root, info)?;
    let info = layout(&v2, &name_of(info)?, private(info), &per_file, limits)?;
    Ok((v2, info))
}

fn name_of(info: &Node<'_>) -> Result<String, MetainfoError> {
    info.get("name.utf-8")
        .or_else(|| info.get("name"))
        .and_then(Node::as_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .ok_or(MetainfoError::Missing("name"))
}

fn private(info: &Node<'_>) -> bool {
    info.get("private").and_then(Node::as_int) == Some(1)
}

/// A file of a v2-only torrent whose piece layer is still to come: a torrent
/// from a magnet link has only its `info`, and the layers are outside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerNeed {
    /// The file's `pieces root`.
    pub root: Sha256Digest,
    /// Its first piece in the torrent.
    pub first_piece: u32,
    /// Its pieces.
    pub pieces: u32,
}

/// Each file's piece layer as it is before it comes (zeros; none for a file
/// of one piece or less, whose root is its piece's). Files claim their
/// lengths freely, so their pieces are counted before anything is made: more
/// than a `.torrent` within `limits` could carry layers for is refused.
pub(super) fn layers_to_come(
    v2: &V2,
    limits: &MetainfoLimits,
) -> Result<Vec<Vec<Sha256Digest>>, MetainfoError> {
    let plen = v2.piece_length;
    let most = (limits.max_torrent_bytes / 32) as u64;
    let mut total = 0u64;
    let mut per_file = Vec::with_capacity(v2.files.len());
    for f in &v2.files {
        let n = match f.pieces_root {
            Some(_) if f.length > plen => f.length.div_ceil(plen),
            _ => 0,
        };
        total = total.saturating_add(n);
        if total > most {
            return Err(bad(format!(
                "its files need over {most} piece hashes (the layers of a .torrent within {} bytes)",
                limits.max_torrent_bytes
            )));
        }
        per_file.push(vec![[0; 32]; usize::try_from(n).unwrap_or(0)]);
    }
    Ok(per_file)
}

/// A bare v2-only `info` dictionary (what ut_metadata brings): the truncated
/// v2 hash, the layout whose pieces' roots are known except those of files
/// longer than a piece (zero until their layers come), and those files.
pub fn parse_v2_info_bytes(
    bytes: &[u8],
    limits: &MetainfoLimits,
) -> Result<(InfoHash, Info, Vec<LayerNeed>), MetainfoError> {
    let node = bencode::decode(bytes, limits.bencode)?;
    let v2 = super::v2::parse_tree(&node)?;
    let per_file = layers_to_come(&v2, limits)?;
    let info = layout(&v2, &name_of(&node)?, private(&node), &per_file, limits)?;
    let needs = layer_needs(&v2, &info);
    Ok((v2.truncated(), info, needs))
}

/// The files of `v2` longer than a piece, whose layers are to come, with
/// where their pieces are in `info` (the layout of the same files, pad files
/// between them).
pub(super) fn layer_needs(v2: &V2, info: &Info) -> Vec<LayerNeed> {
    let stored = (0..info.files.len()).filter(|&i| !info.files[i].attr.pad);
    stored
        .zip(&v2.files)
        .filter(|(_, f)| f.length > v2.piece_length)
        .filter_map(|(i, f)| {
            let r = info.geometry.file_pieces(i);
            Some(LayerNeed {
                root: f.pieces_root?,
                first_piece: r.start,
                pieces: r.end - r.start,
            })
        })
        .collect()
}

/// What the session store keeps for a torrent: its `info` bytes as they are
/// for a v1 torrent (and a hybrid without its piece layers); for a v2-only one
/// and a hybrid with its layers, a list of the `info` bytes and every piece's
/// root (a bencoded list: a v1 record is a dictionary).
pub fn encode_stored(info_bytes: &[u8], hashes: &PieceHashes) -> Vec<u8> {
    match hashes {
        PieceHashes::Sha1(_) => info_bytes.to_vec(),
        PieceHashes::Merkle(p) | PieceHashes::Hybrid { merkle: p, .. } => {
            let roots: Vec<u8> = p.iter().flat_map(|p| p.root).collect();
            OwnedValue::List(vec![info_bytes.to_vec().into(), roots.into()]).encode()
        }
    }
}

/// The parts of a stored v2 or hybrid record (a list: see [`encode_stored`]).
pub(super) struct StoredV2<'a> {
    /// The `info` bytes.
    pub info: &'a [u8],
    /// They, decoded.
    pub node: Node<'a>,
    /// Its v2 side.
    pub v2: V2,
    /// Each file's stored roots, in order (none for a file with no data).
    pub roots: Vec<&'a [u8]>,
}

/// Splits a stored list record into its parts, each file's roots counted
/// off by its length (a record short of them is refused).
pub(super) fn stored_v2<'a>(
    bytes: &'a [u8],
    limits: &MetainfoLimits,
) -> Result<StoredV2<'a>, MetainfoError> {
    let root = bencode::decode(bytes, limits.bencode)?;
    let parts = root.as_list().unwrap_or(&[]);
    let (Some(info), Some(all)) = (
        parts.first().and_then(Node::as_bytes),
        parts.get(1).and_then(Node::as_bytes),
    ) else {
        return Err(bad("a stored v2 record is not [info, roots]"));
    };
    let node = bencode::decode(info, limits.bencode)?;
    let v2 = super::v2::parse_tree(&node)?;
    let mut at = 0usize;
    let mut roots = Vec::with_capacity(v2.files.len());
    for f in &v2.files {
        let n = if f.pieces_root.is_some() {
            usize::try_from(f.length.div_ceil(v2.piece_length)).unwrap_or(usize::MAX)
        } else {
            0
        };
        let raw = at
            .checked_add(n.saturating_mul(32))
            .and_then(|end| all.get(at..end))
            .ok_or_else(|| bad("a stored v2 record is short of roots"))?;
        at += raw.len();
        roots.push(raw);
    }
    Ok(StoredV2 {
        info,
        node,
        v2,
        roots,
    })
}

/// A record [`encode_stored`] wrote: the info-hash (a v2-only torrent's is its
/// truncated v2 hash, a hybrid's its v1 hash), the layout with its hashes, and
/// the `info` bytes.
pub fn parse_stored(
    bytes: &[u8],
    limits: &MetainfoLimits,
) -> Result<(InfoHash, Info, Vec<u8>), MetainfoError> {
    if bytes.first() != Some(&b'l') {
        let (ih, info) = super::parse_info_bytes(bytes, limits)?;
        return Ok((ih, info, bytes.to_vec()));
    }
    let StoredV2 {
        info: info_bytes,
        node,
        v2,
        roots,
    } = stored_v2(bytes, limits)?;
    // A longer file's roots are its layer.
    let per_file = (v2.files.iter().zip(&roots))
        .map(|(f, raw)| file_layer(f, v2.piece_length, Some(raw)))
        .collect::<Result<Vec<_>, _>>()?;
    if node.get("pieces").is_some() {
        // A hybrid: its v1 layout, with the roots beside its SHA-1.
        let (ih, mut info) = super::parse_info_bytes(info_bytes, limits)?;
        if let Err(why) = super::hybrid::with_roots(&v2, &per_file, &mut info) {
            tracing::warn!(info_hash = %ih, "a stored hybrid's piece roots not kept: {why}");
        }
        return Ok((ih, info, info_bytes.to_vec()));
    }
    let info = layout(&v2, &name_of(&node)?, private(&node), &per_file, limits)?;
    let ih = crate::types::InfoHash(v2.info_hash[..20].try_into().expect("32 bytes"));
    Ok((ih, info, info_bytes.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_info_claiming_a_vast_file_is_refused_before_anything_is_made() {
        // 2^62 bytes in 16 KiB pieces: 2^48 piece hashes to come. It used to
        // be allocated at once, and the process aborted.
        let info = b"d9:file treed1:ad0:d6:lengthi4611686018427387904e11:pieces root32:\
aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaeee12:meta versioni2e4:name1:x12:piece lengthi16384ee";
        let limits = MetainfoLimits::default();
        let e = parse_v2_info_bytes(info, &limits).unwrap_err();
        assert!(e.to_string().contains("piece hashes"), "{e}");
        // A hybrid's bare info with such a v2 side gets no layers to fetch.
        let (_, v1) = super::super::parse_info_bytes(
            b"d6:lengthi100e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae",
            &limits,
        )
        .unwrap();
        assert!(super::super::hybrid_layer_needs(info, &v1, &limits).is_none());
    }
}
