//! The network side outside the shards: trackers.
//!
//! What it owns: the control-plane thread that talks to trackers over HTTP(S) and
//! UDP ([`TrackerClient`]). When to announce, and what, is the core's
//! (`core::tracking`); the shards hand its announces to this client and its
//! replies back to the core.
//!
//! Peer connections themselves live in `crate::shard` (one compio runtime per shard).
//!
//! Limits: tracker replies are capped at 1 MiB and 2,000 peers, HTTP follows at most
//! three redirects and never asks for compressed replies, every request has a
//! timeout.

mod tracker;

pub use tracker::TrackerClient;
