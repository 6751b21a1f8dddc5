//! The resume records: what a torrent needs to come back after a restart, as
//! versioned bencoded dictionaries.
//!
//! `torrent:{ih}:state` ([`StateRecord`]), version [`STATE_VERSION`]:
//!
//! | key     | value                                                          |
//! |---------|----------------------------------------------------------------|
//! | `v`     | record version                                                 |
//! | `n`     | piece count                                                    |
//! | `have`  | pieces durably on disk, as a wire bitfield                     |
//! | `down`, `up` | payload bytes downloaded and uploaded since added         |
//! | `added`, `done` | unix seconds (added; completed, absent if not yet)     |
//! | `root`  | storage root token                                             |
//! | `paused`, `seq` | 0 or 1                                                 |
//! | `prio`  | one byte per file (0 = skip)                                   |
//! | `dl`, `ul` | per-torrent caps, bytes per second (0 = none)               |
//! | `files` | per file, `[size, mtime in ns]` when it existed at the save, else `[]` |
//! | `name`  | display name (what a magnet shows before its metadata arrives) |
//! | `tr`    | tracker tiers, lists of URLs                                   |
//! | `ws`    | web seed URLs (absent: none)                                   |
//! | `lbl`   | labels (absent: none)                                          |
//! | `cat`   | category name (absent: none)                                   |
//! | `shr`   | share limits `[ratio in thousandths, seeding min, inactive min]`, -2 global, -1 none (absent: all global) |
//! | `seed`  | seconds seeded (absent: 0)                                     |
//! | `qp`    | place in the queue (absent: 0)                                 |
//! | `frc`   | 1: force-started (absent: no)                                  |
//! | `dn`    | the name the user gave it (absent: none)                       |
//! | `fl`    | 1: each wanted file's first and last piece first (absent: no)  |
//! | `lay`   | content layout, 1 subfolder, 2 no subfolder (absent: the torrent's own) |
//!
//! `torrent:{ih}:peers` ([`PeerRecord`] list): `v`, and `peers`, a list of
//! `{a: "ip:port", t: unix seconds last seen}`.
//!
//! Decoding never trusts the bytes: anything malformed, or a version this build does
//! not know, is a [`RecordError`]; the engine then rechecks that torrent only.

use core::net::SocketAddr;

use super::Bitfield;
use crate::bencode::{self, Node, OwnedValue};

/// The state record version this build writes and reads.
pub const STATE_VERSION: i64 = 1;

/// A file's size and modification time when the record was saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// Bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
}

/// A torrent's resume state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecord {
    /// Pieces durably on disk.
    pub have: Bitfield,
    /// Payload bytes downloaded since added.
    pub downloaded: u64,
    /// Payload bytes uploaded since added.
    pub uploaded: u64,
    /// When added, unix seconds.
    pub added_at: u64,
    /// When completed, unix seconds.
    pub completed_at: Option<u64>,
    /// Storage root token.
    pub root: String,
    /// Paused by the user.
    pub paused: bool,
    /// Sequential download.
    pub sequential: bool,
    /// Per file priority.
    pub file_priorities: Vec<u8>,
    /// Per-torrent download cap (0 = none).
    pub download_limit: u64,
    /// Per-torrent upload cap (0 = none).
    pub upload_limit: u64,
    /// Per file, its stamp at the save (`None`: it did not exist).
    pub files: Vec<Option<FileStamp>>,
    /// Display name.
    pub name: String,
    /// Tracker tiers.
    pub trackers: Vec<Vec<String>>,
    /// Web seed URLs (absent in records from before web seeds).
    pub web_seeds: Vec<String>,
    /// The user's labels (absent in records from before labels).
    pub labels: Vec<String>,
    /// Its category (absent when none, and in records from before categories).
    pub category: String,
    /// Its share limits (absent: all follow the global ones).
    pub share: super::ShareLimits,
    /// Seconds seeded (absent: none).
    pub seeding_secs: u64,
    /// Its place in the queue (absent: 0).
    pub queue_pos: u64,
    /// Force-started (absent: no).
    pub forced: bool,
    /// The name the user gave it (absent: none).
    pub display_name: String,
    /// First and last pieces first (absent: no).
    pub first_last: bool,
    /// Where its files go under the save folder (absent: the torrent's own layout).
    pub content_layout: crate::metainfo::ContentLayout,
}

/// A peer that worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerRecord {
    /// Where.
    pub addr: SocketAddr,
    /// Last seen, unix seconds.
    pub last_seen: u64,
}

/// Why a record cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Not a record this build can read.
    #[error("unknown record version {0}")]
    Version(i64),
    /// Damaged.
    #[error("corrupted record: {0}")]
    Corrupt(String),
}

/// A record's `lay` (absent: the torrent's own layout), in state and layout records.
pub(super) fn content_layout(
    root: &Node<'_>,
) -> Result<crate::metainfo::ContentLayout, RecordError> {
    match root.get("lay") {
        None => Ok(crate::metainfo::ContentLayout::Original),
        Some(v) => v
            .as_int()
            .and_then(crate::metainfo::ContentLayout::from_code)
            .ok_or_else(|| bad("lay")),
    }
}

pub(super) fn int(v: u64) -> OwnedValue {
    OwnedValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

impl StateRecord {
    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut d = OwnedValue::dict();
        d.insert("v", STATE_VERSION);
        d.insert("n", int(u64::from(self.have.len())));
        d.insert("have", self.have.as_wire().to_vec());
        d.insert("down", int(self.downloaded));
        d.insert("up", int(self.uploaded));
        d.insert("added", int(self.added_at));
        if let Some(t) = self.completed_at {
            d.insert("done", int(t));
        }
        d.insert("root", self.root.as_str());
        d.insert("paused", i64::from(self.paused));
        d.insert("seq", i64::from(self.sequential));
        d.insert("prio", self.file_priorities.clone());
        d.insert("dl", int(self.download_limit));
        d.insert("ul", int(self.upload_limit));
        let files = self
            .files
            .iter()
            .map(|f| match f {
                Some(s) => OwnedValue::List(vec![int(s.size), OwnedValue::Int(s.mtime_ns)]),
                None => OwnedValue::List(Vec::new()),
            })
            .collect::<Vec<_>>();
        d.insert("files", OwnedValue::List(files));
        d.insert("name", self.name.as_str());
        let tiers = self
            .trackers
            .iter()
            .map(|tier| OwnedValue::List(tier.iter().map(|u| u.as_str().into()).collect()))
            .collect::<Vec<_>>();
        d.insert("tr", OwnedValue::List(tiers));
        if !self.labels.is_empty() {
            let labels = self.labels.iter().map(|l| l.as_str().into()).collect();
            d.insert("lbl", OwnedValue::List(labels));
        }
        if !self.web_seeds.is_empty() {
            let urls = self.web_seeds.iter().map(|u| u.as_str().into()).collect();
            d.insert("ws", OwnedValue::List(urls));
        }
        if self.share != super::ShareLimits::default() {
            let l = self.share;
            let v = [l.ratio_milli, l.seeding_mins, l.inactive_mins];
            d.insert(
                "shr",
                OwnedValue::List(v.iter().map(|x| OwnedValue::Int(*x)).collect()),
            );
        }
        if self.seeding_secs > 0 {
            d.insert("seed", int(self.seeding_secs));
        }
        if self.queue_pos > 0 {
            d.insert("qp", int(self.queue_pos));
        }
        if self.forced {
            d.insert("frc", 1i64);
        }
        if !self.category.is_empty() {
            d.insert("cat", self.category.as_str());
        }
        if !self.display_name.is_empty() {
            d.insert("dn", self.display_name.as_str());
        }
        if self.first_last {
            d.insert("fl", 1i64);
        }
        if self.content_layout != crate::metainfo::ContentLayout::Original {
            d.insert("lay", i64::from(self.content_layout.code()));
        }
        d.encode()
    }

    /// Reads a record; `Err` for anything damaged or of an unknown version.
    pub fn decode(bytes: &[u8]) -> Result<StateRecord, RecordError> {
        let root = decode_versioned(bytes)?;
        let n = u32::try_from(uint(&root, "n")?).map_err(|_| bad("n"))?;
        let have = Bitfield::from_wire(bytes_of(&root, "have")?, n).ok_or_else(|| bad("have"))?;
        let completed_at = match root.get("done") {
            Some(_) => Some(uint(&root, "done")?),
            None => None,
        };
        let files = root
            .get("files")
            .and_then(Node::as_list)
            .ok_or_else(|| bad("files"))?
            .iter()
            .map(|f| match f.as_list() {
                Some([]) => Ok(None),
                Some([size, mtime]) => Ok(Some(FileStamp {
                    size: size
                        .as_int()
                        .and_then(|v| u64::try_from(v).ok())
                        .ok_or_else(|| bad("file size"))?,
                    mtime_ns: mtime.as_int().ok_or_else(|| bad("file mtime"))?,
                })),
                _ => Err(bad("file stamp")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let trackers = root
            .get("tr")
            .and_then(Node::as_list)
            .ok_or_else(|| bad("tr"))?
            .iter()
            .map(|tier| {
                tier.as_list()
                    .ok_or_else(|| bad("tracker tier"))?
                    .iter()
                    .map(|u| u.as_str().map(str::to_owned).ok_or_else(|| bad("tracker")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let labels = match root.get("lbl") {
            None => Vec::new(),
            Some(l) => l
                .as_list()
                .ok_or_else(|| bad("lbl"))?
                .iter()
                .map(|l| l.as_str().map(str::to_owned).ok_or_else(|| bad("label")))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let web_seeds = match root.get("ws") {
            None => Vec::new(),
            Some(l) => l
                .as_list()
                .ok_or_else(|| bad("ws"))?
                .iter()
                .map(|u| u.as_str().map(str::to_owned).ok_or_else(|| bad("web seed")))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let category = match root.get("cat") {
            None => String::new(),
            Some(c) => c.as_str().ok_or_else(|| bad("cat"))?.to_owned(),
        };
        let display_name = match root.get("dn") {
            None => String::new(),
            Some(c) => c.as_str().ok_or_else(|| bad("dn"))?.to_owned(),
        };
        let share = match root.get("shr") {
            None => super::ShareLimits::default(),
            Some(l) => {
                let v: Vec<i64> = l
                    .as_list()
                    .ok_or_else(|| bad("shr"))?
                    .iter()
                    .map(|x| x.as_int().ok_or_else(|| bad("share limit")))
                    .collect::<Result<_, _>>()?;
                let [ratio_milli, seeding_mins, inactive_mins] = v[..] else {
                    return Err(bad("shr"));
                };
                super::ShareLimits {
                    ratio_milli,
                    seeding_mins,
                    inactive_mins,
                }
            }
        };
        let seeding_secs = match root.get("seed") {
            None => 0,
            Some(_) => uint(&root, "seed")?,
        };
        let queue_pos = match root.get("qp") {
            None => 0,
            Some(_) => uint(&root, "qp")?,
        };
        let forced = root
            .get("frc")
            .and_then(Node::as_int)
            .is_some_and(|v| v != 0);
        let first_last = root
            .get("fl")
            .and_then(Node::as_int)
            .is_some_and(|v| v != 0);
        let content_layout = content_layout(&root)?;
        Ok(StateRecord {
            content_layout,
            first_last,
            labels,
            category,
            share,
            seeding_secs,
            queue_pos,
            forced,
            display_name,
            name: String::from_utf8_lossy(bytes_of(&root, "name")?).into_owned(),
            trackers,
            web_seeds,
            have,
            downloaded: uint(&root, "down")?,
            uploaded: uint(&root, "up")?,
            added_at: uint(&root, "added")?,
            completed_at,
            root: String::from_utf8(bytes_of(&root, "root")?.to_vec()).map_err(|_| bad("root"))?,
            paused: flag(&root, "paused")?,
            sequential: flag(&root, "seq")?,
            file_priorities: bytes_of(&root, "prio")?.to_vec(),
            download_limit: uint(&root, "dl")?,
            upload_limit: uint(&root, "ul")?,
            files,
        })
    }
}

/// Encodes a peer list.
pub fn encode_peers(peers: &[PeerRecord]) -> Vec<u8> {
    let mut d = OwnedValue::dict();
    d.insert("v", STATE_VERSION);
    let list = peers
        .iter()
        .map(|p| {
            let mut e = OwnedValue::dict();
            e.insert("a", p.addr.to_string());
            e.insert("t", int(p.last_seen));
            e
        })
        .collect::<Vec<_>>();
    d.insert("peers", OwnedValue::List(list));
    d.encode()
}

/// Decodes a peer list (entries that do not parse are an error too: the list is
/// advisory, so a damaged one is simply dropped by the caller).
pub fn decode_peers(bytes: &[u8]) -> Result<Vec<PeerRecord>, RecordError> {
    let root = decode_versioned(bytes)?;
    root.get("peers")
        .and_then(Node::as_list)
        .ok_or_else(|| bad("peers"))?
        .iter()
        .map(|e| {
            let addr = e
                .get("a")
                .and_then(Node::as_str)
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| bad("peer address"))?;
            Ok(PeerRecord {
                addr,
                last_seen: uint(e, "t")?,
            })
        })
        .collect()
}

pub(super) fn bad(what: &str) -> RecordError {
    RecordError::Corrupt(format!("bad or missing {what:?}"))
}

pub(super) fn decode_versioned(bytes: &[u8]) -> Result<Node<'_>, RecordError> {
    let root = bencode::decode(bytes, bencode::Limits::default())
        .map_err(|e| RecordError::Corrupt(e.to_string()))?;
    if root.as_dict().is_none() {
        return Err(RecordError::Corrupt("not a dictionary".into()));
    }
    let v = root
        .get("v")
        .and_then(Node::as_int)
        .ok_or_else(|| bad("v"))?;
    if v != STATE_VERSION {
        return Err(RecordError::Version(v));
    }
    Ok(root)
}

pub(super) fn uint(d: &Node<'_>, key: &str) -> Result<u64, RecordError> {
    d.get(key)
        .and_then(Node::as_int)
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| bad(key))
}

pub(super) fn flag(d: &Node<'_>, key: &str) -> Result<bool, RecordError> {
    match d.get(key).and_then(Node::as_int) {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        _ => Err(bad(key)),
    }
}

fn bytes_of<'a>(d: &Node<'a>, key: &str) -> Result<&'a [u8], RecordError> {
    d.get(key).and_then(Node::as_bytes).ok_or_else(|| bad(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StateRecord {
        let mut have = Bitfield::new(11);
        have.set(0);
        have.set(10);
        StateRecord {
            have,
            downloaded: 5 << 30,
            uploaded: 7,
            added_at: 1_700_000_000,
            completed_at: Some(1_700_000_100),
            root: "disk2".into(),
            paused: true,
            sequential: false,
            file_priorities: vec![1, 0, 7],
            download_limit: 100_000,
            upload_limit: 0,
            files: vec![
                Some(FileStamp {
                    size: 10,
                    mtime_ns: 1_700_000_000_123_456_789,
                }),
                None,
                Some(FileStamp {
                    size: 0,
                    mtime_ns: -5,
                }),
            ],
            name: "a name".into(),
            trackers: vec![vec!["http://127.0.0.1:1/a".into()], vec![]],
            web_seeds: vec!["http://127.0.0.1:2/files/".into()],
            labels: vec!["movies".into(), "x y".into()],
            category: "tv/hd".into(),
            share: super::super::ShareLimits {
                ratio_milli: 1500,
                seeding_mins: -1,
                inactive_mins: 30,
            },
            seeding_secs: 7200,
            queue_pos: 12,
            forced: true,
            display_name: "Shown As".into(),
            first_last: true,
            content_layout: crate::metainfo::ContentLayout::NoSubfolder,
        }
    }

    #[test]
    fn state_round_trips() {
        let r = sample();
        assert_eq!(StateRecord::decode(&r.encode()).unwrap(), r);
        let mut r2 = r;
        r2.completed_at = None;
        assert_eq!(StateRecord::decode(&r2.encode()).unwrap(), r2);
        // A record from before labels and categories has none.
        r2.labels.clear();
        r2.category.clear();
        r2.share = super::super::ShareLimits::default();
        r2.seeding_secs = 0;
        r2.queue_pos = 0;
        r2.forced = false;
        r2.display_name.clear();
        r2.first_last = false;
        r2.content_layout = crate::metainfo::ContentLayout::Original;
        let old = r2.encode();
        assert!(!old.windows(5).any(|w| w == b"3:lbl"));
        assert!(!old.windows(5).any(|w| w == b"3:cat"));
        assert_eq!(StateRecord::decode(&old).unwrap(), r2);
    }

    #[test]
    fn unknown_versions_and_damage_are_errors_never_panics() {
        let good = sample().encode();
        let at = good.windows(6).position(|w| w == b"1:vi1e").unwrap();
        let mut v2 = good.clone();
        v2[at + 4] = b'2';
        assert_eq!(StateRecord::decode(&v2), Err(RecordError::Version(2)));
        assert!(matches!(
            StateRecord::decode(b"garbage"),
            Err(RecordError::Corrupt(_))
        ));
        // Every truncation and every single-byte change: an error or a record, never
        // a panic; a changed piece count never yields a mismatched bitfield.
        for cut in 0..good.len() {
            let _ = StateRecord::decode(&good[..cut]);
        }
        for i in 0..good.len() {
            for b in [0u8, b'0', b'9', b'e', b'i', 0xFF] {
                let mut m = good.clone();
                m[i] = b;
                if let Ok(r) = StateRecord::decode(&m) {
                    assert_eq!(r.have.as_wire().len(), r.have.len().div_ceil(8) as usize);
                }
            }
        }
    }

    #[test]
    fn peers_round_trip() {
        let peers = vec![
            PeerRecord {
                addr: "127.0.0.1:6881".parse().unwrap(),
                last_seen: 3,
            },
            PeerRecord {
                addr: "[::1]:51413".parse().unwrap(),
                last_seen: 4,
            },
        ];
        assert_eq!(decode_peers(&encode_peers(&peers)).unwrap(), peers);
        assert!(decode_peers(b"d1:vi1e5:peersl1:xee").is_err());
    }
}
