//! The tracker client: one control-plane thread (`sr-ctl`) running a tokio
//! current-thread runtime, doing HTTP(S) and UDP announces for whoever asks.

use core::net::SocketAddr;
use std::collections::HashMap;
use std::time::Duration;

use crate::proto::tracker::{
    Announce, AnnounceReply, MAX_REPLY_BYTES, TrackerError, announce_url, parse_announce_reply, udp,
};

type Reply = flume::Sender<Result<AnnounceReply, TrackerError>>;
/// UDP connection ids by tracker address, with when they were issued.
type UdpIds = std::cell::RefCell<HashMap<SocketAddr, (u64, tokio::time::Instant)>>;

struct Job {
    url: String,
    announce: Announce,
    reply: Reply,
}

/// A handle to the control-plane thread. Dropping it stops the thread.
#[derive(Debug)]
pub struct TrackerClient {
    jobs: Option<tokio::sync::mpsc::UnboundedSender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TrackerClient {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl TrackerClient {
    /// Starts the control-plane thread.
    pub fn start() -> std::io::Result<TrackerClient> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("sr-ctl".into())
            .spawn(move || {
                // spawn_local needs a LocalSet: requests share !Send state (the UDP
                // connection ids) on this one thread.
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, async move {
                    let http = reqwest::Client::builder()
                        .user_agent(concat!("seedring/", env!("CARGO_PKG_VERSION")))
                        .timeout(Duration::from_secs(20))
                        .redirect(reqwest::redirect::Policy::limited(3))
                        .build();
                    let http = match http {
                        Ok(c) => c,
                        Err(e) => {
                            // No HTTP client: every announce fails with the reason,
                            // rather than hanging.
                            let why = format!("cannot start the HTTP client: {e}");
                            while let Some(job) = rx.recv().await {
                                let _ = job.reply.send(Err(TrackerError::Io(why.clone())));
                            }
                            return;
                        }
                    };
                    let udp_ids: std::rc::Rc<UdpIds> = Default::default();
                    while let Some(job) = rx.recv().await {
                        let http = http.clone();
                        let ids = udp_ids.clone();
                        tokio::task::spawn_local(async move {
                            let r = announce(&http, &ids, &job.url, &job.announce).await;
                            let _ = job.reply.send(r);
                        });
                    }
                });
            })?;
        Ok(TrackerClient {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Sends an announce; the reply arrives on the returned channel.
    pub fn announce(
        &self,
        url: String,
        announce: Announce,
    ) -> flume::Receiver<Result<AnnounceReply, TrackerError>> {
        let (tx, rx) = flume::bounded(1);
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Job {
                url,
                announce,
                reply: tx,
            });
        }
        rx
    }
}

async fn announce(
    http: &reqwest::Client,
    udp_ids: &UdpIds,
    url: &str,
    a: &Announce,
) -> Result<AnnounceReply, TrackerError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        http_announce(http, url, a).await
    } else if let Some(rest) = url.strip_prefix("udp://") {
        let hostport = rest.split('/').next().unwrap_or(rest);
        udp_announce(udp_ids, hostport, a).await
    } else {
        Err(TrackerError::BadUrl(url.to_owned()))
    }
}

async fn http_announce(
    http: &reqwest::Client,
    base: &str,
    a: &Announce,
) -> Result<AnnounceReply, TrackerError> {
    let io = |e: reqwest::Error| TrackerError::Io(e.to_string());
    let mut resp = http.get(announce_url(base, a)).send().await.map_err(io)?;
    if !resp.status().is_success() {
        return Err(TrackerError::Io(format!("HTTP {}", resp.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(io)? {
        if body.len() + chunk.len() > MAX_REPLY_BYTES {
            return Err(TrackerError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    parse_announce_reply(&body)
}

/// BEP 15: connect (connection ids are reused for a minute), then announce; each
/// step tries three times with timeouts of 2, 4 and 8 s.
async fn udp_announce(
    ids: &UdpIds,
    hostport: &str,
    a: &Announce,
) -> Result<AnnounceReply, TrackerError> {
    let io = |e: std::io::Error| TrackerError::Io(e.to_string());
    let addr = tokio::net::lookup_host(hostport)
        .await
        .map_err(io)?
        .next()
        .ok_or_else(|| TrackerError::BadUrl(hostport.to_owned()))?;
    let bind: SocketAddr = if addr.is_ipv6() {
        "[::]:0".parse().expect("literal")
    } else {
        "0.0.0.0:0".parse().expect("literal")
    };
    let sock = tokio::net::UdpSocket::bind(bind).await.map_err(io)?;
    sock.connect(addr).await.map_err(io)?;
    let fresh = ids
        .borrow()
        .get(&addr)
        .filter(|(_, at)| at.elapsed() < Duration::from_secs(60))
        .map(|(id, _)| *id);
    let conn = match fresh {
        Some(id) => id,
        None => {
            let t = transaction();
            let resp = exchange(&sock, &udp::connect_request(t), t, addr.is_ipv6()).await?;
            let udp::Response::Connected(id) = resp else {
                return Err(TrackerError::Malformed("expected a connect reply".into()));
            };
            ids.borrow_mut()
                .insert(addr, (id, tokio::time::Instant::now()));
            id
        }
    };
    let t = transaction();
    match exchange(&sock, &udp::announce_request(conn, t, a), t, addr.is_ipv6()).await? {
        udp::Response::Announced(r) => Ok(r),
        udp::Response::Error(e) => {
            ids.borrow_mut().remove(&addr);
            Err(TrackerError::Failure(e))
        }
        _ => Err(TrackerError::Malformed("expected an announce reply".into())),
    }
}

fn transaction() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let h = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    u32::try_from(h & 0xffff_ffff).expect("masked")
}

async fn exchange(
    sock: &tokio::net::UdpSocket,
    req: &[u8],
    transaction: u32,
    ipv6: bool,
) -> Result<udp::Response, TrackerError> {
    let mut buf = vec![0u8; 64 * 1024];
    for wait in [2u64, 4, 8] {
        sock.send(req)
            .await
            .map_err(|e| TrackerError::Io(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        loop {
            match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                Err(_) => break, // timed out: send again
                Ok(Err(e)) => return Err(TrackerError::Io(e.to_string())),
                Ok(Ok(n)) => match udp::parse_response(&buf[..n], transaction, ipv6) {
                    Ok(r) => return Ok(r),
                    Err(_) => continue, // a stray or stale datagram
                },
            }
        }
    }
    Err(TrackerError::Io("UDP tracker did not answer".into()))
}
