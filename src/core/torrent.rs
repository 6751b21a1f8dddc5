//! One torrent's state: pieces we have, pieces in progress, the piece picker, the
//! addresses we know, limits and counters.

use core::net::{IpAddr, SocketAddr};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::bitfield::Bitfield;
use super::event::PeerKey;
use super::peer::InFlight;
use super::rng::Rng;
use crate::metainfo::{BLOCK_LEN, Info};
use crate::proto::BlockRequest;
use crate::ratelimit::{RateTracker, TokenBucket};
use crate::types::Time;

/// What a torrent is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TorrentState {
    /// Waiting for its metadata from peers (added from a magnet link).
    FetchingMetadata,
    /// Hashing what is already on disk.
    Checking,
    /// Downloading.
    Downloading,
    /// Complete and uploading.
    Seeding,
    /// Stopped by the user.
    Paused,
    /// Its data is being moved to another storage root.
    Moving,
    /// Stopped by an error (disk full, unwritable storage, its root unmounted, ...).
    Error(String),
}

/// A block slot in a piece being downloaded.
const RECEIVED: u8 = u8::MAX;

#[derive(Debug)]
pub(crate) struct Partial {
    /// Per block: 0 missing, 1..254 outstanding requests, RECEIVED.
    pub blocks: Vec<u8>,
    /// Who sent each received block (for smart-ban).
    pub from: Vec<Option<IpAddr>>,
    pub data: Vec<u8>,
    pub received: u32,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct AddrState {
    pub connected: bool,
    pub failures: u32,
    pub last_attempt: Option<Time>,
}

/// How a block that arrived fits in.
pub(crate) enum BlockOutcome {
    /// Not something we asked for, or already have.
    Unexpected,
    /// Stored; the piece still misses blocks.
    Stored,
    /// Stored, and the piece is whole: its bytes for hashing, and who sent each block.
    PieceComplete(Vec<u8>, Vec<Option<IpAddr>>),
}

#[derive(Debug)]
pub(crate) struct Torrent {
    pub name: String,
    pub root: String,
    pub info: Option<Arc<Info>>,
    pub info_bytes: Option<Arc<Vec<u8>>>,
    pub have: Bitfield,
    pub partial: BTreeMap<u32, Partial>,
    /// Verified pieces on their way to disk.
    pub writing: BTreeSet<u32>,
    pub write_failures: BTreeMap<u32, u32>,
    pub availability: Vec<u32>,
    pub file_priority: Vec<u8>,
    pub piece_priority: Vec<u8>,
    pub sequential: bool,
    pub paused: bool,
    pub error: Option<String>,
    /// Hashing pieces from disk, if any are being checked.
    pub checking: Option<Check>,
    pub peers: BTreeSet<PeerKey>,
    pub addrs: BTreeMap<SocketAddr, AddrState>,
    pub banned: BTreeSet<IpAddr>,
    pub down_limit: TokenBucket,
    pub up_limit: TokenBucket,
    pub down_rate: RateTracker,
    pub up_rate: RateTracker,
    pub downloaded: u64,
    pub uploaded: u64,
    pub wasted: u64,
    pub hash_failures: u64,
    /// Per peer address: pieces it alone sent that failed their hash.
    pub strikes: BTreeMap<IpAddr, u32>,
    /// Per failed piece: (block, sender, SHA-1 of what they sent).
    pub smart_ban: BTreeMap<u32, Vec<(u32, IpAddr, [u8; 20])>>,
    /// Unix seconds.
    pub added_at: u64,
    /// Unix seconds.
    pub completed_at: Option<u64>,
    /// The storage root's token (resume records name it).
    pub root_token: String,
    /// Tracker tiers (kept for the resume record; the control plane announces).
    pub trackers: Vec<Vec<String>>,
    /// When to announce to which of them, and what they said last.
    pub announcer: super::announce::Announcer,
    /// Something changed since the last resume save (the counters are compared
    /// with `saved_counters` instead).
    pub dirty: bool,
    /// Save at the next chance, not at the next interval (completion, pause, ...).
    pub save_now: bool,
    /// Files written since the last save: `fdatasync`ed before the next one.
    pub touched: BTreeSet<usize>,
    /// Counters as of the last save (a change makes the torrent dirty).
    pub saved_counters: (u64, u64),
    /// Peers that completed a handshake, with when (unix seconds).
    pub good_peers: BTreeMap<SocketAddr, u64>,
    /// The storage root is gone (unmounted): stopped until it returns.
    pub root_lost: bool,
    /// Moving to (root path, root token), waiting for writes to drain or the driver.
    pub moving: Option<(String, String)>,
    /// The driver has prepared the torrent's files at their current place (folders,
    /// empty files): until then it is not complete, whatever pieces it has.
    pub storage_ready: bool,
    /// Whether the move has been handed to the driver.
    pub move_started: bool,
    /// Paused before the move started (it stays paused after).
    pub paused_before_move: bool,
    /// The last thing worth telling about this torrent (a partial recheck on restore,
    /// a failed move, a failed resume save).
    pub note: Option<String>,
}

/// How a check is going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CheckKind {
    /// Every piece; what is had is forgotten first.
    Full,
    /// The listed pieces (their bits cleared first), e.g. files changed on restore.
    Pieces,
    /// A sample of had pieces, without forgetting them; any failure means a full check.
    Sample,
}

/// Pieces being hashed from disk.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub kind: CheckKind,
    /// Pieces left to read in order (a full check: no list of every piece).
    range: std::ops::Range<u32>,
    /// Listed pieces left to read, last first (and reads to retry).
    list: Vec<u32>,
    /// Reads in flight.
    pub pending: u32,
    /// Pieces that failed (for `Sample`).
    pub failed: u32,
    /// Pieces whose read failed, waiting for a root check to tell a missing file
    /// from a disk that went away: (piece, the first root check that can tell).
    pub doubtful: Vec<(u32, u64)>,
}

impl Check {
    /// Every piece, from the first.
    pub fn full(pieces: u32) -> Check {
        Check {
            kind: CheckKind::Full,
            range: 0..pieces,
            list: Vec::new(),
            pending: 0,
            failed: 0,
            doubtful: Vec::new(),
        }
    }

    /// The listed pieces, in order.
    pub fn of(kind: CheckKind, mut pieces: Vec<u32>) -> Check {
        pieces.sort_unstable_by(|a, b| b.cmp(a));
        pieces.dedup();
        Check {
            kind,
            range: 0..0,
            list: pieces,
            pending: 0,
            failed: 0,
            doubtful: Vec::new(),
        }
    }

    /// The next piece to read.
    pub fn next_piece(&mut self) -> Option<u32> {
        self.list.pop().or_else(|| self.range.next())
    }

    /// Reads `piece` again later (its read could not be trusted).
    pub fn retry(&mut self, piece: u32) {
        self.list.push(piece);
    }

    /// Every piece has been handed out for reading.
    pub fn all_issued(&self) -> bool {
        self.list.is_empty() && self.range.is_empty()
    }

    /// Every piece has been read and settled.
    pub fn done(&self) -> bool {
        self.pending == 0 && self.all_issued() && self.doubtful.is_empty()
    }

    /// A piece whose read failed and whose disk was, per the root check `id`,
    /// there: the piece is not.
    pub fn settle_missing(&mut self, have: &mut Bitfield, piece: u32) {
        if self.kind == CheckKind::Sample {
            self.failed += 1;
        } else {
            have.clear(piece);
        }
    }
}

impl Torrent {
    pub fn new(name: String, root: String, added_at: u64) -> Torrent {
        Torrent {
            name,
            root,
            info: None,
            info_bytes: None,
            have: Bitfield::default(),
            partial: BTreeMap::new(),
            writing: BTreeSet::new(),
            write_failures: BTreeMap::new(),
            availability: Vec::new(),
            file_priority: Vec::new(),
            piece_priority: Vec::new(),
            sequential: false,
            paused: false,
            error: None,
            checking: None,
            peers: BTreeSet::new(),
            addrs: BTreeMap::new(),
            banned: BTreeSet::new(),
            down_limit: TokenBucket::new(0),
            up_limit: TokenBucket::new(0),
            down_rate: RateTracker::default(),
            up_rate: RateTracker::default(),
            downloaded: 0,
            uploaded: 0,
            wasted: 0,
            hash_failures: 0,
            strikes: BTreeMap::new(),
            storage_ready: false,
            smart_ban: BTreeMap::new(),
            added_at,
            completed_at: None,
            announcer: super::announce::Announcer::new(Vec::new()),
            root_token: String::new(),
            trackers: Vec::new(),
            dirty: true,
            save_now: true,
            touched: BTreeSet::new(),
            saved_counters: (0, 0),
            good_peers: BTreeMap::new(),
            root_lost: false,
            moving: None,
            move_started: false,
            paused_before_move: false,
            note: None,
        }
    }

    /// Installs the metadata: sizes every per-piece table.
    pub fn set_info(&mut self, info: Arc<Info>, info_bytes: Arc<Vec<u8>>) {
        let n = info.geometry.piece_count();
        self.name.clone_from(&info.name);
        self.have = Bitfield::new(n);
        self.availability = vec![0; n as usize];
        if self.file_priority.len() != info.files.len() {
            self.file_priority = vec![1; info.files.len()];
        }
        self.info = Some(info);
        self.info_bytes = Some(info_bytes);
        self.recompute_piece_priority();
    }

    /// A piece is wanted when some file it touches has priority above 0.
    pub fn recompute_piece_priority(&mut self) {
        let Some(info) = &self.info else { return };
        let g = &info.geometry;
        let mut prio = vec![0u8; g.piece_count() as usize];
        for (f, &p) in self.file_priority.iter().enumerate() {
            if info.files[f].attr.pad {
                continue;
            }
            for piece in g.file_pieces(f) {
                prio[piece as usize] = prio[piece as usize].max(p);
            }
        }
        self.piece_priority = prio;
    }

    pub fn state(&self) -> TorrentState {
        if let Some(e) = &self.error {
            return TorrentState::Error(e.clone());
        }
        if self.moving.is_some() {
            return TorrentState::Moving;
        }
        if self.paused {
            return TorrentState::Paused;
        }
        if self.info.is_none() {
            return TorrentState::FetchingMetadata;
        }
        if self.checking.is_some() || !self.storage_ready {
            return TorrentState::Checking;
        }
        if self.is_finished() {
            return TorrentState::Seeding;
        }
        TorrentState::Downloading
    }

    /// Opening the torrent's storage again, if its files were never prepared
    /// (a root that was missing, a failure since mended) and its metadata is known.
    pub fn reopen_storage(&self, info_hash: crate::types::InfoHash) -> Option<super::Action> {
        if self.storage_ready {
            return None;
        }
        let (info, info_bytes) = (self.info.as_ref()?, self.info_bytes.as_ref()?);
        Some(super::Action::OpenStorage {
            info_hash,
            info: Arc::clone(info),
            info_bytes: Arc::clone(info_bytes),
            root: self.root.clone(),
            save_meta: false,
        })
    }

    /// Every wanted piece is on disk (all pieces, unless files are skipped).
    pub fn is_finished(&self) -> bool {
        self.info.is_some()
            && (0..self.have.len())
                .all(|p| self.have.get(p) || self.piece_priority[p as usize] == 0)
    }

    /// Downloading (or seeding) normally: not paused, errored, checking or fetching.
    pub fn is_running(&self) -> bool {
        !self.paused
            && self.error.is_none()
            && self.checking.is_none()
            && self.info.is_some()
            && self.moving.is_none()
    }

    pub fn wants(&self, piece: u32) -> bool {
        !self.have.get(piece)
            && self
                .piece_priority
                .get(piece as usize)
                .is_some_and(|&p| p > 0)
            && !self.writing.contains(&piece)
    }

    /// Whether `peer_have` holds any piece we want.
    pub fn interesting(&self, peer_have: &Bitfield) -> bool {
        self.info.is_some() && peer_have.ones().any(|p| self.wants(p))
    }

    pub fn have_bytes(&self) -> u64 {
        let Some(info) = &self.info else { return 0 };
        self.have
            .ones()
            .map(|p| u64::from(info.geometry.piece_len(p)))
            .sum()
    }

    pub fn wanted_bytes_left(&self) -> u64 {
        let Some(info) = &self.info else { return 0 };
        (0..self.have.len())
            .filter(|&p| self.wants(p))
            .map(|p| u64::from(info.geometry.piece_len(p)))
            .sum()
    }

    fn block_count(&self, piece: u32) -> u32 {
        let info = self.info.as_ref().expect("picker runs with metadata");
        info.geometry.piece_len(piece).div_ceil(BLOCK_LEN)
    }

    fn block_req(&self, piece: u32, block: u32) -> BlockRequest {
        let info = self.info.as_ref().expect("picker runs with metadata");
        let len = info.geometry.piece_len(piece);
        let offset = block * BLOCK_LEN;
        BlockRequest {
            piece,
            offset,
            len: BLOCK_LEN.min(len - offset),
        }
    }

    /// Chooses up to `n` blocks to request from a peer that has `peer_have` and already
    /// has `inflight` outstanding. Order: finish pieces in progress (fullest first),
    /// then new pieces rarest-first with random ties (or in order, when sequential),
    /// then, once every missing block is requested, endgame duplicates.
    pub fn pick(
        &mut self,
        peer_have: &Bitfield,
        inflight: &[InFlight],
        n: usize,
        rng: &mut Rng,
    ) -> Vec<BlockRequest> {
        let mut out = Vec::new();
        if n == 0 || self.info.is_none() {
            return out;
        }
        // 1. Pieces in progress, fullest first.
        let mut partial: Vec<(u32, u32)> = self
            .partial
            .iter()
            .filter(|(p, _)| peer_have.get(**p))
            .map(|(p, part)| (part.received, *p))
            .collect();
        partial.sort_by(|a, b| b.cmp(a));
        for &(_, piece) in &partial {
            self.take_missing(piece, n, &mut out);
            if out.len() >= n {
                return out;
            }
        }
        // 2. New pieces.
        while out.len() < n {
            let Some(piece) = self.pick_new_piece(peer_have, rng) else {
                break;
            };
            let blocks = self.block_count(piece) as usize;
            let len = self
                .info
                .as_ref()
                .expect("checked above")
                .geometry
                .piece_len(piece) as usize;
            self.partial.insert(
                piece,
                Partial {
                    blocks: vec![0; blocks],
                    from: vec![None; blocks],
                    data: vec![0; len],
                    received: 0,
                },
            );
            self.take_missing(piece, n, &mut out);
        }
        if !out.is_empty() || self.any_unrequested() {
            return out;
        }
        // 3. Endgame: every missing block is requested somewhere; ask this peer too
        // for blocks it does not already have in flight (at most two copies each).
        for &(_, piece) in &partial {
            let count = self.block_count(piece);
            for b in 0..count {
                let req = self.block_req(piece, b);
                let state = self.partial[&piece].blocks[b as usize];
                let mine = inflight.iter().any(|f| f.req == req) || out.contains(&req);
                if (1..=1).contains(&state) && !mine {
                    self.partial.get_mut(&piece).expect("listed").blocks[b as usize] += 1;
                    out.push(req);
                    if out.len() >= n {
                        return out;
                    }
                }
            }
        }
        out
    }

    fn take_missing(&mut self, piece: u32, n: usize, out: &mut Vec<BlockRequest>) {
        let count = self.block_count(piece);
        for b in 0..count {
            if out.len() >= n {
                return;
            }
            let req = self.block_req(piece, b);
            let part = self.partial.get_mut(&piece).expect("caller checked");
            if part.blocks[b as usize] == 0 {
                part.blocks[b as usize] = 1;
                out.push(req);
            }
        }
    }

    fn any_unrequested(&self) -> bool {
        self.partial.values().any(|p| p.blocks.contains(&0))
            || (0..self.have.len()).any(|p| self.wants(p) && !self.partial.contains_key(&p))
    }

    fn pick_new_piece(&self, peer_have: &Bitfield, rng: &mut Rng) -> Option<u32> {
        let candidates = (0..self.have.len())
            .filter(|&p| peer_have.get(p) && self.wants(p) && !self.partial.contains_key(&p));
        if self.sequential {
            return candidates
                .min_by_key(|&p| (std::cmp::Reverse(self.piece_priority[p as usize]), p));
        }
        // Highest priority, then rarest; ties broken uniformly at random (reservoir).
        let mut best: Option<(u8, u32)> = None;
        let mut chosen = None;
        let mut ties = 0u64;
        for p in candidates {
            let key = (
                self.piece_priority[p as usize],
                self.availability[p as usize],
            );
            let better = match best {
                None => true,
                Some((bp, ba)) => key.0 > bp || (key.0 == bp && key.1 < ba),
            };
            let same = best == Some(key);
            if better {
                best = Some(key);
                chosen = Some(p);
                ties = 1;
            } else if same {
                ties += 1;
                if rng.below(ties) == 0 {
                    chosen = Some(p);
                }
            }
        }
        chosen
    }

    /// Gives a requested block back to the picker (timeout, choke, reject, close).
    pub fn release(&mut self, req: &BlockRequest) {
        if let Some(part) = self.partial.get_mut(&req.piece) {
            let b = (req.offset / BLOCK_LEN) as usize;
            if let Some(s) = part.blocks.get_mut(b)
                && *s != RECEIVED
                && *s > 0
            {
                *s -= 1;
            }
        }
    }

    /// Stores a block that arrived from `from`.
    pub fn on_block(&mut self, piece: u32, offset: u32, data: &[u8], from: IpAddr) -> BlockOutcome {
        let Some(part) = self.partial.get_mut(&piece) else {
            return BlockOutcome::Unexpected;
        };
        if !offset.is_multiple_of(BLOCK_LEN) {
            return BlockOutcome::Unexpected;
        }
        let b = (offset / BLOCK_LEN) as usize;
        let start = offset as usize;
        let Some(slot) = part.blocks.get_mut(b) else {
            return BlockOutcome::Unexpected;
        };
        let expected = BLOCK_LEN.min(u32::try_from(part.data.len() - start).unwrap_or(0)) as usize;
        if *slot == RECEIVED || *slot == 0 || data.len() != expected {
            return BlockOutcome::Unexpected;
        }
        *slot = RECEIVED;
        part.from[b] = Some(from);
        part.data[start..start + data.len()].copy_from_slice(data);
        part.received += 1;
        if part.received as usize == part.blocks.len() {
            let done = self.partial.remove(&piece).expect("present");
            return BlockOutcome::PieceComplete(done.data, done.from);
        }
        BlockOutcome::Stored
    }
}
