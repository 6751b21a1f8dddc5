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
use crate::bencode::OwnedValue;

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
    /// Placed by hand, not following its category (absent: follows it, as
    /// every torrent did before).
    pub manual: bool,
    /// Super-seeding (absent: off).
    pub super_seeding: bool,
    /// Where its files go under the save folder (absent: the torrent's own layout).
    pub content_layout: crate::metainfo::ContentLayout,
    /// Files given other names: index and path (absent: none).
    pub renames: Vec<(usize, Vec<String>)>,
    /// The root token its files move to when it finishes (absent: none).
    pub finish_in: Option<String>,
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

/// A record's `lay` value, in state and layout records (absent: the torrent's own).
pub(super) fn content_layout(
    t: crate::bencode::Token<'_>,
) -> Result<crate::metainfo::ContentLayout, RecordError> {
    match t {
        crate::bencode::Token::Int(v) => crate::metainfo::ContentLayout::from_code(v),
        _ => None,
    }
    .ok_or_else(|| bad("lay"))
}

pub(super) fn int(v: u64) -> OwnedValue {
    OwnedValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

impl StateRecord {
    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        use crate::bencode::writer::{bytes, dict, int, list, uint};
        // Keys in byte order (the writer checks): a save of many torrents
        // writes one of these each, with no allocation but the buffer's.
        let mut out = Vec::with_capacity(
            256 + self.have.as_wire().len() + 48 * self.files.len() + self.name.len(),
        );
        dict(&mut out, |d| {
            d.uint("added", self.added_at);
            if !self.category.is_empty() {
                d.bytes("cat", self.category.as_bytes());
            }
            d.uint("dl", self.download_limit);
            if !self.display_name.is_empty() {
                d.bytes("dn", self.display_name.as_bytes());
            }
            if let Some(t) = self.completed_at {
                d.uint("done", t);
            }
            d.uint("down", self.downloaded);
            list(d.key("files"), |l| {
                for f in &self.files {
                    list(l, |e| {
                        if let Some(s) = f {
                            uint(e, s.size);
                            int(e, s.mtime_ns);
                        }
                    });
                }
            });
            if let Some(token) = &self.finish_in {
                d.bytes("fin", token.as_bytes());
            }
            if self.first_last {
                d.int("fl", 1);
            }
            if self.forced {
                d.int("frc", 1);
            }
            d.bytes("have", self.have.as_wire());
            if self.manual {
                d.int("hnd", 1);
            }
            if self.content_layout != crate::metainfo::ContentLayout::Original {
                d.int("lay", i64::from(self.content_layout.code()));
            }
            if !self.labels.is_empty() {
                list(d.key("lbl"), |l| {
                    for label in &self.labels {
                        bytes(l, label.as_bytes());
                    }
                });
            }
            d.uint("n", u64::from(self.have.len()));
            d.bytes("name", self.name.as_bytes());
            d.int("paused", i64::from(self.paused));
            d.bytes("prio", &self.file_priorities);
            if self.queue_pos > 0 {
                d.uint("qp", self.queue_pos);
            }
            if !self.renames.is_empty() {
                list(d.key("ren"), |l| {
                    for (i, path) in &self.renames {
                        list(l, |e| {
                            uint(e, *i as u64);
                            list(e, |p| {
                                for c in path {
                                    bytes(p, c.as_bytes());
                                }
                            });
                        });
                    }
                });
            }
            d.bytes("root", self.root.as_bytes());
            if self.seeding_secs > 0 {
                d.uint("seed", self.seeding_secs);
            }
            d.int("seq", i64::from(self.sequential));
            if self.share != super::ShareLimits::default() {
                let l = self.share;
                list(d.key("shr"), |e| {
                    for x in [l.ratio_milli, l.seeding_mins, l.inactive_mins] {
                        int(e, x);
                    }
                });
            }
            if self.super_seeding {
                d.int("sup", 1);
            }
            list(d.key("tr"), |l| {
                for tier in &self.trackers {
                    list(l, |t| {
                        for url in tier {
                            bytes(t, url.as_bytes());
                        }
                    });
                }
            });
            d.uint("ul", self.upload_limit);
            d.uint("up", self.uploaded);
            d.int("v", STATE_VERSION);
            if !self.web_seeds.is_empty() {
                list(d.key("ws"), |l| {
                    for url in &self.web_seeds {
                        bytes(l, url.as_bytes());
                    }
                });
            }
        });
        out
    }

    /// Reads a record; `Err` for anything damaged or of an unknown version.
    pub fn decode(bytes: &[u8]) -> Result<StateRecord, RecordError> {
        use super::fields::{
            bytes as raw, flag, nonzero, read_versioned, required, signed, text, uint,
        };
        read_versioned(bytes, |f| {
            let (mut n, mut have, mut down, mut up, mut added) = (None, None, None, None, None);
            let (mut done, mut root, mut paused, mut seq, mut prio) =
                (None, None, None, None, None);
            let (mut dl, mut ul, mut files, mut name, mut tr) = (None, None, None, None, None);
            let (mut lbl, mut ws, mut cat, mut dn, mut shr) = (None, None, None, None, None);
            let (mut seed, mut qp, mut frc, mut fl, mut lay) = (None, None, None, None, None);
            let (mut ren, mut fin, mut hnd, mut sup) = (None, None, None, None);
            while let Some(key) = f.next_key()? {
                let t = f.value()?;
                // The first of two equal keys counts; the second is stepped over.
                match key {
                    b"n" if n.is_none() => n = Some(uint(t, "n")?),
                    b"have" if have.is_none() => have = Some(raw(t, "have")?),
                    b"down" if down.is_none() => down = Some(uint(t, "down")?),
                    b"up" if up.is_none() => up = Some(uint(t, "up")?),
                    b"added" if added.is_none() => added = Some(uint(t, "added")?),
                    b"done" if done.is_none() => done = Some(uint(t, "done")?),
                    b"root" if root.is_none() => root = Some(text(t, "root")?),
                    b"paused" if paused.is_none() => paused = Some(flag(t, "paused")?),
                    b"seq" if seq.is_none() => seq = Some(flag(t, "seq")?),
                    b"prio" if prio.is_none() => prio = Some(raw(t, "prio")?),
                    b"dl" if dl.is_none() => dl = Some(uint(t, "dl")?),
                    b"ul" if ul.is_none() => ul = Some(uint(t, "ul")?),
                    b"files" if files.is_none() => files = Some(stamps(f, t)?),
                    b"name" if name.is_none() => name = Some(raw(t, "name")?),
                    b"tr" if tr.is_none() => {
                        let mut tiers = Vec::new();
                        f.list(t, "tr", |f, tier| {
                            tiers.push(f.strings(tier, "tracker tier")?);
                            Ok(())
                        })?;
                        tr = Some(tiers);
                    }
                    b"lbl" if lbl.is_none() => lbl = Some(f.strings(t, "lbl")?),
                    b"ws" if ws.is_none() => ws = Some(f.strings(t, "ws")?),
                    b"cat" if cat.is_none() => cat = Some(text(t, "cat")?),
                    b"dn" if dn.is_none() => dn = Some(text(t, "dn")?),
                    b"shr" if shr.is_none() => {
                        let mut v = Vec::new();
                        f.list(t, "shr", |_, x| {
                            v.push(signed(x, "share limit")?);
                            Ok(())
                        })?;
                        let [ratio_milli, seeding_mins, inactive_mins] = v[..] else {
                            return Err(bad("shr"));
                        };
                        shr = Some(super::ShareLimits {
                            ratio_milli,
                            seeding_mins,
                            inactive_mins,
                        });
                    }
                    b"seed" if seed.is_none() => seed = Some(uint(t, "seed")?),
                    b"qp" if qp.is_none() => qp = Some(uint(t, "qp")?),
                    // Anything but a non-zero integer is "no" (as ever).
                    b"frc" if frc.is_none() => {
                        frc = Some(nonzero(t));
                        f.skip(t)?;
                    }
                    b"fl" if fl.is_none() => {
                        fl = Some(nonzero(t));
                        f.skip(t)?;
                    }
                    b"sup" if sup.is_none() => {
                        sup = Some(nonzero(t));
                        f.skip(t)?;
                    }
                    b"hnd" if hnd.is_none() => {
                        hnd = Some(nonzero(t));
                        f.skip(t)?;
                    }
                    b"lay" if lay.is_none() => lay = Some(content_layout(t)?),
                    b"ren" if ren.is_none() => ren = Some(renames(f, t)?),
                    b"fin" if fin.is_none() => fin = Some(text(t, "fin")?),
                    _ => f.skip(t)?,
                }
            }
            let n = u32::try_from(required(n, "n")?).map_err(|_| bad("n"))?;
            let have =
                Bitfield::from_wire(required(have, "have")?, n).ok_or_else(|| bad("have"))?;
            Ok(StateRecord {
                have,
                downloaded: required(down, "down")?,
                uploaded: required(up, "up")?,
                added_at: required(added, "added")?,
                completed_at: done,
                root: required(root, "root")?.to_owned(),
                paused: required(paused, "paused")?,
                sequential: required(seq, "seq")?,
                file_priorities: required(prio, "prio")?.to_vec(),
                download_limit: required(dl, "dl")?,
                upload_limit: required(ul, "ul")?,
                files: required(files, "files")?,
                name: String::from_utf8_lossy(required(name, "name")?).into_owned(),
                trackers: required(tr, "tr")?,
                web_seeds: ws.unwrap_or_default(),
                labels: lbl.unwrap_or_default(),
                category: cat.unwrap_or_default().to_owned(),
                share: shr.unwrap_or_default(),
                seeding_secs: seed.unwrap_or(0),
                queue_pos: qp.unwrap_or(0),
                forced: frc.unwrap_or(false),
                display_name: dn.unwrap_or_default().to_owned(),
                first_last: fl.unwrap_or(false),
                manual: hnd.unwrap_or(false),
                super_seeding: sup.unwrap_or(false),
                content_layout: lay.unwrap_or(crate::metainfo::ContentLayout::Original),
                renames: ren.unwrap_or_default(),
                finish_in: fin.map(str::to_owned),
            })
        })
    }
}

/// The `ren` list of a state record: per renamed file `[index, [components]]`
/// (checked against the torrent's files when its layout is set).
fn renames<'a>(
    f: &mut super::fields::Fields<'a>,
    first: crate::bencode::Token<'a>,
) -> Result<Vec<(usize, Vec<String>)>, RecordError> {
    let mut out = Vec::new();
    f.list(first, "ren", |f, entry| {
        let mut index = None;
        let mut path = None;
        f.list(entry, "ren", |f, t| {
            if index.is_none() {
                let i = super::fields::uint(t, "ren")?;
                index = Some(usize::try_from(i).map_err(|_| bad("ren"))?);
            } else if path.is_none() {
                path = Some(f.strings(t, "ren")?);
            } else {
                return Err(bad("ren"));
            }
            Ok(())
        })?;
        match (index, path) {
            (Some(i), Some(p)) if !p.is_empty() => out.push((i, p)),
            _ => return Err(bad("ren")),
        }
        Ok(())
    })?;
    Ok(out)
}

/// The `files` list of a state record: per file `[size, mtime]`, or `[]`.
fn stamps<'a>(
    f: &mut super::fields::Fields<'a>,
    first: crate::bencode::Token<'a>,
) -> Result<Vec<Option<FileStamp>>, RecordError> {
    use super::fields::{signed, uint};
    use crate::bencode::Token;
    let mut out = Vec::new();
    f.list(first, "files", |f, stamp| {
        if stamp != Token::List {
            return Err(bad("file stamp"));
        }
        let size = match f.value()? {
            Token::End => {
                out.push(None);
                return Ok(());
            }
            t => uint(t, "file size")?,
        };
        let mtime_ns = match f.value()? {
            Token::End => return Err(bad("file stamp")),
            t => signed(t, "file mtime")?,
        };
        if f.value()? != Token::End {
            return Err(bad("file stamp"));
        }
        out.push(Some(FileStamp { size, mtime_ns }));
        Ok(())
    })?;
    Ok(out)
}

/// Encodes a peer list.
pub fn encode_peers(peers: &[PeerRecord]) -> Vec<u8> {
    use crate::bencode::writer::{dict, list};
    let mut out = Vec::with_capacity(16 + 40 * peers.len());
    dict(&mut out, |d| {
        list(d.key("peers"), |l| {
            for p in peers {
                dict(l, |e| {
                    e.bytes("a", p.addr.to_string().as_bytes());
                    e.uint("t", p.last_seen);
                });
            }
        });
        d.int("v", STATE_VERSION);
    });
    out
}

/// Decodes a peer list (entries that do not parse are an error too: the list is
/// advisory, so a damaged one is simply dropped by the caller).
pub fn decode_peers(bytes: &[u8]) -> Result<Vec<PeerRecord>, RecordError> {
    use super::fields::{read_versioned, required, text, uint};
    use crate::bencode::Token;
    read_versioned(bytes, |f| {
        let mut peers = None;
        while let Some(key) = f.next_key()? {
            let t = f.value()?;
            if key != b"peers" || peers.is_some() {
                f.skip(t)?;
                continue;
            }
            let mut list = Vec::new();
            f.list(t, "peers", |f, entry| {
                if entry != Token::Dict {
                    return Err(bad("peer"));
                }
                let (mut addr, mut seen) = (None, None);
                while let Some(key) = f.key()? {
                    let t = f.value()?;
                    match key {
                        b"a" if addr.is_none() => {
                            let a = text(t, "peer address")?.parse();
                            addr = Some(a.map_err(|_| bad("peer address"))?);
                        }
                        b"t" if seen.is_none() => seen = Some(uint(t, "t")?),
                        _ => f.skip(t)?,
                    }
                }
                list.push(PeerRecord {
                    addr: required(addr, "peer address")?,
                    last_seen: required(seen, "t")?,
                });
                Ok(())
            })?;
            peers = Some(list);
        }
        required(peers, "peers")
    })
}

pub(super) fn bad(what: &str) -> RecordError {
    RecordError::Corrupt(format!("bad or missing {what:?}"))
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
            manual: true,
            super_seeding: true,
            content_layout: crate::metainfo::ContentLayout::NoSubfolder,
            renames: vec![
                (0, vec!["a name".into(), "x.bin".into()]),
                (2, vec!["y".into()]),
            ],
            finish_in: Some("done-disk".into()),
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
        r2.manual = false;
        r2.super_seeding = false;
        r2.finish_in = None;
        r2.content_layout = crate::metainfo::ContentLayout::Original;
        let old = r2.encode();
        assert!(!old.windows(5).any(|w| w == b"3:lbl"));
        assert!(!old.windows(5).any(|w| w == b"3:cat"));
        assert_eq!(StateRecord::decode(&old).unwrap(), r2);
    }

    #[test]
    fn records_are_written_canonically() {
        // Keys sorted, none twice, integers and lengths without leading zeros:
        // the same bytes a tree of the same entries encodes to.
        let canonical = |bytes: &[u8]| {
            let node = crate::bencode::decode(bytes, crate::bencode::Limits::default()).unwrap();
            assert_eq!(OwnedValue::from(&node).encode(), bytes);
        };
        let mut r = sample();
        canonical(&r.encode());
        r.completed_at = None;
        r.web_seeds.clear();
        r.labels.clear();
        r.share = super::super::ShareLimits::default();
        canonical(&r.encode());
        let peers = [PeerRecord {
            addr: "[::1]:51413".parse().unwrap(),
            last_seen: 4,
        }];
        canonical(&encode_peers(&peers));
        canonical(&encode_peers(&[]));
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
    fn the_worst_damage_names_the_error_and_the_first_of_two_keys_counts() {
        let good = sample().encode();
        let at = good.windows(6).position(|w| w == b"1:vi1e").unwrap();
        // An unknown version wins over a field this build cannot read...
        let mut v2 = good.clone();
        v2[at + 4] = b'2';
        let down = v2.windows(6).position(|w| w == b"4:down").unwrap() + 6;
        let end = down + v2[down..].iter().position(|&b| b == b'e').unwrap() + 1;
        // (`down` a list, not an integer.)
        let strange = [&v2[..down], b"le", &v2[end..]].concat();
        assert_eq!(StateRecord::decode(&strange), Err(RecordError::Version(2)));
        // ...damaged bencode wins over the version...
        let mut cut = v2.clone();
        cut.pop();
        assert!(matches!(
            StateRecord::decode(&cut),
            Err(RecordError::Corrupt(_))
        ));
        // ...and no version at all is named as such.
        let none = [&good[..at], &good[at + 6..]].concat();
        assert_eq!(
            StateRecord::decode(&none),
            Err(RecordError::Corrupt("bad or missing \"v\"".into()))
        );
        // Keys this build does not know are stepped over, containers and all;
        // of two equal keys the first counts.
        let extra = [b"d0:d1:xli1eee".as_slice(), b"4:downi1e", &good[1..]].concat();
        let r = StateRecord::decode(&extra).unwrap();
        assert_eq!((r.downloaded, r.uploaded), (1, 7));
        assert_eq!(
            decode_peers(b"d5:peersle1:vi1e5:peersi3ee").unwrap(),
            vec![]
        );
    }

    #[test]
    fn a_record_read_back_reads_back_the_same() {
        // Whatever a damaged record decodes to is itself a record: written
        // again, it reads back equal.
        let good = sample().encode();
        for i in 0..good.len() {
            for b in [b'0', b'1', b'e', b'l', b'd'] {
                let mut m = good.clone();
                m[i] = b;
                if let Ok(r) = StateRecord::decode(&m) {
                    assert_eq!(StateRecord::decode(&r.encode()).unwrap(), r, "at {i}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_record_round_trips_canonically(
            bits in proptest::collection::vec(proptest::bool::ANY, 0..3000),
            nums in proptest::array::uniform8(0..=i64::MAX as u64),
            files in proptest::collection::vec(
                proptest::option::of((0..=i64::MAX as u64, proptest::num::i64::ANY)),
                0..20,
            ),
            words in proptest::collection::vec(".{0,12}", 8),
            tiers in proptest::collection::vec(proptest::collection::vec(".{0,20}", 0..3), 0..3),
            share in proptest::array::uniform3(-2i64..1_000_000),
            flags in proptest::array::uniform4(proptest::bool::ANY),
            layout in 0u8..3,
        ) {
            let mut have = Bitfield::new(u32::try_from(bits.len()).unwrap());
            for (i, b) in (0u32..).zip(&bits) {
                if *b {
                    have.set(i);
                }
            }
            let r = StateRecord {
                have,
                downloaded: nums[0],
                uploaded: nums[1],
                added_at: nums[2],
                completed_at: flags[0].then_some(nums[3]),
                root: words[0].clone(),
                paused: flags[1],
                sequential: flags[2],
                file_priorities: files.iter().map(|f| u8::from(f.is_some())).collect(),
                download_limit: nums[4],
                upload_limit: nums[5],
                files: files
                    .iter()
                    .map(|f| f.map(|(size, mtime_ns)| FileStamp { size, mtime_ns }))
                    .collect(),
                name: words[1].clone(),
                trackers: tiers,
                web_seeds: vec![words[2].clone()].into_iter().filter(|w| !w.is_empty()).collect(),
                labels: vec![words[3].clone()].into_iter().filter(|w| !w.is_empty()).collect(),
                category: words[4].clone(),
                share: super::super::ShareLimits {
                    ratio_milli: share[0],
                    seeding_mins: share[1],
                    inactive_mins: share[2],
                },
                seeding_secs: nums[6],
                queue_pos: nums[7],
                forced: flags[3],
                display_name: words[5].clone(),
                first_last: flags[0] && flags[3],
                manual: flags[1] && !flags[2],
                super_seeding: flags[2] && !flags[3],
                content_layout: match layout {
                    0 => crate::metainfo::ContentLayout::Original,
                    1 => crate::metainfo::ContentLayout::Subfolder,
                    _ => crate::metainfo::ContentLayout::NoSubfolder,
                },
                renames: if words[0].is_empty() {
                    Vec::new()
                } else {
                    vec![(files.len(), vec![words[0].clone(), words[1].clone()])]
                },
                finish_in: (!words[2].is_empty()).then(|| words[2].clone()),
            };
            let bytes = r.encode();
            let node = crate::bencode::decode(&bytes, crate::bencode::Limits::default()).unwrap();
            proptest::prop_assert_eq!(OwnedValue::from(&node).encode(), bytes.clone());
            proptest::prop_assert_eq!(StateRecord::decode(&bytes).unwrap(), r);
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
