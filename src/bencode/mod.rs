//! Bencode: the zero-copy decoder and the canonical encoder.
//!
//! What it owns: turning bytes into a tree of [`Node`]s that borrow from the input,
//! and turning an [`OwnedValue`] back into canonical bytes ([`writer`]: the same
//! bytes written straight into a buffer, for records written often).
//!
//! Why it is built this way: a torrent's info-hash is the SHA-1 of the *exact* bytes of
//! its `info` dictionary as they appear in the file, whatever their key order. So every
//! [`Node`] keeps the raw slice it was decoded from ([`Node::raw`]), and the decoder
//! accepts what libtorrent accepts (unsorted and duplicate keys, leading zeros in
//! lengths and integers) instead of insisting on canonical form. Lookups in a dictionary
//! with duplicate keys return the first one, as libtorrent does.
//!
//! Invariants: the decoder never panics and never allocates more than the input and
//! the token limit allow; every error carries the byte offset where decoding stopped
//! and why ([`DecodeError`]). Limits ([`Limits`]) bound nesting depth, the number of
//! values, and the length of one string. Integers must fit in an `i64`.
//!
//! It must not: touch files or sockets. It is a pure codec.

mod decode;
mod encode;
mod reader;
pub mod writer;

pub use decode::{DecodeError, DecodeErrorKind, Limits, Node, Value, decode, decode_prefix};
pub use encode::OwnedValue;
pub use reader::{Reader, Token};
