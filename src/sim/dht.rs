//! A DHT swarm in memory: many [`Dht`] nodes on a virtual clock, datagrams with
//! latency and loss, nodes that leave and join, and liars, all from one seed.
//!
//! Each node has an address `10.x.y.z:6881` (private, so BEP 42 leaves their ids
//! free). A node told to name wrong peers answers well-formed, with eight made-up
//! peers in every answer. A liar answers like anyone until it is told to lie; from then on every
//! answer it sends is garbage.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::Duration;

use crate::core::Rng;
use crate::dht::krpc::{Body, Packet};
use crate::dht::{Dht, DhtAction, DhtConfig};
use crate::types::{InfoHash, Time};

/// One node of the swarm and what it found.
#[derive(Debug)]
pub struct DhtSimNode {
    /// The node.
    pub dht: Dht,
    /// Its address.
    pub addr: SocketAddr,
    /// Peers its lookups found, per torrent.
    pub found: BTreeMap<InfoHash, BTreeSet<SocketAddr>>,
    /// Sends per whole second of the clock (for rate checks).
    pub sends_per_sec: BTreeMap<u64, u32>,
    /// Bytes sent, all datagrams.
    pub bytes_sent: u64,
    /// `announce_peer` queries sent.
    pub announces_sent: u64,
    /// Gone from the network (its packets and those to it are lost).
    pub gone: bool,
    /// Answers with garbage.
    pub liar: bool,
    /// Answers well-formed, but every answer names peers that do not exist.
    pub wrong_peers: bool,
}

/// The swarm.
#[derive(Debug)]
pub struct DhtSim {
    /// The nodes, by index.
    pub nodes: Vec<DhtSimNode>,
    by_addr: BTreeMap<SocketAddr, usize>,
    now: Time,
    rng: Rng,
    queue: BinaryHeap<Reverse<(Time, u64)>>,
    datagrams: BTreeMap<u64, (usize, SocketAddr, Vec<u8>)>,
    seq: u64,
    /// One-way latency (plus up to as much again at random).
    pub latency: Duration,
    /// Chance a datagram is lost.
    pub loss: f64,
    /// Packets lost, to a gone node or at random.
    pub lost: u64,
}

impl DhtSim {
    /// An empty swarm.
    pub fn new(seed: u64) -> DhtSim {
        DhtSim {
            nodes: Vec::new(),
            by_addr: BTreeMap::new(),
            now: Time::ZERO,
            rng: Rng::new(seed),
            queue: BinaryHeap::new(),
            datagrams: BTreeMap::new(),
            seq: 0,
            latency: Duration::from_millis(40),
            loss: 0.0,
            lost: 0,
        }
    }

    /// The clock.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Adds a node that bootstraps from `bootstrap` (node indices).
    pub fn add_node(&mut self, mut cfg: DhtConfig, bootstrap: &[usize]) -> usize {
        let i = self.nodes.len();
        let n = u32::try_from(i).expect("few nodes") + 1;
        let [_, a, b, c] = n.to_be_bytes();
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, a, b, c)), 6881);
        cfg.bootstrap = bootstrap.iter().map(|&j| self.nodes[j].addr).collect();
        let seed = self.rng.next_u64();
        self.nodes.push(DhtSimNode {
            dht: Dht::new(cfg, seed, self.now, crate::dht::Saved::default()),
            addr,
            found: BTreeMap::new(),
            sends_per_sec: BTreeMap::new(),
            bytes_sent: 0,
            announces_sent: 0,
            gone: false,
            liar: false,
            wrong_peers: false,
        });
        self.by_addr.insert(addr, i);
        i
    }

    fn carry(&mut self, from: usize, actions: Vec<DhtAction>) {
        for a in actions {
            match a {
                DhtAction::Send { to, mut bytes } => {
                    *self.nodes[from]
                        .sends_per_sec
                        .entry(self.now.0 / 1_000_000_000)
                        .or_default() += 1;
                    let n = &mut self.nodes[from];
                    n.bytes_sent += u64::try_from(bytes.len()).expect("fits");
                    if bytes.windows(16).any(|w| w == b"13:announce_peer") {
                        n.announces_sent += 1;
                    }
                    if self.nodes[from].wrong_peers {
                        bytes = self.invent_peers(bytes);
                    }
                    if self.nodes[from].liar && bytes.windows(4).any(|w| w == b"1:rd") {
                        bytes = b"d1:rd2:id3:bad5:nodes7:garbagee1:t".to_vec();
                    }
                    let Some(&dest) = self.by_addr.get(&to) else {
                        self.lost += 1;
                        continue;
                    };
                    if self.nodes[dest].gone || self.rng.chance(self.loss) {
                        self.lost += 1;
                        continue;
                    }
                    let jitter = self
                        .rng
                        .below(u64::try_from(self.latency.as_nanos()).expect("fits") + 1);
                    let at = self.now + self.latency + Duration::from_nanos(jitter);
                    self.seq += 1;
                    let src = self.nodes[from].addr;
                    self.datagrams.insert(self.seq, (dest, src, bytes));
                    self.queue.push(Reverse((at, self.seq)));
                }
                DhtAction::Peers { info_hash, peers } => {
                    self.nodes[from]
                        .found
                        .entry(info_hash)
                        .or_default()
                        .extend(peers);
                }
            }
        }
    }

    /// An answer as it was, naming eight peers made up on the spot instead of
    /// what it held.
    fn invent_peers(&mut self, bytes: Vec<u8>) -> Vec<u8> {
        let Ok(mut p) = Packet::decode(&bytes) else {
            return bytes;
        };
        let Body::Response { values, .. } = &mut p.body else {
            return bytes;
        };
        *values = (0..8)
            .map(|_| {
                let [a, b, ..] = self.rng.next_u64().to_be_bytes();
                SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 250, a, b)), 6881)
            })
            .collect();
        p.encode()
    }

    /// Runs until `until`: datagrams as they arrive, every node ticked every
    /// `tick`.
    pub fn run_until(&mut self, until: Time, tick: Duration) {
        let mut next_tick = self.now;
        while self.now < until {
            let next_dgram = self.queue.peek().map(|Reverse((t, _))| *t);
            if let Some(t) = next_dgram.filter(|t| *t <= next_tick && *t <= until) {
                let Reverse((_, seq)) = self.queue.pop().expect("peeked");
                self.now = t;
                let (dest, src, bytes) = self.datagrams.remove(&seq).expect("queued");
                if self.nodes[dest].gone {
                    self.lost += 1;
                    continue;
                }
                let mut out = Vec::new();
                self.nodes[dest].dht.on_packet(t, src, &bytes, &mut out);
                self.carry(dest, out);
                continue;
            }
            if next_tick > until {
                self.now = until;
                break;
            }
            self.now = next_tick;
            for i in 0..self.nodes.len() {
                if self.nodes[i].gone {
                    continue;
                }
                let mut out = Vec::new();
                self.nodes[i].dht.on_tick(self.now, &mut out);
                self.carry(i, out);
            }
            next_tick = next_tick + tick;
        }
    }
}
