//! One torrent's state: pieces we have, pieces in progress, the piece picker, the
//! addresses we know, limits and counters.

use core::net::{IpAddr, SocketAddr};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::addrs::AddrState;
use super::bitfield::Bitfield;
use super::event::PeerKey;
use super::peer::InFlight;
use super::picker::{Picker, Wanted};
use super::rng::Rng;
use crate::metainfo::Info;
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
    /// Waiting its turn in the queue (stopped like a paused torrent).
    Queued,
    /// Its data is being moved to another storage root.
    Moving,
    /// Stopped by an error (disk full, unwritable storage, its root unmounted, ...).
    Error(String),
}

#[derive(Debug)]
pub(crate) struct Torrent {
    /// Shared with the stats handed out (a list of every torrent copies no
    /// name, folder or root).
    pub name: Arc<str>,
    /// Where its content lies under the download folder (`Info::content_path`,
    /// worked out once its metadata is laid out): `None` while that is its
    /// name, as for most torrents (nothing held for them).
    pub content_path: Option<Arc<str>>,
    pub root: Arc<str>,
    /// The layout (files, geometry): its `pieces` are always empty, the hashes
    /// are in `meta` while resident.
    pub info: Option<Arc<Info>>,
    /// Piece hashes and metadata bytes, and whether they are in memory.
    pub meta: super::resident::MetaCache,
    pub have: Bitfield,
    /// Which blocks to ask for next, and the pieces in progress.
    pub picker: Picker,
    /// Verified pieces on their way to disk.
    pub writing: BTreeSet<u32>,
    pub write_failures: BTreeMap<u32, u32>,
    /// A block read for a peer failed or came back short: the root check that
    /// can tell a missing or cut file (the torrent then stops until rechecked)
    /// from a disk that went away (the root's own handling), and why.
    pub read_doubt: Option<(u64, String)>,
    /// The disk is full: no new requests until this time (then one more try);
    /// seeding goes on. Cleared by the next piece written.
    pub disk_full: Option<Time>,
    /// Whether a block that could not be read for a peer was logged (once per
    /// torrent until its next check: the disk's answer does not change per block).
    pub read_failure_logged: bool,
    pub file_priority: Vec<u8>,
    /// Per piece, when files differ (see `recompute_piece_priority`).
    pub piece_priority: Vec<u8>,
    /// Every piece's priority when `piece_priority` is empty.
    pub uniform_priority: u8,
    pub sequential: bool,
    /// Pieces readers are waiting for, by reader (see [`Wanted::urgent`]); at
    /// most `MAX_READERS` windows.
    pub urgent: BTreeMap<u64, std::ops::Range<u32>>,
    pub paused: bool,
    pub error: Option<String>,
    /// Hashing pieces from disk, if any are being checked.
    pub checking: Option<Box<Check>>,
    pub peers: BTreeSet<PeerKey>,
    /// The address book (see `addrs.rs`): at most `MAX_KNOWN_ADDRS`.
    pub addrs: BTreeMap<SocketAddr, AddrState>,
    /// Whether a full address book was said in the log.
    pub addrs_full_logged: bool,
    /// The IP filter: an address it blocks is not learned (the core's,
    /// shared; see `core::filtered`).
    pub ip_filter: Arc<crate::ipfilter::IpFilter>,
    /// A hybrid whose v1 pieces are not its v2 pieces (a pad file missing):
    /// found once, said once, its layers never fetched.
    pub hybrid_misaligned: bool,
    /// Peer exchange rounds (see `pex.rs`), once a peer speaks it.
    pub pex: Option<Box<super::pex::PexRound>>,
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
    /// When it completed in the client it was imported from: what the
    /// check at add that finds it whole takes as its completion.
    pub done_elsewhere: Option<u64>,
    /// The storage root's token (resume records name it).
    pub root_token: Arc<str>,
    /// The root has a marker file (see [`super::AddTorrent::root_marked`]).
    pub root_marked: bool,
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
    /// `downloaded` and `uploaded` when this run took it up (a restart's
    /// record; 0 for one added in this run): what it moved this run is the
    /// difference.
    pub session_from: (u64, u64),
    /// Its files' stamps when it began to seed (see `core::stamps`).
    pub stamps: Option<Vec<Option<crate::core::record::FileStamp>>>,
    /// A restart's comparison of its files with its stored resume record,
    /// while due: it waits, its storage not opened, until it is made.
    pub stamps_due: StampsDue,
    /// When its files are stamped next, and whether a stamp is out.
    pub stat_at: Time,
    pub stat_out: bool,
    /// When a whole copy was last seen, ours or a connected peer's, unix
    /// seconds as of its last share pass (0: never; see
    /// `Torrent::seen_complete_at`).
    pub seen_complete: u32,
    /// When it last sent a block.
    pub served_at: Option<Time>,
    /// When it last received a block.
    pub received_at: Option<Time>,
    /// When it last sent or received payload before this run, unix seconds.
    pub active_before: Option<u64>,
    /// The time of its current entry in the core's wake heap (its next
    /// announce; see `core::walk`), or `walk::NO_WAKE`.
    pub wake_at: super::walk::WakeSecs,
    /// Its web seeds (BEP 19; see `core::webseed`).
    pub web_seeds: Vec<super::webseed::WebSeed>,
    /// What a magnet link of it says after its name (`stats::magnet_tail`),
    /// with a fingerprint of the trackers and web seeds it was made of.
    pub magnet_tail: (u64, std::sync::Arc<str>),
    /// What its `.torrent` said of itself (`crate::metainfo::About`'s
    /// record), until written to the session store with its metadata.
    pub about: Option<Arc<Vec<u8>>>,
    /// Peers that completed a handshake, with when (unix seconds).
    pub good_peers: BTreeMap<SocketAddr, u64>,
    /// The storage root is gone (unmounted): stopped until it returns.
    pub root_lost: bool,
    /// Moving to (root path, root token), waiting for writes to drain or the driver.
    pub moving: Option<Box<(String, String, bool)>>,
    /// The driver has prepared the torrent's files at their current place (folders,
    /// empty files): until then it is not complete, whatever pieces it has.
    pub storage_ready: bool,
    /// Whether the move has been handed to the driver.
    pub move_started: bool,
    /// Paused before the move started (it stays paused after).
    pub paused_before_move: bool,
    /// The layout a rename (a move within its root, `moving`) gives it once
    /// its files have their new names.
    pub renamed: Option<Arc<Info>>,
    /// Its files' names given over the API (index, path), kept in its record
    /// and applied to its layout after the content layout.
    pub renames: Vec<(usize, Vec<String>)>,
    /// Where its files go once it finishes (see [`super::FinishRoot`]).
    pub finish_in: Option<Box<super::FinishRoot>>,
    /// Its files are on their way to where they finish: the milestone waits
    /// for the move's end.
    pub finishing: bool,
    /// The last thing worth telling about this torrent (a partial recheck on restore,
    /// a failed move, a failed resume save).
    pub note: Option<String>,
    /// The user's labels (clean: see `clean_labels`).
    pub labels: Vec<String>,
    /// Its category's name (clean: see `clean_category`; empty: none).
    pub category: String,
    /// Waiting its turn in the queue (stopped like a paused torrent).
    pub queued: bool,
    /// Force-started: never queued.
    pub forced: bool,
    /// The name the user gave it (empty: none).
    pub display_name: String,
    /// Each wanted file's first and last piece at the top priority.
    pub first_last: bool,
    /// Placed by hand, not following its category (see `TorrentSettings::manual`).
    pub manual: bool,
    /// Shows new peers a piece at a time while whole (`core::superseed`).
    pub super_seeding: bool,
    /// Where its files go under the save folder.
    pub content_layout: crate::metainfo::ContentLayout,
    /// Its place in the queue (lower runs first).
    pub queue_pos: u64,
    /// When it last moved data faster than the slow rates (or began to run).
    pub busy_at: Time,
    /// The fingerprint of its stats when last asked (see `versions`).
    pub stats_fp: u64,
    /// The version at which that fingerprint last changed (0: never asked).
    pub stats_version: u64,
    /// Its share limits (see `share`).
    pub share: super::share::ShareLimits,
    /// What reaching one of them does (`None`: the global action).
    pub share_action: Option<super::share::ShareAction>,
    /// Seconds seeded (complete and running), by the share pass (`clock`).
    pub seed_clock: super::clock::StateClock,
    /// Seconds run (not paused, queued or failed), by the share pass.
    pub run_clock: super::clock::StateClock,
    /// A peer that worked was added or seen again since the last save.
    pub peers_changed: bool,
    /// When it last uploaded while seeding (for the inactive-seeding limit).
    pub last_upload_at: Time,
    /// `uploaded` as of the last share pass.
    pub last_uploaded: u64,
    /// Regular unchoke slots now (the choker's `next_slots`; 0 until added).
    pub upload_slots: usize,
    /// Changes whenever `piece_priority` does (the picker refills on it).
    pub priority_epoch: u64,
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
    /// Asked for while the torrent was paused: it runs, and the torrent stays
    /// paused after (qBittorrent's recheck of a paused torrent).
    pub while_paused: bool,
    /// Its ticket in the line for a turn to read, while it waits
    /// (`core::turns`).
    pub queued: Option<u64>,
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
            while_paused: false,
            queued: None,
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
            while_paused: false,
            queued: None,
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

/// A restart's comparison of a torrent's files with its stored resume record
/// (`core::stamps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampsDue {
    /// None due: not restored, or compared.
    No,
    /// Due: the files' stamps against this digest of the record's.
    Digest(u64),
    /// Due, and the digest differed: against the record's stamps, read back.
    Record,
}

impl Torrent {
    pub fn new(
        name: Arc<str>,
        root: Arc<str>,
        added_at: u64,
        ip_filter: Arc<crate::ipfilter::IpFilter>,
    ) -> Torrent {
        Torrent {
            name,
            content_path: None,
            root,
            info: None,
            meta: super::resident::MetaCache::default(),
            have: Bitfield::default(),
            picker: Picker::default(),
            writing: BTreeSet::new(),
            write_failures: BTreeMap::new(),
            disk_full: None,
            read_doubt: None,
            read_failure_logged: false,
            file_priority: Vec::new(),
            piece_priority: Vec::new(),
            uniform_priority: 0,
            sequential: false,
            urgent: BTreeMap::new(),
            paused: false,
            error: None,
            checking: None,
            peers: BTreeSet::new(),
            addrs: BTreeMap::new(),
            addrs_full_logged: false,
            ip_filter,
            hybrid_misaligned: false,
            pex: None,
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
            done_elsewhere: None,
            announcer: super::announce::Announcer::new(
                Vec::new(),
                super::announce::Reach::default(),
            ),
            root_token: "".into(),
            root_marked: true,
            dirty: true,
            save_now: true,
            touched: BTreeSet::new(),
            saved_counters: (0, 0),
            session_from: (0, 0),
            good_peers: BTreeMap::new(),
            web_seeds: Vec::new(),
            magnet_tail: (0, std::sync::Arc::from("")),
            about: None,
            stamps: None,
            stamps_due: StampsDue::No,
            stat_at: Time::ZERO,
            stat_out: false,
            served_at: None,
            received_at: None,
            active_before: None,
            seen_complete: 0,
            wake_at: super::walk::NO_WAKE,
            root_lost: false,
            moving: None,
            move_started: false,
            paused_before_move: false,
            renamed: None,
            renames: Vec::new(),
            finish_in: None,
            finishing: false,
            note: None,
            labels: Vec::new(),
            category: String::new(),
            queued: false,
            forced: false,
            display_name: String::new(),
            first_last: false,
            manual: false,
            super_seeding: false,
            content_layout: crate::metainfo::ContentLayout::Original,
            queue_pos: 0,
            busy_at: Time::ZERO,
            stats_fp: 0,
            stats_version: 0,
            share: super::share::ShareLimits::default(),
            share_action: None,
            seed_clock: Default::default(),
            run_clock: Default::default(),
            peers_changed: false,
            last_upload_at: Time::ZERO,
            last_uploaded: 0,
            upload_slots: 0,
            priority_epoch: 0,
        }
    }

    /// Installs the metadata just parsed (or added): its hashes stay in memory
    /// until the torrent is complete and quiet.
    pub fn set_info(&mut self, now: Time, mut info: Info, info_bytes: Arc<Vec<u8>>) {
        let hashes = std::mem::take(&mut info.pieces);
        self.meta = super::resident::MetaCache::resident(hashes, info_bytes, now);
        self.set_layout(info);
    }

    /// Installs a layout whose hashes are in the session store only (a restart).
    pub fn set_stored(&mut self, info: Info, metadata_size: u64) {
        self.meta = super::resident::MetaCache::stored(metadata_size);
        self.set_layout(info);
    }

    /// Sizes every per-piece table for `info` (its `pieces` empty), its files
    /// laid out as the torrent's content layout says.
    fn set_layout(&mut self, mut info: Info) {
        info.lay_out(self.content_layout);
        if !self.renames.is_empty() {
            match super::rename::saved_layout(&info, &self.renames) {
                Ok(renamed) => info = renamed,
                Err(e) => {
                    tracing::warn!(name = %self.name, error = %e, "its files' saved names do not fit it: they keep the torrent's own");
                    self.renames.clear();
                }
            }
        }
        let n = info.geometry.piece_count();
        if *self.name != *info.name {
            self.name = info.name.as_str().into();
        }
        self.content_path = info.content_path_unless(&self.name).map(Into::into);
        self.have = Bitfield::new(n);
        let g = &info.geometry;
        self.picker = Picker::new(
            n,
            g.piece_length(),
            if n == 0 { 0 } else { g.piece_len(n - 1) },
        );
        if self.file_priority.len() != info.files.len() {
            self.file_priority = vec![1; info.files.len()];
        }
        self.info = Some(Arc::new(info));
        self.recompute_piece_priority();
    }

    /// The action that opens its storage where it now lives; `save_meta` writes
    /// its metadata (and layout record) to the session store too, when the bytes
    /// are in memory; `prepared`: its files are known to be there as they should
    /// (see [`super::OpenStorage::prepared`]).
    pub fn open_storage(
        &mut self,
        info_hash: crate::types::InfoHash,
        save_meta: bool,
        prepared: bool,
    ) -> super::Action {
        let meta_record = if save_meta { self.meta.record() } else { None };
        let about = if meta_record.is_some() {
            self.meta.stored = true;
            self.about.take()
        } else {
            None
        };
        super::Action::OpenStorage(super::OpenStorage {
            info_hash,
            info: Arc::clone(self.info.as_ref().expect("storage needs metadata")),
            meta_record,
            about,
            metadata_size: self.meta.size,
            root: self.root.to_string(),
            marked: self.root_marked,
            prepared,
        })
    }

    /// Keeps the names `renamed` gives its files (those that differ from its
    /// present layout) for its record.
    pub(super) fn note_renames(&mut self, renamed: &Info) {
        let Some(now) = &self.info else { return };
        for (i, (was, is)) in now.files.iter().zip(&renamed.files).enumerate() {
            if was.path != is.path {
                self.renames.retain(|(j, _)| *j != i);
                self.renames.push((i, is.path.to_vec()));
            }
        }
        self.renames.sort_unstable();
    }

    /// Its files are still to be compared with its stored record.
    pub(super) fn comparing(&self) -> bool {
        self.stamps_due != StampsDue::No
    }

    /// The action that stamps its files where it lives, with its stored
    /// record's stamps while they are to be compared (none without metadata).
    pub(super) fn stat_files(&self, info_hash: crate::types::InfoHash) -> Option<super::Action> {
        Some(super::Action::StatFiles {
            info_hash,
            info: Arc::clone(self.info.as_ref()?),
            root: self.root.to_string(),
            with_record: self.stamps_due == StampsDue::Record,
        })
    }

    /// A piece is wanted when some file it touches has priority above 0. When every
    /// file has one priority and none is padding, no table is kept (`uniform`).
    pub fn recompute_piece_priority(&mut self) {
        let Some(info) = &self.info else { return };
        self.priority_epoch += 1;
        let first = self.file_priority.first().copied().unwrap_or(0);
        if !self.first_last
            && self.file_priority.iter().all(|&p| p == first)
            && info.files.iter().all(|f| !f.attr.pad)
        {
            self.piece_priority = Vec::new();
            self.uniform_priority = first;
            return;
        }
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
        if self.first_last {
            for (f, &p) in self.file_priority.iter().enumerate() {
                let pieces = g.file_pieces(f);
                if p == 0 || info.files[f].attr.pad || pieces.is_empty() {
                    continue;
                }
                prio[pieces.start as usize] = super::MAX_PRIORITY;
                prio[pieces.end as usize - 1] = super::MAX_PRIORITY;
            }
        }
        self.piece_priority = prio;
    }

    /// Its metadata is known and nothing wanted is missing.
    pub fn complete(&self) -> bool {
        self.info.is_some() && self.is_finished()
    }

    /// Seconds it has run without moving data faster than the slow rates (0
    /// while it does not run).
    pub fn idle_secs(&self, now: Time) -> u64 {
        if self.is_running() {
            now.since(self.busy_at).as_secs()
        } else {
            0
        }
    }

    /// A recheck asked for while it was paused is under way.
    pub fn checking_while_paused(&self) -> bool {
        self.checking.as_ref().is_some_and(|c| c.while_paused)
    }

    pub fn state(&self) -> TorrentState {
        if let Some(e) = &self.error {
            return TorrentState::Error(e.clone());
        }
        if self.moving.is_some() {
            return TorrentState::Moving;
        }
        if self.paused && !self.checking_while_paused() {
            return TorrentState::Paused;
        }
        if self.queued {
            return TorrentState::Queued;
        }
        // A v2-only torrent from a magnet link has its info but waits for its
        // piece layers (hashes not in memory, nor stored, nor storage opened).
        let layers_due = self.meta.hashes.is_none() && !self.meta.stored && !self.storage_ready;
        if self.info.is_none() || layers_due {
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
    pub fn reopen_storage(&mut self, info_hash: crate::types::InfoHash) -> Option<super::Action> {
        // A restart's files are opened once compared with its record.
        if self.storage_ready || self.info.is_none() || self.comparing() {
            return None;
        }
        Some(self.open_storage(info_hash, false, false))
    }

    /// Every wanted piece is on disk (all pieces, unless files are skipped).
    pub fn is_finished(&self) -> bool {
        // Every piece had (the usual seeding case) is one comparison, not a walk.
        if self.info.is_none() {
            return false;
        }
        let w = self.wanted();
        self.have.all() || (0..self.have.len()).all(|p| w.have.get(p) || w.priority_of(p) == 0)
    }

    /// Stopped because files it had were gone when it was restored (until a
    /// resume or a recheck).
    pub fn files_gone(&self) -> bool {
        self.error
            .as_deref()
            .is_some_and(|e| e.starts_with(super::FILES_GONE))
    }

    /// Downloading (or seeding) normally: not paused, errored, checking or fetching.
    pub fn is_running(&self) -> bool {
        !self.stopped()
            && self.error.is_none()
            && self.checking.is_none()
            && !self.comparing()
            && self.info.is_some()
            && self.moving.is_none()
    }

    /// Paused by the user, or waiting in the queue: no peers, no announces.
    pub fn stopped(&self) -> bool {
        self.paused || self.queued
    }

    pub fn wants(&self, piece: u32) -> bool {
        self.wanted().wants(piece)
    }

    /// Whether `peer_have` holds any piece we want.
    pub fn interesting(&self, peer_have: &Bitfield) -> bool {
        self.info.is_some() && peer_have.ones().any(|p| self.wants(p))
    }

    pub fn have_bytes(&self) -> u64 {
        let Some(info) = &self.info else { return 0 };
        // Every piece (a seed): no walk over the pieces, which would make listing
        // 100,000 torrents a walk over a hundred million.
        if self.have.all() {
            return info.geometry.total_length();
        }
        self.have
            .ones()
            .map(|p| u64::from(info.geometry.piece_len(p)))
            .sum()
    }

    /// The bytes of wanted pieces not yet on disk: a piece verified but still
    /// being written counts (a torrent is not whole until its writes are done).
    pub fn wanted_bytes_left(&self) -> u64 {
        let Some(info) = &self.info else { return 0 };
        if self.have.all() {
            return 0;
        }
        let w = self.wanted();
        (0..self.have.len())
            .filter(|&p| !w.have.get(p) && w.priority_of(p) > 0)
            .map(|p| u64::from(info.geometry.piece_len(p)))
            .sum()
    }

    /// What the picker needs to know of what this torrent wants.
    pub fn wanted(&self) -> Wanted<'_> {
        Wanted {
            have: &self.have,
            priority: &self.piece_priority,
            uniform: self.uniform_priority,
            writing: &self.writing,
            sequential: self.sequential,
            urgent: &self.urgent,
            priority_epoch: self.priority_epoch,
        }
    }

    /// The picker, and what it needs to know of what this torrent wants.
    fn picker_and_wanted(&mut self) -> (&mut Picker, Wanted<'_>) {
        let wanted = Wanted {
            have: &self.have,
            priority: &self.piece_priority,
            uniform: self.uniform_priority,
            writing: &self.writing,
            sequential: self.sequential,
            urgent: &self.urgent,
            priority_epoch: self.priority_epoch,
        };
        (&mut self.picker, wanted)
    }

    /// Whether every block still wanted is asked of some peer.
    pub fn all_requested(&mut self) -> bool {
        let (picker, wanted) = self.picker_and_wanted();
        picker.all_requested(&wanted)
    }

    /// Chooses up to `n` blocks to ask of a peer (see [`Picker::pick`]).
    pub fn pick(
        &mut self,
        peer_have: &Bitfield,
        inflight: &[InFlight],
        n: usize,
        rng: &mut Rng,
    ) -> Vec<BlockRequest> {
        if self.info.is_none() {
            return Vec::new();
        }
        let (picker, wanted) = self.picker_and_wanted();
        picker.pick(&wanted, peer_have, inflight, n, rng)
    }
}
