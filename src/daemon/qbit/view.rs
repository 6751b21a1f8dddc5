//! qBittorrent's JSON shapes, made from the engine's numbers: a torrent as
//! `torrents/info` and `sync/maindata` show it, and the state strings.
//!
//! Fields seedring does not track are given the value qBittorrent gives when it
//! does not know either (`-1`, `""`, `0`); `docs/qbittorrent-api.md` lists them.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::core::{ShareLimits, TorrentState, TorrentStats};
use crate::daemon::json_text::{write_f64, write_int, write_str};
use crate::daemon::settings::ratio_of_milli;
use crate::types::Hex;

/// qBittorrent's "infinite" ETA (100 days, in seconds).
pub const ETA_INFINITE: u64 = 8_640_000;

/// A torrent in `torrents/info` and `sync/maindata`. Field order is
/// qBittorrent's (alphabetical), so answers diff cleanly against it. Its text
/// is borrowed from the torrent's stats and the [`Context`] where it can be:
/// a view costs at most its magnet and its content path in allocations (a
/// list of 100,000 views is made on the shards, and every allocation there is
/// one more lock taken in the C allocator).
#[derive(Debug, Clone, PartialEq)]
pub struct QbTorrent<'a> {
    pub added_on: u64,
    pub amount_left: u64,
    pub auto_tmm: bool,
    pub availability: f64,
    pub category: &'a str,
    pub completed: u64,
    pub completion_on: u64,
    pub content_path: Cow<'a, str>,
    pub dl_limit: u64,
    pub dlspeed: u64,
    pub download_path: &'a str,
    pub downloaded: u64,
    pub downloaded_session: u64,
    pub eta: u64,
    pub f_l_piece_prio: bool,
    pub force_start: bool,
    pub hash: Hex,
    pub infohash_v1: Hex,
    pub infohash_v2: Hex,
    pub last_activity: u64,
    /// Its trackers and web seeds as its magnet link ends (already
    /// encoded): the link is written from its parts ([`QbTorrent::magnet_uri`]).
    pub magnet_tail: &'a str,
    pub max_ratio: f64,
    pub max_seeding_time: i64,
    pub name: &'a str,
    pub num_complete: i64,
    pub num_incomplete: i64,
    pub num_leechs: u64,
    pub num_seeds: u64,
    pub priority: i64,
    pub progress: f64,
    pub ratio: f64,
    pub ratio_limit: f64,
    pub save_path: &'a str,
    pub seeding_time: u64,
    pub seeding_time_limit: i64,
    pub seen_complete: u64,
    pub seq_dl: bool,
    pub size: u64,
    pub state: &'static str,
    pub super_seeding: bool,
    pub tags: Cow<'a, str>,
    pub time_active: u64,
    /// -1 until the metadata is known (as qBittorrent).
    pub total_size: i64,
    pub tracker: &'a str,
    pub trackers_count: u64,
    pub up_limit: u64,
    pub uploaded: u64,
    pub uploaded_session: u64,
    pub upspeed: u64,
}

/// A number as Qt's JSON writes it: a whole value without a fraction (`1`,
/// not `1.0`), so clients see the same JSON as from qBittorrent.
pub fn qt_value(v: f64) -> serde_json::Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        #[allow(clippy::cast_possible_truncation)] // whole and within i64 range
        serde_json::Value::from(v as i64)
    } else {
        serde_json::Value::from(v)
    }
}

/// What a magnet's `dn` leaves as it is: letters, digits and `-._~`.
const DN_KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How many fields a torrent has in qBittorrent's JSON.
pub const FIELDS: usize = 49;

/// One field's value, as qBittorrent's JSON writes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    /// A count.
    U(u64),
    /// A count that may be -1 or -2.
    I(i64),
    /// A number written as Qt writes doubles (see [`qt_value`]).
    N(f64),
    /// A flag.
    B(bool),
    /// Text.
    S(&'a str),
    /// A torrent's magnet link, written from its parts.
    M(&'a QbTorrent<'a>),
}

impl Field<'_> {
    /// Feeds the value to a hasher (for `sync/maindata`'s change detection).
    pub fn hash_into(&self, h: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        match self {
            Field::U(v) => (0u8, v).hash(h),
            Field::I(v) => (1u8, v).hash(h),
            Field::N(v) => (2u8, v.to_bits()).hash(h),
            Field::B(v) => (3u8, v).hash(h),
            Field::S(v) => (4u8, v).hash(h),
            Field::M(t) => {
                let parts = [t.infohash_v1.as_str(), t.infohash_v2.as_str(), t.name];
                (5u8, parts, t.magnet_tail).hash(h);
            }
        }
    }

    /// Appends the value as JSON, as serde_json would write it (integers
    /// through the crate it uses; a float with no fraction as an integer, as
    /// [`qt_value`]).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Field::U(v) => write_int(out, *v),
            Field::I(v) => write_int(out, *v),
            Field::N(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => {
                #[allow(clippy::cast_possible_truncation)] // whole and within i64 range
                write_int(out, *v as i64);
            }
            Field::N(v) => write_f64(out, *v),
            Field::B(true) => out.extend_from_slice(b"true"),
            Field::B(false) => out.extend_from_slice(b"false"),
            Field::S(v) => write_str(out, v),
            // Nothing in a magnet link needs a JSON escape: its name and tail
            // are percent-encoded.
            Field::M(t) => {
                out.push(b'"');
                t.write_magnet(out);
                out.push(b'"');
            }
        }
    }
}

/// The fields' names, in the order [`QbTorrent::fields`] gives them.
pub const NAMES: [&str; FIELDS] = [
    "added_on",
    "amount_left",
    "auto_tmm",
    "availability",
    "category",
    "completed",
    "completion_on",
    "content_path",
    "dl_limit",
    "dlspeed",
    "download_path",
    "downloaded",
    "downloaded_session",
    "eta",
    "f_l_piece_prio",
    "force_start",
    "hash",
    "infohash_v1",
    "infohash_v2",
    "last_activity",
    "magnet_uri",
    "max_ratio",
    "max_seeding_time",
    "name",
    "num_complete",
    "num_incomplete",
    "num_leechs",
    "num_seeds",
    "priority",
    "progress",
    "ratio",
    "ratio_limit",
    "save_path",
    "seeding_time",
    "seeding_time_limit",
    "seen_complete",
    "seq_dl",
    "size",
    "state",
    "super_seeding",
    "tags",
    "time_active",
    "total_size",
    "tracker",
    "trackers_count",
    "up_limit",
    "uploaded",
    "uploaded_session",
    "upspeed",
];

impl QbTorrent<'_> {
    /// Every field with its name, in qBittorrent's (alphabetical) order.
    pub fn fields(&self) -> [(&'static str, Field<'_>); FIELDS] {
        let mut all = [("", Field::U(0)); FIELDS];
        let mut n = 0;
        self.each_field(|name, value| {
            all[n] = (name, value);
            n += 1;
        });
        all
    }

    /// Gives `f` every field with its name, in qBittorrent's (alphabetical)
    /// order: a row is written from them with no list of them made.
    pub fn each_field<'s>(&'s self, mut f: impl FnMut(&'static str, Field<'s>)) {
        f("added_on", Field::U(self.added_on));
        f("amount_left", Field::U(self.amount_left));
        f("auto_tmm", Field::B(self.auto_tmm));
        f("availability", Field::N(self.availability));
        f("category", Field::S(self.category));
        f("completed", Field::U(self.completed));
        f("completion_on", Field::U(self.completion_on));
        f("content_path", Field::S(&self.content_path));
        f("dl_limit", Field::U(self.dl_limit));
        f("dlspeed", Field::U(self.dlspeed));
        f("download_path", Field::S(self.download_path));
        f("downloaded", Field::U(self.downloaded));
        f("downloaded_session", Field::U(self.downloaded_session));
        f("eta", Field::U(self.eta));
        f("f_l_piece_prio", Field::B(self.f_l_piece_prio));
        f("force_start", Field::B(self.force_start));
        f("hash", Field::S(self.hash.as_str()));
        f("infohash_v1", Field::S(self.infohash_v1.as_str()));
        f("infohash_v2", Field::S(self.infohash_v2.as_str()));
        f("last_activity", Field::U(self.last_activity));
        f("magnet_uri", Field::M(self));
        f("max_ratio", Field::N(self.max_ratio));
        f("max_seeding_time", Field::I(self.max_seeding_time));
        f("name", Field::S(self.name));
        f("num_complete", Field::I(self.num_complete));
        f("num_incomplete", Field::I(self.num_incomplete));
        f("num_leechs", Field::U(self.num_leechs));
        f("num_seeds", Field::U(self.num_seeds));
        f("priority", Field::I(self.priority));
        f("progress", Field::N(self.progress));
        f("ratio", Field::N(self.ratio));
        f("ratio_limit", Field::N(self.ratio_limit));
        f("save_path", Field::S(self.save_path));
        f("seeding_time", Field::U(self.seeding_time));
        f("seeding_time_limit", Field::I(self.seeding_time_limit));
        f("seen_complete", Field::U(self.seen_complete));
        f("seq_dl", Field::B(self.seq_dl));
        f("size", Field::U(self.size));
        f("state", Field::S(self.state));
        f("super_seeding", Field::B(self.super_seeding));
        f("tags", Field::S(&self.tags));
        f("time_active", Field::U(self.time_active));
        f("total_size", Field::I(self.total_size));
        f("tracker", Field::S(self.tracker));
        f("trackers_count", Field::U(self.trackers_count));
        f("up_limit", Field::U(self.up_limit));
        f("uploaded", Field::U(self.uploaded));
        f("uploaded_session", Field::U(self.uploaded_session));
        f("upspeed", Field::U(self.upspeed));
    }
}

impl QbTorrent<'_> {
    /// Appends the torrent as a JSON object.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut sep = b'{';
        self.each_field(|k, v| {
            out.push(sep);
            sep = b',';
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
            v.write_json(out);
        });
        out.push(b'}');
    }
}

/// Root tokens and their folders as shown, for `save_path` and
/// `content_path`: a few, looked up by a pass (no hashing per torrent).
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct RootPaths(Vec<(String, String)>);

impl RootPaths {
    /// The folder of the root with this token.
    pub fn get(&self, token: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, p)| p.as_str())
    }
}

impl FromIterator<(String, String)> for RootPaths {
    /// Ordered by token, so two lists of the same roots are equal.
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> RootPaths {
        let mut v: Vec<(String, String)> = iter.into_iter().collect();
        v.sort();
        RootPaths(v)
    }
}

/// What a torrent view needs besides the torrent: root folders, the global
/// share limits, the time.
#[derive(Debug)]
pub struct Context {
    /// Root tokens to folders.
    pub roots: RootPaths,
    /// The global share limits.
    pub share: ShareLimits,
    /// Unix seconds now.
    pub now: u64,
    /// With queueing on: each incomplete torrent's place among the incomplete
    /// ones, from 1 (qBittorrent's `priority`).
    pub ranks: HashMap<crate::types::InfoHash, u64>,
}

/// The state string qBittorrent 4.x shows (5.x says `stopped` where 4.x says
/// `paused`; the layer answers as 4.5).
pub fn state_string(s: &TorrentStats) -> &'static str {
    let complete = s.total_bytes > 0 && s.have_bytes >= s.total_bytes;
    match &s.state {
        TorrentState::Error(_) if s.root_missing || s.files_missing => "missingFiles",
        TorrentState::Error(_) => "error",
        TorrentState::Moving => "moving",
        TorrentState::Paused if complete => "pausedUP",
        TorrentState::Paused => "pausedDL",
        TorrentState::Queued if complete => "queuedUP",
        TorrentState::Queued => "queuedDL",
        TorrentState::FetchingMetadata if s.settings.forced => "forcedMetaDL",
        TorrentState::FetchingMetadata => "metaDL",
        // A complete torrent being rechecked has had its pieces cleared: what
        // it was before the check says which (qBittorrent's "seed status").
        TorrentState::Checking if s.completed_at.is_some() => "checkingUP",
        TorrentState::Checking => "checkingDL",
        TorrentState::Downloading if s.settings.forced => "forcedDL",
        TorrentState::Seeding if s.settings.forced => "forcedUP",
        TorrentState::Downloading if s.download_rate > 0 => "downloading",
        TorrentState::Downloading => "stalledDL",
        TorrentState::Seeding if s.upload_rate > 0 => "uploading",
        TorrentState::Seeding => "stalledUP",
    }
}

impl<'a> QbTorrent<'a> {
    /// The view of one torrent; `now` in Unix seconds.
    pub fn new(s: &'a TorrentStats, cx: &'a Context) -> QbTorrent<'a> {
        let now = cx.now;
        let own = s.settings.share;
        let eff = own.over(cx.share);
        // Where its files are now; while they download in the incomplete
        // folder, the save path is where they go when it finishes. A move
        // shows where it goes from its start, as qBittorrent does (the
        // content path says where the files are until it ends).
        let here = cx.roots.get(&s.root).unwrap_or(&s.root);
        let to = s.moving_to.as_deref().map(|t| cx.roots.get(t).unwrap_or(t));
        let (save_path, download_path) = match &s.settings.finish_in {
            Some(f) => (
                cx.roots.get(&f.token).unwrap_or(&f.path),
                to.unwrap_or(here),
            ),
            None => (to.unwrap_or(here), ""),
        };
        let content_path = if s.content.is_empty() {
            Cow::Borrowed(here)
        } else {
            let dir = here.trim_end_matches('/');
            let mut p = String::with_capacity(dir.len() + 1 + s.content.len());
            p.push_str(dir);
            p.push('/');
            p.push_str(&s.content);
            Cow::Owned(p)
        };
        let left = s.total_bytes.saturating_sub(s.have_bytes);
        let base = s.downloaded.max(s.total_bytes);
        let ratio = if base == 0 {
            0.0
        } else {
            s.uploaded as f64 / base as f64
        };
        let active = s.download_rate > 0 || s.upload_rate > 0;
        // Its last payload sent or received (kept across restarts); one
        // that never moved any shows when it completed or was added.
        let last_activity = if active {
            now
        } else {
            (s.active_at).unwrap_or_else(|| s.completed_at.unwrap_or(s.added_at))
        };
        let v1 = s.v1_hash.map_or(Hex::EMPTY, |h| Hex::of(&h.0));
        let v2 = s.v2_hash.map_or(Hex::EMPTY, |h| Hex::of(&h));
        let tags = match s.settings.labels.as_slice() {
            [] => Cow::Borrowed(""),
            [one] => Cow::Borrowed(one.as_str()),
            more => Cow::Owned(more.join(", ")),
        };
        QbTorrent {
            added_on: s.added_at,
            amount_left: left,
            auto_tmm: !s.settings.manual,
            availability: s.availability.unwrap_or(-1.0),
            category: &s.settings.category,
            completed: s.have_bytes,
            completion_on: s.completed_at.unwrap_or(0),
            content_path,
            dl_limit: s.settings.download_limit,
            dlspeed: s.download_rate,
            download_path,
            downloaded: s.downloaded,
            downloaded_session: s.downloaded_session,
            eta: s.eta_secs.unwrap_or(ETA_INFINITE).min(ETA_INFINITE),
            f_l_piece_prio: s.settings.first_last,
            force_start: s.settings.forced,
            hash: Hex::of(&s.info_hash.0),
            // qBittorrent: a v2-only torrent has no v1 hash, and its id is
            // its truncated v2 hash; a hybrid has both.
            infohash_v1: v1,
            infohash_v2: v2,
            last_activity,
            magnet_tail: &s.magnet_tail,
            max_ratio: if eff.ratio_milli < 0 {
                -1.0
            } else {
                ratio_of_milli(eff.ratio_milli)
            },
            max_seeding_time: eff.seeding_mins.max(-1),
            name: s.shown_name(),
            // The tracker's count, else the peers we see (as qBittorrent
            // falls back to its peer list).
            num_complete: s.swarm.seeders.map_or(s.seeds as i64, i64::from),
            num_incomplete: s
                .swarm
                .leechers
                .map_or((s.peers - s.seeds.min(s.peers)) as i64, i64::from),
            num_leechs: (s.peers - s.seeds.min(s.peers)) as u64,
            num_seeds: s.seeds as u64,
            priority: cx.ranks.get(&s.info_hash).map_or(0, |r| *r as i64),
            progress: s.progress,
            ratio,
            ratio_limit: ratio_of_milli(own.ratio_milli),
            save_path,
            seeding_time: by_minute(s.seeding_secs),
            seeding_time_limit: own.seeding_mins,
            seen_complete: s.seen_complete.unwrap_or(0),
            seq_dl: s.settings.sequential,
            size: s.total_bytes,
            state: state_string(s),
            super_seeding: s.settings.super_seeding,
            tags,
            time_active: by_minute(s.running_secs),
            total_size: total_size(s),
            tracker: match (&s.tracker_url, &s.tracker_error) {
                (Some(u), None) => u,
                _ => "",
            },
            trackers_count: s.trackers as u64,
            up_limit: s.settings.upload_limit,
            uploaded: s.uploaded,
            uploaded_session: s.uploaded_session,
            upspeed: s.upload_rate,
        }
    }
}

/// A clock that runs for every torrent, in whole minutes (as seconds): each
/// torrent's value moves once a minute, at its own moment, so a
/// `sync/maindata` delta of an idle seedbox carries about a sixtieth of its
/// torrents per second instead of all of them.
pub fn by_minute(secs: u64) -> u64 {
    secs - secs % 60
}

/// Its size in bytes, `-1` until its metadata is known (as qBittorrent).
pub fn total_size(s: &crate::core::TorrentStats) -> i64 {
    if s.total_pieces == 0 {
        -1
    } else {
        i64::try_from(s.total_bytes).unwrap_or(i64::MAX)
    }
}

impl QbTorrent<'_> {
    /// Appends its magnet link: `xt` by its v1 hash and its v2 hash,
    /// whichever it has, `dn` its name, then its trackers and web seeds.
    /// Written straight into the answer: a list of 100,000 torrents makes no
    /// string for each link.
    pub fn write_magnet(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"magnet:?");
        if !self.infohash_v1.as_str().is_empty() {
            out.extend_from_slice(b"xt=urn:btih:");
            out.extend_from_slice(self.infohash_v1.as_str().as_bytes());
            out.push(b'&');
        }
        if !self.infohash_v2.as_str().is_empty() {
            out.extend_from_slice(b"xt=urn:btmh:1220");
            out.extend_from_slice(self.infohash_v2.as_str().as_bytes());
            out.push(b'&');
        }
        out.extend_from_slice(b"dn=");
        for part in percent_encoding::utf8_percent_encode(self.name, DN_KEEP) {
            out.extend_from_slice(part.as_bytes());
        }
        out.extend_from_slice(self.magnet_tail.as_bytes());
    }

    /// Its magnet link.
    pub fn magnet_uri(&self) -> String {
        let mut out = Vec::with_capacity(64 + self.name.len() * 3 / 2 + self.magnet_tail.len());
        self.write_magnet(&mut out);
        // Only ASCII is written: hex digits, percent escapes, fixed text.
        String::from_utf8_lossy(&out).into_owned()
    }
}
