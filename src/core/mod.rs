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

mod add;
mod addrs;
mod alias;
pub mod announce;
mod bitfield;
mod buckets;
mod checks;
mod choker;
mod clock;
mod command;
mod commands;
mod crypt;
mod event;
mod extension;
mod failures;
mod fields;
mod filtered;
mod hashes;
mod invariants;
mod layers;
pub mod layout;
mod metadata;
mod ourip;
mod peer;
mod persist;
mod pex;
mod picker;
#[doc(hidden)]
pub mod picker_bench;
mod pieces;
pub mod queue;
pub mod record;
pub mod rename;
mod requests;
mod resident;
mod rng;
mod room;
mod roots;
mod session;
pub mod share;
mod slots;
mod stamps;
mod stats;
mod superseed;
mod tick;
mod torrent;
mod tracking;
mod transport;
mod turns;
pub mod versions;
mod walk;
mod webseed;

use core::net::{IpAddr, SocketAddr};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

pub use add::{
    AddTorrent, FinishRoot, History, MAX_CATEGORY_LEN, MAX_DISPLAY_NAME_LEN, MAX_LABEL_LEN,
    MAX_LABELS, MAX_PRIORITY, Resume, StoredTorrent, TorrentSettings, TorrentSource,
    clean_category, clean_display_name, clean_labels,
};
pub use addrs::{PeerSource, PeerSources};
pub use alias::NameChange;
pub use bitfield::Bitfield;
pub use choker::SlotMode;
pub use clock::ClockSecs;
pub use command::{Command, CoreCounters, Reply, Tunables};
pub use crypt::{Encryption, req2};
pub use event::{
    Action, AnnounceTo, CloseReason, DiskError, Event, Milestone, MoveStorage, OpenStorage,
    PeerKey, ResumeSave, Verdict, WebRange,
};
pub use rng::Rng;
pub use share::{GlobalShare, ShareAction, ShareLimits};
pub use stamps::stamps_digest;
pub use stats::{PieceStates, SwarmCounts, TorrentStats};
pub use torrent::TorrentState;
pub use transport::{Transport, TransportMode};
pub use turns::{CheckTurns, TurnsNow};

use metadata::MetadataFetch;
use peer::{EarlyHave, InFlight, Peer, Phase};
use picker::BlockOutcome;
use pieces::note_upload;
use torrent::{Check, CheckKind, StampsDue, Torrent};

use crate::hash;
use crate::metainfo::{Info, Magnet, Metainfo, MetainfoLimits};
use crate::proto::ext::{ExtHandshake, MAX_METADATA_SIZE, UT_METADATA_ID, UtMetadata};
use crate::proto::{BlockRequest, HANDSHAKE_LEN, Handshake, Message, MessageDecoder, PIECE_HEAD};
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
    /// Regular unchoke slots per torrent (`Fixed`), or the fewest (`FillUplink`).
    pub unchoke_slots: usize,
    /// How the number of unchoke slots is chosen.
    pub slot_mode: SlotMode,
    /// Most regular unchoke slots per torrent (`FillUplink`).
    pub max_unchoke_slots: usize,
    /// `FillUplink`: bytes per second the k-th unchoked peer must get, per k, for
    /// its slot to stay open.
    pub slot_rate_step: u64,
    /// How often the choker re-ranks peers.
    pub choke_interval: Duration,
    /// How often the optimistic unchoke moves to another peer.
    pub optimistic_interval: Duration,
    /// Most requests queued in either direction with one peer.
    pub request_queue_max: usize,
    /// Keep this much of a peer's download rate requested ahead. One second is
    /// many round trips on any real path (0.5 s lost 6% of the WAN bench's
    /// speed; 3 s gained nothing). A piece asked for holds no memory until its
    /// first block comes (see `Picker::on_block`).
    pub request_queue_time: Duration,
    /// A request not answered in this time is given to another peer.
    pub request_timeout: Duration,
    /// A peer that sends no block for this long while we wait is snubbed.
    pub snub_timeout: Duration,
    /// Time allowed for a connection and its handshake.
    pub handshake_timeout: Duration,
    /// Close a connection with no traffic in either direction for this long.
    pub idle_timeout: Duration,
    /// How often the storage roots of the torrents are checked (unmounted, gone,
    /// back).
    pub root_check_interval: Duration,
    /// Bytes of pieces handed to the driver to verify at once in a check (two
    /// such batches are in flight per torrent).
    pub check_batch_bytes: u64,
    /// Torrents whose checks read at once (the others wait their turn, in
    /// order; see `turns`), until the core is given an engine's shared turns
    /// (`Core::share_check_turns`). At least one.
    pub checks_at_once: usize,
    /// Send a keep-alive after this much silence.
    pub keepalive_interval: Duration,
    /// Global download cap in bytes per second (0 = none).
    pub download_rate_limit: u64,
    /// Global upload cap in bytes per second (0 = none).
    pub upload_rate_limit: u64,
    /// The global share limits and what reaching one does (changed at run
    /// time with `Command::SetGlobalShare`).
    pub share: GlobalShare,
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
    /// Raised while the core has more lanes (trackers announced to at once)
    /// than this rate can announce to every 15 minutes, so none falls behind
    /// its interval.
    pub announces_per_sec: u32,
    /// Peers asked of a tracker per announce.
    pub numwant: u32,
    /// Which of a torrent's trackers are announced to at once.
    pub tracker_reach: announce::Reach,
    /// Peer exchange (BEP 11) for torrents that are not private.
    pub pex: bool,
    /// Message stream encryption (see [`Encryption`]).
    pub encryption: Encryption,
    /// Which transports we dial (see [`TransportMode`]).
    pub transport: TransportMode,
    /// The driver can send blocks straight from the files to plaintext TCP peers
    /// ([`Action::SendBlock`]) instead of reading them for the core first.
    pub send_from_files: bool,
    /// Secret bytes the encryption's private keys are derived from (the driver
    /// sets random ones; a sim run keeps its seed's).
    pub secret: [u8; 20],
    /// Complete v1 pieces of up to 1 MiB wait (briefly) to be hashed sixteen at
    /// a time (see `core::checks`). On by default where the CPU has the
    /// multi-buffer SHA-1 ([`crate::hash::bulk_backend`]).
    pub batch_piece_checks: bool,
    /// The IP filter at start ([`Command::SetIpFilter`] replaces it).
    pub ip_filter: std::sync::Arc<crate::ipfilter::IpFilter>,
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
            slot_mode: SlotMode::FillUplink,
            max_unchoke_slots: 64,
            slot_rate_step: 2048,
            choke_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
            request_queue_max: 500,
            request_queue_time: Duration::from_secs(1),
            request_timeout: Duration::from_secs(20),
            snub_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            root_check_interval: Duration::from_secs(1),
            check_batch_bytes: 64 << 20,
            checks_at_once: 1,
            keepalive_interval: Duration::from_secs(90),
            download_rate_limit: 0,
            upload_rate_limit: 0,
            share: GlobalShare::default(),
            seed: 0,
            save_interval: Duration::from_secs(5),
            unix_at_zero: 0,
            root_sample_pieces: 16,
            announces_per_sec: 50,
            numwant: 200,
            tracker_reach: announce::Reach::default(),
            pex: true,
            encryption: Encryption::default(),
            transport: TransportMode::default(),
            secret: [0; 20],
            send_from_files: false,
            batch_piece_checks: crate::hash::bulk_backend() == "avx512-x16",
            ip_filter: std::sync::Arc::default(),
        }
    }
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
    /// Where its address was learned (empty for a peer that connected to us).
    pub sources: Vec<PeerSource>,
    /// Its encryption: `none`, `mse` (plaintext after an MSE handshake) or `rc4`.
    pub encryption: &'static str,
    /// How the connection travels.
    pub transport: Transport,
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
    /// Boxed: a map node holds eleven entries, and a node two-thirds full of
    /// 1.4 KB torrents wasted a third of them (100,000 torrents: ~70 MB).
    torrents: BTreeMap<InfoHash, Box<Torrent>>,
    /// Per super-seeded torrent, how many connected peers were shown each
    /// piece and have not reported it (`superseed`).
    super_shown: BTreeMap<InfoHash, Vec<u16>>,
    metadata: BTreeMap<InfoHash, MetadataFetch>,
    /// v2-only torrents from magnet links waiting for their piece layers (one
    /// per such torrent; bounded by the torrents).
    layers: BTreeMap<InfoHash, layers::LayerFetch>,
    /// Block hash reads out for peers' hash requests (at most
    /// [`hashes::MAX_BLOCK_READS`]).
    block_reads: usize,
    /// The global share limits and their action.
    share: GlobalShare,
    /// Torrents the core removed by itself (a share limit, a merged
    /// duplicate), for the engine (at most [`share::MAX_REMOVED`]).
    removed_here: Vec<InfoHash>,
    /// Torrents moved to where they finish since the engine last asked (it
    /// places them in their new root); at most [`share::MAX_REMOVED`].
    relocated_here: Vec<InfoHash>,
    /// Download and upload rates under which a running torrent is idle.
    slow_rates: (u64, u64),
    /// The last stats version given out (see `versions`).
    stats_counter: u64,
    /// Recent removals with their versions (at most
    /// [`versions::REMOVALS_KEPT`]; the oldest goes first).
    removals: std::collections::VecDeque<(u64, InfoHash)>,
    /// The version of the newest removal forgotten.
    removals_dropped: u64,
    peers: BTreeMap<PeerKey, Peer>,
    /// What peers call our torrents (ids, hybrids' aliases, MSE's obfuscated
    /// names).
    names: alias::WireNames,
    /// MSE key pairs made so far (the counter their secrets are derived from).
    mse_keys: u64,
    /// [`Action::StatFiles`] out, awaiting their answer.
    stats_out: u32,
    /// Whose checks read now, and who waits for a turn (`turns`).
    turns: turns::Turns,
    /// Restored torrents whose files are still to be compared with their
    /// records, in the order they came (bound: one entry per restored
    /// torrent, each taken once; see `core::stamps`).
    to_compare: std::collections::VecDeque<InfoHash>,
    /// The engine's restore is over: restored torrents' files are compared
    /// from now on ([`Command::RestoreDone`]).
    restore_done: bool,
    /// Our addresses as peers see them (BEP 10 `yourip`).
    our_addrs: ourip::OurAddrs,
    /// The IP filter and its refusals.
    ip_filter: filtered::PeerFilter,
    next_key: u64,
    global_down: TokenBucket,
    global_up: TokenBucket,
    down_rate: RateTracker,
    up_rate: RateTracker,
    /// Payload bytes received and sent since the core started (this run's
    /// totals, whatever torrents came and went).
    session_bytes: (u64, u64),
    last_choke: Time,
    last_optimistic: Time,
    /// Resume saves handed to the driver and not yet answered.
    saves_in_flight: u32,
    next_save_id: u64,
    last_save: Time,
    /// Per save in flight: the torrents in it and the files it syncs (given back
    /// to the next save if it fails).
    save_batches: BTreeMap<u64, Vec<(InfoHash, Vec<usize>)>>,
    /// Announces that may start now (refilled at `announce_rate`).
    announce_budget: f64,
    /// Announces a second the budget refills at: `announces_per_sec`, or more
    /// where this core's trackers need more to be announced to on time (see
    /// `tracking::steady_rate`).
    announce_rate: f64,
    announce_refilled: Time,
    /// Where the last announce scan stopped for lack of budget: the next starts
    /// after it, so every torrent gets its turn.
    announce_cursor: Option<InfoHash>,
    /// Torrents added or resumed, or whose files were opened or checked, during
    /// this call into the core: their `started` announce goes at its end if
    /// the budget allows (see `announce_promptly`), not at the next tick.
    /// Emptied by every call, so bounded by what one call does (an add of many
    /// torrents: one entry each, a few more as their files open or checks end).
    announce_soon: Vec<InfoHash>,
    /// Which torrents each tick visits (see `walk`).
    attention: walk::Attention,
    /// The roots' set and state between checks (see `roots`).
    root_book: roots::RootBook,
    /// Announces handed to the driver and not yet answered (stopped ones of
    /// removed torrents included).
    announces_in_flight: BTreeSet<(InfoHash, u64)>,
    /// Announce failures counted per tracker (see `failures`).
    announce_failures: failures::FailureLog,
    /// Set by [`Core::stop_announcing`]: no torrent is announced any more.
    announcing_stopped: bool,
    /// Set by [`Core::shut_down`]: no connection is made or taken any more.
    shutting_down: bool,
    /// When roots were last checked, whether that check is still out, how many
    /// were issued (the last one's id), and whether another is wanted at once.
    last_root_check: Time,
    root_check_in_flight: bool,
    root_checks_issued: u64,
    root_check_wanted: bool,
    /// Bytes hashed so far (downloaded pieces and checks).
    hashed_bytes: u64,
    /// [`Action::LoadMeta`]s issued.
    metadata_loads: u64,
    /// Complete pieces waiting to be hashed together (at most
    /// [`crate::hash::LANES`], of at most 1 MiB each: see `checks`).
    waiting: Vec<checks::Waiting>,
}

/// Reads for uploads in flight per peer.
const READS_PER_PEER: u32 = 4;
/// Bytes waiting in the driver for one peer before uploads to it pause.
const MAX_SEND_BACKLOG: usize = 1 << 20;
/// Fewest requests kept in flight with an unchoked peer.
const MIN_REQUESTS: usize = 4;
/// Requests to a peer that has sent no block yet: 512 KiB, a round trip's worth
/// at 5 MiB/s and 100 ms, where four blocks left a WAN link idle for most of
/// the first round trip. A slow peer keeps them until it sends them or they
/// move to a faster one at the end (`steal_requests`).
const FIRST_REQUESTS: usize = 32;
/// Verified bytes waiting for the disk, per torrent, before no new blocks are
/// requested: when the network outruns the disk, memory stays bounded. Pieces
/// waiting for their check (`checks`) count too. 16 MiB: at 32 a 1 GiB
/// single-file download peaked at 55 MiB RSS when the page cache's writes
/// slowed, with no gain in speed.
const MAX_WRITE_BACKLOG: u64 = 16 << 20;
/// Readers' windows of urgent pieces per torrent (files streamed at once).
const MAX_READERS: usize = 16;
/// Pieces that fail their hash, each sent whole by one peer, before that peer is
/// banned (libtorrent's trust points come to about the same).
const MAX_HASH_STRIKES: u32 = 4;
/// After this many failed writes of one piece, the torrent stops with an error.
const MAX_WRITE_FAILURES: u32 = 8;
/// A torrent whose disk is full asks for nothing new for this long, then tries
/// again (what arrives meanwhile is still written; seeding goes on).
const DISK_FULL_RETRY: Duration = Duration::from_secs(30);
/// How the error of a torrent whose files changed under it begins (a recheck
/// clears it).
const DATA_CHANGED: &str = "its data changed on disk";
/// How the error of a torrent restored without files it had begins (a resume
/// or a recheck clears it, with a full check).
const FILES_GONE: &str = "its files are missing";
/// How a torrent's note begins while its disk is full.
const DISK_FULL_NOTE: &str = "disk full";

impl Core {
    /// A core with no torrents.
    pub fn new(cfg: CoreConfig) -> Core {
        let cfg_announces = cfg.announces_per_sec;
        let checks_at_once = cfg.checks_at_once;
        let share = cfg.share;
        let ip_filter = filtered::PeerFilter::new(std::sync::Arc::clone(&cfg.ip_filter));
        Core {
            rng: Rng::new(cfg.seed),
            global_down: TokenBucket::new(cfg.download_rate_limit),
            global_up: TokenBucket::new(cfg.upload_rate_limit),
            cfg,
            torrents: BTreeMap::new(),
            super_shown: BTreeMap::new(),
            metadata: BTreeMap::new(),
            layers: BTreeMap::new(),
            block_reads: 0,
            share,
            removed_here: Vec::new(),
            relocated_here: Vec::new(),
            slow_rates: (2048, 2048),
            stats_counter: 0,
            removals: std::collections::VecDeque::new(),
            removals_dropped: 0,
            peers: BTreeMap::new(),
            names: Default::default(),
            mse_keys: 0,
            stats_out: 0,
            turns: turns::Turns::alone(checks_at_once),
            to_compare: std::collections::VecDeque::new(),
            restore_done: false,
            our_addrs: ourip::OurAddrs::default(),
            ip_filter,
            next_key: 1,
            down_rate: RateTracker::default(),
            up_rate: RateTracker::default(),
            session_bytes: (0, 0),
            last_choke: Time::ZERO,
            last_optimistic: Time::ZERO,
            saves_in_flight: 0,
            announce_budget: f64::from(cfg_announces),
            announce_rate: f64::from(cfg_announces),
            announce_refilled: Time::ZERO,
            announce_cursor: None,
            announce_soon: Vec::new(),
            attention: walk::Attention::default(),
            root_book: roots::RootBook::default(),
            announces_in_flight: BTreeSet::new(),
            announce_failures: failures::FailureLog::default(),
            announcing_stopped: false,
            shutting_down: false,
            last_root_check: Time::ZERO,
            root_check_in_flight: false,
            root_checks_issued: 0,
            root_check_wanted: false,
            hashed_bytes: 0,
            metadata_loads: 0,
            waiting: Vec::new(),
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
}

#[cfg(test)]
mod cancel_tests;
#[cfg(test)]
mod checks_tests;
#[cfg(test)]
mod finish_tests;
#[cfg(test)]
mod hashes_tests;
#[cfg(test)]
mod layers_tests;
#[cfg(test)]
mod pex_tests;
#[cfg(test)]
mod slots_tests;
#[cfg(test)]
mod stamps_tests;
#[cfg(test)]
mod stats_tests;
#[cfg(test)]
mod superseed_tests;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod turns_tests;
