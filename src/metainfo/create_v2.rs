//! Building v2-only and hybrid (v1 + v2) torrents (BEP 52) from each file's
//! merkle tree and, for a hybrid, the v1 piece hashes of the padded layout
//! ([`alignment_pads`]). No IO: the caller reads and hashes the data.

use std::collections::BTreeMap;

use super::create::{
    CreateLayout, CreateOptions, clean_path, file_entry, to_i64, with_root_fields,
};
use super::v2::V2;
use super::{Metainfo, MetainfoError};
use crate::bencode::OwnedValue;
use crate::hash::merkle::{BLOCK, FileMerkle};

/// A torrent built by [`build_torrent_v2`].
#[derive(Debug)]
pub struct BuiltV2 {
    /// The `.torrent` file.
    pub bytes: Vec<u8>,
    /// Its v2 side, as read back.
    pub v2: V2,
    /// The torrent as seedring loads it (a hybrid as v1 with its v2 side).
    pub meta: Metainfo,
}

/// The zeros a hybrid puts after each file so that the next one starts on a
/// piece boundary, as v2 pieces never span files: `pads[i]` bytes follow file
/// `i` (none after the last).
pub fn alignment_pads(lengths: &[u64], piece_length: u64) -> Vec<u64> {
    let last = lengths.len().saturating_sub(1);
    lengths
        .iter()
        .enumerate()
        .map(|(i, len)| match len % piece_length {
            r if r != 0 && i < last => piece_length - r,
            _ => 0,
        })
        .collect()
}

/// Encodes a v2-only torrent (`v1` is `None`) or a hybrid (`v1`: the SHA-1 of
/// each piece of the layout with [`alignment_pads`] in place), from `trees`
/// (one per file of `layout`, in order), and reads it back so the result is
/// known to load. A multi-file layout must be in path order: a v2 file tree
/// is, and a hybrid's v1 list must follow it.
pub fn build_torrent_v2(
    layout: &CreateLayout,
    piece_length: u32,
    v1: Option<&[[u8; 20]]>,
    trees: &[FileMerkle],
    opts: &CreateOptions,
) -> Result<BuiltV2, MetainfoError> {
    let plen = u64::from(piece_length);
    if !plen.is_power_of_two() || plen < BLOCK {
        return Err(MetainfoError::BadPieceLength(i64::from(piece_length)));
    }
    let files: Vec<(Vec<String>, u64)> = match &layout.files {
        None => vec![(vec![layout.name.clone()], layout.length)],
        Some(files) => files.clone(),
    };
    if trees.len() != files.len() {
        return Err(MetainfoError::BadV2(format!(
            "{} merkle trees for {} files",
            trees.len(),
            files.len()
        )));
    }
    if !files.windows(2).all(|w| w[0].0 < w[1].0) {
        return Err(MetainfoError::BadV2(
            "files must be in path order, without duplicates".into(),
        ));
    }
    let mut info = OwnedValue::dict();
    info.insert("name", layout.name.as_str());
    info.insert("piece length", i64::from(piece_length));
    info.insert("meta version", 2);
    if opts.private {
        info.insert("private", 1);
    }
    let mut tree = BTreeMap::new();
    let mut layers = BTreeMap::new();
    for ((path, len), t) in files.iter().zip(trees) {
        let clean = clean_path(path)?;
        let mut leaf = OwnedValue::dict();
        leaf.insert("length", to_i64(*len)?);
        if let Some(root) = t.root {
            leaf.insert("pieces root", root.to_vec());
            if *len > plen {
                layers.insert(root.to_vec(), OwnedValue::Bytes(t.layer.concat()));
            }
        }
        place(&mut tree, &clean, leaf)?;
    }
    info.insert("file tree", OwnedValue::Dict(tree));
    if let Some(pieces) = v1 {
        info.insert("pieces", pieces.concat());
        match &layout.files {
            None => info.insert("length", to_i64(layout.length)?),
            Some(_) => {
                let lengths: Vec<u64> = files.iter().map(|f| f.1).collect();
                let mut list = Vec::new();
                for ((path, len), pad) in files.iter().zip(alignment_pads(&lengths, plen)) {
                    list.push(file_entry(path, *len)?);
                    if pad > 0 {
                        let mut p = file_entry(&[".pad".into(), pad.to_string()], pad)?;
                        p.insert("attr", "p");
                        list.push(p);
                    }
                }
                info.insert("files", OwnedValue::List(list));
            }
        }
    }
    let mut root = with_root_fields(info, opts);
    if !layers.is_empty() {
        root.insert("piece layers", OwnedValue::Dict(layers));
    }
    let bytes = root.encode();
    let meta = Metainfo::from_bytes(&bytes)?;
    let v2 = *meta.v2.clone().expect("a v2 torrent has its v2 side");
    Ok(BuiltV2 { bytes, v2, meta })
}

/// Puts `leaf` at `path` in a file tree: `{dir: {file: {"": leaf}}}`.
fn place(
    tree: &mut BTreeMap<Vec<u8>, OwnedValue>,
    path: &[String],
    leaf: OwnedValue,
) -> Result<(), MetainfoError> {
    let clash = || {
        MetainfoError::BadV2(format!(
            "{}: a file and a folder of one name",
            path.join("/")
        ))
    };
    let (last, dirs) = path.split_last().ok_or_else(clash)?;
    let mut at = tree;
    for d in dirs {
        let node = at
            .entry(d.as_bytes().to_vec())
            .or_insert_with(OwnedValue::dict);
        at = match node {
            OwnedValue::Dict(m) if !m.contains_key(&b""[..]) => m,
            _ => return Err(clash()),
        };
    }
    if at.contains_key(last.as_bytes()) {
        return Err(clash());
    }
    let mut file = OwnedValue::dict();
    file.insert("", leaf);
    at.insert(last.as_bytes().to_vec(), file);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::merkle::merkle_file;

    fn layout(files: &[(&str, u64)]) -> CreateLayout {
        CreateLayout {
            name: "pack".into(),
            files: Some(
                files
                    .iter()
                    .map(|(p, l)| (p.split('/').map(String::from).collect(), *l))
                    .collect(),
            ),
            length: 0,
        }
    }

    fn trees(files: &[(&str, u64)], plen: u64) -> Vec<FileMerkle> {
        files
            .iter()
            .map(|(_, l)| {
                let data = vec![7u8; usize::try_from(*l).unwrap()];
                merkle_file(&data[..], *l, plen).unwrap()
            })
            .collect()
    }

    const FILES: &[(&str, u64)] = &[("a/x", 40_000), ("a/y", 0), ("b", 16_384), ("c", 5)];

    #[test]
    fn pads_align_every_file_but_the_last() {
        assert_eq!(
            alignment_pads(&[40_000, 0, 16_384, 5], 16_384),
            [9_152, 0, 0, 0]
        );
        assert_eq!(alignment_pads(&[], 16_384), Vec::<u64>::new());
    }

    #[test]
    fn a_v2_only_torrent_reads_back_with_its_tree() {
        let b = build_torrent_v2(
            &layout(FILES),
            16_384,
            None,
            &trees(FILES, 16_384),
            &CreateOptions::default(),
        )
        .unwrap();
        assert!(b.meta.is_v2_only());
        let got: Vec<(String, u64)> =
            b.v2.files
                .iter()
                .map(|f| (f.path.join("/"), f.length))
                .collect();
        let want: Vec<(String, u64)> = FILES.iter().map(|(p, l)| ((*p).into(), *l)).collect();
        assert_eq!(got, want);
        assert!(b.v2.files[1].pieces_root.is_none());
        // Known by its truncated v2 hash; its files aligned by padding.
        assert_eq!(b.meta.info_hash, b.v2.truncated());
        let files: Vec<(String, u64, bool)> = (b.meta.info.files.iter())
            .map(|f| (f.display_path(), f.length, f.attr.pad))
            .collect();
        assert_eq!(
            files,
            [
                ("pack/a/x".into(), 40_000, false),
                ("pack/.pad/9152".into(), 9_152, true),
                ("pack/a/y".into(), 0, false),
                ("pack/b".into(), 16_384, false),
                ("pack/c".into(), 5, false),
                ("pack/.pad/16379".into(), 16_379, true),
            ]
        );
        assert_eq!(b.meta.info.pieces.len(), 5);
    }

    #[test]
    fn a_hybrid_carries_pad_files_and_both_hashes() {
        let lengths: Vec<u64> = FILES.iter().map(|f| f.1).collect();
        let total: u64 =
            lengths.iter().sum::<u64>() + alignment_pads(&lengths, 16_384).iter().sum::<u64>();
        let v1 = vec![[3u8; 20]; usize::try_from(total.div_ceil(16_384)).unwrap()];
        let b = build_torrent_v2(
            &layout(FILES),
            16_384,
            Some(&v1),
            &trees(FILES, 16_384),
            &CreateOptions::default(),
        )
        .unwrap();
        let m = b.meta;
        let paths: Vec<String> = m.info.files.iter().map(|f| f.display_path()).collect();
        assert_eq!(
            paths,
            ["pack/a/x", "pack/.pad/9152", "pack/a/y", "pack/b", "pack/c"]
        );
        assert!(m.info.files[1].attr.pad);
        assert_eq!(m.v2.unwrap().info_hash, b.v2.info_hash);
        // A hybrid whose two sides disagree on a length is refused.
        let from = b"1:cd0:d6:lengthi5e".as_slice();
        let at = b.bytes.windows(from.len()).position(|w| w == from).unwrap();
        let mut edited = b.bytes.clone();
        edited[at + from.len() - 2] = b'6';
        let e = Metainfo::from_bytes(&edited).unwrap_err();
        assert!(
            e.to_string().contains("does not match the v1 file list"),
            "{e}"
        );
        // The wrong count of v1 pieces is refused.
        let short = build_torrent_v2(
            &layout(FILES),
            16_384,
            Some(&v1[1..]),
            &trees(FILES, 16_384),
            &CreateOptions::default(),
        );
        assert!(short.is_err());
    }

    #[test]
    fn unordered_files_and_a_file_named_like_a_folder_are_refused() {
        let bad = [("b", 1), ("a", 1)];
        let e = build_torrent_v2(
            &layout(&bad),
            16_384,
            None,
            &trees(&bad, 16_384),
            &CreateOptions::default(),
        );
        assert!(e.is_err());
        let clash = [("a", 1), ("a/b", 1)];
        let e = build_torrent_v2(
            &layout(&clash),
            16_384,
            None,
            &trees(&clash, 16_384),
            &CreateOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("a file and a folder"), "{e}");
    }
}
