//! The network side outside the shards: trackers.
//!
//! What it owns: the announce schedule of a torrent's trackers ([`Announcer`], pure,
//! time passed in) and the control-plane thread that talks to trackers over HTTP(S)
//! and UDP ([`TrackerClient`]). Peers found are handed to the engine by the caller.
//!
//! Peer connections themselves live in `crate::shard` (one compio runtime per shard).
//!
//! Limits: tracker replies are capped at 1 MiB and 2,000 peers, HTTP follows at most
//! three redirects and never asks for compressed replies, every request has a
//! timeout.

mod announce;
mod tracker;

pub use announce::{Announcer, TrackerStatus};
pub use tracker::TrackerClient;
