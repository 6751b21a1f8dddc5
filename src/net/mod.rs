//! The network side outside the shards: trackers, the DHT ([`dht`]) and local
//! service discovery ([`lsd`]).
//!
//! What it owns: the control-plane thread that talks to trackers over HTTP(S) and
//! UDP ([`TrackerClient`]), and fetches byte ranges from web seeds (`webseed`). When to announce, and what, is the core's
//! (`core::tracking`); the shards hand its announces to this client and its
//! replies back to the core.
//!
//! [`peer`]: the socket side of peer connections (reader and writer tasks, the
//! handshake of accepted connections and their handoff between shards), run by the
//! shards (`crate::shard`, one compio runtime each), over TCP or uTP
//! ([`stream`]); [`utp`]: the uTP socket's thread.
//!
//! Limits: tracker replies are capped at 1 MiB and 2,000 peers, HTTP follows at most
//! three redirects and never asks for compressed replies, every request has a
//! timeout.

mod closing;
pub mod dht;
pub mod lsd;
pub(crate) mod peer;
mod sendfile;
pub(crate) mod stream;
mod tracker;
mod udp_gso;
pub(crate) mod utp;
mod webseed;
pub(crate) mod writer;

pub(crate) use closing::{CLOSE_WAIT, close_when_answered};

pub use tracker::TrackerClient;
pub(crate) use tracker::TrackerLink;
pub(crate) use webseed::WebPart;
