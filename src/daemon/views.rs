//! What the API sends: JSON views of the engine's numbers. Kept apart from the
//! engine's types so the wire format changes only on purpose.

use serde::Serialize;

use crate::core::share::USE_GLOBAL;
use crate::core::{PeerStats, ShareAction, ShareLimits, TorrentState, TorrentStats};
use crate::engine::RootStatus;
use crate::metainfo::Info;

/// A torrent in lists and on its own.
#[derive(Debug, Serialize)]
pub struct TorrentView {
    /// Hex info-hash: the torrent's id in every route (a v2-only torrent's is
    /// the first 20 bytes of its v2 hash).
    pub id: String,
    /// The v2 info-hash (64 hex digits) of a hybrid or v2-only torrent whose
    /// metadata is known; left out otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info_hash_v2: Option<String>,
    /// Name.
    pub name: std::sync::Arc<str>,
    /// "fetching_metadata", "checking", "downloading", "seeding", "paused",
    /// "queued", "moving" or "error".
    pub state: &'static str,
    /// Why, when `state` is "error".
    pub error: Option<String>,
    /// Wanted bytes had, 0 to 1.
    pub progress: f64,
    /// Bytes had.
    pub have_bytes: u64,
    /// Bytes in all (0 until a magnet's metadata is known).
    pub size: u64,
    /// Pieces had, and in all.
    pub have_pieces: u32,
    /// Pieces in all.
    pub pieces: u32,
    /// Bytes per second.
    pub download_rate: u64,
    /// Bytes per second.
    pub upload_rate: u64,
    /// Payload bytes since added.
    pub downloaded: u64,
    /// Payload bytes since added.
    pub uploaded: u64,
    /// Uploaded over downloaded-or-size.
    pub ratio: f64,
    /// Connected peers.
    pub peers: usize,
    /// Of those, seeds.
    pub seeds: usize,
    /// Seconds to completion at the current rate.
    pub eta_secs: Option<u64>,
    /// Storage root token.
    pub root: std::sync::Arc<str>,
    /// The root its files move to when it finishes, while it downloads in
    /// the incomplete folder (`root`); `null`: none.
    pub finish_root: Option<String>,
    /// The root its files are moving to, until the move ends; `null`:
    /// none.
    pub moving_to: Option<String>,
    /// When it last sent or received payload, unix seconds (kept across
    /// restarts); `null`: never.
    pub active_at: Option<u64>,
    /// Unix seconds.
    pub added_at: u64,
    /// Unix seconds.
    pub completed_at: Option<u64>,
    /// Seconds it has seeded (complete and running), kept across restarts.
    pub seeding_secs: u64,
    /// Seconds it has run (not paused, queued or failed), kept across
    /// restarts.
    pub running_secs: u64,
    /// When a whole copy was last seen, ours or a connected peer's, unix
    /// seconds (to a minute); `null`: never.
    pub seen_complete: Option<u64>,
    /// Bytes thrown away.
    pub wasted: u64,
    /// Payload bytes from its web seeds (BEP 19).
    pub web_seed_bytes: u64,
    /// Pieces that failed their hash.
    pub hash_failures: u64,
    /// Peer addresses known, by source (left out when none is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_peers: Option<KnownPeersView>,
    /// The tracker announced to last, its last error and warning, and the
    /// swarm as it counts it.
    pub tracker: TrackerView,
    /// Copies of the torrent among its connected peers (the fewest any piece
    /// has, plus the share of pieces more have); null once nothing is missing.
    pub availability: Option<f64>,
    /// Pieces in order.
    pub sequential: bool,
    /// Download cap, bytes/s (0: none).
    pub download_limit: u64,
    /// Upload cap, bytes/s (0: none).
    pub upload_limit: u64,
    /// The user's labels, sorted.
    pub labels: Vec<String>,
    /// Its category (empty: none).
    pub category: String,
    /// Its files follow its category's save path (false: placed by hand;
    /// see `engine::placement`).
    pub follows_category: bool,
    /// Super-seeding: peers that connect while it is whole are shown a
    /// piece at a time (BEP 16).
    pub super_seeding: bool,
    /// Its own share limits and action; left out while it follows the
    /// global ones in all four.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_limits: Option<ShareView>,
    /// The last notice worth showing.
    pub note: Option<String>,
}

/// A torrent's own share limits, and what reaching one does: `null` for each
/// that follows the global one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ShareView {
    /// Uploaded over downloaded (or size); -1: none.
    pub ratio_limit: Option<f64>,
    /// Minutes of seeding; -1: none.
    pub seeding_time_limit_mins: Option<i64>,
    /// Minutes of seeding without uploading; -1: none.
    pub inactive_seeding_time_limit_mins: Option<i64>,
    /// "pause", "remove", "remove_with_files" or "super_seed".
    pub share_limit_action: Option<ShareAction>,
}

impl ShareView {
    /// The view of a torrent's own limits and action (`None`: all global).
    pub fn of(l: ShareLimits, action: Option<ShareAction>) -> Option<ShareView> {
        let own = |v: i64| (v != USE_GLOBAL).then_some(v);
        let v = ShareView {
            ratio_limit: own(l.ratio_milli).map(super::settings::ratio_of_milli),
            seeding_time_limit_mins: own(l.seeding_mins),
            inactive_seeding_time_limit_mins: own(l.inactive_mins),
            share_limit_action: action,
        };
        (l != ShareLimits::default() || action.is_some()).then_some(v)
    }
}

/// A torrent's known peer addresses by where they were learned (one learned from
/// two sources counts in both).
#[derive(Debug, Serialize)]
pub struct KnownPeersView {
    /// From trackers.
    pub tracker: u32,
    /// From peer exchange.
    pub pex: u32,
    /// From the DHT.
    pub dht: u32,
    /// From local service discovery.
    pub lsd: u32,
    /// Added by hand or in the magnet link.
    pub manual: u32,
    /// From the resume record (peers that answered before a restart).
    pub resume: u32,
}

impl KnownPeersView {
    fn of(s: crate::core::PeerSources) -> Option<KnownPeersView> {
        (s != crate::core::PeerSources::default()).then_some(KnownPeersView {
            tracker: s.tracker,
            pex: s.pex,
            dht: s.dht,
            lsd: s.lsd,
            manual: s.manual,
            resume: s.resume,
        })
    }
}

/// A torrent's tracker as last heard.
#[derive(Debug, Serialize)]
pub struct TrackerView {
    /// Announce URL.
    pub url: Option<String>,
    /// The last error, if the last announce failed.
    pub error: Option<String>,
    /// The tracker's last warning.
    pub warning: Option<String>,
    /// Peers with every piece, as its last answer counted them (null: not
    /// told, or the announce failed).
    pub seeders: Option<u32>,
    /// Peers still downloading, as counted there.
    pub leechers: Option<u32>,
    /// Downloads completed, where the tracker says.
    pub downloaded: Option<u32>,
}

/// The state's name in the API.
pub fn state_name(s: &TorrentState) -> &'static str {
    match s {
        TorrentState::FetchingMetadata => "fetching_metadata",
        TorrentState::Checking => "checking",
        TorrentState::Downloading => "downloading",
        TorrentState::Seeding => "seeding",
        TorrentState::Paused => "paused",
        TorrentState::Queued => "queued",
        TorrentState::Moving => "moving",
        TorrentState::Error(_) => "error",
    }
}

impl From<TorrentStats> for TorrentView {
    fn from(mut s: TorrentStats) -> Self {
        let name = if s.settings.display_name.is_empty() {
            s.name.clone()
        } else {
            std::mem::take(&mut s.settings.display_name).into()
        };
        let base = s.downloaded.max(s.total_bytes).max(1);
        TorrentView {
            id: s.info_hash.to_hex(),
            info_hash_v2: s.v2_hex(),
            state: state_name(&s.state),
            error: match &s.state {
                TorrentState::Error(e) => Some(e.clone()),
                _ => None,
            },
            name,
            progress: s.progress,
            have_bytes: s.have_bytes,
            size: s.total_bytes,
            have_pieces: s.have_pieces,
            pieces: s.total_pieces,
            download_rate: s.download_rate,
            upload_rate: s.upload_rate,
            downloaded: s.downloaded,
            uploaded: s.uploaded,
            ratio: s.uploaded as f64 / base as f64,
            peers: s.peers,
            seeds: s.seeds,
            eta_secs: s.eta_secs,
            root: s.root,
            finish_root: s.settings.finish_in.map(|f| f.token.clone()),
            moving_to: s.moving_to,
            active_at: s.active_at,
            added_at: s.added_at,
            completed_at: s.completed_at,
            seeding_secs: s.seeding_secs,
            running_secs: s.running_secs,
            seen_complete: s.seen_complete,
            wasted: s.wasted,
            web_seed_bytes: s.web_seed_bytes,
            hash_failures: s.hash_failures,
            known_peers: KnownPeersView::of(s.known_peers),
            tracker: TrackerView {
                url: s.tracker_url,
                error: s.tracker_error,
                warning: s.tracker_warning,
                seeders: s.swarm.seeders,
                leechers: s.swarm.leechers,
                downloaded: s.swarm.downloaded,
            },
            availability: s.availability,
            sequential: s.settings.sequential,
            download_limit: s.settings.download_limit,
            upload_limit: s.settings.upload_limit,
            labels: s.settings.labels,
            category: s.settings.category,
            follows_category: !s.settings.manual,
            super_seeding: s.settings.super_seeding,
            share_limits: ShareView::of(s.settings.share, s.settings.share_action),
            note: s.note,
        }
    }
}

impl TorrentView {
    /// Appends the view as JSON, as its derived `Serialize` writes it (the
    /// list's way: see `daemon::json_text`).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        use super::json_text::{write_f64, write_int, write_key, write_opt, write_str};
        let str_field = |out: &mut Vec<u8>, name: &str, v: &str| {
            write_key(out, name);
            write_str(out, v);
            out.push(b',');
        };
        let int_field = |out: &mut Vec<u8>, name: &str, v: u64| {
            write_key(out, name);
            write_int(out, v);
            out.push(b',');
        };
        let opt_str = |out: &mut Vec<u8>, name: &str, v: Option<&str>| {
            write_key(out, name);
            write_opt(out, v, write_str);
            out.push(b',');
        };
        out.push(b'{');
        str_field(out, "id", &self.id);
        if let Some(v2) = &self.info_hash_v2 {
            str_field(out, "info_hash_v2", v2);
        }
        str_field(out, "name", &self.name);
        str_field(out, "state", self.state);
        opt_str(out, "error", self.error.as_deref());
        write_key(out, "progress");
        write_f64(out, self.progress);
        out.push(b',');
        int_field(out, "have_bytes", self.have_bytes);
        int_field(out, "size", self.size);
        int_field(out, "have_pieces", u64::from(self.have_pieces));
        int_field(out, "pieces", u64::from(self.pieces));
        int_field(out, "download_rate", self.download_rate);
        int_field(out, "upload_rate", self.upload_rate);
        int_field(out, "downloaded", self.downloaded);
        int_field(out, "uploaded", self.uploaded);
        write_key(out, "ratio");
        write_f64(out, self.ratio);
        out.push(b',');
        int_field(out, "peers", self.peers as u64);
        int_field(out, "seeds", self.seeds as u64);
        write_key(out, "eta_secs");
        write_opt(out, self.eta_secs, write_int);
        out.push(b',');
        str_field(out, "root", &self.root);
        write_key(out, "finish_root");
        write_opt(out, self.finish_root.as_deref(), write_str);
        out.push(b',');
        write_key(out, "moving_to");
        write_opt(out, self.moving_to.as_deref(), write_str);
        out.push(b',');
        write_key(out, "active_at");
        write_opt(out, self.active_at, write_int);
        out.push(b',');
        int_field(out, "added_at", self.added_at);
        write_key(out, "completed_at");
        write_opt(out, self.completed_at, write_int);
        out.push(b',');
        int_field(out, "seeding_secs", self.seeding_secs);
        int_field(out, "running_secs", self.running_secs);
        write_key(out, "seen_complete");
        write_opt(out, self.seen_complete, write_int);
        out.push(b',');
        int_field(out, "wasted", self.wasted);
        int_field(out, "web_seed_bytes", self.web_seed_bytes);
        int_field(out, "hash_failures", self.hash_failures);
        if let Some(k) = &self.known_peers {
            write_key(out, "known_peers");
            out.push(b'{');
            for (name, n) in [
                ("tracker", k.tracker),
                ("pex", k.pex),
                ("dht", k.dht),
                ("lsd", k.lsd),
                ("manual", k.manual),
            ] {
                int_field(out, name, u64::from(n));
            }
            write_key(out, "resume");
            write_int(out, k.resume);
            out.extend_from_slice(b"},");
        }
        write_key(out, "tracker");
        out.push(b'{');
        opt_str(out, "url", self.tracker.url.as_deref());
        opt_str(out, "error", self.tracker.error.as_deref());
        opt_str(out, "warning", self.tracker.warning.as_deref());
        for (name, n) in [
            ("seeders", self.tracker.seeders),
            ("leechers", self.tracker.leechers),
        ] {
            write_key(out, name);
            write_opt(out, n, write_int);
            out.push(b',');
        }
        write_key(out, "downloaded");
        write_opt(out, self.tracker.downloaded, write_int);
        out.extend_from_slice(b"},");
        write_key(out, "availability");
        write_opt(out, self.availability, write_f64);
        out.push(b',');
        write_key(out, "sequential");
        out.extend_from_slice(if self.sequential { b"true," } else { b"false," });
        int_field(out, "download_limit", self.download_limit);
        int_field(out, "upload_limit", self.upload_limit);
        write_key(out, "labels");
        out.push(b'[');
        for (i, l) in self.labels.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, l);
        }
        out.extend_from_slice(b"],");
        str_field(out, "category", &self.category);
        write_key(out, "follows_category");
        out.extend_from_slice(if self.follows_category {
            b"true,"
        } else {
            b"false,"
        });
        write_key(out, "super_seeding");
        out.extend_from_slice(if self.super_seeding {
            b"true,"
        } else {
            b"false,"
        });
        if let Some(v) = &self.share_limits {
            write_key(out, "share_limits");
            out.push(b'{');
            write_key(out, "ratio_limit");
            write_opt(out, v.ratio_limit, write_f64);
            out.push(b',');
            for (name, n) in [
                ("seeding_time_limit_mins", v.seeding_time_limit_mins),
                (
                    "inactive_seeding_time_limit_mins",
                    v.inactive_seeding_time_limit_mins,
                ),
            ] {
                write_key(out, name);
                write_opt(out, n, write_int);
                out.push(b',');
            }
            write_key(out, "share_limit_action");
            write_opt(out, v.share_limit_action.map(ShareAction::name), write_str);
            out.extend_from_slice(b"},");
        }
        write_key(out, "note");
        write_opt(out, self.note.as_deref(), write_str);
        out.push(b'}');
    }
}

/// A peer.
#[derive(Debug, Serialize)]
pub struct PeerView {
    /// ip:port.
    pub addr: String,
    /// Its client, from its extension handshake.
    pub client: String,
    /// State flags (choke and interest both ways, snubbed...).
    pub flags: String,
    /// Bytes per second from it.
    pub download_rate: u64,
    /// Bytes per second to it.
    pub upload_rate: u64,
    /// Pieces it has.
    pub pieces: u32,
    /// Where we learned its address (`tracker`, `pex`, `dht`, `lsd`, `manual`,
    /// `resume`); empty for a peer that connected to us.
    pub sources: Vec<&'static str>,
    /// `none`, `mse` (plaintext after an encrypted handshake) or `rc4`.
    pub encryption: &'static str,
    /// `tcp` or `utp`.
    pub transport: &'static str,
}

impl From<PeerStats> for PeerView {
    fn from(p: PeerStats) -> Self {
        PeerView {
            addr: p.addr.to_string(),
            client: p.client,
            flags: p.flags,
            download_rate: p.download_rate,
            upload_rate: p.upload_rate,
            pieces: p.pieces,
            sources: p.sources.into_iter().map(|s| s.name()).collect(),
            encryption: p.encryption,
            transport: p.transport.as_str(),
        }
    }
}

/// A file of a torrent.
#[derive(Debug, Serialize)]
pub struct FileView {
    /// Its index (the route's `{index}`).
    pub index: usize,
    /// Its path inside the torrent, `/`-separated.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Bytes of it in pieces had.
    pub have_bytes: u64,
    /// 0 to 1.
    pub progress: f64,
    /// 0: skipped; 1 (normal) to 7 (highest).
    pub priority: u8,
}

/// Every stored file of `info` with how much of it is had and its priority
/// (`priorities`: one per file of `info`, as the engine keeps them).
pub fn files(info: &Info, have: &crate::core::Bitfield, priorities: &[u8]) -> Vec<FileView> {
    let g = &info.geometry;
    let mut had = vec![0u64; info.files.len()];
    for piece in have.ones() {
        for span in g.piece_spans(piece) {
            had[span.file] += u64::from(span.len);
        }
    }
    info.files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.is_stored())
        .map(|(i, f)| FileView {
            index: i,
            path: f.path.as_str().to_owned(),
            size: f.length,
            have_bytes: had[i],
            progress: if f.length == 0 {
                1.0
            } else {
                had[i] as f64 / f.length as f64
            },
            priority: priorities.get(i).copied().unwrap_or(1),
        })
        .collect()
}

/// A storage root.
#[derive(Debug, Serialize)]
pub struct RootView {
    /// Its name in the API.
    pub token: String,
    /// What people see.
    pub label: String,
    /// The folder.
    pub path: String,
    /// A configured root with a marker file (false: a plain folder).
    pub marked: bool,
    /// Torrents added without a root go here.
    pub default: bool,
    /// Its disk is there (marker present).
    pub available: bool,
    /// A file can be made in it.
    pub writable: bool,
    /// Bytes free.
    pub free_bytes: u64,
    /// Bytes in all.
    pub total_bytes: u64,
    /// Torrents in it.
    pub torrents: usize,
}

impl From<RootStatus> for RootView {
    fn from(r: RootStatus) -> Self {
        RootView {
            token: r.root.token,
            label: r.root.label,
            path: r.root.path.display().to_string(),
            marked: r.root.marked,
            default: r.is_default,
            available: r.health.exists,
            writable: r.health.writable,
            free_bytes: r.health.free_bytes,
            total_bytes: r.health.total_bytes,
            torrents: r.torrents,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(full: bool) -> TorrentView {
        let text = |s: &str| full.then(|| s.to_owned());
        TorrentView {
            id: "ab".repeat(20),
            info_hash_v2: text(&"cd".repeat(32)),
            name: if full {
                "a \"quoted\"\tname\u{1}".into()
            } else {
                "plain".into()
            },
            state: "seeding",
            error: text("disk\\gone"),
            progress: if full { 1.0 / 3.0 } else { 1.0 },
            have_bytes: 7,
            size: u64::MAX,
            have_pieces: 3,
            pieces: 9,
            download_rate: 1,
            upload_rate: 2,
            downloaded: 3,
            uploaded: 4,
            ratio: 0.25,
            peers: 5,
            seeds: 6,
            eta_secs: full.then_some(60),
            root: "default".into(),
            finish_root: full.then(|| "disk2".into()),
            moving_to: full.then(|| "disk3".into()),
            active_at: full.then_some(1_700_000_200),
            added_at: 1_700_000_000,
            completed_at: full.then_some(1_700_000_100),
            seeding_secs: 11,
            running_secs: 12,
            seen_complete: full.then_some(1_700_000_300),
            wasted: 8,
            web_seed_bytes: 9,
            hash_failures: 10,
            known_peers: full.then_some(KnownPeersView {
                tracker: 1,
                pex: 2,
                dht: 3,
                lsd: 4,
                manual: 5,
                resume: 6,
            }),
            tracker: TrackerView {
                url: text("http://t/announce"),
                error: text("refused"),
                warning: text("slow \"down\""),
                seeders: full.then_some(3),
                leechers: Some(0),
                downloaded: full.then_some(u32::MAX),
            },
            availability: full.then_some(2.375),
            sequential: full,
            download_limit: 11,
            upload_limit: 12,
            labels: if full {
                vec!["a".into(), "b\"".into()]
            } else {
                Vec::new()
            },
            category: "tv/hd".into(),
            follows_category: full,
            super_seeding: !full,
            share_limits: full.then_some(ShareView {
                ratio_limit: Some(1.5),
                seeding_time_limit_mins: Some(-1),
                inactive_seeding_time_limit_mins: None,
                share_limit_action: Some(ShareAction::RemoveWithFiles),
            }),
            note: text("a note"),
        }
    }

    #[test]
    fn own_share_limits_are_shown_and_global_ones_left_out() {
        let global = ShareLimits::default();
        assert_eq!(ShareView::of(global, None), None);
        let own = ShareLimits {
            ratio_milli: -1,
            ..global
        };
        let v = ShareView::of(own, None).unwrap();
        assert_eq!(
            (v.ratio_limit, v.seeding_time_limit_mins),
            (Some(-1.0), None)
        );
        let v = ShareView::of(global, Some(ShareAction::SuperSeed)).unwrap();
        assert_eq!(v.share_limit_action, Some(ShareAction::SuperSeed));
        assert_eq!(v.ratio_limit, None);
    }

    #[test]
    fn the_hand_written_json_is_the_derived_one() {
        for full in [false, true] {
            let v = view(full);
            let mut out = Vec::new();
            v.write_json(&mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&v).unwrap(),
                "full: {full}"
            );
        }
    }
}
