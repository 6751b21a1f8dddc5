//! The sans-IO BitTorrent core: everything seedring decides, and nothing it does.
//!
//! What it owns: torrents (pieces had, pieces in progress, the picker, priorities,
//! limits, counters), peers (handshake, choke and interest state, requests both
//! ways), the choker, connection caps, smart-ban, magnet metadata download, and
//! seeding. It takes [`Event`]s and commands with the current [`Time`], and pushes
//! [`Action`]s for a driver to carry out.
//!
//! What it must not do: read a clock, sleep, touch a socket or a file, or spawn.
//! `tests/boundaries.rs` checks the imports. The real driver (compio) and the sim
//! driver (`crate::sim`) run this same code.
//!
//! Invariants:
//! - A piece is hash-checked in memory before it is handed to the driver to write, and
//!   marked had only once the driver says it is written. Unverified data never
//!   reaches disk, and a piece is never claimed before it is there.
//! - Every queue is bounded: requests from a peer ([`CoreConfig::request_queue_max`]),
//!   requests to a peer (the same bound and the peer's `reqq`), reads in flight per
//!   peer (4), pending metadata (30 MiB), pieces in progress (one per requesting peer
//!   plus endgame), connections (the caps in [`CoreConfig`]).
//! - Bad input from a peer closes that peer only ([`CloseReason`]); it never fails
//!   the core.
//! - Iteration is over ordered maps and all randomness comes from one seeded [`Rng`],
//!   so the same events in the same order give the same actions.
#![warn(missing_docs)]

pub mod announce;
mod bitfield;
mod event;
mod metadata;
mod peer;
mod persist;
pub mod record;
mod rng;
mod torrent;
mod tracking;

use core::net::{IpAddr, SocketAddr};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

pub use bitfield::Bitfield;
pub use event::{Action, CloseReason, DiskError, Event, PeerKey, ResumeSave};
pub use rng::Rng;
pub use torrent::TorrentState;

use metadata::MetadataFetch;
use peer::{EarlyHave, InFlight, Peer, Phase};
use torrent::{BlockOutcome, Check, CheckKind, Torrent};

use crate::hash;
use crate::metainfo::{Info, Magnet, Metainfo, MetainfoLimits};
use crate::proto::ext::{ExtHandshake, MAX_METADATA_SIZE, UT_METADATA_ID, UtMetadata};
use crate::proto::{BlockRequest, HANDSHAKE_LEN, Handshake, Message, MessageDecoder};
use crate::ratelimit::{RateTracker, TokenBucket};
use crate::types::{InfoHash, Time};

/// Tunables of the core, with the defaults a seedbox wants.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Our peer id.
    pub peer_id: [u8; 20],
    /// The port we accept connections on (told to peers in the extension handshake).
    pub listen_port: u16,
    /// Client name in the extension handshake.
    pub client_name: String,
    /// Connections in all, of every torrent.
    pub max_connections: usize,
    /// Connections per torrent.
    pub max_connections_per_torrent: usize,
    /// Outbound connections still being set up.
    pub max_half_open: usize,
    /// Regular unchoke slots per torrent.
    pub unchoke_slots: usize,
    /// How often the choker re-ranks peers.
    pub choke_interval: Duration,
    /// How often the optimistic unchoke moves to another peer.
    pub optimistic_interval: Duration,
    /// Most requests queued in either direction with one peer.
    pub request_queue_max: usize,
    /// Keep this much of a peer's download rate requested ahead.
    pub request_queue_time: Duration,
    /// A request not answered in this time is given to another peer.
    pub request_timeout: Duration,
    /// A peer that sends no block for this long while we wait is snubbed.
    pub snub_timeout: Duration,
    /// Time allowed for a connection and its handshake.
    pub handshake_timeout: Duration,
    /// Close a connection with no traffic in either direction for this long.
    pub idle_timeout: Duration,
    /// Send a keep-alive after this much silence.
    pub keepalive_interval: Duration,
    /// Global download cap in bytes per second (0 = none).
    pub download_rate_limit: u64,
    /// Global upload cap in bytes per second (0 = none).
    pub upload_rate_limit: u64,
    /// Seed of the core's randomness.
    pub seed: u64,
    /// How often changed torrents are saved to the session store (the most recent
    /// pieces a crash can cost).
    pub save_interval: Duration,
    /// Wall-clock time at the core's time zero, unix seconds (the driver sets it;
    /// added and completion times are kept in unix seconds).
    pub unix_at_zero: u64,
    /// Pieces read back from a storage root that returned, before its torrents
    /// are trusted again (any failure: a full recheck).
    pub root_sample_pieces: u32,
    /// Most tracker announces started per second (a burst of as many is allowed):
    /// thousands of torrents added at once spread their first announces over time
    /// instead of flooding the trackers. `stopped` announces are not held back.
    pub announces_per_sec: u32,
    /// Peers asked of a tracker per announce.
    pub numwant: u32,
}

impl Default for CoreConfig {
    fn default() -> Self {
        let mut peer_id = *b"-SR0100-000000000000";
        peer_id[8..].copy_from_slice(b"seedring0000");
        CoreConfig {
            peer_id,
            listen_port: 6881,
            client_name: format!("seedring/{}", env!("CARGO_PKG_VERSION")),
            max_connections: 500,
            max_connections_per_torrent: 60,
            max_half_open: 50,
            unchoke_slots: 4,
            choke_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
            request_queue_max: 500,
            request_queue_time: Duration::from_secs(3),
            request_timeout: Duration::from_secs(20),
            snub_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(90),
            download_rate_limit: 0,
            upload_rate_limit: 0,
            seed: 0,
            save_interval: Duration::from_secs(5),
            unix_at_zero: 0,
            root_sample_pieces: 16,
            announces_per_sec: 50,
            numwant: 200,
        }
    }
}

/// Where a torrent comes from.
#[derive(Debug, Clone)]
pub enum TorrentSource {
    /// A parsed .torrent.
    Metainfo(Arc<Metainfo>),
    /// A magnet link: the metadata is fetched from peers.
    Magnet(Magnet),
}

/// How to add a torrent.
#[derive(Debug, Clone)]
pub struct AddTorrent {
    /// The torrent.
    pub source: TorrentSource,
    /// The storage root its files go under: the core takes a path; the engine
    /// also accepts a root token here and resolves it.
    pub root: String,
    /// The root's token (set by the engine; empty when the root is not managed).
    pub root_token: String,
    /// Start paused.
    pub paused: bool,
    /// What is already on disk: `None` rechecks, `Some(bits)` trusts them (resume
    /// data, or a seed whose data is known good).
    pub have: Option<Bitfield>,
    /// Restoring from the session store: what the record said.
    pub resume: Option<Box<Resume>>,
}

impl AddTorrent {
    /// A torrent into `root` (a path, or a root token for the engine), running, with
    /// its data checked first.
    pub fn new(source: TorrentSource, root: impl Into<String>) -> AddTorrent {
        AddTorrent {
            source,
            root: root.into(),
            root_token: String::new(),
            paused: false,
            have: None,
            resume: None,
        }
    }
}

/// What a torrent had when it was saved, given back on restore.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// Payload bytes downloaded since added.
    pub downloaded: u64,
    /// Payload bytes uploaded since added.
    pub uploaded: u64,
    /// When added, unix seconds.
    pub added_at: u64,
    /// When completed, unix seconds.
    pub completed_at: Option<u64>,
    /// Sequential download.
    pub sequential: bool,
    /// Per file (empty: all normal).
    pub file_priorities: Vec<u8>,
    /// Per-torrent download cap.
    pub download_limit: u64,
    /// Per-torrent upload cap.
    pub upload_limit: u64,
    /// Peers to try first.
    pub peers: Vec<SocketAddr>,
    /// Pieces to hash before trusting (in files that changed since the save); their
    /// bits in `have` are ignored.
    pub check: Vec<u32>,
    /// The root is missing now: the torrent waits, stopped, for it to return.
    pub root_missing: bool,
    /// Shown in the torrent's stats (why part of it was rechecked, ...).
    pub note: Option<String>,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The torrent is already there.
    #[error("torrent {0} is already added")]
    Duplicate(InfoHash),
    /// No such torrent.
    #[error("no torrent {0}")]
    UnknownTorrent(InfoHash),
    /// A file index or list length that does not fit the torrent.
    #[error("{0}")]
    BadArgument(String),
}

/// A torrent's numbers, as of one moment.
#[derive(Debug, Clone)]
pub struct TorrentStats {
    /// Its info-hash.
    pub info_hash: InfoHash,
    /// Its name (or the magnet's display name, until the metadata arrives).
    pub name: String,
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
    /// Bytes received that were thrown away (hash failures, duplicates).
    pub wasted: u64,
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
    /// Seconds to completion at the current rate, if downloading.
    pub eta_secs: Option<u64>,
    /// The last tracker error (failure reason, timeout, bad reply), if the last
    /// announce failed.
    pub tracker_error: Option<String>,
    /// The tracker's last warning message.
    pub tracker_warning: Option<String>,
    /// The tracker announced to last.
    pub tracker_url: Option<String>,
    /// When it was added, unix seconds.
    pub added_at: u64,
    /// When it completed, unix seconds.
    pub completed_at: Option<u64>,
    /// Its storage root's token (or path, for a root the engine does not manage).
    pub root: String,
    /// The last notice worth showing (partial recheck on restore, failed move,
    /// failed resume save).
    pub note: Option<String>,
}

/// One peer's numbers.
#[derive(Debug, Clone)]
pub struct PeerStats {
    /// Its address.
    pub addr: SocketAddr,
    /// Its client name (from the extension handshake), or empty.
    pub client: String,
    /// State flags, see [`peer::Peer::flags`].
    pub flags: String,
    /// Download rate from it.
    pub download_rate: u64,
    /// Upload rate to it.
    pub upload_rate: u64,
    /// Pieces it has.
    pub pieces: u32,
}

/// Connection counts, for caps and stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionCounts {
    /// All connections (half-open included).
    pub total: usize,
    /// Outbound connections not yet established.
    pub half_open: usize,
}

/// The core of one shard.
#[derive(Debug)]
pub struct Core {
    cfg: CoreConfig,
    rng: Rng,
    torrents: BTreeMap<InfoHash, Torrent>,
    metadata: BTreeMap<InfoHash, MetadataFetch>,
    peers: BTreeMap<PeerKey, Peer>,
    next_key: u64,
    global_down: TokenBucket,
    global_up: TokenBucket,
    down_rate: RateTracker,
    up_rate: RateTracker,
    last_choke: Time,
    last_optimistic: Time,
    /// Resume saves handed to the driver and not yet answered.
    saves_in_flight: u32,
    next_save_id: u64,
    last_save: Time,
    /// Per save in flight: the torrents in it and the files it syncs (given back
    /// to the next save if it fails).
    save_batches: BTreeMap<u64, Vec<(InfoHash, Vec<usize>)>>,
    /// Announces that may start now (refilled at `announces_per_sec`).
    announce_budget: f64,
    announce_refilled: Time,
    /// Where the last announce scan stopped for lack of budget: the next starts
    /// after it, so every torrent gets its turn.
    announce_cursor: Option<InfoHash>,
    /// Announces handed to the driver and not yet answered (stopped ones of
    /// removed torrents included).
    announces_in_flight: BTreeSet<(InfoHash, u64)>,
    /// Set by [`Core::stop_announcing`]: no torrent is announced any more.
    announcing_stopped: bool,
    /// Set by [`Core::shut_down`]: no connection is made or taken any more.
    shutting_down: bool,
}

/// Reads for uploads in flight per peer.
const READS_PER_PEER: u32 = 4;
/// Bytes waiting in the driver for one peer before uploads to it pause.
const MAX_SEND_BACKLOG: usize = 1 << 20;
/// Fewest requests kept in flight with an unchoked peer.
const MIN_REQUESTS: usize = 4;
/// Verified bytes waiting for the disk, per torrent, before no new blocks are
/// requested: when the network outruns the disk, memory stays bounded.
const MAX_WRITE_BACKLOG: u64 = 32 << 20;
/// Pieces that fail their hash, each sent whole by one peer, before that peer is
/// banned (libtorrent's trust points come to about the same).
const MAX_HASH_STRIKES: u32 = 4;
/// After this many failed writes of one piece, the torrent stops with an error.
const MAX_WRITE_FAILURES: u32 = 8;

impl Core {
    /// A core with no torrents.
    pub fn new(cfg: CoreConfig) -> Core {
        let cfg_announces = cfg.announces_per_sec;
        Core {
            rng: Rng::new(cfg.seed),
            global_down: TokenBucket::new(cfg.download_rate_limit),
            global_up: TokenBucket::new(cfg.upload_rate_limit),
            cfg,
            torrents: BTreeMap::new(),
            metadata: BTreeMap::new(),
            peers: BTreeMap::new(),
            next_key: 1,
            down_rate: RateTracker::default(),
            up_rate: RateTracker::default(),
            last_choke: Time::ZERO,
            last_optimistic: Time::ZERO,
            saves_in_flight: 0,
            announce_budget: f64::from(cfg_announces),
            announce_refilled: Time::ZERO,
            announce_cursor: None,
            announces_in_flight: BTreeSet::new(),
            announcing_stopped: false,
            shutting_down: false,
            next_save_id: 1,
            last_save: Time::ZERO,
            save_batches: BTreeMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    /// Connection counts right now.
    pub fn connections(&self) -> ConnectionCounts {
        ConnectionCounts {
            total: self.peers.len(),
            half_open: self
                .peers
                .values()
                .filter(|p| p.phase == Phase::Connecting)
                .count(),
        }
    }

    // ------------------------------------------------------------------ commands

    /// Adds a torrent.
    pub fn add_torrent(
        &mut self,
        now: Time,
        add: AddTorrent,
        out: &mut Vec<Action>,
    ) -> Result<InfoHash, CommandError> {
        let (info_hash, name) = match &add.source {
            TorrentSource::Metainfo(m) => (m.info_hash, m.info.name.clone()),
            TorrentSource::Magnet(m) => (
                m.info_hash,
                m.display_name
                    .clone()
                    .unwrap_or_else(|| m.info_hash.to_hex()),
            ),
        };
        if self.torrents.contains_key(&info_hash) {
            return Err(CommandError::Duplicate(info_hash));
        }
        let mut t = Torrent::new(name, add.root, self.unix(now));
        t.paused = add.paused;
        t.root_token = add.root_token;
        t.trackers = match &add.source {
            TorrentSource::Metainfo(m) => m.tracker_tiers.clone(),
            TorrentSource::Magnet(m) => m.trackers.iter().map(|t| vec![t.clone()]).collect(),
        };
        t.announcer = announce::Announcer::new(t.trackers.clone());
        match add.source {
            TorrentSource::Metainfo(m) => {
                let info = Arc::new(m.info.clone());
                let info_bytes = Arc::new(m.info_bytes.clone());
                t.set_info(info.clone(), info_bytes.clone());
                out.push(Action::OpenStorage {
                    info_hash,
                    info,
                    info_bytes,
                    root: t.root.clone(),
                    save_meta: add.resume.is_none(),
                });
                match add.have {
                    Some(bits) if bits.len() == t.have.len() => t.have = bits,
                    Some(_) => {
                        return Err(CommandError::BadArgument(
                            "resume bitfield does not match the piece count".into(),
                        ));
                    }
                    None => t.checking = Some(Check::full(t.have.len())),
                }
            }
            TorrentSource::Magnet(m) => {
                for p in &m.peers {
                    if let Ok(addr) = p.parse::<SocketAddr>() {
                        t.addrs.entry(addr).or_default();
                    }
                }
                self.metadata.insert(info_hash, MetadataFetch::default());
            }
        }
        if t.is_finished() {
            t.completed_at = Some(t.added_at);
        }
        if let Some(r) = add.resume {
            t.apply_resume(*r)?;
        }
        tracing::info!(info_hash = %info_hash, name = %t.name, root = %t.root, "torrent added");
        self.torrents.insert(info_hash, t);
        self.drive_checking(info_hash, out);
        Ok(info_hash)
    }

    /// Removes a torrent, closing its peers, and deleting its files if asked.
    pub fn remove_torrent(
        &mut self,
        now: Time,
        info_hash: InfoHash,
        delete_files: bool,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        self.stop_peers(info_hash, out)?;
        if let Some(mut t) = self.torrents.remove(&info_hash) {
            tracing::info!(info_hash = %info_hash, delete_files, "torrent removed");
            // The trackers hear of it now: there is no later tick for this torrent.
            self.announce_stopped(now, info_hash, &mut t, out);
        }
        self.metadata.remove(&info_hash);
        out.push(Action::CloseStorage {
            info_hash,
            delete_files,
        });
        Ok(())
    }

    /// Pauses a torrent: its peers are closed; what is had stays had.
    pub fn pause(
        &mut self,
        info_hash: InfoHash,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        self.stop_peers(info_hash, out)?;
        let t = self.torrent_mut(info_hash)?;
        t.paused = true;
        t.save_now = true;
        Ok(())
    }

    /// Resumes a paused (or errored) torrent.
    pub fn resume(
        &mut self,
        info_hash: InfoHash,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        t.paused = false;
        t.save_now = true;
        // An unmounted root's error clears only when the root returns.
        if !t.root_lost {
            t.error = None;
        }
        t.write_failures.clear();
        if !t.storage_ready
            && let (Some(info), Some(info_bytes)) = (&t.info, &t.info_bytes)
        {
            // Its files could not be prepared before: try again.
            out.push(Action::OpenStorage {
                info_hash,
                info: Arc::clone(info),
                info_bytes: Arc::clone(info_bytes),
                root: t.root.clone(),
                save_meta: false,
            });
        }
        self.drive_checking(info_hash, out);
        Ok(())
    }

    /// Forgets what is had and hashes everything on disk again.
    pub fn force_recheck(
        &mut self,
        info_hash: InfoHash,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        self.stop_peers(info_hash, out)?;
        let t = self.torrent_mut(info_hash)?;
        if t.info.is_some() {
            t.have = Bitfield::new(t.have.len());
            t.partial.clear();
            t.completed_at = None;
            t.checking = Some(Check::full(t.have.len()));
            t.dirty = true;
        }
        self.drive_checking(info_hash, out);
        Ok(())
    }

    /// Sets a torrent's caps in bytes per second (0 = none).
    pub fn set_torrent_limits(
        &mut self,
        now: Time,
        info_hash: InfoHash,
        download: u64,
        upload: u64,
    ) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        t.down_limit.set_rate(now, download);
        t.up_limit.set_rate(now, upload);
        t.dirty = true;
        Ok(())
    }

    /// Sets the global caps in bytes per second (0 = none).
    pub fn set_global_limits(&mut self, now: Time, download: u64, upload: u64) {
        self.global_down.set_rate(now, download);
        self.global_up.set_rate(now, upload);
    }

    /// Sets every file's priority (0 = skip, 1..=7 = normal to highest).
    pub fn set_file_priorities(
        &mut self,
        info_hash: InfoHash,
        priorities: &[u8],
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        let files = t.info.as_ref().map_or(0, |i| i.files.len());
        if priorities.len() != files {
            return Err(CommandError::BadArgument(format!(
                "{} priorities for {files} files",
                priorities.len()
            )));
        }
        t.file_priority = priorities.iter().map(|&p| p.min(7)).collect();
        t.recompute_piece_priority();
        t.dirty = true;
        // Pieces no longer wanted stop being requested.
        let dropped: Vec<u32> = t.partial.keys().copied().filter(|&p| !t.wants(p)).collect();
        for p in dropped {
            t.partial.remove(&p);
        }
        if t.is_finished() && t.completed_at.is_none() {
            t.completed_at = t.completed_at.or(Some(t.added_at));
        }
        let start = out.len();
        self.update_interest(info_hash, out);
        self.count_sends(&out[start..]);
        Ok(())
    }

    /// Downloads pieces in order (for streaming) instead of rarest first.
    pub fn set_sequential(&mut self, info_hash: InfoHash, on: bool) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        t.sequential = on;
        t.dirty = true;
        Ok(())
    }

    /// Adds peer addresses to try.
    pub fn add_peers(
        &mut self,
        info_hash: InfoHash,
        addrs: &[SocketAddr],
    ) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        for a in addrs {
            t.addrs.entry(*a).or_default();
        }
        Ok(())
    }

    /// The info-hashes of every torrent.
    pub fn torrents(&self) -> Vec<InfoHash> {
        self.torrents.keys().copied().collect()
    }

    /// The metadata of a torrent, once known.
    pub fn info(&self, info_hash: InfoHash) -> Option<Arc<Info>> {
        self.torrents.get(&info_hash)?.info.clone()
    }

    /// What is had, piece by piece.
    pub fn have(&self, info_hash: InfoHash) -> Option<&Bitfield> {
        self.torrents.get(&info_hash).map(|t| &t.have)
    }

    /// A torrent's numbers now.
    pub fn stats(&mut self, now: Time, info_hash: InfoHash) -> Option<TorrentStats> {
        let peers: Vec<(bool, bool)> = self
            .peers
            .values()
            .filter(|p| p.info_hash == Some(info_hash) && p.phase == Phase::Active)
            .map(|p| (true, !p.have.is_empty() && p.have.all()))
            .collect();
        let t = self.torrents.get_mut(&info_hash)?;
        let total_bytes = t.info.as_ref().map_or(0, |i| i.geometry.total_length());
        let have_bytes = t.have_bytes();
        let left = t.wanted_bytes_left();
        let wanted_total = have_bytes + left;
        let download_rate = t.down_rate.rate(now);
        Some(TorrentStats {
            info_hash,
            name: t.name.clone(),
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
            wasted: t.wasted,
            hash_failures: t.hash_failures,
            peers: peers.len(),
            seeds: peers.iter().filter(|p| p.1).count(),
            connections: t.peers.len(),
            banned: t.banned.len(),
            eta_secs: (left > 0 && download_rate > 0).then(|| left / download_rate),
            tracker_error: t.announcer.status().error.clone(),
            tracker_warning: t.announcer.status().warning.clone(),
            tracker_url: t.announcer.status().url.clone(),
            added_at: t.added_at,
            completed_at: t.completed_at,
            root: if t.root_token.is_empty() {
                t.root.clone()
            } else {
                t.root_token.clone()
            },
            note: t.note.clone(),
        })
    }

    /// Every connected peer of a torrent.
    pub fn peer_stats(&mut self, now: Time, info_hash: InfoHash) -> Vec<PeerStats> {
        self.peers
            .values_mut()
            .filter(|p| p.info_hash == Some(info_hash) && p.phase == Phase::Active)
            .map(|p| PeerStats {
                addr: p.addr,
                client: p.client.clone(),
                flags: p.flags(),
                download_rate: p.down.rate(now),
                upload_rate: p.up.rate(now),
                pieces: p.have.count(),
            })
            .collect()
    }

    fn torrent_mut(&mut self, info_hash: InfoHash) -> Result<&mut Torrent, CommandError> {
        self.torrents
            .get_mut(&info_hash)
            .ok_or(CommandError::UnknownTorrent(info_hash))
    }

    fn stop_peers(
        &mut self,
        info_hash: InfoHash,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        let keys: Vec<PeerKey> = t.peers.iter().copied().collect();
        for k in keys {
            self.close(k, CloseReason::TorrentStopped, out);
        }
        Ok(())
    }

    /// The engine is stopping: every connection closes and none is made or taken
    /// again, so nothing new is downloaded while the last saves are made, and the
    /// trackers are told `stopped`. Torrents keep their state (a restart resumes
    /// them as they were, not paused).
    pub fn shut_down(&mut self, now: Time, out: &mut Vec<Action>) {
        self.shutting_down = true;
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            self.close(k, CloseReason::Shutdown, out);
        }
        self.stop_announcing(now, out);
    }

    // ------------------------------------------------------------------ events

    /// A connection arrived on our listen port. `None`: refused by the connection caps
    /// (the driver closes the socket).
    pub fn on_incoming(&mut self, now: Time, addr: SocketAddr) -> Option<PeerKey> {
        if self.peers.len() >= self.cfg.max_connections || self.shutting_down {
            return None;
        }
        let key = self.new_key();
        self.peers.insert(key, Peer::new(addr, false, now));
        Some(key)
    }

    /// Handles one event from the driver.
    pub fn on_event(&mut self, now: Time, ev: Event<'_>, out: &mut Vec<Action>) {
        let start = out.len();
        self.dispatch(now, ev, out);
        self.count_sends(&out[start..]);
    }

    /// Every byte handed to the driver counts against its peer's send backlog until
    /// the driver reports it [`Event::Sent`]. Counted here, once, for all sends.
    fn count_sends(&mut self, actions: &[Action]) {
        for a in actions {
            if let Action::Send { peer, bytes } = a
                && let Some(p) = self.peers.get_mut(peer)
            {
                p.send_backlog += bytes.len();
            }
        }
    }

    fn dispatch(&mut self, now: Time, ev: Event<'_>, out: &mut Vec<Action>) {
        match ev {
            Event::Connected { peer } => self.on_connected(now, peer, out),
            Event::ConnectFailed { peer } => {
                if let Some(p) = self.peers.get(&peer)
                    && let Some(t) = p.info_hash.and_then(|h| self.torrents.get_mut(&h))
                    && let Some(a) = t.addrs.get_mut(&p.addr)
                {
                    a.failures += 1;
                }
                self.forget(peer);
            }
            Event::Data { peer, bytes } => self.on_data(now, peer, bytes, out),
            Event::Sent { peer, bytes } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.send_backlog = p.send_backlog.saturating_sub(bytes);
                }
                self.serve_uploads(now, peer, out);
            }
            Event::Closed { peer } => {
                self.forget(peer);
            }
            Event::BlockRead {
                peer,
                info_hash,
                req,
                result,
            } => self.on_block_read(now, peer, info_hash, req, result, out),
            Event::PieceWritten {
                info_hash,
                piece,
                result,
            } => self.on_piece_written(now, info_hash, piece, result, out),
            Event::PieceRead {
                info_hash,
                piece,
                result,
            } => self.on_piece_read(info_hash, piece, result, out),
            Event::ResumeSaved { id, result } => self.on_resume_saved(id, result),
            Event::RootStatus { root, available } => self.on_root_status(&root, available, out),
            Event::StorageMoved { info_hash, result } => {
                self.on_storage_moved(info_hash, result, out);
            }
            Event::AnnounceReply {
                info_hash,
                id,
                result,
            } => self.on_announce_reply(now, info_hash, id, result, out),
            Event::StorageOpened { info_hash, result } => {
                self.on_storage_opened(info_hash, result);
            }
        }
    }

    fn new_key(&mut self) -> PeerKey {
        let k = PeerKey(self.next_key);
        self.next_key += 1;
        k
    }

    fn send(&mut self, now: Time, key: PeerKey, msgs: &[Message], out: &mut Vec<Action>) {
        if msgs.is_empty() {
            return;
        }
        let mut bytes = Vec::new();
        for m in msgs {
            m.encode_into(&mut bytes);
        }
        if let Some(p) = self.peers.get_mut(&key) {
            p.last_sent = now;
        }
        out.push(Action::Send { peer: key, bytes });
    }

    fn on_connected(&mut self, now: Time, key: PeerKey, out: &mut Vec<Action>) {
        // Only an outbound connection in progress can complete; anything else is a
        // stale or confused driver event and is ignored.
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let (Phase::Connecting, Some(ih)) = (p.phase, p.info_hash) else {
            return;
        };
        p.phase = Phase::Handshake;
        p.phase_since = now;
        let hs = Handshake::new(ih, self.cfg.peer_id).encode().to_vec();
        p.last_sent = now;
        out.push(Action::Send {
            peer: key,
            bytes: hs,
        });
    }

    fn on_data(&mut self, now: Time, key: PeerKey, bytes: &[u8], out: &mut Vec<Action>) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        p.last_recv = now;
        if p.phase != Phase::Active {
            p.handshake_buf.extend_from_slice(bytes);
            if p.handshake_buf.len() < HANDSHAKE_LEN {
                return;
            }
            let buf = std::mem::take(&mut p.handshake_buf);
            if let Err(reason) = self.on_handshake(now, key, &buf[..HANDSHAKE_LEN], out) {
                self.close(key, reason, out);
                return;
            }
            let rest = &buf[HANDSHAKE_LEN..];
            if let Some(p) = self.peers.get_mut(&key) {
                p.decoder.feed(rest);
            }
        } else {
            p.decoder.feed(bytes);
        }
        loop {
            let Some(p) = self.peers.get_mut(&key) else {
                return;
            };
            match p.decoder.next_message() {
                Ok(Some(msg)) => {
                    if let Err(reason) = self.on_message(now, key, msg, out) {
                        self.close(key, reason, out);
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.close(key, CloseReason::Protocol(e.to_string()), out);
                    return;
                }
            }
        }
        self.request_more(now, key, out);
        self.serve_uploads(now, key, out);
    }

    fn on_handshake(
        &mut self,
        now: Time,
        key: PeerKey,
        raw: &[u8],
        out: &mut Vec<Action>,
    ) -> Result<(), CloseReason> {
        let hs = Handshake::decode(raw).ok_or(CloseReason::BadHandshake)?;
        if hs.peer_id == self.cfg.peer_id {
            // We dialled our own listen address (a tracker listed us). Both ends are
            // in this core: the inbound end sees our handshake, and the outbound end
            // is the one still waiting on our listen port. Never try it again.
            let port = self.cfg.listen_port;
            for p in self.peers.values() {
                let dialled_us = p.outbound && p.phase == Phase::Handshake && p.addr.port() == port;
                if (dialled_us || p.outbound && p.peer_id == hs.peer_id)
                    && let Some(t) = p.info_hash.and_then(|h| self.torrents.get_mut(&h))
                    && let Some(a) = t.addrs.get_mut(&p.addr)
                {
                    a.failures = u32::MAX;
                }
            }
            if let Some(p) = self.peers.get(&key)
                && let Some(t) = p.info_hash.and_then(|h| self.torrents.get_mut(&h))
                && let Some(a) = t.addrs.get_mut(&p.addr)
            {
                a.failures = u32::MAX;
            }
            return Err(CloseReason::SelfConnection);
        }
        let p = self.peers.get(&key).expect("caller checked");
        let outbound = p.outbound;
        let ih = hs.info_hash;
        if outbound && p.info_hash != Some(ih) {
            return Err(CloseReason::BadHandshake);
        }
        let t = self.torrents.get(&ih).ok_or(CloseReason::BadHandshake)?;
        if !t.takes_peers() {
            return Err(CloseReason::TorrentStopped);
        }
        if t.banned.contains(&p.addr.ip()) {
            return Err(CloseReason::Banned);
        }
        // Already talking to this peer (both sides dialled at once): keep one, the
        // same one on both sides: the connection opened by the lower peer id.
        let existing = t.peers.iter().copied().find(|k| {
            *k != key
                && self
                    .peers
                    .get(k)
                    .is_some_and(|o| o.phase == Phase::Active && o.peer_id == hs.peer_id)
        });
        if let Some(old) = existing {
            let opener = |outbound: bool| {
                if outbound {
                    self.cfg.peer_id
                } else {
                    hs.peer_id
                }
            };
            let old_outbound = self.peers[&old].outbound;
            let keep_new = outbound == old_outbound || opener(outbound) < opener(old_outbound);
            if !keep_new {
                return Err(CloseReason::Duplicate);
            }
            self.close(old, CloseReason::Duplicate, out);
        }
        let t = self.torrents.get(&ih).expect("checked above");
        let pieces = t.have.len();
        let metadata_size = t.info_bytes.as_ref().map(|b| b.len() as u64);
        let have_msg = if t.info.is_none() {
            None
        } else if hs.supports_fast() && t.have.all() {
            Some(Message::HaveAll)
        } else if hs.supports_fast() && t.have.count() == 0 {
            Some(Message::HaveNone)
        } else if t.have.count() > 0 {
            Some(Message::Bitfield(t.have.as_wire().to_vec()))
        } else {
            None
        };
        let p = self.peers.get_mut(&key).expect("caller checked");
        p.info_hash = Some(ih);
        p.peer_id = hs.peer_id;
        p.fast = hs.supports_fast();
        p.extended = hs.supports_extensions();
        p.decoder = MessageDecoder::new(1 + pieces.div_ceil(8).max(1 << 16), p.fast, p.extended);
        p.have = Bitfield::new(pieces);
        p.phase = Phase::Active;
        p.phase_since = now;
        let addr = p.addr;
        if outbound {
            let seen = self.unix(now);
            let t = self.torrents.get_mut(&ih).expect("checked");
            t.good_peers.insert(addr, seen);
        }
        let mut msgs = Vec::new();
        if !outbound {
            let t = self.torrents.get_mut(&ih).expect("checked");
            t.peers.insert(key);
            out.push(Action::Send {
                peer: key,
                bytes: Handshake::new(ih, self.cfg.peer_id).encode().to_vec(),
            });
        } else if let Some(a) = self
            .torrents
            .get_mut(&ih)
            .and_then(|t| t.addrs.get_mut(&addr))
        {
            a.failures = 0;
        }
        if hs.supports_extensions() {
            let ext = ExtHandshake::ours(
                &self.cfg.client_name,
                self.cfg.listen_port,
                u32::try_from(self.cfg.request_queue_max).unwrap_or(u32::MAX),
                metadata_size,
            );
            msgs.push(Message::Extended {
                id: 0,
                payload: ext.encode(),
            });
        }
        msgs.extend(have_msg);
        self.send(now, key, &msgs, out);
        Ok(())
    }

    fn on_message(
        &mut self,
        now: Time,
        key: PeerKey,
        msg: Message,
        out: &mut Vec<Action>,
    ) -> Result<(), CloseReason> {
        let proto = |s: &str| CloseReason::Protocol(s.to_owned());
        let p = self.peers.get_mut(&key).expect("caller checked");
        let ih = p.info_hash.expect("active peers have a torrent");
        let first = !p.got_first_message;
        if !matches!(msg, Message::KeepAlive | Message::Extended { .. }) {
            p.got_first_message = true;
        }
        let t = self
            .torrents
            .get_mut(&ih)
            .ok_or(CloseReason::TorrentStopped)?;
        let pieces = t.have.len();
        let known = t.info.is_some();
        match msg {
            Message::KeepAlive => {}
            Message::Choke => {
                p.peer_choking = true;
                if !p.fast {
                    for f in std::mem::take(&mut p.inflight) {
                        t.release(&f.req);
                    }
                }
            }
            Message::Unchoke => p.peer_choking = false,
            Message::Interested => {
                p.peer_interested = true;
                // A free unchoke slot goes to them now, not at the next choker round.
                let unchoked = t
                    .peers
                    .iter()
                    .filter(|k| **k != key)
                    .filter_map(|k| self.peers.get(k))
                    .filter(|o| !o.am_choking)
                    .count();
                let p = self.peers.get_mut(&key).expect("caller checked");
                if p.am_choking && unchoked < self.cfg.unchoke_slots && t.is_running() {
                    p.am_choking = false;
                    out.push(Action::Send {
                        peer: key,
                        bytes: Message::Unchoke.encode(),
                    });
                }
            }
            Message::NotInterested => p.peer_interested = false,
            Message::Have(i) => {
                if !known {
                    if let Some(EarlyHave::Indices(v)) = &mut p.early_have {
                        if v.len() < 1 << 20 {
                            v.push(i);
                        }
                    } else if p.early_have.is_none() {
                        p.early_have = Some(EarlyHave::Indices(vec![i]));
                    }
                    return Ok(());
                }
                if i >= pieces {
                    return Err(proto("have out of range"));
                }
                if p.have.set(i) {
                    t.availability[i as usize] += 1;
                    if !p.am_interested && t.wants(i) {
                        p.am_interested = true;
                        out.push(Action::Send {
                            peer: key,
                            bytes: Message::Interested.encode(),
                        });
                    }
                }
            }
            Message::Bitfield(bits) => {
                if !first {
                    return Err(proto("bitfield after the first message"));
                }
                if !known {
                    p.early_have = Some(EarlyHave::Bits(bits));
                    return Ok(());
                }
                let b = Bitfield::from_wire(&bits, pieces).ok_or_else(|| proto("bad bitfield"))?;
                Self::apply_have(t, p, b);
                Self::refresh_interest(t, p, key, out);
            }
            Message::HaveAll | Message::HaveNone => {
                if !first {
                    return Err(proto("have-all/none after the first message"));
                }
                let all = msg == Message::HaveAll;
                if !known {
                    p.early_have = all.then_some(EarlyHave::All);
                    return Ok(());
                }
                let b = if all {
                    Bitfield::full(pieces)
                } else {
                    Bitfield::new(pieces)
                };
                Self::apply_have(t, p, b);
                Self::refresh_interest(t, p, key, out);
            }
            Message::Request(r) => {
                let valid = known && {
                    let g = &t.info.as_ref().expect("known").geometry;
                    r.piece < pieces
                        && t.have.get(r.piece)
                        && r.len > 0
                        && r.len <= crate::metainfo::BLOCK_LEN
                        && u64::from(r.offset) + u64::from(r.len) <= u64::from(g.piece_len(r.piece))
                };
                if !valid || p.am_choking {
                    if p.fast {
                        out.push(Action::Send {
                            peer: key,
                            bytes: Message::Reject(r).encode(),
                        });
                    }
                } else if p.queue_in.len() >= self.cfg.request_queue_max {
                    return Err(proto("too many outstanding requests"));
                } else {
                    p.queue_in.push_back(r);
                }
            }
            Message::Piece {
                piece,
                offset,
                data,
            } => self.on_piece_msg(now, key, ih, piece, offset, &data, out)?,
            Message::Cancel(r) => p.queue_in.retain(|q| *q != r),
            Message::Reject(r) => {
                if let Some(i) = p.inflight.iter().position(|f| f.req == r) {
                    p.inflight.swap_remove(i);
                    t.release(&r);
                }
            }
            Message::Suggest(_) | Message::AllowedFast(_) | Message::Port(_) => {}
            Message::Extended { id, payload } => {
                self.on_extended(now, key, ih, id, &payload, out)?
            }
        }
        Ok(())
    }

    /// Sends interested / not interested when what the peer has changes our mind.
    fn refresh_interest(t: &Torrent, p: &mut Peer, key: PeerKey, out: &mut Vec<Action>) {
        let want = t.interesting(&p.have);
        if want != p.am_interested {
            p.am_interested = want;
            let m = if want {
                Message::Interested
            } else {
                Message::NotInterested
            };
            out.push(Action::Send {
                peer: key,
                bytes: m.encode(),
            });
        }
    }

    fn apply_have(t: &mut Torrent, p: &mut Peer, b: Bitfield) {
        for i in p.have.ones() {
            t.availability[i as usize] -= 1;
        }
        for i in b.ones() {
            t.availability[i as usize] += 1;
        }
        p.have = b;
    }

    #[allow(clippy::too_many_arguments)]
    fn on_piece_msg(
        &mut self,
        now: Time,
        key: PeerKey,
        ih: InfoHash,
        piece: u32,
        offset: u32,
        data: &[u8],
        out: &mut Vec<Action>,
    ) -> Result<(), CloseReason> {
        let p = self.peers.get_mut(&key).expect("caller checked");
        let t = self.torrents.get_mut(&ih).expect("caller checked");
        let len = data.len() as u64;
        p.down.add(now, len);
        t.down_rate.add(now, len);
        self.down_rate.add(now, len);
        let req = BlockRequest {
            piece,
            offset,
            len: u32::try_from(data.len()).unwrap_or(u32::MAX),
        };
        let Some(i) = p.inflight.iter().position(|f| f.req == req) else {
            t.wasted += len;
            return Ok(());
        };
        p.inflight.swap_remove(i);
        p.last_block = now;
        p.snubbed = false;
        let from = p.addr.ip();
        t.downloaded += len;
        match t.on_block(piece, offset, data, from) {
            BlockOutcome::Unexpected => t.wasted += len,
            BlockOutcome::Stored => {}
            BlockOutcome::PieceComplete(bytes, senders) => {
                self.on_piece_complete(now, ih, piece, bytes, senders, out);
            }
        }
        // Endgame: whoever else was asked for this block need not send it.
        let others: Vec<PeerKey> = self
            .torrents
            .get(&ih)
            .map(|t| t.peers.iter().copied().filter(|k| *k != key).collect())
            .unwrap_or_default();
        for k in others {
            if let Some(o) = self.peers.get_mut(&k)
                && let Some(i) = o.inflight.iter().position(|f| f.req == req)
            {
                o.inflight.swap_remove(i);
                out.push(Action::Send {
                    peer: k,
                    bytes: Message::Cancel(req).encode(),
                });
            }
        }
        Ok(())
    }

    fn on_piece_complete(
        &mut self,
        now: Time,
        ih: InfoHash,
        piece: u32,
        bytes: Vec<u8>,
        senders: Vec<Option<IpAddr>>,
        out: &mut Vec<Action>,
    ) {
        let t = self.torrents.get_mut(&ih).expect("caller checked");
        let info = t.info.clone().expect("pieces need metadata");
        let ok = hash::verify_piece(&bytes, &info.pieces[piece as usize]);
        let block = crate::metainfo::BLOCK_LEN as usize;
        if ok {
            // Smart-ban: anyone who sent a block of an earlier, failed copy of this
            // piece that differs from the good one sent bad data. A peer that sent
            // the good block itself this time has mended (a disk error on its side,
            // say), and is spared.
            let mut to_ban = Vec::new();
            if let Some(records) = t.smart_ban.remove(&piece) {
                for (b, ip, digest) in records {
                    let start = b as usize * block;
                    let end = (start + block).min(bytes.len());
                    let mended = senders.get(b as usize) == Some(&Some(ip));
                    if !mended && hash::sha1(&bytes[start..end]) != digest {
                        to_ban.push(ip);
                    }
                }
            }
            t.writing.insert(piece);
            out.push(Action::WritePiece {
                info_hash: ih,
                piece,
                data: bytes,
            });
            for ip in to_ban {
                self.ban(ih, ip, "sent a block that differs from the good copy", out);
            }
            return;
        }
        t.hash_failures += 1;
        t.wasted += bytes.len() as u64;
        let distinct: std::collections::BTreeSet<IpAddr> =
            senders.iter().flatten().copied().collect();
        let records = t.smart_ban.entry(piece).or_default();
        for (b, ip) in senders.iter().enumerate() {
            if let Some(ip) = ip {
                let start = b * block;
                let end = (start + block).min(bytes.len());
                if records.len() < 4096 {
                    records.push((
                        u32::try_from(b).expect("block index"),
                        *ip,
                        hash::sha1(&bytes[start..end]),
                    ));
                }
            }
        }
        // One sender for the whole piece: no doubt who sent the bad data. A strike:
        // the peer is dropped and tried again later (a disk error on its side, a bad
        // cable, are not malice); after MAX_HASH_STRIKES it is banned.
        if distinct.len() == 1 {
            let ip = *distinct.first().expect("one");
            let strikes = t.strikes.entry(ip).or_insert(0);
            *strikes += 1;
            let strikes = *strikes;
            tracing::info!(
                info_hash = %ih,
                peer = %ip,
                piece,
                strikes,
                "piece failed its hash check; all of it came from one peer"
            );
            if strikes >= MAX_HASH_STRIKES {
                self.ban(ih, ip, &format!("{strikes} pieces failed their hash"), out);
            } else {
                self.strike(now, ih, ip, out);
            }
        }
    }

    /// Drops the connections to `ip` after a piece it alone sent failed, and makes
    /// its address wait out a backoff before it is dialled again.
    fn strike(&mut self, now: Time, ih: InfoHash, ip: IpAddr, out: &mut Vec<Action>) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        for (addr, a) in t.addrs.iter_mut() {
            if addr.ip() == ip {
                a.failures = a.failures.saturating_add(1).min(u32::MAX - 1);
                a.last_attempt = Some(now);
            }
        }
        self.close_ip(ih, ip, &CloseReason::HashFailure, out);
    }

    /// Closes every connection of torrent `ih` to address `ip`.
    fn close_ip(&mut self, ih: InfoHash, ip: IpAddr, reason: &CloseReason, out: &mut Vec<Action>) {
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        let keys: Vec<PeerKey> = t
            .peers
            .iter()
            .copied()
            .filter(|k| self.peers.get(k).is_some_and(|p| p.addr.ip() == ip))
            .collect();
        for k in keys {
            self.close(k, reason.clone(), out);
        }
    }

    fn ban(&mut self, ih: InfoHash, ip: IpAddr, why: &str, out: &mut Vec<Action>) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        if t.banned.insert(ip) {
            tracing::warn!(info_hash = %ih, peer = %ip, reason = why, "peer banned");
        }
        self.close_ip(ih, ip, &CloseReason::Banned, out);
    }

    fn on_extended(
        &mut self,
        now: Time,
        key: PeerKey,
        ih: InfoHash,
        id: u8,
        payload: &[u8],
        out: &mut Vec<Action>,
    ) -> Result<(), CloseReason> {
        let p = self.peers.get_mut(&key).expect("caller checked");
        if id == 0 {
            let hs =
                ExtHandshake::decode(payload).map_err(|e| CloseReason::Protocol(e.to_string()))?;
            p.ut_metadata = hs.m.get("ut_metadata").copied().filter(|&i| i != 0);
            p.metadata_size = hs.metadata_size;
            if let Some(q) = hs.reqq {
                p.remote_reqq = q.clamp(1, 10_000);
            }
            if let Some(v) = hs.v {
                p.client = v;
            }
            p.listen_port = hs.p;
            if let (Some(size), Some(m)) = (hs.metadata_size, self.metadata.get_mut(&ih)) {
                if size == 0 || size > MAX_METADATA_SIZE {
                    return Err(CloseReason::Protocol(format!("metadata size {size}")));
                }
                m.offer(size);
            }
            self.request_metadata(now, key, out);
            return Ok(());
        }
        if id != UT_METADATA_ID {
            return Ok(()); // an extension we did not offer: ignore
        }
        let msg = UtMetadata::decode(payload).map_err(|e| CloseReason::Protocol(e.to_string()))?;
        match msg {
            UtMetadata::Request { piece } => {
                let Some(their_id) = p.ut_metadata else {
                    return Ok(());
                };
                let t = self.torrents.get(&ih).expect("caller checked");
                let reply = match &t.info_bytes {
                    Some(bytes) if (piece as usize) * metadata::PIECE < bytes.len() => {
                        let start = piece as usize * metadata::PIECE;
                        let end = (start + metadata::PIECE).min(bytes.len());
                        UtMetadata::Data {
                            piece,
                            total_size: bytes.len() as u64,
                            data: bytes[start..end].to_vec(),
                        }
                    }
                    _ => UtMetadata::Reject { piece },
                };
                let m = Message::Extended {
                    id: their_id,
                    payload: reply.encode(),
                };
                self.send(now, key, &[m], out);
            }
            UtMetadata::Data { piece, data, .. } => {
                p.metadata_inflight = p.metadata_inflight.saturating_sub(1);
                let done = self
                    .metadata
                    .get_mut(&ih)
                    .and_then(|m| m.on_data(piece, data));
                if let Some(bytes) = done {
                    self.on_metadata(ih, bytes, out);
                } else {
                    self.request_metadata(now, key, out);
                }
            }
            UtMetadata::Reject { piece } => {
                p.metadata_inflight = p.metadata_inflight.saturating_sub(1);
                if let Some(m) = self.metadata.get_mut(&ih) {
                    m.on_reject(piece);
                }
            }
        }
        Ok(())
    }

    fn request_metadata(&mut self, now: Time, key: PeerKey, out: &mut Vec<Action>) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let (Some(ih), Some(their_id)) = (p.info_hash, p.ut_metadata) else {
            return;
        };
        let Some(m) = self.metadata.get_mut(&ih) else {
            return;
        };
        let mut msgs = Vec::new();
        while p.metadata_inflight < 2 {
            let Some(piece) = m.next_request(now) else {
                break;
            };
            p.metadata_inflight += 1;
            msgs.push(Message::Extended {
                id: their_id,
                payload: UtMetadata::Request { piece }.encode(),
            });
        }
        self.send(now, key, &msgs, out);
    }

    fn on_metadata(&mut self, ih: InfoHash, bytes: Vec<u8>, out: &mut Vec<Action>) {
        if hash::sha1(&bytes) != ih.0 {
            // Someone sent a wrong piece: start over (the fetch forgets every piece).
            if let Some(m) = self.metadata.get_mut(&ih) {
                m.reset();
            }
            return;
        }
        let parsed = crate::metainfo::parse_info_bytes(&bytes, &MetainfoLimits::default());
        let t = self
            .torrents
            .get_mut(&ih)
            .expect("fetching for a torrent we have");
        let info = match parsed {
            Ok((_, info)) => Arc::new(info),
            Err(e) => {
                t.error = Some(format!("metadata from peers is invalid: {e}"));
                tracing::warn!(info_hash = %ih, error = %e, "metadata from peers is invalid");
                self.metadata.remove(&ih);
                return;
            }
        };
        self.metadata.remove(&ih);
        let info_bytes = Arc::new(bytes);
        t.set_info(info.clone(), info_bytes.clone());
        out.push(Action::OpenStorage {
            info_hash: ih,
            info,
            info_bytes,
            root: t.root.clone(),
            save_meta: true,
        });
        // Data may already be on disk (an interrupted download): check it first.
        t.checking = Some(Check::full(t.have.len()));
        t.save_now = true;
        let pieces = t.have.len();
        let keys: Vec<PeerKey> = t.peers.iter().copied().collect();
        for k in keys {
            let Some(p) = self.peers.get_mut(&k) else {
                continue;
            };
            let t = self.torrents.get_mut(&ih).expect("present");
            p.decoder.set_max_len(1 + pieces.div_ceil(8).max(1 << 16));
            let have = match p.early_have.take() {
                Some(EarlyHave::All) => Bitfield::full(pieces),
                Some(EarlyHave::Bits(b)) => match Bitfield::from_wire(&b, pieces) {
                    Some(b) => b,
                    None => {
                        self.close(k, CloseReason::Protocol("bad bitfield".into()), out);
                        continue;
                    }
                },
                Some(EarlyHave::Indices(v)) => {
                    let mut b = Bitfield::new(pieces);
                    for i in v.into_iter().filter(|&i| i < pieces) {
                        b.set(i);
                    }
                    b
                }
                None => Bitfield::new(pieces),
            };
            p.have = Bitfield::new(pieces);
            Self::apply_have(t, p, have);
        }
        self.update_interest(ih, out);
        self.drive_checking(ih, out);
    }

    fn on_block_read(
        &mut self,
        now: Time,
        key: PeerKey,
        ih: InfoHash,
        req: BlockRequest,
        result: Result<Vec<u8>, DiskError>,
        out: &mut Vec<Action>,
    ) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        p.reads_pending = p.reads_pending.saturating_sub(1);
        let Ok(data) = result else {
            // The piece is not readable after all: tell the peer, do not send junk.
            if p.fast {
                out.push(Action::Send {
                    peer: key,
                    bytes: Message::Reject(req).encode(),
                });
            }
            return;
        };
        if p.am_choking || data.len() != req.len as usize {
            return;
        }
        let len = data.len() as u64;
        p.up.add(now, len);
        if let Some(t) = self.torrents.get_mut(&ih) {
            t.uploaded += len;
            t.up_rate.add(now, len);
        }
        self.up_rate.add(now, len);
        let m = Message::Piece {
            piece: req.piece,
            offset: req.offset,
            data,
        };
        self.send(now, key, &[m], out);
        self.serve_uploads(now, key, out);
    }

    fn on_piece_written(
        &mut self,
        now: Time,
        ih: InfoHash,
        piece: u32,
        result: Result<(), DiskError>,
        out: &mut Vec<Action>,
    ) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        if !t.writing.remove(&piece) {
            return;
        }
        if let Err(e) = result {
            // The verified data is lost: fetch the piece again, up to a point.
            let n = t.write_failures.entry(piece).or_insert(0);
            *n += 1;
            if *n >= MAX_WRITE_FAILURES {
                t.error = Some(format!("writing piece {piece} failed {n} times: {}", e.0));
                tracing::error!(info_hash = %ih, piece, error = %e, "torrent stopped: writes keep failing");
                let _ = self.stop_peers(ih, out);
            }
            return;
        }
        t.write_failures.remove(&piece);
        t.have.set(piece);
        t.dirty = true;
        if let Some(info) = &t.info {
            t.touched.extend(
                info.geometry
                    .piece_spans(piece)
                    .map(|s| s.file)
                    .filter(|&f| info.files[f].is_stored()),
            );
        }
        let resume: Vec<PeerKey> = t.peers.iter().copied().collect();
        let finished = t.is_finished();
        t.announcer.owe_completed(now, finished);
        if finished && t.completed_at.is_none() {
            tracing::info!(info_hash = %ih, name = %t.name, "download complete");
            t.completed_at = Some(self.cfg.unix_at_zero + now.since(Time::ZERO).as_secs());
            t.save_now = true;
        }
        let keys: Vec<PeerKey> = t.peers.iter().copied().collect();
        for k in keys {
            let Some(p) = self.peers.get(&k) else {
                continue;
            };
            if p.phase == Phase::Active && !p.have.get(piece) {
                out.push(Action::Send {
                    peer: k,
                    bytes: Message::Have(piece).encode(),
                });
            }
        }
        if finished {
            self.update_interest(ih, out);
        } else {
            // Requests may have paused on the write backlog.
            for k in resume {
                self.request_more(now, k, out);
            }
        }
    }

    fn on_piece_read(
        &mut self,
        ih: InfoHash,
        piece: u32,
        result: Result<Vec<u8>, DiskError>,
        out: &mut Vec<Action>,
    ) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        let Some(check) = &mut t.checking else {
            return;
        };
        check.pending = check.pending.saturating_sub(1);
        let info = t.info.clone().expect("checking needs metadata");
        let good = result.is_ok_and(|data| hash::verify_piece(&data, &info.pieces[piece as usize]));
        if !good && t.root_lost {
            // The disk went away under the read: it says nothing about the piece.
            check.retry(piece);
            return;
        }
        match (good, &check.kind) {
            (true, _) => {
                t.have.set(piece);
            }
            (false, CheckKind::Sample) => check.failed += 1,
            (false, _) => {
                t.have.clear(piece);
            }
        }
        self.drive_checking(ih, out);
    }

    /// Keeps a check going: a few piece reads in flight until every piece is done.
    fn drive_checking(&mut self, ih: InfoHash, out: &mut Vec<Action>) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        if t.paused || t.root_lost || t.moving.is_some() {
            return;
        }
        let Some(check) = &mut t.checking else {
            return;
        };
        while check.pending < 4 {
            let Some(piece) = check.next_piece() else {
                break;
            };
            if check.kind == CheckKind::Pieces {
                t.have.clear(piece);
            }
            out.push(Action::ReadPiece {
                info_hash: ih,
                piece,
            });
            check.pending += 1;
        }
        if check.pending > 0 || !check.all_issued() {
            return;
        }
        let sample_failed = check.kind == CheckKind::Sample && check.failed > 0;
        t.checking = None;
        t.dirty = true;
        t.save_now = true;
        if sample_failed {
            t.note =
                Some("pieces sampled from the returned storage root failed: full recheck".into());
            // Nothing of that disk is trusted until it is read back.
            t.have = Bitfield::new(t.have.len());
            t.checking = Some(Check::full(t.have.len()));
            self.drive_checking(ih, out);
            return;
        }
        if t.is_finished() {
            t.completed_at = t.completed_at.or(Some(t.added_at));
        } else {
            t.completed_at = None;
        }
    }

    fn update_interest(&mut self, ih: InfoHash, out: &mut Vec<Action>) {
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        let keys: Vec<PeerKey> = t.peers.iter().copied().collect();
        let finished = t.is_finished();
        let mut seeds = Vec::new();
        for k in keys {
            let t = &self.torrents[&ih];
            let Some(p) = self.peers.get_mut(&k) else {
                continue;
            };
            if p.phase != Phase::Active {
                continue;
            }
            Self::refresh_interest(t, p, k, out);
            let peer_is_seed = !p.have.is_empty() && p.have.all();
            if finished && peer_is_seed && t.info.is_some() {
                seeds.push(k);
            }
        }
        // Two seeds have nothing to say to each other.
        for k in seeds {
            self.close(k, CloseReason::NothingToExchange, out);
        }
    }

    // ------------------------------------------------------------------ requests

    fn request_more(&mut self, now: Time, key: PeerKey, out: &mut Vec<Action>) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        if p.phase != Phase::Active || p.peer_choking || !p.am_interested {
            return;
        }
        let Some(t) = p.info_hash.and_then(|h| self.torrents.get_mut(&h)) else {
            return;
        };
        if !t.is_running() {
            return;
        }
        let piece_len = t
            .info
            .as_ref()
            .map_or(0, |i| u64::from(i.geometry.piece_length()));
        if t.writing.len() as u64 * piece_len > MAX_WRITE_BACKLOG {
            return; // the disk is behind; requests resume as writes complete
        }
        // Keep `request_queue_time` worth of the peer's rate requested ahead.
        let rate = u128::from(p.down.rate(now));
        let ahead_bytes = rate * self.cfg.request_queue_time.as_millis() / 1000;
        let blocks = usize::try_from(ahead_bytes / u128::from(crate::metainfo::BLOCK_LEN))
            .unwrap_or(usize::MAX);
        let desired = if p.snubbed {
            1
        } else {
            blocks
                .max(MIN_REQUESTS)
                .min(self.cfg.request_queue_max)
                .min(p.remote_reqq as usize)
        };
        if p.inflight.len() >= desired {
            return;
        }
        let want = desired - p.inflight.len();
        let mut picked = t.pick(&p.have, &p.inflight, want, &mut self.rng);
        // Download caps: ask only for what the budgets allow now.
        let mut allowed = 0;
        for r in &picked {
            let n = u64::from(r.len);
            // Both budgets must allow it; check without taking, then take both.
            if t.down_limit.wait(now, n) > Duration::ZERO
                || self.global_down.wait(now, n) > Duration::ZERO
            {
                break;
            }
            t.down_limit.take(now, n);
            self.global_down.take(now, n);
            allowed += 1;
        }
        for r in picked.drain(allowed..) {
            t.release(&r);
        }
        if picked.is_empty() {
            return;
        }
        let msgs: Vec<Message> = picked.iter().map(|r| Message::Request(*r)).collect();
        for r in picked {
            p.inflight.push(InFlight { req: r, sent: now });
        }
        self.send(now, key, &msgs, out);
    }

    fn serve_uploads(&mut self, now: Time, key: PeerKey, out: &mut Vec<Action>) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let Some(ih) = p.info_hash else { return };
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        while p.reads_pending < READS_PER_PEER && !p.am_choking && p.send_backlog < MAX_SEND_BACKLOG
        {
            let Some(&r) = p.queue_in.front() else { break };
            let n = u64::from(r.len);
            // Both budgets must allow it; check without taking, then take both.
            if t.up_limit.wait(now, n) > Duration::ZERO
                || self.global_up.wait(now, n) > Duration::ZERO
            {
                break;
            }
            t.up_limit.take(now, n);
            self.global_up.take(now, n);
            p.queue_in.pop_front();
            p.reads_pending += 1;
            out.push(Action::ReadBlock {
                peer: key,
                info_hash: ih,
                req: r,
            });
        }
    }

    // ------------------------------------------------------------------ closing

    /// Closes a connection and forgets it.
    fn close(&mut self, key: PeerKey, reason: CloseReason, out: &mut Vec<Action>) {
        if self.forget(key) {
            out.push(Action::Close { peer: key, reason });
        }
    }

    /// Forgets a connection: its requests go back to the picker, its pieces leave the
    /// availability counts. Returns whether it was known.
    fn forget(&mut self, key: PeerKey) -> bool {
        let Some(p) = self.peers.remove(&key) else {
            return false;
        };
        if let Some(t) = p.info_hash.and_then(|h| self.torrents.get_mut(&h)) {
            t.peers.remove(&key);
            if let Some(a) = t.addrs.get_mut(&p.addr) {
                a.connected = false;
            }
            for f in &p.inflight {
                t.release(&f.req);
            }
            if p.have.len() == t.have.len() {
                for i in p.have.ones() {
                    t.availability[i as usize] -= 1;
                }
            }
        }
        true
    }

    // ------------------------------------------------------------------ ticks

    /// Periodic work: timeouts, the choker, new connections, rate-limited transfers.
    /// Drivers call it every 100 ms or so.
    pub fn on_tick(&mut self, now: Time, out: &mut Vec<Action>) {
        let start = out.len();
        self.tick(now, out);
        self.count_sends(&out[start..]);
    }

    fn tick(&mut self, now: Time, out: &mut Vec<Action>) {
        self.expire(now, out);
        if now.since(self.last_choke) >= self.cfg.choke_interval || self.last_choke == Time::ZERO {
            let rotate = now.since(self.last_optimistic) >= self.cfg.optimistic_interval
                || self.last_optimistic == Time::ZERO;
            self.choke_all(now, rotate, out);
            self.last_choke = now;
            if rotate {
                self.last_optimistic = now;
            }
        }
        self.connect_more(now, out);
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            self.request_more(now, k, out);
            self.serve_uploads(now, k, out);
            self.request_metadata(now, k, out);
        }
        let ihs: Vec<InfoHash> = self.torrents.keys().copied().collect();
        for ih in ihs {
            self.drive_checking(ih, out);
            self.drive_move(ih, out);
        }
        self.maybe_save(now, out);
        self.announce_due(now, out);
    }

    fn expire(&mut self, now: Time, out: &mut Vec<Action>) {
        let cfg = self.cfg.clone();
        let mut closing = Vec::new();
        let mut keepalive = Vec::new();
        for (k, p) in &mut self.peers {
            if p.phase != Phase::Active {
                if now.since(p.phase_since) > cfg.handshake_timeout {
                    closing.push(*k);
                }
                continue;
            }
            if now.since(p.last_recv) > cfg.idle_timeout {
                closing.push(*k);
                continue;
            }
            if now.since(p.last_sent) > cfg.keepalive_interval {
                keepalive.push(*k);
            }
            let Some(t) = p.info_hash.and_then(|h| self.torrents.get_mut(&h)) else {
                continue;
            };
            let before = p.inflight.len();
            p.inflight.retain(|f| {
                let late = now.since(f.sent) > cfg.request_timeout;
                if late {
                    t.release(&f.req);
                }
                !late
            });
            if p.inflight.len() < before
                || (!p.inflight.is_empty() && now.since(p.last_block) > cfg.snub_timeout)
            {
                p.snubbed = true;
            }
        }
        for k in closing {
            self.close(k, CloseReason::Timeout, out);
        }
        for k in keepalive {
            self.send(now, k, &[Message::KeepAlive], out);
        }
    }

    fn choke_all(&mut self, now: Time, rotate_optimistic: bool, out: &mut Vec<Action>) {
        let ihs: Vec<InfoHash> = self.torrents.keys().copied().collect();
        for ih in ihs {
            let t = &self.torrents[&ih];
            if !t.is_running() {
                continue;
            }
            let seeding = t.is_finished();
            let mut ranked: Vec<(u64, u64, PeerKey)> = Vec::new();
            for k in &t.peers {
                let Some(p) = self.peers.get_mut(k) else {
                    continue;
                };
                if p.phase != Phase::Active || !p.peer_interested {
                    continue;
                }
                // Leeching: reciprocate by what they give us. Seeding: by what they
                // take (spreads the data fastest).
                let rate = if seeding {
                    p.up.rate(now)
                } else {
                    p.down.rate(now)
                };
                let rate = if p.snubbed && !seeding { 0 } else { rate };
                ranked.push((rate, self.rng.next_u64(), *k));
            }
            ranked.sort_by(|a, b| b.cmp(a));
            let slots = self.cfg.unchoke_slots;
            let regular: Vec<PeerKey> = ranked.iter().take(slots).map(|r| r.2).collect();
            let current_opt = t.peers.iter().copied().find(|k| {
                self.peers
                    .get(k)
                    .is_some_and(|p| p.optimistic && p.peer_interested)
            });
            let optimistic = if rotate_optimistic || current_opt.is_none() {
                let rest: Vec<PeerKey> = ranked.iter().skip(slots).map(|r| r.2).collect();
                if rest.is_empty() {
                    None
                } else {
                    let i = self.rng.below(rest.len() as u64);
                    Some(rest[usize::try_from(i).expect("below len")])
                }
            } else {
                current_opt.filter(|k| !regular.contains(k))
            };
            let keys: Vec<PeerKey> = t.peers.iter().copied().collect();
            for k in keys {
                let unchoke = regular.contains(&k) || optimistic == Some(k);
                let Some(p) = self.peers.get_mut(&k) else {
                    continue;
                };
                if p.phase != Phase::Active {
                    continue;
                }
                p.optimistic = optimistic == Some(k);
                if unchoke && p.am_choking {
                    p.am_choking = false;
                    out.push(Action::Send {
                        peer: k,
                        bytes: Message::Unchoke.encode(),
                    });
                } else if !unchoke && !p.am_choking {
                    p.am_choking = true;
                    let mut bytes = Message::Choke.encode();
                    // With the fast extension, queued requests are rejected one by
                    // one; without it, a choke drops them all.
                    for r in p.queue_in.drain(..) {
                        if p.fast {
                            Message::Reject(r).encode_into(&mut bytes);
                        }
                    }
                    out.push(Action::Send { peer: k, bytes });
                }
            }
        }
    }

    fn connect_more(&mut self, now: Time, out: &mut Vec<Action>) {
        if self.shutting_down {
            return;
        }
        let ihs: Vec<InfoHash> = self.torrents.keys().copied().collect();
        for ih in ihs {
            loop {
                let counts = self.connections();
                if counts.total >= self.cfg.max_connections
                    || counts.half_open >= self.cfg.max_half_open
                {
                    return;
                }
                let t = self.torrents.get_mut(&ih).expect("listed");
                if !t.takes_peers() || t.peers.len() >= self.cfg.max_connections_per_torrent {
                    break;
                }
                // A finished torrent still accepts leechers but does not seek peers
                // that might be seeds as well; it connects only while it has none.
                if t.is_finished() && !t.peers.is_empty() {
                    break;
                }
                let banned = &t.banned;
                let pick = t.addrs.iter().find(|(addr, a)| {
                    !a.connected
                        && a.failures != u32::MAX
                        && !banned.contains(&addr.ip())
                        && a.last_attempt.is_none_or(|at| {
                            // Back off exponentially after failures: 5 s, 10 s, ... 5 min.
                            let wait = Duration::from_secs(5 << a.failures.min(6));
                            now.since(at) >= wait
                        })
                });
                let Some((&addr, _)) = pick else { break };
                let a = t.addrs.get_mut(&addr).expect("found");
                a.connected = true;
                a.last_attempt = Some(now);
                let key = self.new_key();
                let t = self.torrents.get_mut(&ih).expect("listed");
                t.peers.insert(key);
                let mut p = Peer::new(addr, true, now);
                p.info_hash = Some(ih);
                self.peers.insert(key, p);
                out.push(Action::Connect { peer: key, addr });
            }
        }
    }
}

#[cfg(test)]
mod tests;
