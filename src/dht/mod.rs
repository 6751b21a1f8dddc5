//! The DHT (BEP 5, with BEP 32's IPv6 and BEP 42's address-bound ids): finding
//! peers without a tracker. Sans-IO like `core`: [`Dht`] takes datagrams and
//! ticks with the time and returns [`DhtAction`]s; a driver owns the UDP socket.
//!
//! What it owns: node ids and the XOR metric ([`id`]), the KRPC codec
//! ([`krpc`]), the routing table ([`table`]), iterative lookups ([`lookup`]),
//! tokens, announced peers and per-address rates ([`store`]), nodes that hand out
//! peers no one else knows ([`liars`]), and the node that ties them ([`node`]).
//!
//! What it must not do: read a clock, touch a socket, or know about torrents
//! beyond their info-hashes.
#![warn(missing_docs)]

pub mod id;
pub mod krpc;
pub mod liars;
pub mod lookup;
pub mod node;
pub mod saved;
pub mod schedule;
pub mod store;
pub mod table;

pub use id::NodeId;
pub use krpc::NodeInfo;
pub use node::{Dht, DhtAction, DhtConfig, DhtStats};
pub use saved::Saved;
