//! What one `sync/maindata` client was sent, and the delta from there.
//!
//! Per torrent the client state keeps a 64-bit hash of every field sent (so
//! only changed fields are sent again), its share of the totals in
//! `server_state`, and the tracker it is listed under. The engine gives only
//! the stats of torrents changed since the client's last versions
//! ([`crate::core::versions`]), so a poll of an idle seedbox touches each
//! torrent once, cheaply. A walk over every torrent (a full update) takes
//! their stats a piece at a time ([`Client::take_in`], then [`Client::end`]),
//! so its answer can go out while it is made.

use std::collections::{HashMap, HashSet};
use std::hash::Hasher;
use std::time::Instant;

use serde_json::{Map, Value};

use super::view::{Context, Field, QbTorrent};
use crate::core::TorrentStats;
use crate::core::versions::{QuickBuild, QuickHasher};
use crate::engine::ChangedStats;
use crate::types::InfoHash;

/// One torrent as the client last saw it.
#[derive(Debug)]
struct Seen {
    hashes: Box<[u64]>,
    /// downloaded, uploaded, download rate, upload rate, peers, wasted.
    sums: [u64; 6],
    tracker: Option<String>,
}

/// Sums over every torrent, as `server_state` shows them.
pub type Totals = [u64; 6];

/// What one client was sent last.
#[derive(Debug, Default)]
pub struct Client {
    /// The `rid` of the last answer.
    pub rid: u64,
    /// When it last asked.
    pub last_used: Option<Instant>,
    /// Per shard, the stats version to ask from.
    pub versions: Vec<u64>,
    /// A hash of what every view depends on beside the torrent (root
    /// folders, global share limits, queue ranks): when it moves, every
    /// torrent is looked at again.
    pub context: u64,
    /// Unix seconds of the last answer.
    pub now: u64,
    torrents: HashMap<InfoHash, Seen, QuickBuild>,
    /// Sums over every torrent.
    pub totals: Totals,
    trackers: HashMap<String, HashSet<InfoHash>>,
    /// The categories sent.
    pub categories: Map<String, Value>,
    /// The tags sent.
    pub tags: HashSet<String>,
    /// The server state sent.
    pub server: Map<String, Value>,
}

fn field_hash(f: &Field<'_>) -> u64 {
    let mut h = QuickHasher::default();
    f.hash_into(&mut h);
    h.finish()
}

/// What a walk over changed torrents gathers for the answer's end.
#[derive(Debug, Default)]
pub struct Walk {
    /// A torrent's member was written: the next follows a comma.
    wrote: bool,
    /// Trackers whose lists of torrents changed.
    touched: HashSet<String>,
}

/// Which torrents are gone, for [`Client::end`].
pub enum Gone<'a> {
    /// Every torrent not among these (the walk met every torrent there is).
    NotIn(&'a HashSet<InfoHash, QuickBuild>),
    /// These (as the cores listed them).
    These(&'a [InfoHash]),
}

fn sums(s: &TorrentStats) -> [u64; 6] {
    [
        s.downloaded,
        s.uploaded,
        s.download_rate,
        s.upload_rate,
        s.peers as u64,
        s.wasted,
    ]
}

/// Appends `"hex":{` (a comma first if a member was written before).
fn open_torrent(out: &mut Vec<u8>, ih: InfoHash, walk: &mut Walk) {
    if std::mem::replace(&mut walk.wrote, true) {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(crate::types::Hex::of(&ih.0).as_str().as_bytes());
    out.extend_from_slice(b"\":{");
}

fn put_field(out: &mut Vec<u8>, first: bool, name: &str, value: &Field<'_>) {
    if !first {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    value.write_json(out);
}

/// What changed for the client since its last answer.
#[derive(Debug, Default)]
pub struct Delta {
    /// The torrents' members (`"hex":{...},...`), changed fields only.
    pub torrents: Vec<u8>,
    /// Torrents gone.
    pub removed: Vec<String>,
    /// Trackers whose torrent lists changed, with their lists.
    pub trackers: Map<String, Value>,
    /// Trackers no torrent is listed under any more.
    pub trackers_removed: Vec<String>,
}

impl Client {
    /// Takes in the engine's answer, at `cx.now`.
    pub fn update(&mut self, cs: &ChangedStats, cx: &Context) -> Delta {
        let mut walk = Walk::default();
        let mut torrents = Vec::new();
        self.take_in(&cs.changed, cx, &mut walk, &mut torrents);
        let present: HashSet<InfoHash, QuickBuild>;
        let gone = match &cs.all {
            Some(all) => {
                present = all.iter().copied().collect();
                Gone::NotIn(&present)
            }
            None => Gone::These(&cs.removed),
        };
        Delta {
            torrents,
            ..self.end(gone, walk, cx)
        }
    }

    /// Takes in the stats of some changed torrents (a piece of a walk),
    /// and appends to `out` a member `"hex":{...}` for each with a field
    /// changed, those fields only.
    pub fn take_in(
        &mut self,
        changed: &[TorrentStats],
        cx: &Context,
        walk: &mut Walk,
        out: &mut Vec<u8>,
    ) {
        for s in changed {
            let view = QbTorrent::new(s, cx);
            let fields = view.fields();
            let hashes: Box<[u64]> = fields.iter().map(|(_, f)| field_hash(f)).collect();
            let old = self.torrents.remove(&s.info_hash);
            let before = old
                .as_ref()
                .map(|o| &o.hashes)
                .filter(|b| b.len() == hashes.len());
            let mut first = true;
            for (i, (name, value)) in fields.iter().enumerate() {
                if *name == "hash" || before.is_some_and(|b| b[i] == hashes[i]) {
                    continue;
                }
                if first {
                    open_torrent(out, s.info_hash, walk);
                }
                put_field(out, first, name, value);
                first = false;
            }
            if !first {
                out.push(b'}');
            }
            let new_sums = sums(s);
            let old_sums = old.as_ref().map_or([0; 6], |o| o.sums);
            for (t, (n, o)) in self.totals.iter_mut().zip(new_sums.iter().zip(old_sums)) {
                *t = t.wrapping_add(*n).wrapping_sub(o);
            }
            let tracker = s.tracker_url.clone();
            let old_tracker = old.and_then(|o| o.tracker);
            if old_tracker != tracker {
                if let Some(u) = &old_tracker
                    && let Some(set) = self.trackers.get_mut(u)
                {
                    set.remove(&s.info_hash);
                    walk.touched.insert(u.clone());
                }
                if let Some(u) = &tracker {
                    self.trackers
                        .entry(u.clone())
                        .or_default()
                        .insert(s.info_hash);
                    walk.touched.insert(u.clone());
                }
            }
            self.torrents.insert(
                s.info_hash,
                Seen {
                    hashes,
                    sums: new_sums,
                    tracker,
                },
            );
        }
    }

    /// Ends a walk at `cx.now`: the torrents gone are forgotten, and the
    /// delta's end (all but its torrents' members) is made.
    pub fn end(&mut self, gone: Gone<'_>, walk: Walk, cx: &Context) -> Delta {
        let mut d = Delta::default();
        let mut touched_trackers = walk.touched;
        let gone: Vec<InfoHash> = match gone {
            Gone::NotIn(present) => self
                .torrents
                .keys()
                .filter(|ih| !present.contains(*ih))
                .copied()
                .collect(),
            Gone::These(removed) => removed
                .iter()
                .filter(|ih| self.torrents.contains_key(*ih))
                .copied()
                .collect(),
        };
        for ih in gone {
            if let Some(seen) = self.torrents.remove(&ih) {
                for (t, o) in self.totals.iter_mut().zip(seen.sums) {
                    *t = t.wrapping_sub(o);
                }
                if let Some(u) = seen.tracker
                    && let Some(set) = self.trackers.get_mut(&u)
                {
                    set.remove(&ih);
                    touched_trackers.insert(u);
                }
            }
            d.removed.push(ih.to_hex());
        }
        for u in touched_trackers {
            match self.trackers.get(&u) {
                Some(set) if !set.is_empty() => {
                    let list = set.iter().map(|ih| Value::from(ih.to_hex())).collect();
                    d.trackers.insert(u, Value::Array(list));
                }
                _ => {
                    self.trackers.remove(&u);
                    d.trackers_removed.push(u);
                }
            }
        }
        self.now = cx.now;
        d
    }

    /// Every tracker with its torrents (a full update's `trackers`).
    pub fn all_trackers(&self) -> Map<String, Value> {
        self.trackers
            .iter()
            .map(|(u, set)| {
                let list = set.iter().map(|ih| Value::from(ih.to_hex())).collect();
                (u.clone(), Value::Array(list))
            })
            .collect()
    }
}
