//! The core's vocabulary: events in, actions out.

use core::net::SocketAddr;
use std::sync::Arc;

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

/// Something that happened, told to the core by its driver.
#[derive(Debug)]
pub enum Event<'a> {
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
    /// A piece read back for a recheck.
    PieceRead {
        /// Which torrent.
        info_hash: InfoHash,
        /// Which piece.
        piece: u32,
        /// Its bytes; `Err` when some of them are not on disk.
        result: Result<Vec<u8>, DiskError>,
    },
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
    /// The peer sent data that failed the hash check.
    Banned,
    /// No handshake or no traffic in time.
    Timeout,
    /// The torrent was paused or removed.
    TorrentStopped,
    /// Both sides are seeds.
    NothingToExchange,
    /// A second connection with the same peer; the other one is kept.
    Duplicate,
}

/// Something the core wants done, executed by its driver.
#[derive(Debug)]
pub enum Action {
    /// Open a connection; answer with [`Event::Connected`] or [`Event::ConnectFailed`].
    Connect {
        /// The key the core gave it.
        peer: PeerKey,
        /// Where to.
        addr: SocketAddr,
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
    /// Write a verified piece; answer with [`Event::PieceWritten`].
    WritePiece {
        /// Which torrent.
        info_hash: InfoHash,
        /// Which piece.
        piece: u32,
        /// Its bytes (already hash-checked).
        data: Vec<u8>,
    },
    /// Read a whole piece for a recheck; answer with [`Event::PieceRead`].
    ReadPiece {
        /// Which torrent.
        info_hash: InfoHash,
        /// Which piece.
        piece: u32,
    },
    /// From now on, the torrent's pieces live in these files under this root.
    OpenStorage {
        /// Which torrent.
        info_hash: InfoHash,
        /// Its layout.
        info: Arc<Info>,
        /// The exact bytes of its `info` dictionary (for the session store).
        info_bytes: Arc<Vec<u8>>,
        /// The storage root it was added to.
        root: String,
    },
    /// Forget the torrent's storage, deleting its files if asked.
    CloseStorage {
        /// Which torrent.
        info_hash: InfoHash,
        /// Delete the downloaded files too.
        delete_files: bool,
    },
}
