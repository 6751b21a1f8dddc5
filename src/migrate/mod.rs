//! Moving torrents from another client: its saved state read into plans of
//! what to ask the daemon (`seedring remote import-qbittorrent`,
//! `import-rtorrent`, `import-transmission`, `import-deluge`). Pure: bytes in, plans out; the command reads the files
//! and makes the requests.

pub mod deluge;
pub mod pickle;
pub mod qbittorrent;
pub mod rtorrent;
pub mod transmission;

pub use qbittorrent::plan;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::bencode::{Limits, Node, decode};
use crate::metainfo::{Metainfo, MetainfoLimits};

/// Why a saved torrent cannot be moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// A file of the client's state is missing, not bencode, or not a
    /// dictionary.
    #[error("the {file} file is not readable: {why}")]
    Unreadable {
        /// Which of the client's files (`.fastresume`, `.rtorrent`, ...).
        file: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// The `.torrent` beside it is not a valid torrent.
    #[error("the .torrent file is not valid: {0}")]
    Torrent(String),
    /// Neither metadata nor an info-hash to make a magnet link of.
    #[error("it has no metadata and no info-hash")]
    NoHash,
    /// Where its data is is unknown.
    #[error("it has no save path")]
    NoSavePath,
}

/// What to ask the daemon for one saved torrent.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Its name, for messages.
    pub name: String,
    /// The add's JSON body: `torrent` (base64) or `magnet`, added paused, at
    /// `save_path` (the command drops it to let a torrent follow its
    /// category, see [`Plan::category_follow`]).
    pub add: Value,
    /// Where its files are to stay.
    pub save_path: String,
    /// Under automatic management in qBittorrent: its category, which it
    /// follows here too if that category's folder is `save_path`.
    pub category_follow: Option<String>,
    /// Its trackers, where the user changed them from the torrent's own.
    pub trackers: Option<Vec<Vec<String>>>,
    /// Every file's priority (pad files too), where any is not normal.
    pub priorities: Option<Vec<u8>>,
    /// Stopped in the other client: it stays paused.
    pub paused: bool,
    /// Files the other client names otherwise while they are unfinished
    /// (qBittorrent's `NAME.!qB`, Transmission's `NAME.part`): each (that
    /// name, its own), whole paths in the folder its data is in. The command
    /// gives each file its own name back before the add, where the first is
    /// there and the second is not.
    pub unfinished: Vec<(String, String)>,
}

/// A file's unfinished name and its own, in `folder`, for [`Plan::unfinished`]:
/// `rel` is its path there (`None` for one that is absolute, climbs out or
/// names nothing, or a folder that is not absolute: it is left as it is).
fn unfinished(folder: &str, rel: &str, suffix: &str) -> Option<(String, String)> {
    let bad = |c: &str| c.is_empty() || c == "." || c == "..";
    if rel.starts_with('/') || rel.split('/').any(bad) || !folder.starts_with('/') {
        return None;
    }
    let own = format!("{}/{rel}", folder.trim_end_matches('/'));
    Some((format!("{own}{suffix}"), own))
}

/// One of the client's bencoded dictionaries, `file` naming it if it is not.
fn dict<'a>(bytes: &'a [u8], file: &'static str) -> Result<Node<'a>, ImportError> {
    decode(bytes, Limits::default())
        .map_err(|e| e.to_string())
        .and_then(|d| match d.as_dict() {
            Some(_) => Ok(d),
            None => Err("not a dictionary".to_owned()),
        })
        .map_err(|why| ImportError::Unreadable { file, why })
}

/// A saved `.torrent` read as a dictionary (a client may keep more in it
/// than the torrent: its own state, or a magnet link's).
fn torrent_dict(bytes: &[u8]) -> Result<Node<'_>, ImportError> {
    decode(bytes, Limits::default())
        .ok()
        .filter(|d| d.as_dict().is_some())
        .ok_or_else(|| ImportError::Torrent("not a bencoded dictionary".into()))
}

/// A saved `.torrent` read, and put in the add as its `torrent` (base64).
fn with_torrent(add: &mut Map<String, Value>, torrent: &[u8]) -> Result<Metainfo, ImportError> {
    let meta = Metainfo::from_bytes_with(torrent, &MetainfoLimits::default())
        .map_err(|e| ImportError::Torrent(e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(torrent);
    add.insert("torrent".into(), b64.into());
    Ok(meta)
}

/// The add's fields for a torrent's past in the other client: its totals
/// (`downloaded`, `uploaded`), times (`added_at`, `completed_at`),
/// `seeding_time_secs` and `active_time_secs` (time it ran, paused time left
/// out), each as that client saved it; one it saved as zero or less (none)
/// is left out.
fn past(add: &mut Map<String, Value>, fields: [(&str, Option<i64>); 6]) {
    for (key, v) in fields {
        if let Some(v) = v.filter(|&v| v > 0) {
            add.insert(key.into(), v.into());
        }
    }
}

/// A text value of a saved dictionary (lossy UTF-8).
fn text(d: &Node<'_>, key: &str) -> Option<String> {
    d.get(key)
        .and_then(Node::as_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

/// An integer value of a saved dictionary.
fn int(d: &Node<'_>, key: &str) -> Option<i64> {
    d.get(key).and_then(Node::as_int)
}

/// A folder as paths are compared here: without blanks around it or a
/// slash at its end (`/` stays `/`).
pub fn folder(p: &str) -> &str {
    let t = p.trim();
    match t.trim_end_matches('/') {
        "" => t,
        s => s,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A magnet link of a torrent without its metadata: its hashes, name and
/// trackers.
fn magnet(v1: Option<&[u8]>, v2: Option<&[u8]>, name: &str, trackers: &[Vec<String>]) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let mut m = String::from("magnet:?");
    let mut xt = Vec::new();
    if let Some(h) = v1 {
        xt.push(format!("xt=urn:btih:{}", hex(h)));
    }
    if let Some(h) = v2 {
        xt.push(format!("xt=urn:btmh:1220{}", hex(h)));
    }
    m.push_str(&xt.join("&"));
    if !name.is_empty() {
        m.push_str("&dn=");
        m.extend(utf8_percent_encode(name, NON_ALPHANUMERIC));
    }
    for url in trackers.iter().flatten() {
        m.push_str("&tr=");
        m.extend(utf8_percent_encode(url, NON_ALPHANUMERIC));
    }
    m
}
