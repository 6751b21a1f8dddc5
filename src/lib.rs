//! seedring: a thread-per-core BitTorrent engine and seedbox daemon for Linux.
//!
//! Crate map (see `docs/ARCHITECTURE.md` for the whole picture):
//!
//! - [`bencode`]: zero-copy decoder that keeps every value's raw bytes, canonical encoder.
//! - [`metainfo`]: `.torrent` files, magnet links, piece geometry, path safety, creation.
//! - [`hash`]: SHA-1 (SHA-NI when the CPU has it), batch and multi-core piece hashing.
//! - [`disk_uring`]: the file side: memory-mapped rechecks, the walk behind `create`.
//! - [`types`]: identifier newtypes such as [`InfoHash`].

pub mod bencode;
pub mod core;
pub mod daemon;
pub mod dht;
pub mod disk_uring;
pub mod engine;
pub mod fuzz;
pub mod hash;
pub mod ipfilter;
pub mod logring;
pub mod lsd;
pub mod metainfo;
pub mod migrate;
pub mod net;
pub mod peerlog;
pub(crate) mod prefetch;
pub mod proto;
pub mod ratelimit;
pub mod resume_lmdb;
pub mod roots;
pub mod shard;
pub mod sim;
pub mod storage;
pub mod types;
pub mod utp;

pub use engine::Engine;
pub use types::{InfoHash, Time};
