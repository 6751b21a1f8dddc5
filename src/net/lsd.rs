//! Local service discovery's driver (BEP 14): a UDP socket on the IPv4 group
//! (239.192.152.143:6771, multicast TTL 1: it never leaves the local network),
//! on a thread of its own. It hands the policy (`crate::lsd`) the engine's
//! discoverable torrents every 10 s, sends what the policy says, and gives the
//! engine the peers others announce (source `lsd`). Off unless `peers.lsd`.

use core::net::{Ipv4Addr, SocketAddr};
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Engine;
use crate::core::PeerSource;
use crate::lsd::Lsd;
use crate::proto::lsd::{LSD_V4, MAX_LSD_PACKET};
use crate::types::Time;

const SYNC: Duration = Duration::from_secs(10);
const TICK: Duration = Duration::from_millis(250);

/// The running discovery.
#[derive(Debug)]
pub struct LsdService {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

fn socket() -> std::io::Result<UdpSocket> {
    let s = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // Other clients on this machine listen on the same group and port.
    s.set_reuse_address(true)?;
    s.bind(&SocketAddr::from(([0, 0, 0, 0], LSD_V4.port())).into())?;
    let SocketAddr::V4(group) = LSD_V4 else {
        unreachable!("the IPv4 group")
    };
    s.join_multicast_v4(group.ip(), &Ipv4Addr::UNSPECIFIED)?;
    s.set_multicast_ttl_v4(1)?;
    s.set_multicast_loop_v4(true)?;
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    Ok(s)
}

impl LsdService {
    /// Joins the group and starts announcing the torrents of peers on `port`.
    pub fn start(engine: Engine, port: u16) -> std::io::Result<LsdService> {
        let sock = socket()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let mut cookie = [0u8; 6];
        let _ = getrandom::fill(&mut cookie);
        let cookie: String = cookie.iter().map(|b| format!("{b:02x}")).collect();
        let thread = std::thread::Builder::new()
            .name("sr-lsd".into())
            .spawn(move || run(&engine, &sock, Lsd::new(cookie, port), &flag))?;
        tracing::info!(group = %LSD_V4, "local service discovery on");
        Ok(LsdService { stop, thread })
    }

    /// Stops it.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

fn run(engine: &Engine, sock: &UdpSocket, mut lsd: Lsd, stop: &AtomicBool) {
    // The LSD driver's one clock read: the policy's time is passed in from here.
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    let now = || Time(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
    let mut buf = vec![0u8; MAX_LSD_PACKET + 1];
    let (mut last_tick, mut last_sync) = (Time::ZERO, None::<Time>);
    let (mut send_failed_logged, mut ignored_logged) = (false, false);
    while !stop.load(Ordering::Relaxed) {
        if let Ok((n, from)) = sock.recv_from(&mut buf)
            && n <= MAX_LSD_PACKET
        {
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
            if let Some(a) = lsd.on_tick(t)
                && let Err(e) = sock.send_to(&a.encode(LSD_V4), LSD_V4)
                && !send_failed_logged
            {
                send_failed_logged = true;
                tracing::info!(error = %e, "lsd: a send failed (said once)");
            }
        }
    }
}
