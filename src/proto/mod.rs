//! Peer wire protocol codecs: pure encode and decode, no IO and no decisions.
//!
//! What it owns: the handshake ([`Handshake`]), every BEP 3 message and the fast
//! extension's (BEP 6) as [`Message`], the incremental [`MessageDecoder`] (bytes may
//! arrive one at a time), and the extension protocol (BEP 10) handshake and
//! ut_metadata (BEP 9) messages in [`ext`], peer exchange (BEP 11) in [`pex`], and
//! compact addresses (BEP 23, BEP 7) in [`compact`].
//!
//! Limits: a length prefix over [`MessageDecoder`]'s maximum, an unknown message id, a
//! message with the wrong length for its id, and a fast-extension or extended message
//! that was not negotiated are [`DecodeError`]s; the core closes the peer on any of
//! them. Range checks that need the torrent (piece indices, bitfield length) are the
//! core's.
#![warn(missing_docs)]

pub mod compact;
pub mod ext;
mod handshake;
pub mod lsd;
pub mod mse;
pub mod pex;
pub mod tracker;
mod wire;

pub use handshake::{HANDSHAKE_LEN, Handshake};
pub use wire::{
    BlockRequest, DecodeError, Frame, HashRange, Message, MessageDecoder, PIECE_HEAD, piece_head,
};
