//! One connection's state.

use core::net::SocketAddr;
use std::collections::VecDeque;

use super::bitfield::Bitfield;
use crate::proto::{BlockRequest, MessageDecoder};
use crate::ratelimit::RateTracker;
use crate::types::{InfoHash, Time};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Outbound, waiting for the driver to connect (counts as half-open).
    Connecting,
    /// Connected, waiting for the peer's handshake.
    Handshake,
    /// Handshakes exchanged.
    Active,
}

/// Most requests cancelled at one peer whose answers are awaited
/// ([`Peer::cancelled`]); past it the oldest is forgotten.
pub(crate) const MAX_CANCELLED: usize = 256;

/// A block we asked this peer for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InFlight {
    pub req: BlockRequest,
    pub sent: Time,
}

#[derive(Debug)]
pub(crate) struct Peer {
    pub addr: SocketAddr,
    pub outbound: bool,
    pub info_hash: Option<InfoHash>,
    /// What the peer and we call its torrent when that is the torrent's alias
    /// (see `core::alias`); `None`: its id.
    pub wire_name: Option<InfoHash>,
    pub phase: Phase,
    pub phase_since: Time,
    pub handshake_buf: Vec<u8>,
    /// A web seed of its torrent (the index in `Torrent::web_seeds`), not a
    /// connection (see `core::webseed`).
    pub web: Option<usize>,
    /// A web seed's fetch that is out (its requests may have timed out
    /// meanwhile: one fetch at a time all the same).
    pub fetching: Option<Box<super::webseed::Fetch>>,
    /// Message stream encryption, if the connection uses it.
    pub crypt: Option<Box<super::crypt::Crypt>>,
    /// How the connection travels.
    pub transport: super::Transport,
    pub decoder: MessageDecoder,
    pub peer_id: [u8; 20],
    pub fast: bool,
    pub extended: bool,
    /// Peer's id for ut_metadata messages, from its extension handshake.
    pub ut_metadata: Option<u8>,
    pub metadata_size: Option<u64>,
    /// Peer's id for ut_pex messages (BEP 11), from its extension handshake.
    pub ut_pex: Option<u8>,
    /// When its last ut_pex message was read.
    pub pex_in_at: Option<Time>,
    /// Whether ignoring its too frequent ut_pex messages was logged.
    pub pex_flood_logged: bool,
    pub remote_reqq: u32,
    pub client: String,
    pub listen_port: Option<u16>,
    pub am_choking: bool,
    pub am_interested: bool,
    pub peer_choking: bool,
    pub peer_interested: bool,
    pub optimistic: bool,
    pub snubbed: bool,
    /// Pieces the peer has (empty until the torrent's metadata is known).
    pub have: Bitfield,
    /// A bitfield or have-all that arrived before the metadata.
    pub early_have: Option<EarlyHave>,
    pub got_first_message: bool,
    pub inflight: Vec<InFlight>,
    /// Requests we cancelled at this peer, which has the fast extension, and
    /// it has not answered yet. It answers each (BEP 6: a request gets one
    /// piece or one reject, cancelled or not), and that answer is the
    /// cancelled request's, not that of a later request of the same block.
    /// At most [`MAX_CANCELLED`].
    pub cancelled: Vec<BlockRequest>,
    pub queue_in: VecDeque<BlockRequest>,
    pub reads_pending: u32,
    /// Bytes handed to the driver and not yet sent.
    pub send_backlog: usize,
    pub metadata_inflight: u32,
    pub down: RateTracker,
    pub up: RateTracker,
    pub last_recv: Time,
    pub last_sent: Time,
    pub last_block: Time,
    /// When we last unchoked it.
    pub unchoked_at: Time,
    /// When it was last found holding an upload slot it did not use: at a
    /// choker round (unchoked for the rate window, nothing asked in it, less
    /// than the slot rate step taken), or two seconds after its unchoke with
    /// nothing asked while another peer waited (`core::slots`); cleared once
    /// it uses one. Among peers of equal rate it comes after those that never
    /// left a slot unused, so interested peers that never ask cannot crowd a
    /// real leecher out of the slots by the draw.
    pub idle_slot_at: Option<Time>,
    /// When it last asked us for something: a block we queued, the metadata
    /// or hashes.
    pub last_request: Option<Time>,
    /// When its last hash request below the piece layer was taken (its
    /// blocks read and hashed), and whether that read is still out.
    pub block_hashes_at: Option<Time>,
    pub block_hashes_out: bool,
    /// What it was shown while its torrent super-seeds (`core::superseed`);
    /// `None`: it was sent our bitfield.
    pub superseed: Option<Box<super::superseed::Shown>>,
}

/// What a peer said it has before we knew how many pieces there are.
#[derive(Debug, Clone)]
pub(crate) enum EarlyHave {
    All,
    Bits(Vec<u8>),
    Indices(Vec<u32>),
}

impl Peer {
    pub fn new(addr: SocketAddr, outbound: bool, now: Time) -> Peer {
        Peer {
            addr,
            outbound,
            info_hash: None,
            wire_name: None,
            phase: if outbound {
                Phase::Connecting
            } else {
                Phase::Handshake
            },
            phase_since: now,
            handshake_buf: Vec::new(),
            crypt: None,
            transport: super::Transport::Tcp,
            web: None,
            fetching: None,
            decoder: MessageDecoder::new(0, false, false),
            peer_id: [0; 20],
            fast: false,
            extended: false,
            ut_metadata: None,
            metadata_size: None,
            ut_pex: None,
            pex_in_at: None,
            pex_flood_logged: false,
            remote_reqq: 250,
            client: String::new(),
            listen_port: None,
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            optimistic: false,
            unchoked_at: Time::ZERO,
            idle_slot_at: None,
            last_request: None,
            snubbed: false,
            have: Bitfield::default(),
            early_have: None,
            got_first_message: false,
            inflight: Vec::new(),
            cancelled: Vec::new(),
            queue_in: VecDeque::new(),
            reads_pending: 0,
            send_backlog: 0,
            metadata_inflight: 0,
            down: RateTracker::default(),
            up: RateTracker::default(),
            last_recv: now,
            last_sent: now,
            last_block: now,
            block_hashes_at: None,
            block_hashes_out: false,
            superseed: None,
        }
    }

    /// The cancel of our request `req`, to send; a peer with the fast
    /// extension answers it, so that answer is awaited apart from any later
    /// request of the same block ([`Peer::answers_cancel`]).
    pub fn cancel(&mut self, req: BlockRequest) -> crate::proto::Message {
        if self.fast {
            if self.cancelled.len() >= MAX_CANCELLED {
                self.cancelled.remove(0);
            }
            self.cancelled.push(req);
        }
        crate::proto::Message::Cancel(req)
    }

    /// Whether a piece or reject of `req` from it answers a request we
    /// cancelled (taken off the list if so).
    pub fn answers_cancel(&mut self, req: &BlockRequest) -> bool {
        let i = self.cancelled.iter().position(|c| c == req);
        i.map(|i| self.cancelled.remove(i)).is_some()
    }

    /// It has every piece (a bitfield known and full): a seed.
    pub fn is_seed(&self) -> bool {
        !self.have.is_empty() && self.have.all()
    }

    /// libtorrent-style flags: `I`/`i` we are / peer is interested, `C`/`c` we are
    /// / peer is choking, `S` snubbed, `O` optimistic unchoke, `o` outbound, `E`
    /// RC4-encrypted, `e` encrypted handshake (data in the clear), `P` uTP.
    pub fn flags(&self) -> String {
        let mut f = String::new();
        for (on, c) in [
            (self.am_interested, 'I'),
            (self.peer_interested, 'i'),
            (self.am_choking, 'C'),
            (self.peer_choking, 'c'),
            (self.snubbed, 'S'),
            (self.optimistic, 'O'),
            (self.outbound, 'o'),
            (self.encryption() == "rc4", 'E'),
            (self.encryption() == "mse", 'e'),
            (self.transport == super::Transport::Utp, 'P'),
        ] {
            if on {
                f.push(c);
            }
        }
        f
    }
}
