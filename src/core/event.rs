//! The core's vocabulary: events in, actions out.

use core::net::SocketAddr;
use std::sync::Arc;

use crate::core::Transport;
use crate::core::record::{PeerRecord, StateRecord};
use crate::metainfo::Info;
use crate::proto::BlockRequest;
use crate::types::InfoHash;

/// A connection, named by the core (outbound) or handed out by it (inbound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey(pub u64);

/// A disk operation that failed; the driver says why in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("disk error: {0}")]
pub struct DiskError(pub String);

impl DiskError {
    /// The OS error number the text ends with, as `std::io::Error` words it
    /// (`... (os error 28)`): the drivers put the error last, after any path,
    /// so a file named like an error message cannot be taken for one.
    fn errno(&self) -> Option<i32> {
        let rest = self.0.trim_end().strip_suffix(')')?;
        let (_, n) = rest.rsplit_once("(os error ")?;
        n.parse().ok()
    }

    /// Whether the filesystem is out of space or quota (ENOSPC 28, EDQUOT
    /// 122): a condition that passes when space returns, unlike a broken disk.
    pub fn is_no_space(&self) -> bool {
        matches!(self.errno(), Some(28 | 122))
    }

    /// Whether trying again cannot help until someone acts: a read-only
    /// filesystem (EROFS 30) or a file the daemon may not write (EACCES 13,
    /// EPERM 1).
    pub fn is_permanent(&self) -> bool {
        matches!(self.errno(), Some(30 | 13 | 1))
    }
}

#[cfg(test)]
mod disk_error_tests {
    use super::DiskError;

    #[test]
    fn classified_by_the_os_error_at_the_end_only() {
        let e = |s: &str| DiskError(s.into());
        assert!(e("/d/a.bin: No space left on device (os error 28)").is_no_space());
        assert!(e("writing piece 3: /d/a.bin: Disk quota exceeded (os error 122)").is_no_space());
        assert!(e("/d/ro/a.bin: Read-only file system (os error 30)").is_permanent());
        assert!(e("/d/a.bin: Permission denied (os error 13)").is_permanent());
        // A path that reads like an error is not one.
        let named = e("/d/Permission denied (os error 13)/x: Input/output error (os error 5)");
        assert!(!named.is_permanent() && !named.is_no_space());
        assert!(!e("EIO (injected)").is_permanent());
    }
}

/// Something that happened, told to the core by its driver.
#[derive(Debug)]
pub enum Event<'a> {
    /// The files of an [`Action::OpenStorage`] are prepared (folders made, files
    /// created), or why not.
    StorageOpened {
        /// Which torrent.
        info_hash: InfoHash,
        /// The outcome: whether any of its files held data before (if none did,
        /// there is nothing to check: no piece is there).
        result: Result<bool, DiskError>,
    },
    /// The answer to an [`Action::Announce`] (or why there is none: unreachable,
    /// timed out, refused).
    AnnounceReply {
        /// Which torrent.
        info_hash: InfoHash,
        /// The announce's id.
        id: u64,
        /// What the tracker said.
        result: Result<crate::proto::tracker::AnnounceReply, crate::proto::tracker::TrackerError>,
    },
    /// An outbound connection the core asked for is established.
    Connected {
        /// Which.
        peer: PeerKey,
    },
    /// An outbound connection could not be made.
    ConnectFailed {
        /// Which.
        peer: PeerKey,
    },
    /// Bytes arrived from a peer.
    Data {
        /// From whom.
        peer: PeerKey,
        /// What.
        bytes: &'a [u8],
    },
    /// Bytes handed over with [`Action::Send`] left for the network (the socket
    /// accepted them); lets the core bound what waits in the driver per peer.
    Sent {
        /// Which connection.
        peer: PeerKey,
        /// How many bytes.
        bytes: usize,
    },
    /// The peer closed the connection or it broke.
    Closed {
        /// Which.
        peer: PeerKey,
    },
    /// A block the core asked to read for uploading.
    BlockRead {
        /// For whom.
        peer: PeerKey,
        /// Which torrent.
        info_hash: InfoHash,
        /// Which block.
        req: BlockRequest,
        /// Its bytes.
        result: Result<Vec<u8>, DiskError>,
    },
    /// A verified piece was written (or not).
    PieceWritten {
        /// Which torrent.
        info_hash: InfoHash,
        /// Which piece.
        piece: u32,
        /// Outcome.
        result: Result<(), DiskError>,
    },
    /// A [`Action::SaveResume`] is committed (or failed; nothing of it was then).
    ResumeSaved {
        /// Which save.
        id: u64,
        /// Outcome.
        result: Result<(), DiskError>,
    },
    /// The answer to an [`Action::CheckRoots`]: each root asked about, and whether
    /// it is there now (its marker readable; not unmounted or gone).
    RootsChecked {
        /// Each root's path and whether it is available.
        roots: Vec<(String, bool)>,
    },
    /// The next bytes of an [`Action::WebFetch`]'s ranges, in order, as they
    /// arrive (any length; the fetch's bytes are these parts concatenated).
    WebBytes {
        /// The web seed's key.
        peer: PeerKey,
        /// The bytes that follow the fetch's earlier parts.
        bytes: Vec<u8>,
    },
    /// An [`Action::WebFetch`] ended: every byte of its ranges came in
    /// [`Event::WebBytes`], or it stopped with why.
    WebDone {
        /// The web seed's key.
        peer: PeerKey,
        /// `Ok` once the server's answers are over (the core checks that they
        /// held the ranges' total), or what went wrong.
        result: Result<(), String>,
    },
    /// The answer to an [`Action::StatFiles`]: each file's stamp (`None`: gone,
    /// or a pad file).
    FilesStated {
        /// Which torrent.
        info_hash: InfoHash,
        /// Per file, in torrent order.
        stamps: Vec<Option<crate::core::record::FileStamp>>,
        /// When asked for (`with_record`): the stamps in the torrent's
        /// stored resume record (empty when it has none or it is unreadable).
        recorded: Option<Vec<Option<crate::core::record::FileStamp>>>,
    },
    /// A [`Action::MoveStorage`] finished.
    StorageMoved {
        /// Which torrent.
        info_hash: InfoHash,
        /// Outcome: on `Err` the data is still (all of it) in the old root.
        result: Result<(), DiskError>,
    },
    /// The answer to an [`Action::LoadMeta`]: the torrent's `info` dictionary as
    /// the session store holds it, or why it could not be read.
    MetaLoaded {
        /// Which torrent.
        info_hash: InfoHash,
        /// The bytes (`Ok(None)`: the store has no such record).
        result: Result<Option<Vec<u8>>, String>,
    },
    /// The answer to an [`Action::VerifyPieces`]: every piece asked about, with
    /// what its bytes on disk say.
    PiecesVerified {
        /// Which torrent.
        info_hash: InfoHash,
        /// Each piece and its verdict.
        results: Vec<(u32, Verdict)>,
    },
    /// The answer to an [`Action::HashBlocks`].
    BlocksHashed {
        /// Which torrent.
        info_hash: InfoHash,
        /// The peer whose hash request it answers.
        peer: PeerKey,
        /// Its request.
        range: crate::proto::HashRange,
        /// The pieces' leaves, in order (`None`: some bytes were not there).
        leaves: Option<Vec<crate::hash::merkle::Sha256Digest>>,
    },
}

/// What a piece's bytes on disk say, in a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Every byte is there and the hash matches.
    Valid,
    /// Every byte is there and the hash differs (a never-written, zero-filled
    /// piece too).
    Invalid,
    /// Some bytes could not be read (a missing or short file, a vanished disk).
    Unreadable,
}

/// One torrent's part of a resume save ([`Action::SaveResume`]).
#[derive(Debug, Clone)]
pub struct ResumeSave {
    /// Which torrent.
    pub info_hash: InfoHash,
    /// Its layout (`None`: a magnet still fetching its metadata).
    pub info: Option<Arc<Info>>,
    /// Its storage root (path).
    pub root: String,
    /// Files written since the last save: `fdatasync` them before committing.
    pub sync_files: Vec<usize>,
    /// The record; the driver fills in `files` (sizes and mtimes after the sync).
    pub record: StateRecord,
    /// Its files are still to be compared with its stored record (a restart;
    /// `record.have` is that record's): the stored record's stamps are kept
    /// instead of taking new ones.
    pub keep_stamps: bool,
    /// Recently good peers.
    pub peers: Vec<PeerRecord>,
}

/// Why the core closed a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer broke the protocol (message says how).
    Protocol(String),
    /// Handshake for a torrent we do not have, or not a handshake at all.
    BadHandshake,
    /// A connection to ourselves.
    SelfConnection,
    /// Connection limits.
    Caps,
    /// The peer sent data that failed the hash check, too often or provably.
    Banned,
    /// Its address is in the IP filter.
    Filtered,
    /// A piece the peer alone sent failed its hash check (it is tried again later).
    HashFailure,
    /// No handshake or no traffic in time.
    Timeout,
    /// The torrent was paused or removed.
    TorrentStopped,
    /// The engine is shutting down.
    Shutdown,
    /// Both sides are seeds.
    NothingToExchange,
    /// A second connection with the same peer; the other one is kept.
    Duplicate,
}

/// Something the core wants done, executed by its driver.
#[derive(Debug)]
pub enum Action {
    // (OpenStorage is answered with Event::StorageOpened.)
    /// Announce to a tracker; answer with [`Event::AnnounceReply`] carrying `id`.
    Announce(AnnounceTo),
    /// Open a connection; answer with [`Event::Connected`] or [`Event::ConnectFailed`].
    Connect {
        /// The key the core gave it.
        peer: PeerKey,
        /// Where to.
        addr: SocketAddr,
        /// Over what.
        transport: Transport,
    },
    /// Send bytes, in order after anything sent before.
    Send {
        /// To whom.
        peer: PeerKey,
        /// What.
        bytes: Vec<u8>,
    },
    /// Close a connection. The core forgets it at once; no event follows.
    Close {
        /// Which.
        peer: PeerKey,
        /// Why (for logs and stats).
        reason: CloseReason,
    },
    /// Read a block for a peer; answer with [`Event::BlockRead`].
    ReadBlock {
        /// For whom.
        peer: PeerKey,
        /// Which torrent.
        info_hash: InfoHash,
        /// Which block.
        req: BlockRequest,
    },
    /// Send a block to a peer straight from the torrent's files (only when
    /// [`super::CoreConfig::send_from_files`], only to a TCP peer whose stream is
    /// plaintext): the `piece` message's head ([`crate::proto::piece_head`]), then
    /// the block's bytes as they are on disk, in order with the sends around it.
    /// The bytes are reported with [`Event::Sent`] like any send. A block that
    /// cannot be read is answered with [`Event::BlockRead`] carrying the error,
    /// and the connection is closed (its head may be out already).
    SendBlock {
        /// For whom.
        peer: PeerKey,
        /// Which torrent.
        info_hash: InfoHash,
        /// Which block.
        req: BlockRequest,
    },
    /// Write a verified piece; answer with [`Event::PieceWritten`].
    WritePiece {
        /// Which torrent.
        info_hash: InfoHash,
        /// Which piece.
        piece: u32,
        /// Its bytes (already hash-checked).
        data: Vec<u8>,
    },
    /// Hash these pieces from disk against the torrent's piece hashes (on as many
    /// threads as suit; the storage was opened with [`Action::OpenStorage`]);
    /// answer with [`Event::PiecesVerified`].
    VerifyPieces {
        /// Which torrent.
        info_hash: InfoHash,
        /// Which pieces.
        pieces: Vec<u32>,
        /// The torrent's piece hashes (the storage's layout carries none).
        hashes: Arc<crate::hash::PieceHashes>,
    },
    /// Hash these pieces' 16 KiB blocks from disk (a v2 torrent's: each
    /// piece's leaves, zero leaves past its file to its width, see
    /// [`crate::hash::MerklePiece::leaves`]) for a peer's hash request below
    /// the piece layer; answer with [`Event::BlocksHashed`].
    HashBlocks {
        /// Which torrent.
        info_hash: InfoHash,
        /// The peer asking.
        peer: PeerKey,
        /// Its request.
        range: crate::proto::HashRange,
        /// The pieces, each with its tree's shape.
        pieces: Vec<(u32, crate::hash::MerklePiece)>,
    },
    /// Read the torrent's `info` dictionary back from the session store (where
    /// [`Action::OpenStorage`] had it written); answer with [`Event::MetaLoaded`].
    /// The core keeps piece hashes in memory only while it needs them.
    LoadMeta {
        /// Which torrent.
        info_hash: InfoHash,
    },
    /// From now on, the torrent's pieces live in these files under this root (this
    /// replaces any storage the torrent had: the driver opens it again after a move).
    OpenStorage(OpenStorage),
    /// Make the listed files durable (`fdatasync`), then commit every record in one
    /// store transaction; answer with [`Event::ResumeSaved`]. Saves are carried out in
    /// the order they are asked for, before any later [`Action::CloseStorage`].
    SaveResume {
        /// Names this save in the answer.
        id: u64,
        /// The torrents.
        torrents: Vec<ResumeSave>,
        /// Torrents whose clocks alone moved since their record was
        /// written: each one's seconds seeded and run, committed in the same
        /// transaction as a small record of its own (`resume_lmdb::clock_key`)
        /// instead of its whole record again.
        clocks: Vec<(InfoHash, super::ClockSecs)>,
    },
    /// Move a torrent's files from one root to another: rename within a
    /// filesystem, else copy, make durable, verify the pieces in `have` at the new
    /// place, and only then delete the old files. On failure nothing is lost: the
    /// old files stay. Answer with [`Event::StorageMoved`].
    MoveStorage(MoveStorage),
    /// Stamp a torrent's files (size and modification time, as
    /// `storage::stat_files`); answer with [`Event::FilesStated`].
    StatFiles {
        /// Which torrent.
        info_hash: InfoHash,
        /// Its layout.
        info: Arc<Info>,
        /// The storage root its files are under.
        root: String,
        /// Answer with its stored resume record's stamps too (a restart's
        /// comparison).
        with_record: bool,
    },
    /// Fetch byte ranges of a torrent's files from a web seed (BEP 19), over
    /// HTTP(S) with `Range`, in order; hand the bytes over as they arrive with
    /// [`Event::WebBytes`], then end with one [`Event::WebDone`]. Stop (and
    /// end without telling) once [`crate::core::Core::web_fetching`] says the peer no
    /// longer waits for it.
    WebFetch {
        /// The web seed's key.
        peer: PeerKey,
        /// What to fetch.
        ranges: Vec<WebRange>,
    },
    /// Forget the torrent: its storage (deleting its files if asked) and its
    /// records in the session store.
    CloseStorage {
        /// Which torrent.
        info_hash: InfoHash,
        /// Delete the downloaded files too.
        delete_files: bool,
    },
    /// Write a torrent's metadata record to the session store again, its
    /// storage already open (a hybrid whose piece roots came after its
    /// `info`: see `core::layers`); no answer.
    SaveMeta {
        /// Which torrent.
        info_hash: InfoHash,
        /// Its layout.
        info: Arc<Info>,
        /// What the store keeps ([`crate::metainfo::encode_stored`]).
        record: Arc<Vec<u8>>,
        /// Bytes of its `info` dictionary.
        metadata_size: u64,
    },
    /// Find out which of these storage roots are there; answer with
    /// [`Event::RootsChecked`]. At most one check is in flight.
    CheckRoots {
        /// The roots' paths, each with whether it is there by its marker file
        /// (or, a plain folder, by itself).
        roots: Vec<(String, bool)>,
    },
    /// Tell whoever listens (the daemon's hooks) that a torrent reached a
    /// moment of its life; no answer. Nothing the core does waits on it.
    Milestone {
        /// Which torrent.
        info_hash: InfoHash,
        /// What happened.
        what: Milestone,
    },
    /// Keep this in the peer log (a connection the IP filter refused or
    /// closed, a peer banned for bad data); no answer.
    PeerNote(crate::peerlog::Note),
}

/// A moment in a torrent's life a user may want a program run at (the
/// daemon's `[hooks]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Milestone {
    /// Added (not restored at a start).
    Added,
    /// Has every wanted piece where it had not: a download's end, a check
    /// that found every piece (a torrent added with its data, a recheck after
    /// a loss), files deselected until what is left is there. Not at a start
    /// of a torrent that was complete before.
    Finished,
}

/// What [`Action::OpenStorage`] opens.
#[derive(Debug)]
pub struct OpenStorage {
    /// Which torrent.
    pub info_hash: InfoHash,
    /// Its layout.
    pub info: Arc<Info>,
    /// Its metadata as the session store keeps it, when it is to be written
    /// there (with its layout record): the exact bytes of its `info`
    /// dictionary, for a v2-only torrent with its piece roots (see
    /// [`crate::metainfo::encode_stored`]).
    pub meta_record: Option<Arc<Vec<u8>>>,
    /// What its `.torrent` said of itself (`crate::metainfo::About`'s record),
    /// to be written with `meta_record` when there is any.
    pub about: Option<Arc<Vec<u8>>>,
    /// Bytes of its `info` dictionary.
    pub metadata_size: u64,
    /// The storage root it was added to.
    pub root: String,
    /// Whether the root is there by its marker file, or (a plain folder) by
    /// the folder itself.
    pub marked: bool,
    /// The files are known to be there as they should (a restart found them
    /// unchanged): nothing to prepare, answer at once with data held.
    pub prepared: bool,
}

/// Bytes `start..start + len` of the file at `url`; `url` `None`: that many
/// zeros (a BEP 47 pad file, never fetched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebRange {
    /// The file's URL.
    pub url: Option<String>,
    /// Its first byte.
    pub start: u64,
    /// How many bytes.
    pub len: u64,
}

/// What [`Action::MoveStorage`] moves.
#[derive(Debug)]
pub struct MoveStorage {
    /// Which torrent.
    pub info_hash: InfoHash,
    /// Its layout.
    pub info: Arc<Info>,
    /// The pieces to verify after a copy.
    pub have: crate::core::Bitfield,
    /// Their hashes.
    pub hashes: Arc<crate::hash::PieceHashes>,
    /// Its layout at the new place: `info` itself for a move to another
    /// root, the same files with new names for a rename (`from == to`).
    pub to_info: Arc<Info>,
    /// From this root (path)...
    pub from: String,
    /// ...to this one...
    pub to: String,
    /// ...which is there by its marker file (or, a plain folder, by itself).
    pub to_marked: bool,
}

/// What [`Action::Announce`] asks.
#[derive(Debug)]
pub struct AnnounceTo {
    /// Which torrent.
    pub info_hash: InfoHash,
    /// The announce's id.
    pub id: u64,
    /// The tracker (http, https or udp).
    pub url: String,
    /// What to tell it.
    pub request: crate::proto::tracker::Announce,
}
