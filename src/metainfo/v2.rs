//! BitTorrent v2 metadata (BEP 52), read side: the `file tree`, the `piece
//! layers` checked against each file's merkle root, and the v2 info-hash
//! (SHA-256 of the `info` bytes; peers, trackers and the DHT use its first 20
//! bytes).
//!
//! A hybrid torrent (v1 and v2 in one `info`) loads as v1 and carries its v2
//! side ([`super::Metainfo::v2`]); a v2-only torrent loads with that side and
//! a layout whose pieces are checked by their merkle roots
//! ([`super::v2_layout`]).

use sha2::{Digest, Sha256};

use crate::hash::merkle::BLOCK;

use super::MetainfoError;
use super::path::sanitize_path;
use crate::bencode::Node;

/// One file of a v2 file tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2File {
    /// Sanitised path components (the torrent's name not included).
    pub path: Vec<String>,
    /// Bytes.
    pub length: u64,
    /// The root of its merkle tree (none for an empty file).
    pub pieces_root: Option<[u8; 32]>,
}

/// A torrent's v2 side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2 {
    /// SHA-256 of the `info` bytes.
    pub info_hash: [u8; 32],
    /// Piece length (a power of two, at least 16 KiB).
    pub piece_length: u64,
    /// Files in tree order.
    pub files: Vec<V2File>,
}

impl V2 {
    /// The v2 info-hash in lowercase hex (64 digits).
    pub fn info_hash_hex(&self) -> String {
        self.info_hash.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The 20 bytes peers, trackers and the DHT know it by.
    pub fn truncated(&self) -> crate::types::InfoHash {
        crate::types::InfoHash(self.info_hash[..20].try_into().expect("32 bytes"))
    }
}

fn bad(why: impl Into<String>) -> MetainfoError {
    MetainfoError::BadV2(why.into())
}

/// Each file's piece layer (empty for a file of one piece), in tree order.
pub(crate) type Layers = Vec<Vec<[u8; 32]>>;

/// The v2 side of `root` (the whole torrent), whose `info` is `info`, with
/// each file's piece layer ([`Layers`]) checked against its root.
pub(crate) fn parse_with_layers(
    root: &Node<'_>,
    info: &Node<'_>,
) -> Result<(V2, Layers), MetainfoError> {
    let v2 = parse_tree(info)?;
    let layers = root.get("piece layers").and_then(Node::as_dict);
    let per_file = (v2.files.iter())
        .map(|f| {
            let raw = f.pieces_root.and_then(|r| {
                layers?
                    .iter()
                    .find(|(k, _)| *k == r.as_slice())
                    .and_then(|(_, v)| v.as_bytes())
            });
            super::v2_layout::file_layer(f, v2.piece_length, raw)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((v2, per_file))
}

/// The v2 side of `info` alone: its file tree and hash (piece layers unchecked).
pub(crate) fn parse_tree(info: &Node<'_>) -> Result<V2, MetainfoError> {
    let piece_length = info
        .get("piece length")
        .and_then(Node::as_int)
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| n.is_power_of_two() && *n >= BLOCK)
        .ok_or_else(|| bad("'piece length' must be a power of two of at least 16 KiB"))?;
    let tree = info
        .get("file tree")
        .ok_or(MetainfoError::Missing("file tree"))?;
    let mut files = Vec::new();
    walk(tree, &mut Vec::new(), &mut files)?;
    if files.is_empty() {
        return Err(bad("the file tree holds no file"));
    }
    Ok(V2 {
        info_hash: Sha256::digest(info.raw()).into(),
        piece_length,
        files,
    })
}

/// Files of a (sub)tree, depth first in key order; `at` is the path so far.
fn walk<'a>(
    node: &Node<'a>,
    at: &mut Vec<&'a str>,
    out: &mut Vec<V2File>,
) -> Result<(), MetainfoError> {
    let entries = node
        .as_dict()
        .ok_or_else(|| bad("a file tree entry is not a dictionary"))?;
    for (key, child) in entries {
        if key.is_empty() {
            // A file: `{"": {length, pieces root}}` under its name.
            if !at.is_empty() && entries.len() == 1 {
                out.push(file(child, at)?);
                continue;
            }
            return Err(bad("a file entry beside other names"));
        }
        let name = std::str::from_utf8(key).map_err(|_| bad("a path component is not UTF-8"))?;
        at.push(name);
        walk(child, at, out)?;
        at.pop();
    }
    Ok(())
}

fn file(node: &Node<'_>, at: &[&str]) -> Result<V2File, MetainfoError> {
    let path = sanitize_path(at.iter().copied()).map_err(|reason| MetainfoError::UnsafePath {
        path: at.join("/"),
        reason,
    })?;
    let length = node
        .get("length")
        .and_then(Node::as_int)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| bad(format!("{}: no valid 'length'", at.join("/"))))?;
    let pieces_root = match node.get("pieces root").and_then(Node::as_bytes) {
        Some(r) => Some(
            r.try_into()
                .map_err(|_| bad("a 'pieces root' is not 32 bytes"))?,
        ),
        None if length == 0 => None,
        None => return Err(bad(format!("{}: no 'pieces root'", at.join("/")))),
    };
    Ok(V2File {
        path,
        length,
        pieces_root,
    })
}

/// A v2-only torrent's name and v2 side, its piece layers checked.
pub fn read_v2_only(
    bytes: &[u8],
    limits: &super::MetainfoLimits,
) -> Result<(String, V2), MetainfoError> {
    let root = crate::bencode::decode(bytes, limits.bencode)?;
    let info = root.get("info").ok_or(MetainfoError::Missing("info"))?;
    let name = info
        .get("name")
        .and_then(Node::as_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .ok_or(MetainfoError::Missing("name"))?;
    Ok((name, parse_with_layers(&root, info)?.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::merkle::{merkle_root, zero_subtree};

    /// A v2-only torrent made by hand: `small` (one piece, no layer) and
    /// `dir/big` (7 pieces of 16 KiB, a layer whose root is its pieces root).
    fn torrent(layer_byte: u8) -> Vec<u8> {
        use crate::bencode::OwnedValue;
        let hashes: Vec<[u8; 32]> = (0..7u8).map(|i| [i; 32]).collect();
        let root = merkle_root(&hashes, zero_subtree(1));
        let leaf = |len: i64, root: &[u8; 32]| {
            let mut f = OwnedValue::dict();
            f.insert("length", len);
            f.insert("pieces root", root.to_vec());
            let mut d = OwnedValue::dict();
            d.insert("", f);
            d
        };
        let mut dir = OwnedValue::dict();
        dir.insert("big", leaf(7 * 16 * 1024 - 5, &root));
        let mut tree = OwnedValue::dict();
        tree.insert("dir", dir);
        tree.insert("small", leaf(1000, &[9; 32]));
        let mut info = OwnedValue::dict();
        info.insert("file tree", tree);
        info.insert("meta version", 2);
        info.insert("name", "hand");
        info.insert("piece length", 16 * 1024);
        let mut layer: Vec<u8> = hashes.concat();
        layer[0] ^= layer_byte;
        // Keys here are hashes, not text.
        let layers = OwnedValue::Dict([(root.to_vec(), layer.into())].into());
        let mut t = OwnedValue::dict();
        t.insert("info", info);
        t.insert("piece layers", layers);
        t.encode()
    }

    #[test]
    fn a_hand_made_v2_torrent_reads_and_a_wrong_layer_is_refused() {
        let limits = crate::metainfo::MetainfoLimits::default();
        let (name, v2) = read_v2_only(&torrent(0), &limits).unwrap();
        assert_eq!(name, "hand");
        let paths: Vec<String> = v2.files.iter().map(|f| f.path.join("/")).collect();
        assert_eq!(paths, ["dir/big", "small"]);
        assert_eq!(v2.piece_length, 16 * 1024);
        let e = read_v2_only(&torrent(1), &limits).unwrap_err();
        assert!(
            e.to_string().contains("does not hash to its pieces root"),
            "{e}"
        );
    }
}
