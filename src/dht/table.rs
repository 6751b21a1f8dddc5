//! The routing table (BEP 5): nodes kept by how many leading bits their id shares
//! with ours, at most [`K`] per bucket, so the table knows many nodes near us and
//! a few far away.
//!
//! Rules:
//! - only a node that answered one of our queries enters the table (a node that
//!   queries us and would fit is pinged first: its source address may be
//!   forged);
//! - a full bucket takes a new node in place of one that failed twice in a row,
//!   or, for a BEP 42 compliant newcomer, in place of a non-compliant node; else
//!   the newcomer waits in the bucket's replacement list (at most [`K`], oldest
//!   out), from which a failing node's place is filled;
//! - an address already in the table under another id is not taken again (one
//!   machine, one entry), nor an id under another address;
//! - a node that failed [`BAD_FAILS`] queries in a row is not offered to lookups;
//! - a node quiet for 15 minutes is pinged (see [`Table::questionable`]).

use core::net::SocketAddr;

use super::id::NodeId;
use super::krpc::NodeInfo;
use crate::types::Time;

/// Nodes per bucket.
pub const K: usize = 8;
/// Failed queries in a row after which a node is bad.
pub const BAD_FAILS: u8 = 2;

/// One node of the table.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Id and address.
    pub info: NodeInfo,
    /// When it last answered.
    pub seen: Time,
    /// Failed queries in a row.
    pub fails: u8,
    /// Its id follows BEP 42 for its address.
    pub compliant: bool,
}

impl Entry {
    fn bad(&self) -> bool {
        self.fails >= BAD_FAILS
    }
}

#[derive(Debug, Default, Clone)]
struct Bucket {
    nodes: Vec<Entry>,
    spare: Vec<Entry>,
    /// When a node of it last answered or a lookup went through it.
    touched: Time,
}

/// The routing table of one node.
#[derive(Debug, Clone)]
pub struct Table {
    own: NodeId,
    /// Indexed by shared prefix length, 0..=160.
    buckets: Vec<Bucket>,
}

/// What [`Table::heard`] did with a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Already in the table: refreshed.
    Refreshed,
    /// Added.
    Added,
    /// Waiting in the replacement list.
    Spare,
    /// Refused (our own id, or an address or id already taken by another).
    Refused,
}

impl Table {
    /// An empty table around `own`.
    pub fn new(own: NodeId) -> Table {
        Table {
            own,
            buckets: vec![Bucket::default(); 161],
        }
    }

    /// Our id.
    pub fn own(&self) -> NodeId {
        self.own
    }

    /// Nodes in the table (not counting replacements).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    /// Whether the table has no node.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every node, nearest buckets last.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }

    fn index(&self, id: &NodeId) -> usize {
        self.own.shared_prefix(id)
    }

    fn find(&self, addr: SocketAddr) -> Option<(usize, usize)> {
        self.buckets.iter().enumerate().find_map(|(b, bucket)| {
            bucket
                .nodes
                .iter()
                .position(|e| e.info.addr == addr)
                .map(|i| (b, i))
        })
    }

    /// Whether a node with `id` at `addr` would be taken now (it is not in the
    /// table, and its bucket has room or a bad node).
    pub fn wants(&self, id: &NodeId, addr: SocketAddr) -> bool {
        if *id == self.own || self.find(addr).is_some() {
            return false;
        }
        let bucket = &self.buckets[self.index(id)];
        !bucket.nodes.iter().any(|e| e.info.id == *id)
            && (bucket.nodes.len() < K || bucket.nodes.iter().any(Entry::bad))
    }

    /// A node answered a query of ours at `now`.
    pub fn heard(&mut self, info: NodeInfo, compliant: bool, now: Time) -> Heard {
        if info.id == self.own {
            return Heard::Refused;
        }
        let b = self.index(&info.id);
        if let Some((fb, i)) = self.find(info.addr) {
            let e = &mut self.buckets[fb].nodes[i];
            if e.info.id != info.id {
                return Heard::Refused;
            }
            e.seen = now;
            e.fails = 0;
            self.buckets[fb].touched = now;
            return Heard::Refreshed;
        }
        let bucket = &mut self.buckets[b];
        if bucket.nodes.iter().any(|e| e.info.id == info.id) {
            return Heard::Refused;
        }
        let entry = Entry {
            info,
            seen: now,
            fails: 0,
            compliant,
        };
        bucket.touched = now;
        if bucket.nodes.len() < K {
            bucket.nodes.push(entry);
            return Heard::Added;
        }
        let replace = bucket.nodes.iter().position(Entry::bad).or_else(|| {
            compliant
                .then(|| bucket.nodes.iter().position(|e| !e.compliant))
                .flatten()
        });
        if let Some(i) = replace {
            bucket.nodes[i] = entry;
            return Heard::Added;
        }
        bucket.spare.retain(|e| e.info.addr != info.addr);
        if bucket.spare.len() >= K {
            bucket.spare.remove(0);
        }
        bucket.spare.push(entry);
        Heard::Spare
    }

    /// A query to `addr` went unanswered (or was answered with garbage). A bad
    /// node gives its place to the newest replacement, if any.
    pub fn failed(&mut self, addr: SocketAddr) {
        let Some((b, i)) = self.find(addr) else {
            return;
        };
        let bucket = &mut self.buckets[b];
        bucket.nodes[i].fails = bucket.nodes[i].fails.saturating_add(1);
        if bucket.nodes[i].bad()
            && let Some(spare) = bucket.spare.pop()
        {
            bucket.nodes[i] = spare;
        }
    }

    /// The node heard from longest ago, if that was before `before` (BEP 5: a
    /// node quiet for 15 minutes is questionable and is pinged), not one of
    /// `skip`.
    pub fn questionable(
        &self,
        before: Time,
        skip: impl Fn(SocketAddr) -> bool,
    ) -> Option<NodeInfo> {
        self.entries()
            .filter(|e| e.seen < before && !skip(e.info.addr))
            .min_by_key(|e| e.seen)
            .map(|e| e.info)
    }

    /// Takes `addr` out of the table (a node that lied or broke the protocol).
    pub fn remove(&mut self, addr: SocketAddr) {
        if let Some((b, i)) = self.find(addr) {
            let bucket = &mut self.buckets[b];
            bucket.nodes.remove(i);
            if let Some(spare) = bucket.spare.pop() {
                bucket.nodes.push(spare);
            }
        }
    }

    /// Up to `n` good nodes nearest `target`, nearest first.
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<NodeInfo> {
        let mut all: Vec<&Entry> = self.entries().filter(|e| !e.bad()).collect();
        all.sort_by_key(|e| e.info.id.distance(target));
        all.into_iter().take(n).map(|e| e.info).collect()
    }

    /// Buckets (by prefix length) that hold nodes or lie between ours and the
    /// farthest one holding nodes, and nobody touched since `before`: each
    /// wants a lookup of a random id in it.
    pub fn stale(&self, before: Time) -> Vec<usize> {
        let deepest = self
            .buckets
            .iter()
            .rposition(|b| !b.nodes.is_empty())
            .unwrap_or(0);
        (0..=deepest)
            .filter(|&i| self.buckets[i].touched < before)
            .collect()
    }

    /// Marks bucket `i` as touched (a refresh went out for it).
    pub fn touch(&mut self, i: usize, now: Time) {
        if let Some(b) = self.buckets.get_mut(i) {
            b.touched = now;
        }
    }

    /// A new id for us (BEP 42, once our address is known): every node is
    /// placed again by the new id (those that no longer fit are dropped).
    pub fn rebase(&mut self, own: NodeId, now: Time) {
        let old: Vec<Entry> = self.buckets.iter().flat_map(|b| b.nodes.clone()).collect();
        *self = Table::new(own);
        for e in old {
            self.heard(e.info, e.compliant, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(first: u8, last: u8, port: u16) -> NodeInfo {
        let mut id = [0u8; 20];
        id[0] = first;
        id[19] = last;
        NodeInfo {
            id: NodeId(id),
            addr: SocketAddr::from(([10, 0, first, last], port)),
        }
    }

    #[test]
    fn buckets_fill_then_spare_then_replace_the_bad() {
        let mut t = Table::new(NodeId([0; 20]));
        let now = Time::from_secs(1);
        // Ids starting 0x80: all share no bit with ours: one bucket.
        for i in 0..u8::try_from(K).unwrap() {
            assert_eq!(t.heard(node(0x80, i, 1), false, now), Heard::Added);
        }
        assert_eq!(t.heard(node(0x80, 100, 1), false, now), Heard::Spare);
        assert_eq!(t.len(), K);
        // The same address under another id is refused.
        let mut liar = node(0x80, 0, 1);
        liar.id.0[5] = 9;
        assert_eq!(t.heard(liar, false, now), Heard::Refused);
        // Two failures make node 0 bad: the spare takes its place.
        t.failed(node(0x80, 0, 1).addr);
        assert!(t.entries().any(|e| e.info.addr == node(0x80, 0, 1).addr));
        t.failed(node(0x80, 0, 1).addr);
        assert!(!t.entries().any(|e| e.info.addr == node(0x80, 0, 1).addr));
        assert!(t.entries().any(|e| e.info.addr == node(0x80, 100, 1).addr));
        // A compliant newcomer replaces a non-compliant node in a full bucket.
        assert_eq!(t.heard(node(0x81, 1, 2), true, now), Heard::Added);
        assert_eq!(t.len(), K);
    }

    #[test]
    fn closest_is_by_xor_distance() {
        let mut t = Table::new(NodeId([0; 20]));
        for f in [0x01u8, 0x02, 0x04, 0x40, 0x80] {
            t.heard(node(f, 1, 1), false, Time::ZERO);
        }
        let mut target = [0u8; 20];
        target[0] = 0x41;
        let got: Vec<u8> = t
            .closest(&NodeId(target), 3)
            .iter()
            .map(|n| n.id.0[0])
            .collect();
        assert_eq!(got, vec![0x40, 0x01, 0x02]);
    }
}
