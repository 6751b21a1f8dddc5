//! Building a `.torrent` from a file list and piece hashes (no IO: the caller reads
//! and hashes the data).

use super::path::sanitize_path;
use super::torrent::{MAX_PIECE_LENGTH, MIN_PIECE_LENGTH};
use super::{Metainfo, MetainfoError};
use crate::bencode::OwnedValue;

/// What a new torrent holds besides its data.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Trackers, each in a tier of its own, in order.
    pub trackers: Vec<String>,
    /// Web seeds (BEP 19).
    pub web_seeds: Vec<String>,
    /// BEP 27 private flag.
    pub private: bool,
    /// Free text.
    pub comment: Option<String>,
    /// `created by`.
    pub created_by: Option<String>,
    /// Seconds since the Unix epoch.
    pub creation_date: Option<i64>,
}

/// The data a torrent describes: a single file, or files under a folder.
#[derive(Debug, Clone)]
pub struct CreateLayout {
    /// Torrent name: the file's name or the folder's.
    pub name: String,
    /// `None` for a single-file torrent; else each file's path inside the folder
    /// (components) and length, in torrent order.
    pub files: Option<Vec<(Vec<String>, u64)>>,
    /// Length of the single file (ignored for multi-file).
    pub length: u64,
}

/// Picks a piece length for `total` bytes: about 1,000 to 2,000 pieces, a power of two
/// between 16 KiB and 16 MiB.
pub fn auto_piece_length(total: u64) -> u32 {
    let target = total / 1500;
    let p = target.next_power_of_two().clamp(16 << 10, 16 << 20);
    u32::try_from(p).expect("clamped to 16 MiB")
}

/// Encodes a torrent, and parses it back so the result is known to load.
pub fn build_torrent(
    layout: &CreateLayout,
    piece_length: u32,
    pieces: &[[u8; 20]],
    opts: &CreateOptions,
) -> Result<(Vec<u8>, Metainfo), MetainfoError> {
    // What the parser takes (`seedring create` itself only makes powers of two).
    if !piece_length.is_multiple_of(MIN_PIECE_LENGTH)
        || !(MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(&piece_length)
    {
        return Err(MetainfoError::BadPieceLength(i64::from(piece_length)));
    }
    let mut info = OwnedValue::dict();
    info.insert("name", layout.name.as_str());
    info.insert("piece length", i64::from(piece_length));
    info.insert("pieces", pieces.concat());
    if opts.private {
        info.insert("private", 1);
    }
    match &layout.files {
        None => info.insert("length", to_i64(layout.length)?),
        Some(files) => {
            let list = files
                .iter()
                .map(|(path, len)| file_entry(path, *len))
                .collect::<Result<Vec<_>, _>>()?;
            info.insert("files", OwnedValue::List(list));
        }
    }

    let bytes = with_root_fields(info, opts).encode();
    let meta = Metainfo::from_bytes(&bytes)?;
    Ok((bytes, meta))
}

pub(super) fn to_i64(n: u64) -> Result<i64, MetainfoError> {
    i64::try_from(n).map_err(|_| MetainfoError::TotalLengthOverflow)
}

/// A file's path as a torrent we write carries it: one we would refuse to read
/// is refused here too.
pub(super) fn clean_path(path: &[String]) -> Result<Vec<String>, MetainfoError> {
    sanitize_path(path.iter().map(String::as_str)).map_err(|reason| MetainfoError::UnsafePath {
        path: path.join("/"),
        reason,
    })
}

/// One entry of a multi-file `files` list.
pub(super) fn file_entry(path: &[String], len: u64) -> Result<OwnedValue, MetainfoError> {
    let clean = clean_path(path)?;
    let mut f = OwnedValue::dict();
    f.insert("length", to_i64(len)?);
    f.insert(
        "path",
        OwnedValue::List(clean.into_iter().map(Into::into).collect()),
    );
    Ok(f)
}

/// The whole torrent around `info`: trackers, web seeds, comment, creator, date.
pub(super) fn with_root_fields(info: OwnedValue, opts: &CreateOptions) -> OwnedValue {
    let mut root = OwnedValue::dict();
    root.insert("info", info);
    if let Some(first) = opts.trackers.first() {
        root.insert("announce", first.as_str());
    }
    if opts.trackers.len() > 1 {
        let tiers = opts
            .trackers
            .iter()
            .map(|t| OwnedValue::List(vec![t.as_str().into()]))
            .collect::<Vec<_>>();
        root.insert("announce-list", OwnedValue::List(tiers));
    }
    match opts.web_seeds.as_slice() {
        [] => {}
        [one] => root.insert("url-list", one.as_str()),
        many => root.insert(
            "url-list",
            OwnedValue::List(many.iter().map(|u| u.as_str().into()).collect()),
        ),
    }
    if let Some(c) = &opts.comment {
        root.insert("comment", c.as_str());
    }
    if let Some(c) = &opts.created_by {
        root.insert("created by", c.as_str());
    }
    if let Some(d) = opts.creation_date {
        root.insert("creation date", d);
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_piece_length_scales_with_size() {
        assert_eq!(auto_piece_length(1), 16 << 10);
        assert_eq!(auto_piece_length(1 << 30), 1 << 20);
        assert_eq!(auto_piece_length(1 << 50), 16 << 20);
        for total in [1u64, 1 << 20, 700 << 20, 4 << 30, 100 << 30] {
            let p = auto_piece_length(total);
            assert!(p.is_power_of_two());
            let count = total.div_ceil(u64::from(p));
            assert!(count <= 3000 || p == 16 << 20, "{total}: {p} gives {count}");
        }
    }

    #[test]
    fn built_torrent_loads_back() {
        let layout = CreateLayout {
            name: "folder".into(),
            files: Some(vec![
                (vec!["a.txt".into()], 10),
                (vec!["sub".into(), "b.bin".into()], 20000),
            ]),
            length: 0,
        };
        let opts = CreateOptions {
            trackers: vec!["http://127.0.0.1:1/a".into(), "udp://127.0.0.1:2".into()],
            web_seeds: vec!["http://127.0.0.1:3/".into()],
            private: true,
            comment: Some("c".into()),
            created_by: Some("seedring".into()),
            creation_date: Some(1),
        };
        let (_, m) = build_torrent(&layout, 16384, &[[1; 20], [2; 20]], &opts).unwrap();
        assert!(m.info.private && m.info.multi_file);
        assert_eq!(m.info.files[1].display_path(), "folder/sub/b.bin");
        assert_eq!(m.tracker_tiers.len(), 2);
        assert_eq!(m.info.pieces.sha1().unwrap()[1], [2; 20]);
        assert!(build_torrent(&layout, 16384, &[[1; 20]], &opts).is_err());
        assert!(build_torrent(&layout, 1000, &[[1; 20]], &opts).is_err());
    }
}
