//! The layout record: a torrent's files and piece geometry without its piece
//! hashes, so that a restart brings back thousands of complete torrents without
//! reading (or holding) their metadata.
//!
//! `torrent:{ih}:layout`, a bencoded dictionary of the state records' version:
//!
//! | key     | value                                                          |
//! |---------|----------------------------------------------------------------|
//! | `v`     | record version                                                 |
//! | `name`  | the torrent's sanitised name                                   |
//! | `multi` | 0 or 1: a folder of files                                      |
//! | `pl`    | piece length                                                   |
//! | `priv`  | 0 or 1: BEP 27 private                                         |
//! | `size`  | length of the `info` dictionary in `torrent:{ih}:meta`         |
//! | `files` | per file, `[path components, length, attributes]`; attributes a string of `p`, `x`, `h`, `l` (BEP 47) |
//! | `lay`   | the content layout the paths are in (absent: the torrent's own; see [`ContentLayout::code`]) |
//! | `v2`    | the v2 info-hash (32 bytes) of a hybrid or v2-only torrent      |
//! | `v1`    | a hybrid's v1 info-hash (20 bytes)                             |
//!
//! It is derived from the metadata and written beside it; the metadata stays the
//! authority. Decoding never trusts the bytes: paths are sanitised again and the
//! geometry rebuilt; anything wrong is an error, and the engine then reads the
//! metadata itself.

use super::record::{RecordError, STATE_VERSION, bad, content_layout, int};
use crate::bencode::{OwnedValue, Token};
use crate::metainfo::{ContentLayout, FileAttr, FileEntry, Geometry, Info};

/// A torrent's layout and the size of its metadata.
#[derive(Debug, Clone)]
pub struct LayoutRecord {
    /// Everything of the torrent's `info` but its piece hashes (`pieces` is empty).
    pub info: Info,
    /// Bytes of its `info` dictionary.
    pub metadata_size: u64,
}

fn attr_text(a: FileAttr) -> String {
    let flags = [
        (a.pad, 'p'),
        (a.executable, 'x'),
        (a.hidden, 'h'),
        (a.symlink, 'l'),
    ];
    flags.iter().filter(|f| f.0).map(|f| f.1).collect()
}

/// Encodes `info`'s layout (its hashes are left out).
pub fn encode_layout(info: &Info, metadata_size: u64) -> Vec<u8> {
    let mut d = OwnedValue::dict();
    d.insert("v", STATE_VERSION);
    d.insert("name", info.name.as_str());
    d.insert("multi", i64::from(info.multi_file));
    d.insert("pl", int(u64::from(info.geometry.piece_length())));
    d.insert("priv", i64::from(info.private));
    d.insert("size", int(metadata_size));
    if let Some(v2) = info.v2_hash {
        d.insert("v2", v2.to_vec());
    }
    if let Some(v1) = info.v1_hash {
        d.insert("v1", v1.0.to_vec());
    }
    let files = info
        .files
        .iter()
        .map(|f| {
            let path = f.path.parts().map(|c| c.into()).collect();
            OwnedValue::List(vec![
                OwnedValue::List(path),
                int(f.length),
                attr_text(f.attr).into(),
            ])
        })
        .collect::<Vec<_>>();
    d.insert("files", OwnedValue::List(files));
    if info.content_layout != ContentLayout::Original {
        d.insert("lay", i64::from(info.content_layout.code()));
    }
    d.encode()
}

/// Reads a layout record; `Err` for anything damaged, unsafe or of an unknown
/// version.
pub fn decode_layout(bytes: &[u8]) -> Result<LayoutRecord, RecordError> {
    use super::fields::{bytes as raw, flag, read_versioned, required, text, uint};
    read_versioned(bytes, |f| {
        let (mut name, mut pl, mut files, mut multi, mut private) = (None, None, None, None, None);
        let (mut lay, mut v2, mut v1, mut size) = (None, None, None, None);
        while let Some(key) = f.next_key()? {
            let t = f.value()?;
            // The first of two equal keys counts; the second is stepped over.
            match key {
                b"name" if name.is_none() => name = Some(text(t, "name")?),
                b"pl" if pl.is_none() => pl = Some(uint(t, "pl")?),
                b"files" if files.is_none() => files = Some(decode_files(f, t)?),
                b"multi" if multi.is_none() => multi = Some(flag(t, "multi")?),
                b"priv" if private.is_none() => private = Some(flag(t, "priv")?),
                b"lay" if lay.is_none() => lay = Some(content_layout(t)?),
                b"v2" if v2.is_none() => {
                    v2 = Some(<[u8; 32]>::try_from(raw(t, "v2")?).map_err(|_| bad("v2"))?);
                }
                b"v1" if v1.is_none() => {
                    let h = <[u8; 20]>::try_from(raw(t, "v1")?).map_err(|_| bad("v1"))?;
                    v1 = Some(crate::types::InfoHash(h));
                }
                b"size" if size.is_none() => size = Some(uint(t, "size")?),
                _ => f.skip(t)?,
            }
        }
        let name = required(name, "name")?;
        let piece_length = u32::try_from(required(pl, "pl")?).map_err(|_| bad("pl"))?;
        let files = required(files, "files")?;
        if files.is_empty() {
            return Err(bad("files"));
        }
        let lengths: Vec<u64> = files.iter().map(|f| f.length).collect();
        let geometry = Geometry::new(piece_length, &lengths).ok_or_else(|| bad("pl"))?;
        let name = crate::metainfo::path::sanitize_path([name])
            .ok()
            .and_then(|mut v| v.pop())
            .ok_or_else(|| bad("name"))?;
        let info = Info {
            name,
            multi_file: required(multi, "multi")?,
            files,
            pieces: crate::hash::PieceHashes::default(),
            private: required(private, "priv")?,
            geometry,
            content_layout: lay.unwrap_or(ContentLayout::Original),
            v2_hash: v2,
            v1_hash: v1,
        };
        if !paths_fit(&info) {
            return Err(bad("files"));
        }
        Ok(LayoutRecord {
            info,
            metadata_size: required(size, "size")?,
        })
    })
}

/// Whether the files' paths are what a torrent of this name, kind and content
/// layout has, each stored file at a path of its own: a damaged record must not
/// place a file outside the torrent's folder, or two files at one path.
fn paths_fit(info: &Info) -> bool {
    let name = &info.name;
    let files = &info.files;
    // A single file may be followed by padding (a v2-only torrent's), never stored.
    let single = || files.len() == 1 || (files.len() == 2 && !files[1].is_stored());
    let shape = match (info.multi_file, info.content_layout) {
        (false, ContentLayout::Subfolder) => {
            single() && files[0].path.len() == 2 && files[0].path.last() == Some(name)
        }
        (false, _) => single() && files[0].path.as_str() == name,
        // The torrent's folder is left out by design.
        (true, ContentLayout::NoSubfolder) => true,
        (true, _) => files
            .iter()
            .all(|f| f.path.len() >= 2 && f.path.first() == Some(name)),
    };
    if !shape || files.len() < 2 {
        return shape;
    }
    // No two stored files at one path: sorted, equal paths sit side by side
    // (cheaper than hashing every path, at each restart's 100,000 records).
    let mut paths: Vec<&str> = (files.iter())
        .filter(|f| f.is_stored())
        .map(|f| f.path.as_str())
        .collect();
    paths.sort_unstable();
    paths.windows(2).all(|w| w[0] != w[1])
}

/// The `files` list: per file `[path components, length, attributes]`.
fn decode_files<'a>(
    f: &mut super::fields::Fields<'a>,
    first: Token<'a>,
) -> Result<Vec<FileEntry>, RecordError> {
    use super::fields::{bytes as raw, text, uint};
    let mut files = Vec::new();
    // One buffer for every file's components.
    let mut parts: Vec<&str> = Vec::new();
    f.list(first, "files", |f, entry| {
        if entry != Token::List {
            return Err(bad("files"));
        }
        parts.clear();
        let path = f.value()?;
        f.list(path, "files", |_, c| {
            parts.push(text(c, "files")?);
            Ok(())
        })?;
        let path = crate::metainfo::path::sanitize_file_path(parts.iter().copied())
            .map_err(|_| bad("files"))?;
        let length = uint(f.value()?, "files")?;
        let attr = raw(f.value()?, "files")?;
        if f.value()? != Token::End {
            return Err(bad("files"));
        }
        files.push(FileEntry {
            path,
            length,
            attr: FileAttr {
                pad: attr.contains(&b'p'),
                executable: attr.contains(&b'x'),
                hidden: attr.contains(&b'h'),
                symlink: attr.contains(&b'l'),
            },
        });
        Ok(())
    })?;
    // Kept for the torrent's life: no room to spare (a growing vector's
    // spare room was 10 MiB over 100,000 torrents).
    files.shrink_to_fit();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::{CreateLayout, CreateOptions, build_torrent};

    #[test]
    fn layouts_round_trip_without_hashes() {
        let layout = CreateLayout {
            name: "Show".into(),
            files: Some(vec![
                (vec!["a".into(), "e1.mkv".into()], 40_000),
                (vec!["b.nfo".into()], 7),
            ]),
            length: 0,
        };
        let hashes = vec![[7u8; 20]; 3];
        let (_, meta) = build_torrent(&layout, 16384, &hashes, &CreateOptions::default()).unwrap();
        let bytes = encode_layout(&meta.info, meta.info_bytes.len() as u64);
        let back = decode_layout(&bytes).unwrap();
        let want = &meta.info;
        assert_eq!(back.info.name, want.name);
        assert_eq!(back.info.files, want.files);
        assert_eq!(back.info.multi_file, want.multi_file);
        assert_eq!(back.info.private, want.private);
        assert!(back.info.pieces.is_empty());
        assert_eq!(back.metadata_size, meta.info_bytes.len() as u64);
        assert_eq!(back.info.geometry.piece_count(), 3);
        assert_eq!((back.info.v1_hash, back.info.v2_hash), (None, None));
        // A hybrid's two hashes come back.
        let mut hybrid = meta.info.clone();
        hybrid.v2_hash = Some([9; 32]);
        hybrid.v1_hash = Some(crate::types::InfoHash([8; 20]));
        let back = decode_layout(&encode_layout(&hybrid, 1)).unwrap();
        assert_eq!(back.info.hybrid_names(), hybrid.hybrid_names());
        assert!(back.info.hybrid_names().is_some());
    }

    #[test]
    fn damage_and_unsafe_paths_are_errors_never_panics() {
        let mut info_dict = OwnedValue::dict();
        info_dict.insert("v", STATE_VERSION);
        info_dict.insert("name", "x");
        info_dict.insert("multi", 1i64);
        info_dict.insert("pl", 16384i64);
        info_dict.insert("priv", 0i64);
        info_dict.insert("size", 10i64);
        let file = |p: &[&str]| {
            OwnedValue::List(vec![
                OwnedValue::List(p.iter().map(|&c| c.into()).collect()),
                OwnedValue::Int(5),
                "".into(),
            ])
        };
        let with = |files: Vec<OwnedValue>| {
            let mut d = info_dict.clone();
            d.insert("files", OwnedValue::List(files));
            d
        };
        let ok = with(vec![file(&["x", "a"]), file(&["x", "b"])]);
        assert!(decode_layout(&ok.encode()).is_ok());
        for (what, bad) in [
            ("a parent", with(vec![file(&["x", ".."])])),
            // A damaged record must not place files outside the torrent's
            // folder (a multi-file torrent's paths start with its name)...
            ("outside its folder", with(vec![file(&["a"])])),
            ("in another folder", with(vec![file(&["y", "a"])])),
            // ...or two files at one path.
            (
                "two at one path",
                with(vec![file(&["x", "a"]), file(&["x", "a"])]),
            ),
            (
                "two at one path, apart",
                with(vec![
                    file(&["x", "a"]),
                    file(&["x", "b"]),
                    file(&["x", "a"]),
                ]),
            ),
        ] {
            assert!(decode_layout(&bad.encode()).is_err(), "{what}");
        }
        let mut single = info_dict.clone();
        single.insert("multi", 0i64);
        single.insert("files", OwnedValue::List(vec![file(&["y"])]));
        assert!(
            decode_layout(&single.encode()).is_err(),
            "a single file named otherwise"
        );
        let mut none = info_dict.clone();
        none.insert("files", OwnedValue::List(Vec::new()));
        assert!(decode_layout(&none.encode()).is_err());
        let bytes = ok.encode();
        for cut in 0..bytes.len() {
            assert!(decode_layout(&bytes[..cut]).is_err());
        }
    }
}
