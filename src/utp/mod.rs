//! uTP (BEP 29): BitTorrent's reliable, ordered byte stream over UDP, with
//! LEDBAT congestion control so it yields to other traffic on a shared link.
//!
//! Sans IO like the core: [`packet`] encodes and decodes datagrams,
//! [`Conn`] is one connection's state machine (ACKs, selective ACKs, resends,
//! timeouts, FIN), [`congestion`] its LEDBAT window and round-trip estimate,
//! and [`Endpoint`] one socket's connections matched by address and id, with
//! bounds on connections and on half-open ones. A driver feeds it datagrams
//! and time and sends what it gives back.
//!
//! Why our own: the crates that exist (`librqbit-utp`, `utp-rs`) are built
//! into tokio and own their sockets and timers; ours runs unchanged under the
//! shards and the simulator, and its bounds are ours to choose.
//!
//! What it must not do: know about BitTorrent (peers, torrents, handshakes).

pub mod congestion;
mod conn;
mod endpoint;
pub mod packet;
#[cfg(test)]
mod tests;

pub use conn::{Conn, ConnError, MAX_OUT_OF_ORDER, PAYLOAD, RECV_BUFFER, SEND_BUFFER, State};
pub use endpoint::{Endpoint, Key, MAX_CONNS, MAX_HALF_OPEN, MAX_RESETS, Received};
