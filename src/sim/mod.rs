//! The sim driver: many engines in one thread, on a virtual clock, over a memory
//! network and memory filesystems, with faults drawn from one seed.
//!
//! What it owns: [`SimWorld`] (the clock, the seeded randomness, the event queue),
//! the memory network (per-connection latency and bandwidth, in-order delivery,
//! "loss" as a retransmission delay the way TCP turns loss into lateness, random
//! disconnects) and memory filesystems (with injected write errors and slow IO).
//!
//! Why: the core is the same code the real driver runs; here a whole swarm runs
//! deterministically, so a failure replays exactly from its seed
//! (`SEEDRING_SEED=<n>` in the sim tests).
//!
//! Invariants: events at equal times run in the order they were scheduled; maps are
//! ordered; all randomness comes from the world's seeded generator.

mod actions;
pub mod dht;
mod fs;
mod node_access;
mod tracker;
mod web;
mod world_dht;

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use fs::{CrashLoss, MemFs};
pub use tracker::AnnounceRecord;

use crate::core::record::FileStamp;
use crate::core::{Action, Command, Core, DiskError, Event, PeerKey, Reply, Rng, Verdict};
use crate::metainfo::Info;
use crate::proto::BlockRequest;
use crate::resume_lmdb::{
    MemorySessionStore, SessionStore, forget_ops, meta_key, meta_ops, open_ops,
};
use crate::storage;
use crate::types::{InfoHash, Time};

/// The world's physics and faults.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every random choice in the world (and of each engine's core).
    pub seed: u64,
    /// One-way latency of every connection.
    pub latency: Duration,
    /// Bandwidth of each connection, each way, in bytes per second.
    pub link_bytes_per_sec: u64,
    /// Chance that a send is hit by a loss (and arrives `retransmit_delay` late).
    pub loss: f64,
    /// Delay a lost segment costs.
    pub retransmit_delay: Duration,
    /// Chance per second that a connection breaks.
    pub disconnects_per_sec: f64,
    /// Chance that a piece write fails with EIO.
    pub write_error: f64,
    /// Time each disk operation takes.
    pub disk_delay: Duration,
    /// Bytes each engine's disk holds; writes past it fail with ENOSPC.
    pub disk_capacity: Option<u64>,
    /// How often each engine's core gets a tick.
    pub tick: Duration,
    /// Check every core's invariants after every event (`Core::check_invariants`);
    /// a broken one panics with the time and the node.
    pub check_invariants: bool,
    /// Garbage on the wire: the byte at this offset of every connection's stream,
    /// each way, arrives changed (the handshakes' every byte can be hit in turn).
    pub corrupt_at: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            latency: Duration::from_millis(10),
            link_bytes_per_sec: 20 << 20,
            loss: 0.0,
            retransmit_delay: Duration::from_millis(200),
            disconnects_per_sec: 0.0,
            write_error: 0.0,
            disk_delay: Duration::ZERO,
            disk_capacity: None,
            tick: Duration::from_millis(100),
            check_invariants: false,
            corrupt_at: None,
        }
    }
}

/// What the world's fault injection did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Sends that suffered a loss (and arrived late).
    pub losses: u64,
    /// Connections broken at random.
    pub disconnects: u64,
    /// Piece writes that failed with the injected EIO.
    pub write_errors: u64,
}

/// A simulated world. Cloning gives another handle to the same world. The world
/// runs in whichever thread drives it; the lock only makes the handle `Send`, so an
/// engine of the memory preset is as thread-safe as any other.
#[derive(Clone)]
pub struct SimWorld {
    inner: Arc<Mutex<World>>,
}

impl std::fmt::Debug for SimWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = self.lock();
        write!(f, "SimWorld(t={:?}, nodes={})", w.now, w.nodes.len())
    }
}

pub(crate) struct Node {
    pub core: Core,
    pub store: MemorySessionStore,
    pub addr: SocketAddr,
    pub fs: MemFs,
    storage: BTreeMap<InfoHash, (Arc<Info>, String)>,
    /// Its DHT node, if it runs one (see `world_dht.rs`).
    dht: Option<Box<world_dht::NodeDht>>,
    /// The milestones its core told of, in order, with when.
    milestones: Vec<(Time, InfoHash, crate::core::Milestone)>,
    /// What its core noted of peers refused or banned.
    peer_log: crate::peerlog::PeerLog,
}

struct Link {
    remote: (usize, PeerKey),
    free_at: Time,
    last_delivery: Time,
    /// Bytes sent on it so far.
    sent: u64,
}

enum Pending {
    Deliver(usize, PeerKey, Vec<u8>),
    Sent(usize, PeerKey, usize),
    Accept {
        listener: usize,
        from: (usize, PeerKey),
    },
    Connected(usize, PeerKey),
    ConnectFailed(usize, PeerKey),
    Closed(usize, PeerKey),
    BlockRead(
        usize,
        PeerKey,
        InfoHash,
        BlockRequest,
        Result<Vec<u8>, DiskError>,
    ),
    PieceWritten(usize, InfoHash, u32, Result<(), DiskError>),
    PiecesVerified(usize, InfoHash, Vec<(u32, Verdict)>),
    BlocksHashed(
        usize,
        InfoHash,
        PeerKey,
        crate::proto::HashRange,
        Option<Vec<[u8; 32]>>,
    ),
    MetaLoaded(usize, InfoHash, Result<Option<Vec<u8>>, String>),
    ResumeSaved(usize, u64, Result<(), DiskError>),
    StorageMoved(usize, InfoHash, Result<(), DiskError>),
    StorageOpened(usize, InfoHash, Result<bool, DiskError>),
    RootsChecked(usize, Vec<(String, bool)>),
    /// A DHT datagram for node `.0` from `.1`.
    Datagram(usize, SocketAddr, Vec<u8>),
    AnnounceReply(
        usize,
        InfoHash,
        u64,
        Result<crate::proto::tracker::AnnounceReply, crate::proto::tracker::TrackerError>,
    ),
    FilesStated(
        usize,
        InfoHash,
        Vec<Option<FileStamp>>,
        Option<Vec<Option<FileStamp>>>,
    ),
    /// A web seed fetch's answer for node `.0`'s peer `.1`: the bytes that
    /// came, and how it ended.
    WebData(usize, PeerKey, Vec<u8>, Result<(), String>),
    Tick(usize),
}

impl Pending {
    /// Whether the event concerns node `n` (it dies with the node in a crash).
    fn involves(&self, n: usize) -> bool {
        match self {
            Pending::Deliver(m, ..)
            | Pending::Sent(m, ..)
            | Pending::Connected(m, _)
            | Pending::ConnectFailed(m, _)
            | Pending::Closed(m, _)
            | Pending::BlockRead(m, ..)
            | Pending::PieceWritten(m, ..)
            | Pending::PiecesVerified(m, ..)
            | Pending::BlocksHashed(m, ..)
            | Pending::MetaLoaded(m, ..)
            | Pending::ResumeSaved(m, ..)
            | Pending::StorageMoved(m, ..)
            | Pending::StorageOpened(m, ..)
            | Pending::AnnounceReply(m, ..)
            | Pending::WebData(m, ..)
            | Pending::FilesStated(m, ..)
            | Pending::RootsChecked(m, _)
            | Pending::Datagram(m, ..) => *m == n,
            Pending::Accept { listener, from } => *listener == n || from.0 == n,
            Pending::Tick(_) => false,
        }
    }
}

pub(crate) struct World {
    cfg: SimConfig,
    pub now: Time,
    rng: Rng,
    seq: u64,
    queue: BinaryHeap<Reverse<(Time, u64)>>,
    pending: BTreeMap<u64, Pending>,
    pub nodes: Vec<Node>,
    links: BTreeMap<(usize, PeerKey), Link>,
    listeners: BTreeMap<SocketAddr, usize>,
    /// Addresses whose connects are never answered (a firewall dropping SYNs).
    black_holes: std::collections::BTreeSet<SocketAddr>,
    next_port: u16,
    faults: FaultCounts,
    web: web::SimWeb,
    trackers: tracker::SimTrackers,
    /// A fingerprint of every event run so far (fixed keys: the same run gives
    /// the same value in every build of the same code).
    trace: std::hash::DefaultHasher,
    /// Sees every byte delivered, if set (see [`SimWorld::set_wire_tap`]).
    tap: Option<WireTap>,
    /// Sees every datagram delivered, if set.
    dgram_tap: Option<world_dht::DatagramTap>,
}

/// A test's view of every byte the memory network delivers.
type WireTap = Box<dyn FnMut(Delivery<'_>) + Send>;

/// Bytes delivered on one connection, as a wire tap sees them.
#[derive(Debug)]
pub struct Delivery<'a> {
    /// The receiving engine's listen address.
    pub to: SocketAddr,
    /// The receiving end of the connection (one per connection and direction).
    pub link: (usize, u64),
    /// The sending end of the same connection (its `link` when it receives).
    pub from: (usize, u64),
    /// The bytes, in order after those delivered before on the same link.
    pub bytes: &'a [u8],
}

impl SimWorld {
    /// An empty world at time zero.
    pub fn new(cfg: SimConfig) -> SimWorld {
        SimWorld {
            inner: Arc::new(Mutex::new(World {
                rng: Rng::new(cfg.seed ^ 0x005E_ED0F_5EED),
                cfg,
                now: Time::ZERO,
                seq: 0,
                queue: BinaryHeap::new(),
                pending: BTreeMap::new(),
                nodes: Vec::new(),
                links: BTreeMap::new(),
                listeners: BTreeMap::new(),
                black_holes: std::collections::BTreeSet::new(),
                next_port: 20_000,
                faults: FaultCounts::default(),
                trackers: tracker::SimTrackers::default(),
                web: web::SimWeb::default(),
                trace: std::hash::DefaultHasher::new(),
                tap: None,
                dgram_tap: None,
            })),
        }
    }

    /// The world, locked. A panic while it was held (a failed assertion in a test)
    /// leaves nothing half-done that matters more than the test's own failure.
    pub(crate) fn lock(&self) -> MutexGuard<'_, World> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs a command on node `n`'s core at the world's time and carries out the
    /// actions it asked for.
    pub(crate) fn run_command(&self, n: usize, command: Command) -> Reply {
        let mut w = self.lock();
        let now = w.now;
        let mut out = Vec::new();
        let r = w.nodes[n].core.execute(now, command, &mut out);
        w.apply(n, out);
        r
    }

    /// The virtual time now.
    pub fn now(&self) -> Time {
        self.lock().now
    }

    /// A fingerprint of every event the world has run, in order: two runs with
    /// the same value ran the same events at the same times with the same bytes.
    pub fn trace_hash(&self) -> u64 {
        std::hash::Hasher::finish(&self.lock().trace)
    }

    /// What the fault injection did so far.
    pub fn fault_counts(&self) -> FaultCounts {
        self.lock().faults
    }

    /// The world's configuration.
    pub fn config(&self) -> SimConfig {
        self.lock().cfg.clone()
    }

    /// A tracker at `url` (any string; engines announce to it when a torrent
    /// lists it) telling peers to come back every `interval_secs`.
    pub fn add_tracker(&self, url: &str, interval_secs: u32) {
        self.lock().trackers.add(url, interval_secs, false);
    }

    /// An address whose connects are never answered, neither accepted nor
    /// refused (a firewall dropping SYNs): only the core's deadline ends them.
    pub fn add_black_hole(&self, addr: SocketAddr) {
        self.lock().black_holes.insert(addr);
    }

    /// Every engine's disk holds `bytes` from now on (`None`: no limit); space
    /// freed or added, as when a user clears a full disk.
    pub fn set_disk_capacity(&self, bytes: Option<u64>) {
        self.lock().cfg.disk_capacity = bytes;
    }

    /// From now on, the byte at `offset` of every connection's stream arrives
    /// changed (`None`: no more garbage); see [`SimConfig::corrupt_at`].
    pub fn set_corrupt_at(&self, offset: Option<u64>) {
        self.lock().cfg.corrupt_at = offset;
    }

    /// Shows `tap` every byte delivered from now on, on every connection (tests
    /// that check every message a swarm sends).
    pub fn set_wire_tap(&self, tap: impl FnMut(Delivery<'_>) + Send + 'static) {
        self.lock().tap = Some(Box::new(tap));
    }

    /// A tracker at `url` that is down: it logs each announce and refuses it.
    pub fn add_dead_tracker(&self, url: &str) {
        self.lock().trackers.add(url, 0, true);
    }

    /// Every announce the tracker at `url` received, in order.
    pub fn tracker_log(&self, url: &str) -> Vec<AnnounceRecord> {
        self.lock().trackers.log(url)
    }

    /// Runs every event up to `until`.
    pub fn run_until(&self, until: Time) {
        loop {
            let mut w = self.lock();
            let Some(Reverse((at, seq))) = w.queue.peek().copied() else {
                w.now = until;
                return;
            };
            if at > until {
                w.now = until;
                return;
            }
            w.queue.pop();
            w.now = at;
            let ev = w.pending.remove(&seq).expect("queued events are pending");
            w.run(ev);
        }
    }

    /// Runs in steps of `check_every` until `done` says so or `limit` passes.
    /// Returns whether `done` became true.
    pub fn run_while(
        &self,
        limit: Time,
        check_every: Duration,
        mut done: impl FnMut() -> bool,
    ) -> bool {
        while self.now() < limit {
            let next = (self.now() + check_every).min(limit);
            self.run_until(next);
            if done() {
                return true;
            }
        }
        done()
    }

    pub(crate) fn add_node(
        &self,
        mut core_cfg: crate::core::CoreConfig,
        store: MemorySessionStore,
    ) -> usize {
        let mut w = self.lock();
        let idx = w.nodes.len();
        let i = u32::try_from(idx).expect("fewer than 2^32 nodes");
        // 127.0.x.y: loopback addresses, even in memory.
        let [_, _, hi, lo] = (i / 250 * 256 + i % 250 + 1).to_be_bytes();
        let ip = Ipv4Addr::new(127, 0, hi, lo);
        let addr = SocketAddr::new(IpAddr::V4(ip), core_cfg.listen_port);
        core_cfg.seed ^= w
            .cfg
            .seed
            .wrapping_mul(0x9E37_79B9)
            .wrapping_add(u64::from(i));
        core_cfg.peer_id[8..12].copy_from_slice(&i.to_be_bytes());
        // The sim carries out `SendBlock` as the shards do.
        core_cfg.send_from_files = true;
        if core_cfg.unix_at_zero == 0 {
            // 2023-11-14 at the world's time zero, which is every node's
            // (they share the world's clock, whenever they join).
            core_cfg.unix_at_zero = 1_700_000_000;
        }
        let tick = w.cfg.tick;
        w.nodes.push(Node {
            core: Core::new(core_cfg),
            // The node's crashes keep the store: saves into it sync their files.
            store: store.outliving_crashes(),
            addr,
            fs: MemFs::default(),
            storage: BTreeMap::new(),
            dht: None,
            milestones: Vec::new(),
            peer_log: crate::peerlog::PeerLog::new(),
        });
        w.listeners.insert(addr, idx);
        let at = w.now + tick;
        w.schedule(at, Pending::Tick(idx));
        idx
    }
}

impl World {
    /// Folds one event into the run's fingerprint: its time, its kind and node,
    /// and the bytes of every delivery.
    fn trace_event(&mut self, ev: &Pending) {
        use std::hash::Hash;
        self.now.0.hash(&mut self.trace);
        std::mem::discriminant(ev).hash(&mut self.trace);
        match ev {
            Pending::Deliver(n, peer, bytes) => (n, peer, bytes).hash(&mut self.trace),
            Pending::Sent(n, peer, len) => (n, peer, len).hash(&mut self.trace),
            Pending::Accept { listener, from } => (listener, from).hash(&mut self.trace),
            Pending::Connected(n, p) | Pending::ConnectFailed(n, p) | Pending::Closed(n, p) => {
                (n, p).hash(&mut self.trace);
            }
            Pending::BlockRead(n, p, ih, r, res) => {
                (n, p, ih, r.piece, r.offset, r.len, res.is_ok()).hash(&mut self.trace);
            }
            Pending::PieceWritten(n, ih, piece, res) => {
                (n, ih, piece, res.is_ok()).hash(&mut self.trace)
            }
            Pending::PiecesVerified(n, ih, results) => (n, ih, results).hash(&mut self.trace),
            Pending::BlocksHashed(n, ih, p, r, leaves) => {
                (n, ih, p, r, leaves).hash(&mut self.trace)
            }
            Pending::MetaLoaded(n, ih, res) => (n, ih, res.is_ok()).hash(&mut self.trace),
            Pending::ResumeSaved(n, id, res) => (n, id, res.is_ok()).hash(&mut self.trace),
            Pending::StorageMoved(n, ih, res) => (n, ih, res.is_ok()).hash(&mut self.trace),
            Pending::StorageOpened(n, ih, res) => {
                (n, ih, res.as_ref().ok()).hash(&mut self.trace);
            }
            Pending::AnnounceReply(n, ih, id, res) => {
                (n, ih, id, res.is_ok()).hash(&mut self.trace)
            }
            Pending::WebData(n, p, bytes, res) => {
                (n, p, bytes.len(), res.is_ok()).hash(&mut self.trace)
            }
            Pending::FilesStated(n, ih, stamps, recorded) => {
                let sizes = |v: &[Option<FileStamp>]| -> Vec<Option<u64>> {
                    v.iter().map(|s| s.map(|s| s.size)).collect()
                };
                (n, ih, sizes(stamps), recorded.as_deref().map(sizes)).hash(&mut self.trace);
            }
            Pending::RootsChecked(n, roots) => (n, roots).hash(&mut self.trace),
            Pending::Datagram(n, from, bytes) => (n, from, bytes).hash(&mut self.trace),
            Pending::Tick(n) => n.hash(&mut self.trace),
        }
    }

    fn schedule(&mut self, at: Time, ev: Pending) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.pending.insert(self.seq, ev);
    }

    fn run(&mut self, ev: Pending) {
        let now = self.now;
        self.trace_event(&ev);
        let mut out = Vec::new();
        let node = match ev {
            Pending::Deliver(n, peer, bytes) => {
                if !self.links.contains_key(&(n, peer)) {
                    return; // the connection broke while the bytes were in flight
                }
                if let Some(tap) = &mut self.tap {
                    let (rn, rk) = self.links[&(n, peer)].remote;
                    tap(Delivery {
                        to: self.nodes[n].addr,
                        link: (n, peer.0),
                        from: (rn, rk.0),
                        bytes: &bytes,
                    });
                }
                self.nodes[n].core.on_event(
                    now,
                    Event::Data {
                        peer,
                        bytes: &bytes,
                    },
                    &mut out,
                );
                n
            }
            Pending::Accept { listener, from } => {
                let from_ip = self.nodes[from.0].addr.ip();
                self.next_port = self.next_port.wrapping_add(1).max(20_000);
                let from_addr = SocketAddr::new(from_ip, self.next_port);
                let latency = self.cfg.latency;
                // As the shard's listener does: the IP filter first (a
                // refusal is noted), then the caps.
                let core = &mut self.nodes[listener].core;
                let key = match core.refuses_connection(now, from_addr, &mut out) {
                    true => None,
                    false => core.on_incoming(now, from_addr),
                };
                match key {
                    Some(key) => {
                        for (a, b) in [((listener, key), from), (from, (listener, key))] {
                            self.links.insert(
                                a,
                                Link {
                                    remote: b,
                                    free_at: now,
                                    last_delivery: now,
                                    sent: 0,
                                },
                            );
                        }
                        self.schedule(now + latency, Pending::Connected(from.0, from.1));
                    }
                    None => self.schedule(now + latency, Pending::ConnectFailed(from.0, from.1)),
                }
                if out.is_empty() {
                    return;
                }
                listener
            }
            Pending::Sent(n, peer, bytes) => {
                if !self.links.contains_key(&(n, peer)) {
                    return;
                }
                self.nodes[n]
                    .core
                    .on_event(now, Event::Sent { peer, bytes }, &mut out);
                n
            }
            Pending::Connected(n, peer) => {
                self.nodes[n]
                    .core
                    .on_event(now, Event::Connected { peer }, &mut out);
                n
            }
            Pending::ConnectFailed(n, peer) => {
                self.nodes[n]
                    .core
                    .on_event(now, Event::ConnectFailed { peer }, &mut out);
                n
            }
            Pending::Closed(n, peer) => {
                self.links.remove(&(n, peer));
                self.nodes[n]
                    .core
                    .on_event(now, Event::Closed { peer }, &mut out);
                n
            }
            Pending::BlockRead(n, peer, info_hash, req, result) => {
                let ev = Event::BlockRead {
                    peer,
                    info_hash,
                    req,
                    result,
                };
                self.nodes[n].core.on_event(now, ev, &mut out);
                n
            }
            Pending::PieceWritten(n, info_hash, piece, result) => {
                let ev = Event::PieceWritten {
                    info_hash,
                    piece,
                    result,
                };
                self.nodes[n].core.on_event(now, ev, &mut out);
                n
            }
            Pending::PiecesVerified(n, info_hash, results) => {
                let ev = Event::PiecesVerified { info_hash, results };
                self.nodes[n].core.on_event(now, ev, &mut out);
                n
            }
            Pending::BlocksHashed(n, info_hash, peer, range, leaves) => {
                let ev = Event::BlocksHashed {
                    info_hash,
                    peer,
                    range,
                    leaves,
                };
                self.nodes[n].core.on_event(now, ev, &mut out);
                n
            }
            Pending::MetaLoaded(n, info_hash, result) => {
                let ev = Event::MetaLoaded { info_hash, result };
                self.nodes[n].core.on_event(now, ev, &mut out);
                n
            }
            Pending::ResumeSaved(n, id, result) => {
                let ev = Event::ResumeSaved { id, result };
                self.nodes[n].core.on_event(now, ev, &mut out);
                n
            }
            Pending::StorageMoved(n, info_hash, result) => {
                let ev = Event::StorageMoved { info_hash, result };
                self.nodes[n].core.on_event(now, ev, &mut out);
                n
            }
            Pending::StorageOpened(n, info_hash, result) => {
                let ev = Event::StorageOpened { info_hash, result };
                self.nodes[n].core.on_event(now, ev, &mut out);
                n
            }
            Pending::AnnounceReply(n, info_hash, id, result) => {
                let ev = Event::AnnounceReply {
                    info_hash,
                    id,
                    result,
                };
                self.nodes[n].core.on_event(now, ev, &mut out);
                n
            }
            Pending::FilesStated(n, info_hash, stamps, recorded) => {
                let ev = Event::FilesStated {
                    info_hash,
                    stamps,
                    recorded,
                };
                self.nodes[n].core.on_event(now, ev, &mut out);
                n
            }
            Pending::WebData(n, peer, bytes, result) => {
                self.web_deliver(n, peer, &bytes, result, &mut out);
                n
            }
            Pending::RootsChecked(n, roots) => {
                let ev = Event::RootsChecked { roots };
                self.nodes[n].core.on_event(now, ev, &mut out);
                n
            }
            Pending::Datagram(n, from, bytes) => {
                self.dht_deliver(n, from, &bytes);
                return;
            }
            Pending::Tick(n) => {
                self.break_links(n);
                self.dht_tick(n);
                self.nodes[n].core.on_tick(now, &mut out);
                let next = now + self.cfg.tick;
                self.schedule(next, Pending::Tick(n));
                n
            }
        };
        self.apply(node, out);
        if self.cfg.check_invariants
            && let Err(e) = self.nodes[node].core.check_invariants()
        {
            panic!("at {:?}, node {node}: {e}", self.now);
        }
    }

    /// Random disconnects: each connection of node `n` breaks with the configured
    /// chance per second (checked once per tick).
    fn break_links(&mut self, n: usize) {
        let p = self.cfg.disconnects_per_sec * self.cfg.tick.as_secs_f64();
        if p <= 0.0 {
            return;
        }
        let mine: Vec<(usize, PeerKey)> = self.links.keys().copied().filter(|k| k.0 == n).collect();
        for end in mine {
            if !self.rng.chance(p) {
                continue;
            }
            if let Some(link) = self.links.remove(&end) {
                self.faults.disconnects += 1;
                self.links.remove(&link.remote);
                let at = self.now + self.cfg.latency;
                self.schedule(at, Pending::Closed(link.remote.0, link.remote.1));
                self.schedule(self.now, Pending::Closed(end.0, end.1));
            }
        }
    }

    /// Node `n` crashes: its connections break, its events vanish, unsynced writes
    /// are kept, lost or torn, and it comes back with a fresh core.
    pub(crate) fn crash(&mut self, n: usize, cfg: crate::core::CoreConfig) -> CrashLoss {
        let ends: Vec<(usize, PeerKey)> = self.links.keys().copied().filter(|k| k.0 == n).collect();
        for end in ends {
            if let Some(link) = self.links.remove(&end) {
                self.links.remove(&link.remote);
                let at = self.now + self.cfg.latency;
                self.schedule(at, Pending::Closed(link.remote.0, link.remote.1));
            }
        }
        let dead: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.involves(n))
            .map(|(s, _)| *s)
            .collect();
        for s in dead {
            self.pending.remove(&s);
        }
        self.queue
            .retain(|Reverse((_, s))| self.pending.contains_key(s));
        let loss = self.nodes[n].fs.crash(&mut self.rng);
        let node = &mut self.nodes[n];
        let mut cfg = cfg;
        cfg.seed = node.core.config().seed.wrapping_add(1);
        cfg.peer_id = node.core.config().peer_id;
        cfg.listen_port = node.addr.port();
        cfg.unix_at_zero = node.core.config().unix_at_zero;
        cfg.send_from_files = true;
        node.core = Core::new(cfg);
        node.storage.clear();
        loss
    }
}
