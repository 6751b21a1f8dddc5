//! Torrent metadata: `.torrent` files, magnet links, piece geometry, torrent creation.
//!
//! What it owns: turning untrusted metadata into validated values the engine can rely
//! on: piece count matches the total length, piece length is a power of two of at
//! least 16 KiB, `pieces` is a whole number of hashes, no negative or overflowing size,
//! a bounded number of files and bytes, and above all **no file path that can leave
//! the torrent's folder** (see [`path`] for the exact rules).
//!
//! What it must not do: touch the filesystem. Reading and hashing data for `create`
//! and `verify` lives in `disk_uring`; this module only describes and builds.
//!
//! v1 and hybrid (v1+v2) torrents load as v1, with the v1 info-hash; a hybrid's v2
//! side is checked and kept ([`v2`]). A v2-only torrent loads with its truncated
//! v2 hash and pieces checked by their merkle roots (`v2_layout`); a bare v2-only
//! `info` from ut_metadata is read by `parse_v2_info_bytes` (its piece layers
//! then come from peers), and [`parse_info_bytes`] answers
//! [`MetainfoError::UnsupportedV2`] for one (a v1 link cannot name it).

mod content_layout;
mod create;
mod create_v2;
mod duplicates;
mod export;
mod file_path;
mod geometry;
mod hybrid;
mod magnet;
pub mod path;
mod torrent;
pub mod v2;
mod v2_layout;

pub use content_layout::ContentLayout;
pub use create::{CreateLayout, CreateOptions, auto_piece_length, build_torrent};
pub use create_v2::{BuiltV2, alignment_pads, build_torrent_v2};
pub use export::{About, torrent_file};
pub use file_path::FilePath;
pub use geometry::{BLOCK_LEN, Block, FileSpan, Geometry};
pub use hybrid::hybrid_layer_needs;
pub use magnet::{MAX_MAGNET_LEN, Magnet, MagnetError};
pub use path::UnsafePath;
pub use torrent::{
    FileAttr, FileEntry, Info, MAX_PIECE_LENGTH, MIN_PIECE_LENGTH, Metainfo, parse_info_bytes,
};
pub use v2_layout::{LayerNeed, encode_stored, parse_stored, parse_v2_info_bytes};

use crate::bencode;

/// Bounds on what a `.torrent` may hold.
#[derive(Debug, Clone)]
pub struct MetainfoLimits {
    /// Largest `.torrent` accepted, in bytes (default 32 MiB).
    pub max_torrent_bytes: usize,
    /// Most files in one torrent, pad files included (default 1,000,000).
    pub max_files: usize,
    /// Bencode decoder limits.
    pub bencode: bencode::Limits,
}

impl Default for MetainfoLimits {
    fn default() -> Self {
        MetainfoLimits {
            max_torrent_bytes: 32 << 20,
            max_files: 1_000_000,
            bencode: bencode::Limits::default(),
        }
    }
}

impl From<bencode::DecodeError> for MetainfoError {
    // Written out rather than `#[from]`: that would also make the decode error the
    // `source`, and the message, which shows it already, would say it twice.
    fn from(e: bencode::DecodeError) -> Self {
        MetainfoError::Bencode(e)
    }
}

/// Why a `.torrent` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetainfoError {
    /// Not valid bencode.
    #[error("not a valid torrent file: {0}")]
    Bencode(bencode::DecodeError),
    /// Larger than [`MetainfoLimits::max_torrent_bytes`].
    #[error("torrent file of {len} bytes is larger than the {max}-byte limit")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A required key is absent.
    #[error("missing '{0}'")]
    Missing(&'static str),
    /// A key holds the wrong kind of value.
    #[error("'{field}' must be {expected}")]
    WrongType {
        /// The key.
        field: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// Not a power of two in 16 KiB ..= 256 MiB.
    #[error("piece length {0} is not a multiple of 16 KiB between 16 KiB and 256 MiB")]
    BadPieceLength(i64),
    /// `pieces` is not a whole number of 20-byte hashes.
    #[error("'pieces' is {0} bytes, not a multiple of 20")]
    PiecesNotMultipleOf20(usize),
    /// The number of hashes does not match the total length.
    #[error("the total length needs {expected} pieces but 'pieces' holds {actual}")]
    PieceCountMismatch {
        /// What the length implies.
        expected: usize,
        /// What `pieces` holds.
        actual: usize,
    },
    /// A file length below zero.
    #[error("file {path:?} has negative length {length}")]
    NegativeLength {
        /// The file, as written in the torrent.
        path: String,
        /// Its length.
        length: i64,
    },
    /// The file lengths add up past what 64 bits (or 2^32 pieces) hold.
    #[error("total length overflows")]
    TotalLengthOverflow,
    /// The torrent holds no data at all.
    #[error("the torrent holds no data (total length 0)")]
    Empty,
    /// Both `length` and `files` are present.
    #[error("'info' has both 'length' and 'files'")]
    LengthAndFiles,
    /// More files than [`MetainfoLimits::max_files`].
    #[error("{count} files is more than the limit of {max}")]
    TooManyFiles {
        /// How many.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A path that could leave the torrent's folder, or that is no path at all.
    #[error("unsafe file path {path:?}: {reason}")]
    UnsafePath {
        /// The path as written in the torrent.
        path: String,
        /// What is wrong with it (shown in the message, so not a `source`).
        reason: UnsafePath,
    },
    /// A BEP 47 symlink entry with data in it.
    #[error("symlink entry {0:?} has a non-zero length")]
    SymlinkWithData(String),
    /// A v2-only `info` where a v1 one was expected.
    #[error(
        "a v2-only info dictionary named by its SHA-1: a v2-only torrent is fetched by its btmh magnet link or loaded from its .torrent file"
    )]
    UnsupportedV2,
    /// The v2 side (BEP 52) of a torrent is malformed.
    #[error("bad v2 metadata: {0}")]
    BadV2(String),
    /// A file of the v2 side longer than a piece has no piece layer (what
    /// libtorrent keeps in its resume data instead, so qBittorrent's saved
    /// `.torrent` files have none): a hybrid loads without them and fetches
    /// them from its v2 peers; a v2-only torrent is refused.
    #[error("bad v2 metadata: {0}: no piece layer")]
    NoPieceLayer(String),
    /// `meta version` is not 1 or 2.
    #[error("unsupported meta version {0}")]
    UnsupportedMetaVersion(i64),
}
