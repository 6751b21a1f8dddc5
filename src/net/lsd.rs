//! Local service discovery's driver (BEP 14): a UDP socket on the IPv4 group
//! (239.192.152.143:6771) and one on the IPv6 group ([ff15::efc0:988f]:6771),
//! multicast TTL and hops 1 (it never leaves the local network), on a thread
//! of its own; a family that cannot join (no IPv6, no multicast route) is said
//! once and left out. IPv6 senders are mostly link-local: their interface is
//! kept with the address, so they can be dialled. It hands the policy (`crate::lsd`) the engine's
//! discoverable torrents every 10 s, sends what the policy says, and gives the
//! engine the peers others announce (source `lsd`). Off unless `peers.lsd`.

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Engine;
use crate::core::PeerSource;
use crate::lsd::Lsd;
use crate::proto::lsd::{LSD_V4, LSD_V6, MAX_LSD_PACKET};
use crate::types::Time;

const SYNC: Duration = Duration::from_secs(10);
const TICK: Duration = Duration::from_millis(250);

/// The running discovery.
#[derive(Debug)]
pub struct LsdService {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

fn socket(group: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(group), Type::DGRAM, Some(Protocol::UDP))?;
    // Other clients on this machine listen on the same group and port.
    s.set_reuse_address(true)?;
    match group {
        SocketAddr::V4(g) => {
            s.bind(&SocketAddr::from(([0, 0, 0, 0], g.port())).into())?;
            s.join_multicast_v4(g.ip(), &Ipv4Addr::UNSPECIFIED)?;
            s.set_multicast_ttl_v4(1)?;
            s.set_multicast_loop_v4(true)?;
        }
        SocketAddr::V6(g) => {
            s.set_only_v6(true)?;
            s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, g.port())).into())?;
            s.join_multicast_v6(g.ip(), 0)?;
            s.set_multicast_hops_v6(1)?;
            s.set_multicast_loop_v6(true)?;
        }
    }
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(50)))?;
    Ok(s)
}

impl LsdService {
    /// Joins the group and starts announcing the torrents of peers on `port`.
    pub fn start(engine: Engine, port: u16) -> std::io::Result<LsdService> {
        let mut socks = Vec::new();
        let mut last_error = None;
        for group in [LSD_V4, LSD_V6] {
            match socket(group) {
                Ok(s) => {
                    tracing::info!(%group, "local service discovery on");
                    socks.push((s, group));
                }
                Err(e) => {
                    tracing::warn!(%group, error = %e, "lsd: cannot join this group; left out");
                    last_error = Some(e);
                }
            }
        }
        if socks.is_empty() {
            return Err(last_error.expect("a family failed"));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let mut cookie = [0u8; 6];
        let _ = getrandom::fill(&mut cookie);
        let cookie: String = cookie.iter().map(|b| format!("{b:02x}")).collect();
        let thread = std::thread::Builder::new()
            .name("sr-lsd".into())
            .spawn(move || run(&engine, &socks, Lsd::new(cookie, port), &flag))?;
        Ok(LsdService { stop, thread })
    }

    /// Stops it.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

fn run(engine: &Engine, socks: &[(UdpSocket, SocketAddr)], mut lsd: Lsd, stop: &AtomicBool) {
    // The LSD driver's one clock read: the policy's time is passed in from here.
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    let now = || Time(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
    let mut buf = vec![0u8; MAX_LSD_PACKET + 1];
    let (mut last_tick, mut last_sync) = (Time::ZERO, None::<Time>);
    let (mut send_failed_logged, mut ignored_logged) = (false, false);
    while !stop.load(Ordering::Relaxed) {
        for (sock, _) in socks {
            // One byte over the bound is read so that an oversized datagram
            // is refused (and counted) rather than cut.
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let ignored = lsd.ignored;
            for (ih, peer) in lsd.on_packet(now(), from, &buf[..n]) {
                // A torrent removed meanwhile: nothing to do.
                let _ = engine.add_peers_from(ih, &[peer], PeerSource::Lsd);
            }
            if lsd.ignored > ignored && !ignored_logged {
                ignored_logged = true;
                tracing::info!(%from, "lsd: a datagram ignored (not BT-SEARCH, or over the \
                    sender's rate); later ones are not said");
            }
        }
        let t = now();
        if last_sync.is_none_or(|at| t.since(at) >= SYNC) {
            last_sync = Some(t);
            if let Ok(list) = engine.dht_torrents() {
                lsd.sync(t, &list);
            }
        }
        if t.since(last_tick) >= TICK {
            last_tick = t;
            if let Some(a) = lsd.on_tick(t) {
                for (sock, group) in socks {
                    if let Err(e) = sock.send_to(&a.encode(*group), group)
                        && !send_failed_logged
                    {
                        send_failed_logged = true;
                        tracing::info!(%group, error = %e, "lsd: a send failed (said once)");
                    }
                }
            }
        }
    }
}
