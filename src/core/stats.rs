//! A torrent's numbers as the engine hands them out ([`Core::stats`]), one
//! torrent's or a list's (a piece of a list at a time, its torrents' memory
//! asked for ahead of their reading).

use super::*;

/// A torrent's numbers, as of one moment.
#[derive(Debug, Clone)]
pub struct TorrentStats {
    /// Its info-hash.
    pub info_hash: InfoHash,
    /// Its v2 info-hash (a hybrid's or a v2-only torrent's, once its metadata
    /// is known). A v2-only torrent's `info_hash` is its first 20 bytes.
    pub v2_hash: Option<[u8; 32]>,
    /// Its v1 info-hash: `info_hash` but for a torrent known by its v2 name (a
    /// `btmh` magnet), where it is a hybrid's v1 hash or, v2-only, none.
    pub v1_hash: Option<InfoHash>,
    /// Its own name, which its files carry (or the magnet's display name, until
    /// the metadata arrives); see [`TorrentStats::shown_name`] for what to show.
    pub name: Arc<str>,
    /// What it is doing.
    pub state: TorrentState,
    /// Wanted bytes had, 0.0 to 1.0.
    pub progress: f64,
    /// Pieces had.
    pub have_pieces: u32,
    /// Pieces in all (0 until the metadata is known).
    pub total_pieces: u32,
    /// Bytes had.
    pub have_bytes: u64,
    /// Bytes in all (0 until the metadata is known).
    pub total_bytes: u64,
    /// Download rate, bytes per second.
    pub download_rate: u64,
    /// Upload rate, bytes per second.
    pub upload_rate: u64,
    /// Payload bytes downloaded since added.
    pub downloaded: u64,
    /// Payload bytes uploaded since added.
    pub uploaded: u64,
    /// Payload bytes downloaded in this run of the process.
    pub downloaded_session: u64,
    /// Payload bytes uploaded in this run of the process.
    pub uploaded_session: u64,
    /// Bytes received that were thrown away (hash failures, duplicates).
    pub wasted: u64,
    /// Payload bytes received from its web seeds (BEP 19).
    pub web_seed_bytes: u64,
    /// Pieces that failed their hash check.
    pub hash_failures: u64,
    /// Connected peers (handshake done).
    pub peers: usize,
    /// Of those, peers that have every piece.
    pub seeds: usize,
    /// Connections of this torrent, half-open ones included.
    pub connections: usize,
    /// Addresses banned for sending bad data.
    pub banned: usize,
    /// Peer addresses known, by where they were learned.
    pub known_peers: PeerSources,
    /// Seconds to completion at the current rate, if downloading.
    pub eta_secs: Option<u64>,
    /// The last tracker error (failure reason, timeout, bad reply), if the last
    /// announce failed.
    pub tracker_error: Option<String>,
    /// The tracker's last warning message.
    pub tracker_warning: Option<String>,
    /// The tracker announced to last.
    pub tracker_url: Option<String>,
    /// Tracker URLs in all its tiers.
    pub trackers: usize,
    /// The swarm as the tracker last announced to counts it, where it says:
    /// peers with every piece, peers still downloading, downloads completed.
    pub swarm: SwarmCounts,
    /// Copies of the torrent among its connected peers (libtorrent's
    /// "distributed copies"): the fewest peers any missing piece has, plus the
    /// share of pieces more of them have. `None` once nothing is missing, or
    /// before the metadata.
    pub availability: Option<f64>,
    /// Its storage root is gone (unmounted, removed): it waits for it.
    pub root_missing: bool,
    /// Files it had were gone when it was restored: stopped until resumed or
    /// rechecked.
    pub files_missing: bool,
    /// Seconds it has seeded (complete and running) since added.
    pub seeding_secs: u64,
    /// Seconds it has run (not paused, queued or failed) since added.
    pub running_secs: u64,
    /// Seconds it has run without moving data faster than the slow rates (0
    /// while stopped).
    pub idle_secs: u64,
    /// Nothing it wants is missing (a complete torrent takes a seeding slot in
    /// the queue).
    pub complete: bool,
    /// When it last sent or received payload, unix seconds (this run or
    /// before it); `None`: never.
    pub active_at: Option<u64>,
    /// When a whole copy was last seen (ours while it seeds, or a connected
    /// peer's while it ran), unix seconds, to a minute clock's turn (this
    /// run or before it); `None`: never.
    pub seen_complete: Option<u64>,
    /// When it was added, unix seconds.
    pub added_at: u64,
    /// When it completed, unix seconds.
    pub completed_at: Option<u64>,
    /// What a magnet link of it says after its name: each tracker (`&tr=`,
    /// tier by tier) and web seed (`&ws=`), percent-encoded, as libtorrent's
    /// (and so qBittorrent's) magnet links carry them.
    pub magnet_tail: std::sync::Arc<str>,
    /// Its storage root's token (or path, for a root the engine does not manage).
    pub root: Arc<str>,
    /// The root its files are moving to (a move, a new download folder, the
    /// move to where it finishes), by token (or path), until the move ends.
    pub moving_to: Option<String>,
    /// Where its content is under its root, as qBittorrent's `content_path`
    /// names it: the file of a one-file torrent, the folder all its files share,
    /// or empty (files straight in the root); its name until the metadata arrives.
    pub content: Arc<str>,
    /// Sequential order, caps and labels.
    pub settings: TorrentSettings,
    /// The last notice worth showing (partial recheck on restore, failed move,
    /// failed resume save).
    pub note: Option<String>,
}

/// Where each piece of a torrent stands, for views of its pieces and files.
#[derive(Debug, Clone)]
pub struct PieceStates {
    /// Pieces had.
    pub have: Bitfield,
    /// Pieces being downloaded (some blocks asked for or in).
    pub downloading: Vec<u32>,
    /// Per piece, how many connected peers have it; empty once nothing is
    /// missing (nothing is counted for a complete torrent's views).
    pub availability: Vec<u32>,
}

/// A swarm's size as a tracker counts it (`None`: it did not say, or its
/// last announce failed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SwarmCounts {
    /// Peers with every piece.
    pub seeders: Option<u32>,
    /// Peers still downloading.
    pub leechers: Option<u32>,
    /// Downloads completed.
    pub downloaded: Option<u32>,
}

impl TorrentStats {
    /// A v2-only torrent: known by its truncated v2 hash, with no v1 one.
    pub fn v2_only(&self) -> bool {
        self.v1_hash.is_none()
    }

    /// The v2 info-hash in lowercase hex (64 digits).
    pub fn v2_hex(&self) -> Option<String> {
        self.v2_hash
            .map(|h| crate::types::Hex::of(&h).as_str().to_owned())
    }

    /// What to call it: the name the user gave it, else its own.
    pub fn shown_name(&self) -> &str {
        if self.settings.display_name.is_empty() {
            &self.name
        } else {
            &self.settings.display_name
        }
    }
}

/// What a magnet link's values leave as they are: letters, digits and
/// `-._~`.
const MAGNET_KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl super::torrent::Torrent {
    /// Asks for what its numbers read beyond its own struct (its strings,
    /// its metadata, its trackers' lanes) to be loaded into the caches.
    pub(super) fn prefetch_parts(&self) {
        use crate::prefetch::{arc_str, object};
        arc_str(&self.name);
        arc_str(&self.root_token);
        arc_str(&self.magnet_tail.1);
        if let Some(c) = &self.content_path {
            arc_str(c);
        }
        if let Some(i) = &self.info {
            object(&**i);
        }
        self.announcer.prefetch_lanes();
    }

    /// [`TorrentStats::magnet_tail`], made again only when its trackers or
    /// web seeds changed (a list of 100,000 torrents neither encodes nor
    /// hashes them all again).
    pub(super) fn magnet_tail(&mut self) -> std::sync::Arc<str> {
        // Web seeds are set once, at the add.
        let fp =
            (u64::from(self.announcer.tiers_hash()) << 32 | self.web_seeds.len() as u64) | 1 << 63;
        if self.magnet_tail.0 != fp {
            let mut tail = String::new();
            let urls = (self.announcer.tiers().iter().flatten().map(|u| ("&tr=", u)))
                .chain(self.web_seeds.iter().map(|w| ("&ws=", &w.url)));
            for (key, url) in urls {
                tail.push_str(key);
                tail.extend(percent_encoding::utf8_percent_encode(url, MAGNET_KEEP));
            }
            self.magnet_tail = (fp, tail.into());
        }
        std::sync::Arc::clone(&self.magnet_tail.1)
    }
}

impl Core {
    /// A torrent's numbers now.
    pub fn stats(&mut self, now: Time, info_hash: InfoHash) -> Option<TorrentStats> {
        let t = self.torrents.get_mut(&info_hash)?;
        Some(stats_of(
            now,
            info_hash,
            t,
            &self.peers,
            self.cfg.unix_at_zero,
        ))
    }

    /// Every torrent's numbers now, in key order (one pass over the torrents,
    /// no lookups: 100,000 of them are listed in one call).
    pub fn all_stats(&mut self, now: Time) -> Vec<TorrentStats> {
        self.stats_from(now, None, usize::MAX)
    }

    /// The numbers of at most `max` torrents after `after` in key order (from
    /// the first with `None`).
    pub fn stats_from(
        &mut self,
        now: Time,
        after: Option<InfoHash>,
        max: usize,
    ) -> Vec<TorrentStats> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut some = Vec::with_capacity(max.min(self.torrents.len()));
        let (peers, zero) = (&self.peers, self.cfg.unix_at_zero);
        let mut picked: Vec<_> = (self.torrents.range_mut((from, Bound::Unbounded)))
            .take(max)
            .collect();
        // Each torrent lives in its own allocation, and what it points to in
        // others: the loads of a torrent's numbers are mostly cache misses
        // at scale. Its memory is asked for a few torrents ahead, and what
        // it points to one ahead of that.
        for i in 0..picked.len() {
            if let Some((_, t)) = picked.get(i + PREFETCH_AHEAD) {
                crate::prefetch::object(&***t);
            }
            if let Some((_, t)) = picked.get(i + 1) {
                t.prefetch_parts();
            }
            let (ih, t) = &mut picked[i];
            some.push(stats_of(now, **ih, t, peers, zero));
        }
        some
    }
}

/// A root as the stats name it: its token, or its path for a root the
/// engine does not manage.
fn token_or_path<'a, S: AsRef<str> + ?Sized>(token: &'a S, path: &'a S) -> &'a S {
    if token.as_ref().is_empty() {
        path
    } else {
        token
    }
}

/// Torrents ahead of the one whose numbers are taken whose memory is asked
/// for (see `stats_from`).
const PREFETCH_AHEAD: usize = 3;

/// Torrent `t`'s numbers now; `peers`: the core's connections; `zero`: the
/// core's clock's zero in unix seconds.
fn stats_of(
    now: Time,
    info_hash: InfoHash,
    t: &mut Torrent,
    peers: &BTreeMap<PeerKey, Peer>,
    zero: u64,
) -> TorrentStats {
    // The torrent's own peers, not every peer of the core: listing every
    // torrent stays linear in torrents plus peers.
    let peers: Vec<(bool, bool)> = t
        .peers
        .iter()
        .filter_map(|k| peers.get(k))
        .filter(|p| p.info_hash == Some(info_hash) && p.phase == Phase::Active && p.web.is_none())
        .map(|p| (true, p.is_seed()))
        .collect();
    let total_bytes = t.info.as_ref().map_or(0, |i| i.geometry.total_length());
    let have_bytes = t.have_bytes();
    let left = t.wanted_bytes_left();
    let wanted_total = have_bytes + left;
    let download_rate = t.down_rate.rate(now);
    let (tracker_error, tracker_warning, tracker_url) = {
        let h = t.announcer.status();
        let s = h.status;
        (s.error.clone(), s.warning.clone(), h.url.map(str::to_owned))
    };
    TorrentStats {
        info_hash,
        v2_hash: t.info.as_ref().and_then(|i| i.v2_hash),
        v1_hash: match t.info.as_deref() {
            Some(i) if i.v2_hash.is_some_and(|h| h[..20] == info_hash.0) => i.v1_hash,
            _ => Some(info_hash),
        },
        name: Arc::clone(&t.name),
        state: t.state(),
        progress: if wanted_total == 0 {
            if t.info.is_some() { 1.0 } else { 0.0 }
        } else {
            have_bytes as f64 / wanted_total as f64
        },
        have_pieces: t.have.count(),
        total_pieces: t.have.len(),
        have_bytes,
        total_bytes,
        download_rate,
        upload_rate: t.up_rate.rate(now),
        downloaded: t.downloaded,
        uploaded: t.uploaded,
        downloaded_session: t.downloaded.saturating_sub(t.session_from.0),
        uploaded_session: t.uploaded.saturating_sub(t.session_from.1),
        wasted: t.wasted,
        web_seed_bytes: Core::web_seed_bytes(t),
        hash_failures: t.hash_failures,
        peers: peers.len(),
        seeds: peers.iter().filter(|p| p.1).count(),
        connections: t.peers.len(),
        banned: t.banned.len(),
        known_peers: t.peer_sources(),
        eta_secs: (left > 0 && download_rate > 0).then(|| left / download_rate),
        tracker_error,
        tracker_warning,
        tracker_url,
        trackers: t.announcer.count(),
        swarm: t.announcer.swarm(),
        availability: (t.info.is_some() && left > 0).then(|| t.picker.distributed_copies()),
        root_missing: t.root_lost,
        files_missing: t.files_gone(),
        active_at: t.active_at(zero),
        seen_complete: t.seen_complete_at(now, super::persist::unix_at(zero, now)),
        added_at: t.added_at,
        completed_at: t.completed_at,
        content: Arc::clone(t.content_path.as_ref().unwrap_or(&t.name)),
        root: Arc::clone(token_or_path(&t.root_token, &t.root)),
        magnet_tail: t.magnet_tail(),
        moving_to: (t.moving.as_deref()).map(|(path, token, _)| token_or_path(token, path).clone()),
        settings: TorrentSettings {
            sequential: t.sequential,
            download_limit: t.down_limit.rate(),
            upload_limit: t.up_limit.rate(),
            labels: t.labels.clone(),
            category: t.category.clone(),
            share: t.share,
            share_action: t.share_action,
            queue_pos: t.queue_pos,
            forced: t.forced,
            display_name: t.display_name.clone(),
            first_last: t.first_last,
            content_layout: t.content_layout,
            renames: t.renames.clone(),
            finish_in: t.finish_in.clone(),
            manual: t.manual,
            super_seeding: t.super_seeding,
        },
        seeding_secs: t.seeding_secs_at(now),
        running_secs: t.run_clock.at(now),
        idle_secs: t.idle_secs(now),
        complete: t.complete(),
        note: t.note.clone(),
    }
}
