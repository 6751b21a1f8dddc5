//! One DHT node (BEP 5): answers other nodes, keeps its routing table, runs
//! lookups for the torrents it is told of and announces them. Sans-IO like the
//! core: packets and ticks in with the time, [`DhtAction`]s out.
//!
//! Rules and bounds:
//! - at most [`DhtConfig::queries_per_sec`] queries go out per second (burst of
//!   as many): a daemon with 100,000 torrents announces them over hours, never in
//!   a storm; announces are due every [`DhtConfig::announce_interval`] per torrent,
//!   a search asked for a magnet goes before them;
//! - at most [`MAX_IN_FLIGHT`] queries wait for answers ([`QUERY_TIMEOUT`] each),
//!   at most [`MAX_LOOKUPS`] lookups run at once;
//! - a query from an address over [`DhtConfig::query_rate_per_ip`] is dropped,
//!   counted; answers carry the asker's address (`ip`, BEP 42);
//! - a response from another address than the one asked, or under another id
//!   than the table knows for that address, is not trusted; an unparsable answer
//!   to our query, or one whose id is not the one we know, takes the node out of
//!   the table;
//! - one node serves one address family (BEP 32 runs one node per family).

use core::net::{IpAddr, SocketAddr};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::id::{NodeId, bep42_exempt, bep42_id, bep42_valid};
use super::krpc::{Body, KrpcError, NodeInfo, Packet, Query};
use super::liars::Liars;
use super::lookup::{Lookup, Purpose};
use super::saved::Saved;
use super::schedule::Schedule;
use super::store::{PeerStore, Rates, Tokens};
use super::table::{K, Table};
use crate::core::Rng;
use crate::types::{InfoHash, Time};

/// Queries waiting for an answer at most.
pub const MAX_IN_FLIGHT: usize = 256;
/// How long an answer is waited for.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Lookups at once.
pub const MAX_LOOKUPS: usize = 16;
/// A bucket nobody touched for this long is refreshed.
pub const REFRESH: Duration = Duration::from_secs(15 * 60);
/// Query budget a lookup needs to start (its first `lookup::ALPHA` queries).
const START_BUDGET: f64 = 3.0;
/// Votes on our address from answers before we believe it (BEP 42).
const IP_VOTES: u32 = 5;

/// A node's settings.
#[derive(Debug, Clone)]
pub struct DhtConfig {
    /// Nodes to start from when the table is empty.
    pub bootstrap: Vec<SocketAddr>,
    /// Queries sent per second at most (announces, searches, refreshes).
    pub queries_per_sec: u32,
    /// Queries answered per second per address at most.
    pub query_rate_per_ip: u32,
    /// Between two announces of one torrent.
    pub announce_interval: Duration,
    /// Serve IPv6 (BEP 32) instead of IPv4.
    pub v6: bool,
}

impl Default for DhtConfig {
    fn default() -> Self {
        DhtConfig {
            bootstrap: Vec::new(),
            queries_per_sec: 50,
            query_rate_per_ip: 20,
            announce_interval: Duration::from_secs(15 * 60),
            v6: false,
        }
    }
}

/// What the driver is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhtAction {
    /// Send a datagram.
    Send {
        /// Where.
        to: SocketAddr,
        /// What.
        bytes: Vec<u8>,
    },
    /// Peers found for a torrent.
    Peers {
        /// The torrent.
        info_hash: InfoHash,
        /// New peers (each said once per lookup).
        peers: Vec<SocketAddr>,
    },
}

/// A node's numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DhtStats {
    /// Nodes in the routing table.
    pub nodes: usize,
    /// Queries answered.
    pub queries_in: u64,
    /// Queries sent.
    pub queries_out: u64,
    /// Answers to our queries.
    pub responses: u64,
    /// Our queries that timed out.
    pub timeouts: u64,
    /// Packets dropped: unparsable, over a rate, unasked answers.
    pub dropped: u64,
    /// Info-hashes we hold peers for.
    pub torrents_held: usize,
    /// Lookups running.
    pub lookups: usize,
    /// Torrents announced.
    pub torrents: usize,
    /// Nodes ignored for naming peers no other node knew (`dht::liars`).
    pub ignored: usize,
}

#[derive(Debug, Clone)]
struct Pending {
    to: SocketAddr,
    /// The id we expect (unknown for bootstrap routers).
    id: Option<NodeId>,
    lookup: Option<u64>,
    sent: Time,
}

/// One DHT node.
#[derive(Debug)]
pub struct Dht {
    cfg: DhtConfig,
    table: Table,
    rng: Rng,
    tokens: Tokens,
    store: PeerStore,
    rates: Rates,
    pending: BTreeMap<u16, Pending>,
    next_tid: u16,
    lookups: BTreeMap<u64, (InfoHash, Lookup)>,
    next_lookup: u64,
    torrents: Schedule,
    /// Nodes from a saved table or routers, tried when the table is thin.
    seeds: Vec<NodeInfo>,
    last_bootstrap: Option<Time>,
    budget: f64,
    budget_at: Time,
    votes: BTreeMap<IpAddr, u32>,
    last_expire: Time,
    liars: Liars,
    stats: DhtStats,
}

impl Dht {
    /// A node with the saved id or a random one (BEP 42 once its address is
    /// known), starting from the saved nodes if any.
    pub fn new(cfg: DhtConfig, seed: u64, now: Time, saved: Saved) -> Dht {
        let mut rng = Rng::new(seed);
        let random = NodeId(random20(&mut rng));
        let id = saved.id.unwrap_or(random);
        let secret = random20(&mut rng);
        let budget = f64::from(cfg.queries_per_sec);
        let v6 = cfg.v6;
        Dht {
            table: Table::new(id),
            tokens: Tokens::new(secret, now),
            seeds: saved
                .nodes
                .into_iter()
                .filter(|n| n.addr.is_ipv6() == v6)
                .collect(),
            cfg,
            rng,
            store: PeerStore::default(),
            rates: Rates::default(),
            pending: BTreeMap::new(),
            next_tid: 0,
            lookups: BTreeMap::new(),
            next_lookup: 0,
            torrents: Schedule::default(),
            last_bootstrap: None,
            budget,
            budget_at: now,
            votes: BTreeMap::new(),
            last_expire: now,
            liars: Liars::default(),
            stats: DhtStats::default(),
        }
    }

    /// Our id.
    pub fn id(&self) -> NodeId {
        self.table.own()
    }

    /// The routing table's good nodes.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.table
            .entries()
            .filter(|e| e.fails == 0)
            .map(|e| e.info)
            .collect()
    }

    /// What to save for the next start: the id and the good nodes.
    pub fn saved(&self) -> Saved {
        Saved {
            id: Some(self.id()),
            nodes: self.nodes(),
        }
    }

    /// Numbers now.
    pub fn stats(&self) -> DhtStats {
        DhtStats {
            nodes: self.table.len(),
            torrents_held: self.store.len(),
            lookups: self.lookups.len(),
            torrents: self.torrents.len(),
            ignored: self.liars.count(self.budget_at),
            ..self.stats
        }
    }

    /// Whether `ip` is ignored at `now` (it named peers no other node knew).
    pub fn ignores(&self, ip: IpAddr, now: Time) -> bool {
        self.liars.banned(ip, now)
    }

    /// Announce `ih` (peers listen on `port`) from now on, the first time soon.
    pub fn add_torrent(&mut self, ih: InfoHash, port: u16, now: Time) {
        self.torrents.add(ih, port, now, &mut self.rng);
    }

    /// The torrents announced.
    pub fn torrent_list(&self) -> Vec<InfoHash> {
        self.torrents.list()
    }

    /// Stop announcing `ih`.
    pub fn remove_torrent(&mut self, ih: InfoHash) {
        self.torrents.remove(ih);
        self.lookups.retain(|_, (h, _)| *h != ih);
    }

    /// Look for peers of `ih` before anything else due (a magnet waiting).
    pub fn search_now(&mut self, ih: InfoHash) {
        self.torrents.urge(ih);
    }

    /// The engine's torrents as they are now (info-hash, needs peers now; see
    /// [`Schedule::sync`]): the drivers call it every few seconds.
    pub fn sync_torrents(&mut self, now: Time, list: &[(InfoHash, bool)], port: u16) {
        self.torrents.sync(now, list, port, &mut self.rng);
        let kept: BTreeSet<InfoHash> = list.iter().map(|(ih, _)| *ih).collect();
        self.lookups
            .retain(|_, (ih, l)| l.purpose == Purpose::FindNode || kept.contains(ih));
    }

    fn tid(&mut self) -> Option<u16> {
        if self.pending.len() >= MAX_IN_FLIGHT {
            return None;
        }
        loop {
            self.next_tid = self.next_tid.wrapping_add(1);
            if !self.pending.contains_key(&self.next_tid) {
                return Some(self.next_tid);
            }
        }
    }

    fn query(
        &mut self,
        now: Time,
        to: NodeInfo,
        known_id: bool,
        query: Query,
        lookup: Option<u64>,
        out: &mut Vec<DhtAction>,
    ) -> bool {
        let Some(tid) = self.tid() else {
            return false;
        };
        self.pending.insert(
            tid,
            Pending {
                to: to.addr,
                id: known_id.then_some(to.id),
                lookup,
                sent: now,
            },
        );
        let p = Packet {
            tid: tid.to_be_bytes().to_vec(),
            body: Body::Query {
                id: self.id(),
                query,
                read_only: false,
            },
            ip: None,
        };
        self.stats.queries_out += 1;
        self.budget -= 1.0;
        out.push(DhtAction::Send {
            to: to.addr,
            bytes: p.encode(),
        });
        true
    }

    /// A datagram from `from`.
    pub fn on_packet(
        &mut self,
        now: Time,
        from: SocketAddr,
        bytes: &[u8],
        out: &mut Vec<DhtAction>,
    ) {
        let from = SocketAddr::new(from.ip().to_canonical(), from.port());
        if from.is_ipv6() != self.cfg.v6 || from.port() == 0 || self.liars.banned(from.ip(), now) {
            self.stats.dropped += 1;
            return;
        }
        let p = match Packet::decode(bytes) {
            Ok(p) => p,
            Err(e) => return self.on_garbage(now, from, bytes, &e, out),
        };
        match p.body {
            Body::Query {
                id,
                query,
                read_only,
            } => {
                self.on_query(now, from, p.tid, query, out);
                if !read_only {
                    self.verify(now, NodeInfo { id, addr: from }, out);
                }
            }
            Body::Response {
                id,
                nodes,
                values,
                token,
            } => {
                let Some(pending) = self.take_pending(&p.tid, from) else {
                    self.stats.dropped += 1;
                    return;
                };
                if pending.id.is_some_and(|want| want != id) {
                    // Another id than the one it answered under before.
                    self.table.remove(from);
                    self.lookup_failed(pending.lookup, from);
                    return;
                }
                self.stats.responses += 1;
                self.table.heard(
                    NodeInfo { id, addr: from },
                    bep42_valid(&id, from.ip()),
                    now,
                );
                if let Some(ip) = p.ip {
                    self.vote(ip.ip(), now);
                }
                let nodes: Vec<NodeInfo> = nodes
                    .into_iter()
                    .filter(|n| n.addr.is_ipv6() == self.cfg.v6 && n.addr.port() != 0)
                    .filter(|n| !self.liars.banned(n.addr.ip(), now))
                    .collect();
                if let Some((ih, l)) = pending.lookup.and_then(|k| self.lookups.get_mut(&k)) {
                    let peers = l.answered(from, &nodes, &values, token);
                    if !peers.is_empty() && l.purpose != Purpose::FindNode {
                        out.push(DhtAction::Peers {
                            info_hash: *ih,
                            peers,
                        });
                    }
                }
            }
            Body::Error { .. } => {
                if let Some(pending) = self.take_pending(&p.tid, from) {
                    self.lookup_failed(pending.lookup, from);
                }
            }
        }
    }

    /// Pings a node that queried us and would fit the table (its answer adds
    /// it), when the budget allows and no query to it is out.
    fn verify(&mut self, now: Time, n: NodeInfo, out: &mut Vec<DhtAction>) {
        if self.budget < 1.0
            || !self.table.wants(&n.id, n.addr)
            || self.pending.values().any(|p| p.to == n.addr)
        {
            return;
        }
        self.query(now, n, true, Query::Ping, None, out);
    }

    fn take_pending(&mut self, tid: &[u8], from: SocketAddr) -> Option<Pending> {
        let tid = u16::from_be_bytes(<[u8; 2]>::try_from(tid).ok()?);
        if self.pending.get(&tid)?.to != from {
            return None;
        }
        self.pending.remove(&tid)
    }

    fn lookup_failed(&mut self, lookup: Option<u64>, from: SocketAddr) {
        if let Some((_, l)) = lookup.and_then(|k| self.lookups.get_mut(&k)) {
            l.failed(from);
        }
    }

    fn on_garbage(
        &mut self,
        now: Time,
        from: SocketAddr,
        bytes: &[u8],
        e: &KrpcError,
        out: &mut Vec<DhtAction>,
    ) {
        self.stats.dropped += 1;
        // An answer to one of ours that does not parse: that node is broken.
        let tid = crate::bencode::decode(bytes, crate::bencode::Limits::default())
            .ok()
            .and_then(|n| n.get("t").and_then(|t| t.as_bytes()).map(<[u8]>::to_vec));
        if let Some(tid) = &tid
            && let Some(pending) = self.take_pending(tid, from)
        {
            self.table.remove(from);
            self.lookup_failed(pending.lookup, from);
            return;
        }
        if let (KrpcError::UnknownMethod(_), Some(tid)) = (e, tid)
            && self.rates.allow(from.ip(), now, self.cfg.query_rate_per_ip)
        {
            self.reply(
                from,
                tid,
                Body::Error {
                    code: 204,
                    message: "method unknown".into(),
                },
                out,
            );
        }
    }

    fn reply(&mut self, to: SocketAddr, tid: Vec<u8>, body: Body, out: &mut Vec<DhtAction>) {
        let p = Packet {
            tid,
            body,
            ip: Some(to),
        };
        out.push(DhtAction::Send {
            to,
            bytes: p.encode(),
        });
    }

    fn on_query(
        &mut self,
        now: Time,
        from: SocketAddr,
        tid: Vec<u8>,
        q: Query,
        out: &mut Vec<DhtAction>,
    ) {
        if !self.rates.allow(from.ip(), now, self.cfg.query_rate_per_ip) {
            self.stats.dropped += 1;
            return;
        }
        self.stats.queries_in += 1;
        let id = self.id();
        let closest = |t: &Table, target: &NodeId| t.closest(target, K);
        let body = match q {
            Query::Ping => Body::Response {
                id,
                nodes: Vec::new(),
                values: Vec::new(),
                token: None,
            },
            Query::FindNode { target } => Body::Response {
                id,
                nodes: closest(&self.table, &target),
                values: Vec::new(),
                token: None,
            },
            Query::GetPeers { info_hash } => {
                let values = self.store.peers(&info_hash, now, 50, self.cfg.v6);
                Body::Response {
                    id,
                    nodes: if values.is_empty() {
                        closest(&self.table, &info_hash)
                    } else {
                        Vec::new()
                    },
                    values,
                    token: Some(self.tokens.token(from.ip())),
                }
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
            } => {
                if !self.tokens.valid(&token, from.ip()) {
                    Body::Error {
                        code: 203,
                        message: "bad token".into(),
                    }
                } else {
                    let port = if implied_port { from.port() } else { port };
                    if port != 0 {
                        self.store
                            .announce(info_hash, SocketAddr::new(from.ip(), port), now);
                    }
                    Body::Response {
                        id,
                        nodes: Vec::new(),
                        values: Vec::new(),
                        token: None,
                    }
                }
            }
        };
        self.reply(from, tid, body, out);
    }

    /// Our address as answers tell it: once [`IP_VOTES`] agree and our id does
    /// not fit it (BEP 42), a new id, the table placed again.
    fn vote(&mut self, ip: IpAddr, now: Time) {
        let ip = ip.to_canonical();
        if self.votes.len() >= 64 && !self.votes.contains_key(&ip) {
            return;
        }
        let n = self.votes.entry(ip).or_default();
        *n += 1;
        if *n == IP_VOTES && !bep42_exempt(ip) && !bep42_valid(&self.id(), ip) {
            let id = bep42_id(ip, random20(&mut self.rng));
            tracing::info!(%ip, "dht: our address is known; a node id that fits it (BEP 42)");
            self.table.rebase(id, now);
        }
    }

    /// Periodic work: timeouts, bootstrap, refreshes, announces, lookups.
    pub fn on_tick(&mut self, now: Time, out: &mut Vec<DhtAction>) {
        let rate = f64::from(self.cfg.queries_per_sec);
        self.budget = (self.budget + now.since(self.budget_at).as_secs_f64() * rate).min(rate);
        self.budget_at = now;
        let fresh = random20(&mut self.rng);
        self.tokens.rotate(now, fresh);
        if now.since(self.last_expire) >= Duration::from_secs(60) {
            self.store.expire(now);
            self.last_expire = now;
        }
        let late: Vec<u16> = self
            .pending
            .iter()
            .filter(|(_, p)| now.since(p.sent) >= QUERY_TIMEOUT)
            .map(|(t, _)| *t)
            .collect();
        for tid in late {
            let p = self.pending.remove(&tid).expect("listed");
            self.stats.timeouts += 1;
            self.table.failed(p.to);
            self.lookup_failed(p.lookup, p.to);
        }
        self.start_lookups(now, out);
        self.drive(now, out);
        self.ping_questionable(now, out);
    }

    /// One quiet node pinged per tick while the budget allows: the dead and
    /// the broken leave the table this way.
    fn ping_questionable(&mut self, now: Time, out: &mut Vec<DhtAction>) {
        if self.budget < 1.0 {
            return;
        }
        let before = Time(now.0.saturating_sub(nanos(REFRESH)));
        let pending = &self.pending;
        let n = self
            .table
            .questionable(before, |a| pending.values().any(|p| p.to == a));
        if let Some(n) = n {
            self.query(now, n, true, Query::Ping, None, out);
        }
    }

    fn start_lookups(&mut self, now: Time, out: &mut Vec<DhtAction>) {
        let own = self.id();
        let thin = self.table.len() < K;
        let bootstrap_due = self
            .last_bootstrap
            .is_none_or(|at| now.since(at) >= Duration::from_secs(30));
        if thin && bootstrap_due && self.lookups.len() < MAX_LOOKUPS {
            self.last_bootstrap = Some(now);
            let mut seeds = self.table.closest(&own, K);
            seeds.extend(self.seeds.iter().copied());
            // Routers' ids are unknown: placed far from the target, one apart.
            for (i, addr) in self.cfg.bootstrap.iter().enumerate() {
                if addr.is_ipv6() == self.cfg.v6 {
                    let mut id = own.0.map(|b| !b);
                    id[19] ^= u8::try_from(i % 256).expect("< 256");
                    seeds.push(NodeInfo {
                        id: NodeId(id),
                        addr: *addr,
                    });
                }
            }
            if !seeds.is_empty() {
                self.push_lookup(InfoHash(own.0), Lookup::new(own, Purpose::FindNode, &seeds));
            }
        }
        if !thin
            && self.lookups.len() < MAX_LOOKUPS
            && let Some(&b) = self
                .table
                .stale(Time(now.0.saturating_sub(nanos(REFRESH))))
                .first()
        {
            self.table.touch(b, now);
            let target = own.random_in_bucket(b, random20(&mut self.rng));
            let seeds = self.table.closest(&target, K);
            self.push_lookup(
                InfoHash(target.0),
                Lookup::new(target, Purpose::FindNode, &seeds),
            );
        }
        if self.table.is_empty() {
            return;
        }
        // Searches first, then announces due, in the order they fell due; only
        // what the query budget can start now.
        let running: BTreeSet<InfoHash> = self.lookups.values().map(|(ih, _)| *ih).collect();
        // Enough to fill the free lookup slots past those already running.
        let want = MAX_LOOKUPS.saturating_sub(self.lookups.len()) + running.len();
        for ih in self.torrents.due(now, want) {
            if self.lookups.len() >= MAX_LOOKUPS || self.budget < START_BUDGET {
                break;
            }
            if running.contains(&ih) {
                continue;
            }
            let Some(port) = self.torrents.started(ih, now, self.cfg.announce_interval) else {
                continue;
            };
            let target = NodeId(ih.0);
            let seeds = self.table.closest(&target, K);
            // Peers announced to this very node count too: it may be one of
            // the nodes nearest the torrent.
            let held = self.store.peers(&target, now, 50, self.cfg.v6);
            if !held.is_empty() {
                out.push(DhtAction::Peers {
                    info_hash: ih,
                    peers: held,
                });
            }
            self.push_lookup(ih, Lookup::new(target, Purpose::Announce { port }, &seeds));
        }
    }

    fn push_lookup(&mut self, ih: InfoHash, l: Lookup) {
        self.next_lookup += 1;
        self.lookups.insert(self.next_lookup, (ih, l));
    }

    /// Sends what the lookups may ask now, and ends those that are done.
    fn drive(&mut self, now: Time, out: &mut Vec<DhtAction>) {
        let keys: Vec<u64> = self.lookups.keys().copied().collect();
        for k in keys {
            loop {
                if self.budget < 1.0 || self.pending.len() >= MAX_IN_FLIGHT {
                    break;
                }
                let (_, l) = self.lookups.get_mut(&k).expect("listed");
                let Some(n) = l.next_to_ask() else { break };
                let query = match l.purpose {
                    Purpose::FindNode => Query::FindNode { target: l.target },
                    _ => Query::GetPeers {
                        info_hash: l.target,
                    },
                };
                let known = !self.cfg.bootstrap.contains(&n.addr);
                if !self.query(now, n, known, query, Some(k), out) {
                    let (_, l) = self.lookups.get_mut(&k).expect("listed");
                    l.failed(n.addr);
                    break;
                }
            }
            let (_, l) = &self.lookups[&k];
            if !l.done() {
                continue;
            }
            for addr in l.unconfirmed() {
                if self.liars.strike(addr.ip(), now) {
                    self.table.remove(addr);
                }
            }
            let (ih, l) = &self.lookups[&k];
            if let Purpose::Announce { port } = l.purpose {
                let ih = *ih;
                for (node, token) in l.announce_to() {
                    if self.liars.banned(node.addr.ip(), now) {
                        continue;
                    }
                    let q = Query::AnnouncePeer {
                        info_hash: NodeId(ih.0),
                        port,
                        implied_port: false,
                        token,
                    };
                    self.query(now, node, true, q, None, out);
                }
            }
            self.lookups.remove(&k);
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn random20(rng: &mut Rng) -> [u8; 20] {
    let mut b = [0u8; 20];
    for chunk in b.chunks_mut(8) {
        let r = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    b
}
