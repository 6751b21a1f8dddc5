//! One UDP socket's uTP connections, sans IO: datagrams in are matched to their
//! connection by (address, connection id), SYNs open new ones, and what each
//! connection has to send comes out as `(address, datagram)`.
//!
//! Bounds: at most [`MAX_CONNS`] connections, of which at most [`MAX_HALF_OPEN`]
//! accepted and not yet spoken on (a flood of SYNs from made-up addresses holds
//! no more); RESETs answering packets for unknown connections at most
//! [`MAX_RESETS`] queued (the rest are not answered).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;

use super::conn::{Conn, State};
use super::packet::{Header, Kind, PacketError};
use crate::core::Rng;
use crate::types::Time;

/// Connections one endpoint holds.
pub const MAX_CONNS: usize = 8192;
/// Accepted connections the peer has not spoken on yet.
pub const MAX_HALF_OPEN: usize = 128;
/// RESETs waiting to go out.
pub const MAX_RESETS: usize = 64;

/// A connection: the peer's address and the id its packets carry to us.
pub type Key = (SocketAddr, u16);

/// What a datagram did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// For a known connection (which may now have bytes to read or room to write).
    Conn(Key),
    /// A new connection the peer opened.
    Accepted(Key),
    /// Dropped, with why (a reset queued, a SYN over the bounds, a stray packet).
    Dropped(&'static str),
}

/// The connections of one socket.
#[derive(Debug)]
pub struct Endpoint {
    conns: HashMap<Key, Conn>,
    /// Connections with something to send.
    dirty: HashSet<Key>,
    resets: VecDeque<(SocketAddr, Vec<u8>)>,
    rng: Rng,
}

impl Endpoint {
    /// An endpoint whose ids and sequence numbers come from `seed`.
    pub fn new(seed: u64) -> Endpoint {
        Endpoint {
            conns: HashMap::new(),
            dirty: HashSet::new(),
            resets: VecDeque::new(),
            rng: Rng::new(seed),
        }
    }

    /// Connections held.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    fn random_u16(&mut self) -> u16 {
        self.rng.next_u64().to_le_bytes()[0..2]
            .try_into()
            .map(u16::from_le_bytes)
            .unwrap_or(0)
    }

    /// Opens a connection to `addr` (its SYN goes out at the next
    /// `poll_transmit`); `None` when [`MAX_CONNS`] are open.
    pub fn connect(&mut self, now: Time, addr: SocketAddr) -> Option<Key> {
        if self.conns.len() >= MAX_CONNS {
            return None;
        }
        // Our id, and the one after it (theirs for our packets), both free.
        let id = loop {
            let id = self.random_u16();
            let free = |i: u16| !self.conns.contains_key(&(addr, i));
            if free(id) && free(id.wrapping_add(1)) {
                break id;
            }
        };
        let seq = self.random_u16();
        let key = (addr, id);
        self.conns.insert(key, Conn::connect(now, id, seq));
        self.dirty.insert(key);
        Some(key)
    }

    /// A datagram from `from`.
    pub fn on_datagram(
        &mut self,
        now: Time,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<Received, PacketError> {
        let (h, payload) = Header::decode(bytes)?;
        if h.kind == Kind::Syn {
            return Ok(self.on_syn(now, from, &h));
        }
        let key = (from, h.conn_id);
        let Some(c) = self.conns.get_mut(&key) else {
            if h.kind == Kind::Reset {
                return Ok(Received::Dropped("a reset for no connection"));
            }
            if self.resets.len() >= MAX_RESETS {
                return Ok(Received::Dropped(
                    "a packet for no connection (resets queue full)",
                ));
            }
            let mut out = Vec::new();
            Conn::reset_packet(now, &h, &mut out);
            self.resets.push_back((from, out));
            return Ok(Received::Dropped("a packet for no connection (reset)"));
        };
        c.on_packet(now, &h, payload);
        self.dirty.insert(key);
        Ok(Received::Conn(key))
    }

    fn on_syn(&mut self, now: Time, from: SocketAddr, h: &Header) -> Received {
        let key = (from, h.conn_id.wrapping_add(1));
        if let Some(c) = self.conns.get_mut(&key) {
            // A resent SYN: our ACK again.
            c.on_packet(now, h, &[]);
            self.dirty.insert(key);
            return Received::Conn(key);
        }
        if self.conns.len() >= MAX_CONNS {
            return Received::Dropped("a SYN over the connection bound");
        }
        let half_open = self
            .conns
            .values()
            .filter(|c| c.state() == State::SynRecv)
            .count();
        if half_open >= MAX_HALF_OPEN {
            return Received::Dropped("a SYN over the half-open bound");
        }
        let seq = self.random_u16();
        self.conns.insert(key, Conn::accept(now, h, seq));
        self.dirty.insert(key);
        Received::Accepted(key)
    }

    /// The connection `key`, to read, write or close.
    pub fn conn(&mut self, key: Key) -> Option<&mut Conn> {
        let c = self.conns.get_mut(&key)?;
        // Whatever the caller does may give it something to send.
        self.dirty.insert(key);
        Some(c)
    }

    /// Forgets a connection (closed, or given up by the application).
    pub fn remove(&mut self, key: Key) -> Option<Conn> {
        self.dirty.remove(&key);
        self.conns.remove(&key)
    }

    /// The next datagram to send, into `out`, and where to; `None` when there is
    /// nothing to send now.
    pub fn poll_transmit(&mut self, now: Time, out: &mut Vec<u8>) -> Option<SocketAddr> {
        if let Some((to, bytes)) = self.resets.pop_front() {
            *out = bytes;
            return Some(to);
        }
        while let Some(&key) = self.dirty.iter().next() {
            if self
                .conns
                .get_mut(&key)
                .is_some_and(|c| c.poll_transmit(now, out))
            {
                return Some(key.0);
            }
            self.dirty.remove(&key);
        }
        None
    }

    /// Runs every connection's timers; connections with something to send
    /// afterwards are marked for `poll_transmit`. Returns the earliest deadline.
    pub fn on_timeout(&mut self, now: Time) -> Option<Time> {
        let mut next: Option<Time> = None;
        for (key, c) in &mut self.conns {
            if c.deadline().is_some_and(|d| d <= now) {
                c.on_timeout(now);
                self.dirty.insert(*key);
            }
            if let Some(d) = c.deadline() {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        next
    }

    /// Keys of every connection (for a driver's sweep).
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.conns.keys().copied()
    }
}
