//! `.torrent` parsing and validation (BEP 3, 12, 19, 27, 47; hybrid v1+v2 loads as
//! v1, v2-only through [`super::v2_layout`]).

use sha1::{Digest, Sha1};

use super::FilePath;
use super::geometry::Geometry;
use super::path::{sanitize_file_path, sanitize_path};
use super::{MetainfoError, MetainfoLimits};
use crate::bencode::{self, Node};
use crate::types::InfoHash;

/// A parsed, validated torrent (v1, hybrid or v2-only).
#[derive(Debug, Clone)]
pub struct Metainfo {
    /// SHA-1 of the exact bytes of `info` in the file (a v2-only torrent: the
    /// first 20 bytes of their SHA-256, as peers, trackers and the DHT know it).
    pub info_hash: InfoHash,
    /// The exact bytes of the `info` dictionary (what peers exchange for magnets).
    pub info_bytes: Vec<u8>,
    /// The validated `info` dictionary.
    pub info: Info,
    /// A hybrid torrent's v2 side (BEP 52): its v2 info-hash and file tree.
    pub v2: Option<Box<super::v2::V2>>,
    /// Tracker tiers (BEP 12), from `announce-list`, or `announce` alone when there is
    /// no usable list. Duplicates and empty tiers are removed.
    pub tracker_tiers: Vec<Vec<String>>,
    /// Web seeds (BEP 19 `url-list`).
    pub web_seeds: Vec<String>,
    /// `creation date`, seconds since the Unix epoch.
    pub creation_date: Option<i64>,
    /// `comment`.
    pub comment: Option<String>,
    /// `created by`.
    pub created_by: Option<String>,
}

/// The parts of `info` that the engine uses.
#[derive(Debug, Clone)]
pub struct Info {
    /// The torrent's name, sanitised: the single file's name, or the folder of a
    /// multi-file torrent.
    pub name: String,
    /// True for a multi-file torrent (files live in a folder named [`Info::name`]).
    pub multi_file: bool,
    /// Files in torrent order, pad files included.
    pub files: Vec<FileEntry>,
    /// What every piece is checked against (SHA-1 for v1 and hybrid torrents,
    /// merkle roots for v2-only ones).
    pub pieces: crate::hash::PieceHashes,
    /// BEP 27: no DHT, PEX or LSD, trackers only.
    pub private: bool,
    /// Piece and file layout.
    pub geometry: Geometry,
    /// The layout [`Info::files`]' paths are in (`Original` as parsed; see
    /// [`Info::lay_out`]).
    pub content_layout: super::ContentLayout,
    /// The v2 info-hash (SHA-256 of `info`) of a hybrid or v2-only torrent.
    pub v2_hash: Option<[u8; 32]>,
    /// A hybrid's v1 info-hash (SHA-1 of `info`); `None` for a v1 or a v2-only
    /// torrent, each known by its one hash (see [`Info::hybrid_names`]).
    pub v1_hash: Option<InfoHash>,
}

/// BEP 47 file attributes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileAttr {
    /// `p`: a pad file; its bytes are zeros and never written to disk.
    pub pad: bool,
    /// `x`: executable.
    pub executable: bool,
    /// `h`: hidden.
    pub hidden: bool,
    /// `l`: a symlink. seedring never creates or follows one; it is listed, not stored.
    pub symlink: bool,
}

/// One file of a torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Sanitised components relative to the download folder: for a multi-file torrent
    /// the first component is the torrent's name.
    pub path: FilePath,
    /// Length in bytes.
    pub length: u64,
    /// BEP 47 attributes.
    pub attr: FileAttr,
}

impl Info {
    /// A hybrid's two names: its v1 info-hash and the first 20 bytes of its v2
    /// one (what peers, trackers and the DHT of its v2 swarm call it).
    pub fn hybrid_names(&self) -> Option<(InfoHash, InfoHash)> {
        let v2 = self.v2_hash?;
        Some((
            self.v1_hash?,
            InfoHash(v2[..20].try_into().expect("32 bytes")),
        ))
    }

    /// The other name of a hybrid known as `ih` (by either of its hashes).
    pub fn other_name(&self, ih: InfoHash) -> Option<InfoHash> {
        let (v1, v2) = self.hybrid_names()?;
        match ih {
            _ if ih == v1 => Some(v2),
            _ if ih == v2 => Some(v1),
            _ => None,
        }
    }
}

impl FileEntry {
    /// The path joined with `/`, as libtorrent shows it.
    pub fn display_path(&self) -> String {
        self.path.as_str().to_owned()
    }

    /// Whether the file's bytes live on disk (not a pad file nor a symlink).
    pub fn is_stored(&self) -> bool {
        !self.attr.pad && !self.attr.symlink
    }
}

impl Metainfo {
    /// Parses and validates a `.torrent` file with the default limits.
    pub fn from_bytes(bytes: &[u8]) -> Result<Metainfo, MetainfoError> {
        Self::from_bytes_with(bytes, &MetainfoLimits::default())
    }

    /// Parses and validates a `.torrent` file under `limits`.
    pub fn from_bytes_with(
        bytes: &[u8],
        limits: &MetainfoLimits,
    ) -> Result<Metainfo, MetainfoError> {
        if bytes.len() > limits.max_torrent_bytes {
            return Err(MetainfoError::TooLarge {
                len: bytes.len(),
                max: limits.max_torrent_bytes,
            });
        }
        let root = bencode::decode(bytes, limits.bencode)?;
        if root.as_dict().is_none() {
            return Err(MetainfoError::WrongType {
                field: "torrent",
                expected: "a dictionary",
            });
        }
        let info_node = root.get("info").ok_or(MetainfoError::Missing("info"))?;
        let info_bytes = info_node.raw().to_vec();
        let mut info = match parse_info(info_node, limits) {
            // v2-only: known by its truncated v2 hash, pieces by their merkle roots.
            Err(MetainfoError::UnsupportedV2) => {
                let (v2, info) = super::v2_layout::read(&root, info_node, limits)?;
                return Ok(Metainfo {
                    info_hash: v2.truncated(),
                    info_bytes,
                    info,
                    v2: Some(Box::new(v2)),
                    ..Metainfo::root_fields(&root)
                });
            }
            r => r?,
        };
        let info_hash = InfoHash(Sha1::digest(&info_bytes).into());
        // A hybrid: its v2 side is checked and kept. A broken one refuses the torrent
        // (libtorrent 2.0.8 loads it): its v2 swarm's hashes could not be checked.
        // One without its piece layers loads as if it came by magnet link.
        let v2 = match info_node.get("meta version").and_then(Node::as_int) {
            Some(2) => match super::v2::parse_with_layers(&root, info_node) {
                Ok((v2, layers)) => Some((v2, Some(layers))),
                // As a hybrid that came by magnet link: it runs by its SHA-1
                // pieces and its layers are fetched from its v2 peers.
                Err(MetainfoError::NoPieceLayer(file)) => {
                    tracing::info!(name = %info.name, file, "hybrid torrent without its piece layers: it runs by its SHA-1 pieces and fetches them from its v2 peers");
                    Some((super::v2::parse_tree(info_node)?, None))
                }
                Err(e) => return Err(e),
            },
            _ => None,
        };
        if let Some((v2, layers)) = &v2 {
            // Both sides describe the same bytes: the v1 files (pad files aside)
            // are the v2 files, in order, with the same lengths.
            let v1 = info.files.iter().filter(|f| !f.attr.pad).map(|f| f.length);
            if !v1.eq(v2.files.iter().map(|f| f.length)) {
                return Err(MetainfoError::BadV2(
                    "the v2 file tree does not match the v1 file list".into(),
                ));
            }
            if let Some(layers) = layers
                && let Err(why) = super::hybrid::with_roots(v2, layers, &mut info)
            {
                tracing::info!(name = %info.name, "hybrid torrent: {why}; its v2 peers' hash requests will be refused");
            }
        }
        let v2 = v2.map(|(v2, _)| Box::new(v2));

        Ok(Metainfo {
            info_hash,
            info_bytes,
            info,
            v2,
            ..Metainfo::root_fields(&root)
        })
    }

    /// The fields outside `info`, around an empty `info`.
    fn root_fields(root: &Node<'_>) -> Metainfo {
        Metainfo {
            info_hash: InfoHash([0; 20]),
            info_bytes: Vec::new(),
            info: Info {
                name: String::new(),
                multi_file: false,
                files: Vec::new(),
                pieces: crate::hash::PieceHashes::default(),
                private: false,
                geometry: Geometry::new(1, &[]).expect("an empty geometry"),
                content_layout: super::ContentLayout::Original,
                v2_hash: None,
                v1_hash: None,
            },
            v2: None,
            tracker_tiers: parse_trackers(root),
            web_seeds: parse_web_seeds(root),
            creation_date: root.get("creation date").and_then(Node::as_int),
            comment: text(root, "comment"),
            created_by: text(root, "created by"),
        }
    }

    /// A v2-only torrent (its pieces checked by merkle roots), not a hybrid.
    pub fn is_v2_only(&self) -> bool {
        matches!(self.info.pieces, crate::hash::PieceHashes::Merkle(_))
    }

    /// What the session store keeps for it (see [`super::encode_stored`]).
    pub fn stored_bytes(&self) -> Vec<u8> {
        super::v2_layout::encode_stored(&self.info_bytes, &self.info.pieces)
    }

    /// Every tracker once, tier by tier.
    pub fn trackers(&self) -> Vec<String> {
        self.tracker_tiers.iter().flatten().cloned().collect()
    }
}

/// Parses and validates a bare `info` dictionary (what ut_metadata delivers) and
/// returns it with its info-hash.
pub fn parse_info_bytes(
    bytes: &[u8],
    limits: &MetainfoLimits,
) -> Result<(InfoHash, Info), MetainfoError> {
    let node = bencode::decode(bytes, limits.bencode)?;
    let info = parse_info(&node, limits)?;
    Ok((InfoHash(Sha1::digest(bytes).into()), info))
}

/// A text field, preferring the `<key>.utf-8` variant; invalid UTF-8 is replaced.
fn text(dict: &Node<'_>, key: &str) -> Option<String> {
    dict.get(&format!("{key}.utf-8"))
        .or_else(|| dict.get(key))
        .and_then(Node::as_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

fn parse_info(info: &Node<'_>, limits: &MetainfoLimits) -> Result<Info, MetainfoError> {
    if info.as_dict().is_none() {
        return Err(MetainfoError::WrongType {
            field: "info",
            expected: "a dictionary",
        });
    }
    let meta_version = info.get("meta version").and_then(Node::as_int);
    let pieces = match info.get("pieces") {
        Some(p) => p.as_bytes().ok_or(MetainfoError::WrongType {
            field: "pieces",
            expected: "a byte string",
        })?,
        // v2-only: a `file tree` and no v1 `pieces`. Hybrids carry both and load as v1.
        None if meta_version == Some(2) || info.get("file tree").is_some() => {
            return Err(MetainfoError::UnsupportedV2);
        }
        None => return Err(MetainfoError::Missing("pieces")),
    };
    match meta_version {
        None | Some(1) | Some(2) => {}
        Some(v) => return Err(MetainfoError::UnsupportedMetaVersion(v)),
    }

    let piece_length = match info.get("piece length").map(Node::as_int) {
        None => return Err(MetainfoError::Missing("piece length")),
        Some(None) => {
            return Err(MetainfoError::WrongType {
                field: "piece length",
                expected: "an integer",
            });
        }
        Some(Some(n)) => n,
    };
    let piece_length = u32::try_from(piece_length)
        .ok()
        .filter(|&n| {
            n.is_multiple_of(MIN_PIECE_LENGTH) && (MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(&n)
        })
        .ok_or(MetainfoError::BadPieceLength(piece_length))?;

    if pieces.len() % 20 != 0 {
        return Err(MetainfoError::PiecesNotMultipleOf20(pieces.len()));
    }

    let raw_name = text(info, "name").ok_or(MetainfoError::Missing("name"))?;
    let name = sanitize_path([raw_name.as_str()])
        .map_err(|reason| MetainfoError::UnsafePath {
            path: raw_name.clone(),
            reason,
        })?
        .remove(0);

    let (multi_file, files) = match (info.get("length"), info.get("files")) {
        (Some(len), None) => {
            let length = file_length(len, &name)?;
            let attr = parse_attr(info);
            let entry = FileEntry {
                path: FilePath::from_parts([&name]),
                length,
                attr,
            };
            (false, vec![entry])
        }
        (None, Some(files)) => (true, parse_files(files, &name, limits)?),
        (Some(_), Some(_)) => return Err(MetainfoError::LengthAndFiles),
        (None, None) => return Err(MetainfoError::Missing("length or files")),
    };

    for f in &files {
        if f.attr.symlink && f.length != 0 {
            return Err(MetainfoError::SymlinkWithData(f.display_path()));
        }
    }
    let mut files = files;
    let renamed = super::duplicates::rename_duplicates(&mut files);
    if renamed > 0 {
        tracing::info!(
            torrent = %name,
            renamed,
            "files with the same path as another renamed (as libtorrent does)"
        );
    }

    let lengths: Vec<u64> = files.iter().map(|f| f.length).collect();
    let geometry =
        Geometry::new(piece_length, &lengths).ok_or(MetainfoError::TotalLengthOverflow)?;
    if geometry.total_length() == 0 {
        return Err(MetainfoError::Empty);
    }
    let expected = geometry.piece_count() as usize;
    if pieces.len() / 20 != expected {
        return Err(MetainfoError::PieceCountMismatch {
            expected,
            actual: pieces.len() / 20,
        });
    }
    let pieces = crate::hash::PieceHashes::Sha1(
        pieces
            .chunks_exact(20)
            .map(|c| c.try_into().expect("chunks of 20"))
            .collect(),
    );

    Ok(Info {
        name,
        multi_file,
        files,
        pieces,
        private: info.get("private").and_then(Node::as_int) == Some(1),
        geometry,
        content_layout: super::ContentLayout::Original,
        // A hybrid: its v2 hash, whatever its v2 side holds (checked by the caller).
        v2_hash: (meta_version == Some(2)).then(|| sha2::Sha256::digest(info.raw()).into()),
        v1_hash: (meta_version == Some(2)).then(|| InfoHash(Sha1::digest(info.raw()).into())),
    })
}

/// The smallest piece length accepted: one block.
pub const MIN_PIECE_LENGTH: u32 = 16 * 1024;
/// The largest piece length accepted: 256 MiB.
pub const MAX_PIECE_LENGTH: u32 = 256 << 20;

fn file_length(node: &Node<'_>, path: &str) -> Result<u64, MetainfoError> {
    let n = node.as_int().ok_or(MetainfoError::WrongType {
        field: "length",
        expected: "an integer",
    })?;
    u64::try_from(n).map_err(|_| MetainfoError::NegativeLength {
        path: path.to_owned(),
        length: n,
    })
}

fn parse_attr(dict: &Node<'_>) -> FileAttr {
    let attr = dict.get("attr").and_then(Node::as_bytes).unwrap_or(b"");
    FileAttr {
        pad: attr.contains(&b'p'),
        executable: attr.contains(&b'x'),
        hidden: attr.contains(&b'h'),
        symlink: attr.contains(&b'l'),
    }
}

fn parse_files(
    files: &Node<'_>,
    name: &str,
    limits: &MetainfoLimits,
) -> Result<Vec<FileEntry>, MetainfoError> {
    let list = files.as_list().ok_or(MetainfoError::WrongType {
        field: "files",
        expected: "a list",
    })?;
    if list.is_empty() {
        return Err(MetainfoError::Missing("files (the list is empty)"));
    }
    if list.len() > limits.max_files {
        return Err(MetainfoError::TooManyFiles {
            count: list.len(),
            max: limits.max_files,
        });
    }
    let mut out = Vec::with_capacity(list.len());
    for entry in list {
        if entry.as_dict().is_none() {
            return Err(MetainfoError::WrongType {
                field: "files entry",
                expected: "a dictionary",
            });
        }
        let path_node = entry
            .get("path.utf-8")
            .or_else(|| entry.get("path"))
            .ok_or(MetainfoError::Missing("path"))?;
        let parts = path_node.as_list().ok_or(MetainfoError::WrongType {
            field: "path",
            expected: "a list of strings",
        })?;
        let mut raw = Vec::with_capacity(parts.len());
        for p in parts {
            let b = p.as_bytes().ok_or(MetainfoError::WrongType {
                field: "path",
                expected: "a list of strings",
            })?;
            raw.push(String::from_utf8_lossy(b).into_owned());
        }
        let shown = raw.join("/");
        let path = sanitize_file_path(raw.iter().map(String::as_str))
            .map_err(|reason| MetainfoError::UnsafePath {
                path: shown.clone(),
                reason,
            })?
            .under(name);
        let length = file_length(
            entry
                .get("length")
                .ok_or(MetainfoError::Missing("length"))?,
            &shown,
        )?;
        out.push(FileEntry {
            path,
            length,
            attr: parse_attr(entry),
        });
    }
    Ok(out)
}

/// Two stored files at one path, or a file where another needs a folder, would make
/// one overwrite the other: such a torrent is refused. Pad files are never stored, so
/// they may share a path (libtorrent names them all `.pad/N`).
fn parse_trackers(root: &Node<'_>) -> Vec<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let mut tiers = Vec::new();
    if let Some(list) = root.get("announce-list").and_then(Node::as_list) {
        for tier in list {
            let urls: Vec<String> = tier
                .as_list()
                .unwrap_or(&[])
                .iter()
                .filter_map(Node::as_str)
                .map(str::trim)
                .filter(|u| !u.is_empty() && seen.insert(u.to_string()))
                .map(str::to_owned)
                .collect();
            if !urls.is_empty() {
                tiers.push(urls);
            }
        }
    }
    if tiers.is_empty()
        && let Some(url) = root.get("announce").and_then(Node::as_str).map(str::trim)
        && !url.is_empty()
    {
        tiers.push(vec![url.to_owned()]);
    }
    tiers
}

fn parse_web_seeds(root: &Node<'_>) -> Vec<String> {
    let Some(node) = root.get("url-list") else {
        return Vec::new();
    };
    let urls: Vec<&str> = match node.as_list() {
        Some(list) => list.iter().filter_map(Node::as_str).collect(),
        None => node.as_str().into_iter().collect(),
    };
    urls.into_iter()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::OwnedValue;

    fn single(name: &str, length: i64, piece_length: i64, pieces: usize) -> OwnedValue {
        let mut info = OwnedValue::dict();
        info.insert("name", name);
        info.insert("length", length);
        info.insert("piece length", piece_length);
        info.insert("pieces", vec![0u8; pieces * 20]);
        let mut t = OwnedValue::dict();
        t.insert("info", info);
        t
    }

    #[test]
    fn single_file_torrent_loads() {
        let mut t = single("a.bin", 40000, 16384, 3);
        t.insert("announce", "http://127.0.0.1:1/announce");
        t.insert("comment", "hello");
        let m = Metainfo::from_bytes(&t.encode()).unwrap();
        assert_eq!(m.info.name, "a.bin");
        assert!(!m.info.multi_file);
        assert_eq!(m.info.geometry.piece_count(), 3);
        assert_eq!(m.trackers(), vec!["http://127.0.0.1:1/announce"]);
        assert_eq!(m.comment.as_deref(), Some("hello"));
    }

    #[test]
    fn info_hash_covers_raw_unsorted_bytes() {
        // Keys deliberately out of order: the hash must be of these exact bytes.
        let info =
            b"d6:lengthi16384e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
        let mut unsorted = b"d4:info".to_vec();
        unsorted.extend_from_slice(info);
        unsorted.push(b'e');
        // "length" < "name" < "piece length" < "pieces" is sorted; swap two keys.
        let swapped = String::from_utf8(unsorted.clone())
            .unwrap()
            .replace("6:lengthi16384e4:name1:a", "4:name1:a6:lengthi16384e");
        let m = Metainfo::from_bytes(swapped.as_bytes()).unwrap();
        let raw = &swapped.as_bytes()[7..swapped.len() - 1];
        assert_eq!(m.info_bytes, raw);
        assert_eq!(m.info_hash.0, <[u8; 20]>::from(Sha1::digest(raw)));
        assert_ne!(
            m.info_hash,
            Metainfo::from_bytes(&unsorted).unwrap().info_hash
        );
    }

    #[test]
    fn announce_list_tiers_dedup_and_fallback() {
        let mut t = single("a", 16384, 16384, 1);
        t.insert("announce", "udp://127.0.0.1:1");
        t.insert(
            "announce-list",
            OwnedValue::List(vec![
                OwnedValue::List(vec![
                    "udp://127.0.0.1:1".into(),
                    "http://127.0.0.1:2".into(),
                ]),
                OwnedValue::List(vec![]),
                OwnedValue::List(vec![
                    "http://127.0.0.1:2".into(),
                    "http://127.0.0.1:3".into(),
                ]),
            ]),
        );
        t.insert("url-list", "http://127.0.0.1:4/");
        let m = Metainfo::from_bytes(&t.encode()).unwrap();
        assert_eq!(
            m.tracker_tiers,
            vec![
                vec!["udp://127.0.0.1:1".to_string(), "http://127.0.0.1:2".into()],
                vec!["http://127.0.0.1:3".to_string()]
            ]
        );
        assert_eq!(m.web_seeds, vec!["http://127.0.0.1:4/"]);
    }

    #[test]
    fn pad_and_symlink_attributes_are_read() {
        let file = |path: &str, len: i64, attr: &str| {
            let mut f = OwnedValue::dict();
            f.insert(
                "path",
                OwnedValue::List(path.split('/').map(Into::into).collect()),
            );
            f.insert("length", len);
            if !attr.is_empty() {
                f.insert("attr", attr);
            }
            f
        };
        let mut info = OwnedValue::dict();
        info.insert("name", "d");
        info.insert("piece length", 16384i64);
        info.insert(
            "files",
            OwnedValue::List(vec![
                file("a", 100, "x"),
                file(".pad/16284", 16284, "p"),
                file(".pad/16284", 16284, "p"),
                file("link", 0, "l"),
                file("b", 10, "h"),
            ]),
        );
        info.insert("pieces", vec![0u8; 40]);
        let mut t = OwnedValue::dict();
        t.insert("info", info);
        let m = Metainfo::from_bytes(&t.encode()).unwrap();
        let f = &m.info.files;
        assert!(f[0].attr.executable && f[1].attr.pad && f[3].attr.symlink && f[4].attr.hidden);
        assert_eq!(f[4].display_path(), "d/b");
        assert_eq!(m.info.geometry.total_length(), 100 + 2 * 16284 + 10);
    }

    #[test]
    fn private_flag() {
        let mut t = single("a", 16384, 16384, 1);
        if let OwnedValue::Dict(d) = &mut t {
            d.get_mut(&b"info"[..]).unwrap().insert("private", 1);
        }
        assert!(Metainfo::from_bytes(&t.encode()).unwrap().info.private);
    }
}
