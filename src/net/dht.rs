//! The DHT node's driver: one UDP socket per address family, each on a thread of
//! its own on the control plane (not a shard: one DHT node serves the whole
//! daemon). It feeds the node its packets and ticks, learns from the engine
//! which torrents to announce (every [`SYNC`]), hands the peers the node finds
//! to the engine, and saves the node's id and good nodes in the session store
//! (every [`SAVE`] and when stopped).
//!
//! Bounds: a datagram over `MAX_PACKET` is dropped unread (when searches and
//! announces happen is the node's `dht::schedule`);
//! sends that fail are counted and logged once per thread.

use core::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::net::{ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Engine;
use crate::core::PeerSource;
use crate::dht::krpc::MAX_PACKET;
use crate::dht::{Dht, DhtAction, DhtConfig, DhtStats, Saved};
use crate::types::Time;

/// Between two looks at the engine's torrents.
pub const SYNC: Duration = Duration::from_secs(10);
/// Between two saves of the routing table.
pub const SAVE: Duration = Duration::from_secs(10 * 60);
const TICK: Duration = Duration::from_millis(250);

/// The DHT's settings in the daemon.
#[derive(Debug, Clone)]
pub struct DhtServiceConfig {
    /// The IPv4 socket's address (`None`: no IPv4 node).
    pub listen: Option<SocketAddr>,
    /// The IPv6 socket's address (`None`: no IPv6 node).
    pub listen6: Option<SocketAddr>,
    /// Nodes to start from, `host:port`.
    pub bootstrap: Vec<String>,
    /// Queries sent per second per family at most.
    pub queries_per_sec: u32,
    /// The port peers connect to (announced).
    pub peer_port: u16,
}

/// The running DHT nodes.
#[derive(Debug)]
pub struct DhtService {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    stats: Arc<Mutex<[DhtStats; 2]>>,
    /// The sockets' bound addresses.
    pub addrs: Vec<SocketAddr>,
}

fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.bind(&addr.into())?;
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    Ok(s)
}

fn state_key(v6: bool) -> &'static [u8] {
    if v6 {
        crate::engine::discovery::DHT6_KEY
    } else {
        crate::engine::discovery::DHT_KEY
    }
}

impl DhtService {
    /// Binds the sockets and starts one node per family. A family whose socket
    /// cannot be bound is said in the log and left out; if none can, the error.
    pub fn start(engine: Engine, cfg: DhtServiceConfig) -> std::io::Result<DhtService> {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new([DhtStats::default(); 2]));
        let mut threads = Vec::new();
        let mut addrs = Vec::new();
        let mut last_err = None;
        for (slot, listen) in [cfg.listen, cfg.listen6].into_iter().enumerate() {
            let Some(listen) = listen else { continue };
            let socket = match bind(listen) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(%listen, error = %e, "dht: cannot bind; this family has no DHT node");
                    last_err = Some(e);
                    continue;
                }
            };
            let local = socket.local_addr()?;
            addrs.push(local);
            let (engine, cfg, stop, stats) =
                (engine.clone(), cfg.clone(), stop.clone(), stats.clone());
            let t = std::thread::Builder::new()
                .name(format!("sr-dht{}", if slot == 1 { "6" } else { "" }))
                .spawn(move || run(&engine, &socket, &cfg, slot == 1, &stop, &stats))?;
            threads.push(t);
            tracing::info!(addr = %local, "dht: node listening");
        }
        if threads.is_empty()
            && let Some(e) = last_err
        {
            return Err(e);
        }
        Ok(DhtService {
            stop,
            threads,
            stats,
            addrs,
        })
    }

    /// A handle on the nodes' numbers (for the API).
    pub fn stats_handle(&self) -> DhtStatsHandle {
        DhtStatsHandle(self.stats.clone())
    }

    /// Stops the nodes; each saves its table first.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// The running nodes' numbers, for whoever reports them.
#[derive(Debug, Clone)]
pub struct DhtStatsHandle(Arc<Mutex<[DhtStats; 2]>>);

impl DhtStatsHandle {
    /// Both nodes' numbers added up.
    pub fn get(&self) -> DhtStats {
        let s = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (a, b) = (s[0], s[1]);
        DhtStats {
            nodes: a.nodes + b.nodes,
            queries_in: a.queries_in + b.queries_in,
            queries_out: a.queries_out + b.queries_out,
            responses: a.responses + b.responses,
            timeouts: a.timeouts + b.timeouts,
            dropped: a.dropped + b.dropped,
            torrents_held: a.torrents_held + b.torrents_held,
            ignored: a.ignored + b.ignored,
            lookups: a.lookups + b.lookups,
            torrents: a.torrents.max(b.torrents),
        }
    }
}

/// Resolves `host:port` names to addresses of one family (each said once in the
/// log when it does not resolve).
fn resolve(names: &[String], v6: bool) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for name in names {
        match name.to_socket_addrs() {
            Ok(addrs) => out.extend(addrs.filter(|a| a.is_ipv6() == v6)),
            Err(e) => {
                tracing::warn!(node = %name, error = %e, "dht: a bootstrap node does not resolve")
            }
        }
    }
    out
}

fn run(
    engine: &Engine,
    socket: &UdpSocket,
    cfg: &DhtServiceConfig,
    v6: bool,
    stop: &AtomicBool,
    stats: &Mutex<[DhtStats; 2]>,
) {
    // The DHT driver's one clock read: the node's time is passed in from here.
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    let now = || Time(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
    let saved = engine
        .dht_state(state_key(v6))
        .and_then(|b| {
            let s = Saved::decode(&b);
            if s.is_none() {
                tracing::warn!("dht: the saved routing table is damaged; starting afresh");
            }
            s
        })
        .unwrap_or_default();
    tracing::info!(
        nodes = saved.nodes.len(),
        ipv6 = v6,
        "dht: starting from the saved table"
    );
    let node_cfg = DhtConfig {
        bootstrap: resolve(&cfg.bootstrap, v6),
        queries_per_sec: cfg.queries_per_sec,
        v6,
        ..DhtConfig::default()
    };
    let mut seed = [0u8; 8];
    let _ = getrandom::fill(&mut seed);
    let mut dht = Dht::new(node_cfg, u64::from_le_bytes(seed), now(), saved);
    let mut buf = vec![0u8; MAX_PACKET + 1];
    let mut last_tick = Time::ZERO;
    let mut last_sync: Option<Time> = None;
    let mut last_save = now();
    let (mut send_failed_logged, mut dropped_logged) = (false, false);
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if n <= MAX_PACKET => dht.on_packet(now(), from, &buf[..n], &mut out),
            Ok(_) => {} // over the packet bound: dropped unread
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => {
                tracing::debug!(error = %e, "dht: receive failed");
                // Not a shard: this thread is the DHT's own; a short pause
                // keeps a failing socket from spinning.
                #[allow(clippy::disallowed_methods)]
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let t = now();
        if t.since(last_tick) >= TICK {
            last_tick = t;
            dht.on_tick(t, &mut out);
        }
        if last_sync.is_none_or(|at| t.since(at) >= SYNC) {
            last_sync = Some(t);
            if let Ok(list) = engine.dht_torrents() {
                dht.sync_torrents(t, &list, cfg.peer_port);
            }
        }
        if t.since(last_save) >= SAVE {
            last_save = t;
            save(engine, &dht, v6);
        }
        for a in out.drain(..) {
            match a {
                DhtAction::Send { to, bytes } => {
                    if let Err(e) = socket.send_to(&bytes, to)
                        && !send_failed_logged
                    {
                        send_failed_logged = true;
                        tracing::info!(%to, error = %e, "dht: a send failed (said once)");
                    }
                }
                DhtAction::Peers { info_hash, peers } => {
                    // A torrent removed meanwhile: nothing to do.
                    let _ = engine.add_peers_from(info_hash, &peers, PeerSource::Dht);
                }
            }
        }
        let now_stats = dht.stats();
        if now_stats.dropped > 0 && !dropped_logged {
            dropped_logged = true;
            tracing::info!(
                "dht: packets dropped (unparsable, over an address's rate, or answers we \
                 did not ask for); counted in /api/v1/stats as dht.dropped (said once)"
            );
        }
        if let Ok(mut s) = stats.lock() {
            s[usize::from(v6)] = now_stats;
        }
    }
    save(engine, &dht, v6);
}

fn save(engine: &Engine, dht: &Dht, v6: bool) {
    if let Err(e) = engine.save_dht_state(state_key(v6), &dht.saved().encode()) {
        tracing::warn!(error = %e, "dht: the routing table could not be saved");
    }
}

/// The unspecified address of a family, on `port`.
pub fn any(v6: bool, port: u16) -> SocketAddr {
    if v6 {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)
    } else {
        SocketAddr::from(([0, 0, 0, 0], port))
    }
}
