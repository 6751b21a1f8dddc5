//! The tracker client: one control-plane thread (`sr-ctl`) running a tokio
//! current-thread runtime, doing HTTP(S) and UDP announces and scrapes for whoever
//! asks.
//!
//! BEP 7: a tracker whose name resolves to both IPv4 and IPv6 addresses is
//! announced to over each family (so it learns both our addresses and can hand
//! out either), and the two answers are merged; a tracker given by address, or
//! whose name has one family, gets one announce.

use core::net::SocketAddr;
use std::collections::HashMap;
use std::time::Duration;

use crate::proto::tracker::{
    Announce, AnnounceReply, MAX_REPLY_BYTES, ScrapeCounts, TrackerError, announce_url,
    parse_announce_reply, parse_scrape_reply, scrape_url, udp,
};
use crate::types::InfoHash;

type Reply = flume::Sender<Result<AnnounceReply, TrackerError>>;
type ScrapeReply = flume::Sender<Result<ScrapeCounts, TrackerError>>;
/// UDP connection ids by tracker address, with when they were issued.
/// UDP trackers' connection ids (BEP 15), and the address requests leave
/// from (`None`: any).
#[derive(Default)]
struct UdpIds {
    ids: std::cell::RefCell<HashMap<SocketAddr, (u64, tokio::time::Instant)>>,
    source: Option<core::net::IpAddr>,
}

enum Job {
    Announce {
        url: String,
        announce: Announce,
        reply: Reply,
    },
    Scrape {
        url: String,
        info_hash: InfoHash,
        reply: ScrapeReply,
    },
    /// Byte ranges from a web seed (see `net::webseed`).
    WebFetch {
        ranges: Vec<crate::core::WebRange>,
        reply: WebReply,
    },
}

/// Bounded to [`super::webseed::PARTS_QUEUED`]: when full, the fetch waits
/// (reading no more of the answer) until the shard takes a part.
type WebReply = flume::Sender<super::webseed::WebPart>;

impl Job {
    /// Answers the job with an error, unrun.
    fn refuse(self, why: &str) {
        let e = TrackerError::Io(why.into());
        match self {
            Job::Announce { reply, .. } => drop(reply.send(Err(e))),
            Job::Scrape { reply, .. } => drop(reply.send(Err(e))),
            Job::WebFetch { reply, .. } => {
                drop(reply.try_send(super::webseed::WebPart::End(Err(why.into()))))
            }
        }
    }
}

/// Requests waiting for the control-plane thread. Full: the request fails at once
/// with "busy" (an announce then backs off like any failed one).
const JOB_QUEUE: usize = 4096;

/// A handle to the control-plane thread. Dropping it stops the thread.
#[derive(Debug)]
pub struct TrackerClient {
    jobs: Option<tokio::sync::mpsc::Sender<Job>>,
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
        TrackerClient::start_from(None)
    }

    /// Starts the control-plane thread, its requests leaving from `source`
    /// (`None`: any address).
    pub fn start_from(source: Option<core::net::IpAddr>) -> std::io::Result<TrackerClient> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Job>(JOB_QUEUE);
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
                    let http = Http::new(source);
                    let http = match http {
                        Ok(c) => c,
                        Err(e) => {
                            // No HTTP client: every announce fails with the reason,
                            // rather than hanging.
                            let why = format!("cannot start the HTTP client: {e}");
                            while let Some(job) = rx.recv().await {
                                job.refuse(&why);
                            }
                            return;
                        }
                    };
                    let udp_ids = std::rc::Rc::new(UdpIds {
                        source,
                        ..UdpIds::default()
                    });
                    let said: std::rc::Rc<Said> = Default::default();
                    while let Some(job) = rx.recv().await {
                        let http = http.clone();
                        let ids = udp_ids.clone();
                        let said = said.clone();
                        tokio::task::spawn_local(async move {
                            match job {
                                Job::Announce {
                                    url,
                                    announce: a,
                                    reply,
                                } => {
                                    let r = announce_both(&http, &ids, &said, &url, &a).await;
                                    if reply.send(r).is_err() {
                                        // The shard that asked stopped waiting
                                        // (it is shutting down): nothing to tell.
                                        tracing::debug!(%url, "tracker answer dropped: its asker is gone");
                                    }
                                }
                                Job::Scrape {
                                    url,
                                    info_hash,
                                    reply,
                                } => {
                                    let r = scrape(&http.any, &ids, &url, info_hash).await;
                                    if reply.send(r).is_err() {
                                        tracing::debug!(%url, "scrape answer dropped: its asker is gone");
                                    }
                                }
                                Job::WebFetch { ranges, reply } => {
                                    super::webseed::fetch(&http.any, &ranges, &reply).await;
                                }
                            }
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
        self.submit(Job::Announce {
            url,
            announce,
            reply: tx,
        });
        rx
    }

    /// Asks a tracker for a torrent's swarm counts (BEP 48 over HTTP, BEP 15 over
    /// UDP); `url` is the announce URL.
    pub fn scrape(
        &self,
        url: String,
        info_hash: InfoHash,
    ) -> flume::Receiver<Result<ScrapeCounts, TrackerError>> {
        let (tx, rx) = flume::bounded(1);
        self.submit(Job::Scrape {
            url,
            info_hash,
            reply: tx,
        });
        rx
    }

    /// Queues a job; a full queue or a stopped thread answers it with an error.
    fn submit(&self, job: Job) {
        let Some(jobs) = &self.jobs else { return };
        let (job, why) = match jobs.try_send(job) {
            Ok(()) => return,
            Err(tokio::sync::mpsc::error::TrySendError::Full(j)) => {
                (j, "tracker client busy: too many requests waiting")
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(j)) => {
                (j, "the tracker thread stopped")
            }
        };
        job.refuse(why);
    }

    /// Fetches byte ranges from a web seed; the bytes arrive on the returned
    /// channel in parts, then the end (dropping it stops the fetch).
    pub(crate) fn web_fetch(
        &self,
        ranges: Vec<crate::core::WebRange>,
    ) -> flume::Receiver<super::webseed::WebPart> {
        let (tx, rx) = flume::bounded(super::webseed::PARTS_QUEUED);
        self.submit(Job::WebFetch { ranges, reply: tx });
        rx
    }
}

/// The control-plane tracker client, shared by an engine's shards and started at
/// the first announce (an engine without trackers never starts the thread).
#[derive(Debug, Default)]
pub(crate) struct TrackerLink {
    client: std::sync::OnceLock<Result<crate::net::TrackerClient, String>>,
    /// The address requests leave from (`None`: any).
    source: Option<core::net::IpAddr>,
}

impl TrackerLink {
    /// A link whose requests leave from `source` (`None`: any address).
    pub(crate) fn new(source: Option<core::net::IpAddr>) -> TrackerLink {
        TrackerLink {
            client: std::sync::OnceLock::new(),
            source,
        }
    }
}

impl TrackerLink {
    /// Sends an announce; the answer arrives on the returned channel (at once, as
    /// an error, if the client cannot run).
    pub(crate) fn announce(
        &self,
        url: String,
        request: crate::proto::tracker::Announce,
    ) -> flume::Receiver<AnnounceResult> {
        match self.client() {
            Ok(c) => c.announce(url, request),
            Err(why) => {
                let (tx, rx) = flume::bounded(1);
                tx.send(Err(TrackerError::Io(why.clone())))
                    .expect("an empty channel whose receiver is here");
                rx
            }
        }
    }
}

impl TrackerLink {
    /// Fetches byte ranges from a web seed (the answer arrives on the returned
    /// channel, at once as an error if the client cannot run).
    pub(crate) fn web_fetch(
        &self,
        ranges: Vec<crate::core::WebRange>,
    ) -> flume::Receiver<crate::net::WebPart> {
        match self.client() {
            Ok(c) => c.web_fetch(ranges),
            Err(why) => {
                let (tx, rx) = flume::bounded(1);
                tx.send(crate::net::WebPart::End(Err(why.clone())))
                    .expect("an empty channel whose receiver is here");
                rx
            }
        }
    }

    fn client(&self) -> &Result<TrackerClient, String> {
        self.client.get_or_init(|| {
            TrackerClient::start_from(self.source)
                .map_err(|e| format!("cannot start the tracker thread: {e}"))
        })
    }
}

type AnnounceResult = Result<crate::proto::tracker::AnnounceReply, TrackerError>;

/// Trackers whose announce failed over one family while the other answered,
/// already logged (at most [`SAID_MAX`], then no more such lines).
type Said = std::cell::RefCell<std::collections::HashSet<(String, bool)>>;
const SAID_MAX: usize = 1024;

/// The HTTP clients: any family, and one held to each (for BEP 7).
#[derive(Clone)]
struct Http {
    any: reqwest::Client,
    v4: reqwest::Client,
    v6: reqwest::Client,
}

impl Http {
    /// The clients; with a `source`, all three leave from it (a tracker of
    /// the other family cannot be reached, rather than reached from another
    /// address).
    fn new(source: Option<core::net::IpAddr>) -> reqwest::Result<Http> {
        let build = |local: Option<core::net::IpAddr>| {
            reqwest::Client::builder()
                .user_agent(concat!("seedring/", env!("CARGO_PKG_VERSION")))
                .timeout(Duration::from_secs(20))
                .redirect(reqwest::redirect::Policy::limited(3))
                // An unspecified local address of one family keeps the
                // client to the tracker's addresses of that family.
                .local_address(local)
                .build()
        };
        Ok(Http {
            any: build(source)?,
            v4: build(source.or(Some(core::net::Ipv4Addr::UNSPECIFIED.into())))?,
            v6: build(source.or(Some(core::net::Ipv6Addr::UNSPECIFIED.into())))?,
        })
    }
}

/// The host and port of a tracker URL when the host is a name (not an address).
fn named_host(url: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = url.strip_prefix("udp://") {
        let hostport = rest.split('/').next().unwrap_or(rest);
        let (host, port) = hostport.rsplit_once(':')?;
        (host.to_owned(), port.parse().ok()?)
    } else {
        let u = reqwest::Url::parse(url).ok()?;
        (u.host_str()?.to_owned(), u.port_or_known_default()?)
    };
    let literal = host.starts_with('[') || host.parse::<core::net::IpAddr>().is_ok();
    (!literal).then_some((host, port))
}

/// BEP 7: over both families where the tracker's name has both, else once.
async fn announce_both(
    http: &Http,
    udp_ids: &UdpIds,
    said: &Said,
    url: &str,
    a: &Announce,
) -> Result<AnnounceReply, TrackerError> {
    let Some((host, port)) = named_host(url) else {
        return announce(http, udp_ids, url, a, None).await;
    };
    let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(a) => a.collect(),
        Err(e) => return Err(TrackerError::Io(format!("{host}: {e}"))),
    };
    let v4 = addrs.iter().find(|a| a.is_ipv4()).copied();
    let v6 = addrs.iter().find(|a| a.is_ipv6()).copied();
    let (Some(v4), Some(v6)) = (v4, v6) else {
        return announce(http, udp_ids, url, a, addrs.first().copied()).await;
    };
    let (r4, r6) = tokio::join!(
        announce(http, udp_ids, url, a, Some(v4)),
        announce(http, udp_ids, url, a, Some(v6))
    );
    let once = |v6: bool, e: &TrackerError| {
        let mut said = said.borrow_mut();
        if said.len() < SAID_MAX && said.insert((host.clone(), v6)) {
            let family = if v6 { "IPv6" } else { "IPv4" };
            tracing::info!(tracker = %host, error = %e,
                "tracker: the {family} announce failed while the other family answered (said once per tracker)");
        }
    };
    match (r4, r6) {
        (Ok(x), Ok(y)) => Ok(merge(x, y)),
        (Ok(x), Err(e)) => {
            once(true, &e);
            Ok(x)
        }
        (Err(e), Ok(y)) => {
            once(false, &e);
            Ok(y)
        }
        (Err(e), Err(_)) => Err(e),
    }
}

/// The answers over both families as one: peers of both (up to the cap), the
/// longer intervals (neither family is asked sooner than it wants).
fn merge(mut x: AnnounceReply, y: AnnounceReply) -> AnnounceReply {
    use crate::proto::tracker::MAX_PEERS_PER_REPLY;
    let mut seen: std::collections::HashSet<SocketAddr> = x.peers.iter().copied().collect();
    for p in y.peers {
        if x.peers.len() >= MAX_PEERS_PER_REPLY {
            break;
        }
        if seen.insert(p) {
            x.peers.push(p);
        }
    }
    x.interval = x.interval.max(y.interval);
    x.min_interval = x.min_interval.max(y.min_interval);
    x.complete = x.complete.max(y.complete);
    x.incomplete = x.incomplete.max(y.incomplete);
    x.downloaded = x.downloaded.max(y.downloaded);
    x.warning = x.warning.or(y.warning);
    x
}

/// An error with every cause under it: reqwest's own message ("error sending request
/// for url ...") says nothing of why (refused, timed out, a TLS failure).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// One announce; `to` is the tracker's address when its name was resolved
/// (over HTTP only its family counts: the client held to it resolves again).
async fn announce(
    http: &Http,
    udp_ids: &UdpIds,
    url: &str,
    a: &Announce,
    to: Option<SocketAddr>,
) -> Result<AnnounceReply, TrackerError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        let client = match to {
            Some(t) if t.is_ipv4() => &http.v4,
            Some(_) => &http.v6,
            None => &http.any,
        };
        http_announce(client, url, a).await
    } else if let Some(rest) = url.strip_prefix("udp://") {
        let hostport = rest.split('/').next().unwrap_or(rest);
        let addr = match to {
            Some(t) => t,
            None => resolve(hostport).await?,
        };
        udp_announce(udp_ids, addr, a).await
    } else {
        Err(TrackerError::BadUrl(url.to_owned()))
    }
}

async fn scrape(
    http: &reqwest::Client,
    udp_ids: &UdpIds,
    url: &str,
    ih: InfoHash,
) -> Result<ScrapeCounts, TrackerError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        let target = scrape_url(url)
            .ok_or_else(|| TrackerError::BadUrl(format!("{url} (no scrape URL: BEP 48)")))?;
        let sep = if target.contains('?') { '&' } else { '?' };
        let full = format!(
            "{target}{sep}info_hash={}",
            crate::proto::tracker::url_encode(&ih.0)
        );
        let body = http_get(http, &full).await?;
        parse_scrape_reply(&body, ih)
    } else if let Some(rest) = url.strip_prefix("udp://") {
        let hostport = rest.split('/').next().unwrap_or(rest);
        let (sock, conn, ipv6) = udp_session(udp_ids, resolve(hostport).await?).await?;
        let t = transaction();
        match exchange(&sock, &udp::scrape_request(conn, t, ih), t, ipv6).await? {
            udp::Response::Scraped(c) => Ok(c),
            udp::Response::Error(e) => Err(TrackerError::Failure(e)),
            _ => Err(TrackerError::Malformed("expected a scrape reply".into())),
        }
    } else {
        Err(TrackerError::BadUrl(url.to_owned()))
    }
}

/// GET with the reply capped at [`MAX_REPLY_BYTES`].
async fn http_get(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, TrackerError> {
    // Without the URL: it holds the announce's query (and a private
    // tracker's passkey), every torrent of the tracker keeps its own copy of
    // the error, and the URL is shown beside it anyway.
    let io = |e: reqwest::Error| TrackerError::Io(with_causes(&e.without_url()));
    let mut resp = http.get(url).send().await.map_err(io)?;
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
    Ok(body)
}

async fn http_announce(
    http: &reqwest::Client,
    base: &str,
    a: &Announce,
) -> Result<AnnounceReply, TrackerError> {
    parse_announce_reply(&http_get(http, &announce_url(base, a)).await?)
}

/// BEP 15: connect (connection ids are reused for a minute), then announce; each
/// step tries three times with timeouts of 2, 4 and 8 s.
async fn udp_announce(
    ids: &UdpIds,
    addr: SocketAddr,
    a: &Announce,
) -> Result<AnnounceReply, TrackerError> {
    let (sock, conn, ipv6) = udp_session(ids, addr).await?;
    let t = transaction();
    match exchange(&sock, &udp::announce_request(conn, t, a), t, ipv6).await? {
        udp::Response::Announced(r) => Ok(r),
        udp::Response::Error(e) => Err(TrackerError::Failure(e)),
        _ => Err(TrackerError::Malformed("expected an announce reply".into())),
    }
}

/// The first address `host:port` resolves to.
async fn resolve(hostport: &str) -> Result<SocketAddr, TrackerError> {
    tokio::net::lookup_host(hostport)
        .await
        .map_err(|e| TrackerError::Io(format!("{hostport}: {e}")))?
        .next()
        .ok_or_else(|| TrackerError::BadUrl(hostport.to_owned()))
}

/// A socket connected to the tracker and a connection id: reused for a minute
/// (BEP 15), else obtained with a connect exchange.
async fn udp_session(
    ids: &UdpIds,
    addr: SocketAddr,
) -> Result<(tokio::net::UdpSocket, u64, bool), TrackerError> {
    let io = |e: std::io::Error| TrackerError::Io(e.to_string());
    let bind: SocketAddr = match ids.source {
        // A tracker of the other family: the bind or the send fails, said as
        // the announce's error (nothing leaves from another address).
        Some(ip) => SocketAddr::new(ip, 0),
        None if addr.is_ipv6() => "[::]:0".parse().expect("literal"),
        None => "0.0.0.0:0".parse().expect("literal"),
    };
    let sock = tokio::net::UdpSocket::bind(bind).await.map_err(io)?;
    sock.connect(addr).await.map_err(io)?;
    let fresh = ids
        .ids
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
            ids.ids
                .borrow_mut()
                .insert(addr, (id, tokio::time::Instant::now()));
            id
        }
    };
    Ok((sock, conn, addr.is_ipv6()))
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
