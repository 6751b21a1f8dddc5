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
//! | `sla`   | what reaching one does: `pause`, `remove`, `remove_with_files` or `super_seed` (absent: the global action) |
//! | `run`   | seconds run: not paused, queued or failed (absent: 0)          |
//! | `seen`  | unix seconds a whole copy was last seen (absent: never)        |
//! | `seed`  | seconds seeded (absent: 0)                                     |
//! | `act`   | unix seconds of its last payload sent or received (absent: none) |
//! | `qp`    | place in the queue (absent: 0)                                 |
//! | `frc`   | 1: force-started (absent: no)                                  |
//! | `dn`    | the name the user gave it (absent: none)                       |
//! | `fl`    | 1: each wanted file's first and last piece first (absent: no)  |
//! | `lay`   | content layout, 1 subfolder, 2 no subfolder (absent: the torrent's own) |
//! | `chk`   | 1: a check was under way, `have` is what it had found (absent: no) |
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
    /// What reaching one does (absent: the global action).
    pub share_action: Option<super::ShareAction>,
    /// Seconds seeded (absent: none).
    pub seeding_secs: u64,
    /// Seconds run: not paused, queued or failed (absent: none).
    pub running_secs: u64,
    /// When a whole copy was last seen, unix seconds (absent: never, or a
    /// record from before this was kept).
    pub seen_complete: Option<u64>,
    /// When it last sent or received payload, unix seconds (absent: never,
    /// or a record from before this was kept).
    pub active_at: Option<u64>,
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
    /// A check of its files was under way: `have` is only what it had found,
    /// and a restore checks it again (absent: no).
    pub checking: bool,
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
            if let Some(at) = self.active_at {
                d.uint("act", at);
            }
            d.uint("added", self.added_at);
            if !self.category.is_empty() {
                d.bytes("cat", self.category.as_bytes());
            }
            if self.checking {
                d.int("chk", 1);
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
            if self.running_secs > 0 {
                d.uint("run", self.running_secs);
            }
            if self.seeding_secs > 0 {
                d.uint("seed", self.seeding_secs);
            }
            if let Some(at) = self.seen_complete {
                d.uint("seen", at);
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
            if let Some(a) = self.share_action {
                d.bytes("sla", a.name().as_bytes());
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
            let (mut ren, mut fin, mut hnd, mut sup, mut chk) = (None, None, None, None, None);
            let (mut act, mut run, mut seen, mut sla) = (None, None, None, None);
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
                    b"sla" if sla.is_none() => {
                        let name = text(t, "sla")?;
                        sla = Some(super::ShareAction::from_name(name).ok_or_else(|| bad("sla"))?);
                    }
                    b"seed" if seed.is_none() => seed = Some(uint(t, "seed")?),
                    b"act" if act.is_none() => act = Some(uint(t, "act")?),
                    b"run" if run.is_none() => run = Some(uint(t, "run")?),
                    b"seen" if seen.is_none() => seen = Some(uint(t, "seen")?),
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
                    b"chk" if chk.is_none() => {
                        chk = Some(nonzero(t));
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
                share_action: sla,
                seeding_secs: seed.unwrap_or(0),
                running_secs: run.unwrap_or(0),
                seen_complete: seen,
                active_at: act,
                queue_pos: qp.unwrap_or(0),
                forced: frc.unwrap_or(false),
                display_name: dn.unwrap_or_default().to_owned(),
                first_last: fl.unwrap_or(false),
                manual: hnd.unwrap_or(false),
                super_seeding: sup.unwrap_or(false),
                content_layout: lay.unwrap_or(crate::metainfo::ContentLayout::Original),
                renames: ren.unwrap_or_default(),
                finish_in: fin.map(str::to_owned),
                checking: chk.unwrap_or(false),
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
#[path = "record_tests.rs"]
mod tests;
