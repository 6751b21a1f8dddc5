//! A torrent's address book: the peer addresses it may connect to, where each was
//! learned, and what a peer said about it.
//!
//! Rules:
//! - the book holds at most [`MAX_KNOWN_ADDRS`] addresses; when it is full a new
//!   one replaces an address that failed to connect and is not connected, or is
//!   refused (counted, and said once per torrent in the log);
//! - port 0, unspecified, multicast and broadcast addresses are refused, and a
//!   local address (loopback, private, link-local, unique-local) is accepted only
//!   from this machine (a manual add, a tracker) or from a peer that is itself on
//!   a local address: a peer on the internet must not make us connect to our own
//!   services or our LAN (libtorrent has the same rule for peer exchange);
//! - every source an address was learned from is kept ([`PeerSource`]), and the
//!   flags peer exchange gave with it (seed, reachable, ...).

use core::net::{IpAddr, SocketAddr};

use super::torrent::Torrent;
use crate::types::Time;

/// Addresses a torrent keeps at most.
pub(crate) const MAX_KNOWN_ADDRS: usize = 2_000;

/// Where an address was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerSource {
    /// A tracker's announce reply.
    Tracker,
    /// Peer exchange (BEP 11).
    Pex,
    /// The DHT.
    Dht,
    /// Local service discovery (BEP 14).
    Lsd,
    /// Added by the user (or a magnet's `x.pe`).
    Manual,
    /// The resume record (peers that answered before a restart).
    Resume,
}

impl PeerSource {
    /// Every source, in the order stats list them.
    pub const ALL: [PeerSource; 6] = [
        PeerSource::Tracker,
        PeerSource::Pex,
        PeerSource::Dht,
        PeerSource::Lsd,
        PeerSource::Manual,
        PeerSource::Resume,
    ];

    pub(crate) fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The name used in stats and logs.
    pub fn name(self) -> &'static str {
        match self {
            PeerSource::Tracker => "tracker",
            PeerSource::Pex => "pex",
            PeerSource::Dht => "dht",
            PeerSource::Lsd => "lsd",
            PeerSource::Manual => "manual",
            PeerSource::Resume => "resume",
        }
    }
}

/// Known addresses of one torrent counted by source (an address learned from two
/// sources counts in both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerSources {
    /// From trackers.
    pub tracker: u32,
    /// From peer exchange.
    pub pex: u32,
    /// From the DHT.
    pub dht: u32,
    /// From local service discovery.
    pub lsd: u32,
    /// Added by hand or in a magnet.
    pub manual: u32,
    /// From the resume record.
    pub resume: u32,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct AddrState {
    pub connected: bool,
    pub failures: u32,
    pub last_attempt: Option<Time>,
    /// [`PeerSource`] bits.
    pub sources: u8,
    /// The BEP 11 flags a peer gave with it (`crate::proto::pex::FLAG_*`).
    pub flags: u8,
    /// Our next attempt is plaintext (an MSE attempt failed; see `core::crypt`).
    pub plain_next: bool,
    /// Our next attempt takes the transport we do not prefer (see
    /// `core::transport`).
    pub other_transport_next: bool,
    /// Learned only under the torrent's alias (a hybrid's other swarm): dialled
    /// with that name (see `core::alias`).
    pub alias_only: bool,
}

impl AddrState {
    /// Whether it came from `source`.
    pub fn from(&self, source: PeerSource) -> bool {
        self.sources & source.bit() != 0
    }
}

/// What [`Torrent::learn`] made of a batch of addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Learned {
    pub new: usize,
    pub known: usize,
    /// Refused by the rules (port 0, loopback from a remote peer, ...).
    pub refused: usize,
    /// Not kept: the book was full of addresses worth keeping.
    pub full: usize,
    /// Why the first refused address was refused.
    pub why: Option<&'static str>,
}

/// Why `addr` must not be dialled when `told_by` (the teller's address; `None`
/// for this machine) gave it, if it must not.
pub(crate) fn refuse(addr: SocketAddr, told_by: Option<IpAddr>) -> Option<&'static str> {
    let ip = addr.ip().to_canonical();
    if addr.port() == 0 {
        return Some("port 0");
    }
    if ip.is_unspecified() {
        return Some("unspecified address");
    }
    if ip.is_multicast() || ip == IpAddr::from([255, 255, 255, 255]) {
        return Some("multicast or broadcast address");
    }
    if is_local(ip) && told_by.is_some_and(|t| !is_local(t.to_canonical())) {
        return Some("local address from a peer on the internet");
    }
    None
}

/// IPv4-mapped addresses as IPv4; an IPv6 address keeps its scope (a link-local
/// peer is reachable only through its interface).
pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
            None => SocketAddr::V6(core::net::SocketAddrV6::new(
                *a.ip(),
                a.port(),
                0,
                a.scope_id(),
            )),
        },
        v4 => v4,
    }
}

/// Loopback, private (RFC 1918), link-local, shared (RFC 6598) or unique-local.
fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
    }
}

impl Torrent {
    /// Adds `addrs` to the book as learned from `source` (`told_by`: who told us,
    /// `None` for this machine). `flags`: what a peer said of each (BEP 11).
    pub(crate) fn learn(
        &mut self,
        addrs: impl IntoIterator<Item = (SocketAddr, u8)>,
        source: PeerSource,
        told_by: Option<IpAddr>,
    ) -> Learned {
        self.learn_named(addrs, source, told_by, false)
    }

    /// [`Torrent::learn`], the addresses learned under the torrent's alias
    /// when `alias` (see `core::alias`).
    pub(crate) fn learn_named(
        &mut self,
        addrs: impl IntoIterator<Item = (SocketAddr, u8)>,
        source: PeerSource,
        told_by: Option<IpAddr>,
        alias: bool,
    ) -> Learned {
        let mut l = Learned::default();
        // Addresses that may make room, found once per batch when the book fills.
        let mut room: Option<Vec<SocketAddr>> = None;
        for (addr, flags) in addrs {
            let addr = canonical(addr);
            let filtered = self
                .ip_filter
                .blocks(addr.ip())
                .then_some("blocked by the IP filter");
            if let Some(why) = filtered.or_else(|| refuse(addr, told_by)) {
                l.refused += 1;
                l.why.get_or_insert(why);
                continue;
            }
            if let Some(a) = self.addrs.get_mut(&addr) {
                a.sources |= source.bit();
                a.flags |= flags;
                a.alias_only &= alias;
                l.known += 1;
                continue;
            }
            if self.addrs.len() >= MAX_KNOWN_ADDRS {
                let room = room.get_or_insert_with(|| {
                    self.addrs
                        .iter()
                        .filter(|(_, a)| !a.connected && a.failures > 0)
                        .map(|(k, _)| *k)
                        .collect()
                });
                let Some(gone) = room.pop() else {
                    l.full += 1;
                    continue;
                };
                self.addrs.remove(&gone);
            }
            self.addrs.insert(
                addr,
                AddrState {
                    sources: source.bit(),
                    flags,
                    alias_only: alias,
                    ..AddrState::default()
                },
            );
            l.new += 1;
        }
        if l.full > 0 && !self.addrs_full_logged {
            self.addrs_full_logged = true;
            tracing::info!(
                name = %self.name,
                source = source.name(),
                kept = MAX_KNOWN_ADDRS,
                "peer addresses: the list is full; new ones are dropped until some fail"
            );
        }
        l
    }

    /// Known addresses counted by source.
    pub(crate) fn peer_sources(&self) -> PeerSources {
        let mut s = PeerSources::default();
        for a in self.addrs.values() {
            for (src, n) in [
                (PeerSource::Tracker, &mut s.tracker),
                (PeerSource::Pex, &mut s.pex),
                (PeerSource::Dht, &mut s.dht),
                (PeerSource::Lsd, &mut s.lsd),
                (PeerSource::Manual, &mut s.manual),
                (PeerSource::Resume, &mut s.resume),
            ] {
                *n += u32::from(a.from(src));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_rules() {
        let remote = Some(IpAddr::from([203, 0, 113, 5]));
        let local = Some(IpAddr::from([127, 0, 0, 1]));
        assert_eq!(refuse(a("10.0.0.1:0"), None), Some("port 0"));
        assert!(refuse(a("0.0.0.0:1"), None).is_some());
        assert!(refuse(a("[::]:1"), None).is_some());
        assert!(refuse(a("224.0.0.1:1"), None).is_some());
        assert!(refuse(a("255.255.255.255:1"), None).is_some());
        assert!(refuse(a("127.0.0.1:22"), remote).is_some());
        assert!(refuse(a("[::1]:22"), remote).is_some());
        assert!(refuse(a("[::ffff:127.0.0.1]:22"), remote).is_some());
        assert_eq!(refuse(a("127.0.0.1:22"), local), None);
        assert_eq!(refuse(a("127.0.0.1:22"), None), None);
        assert!(refuse(a("10.0.0.1:6881"), remote).is_some());
        assert!(refuse(a("192.168.1.1:80"), remote).is_some());
        assert!(refuse(a("169.254.1.1:80"), remote).is_some());
        assert!(refuse(a("100.64.0.1:80"), remote).is_some());
        assert!(refuse(a("[fd00::1]:80"), remote).is_some());
        assert!(refuse(a("[fe80::1]:80"), remote).is_some());
        assert_eq!(
            refuse(a("10.0.0.1:6881"), Some(IpAddr::from([10, 0, 0, 2]))),
            None
        );
        assert_eq!(refuse(a("10.0.0.1:6881"), None), None);
        assert_eq!(refuse(a("[2001:db8::1]:6881"), remote), None);
    }
}
