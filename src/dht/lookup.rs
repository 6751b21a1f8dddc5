//! An iterative lookup (BEP 5): ask the nodes nearest a target for nodes nearer
//! still, [`ALPHA`] at a time, until the [`K`] nearest that answered have all
//! been asked. `get_peers` lookups also gather peers and the tokens needed to
//! announce.
//!
//! Bounds: at most [`MAX_CANDIDATES`] candidates are kept (the nearest), at most
//! [`MAX_QUERIES`] queries are sent, at most [`MAX_PEERS`] peers gathered, so a
//! lookup ends after a bounded number of queries whatever the nodes answer.

use core::net::SocketAddr;
use std::collections::{BTreeMap, BTreeSet};

use super::id::NodeId;
use super::krpc::NodeInfo;
use super::liars::MIN_VALUES;
use super::table::K;

/// Queries in flight per lookup.
pub const ALPHA: usize = 3;
/// Candidates kept.
pub const MAX_CANDIDATES: usize = 64;
/// Queries per lookup at most.
pub const MAX_QUERIES: usize = 64;
/// Peers gathered per lookup at most.
pub const MAX_PEERS: usize = 500;

/// What a lookup is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Nodes near an id (bootstrap, refresh).
    FindNode,
    /// Peers of a torrent.
    GetPeers,
    /// Peers of a torrent, then announce our port to the nearest nodes.
    Announce {
        /// Our peer port.
        port: u16,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Fresh,
    Asked,
    Answered,
    Failed,
}

#[derive(Debug, Clone)]
struct Candidate {
    info: NodeInfo,
    state: State,
    token: Option<Vec<u8>>,
    /// The peers it named (the first [`VALUES_KEPT`], sorted, once each).
    values: Vec<SocketAddr>,
}

/// Peers remembered per answering node, to compare answers.
const VALUES_KEPT: usize = 64;

/// One lookup in progress.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// The id looked for.
    pub target: NodeId,
    /// Why.
    pub purpose: Purpose,
    cands: BTreeMap<[u8; 20], Candidate>,
    in_flight: usize,
    /// Queries sent so far.
    pub queries: usize,
    /// Peers gathered.
    pub peers: BTreeSet<SocketAddr>,
}

impl Lookup {
    /// A lookup of `target` starting from `seeds` (the table's nearest nodes).
    pub fn new(target: NodeId, purpose: Purpose, seeds: &[NodeInfo]) -> Lookup {
        let mut l = Lookup {
            target,
            purpose,
            cands: BTreeMap::new(),
            in_flight: 0,
            queries: 0,
            peers: BTreeSet::new(),
        };
        l.add(seeds);
        l
    }

    fn add(&mut self, nodes: &[NodeInfo]) {
        for n in nodes {
            let d = n.id.distance(&self.target);
            if self.cands.contains_key(&d) || self.cands.values().any(|c| c.info.addr == n.addr) {
                continue;
            }
            if self.cands.len() >= MAX_CANDIDATES {
                let Some((&far, _)) = self.cands.last_key_value() else {
                    break;
                };
                if d >= far {
                    continue;
                }
                // Drop the farthest that is not waited for.
                let drop = self
                    .cands
                    .iter()
                    .rev()
                    .find(|(_, c)| c.state != State::Asked)
                    .map(|(k, _)| *k);
                match drop {
                    Some(k) => {
                        self.cands.remove(&k);
                    }
                    None => continue,
                }
            }
            self.cands.insert(
                d,
                Candidate {
                    info: *n,
                    state: State::Fresh,
                    token: None,
                    values: Vec::new(),
                },
            );
        }
    }

    /// The next node to ask, if one may be asked now.
    pub fn next_to_ask(&mut self) -> Option<NodeInfo> {
        if self.in_flight >= ALPHA || self.queries >= MAX_QUERIES {
            return None;
        }
        let c = self
            .cands
            .values_mut()
            .filter(|c| c.state != State::Failed)
            .take(K)
            .find(|c| c.state == State::Fresh)?;
        c.state = State::Asked;
        self.in_flight += 1;
        self.queries += 1;
        Some(c.info)
    }

    fn get(&mut self, addr: SocketAddr) -> Option<&mut Candidate> {
        self.cands
            .values_mut()
            .find(|c| c.info.addr == addr && c.state == State::Asked)
    }

    /// `addr` answered with `nodes`, `values` and maybe a token. Returns the
    /// peers that are new to this lookup.
    pub fn answered(
        &mut self,
        addr: SocketAddr,
        nodes: &[NodeInfo],
        values: &[SocketAddr],
        token: Option<Vec<u8>>,
    ) -> Vec<SocketAddr> {
        let Some(c) = self.get(addr) else {
            return Vec::new();
        };
        c.state = State::Answered;
        c.token = token;
        c.values = values.iter().take(VALUES_KEPT).copied().collect();
        c.values.sort_unstable();
        c.values.dedup();
        self.in_flight -= 1;
        self.add(nodes);
        let mut new = Vec::new();
        for v in values {
            if self.peers.len() >= MAX_PEERS {
                break;
            }
            if self.peers.insert(*v) {
                new.push(*v);
            }
        }
        new
    }

    /// A query to `addr` failed (timeout or garbage).
    pub fn failed(&mut self, addr: SocketAddr) {
        if let Some(c) = self.get(addr) {
            c.state = State::Failed;
            self.in_flight -= 1;
        }
    }

    /// Whether nothing more will be asked: the nearest [`K`] live candidates
    /// have all answered (or the query budget is spent), and nothing is in
    /// flight.
    pub fn done(&self) -> bool {
        if self.in_flight > 0 {
            return false;
        }
        self.queries >= MAX_QUERIES
            || !self
                .cands
                .values()
                .filter(|c| c.state != State::Failed)
                .take(K)
                .any(|c| c.state == State::Fresh)
    }

    /// The nearest nodes that answered with a token (where to announce).
    pub fn announce_to(&self) -> Vec<(NodeInfo, Vec<u8>)> {
        self.cands
            .values()
            .filter(|c| c.state == State::Answered)
            .filter_map(|c| Some((c.info, c.token.clone()?)))
            .take(K)
            .collect()
    }

    /// Nodes whose answer named [`MIN_VALUES`] peers or more, none of which
    /// another node named, while other nodes agree on at least one peer (see
    /// `dht::liars`).
    pub fn unconfirmed(&self) -> Vec<SocketAddr> {
        let answered = || self.cands.values().filter(|c| c.state == State::Answered);
        let mut named: BTreeMap<SocketAddr, u32> = BTreeMap::new();
        for v in answered().flat_map(|c| &c.values) {
            *named.entry(*v).or_default() += 1;
        }
        if !named.values().any(|n| *n >= 2) {
            return Vec::new();
        }
        answered()
            .filter(|c| c.values.len() >= MIN_VALUES && c.values.iter().all(|v| named[v] == 1))
            .map(|c| c.info.addr)
            .collect()
    }

    /// The nearest nodes that answered.
    pub fn answered_nodes(&self) -> Vec<NodeInfo> {
        self.cands
            .values()
            .filter(|c| c.state == State::Answered)
            .map(|c| c.info)
            .take(K)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(b: u8) -> NodeInfo {
        let mut id = [0u8; 20];
        id[0] = b;
        NodeInfo {
            id: NodeId(id),
            addr: SocketAddr::from(([10, 0, 0, b], 1)),
        }
    }

    #[test]
    fn asks_alpha_at_a_time_nearest_first_and_ends() {
        let mut l = Lookup::new(
            NodeId([0; 20]),
            Purpose::GetPeers,
            &[n(0x80), n(0x40), n(0x20)],
        );
        let asked: Vec<u8> = std::iter::from_fn(|| l.next_to_ask())
            .map(|x| x.id.0[0])
            .collect();
        assert_eq!(asked, vec![0x20, 0x40, 0x80]);
        assert!(l.next_to_ask().is_none(), "alpha in flight");
        l.answered(n(0x20).addr, &[n(0x01), n(0x02)], &[], Some(b"t".to_vec()));
        assert_eq!(l.next_to_ask().unwrap().id.0[0], 0x01);
        l.failed(n(0x40).addr);
        let peers = l.answered(n(0x01).addr, &[], &["1.2.3.4:5".parse().unwrap()], None);
        assert_eq!(peers.len(), 1);
        assert_eq!(l.next_to_ask().unwrap().id.0[0], 0x02);
        l.answered(n(0x80).addr, &[], &[], None);
        l.answered(n(0x02).addr, &[], &[], Some(b"u".to_vec()));
        assert!(l.done());
        let to: Vec<u8> = l.announce_to().iter().map(|(i, _)| i.id.0[0]).collect();
        assert_eq!(to, vec![0x02, 0x20]);
    }

    #[test]
    fn an_answer_naming_only_peers_no_one_else_knows_is_unconfirmed() {
        let p = |i: u8| SocketAddr::from(([198, 51, 100, i], 6881));
        let mut l = Lookup::new(
            NodeId([0; 20]),
            Purpose::GetPeers,
            &[n(1), n(2), n(3), n(4)],
        );
        while l.next_to_ask().is_some() {}
        l.answered(n(1).addr, &[], &[p(1), p(2)], None);
        l.answered(n(2).addr, &[], &[p(2), p(3)], None);
        // Four of its own, none named by another: the liar.
        l.answered(n(3).addr, &[], &[p(10), p(11), p(12), p(13), p(13)], None);
        // Three of its own: too few to judge.
        l.answered(n(4).addr, &[], &[p(20), p(21), p(22)], None);
        assert_eq!(l.unconfirmed(), vec![n(3).addr]);
        // No agreement anywhere: no one can be judged.
        let mut l = Lookup::new(NodeId([0; 20]), Purpose::GetPeers, &[n(1), n(3)]);
        while l.next_to_ask().is_some() {}
        l.answered(n(1).addr, &[], &[p(1), p(2)], None);
        l.answered(n(3).addr, &[], &[p(10), p(11), p(12), p(13)], None);
        assert!(l.unconfirmed().is_empty());
    }

    #[test]
    fn a_lookup_fed_endless_new_nodes_still_ends() {
        let mut l = Lookup::new(NodeId([0; 20]), Purpose::FindNode, &[n(0xff)]);
        let mut fresh = 0u32;
        while let Some(x) = l.next_to_ask() {
            // Every answer names three nodes never seen, nearer each time.
            let more: Vec<NodeInfo> = (0..3)
                .map(|_| {
                    fresh += 1;
                    let mut id = [0u8; 20];
                    id[1..5].copy_from_slice(&(u32::MAX - fresh).to_be_bytes());
                    NodeInfo {
                        id: NodeId(id),
                        addr: SocketAddr::from(([11, 0, 0, 1], u16::try_from(fresh).unwrap())),
                    }
                })
                .collect();
            l.answered(x.addr, &more, &[], None);
        }
        assert!(l.done());
        assert!(l.queries <= MAX_QUERIES);
    }
}
