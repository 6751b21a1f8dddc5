//! Our own addresses as peers see them (BEP 10 `yourip`), so the extension
//! handshake can tell a peer of one family our address in the other (`ipv4`,
//! `ipv6`): a peer that reaches us over IPv4 then knows where to find us over
//! IPv6, and the reverse.
//!
//! One peer's word is not enough (it may lie): an address is believed once
//! [`AGREE`] peers at different addresses said it, and a local address only
//! from local peers (as for addresses peers hand out, `addrs::refuse`).

use core::net::IpAddr;
use std::collections::{BTreeMap, BTreeSet};

/// Distinct reporters needed before an address is believed.
pub const AGREE: usize = 2;
/// Candidate addresses kept per family; a new one past this replaces the one
/// with the fewest reporters.
const CANDIDATES: usize = 8;
/// Reporters remembered per candidate (enough to count to [`AGREE`] and beyond).
const REPORTERS: usize = 8;

/// The votes for our addresses, per family.
#[derive(Debug, Default, Clone)]
pub struct OurAddrs {
    votes: [BTreeMap<IpAddr, BTreeSet<IpAddr>>; 2],
}

fn family(ip: IpAddr) -> usize {
    usize::from(ip.is_ipv6())
}

impl OurAddrs {
    /// Peer `by` says it sees us at `ours` (4 or 16 bytes).
    pub fn heard(&mut self, ours: &[u8], by: IpAddr) {
        let ip = match ours.len() {
            4 => IpAddr::from(<[u8; 4]>::try_from(ours).expect("4 bytes")),
            16 => IpAddr::from(<[u8; 16]>::try_from(ours).expect("16 bytes")),
            _ => return,
        }
        .to_canonical();
        let by = by.to_canonical();
        if super::addrs::refuse((ip, 1).into(), Some(by)).is_some() {
            return;
        }
        let votes = &mut self.votes[family(ip)];
        if !votes.contains_key(&ip) && votes.len() >= CANDIDATES {
            let weakest = (votes.iter())
                .min_by_key(|(_, r)| r.len())
                .map(|(a, _)| *a)
                .expect("full");
            votes.remove(&weakest);
        }
        let reporters = votes.entry(ip).or_default();
        if reporters.len() < REPORTERS {
            reporters.insert(by);
        }
    }

    /// Our believed address of `v6`'s family: the one most peers agree on.
    pub fn ours(&self, v6: bool) -> Option<IpAddr> {
        (self.votes[usize::from(v6)].iter())
            .filter(|(_, r)| r.len() >= AGREE)
            .max_by_key(|(_, r)| r.len())
            .map(|(a, _)| *a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn believed_once_two_peers_agree() {
        let mut o = OurAddrs::default();
        let us6 = ip("2001:db8::1");
        let bytes = |a: IpAddr| match a {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        o.heard(&bytes(us6), ip("2001:db8::50"));
        assert_eq!(o.ours(true), None, "one peer's word");
        o.heard(&bytes(us6), ip("2001:db8::50"));
        assert_eq!(o.ours(true), None, "the same peer twice");
        o.heard(&bytes(us6), ip("2001:db8::51"));
        assert_eq!(o.ours(true), Some(us6));
        assert_eq!(o.ours(false), None);
        // Liars each naming their own address never outvote the agreement.
        for i in 0..20u8 {
            o.heard(&[198, 51, 100, i], ip(&format!("203.0.113.{i}")));
        }
        assert_eq!(o.ours(false), None);
        // A local address from internet peers is not believed; from local ones it is.
        o.heard(&[10, 0, 0, 1], ip("203.0.113.1"));
        o.heard(&[10, 0, 0, 1], ip("203.0.113.2"));
        assert_eq!(o.ours(false), None);
        o.heard(&[127, 0, 0, 1], ip("127.0.0.2"));
        o.heard(&[127, 0, 0, 1], ip("::ffff:127.0.0.3"));
        assert_eq!(o.ours(false), Some(ip("127.0.0.1")));
        o.heard(&[1, 2, 3], ip("127.0.0.2"));
        assert_eq!(o.votes[0].len(), CANDIDATES);
    }
}
