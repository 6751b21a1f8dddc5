//! What a node keeps for others: tokens (BEP 5: a hash of the asker's address
//! and a secret that changes every five minutes, the previous one still good),
//! peers announced to it, and each address's query rate.
//!
//! Bounds: [`MAX_TORRENTS`] info-hashes with [`MAX_PEERS_PER_TORRENT`] peers each
//! (the oldest go first), peers forgotten after [`PEER_TTL`]; query rates kept
//! for [`MAX_RATED`] addresses.

use core::net::{IpAddr, SocketAddr};
use std::collections::BTreeMap;
use std::time::Duration;

use super::id::NodeId;
use crate::hash;
use crate::types::Time;

/// Info-hashes we hold peers for.
pub const MAX_TORRENTS: usize = 2_000;
/// Peers held per info-hash.
pub const MAX_PEERS_PER_TORRENT: usize = 100;
/// How long an announced peer is kept.
pub const PEER_TTL: Duration = Duration::from_secs(30 * 60);
/// Between two secrets.
pub const SECRET_LIFE: Duration = Duration::from_secs(5 * 60);
/// Addresses whose query rates are tracked.
pub const MAX_RATED: usize = 4_096;

/// Tokens handed out and checked.
#[derive(Debug, Clone)]
pub struct Tokens {
    secret: [u8; 20],
    previous: [u8; 20],
    since: Time,
}

impl Tokens {
    /// Tokens from a first secret.
    pub fn new(secret: [u8; 20], now: Time) -> Tokens {
        Tokens {
            secret,
            previous: secret,
            since: now,
        }
    }

    /// Changes the secret when it is old enough (`fresh`: the next one).
    pub fn rotate(&mut self, now: Time, fresh: [u8; 20]) {
        if now.since(self.since) >= SECRET_LIFE {
            self.previous = self.secret;
            self.secret = fresh;
            self.since = now;
        }
    }

    fn make(secret: &[u8; 20], ip: IpAddr) -> Vec<u8> {
        let mut b = secret.to_vec();
        match ip.to_canonical() {
            IpAddr::V4(v4) => b.extend_from_slice(&v4.octets()),
            IpAddr::V6(v6) => b.extend_from_slice(&v6.octets()),
        }
        hash::sha1(&b)[..8].to_vec()
    }

    /// The token for `ip` now.
    pub fn token(&self, ip: IpAddr) -> Vec<u8> {
        Self::make(&self.secret, ip)
    }

    /// Whether `token` is one we gave `ip` within the last two secrets.
    pub fn valid(&self, token: &[u8], ip: IpAddr) -> bool {
        token == Self::make(&self.secret, ip) || token == Self::make(&self.previous, ip)
    }
}

/// Peers announced to us, per info-hash.
#[derive(Debug, Default, Clone)]
pub struct PeerStore {
    torrents: BTreeMap<NodeId, Vec<(SocketAddr, Time)>>,
    /// The last pass over everything for expired peers: a full store refusing
    /// announces for new info-hashes tries again at most once a minute, so a
    /// stream of them costs no pass each.
    expired_at: Option<Time>,
}

impl PeerStore {
    /// Keeps `peer` for `ih` (refreshing it if known). Returns false when the
    /// store is full of other info-hashes.
    pub fn announce(&mut self, ih: NodeId, peer: SocketAddr, now: Time) -> bool {
        if !self.torrents.contains_key(&ih) && self.torrents.len() >= MAX_TORRENTS {
            if self
                .expired_at
                .is_none_or(|at| now.since(at) >= Duration::from_secs(60))
            {
                self.expire(now);
            }
            if self.torrents.len() >= MAX_TORRENTS {
                return false;
            }
        }
        let peers = self.torrents.entry(ih).or_default();
        peers.retain(|(a, _)| *a != peer);
        if peers.len() >= MAX_PEERS_PER_TORRENT {
            peers.remove(0);
        }
        peers.push((peer, now));
        true
    }

    /// Up to `n` live peers of `ih`, IPv4 or IPv6 as `v6` asks, newest first.
    pub fn peers(&self, ih: &NodeId, now: Time, n: usize, v6: bool) -> Vec<SocketAddr> {
        self.torrents.get(ih).map_or_else(Vec::new, |p| {
            p.iter()
                .rev()
                .filter(|(a, at)| now.since(*at) < PEER_TTL && a.is_ipv6() == v6)
                .take(n)
                .map(|(a, _)| *a)
                .collect()
        })
    }

    /// Forgets peers older than [`PEER_TTL`] and info-hashes left empty.
    pub fn expire(&mut self, now: Time) {
        self.expired_at = Some(now);
        self.torrents.retain(|_, p| {
            p.retain(|(_, at)| now.since(*at) < PEER_TTL);
            !p.is_empty()
        });
    }

    /// Info-hashes held.
    pub fn len(&self) -> usize {
        self.torrents.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.torrents.is_empty()
    }
}

/// Each address's incoming query rate: a token bucket per address.
#[derive(Debug, Default, Clone)]
pub struct Rates {
    buckets: BTreeMap<IpAddr, (f64, Time)>,
}

impl Rates {
    /// Whether a query from `ip` at `now` is within `per_sec` (burst of as many).
    pub fn allow(&mut self, ip: IpAddr, now: Time, per_sec: u32) -> bool {
        let rate = f64::from(per_sec);
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= MAX_RATED {
            // Forget addresses whose bucket has refilled; if none, the oldest.
            self.buckets
                .retain(|_, (tokens, at)| *tokens + now.since(*at).as_secs_f64() * rate < rate);
            if self.buckets.len() >= MAX_RATED {
                let oldest = self
                    .buckets
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(ip, _)| *ip);
                if let Some(ip) = oldest {
                    self.buckets.remove(&ip);
                }
            }
        }
        let (tokens, at) = self.buckets.entry(ip).or_insert((rate, now));
        *tokens = (*tokens + now.since(*at).as_secs_f64() * rate).min(rate);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_live_two_secrets() {
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        let other: IpAddr = "203.0.113.2".parse().unwrap();
        let mut t = Tokens::new([1; 20], Time::ZERO);
        let tok = t.token(ip);
        assert!(t.valid(&tok, ip) && !t.valid(&tok, other));
        t.rotate(Time::from_secs(301), [2; 20]);
        assert!(t.valid(&tok, ip), "the previous secret still counts");
        t.rotate(Time::from_secs(602), [3; 20]);
        assert!(!t.valid(&tok, ip));
    }

    #[test]
    fn the_store_is_bounded() {
        let mut s = PeerStore::default();
        let ih = NodeId([1; 20]);
        for p in 0..150u16 {
            assert!(s.announce(ih, SocketAddr::from(([1, 1, 1, 1], p + 1)), Time::ZERO));
        }
        assert_eq!(
            s.peers(&ih, Time::ZERO, 1000, false).len(),
            MAX_PEERS_PER_TORRENT
        );
        for i in 0..MAX_TORRENTS {
            let mut id = [0u8; 20];
            id[..8].copy_from_slice(&(i as u64 + 10).to_be_bytes());
            s.announce(NodeId(id), SocketAddr::from(([1, 1, 1, 1], 1)), Time::ZERO);
        }
        assert_eq!(s.len(), MAX_TORRENTS);
        assert!(!s.announce(
            NodeId([9; 20]),
            SocketAddr::from(([1, 1, 1, 1], 1)),
            Time::ZERO
        ));
        // Once the old ones expire there is room again.
        assert!(s.announce(
            NodeId([9; 20]),
            SocketAddr::from(([1, 1, 1, 1], 1)),
            Time::from_secs(3600)
        ));
        assert!(s.peers(&ih, Time::from_secs(3600), 10, false).is_empty());
    }

    #[test]
    fn rates_per_address() {
        let mut r = Rates::default();
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        let allowed = (0..50).filter(|_| r.allow(ip, Time::ZERO, 10)).count();
        assert_eq!(allowed, 10);
        assert!(r.allow(ip, Time::from_secs(1), 10));
        assert!(r.allow("203.0.113.2".parse().unwrap(), Time::ZERO, 10));
    }
}
