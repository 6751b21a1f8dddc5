//! The daemon's uTP socket: one UDP socket on the peer port (beside the TCP
//! listener), run on a thread of its own (`sr-utp`) with the sans-IO
//! [`crate::utp::Endpoint`]. Each connection reaches the shard that owns its
//! torrent as a [`UtpStream`]: bytes come through a bounded channel, writes go
//! back as commands, so the shards' reader and writer tasks, the handshake
//! router and the MSE answerer treat it like a TCP stream.
//!
//! Why a thread and not a shard: one socket serves every torrent, and
//! datagrams cannot be handed to another thread the way a TCP socket is.
//!
//! Bounds: [`STREAM_CHUNKS`] chunks queued to a connection's reader (full: the
//! bytes stay in the uTP connection, whose advertised window closes);
//! [`COMMANDS`] commands from the shards (full: their writers wait);
//! [`ACCEPTS`] accepted connections waiting for the router (full: the new
//! connection is dropped, logged). Datagrams the socket cannot take at once
//! are dropped (uTP resends), counted and logged at powers of two.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::rc::Rc;
use std::time::{Duration, Instant};

use compio::BufResult;

use crate::types::Time;
use crate::utp::{Endpoint, Key, Received, State};

/// Chunks queued to one connection's reader.
pub const STREAM_CHUNKS: usize = 64;
/// Commands from the shards.
pub const COMMANDS: usize = 4096;
/// Accepted connections waiting for the router.
pub const ACCEPTS: usize = 256;
/// Between two passes over every connection's timers and queues.
const TICK: Duration = Duration::from_millis(50);
/// The largest datagram read (loopback may carry large ones).
const MAX_DATAGRAM: usize = 64 * 1024;
/// Datagrams read in one go before the connections they touched are serviced.
const BATCH: usize = 64;
/// The socket's kernel buffers asked for (the kernel grants at most
/// `net.core.rmem_max`/`wmem_max`). With the default ~200 KB, a fast sender's
/// burst overflows the receive buffer while this thread is busy, and every
/// datagram dropped there halves the sender's window: libtorrent to libtorrent
/// over loopback moved 8.6 MiB/s with the defaults and 51 MiB/s with 4 MiB
/// (by hand, 128 MiB, this machine).
const SOCKET_BUFFER: usize = 4 << 20;

enum Cmd {
    Connect {
        addr: SocketAddr,
        reply: flume::Sender<io::Result<UtpStream>>,
    },
    Write {
        key: Key,
        bytes: Vec<u8>,
        done: flume::Sender<()>,
    },
    Close {
        key: Key,
    },
}

/// The shards' handle on the uTP thread.
#[derive(Clone)]
pub(crate) struct UtpLink {
    cmds: flume::Sender<Cmd>,
    /// Never sent on: when the last link (the engine's shards) is gone, the
    /// thread sees this channel close and stops, releasing the port.
    _alive: flume::Sender<()>,
}

/// A uTP connection as a byte stream.
pub(crate) struct UtpStream {
    pub(crate) reader: UtpReader,
    pub(crate) writer: UtpWriter,
}

/// Its reading half.
pub(crate) struct UtpReader {
    rx: flume::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

/// Its writing half; dropping it closes the connection (FIN).
pub(crate) struct UtpWriter {
    key: Key,
    cmds: flume::Sender<Cmd>,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the uTP thread stopped")
}

impl UtpLink {
    /// Opens a connection to `addr`.
    pub(crate) async fn connect(&self, addr: SocketAddr) -> io::Result<UtpStream> {
        let (reply, rx) = flume::bounded(1);
        let cmd = Cmd::Connect { addr, reply };
        self.cmds.send_async(cmd).await.map_err(|_| gone())?;
        rx.recv_async().await.map_err(|_| gone())?
    }
}

impl UtpReader {
    /// Reads into `buf`'s spare room; 0 when the connection ended.
    pub(crate) async fn read(&mut self, mut buf: Vec<u8>) -> BufResult<usize, Vec<u8>> {
        debug_assert!(
            buf.capacity() > buf.len(),
            "no room: 0 would read as the end"
        );
        if self.at >= self.chunk.len() {
            match self.rx.recv_async().await {
                Ok(c) => (self.chunk, self.at) = (c, 0),
                Err(_) => return BufResult(Ok(0), buf),
            }
        }
        let room = buf.capacity() - buf.len();
        let n = room.min(self.chunk.len() - self.at);
        buf.extend_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        BufResult(Ok(n), buf)
    }
}

impl UtpWriter {
    /// Queues all of `bytes`; returns once the connection has taken them.
    pub(crate) async fn write_all(&self, bytes: Vec<u8>) -> io::Result<()> {
        let (done, rx) = flume::bounded(1);
        let cmd = Cmd::Write {
            key: self.key,
            bytes,
            done,
        };
        self.cmds.send_async(cmd).await.map_err(|_| gone())?;
        rx.recv_async()
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::ConnectionReset, "uTP connection closed"))
    }
}

impl Drop for UtpWriter {
    fn drop(&mut self) {
        // Full or gone: the thread's sweep sees the reader gone and closes it.
        if self.cmds.try_send(Cmd::Close { key: self.key }).is_err() {
            tracing::trace!(peer = %self.key.0, "uTP close left to the sweep");
        }
    }
}

/// One connection's side on the uTP thread.
struct Link {
    /// To the reader; `None` once it was told the end.
    tx: Option<flume::Sender<Vec<u8>>>,
    /// Writes not yet taken whole: bytes, how far, whom to tell.
    writes: VecDeque<(Vec<u8>, usize, flume::Sender<()>)>,
    /// An outgoing connection's caller and its stream, until connected.
    connecting: Option<(flume::Sender<io::Result<UtpStream>>, UtpStream)>,
}

struct Thread {
    ep: Endpoint,
    links: HashMap<Key, Link>,
    sock: socket2::Socket,
    v6: bool,
    started: Instant,
    cmds: flume::Sender<Cmd>,
    accepts: flume::Sender<(UtpStream, SocketAddr)>,
    /// Sends, in runs of equal datagrams to one peer where the kernel can.
    gso: super::udp_gso::GsoSender,
    /// Connections that took datagrams in the batch being read, serviced once
    /// when it ends (at most [`BATCH`] entries).
    touched: Vec<Key>,
    /// Where datagrams after a batch's first are read (one datagram's room).
    spare: Vec<std::mem::MaybeUninit<u8>>,
    /// Datagrams that are not uTP, since the last report.
    refused: Refused,
}

/// How often datagrams that are not uTP are reported (one line, not one per
/// datagram: anyone can send them).
const REPORT_REFUSED: Duration = Duration::from_secs(60);

/// Datagrams that do not parse as uTP, counted between two reports.
#[derive(Default)]
struct Refused {
    count: u64,
    /// The first of them: who sent it and why it was refused.
    first: Option<(SocketAddr, String)>,
    reported: Time,
}

impl Refused {
    fn note(&mut self, from: SocketAddr, why: &dyn std::fmt::Display) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some((from, why.to_string()));
        }
    }

    /// Logs what was refused since the last report, at most once a
    /// [`REPORT_REFUSED`].
    fn report(&mut self, now: Time) {
        if self.count == 0 || now.since(self.reported) < REPORT_REFUSED {
            return;
        }
        if let Some((from, why)) = self.first.take() {
            tracing::info!(count = self.count, first_from = %from, first_why = %why, "utp: datagrams that are not uTP dropped");
        }
        self.count = 0;
        self.reported = now;
    }
}

/// Starts the uTP thread on `listen` (the peer port; `[::]` takes IPv4 too);
/// accepted connections go to `acc_tx` (bounded: [`ACCEPTS`]).
pub(crate) fn start(
    listen: SocketAddr,
    acc_tx: flume::Sender<(UtpStream, SocketAddr)>,
) -> io::Result<(UtpLink, UtpStopped)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(
        Domain::for_address(listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if listen.is_ipv6() && listen.ip().is_unspecified() {
        s.set_only_v6(false)?;
    }
    s.bind(&listen.into())?;
    for (what, set) in [
        (
            "receive",
            Socket::set_recv_buffer_size as fn(&Socket, usize) -> io::Result<()>,
        ),
        ("send", Socket::set_send_buffer_size),
    ] {
        if let Err(e) = set(&s, SOCKET_BUFFER) {
            tracing::warn!(buffer = what, error = %e, "utp: socket buffer left at the default");
        }
    }
    tracing::debug!(
        receive = s.recv_buffer_size().unwrap_or(0),
        send = s.send_buffer_size().unwrap_or(0),
        "utp: socket buffers"
    );
    let sock: UdpSocket = s.into();
    let local = sock.local_addr()?;
    let (cmd_tx, cmd_rx) = flume::bounded(COMMANDS);
    // Bound 1, never sent on (see `UtpLink::_alive`).
    let (alive_tx, alive_rx) = flume::bounded::<()>(1);
    // Bound 1, never sent on: closes when the thread ends (see `UtpStopped`).
    let (stopped_tx, stopped_rx) = flume::bounded::<()>(1);
    let cmds = cmd_tx.clone();
    std::thread::Builder::new()
        .name("sr-utp".into())
        .spawn(move || {
            let _stopped = stopped_tx;
            let rt = match compio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "utp: no runtime; uTP is off");
                    return;
                }
            };
            rt.block_on(async move {
                let Some((send, recv)) = split(sock) else {
                    return;
                };
                let task = compio::runtime::spawn(run(send, recv.clone(), cmd_rx, cmds, acc_tx));
                // Until every link is gone.
                while alive_rx.recv_async().await.is_ok() {}
                // The task's receive is cancelled; the socket closes once the
                // kernel has answered (see `net::closing`).
                drop(task);
                super::close_when_answered("utp", recv.close()).await;
            });
        })?;
    tracing::info!(addr = %local, "utp: listening");
    Ok((
        UtpLink {
            cmds: cmd_tx,
            _alive: alive_tx,
        },
        UtpStopped(stopped_rx),
    ))
}

/// Tells when the uTP thread has ended, its socket closed.
#[derive(Debug)]
pub(crate) struct UtpStopped(flume::Receiver<()>);

impl UtpStopped {
    /// Waits (blocking) for the thread to end once every link is gone; gives
    /// up, saying so, a little after the thread would itself.
    pub(crate) fn wait(self) {
        let patience = super::CLOSE_WAIT + Duration::from_secs(1);
        if let Err(flume::RecvTimeoutError::Timeout) = self.0.recv_timeout(patience) {
            tracing::warn!(wait = ?patience, "utp: the thread has not ended");
        }
    }
}

/// The socket as a blocking descriptor for sends and a compio socket for
/// receives; `None`, logged, if that fails.
fn split(sock: UdpSocket) -> Option<(socket2::Socket, compio::net::UdpSocket)> {
    // Sends go out on a clone of the socket with MSG_DONTWAIT per call: the
    // descriptor itself stays blocking (under io_uring, a receive on a
    // non-blocking descriptor may fail with EAGAIN instead of waiting).
    let split = sock.try_clone().and_then(|s| {
        Ok((
            socket2::Socket::from(s),
            compio::net::UdpSocket::from_std(sock)?,
        ))
    });
    match split {
        Ok(x) => Some(x),
        Err(e) => {
            tracing::error!(error = %e, "utp: socket setup failed; uTP is off");
            None
        }
    }
}

async fn run(
    send: socket2::Socket,
    recv: compio::net::UdpSocket,
    cmd_rx: flume::Receiver<Cmd>,
    cmds: flume::Sender<Cmd>,
    accepts: flume::Sender<(UtpStream, SocketAddr)>,
) {
    let v6 = send
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .is_some_and(|a| a.is_ipv6());
    let mut seed_bytes = [0u8; 8];
    getrandom::fill(&mut seed_bytes).expect("the operating system's random source works");
    let st = Rc::new(RefCell::new(Thread {
        ep: Endpoint::new(u64::from_le_bytes(seed_bytes)),
        links: HashMap::new(),
        sock: send,
        v6,
        #[allow(clippy::disallowed_methods)] // the uTP thread's clock
        started: Instant::now(),
        cmds,
        accepts,
        gso: super::udp_gso::GsoSender::new(),
        touched: Vec::with_capacity(BATCH),
        spare: vec![std::mem::MaybeUninit::new(0); MAX_DATAGRAM],
        refused: Refused::default(),
    }));
    let st2 = st.clone();
    let _commands = compio::runtime::spawn(async move {
        while let Ok(c) = cmd_rx.recv_async().await {
            let mut t = st2.borrow_mut();
            t.command(c);
            t.flush();
        }
    });
    let st3 = st.clone();
    let _tick = compio::runtime::spawn(async move {
        loop {
            compio::time::sleep(TICK).await;
            st3.borrow_mut().tick();
        }
    });
    let mut buf = Vec::with_capacity(MAX_DATAGRAM);
    loop {
        buf.clear();
        let BufResult(res, b) = recv.recv_from(buf).await;
        buf = b;
        match res {
            Ok((n, from)) => {
                let mut t = st.borrow_mut();
                t.on_datagram(from, &buf[..n]);
                // What else already waits is taken without waiting, and every
                // connection it touched is serviced once (one chunk to its
                // reader, one ACK) instead of once per datagram.
                for _ in 1..BATCH {
                    if !t.take_waiting() {
                        break;
                    }
                }
                t.settle();
            }
            Err(e) => {
                tracing::debug!(error = %e, "utp: receive failed");
                compio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

impl Thread {
    fn now(&self) -> Time {
        Time(u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// A v4 address as the socket names it (mapped, on a dual-stack socket).
    fn socket_addr(&self, addr: SocketAddr) -> SocketAddr {
        match addr {
            SocketAddr::V4(a) if self.v6 => {
                SocketAddr::new(a.ip().to_ipv6_mapped().into(), a.port())
            }
            a => a,
        }
    }

    fn new_stream(&mut self, key: Key) -> UtpStream {
        let (tx, rx) = flume::bounded(STREAM_CHUNKS);
        self.links.insert(
            key,
            Link {
                tx: Some(tx),
                writes: VecDeque::new(),
                connecting: None,
            },
        );
        UtpStream {
            reader: UtpReader {
                rx,
                chunk: Vec::new(),
                at: 0,
            },
            writer: UtpWriter {
                key,
                cmds: self.cmds.clone(),
            },
        }
    }

    /// A datagram in: its connection is serviced at [`Thread::settle`].
    fn on_datagram(&mut self, from: SocketAddr, bytes: &[u8]) {
        let now = self.now();
        match self.ep.on_datagram(now, from, bytes) {
            Ok(Received::Accepted(key)) => {
                let stream = self.new_stream(key);
                if let Err(e) = self.accepts.try_send((stream, from)) {
                    tracing::warn!(%from, "utp: incoming connection dropped: the router takes no more");
                    drop(e);
                    self.links.remove(&key);
                    self.ep.remove(key);
                }
                self.touch(key);
            }
            Ok(Received::Conn(key)) => self.touch(key),
            // Stray packets of closed connections are part of the protocol.
            Ok(Received::Dropped(why)) => tracing::trace!(%from, why, "utp: datagram dropped"),
            Err(e) => {
                tracing::trace!(%from, error = %e, "utp: not a uTP datagram");
                self.refused.note(from, &e);
            }
        }
    }

    fn touch(&mut self, key: Key) {
        if !self.touched.contains(&key) {
            self.touched.push(key);
        }
    }

    /// Reads one more datagram if one is already waiting (never waits);
    /// false when none was.
    fn take_waiting(&mut self) -> bool {
        let mut spare = std::mem::take(&mut self.spare);
        let got = self
            .sock
            .recv_from_with_flags(&mut spare, libc::MSG_DONTWAIT);
        let more = match got {
            Ok((n, from)) => {
                let n = n.min(spare.len());
                // SAFETY: `spare` was made of initialised zeros and the kernel
                // only ever writes bytes into it, so its first `n` bytes (`n`
                // kept within its length) are initialised `u8`s.
                let bytes = unsafe { std::slice::from_raw_parts(spare.as_ptr().cast::<u8>(), n) };
                if let Some(from) = from.as_socket() {
                    self.on_datagram(from, bytes);
                }
                true
            }
            Err(_) => false,
        };
        self.spare = spare;
        more
    }

    /// Services what a batch of datagrams touched, then sends.
    fn settle(&mut self) {
        let mut touched = std::mem::take(&mut self.touched);
        for key in touched.drain(..) {
            self.service(key);
        }
        self.touched = touched;
        self.flush();
    }

    fn command(&mut self, c: Cmd) {
        match c {
            Cmd::Connect { addr, reply } => {
                let now = self.now();
                let Some(key) = self.ep.connect(now, self.socket_addr(addr)) else {
                    let e = io::Error::other("too many uTP connections");
                    if reply.send(Err(e)).is_err() {
                        tracing::trace!(%addr, "utp: connect abandoned");
                    }
                    return;
                };
                let stream = self.new_stream(key);
                if let Some(l) = self.links.get_mut(&key) {
                    l.connecting = Some((reply, stream));
                }
            }
            Cmd::Write { key, bytes, done } => {
                if let Some(l) = self.links.get_mut(&key) {
                    l.writes.push_back((bytes, 0, done));
                    self.service(key);
                }
            }
            Cmd::Close { key } => {
                if let Some(l) = self.links.get_mut(&key) {
                    l.tx = None;
                    l.writes.clear();
                }
                if let Some(c) = self.ep.conn(key) {
                    c.close();
                }
                self.service(key);
            }
        }
    }

    fn tick(&mut self) {
        let now = self.now();
        self.refused.report(now);
        self.ep.on_timeout(now);
        let keys: Vec<Key> = self.links.keys().copied().collect();
        for key in keys {
            self.service(key);
        }
        self.flush();
    }

    /// Moves bytes between connection `key` and its stream, and ends both
    /// when they are done.
    fn service(&mut self, key: Key) {
        let Some(c) = self.ep.conn(key) else {
            self.links.remove(&key);
            return;
        };
        let Some(l) = self.links.get_mut(&key) else {
            c.close();
            return;
        };
        if c.state() == State::Connected
            && let Some((reply, stream)) = l.connecting.take()
            && reply.send(Ok(stream)).is_err()
        {
            // The dialler gave up meanwhile.
            c.close();
            l.tx = None;
        }
        if l.connecting
            .as_ref()
            .is_some_and(|(r, _)| r.is_disconnected())
        {
            l.connecting = None;
            c.close();
            l.tx = None;
        }
        while let Some((bytes, at, _)) = l.writes.front_mut() {
            *at += c.write(&bytes[*at..]);
            if *at < bytes.len() {
                break;
            }
            let (_, _, done) = l.writes.pop_front().expect("front exists");
            if done.send(()).is_err() {
                tracing::trace!(peer = %key.0, "utp: a writer left before its write was taken");
            }
        }
        match &l.tx {
            Some(tx) if tx.is_disconnected() => {
                l.tx = None;
                c.close();
            }
            Some(tx) if tx.len() < STREAM_CHUNKS => {
                let mut bytes = Vec::new();
                c.read(&mut bytes);
                if !bytes.is_empty() && tx.try_send(bytes).is_err() {
                    tracing::debug!(peer = %key.0, "utp: reader gone with bytes unread");
                }
            }
            _ => {}
        }
        if c.at_eof() && l.tx.is_some() {
            // The peer closed: its reader sees the end, and we close our side.
            l.tx = None;
            c.close();
        }
        let closed = c.state() == State::Closed || (l.tx.is_none() && c.is_done());
        if closed {
            if let Some((reply, _)) = l.connecting.take() {
                let why = c.error().map_or("closed".to_string(), |e| e.to_string());
                let e = io::Error::new(io::ErrorKind::ConnectionRefused, why);
                if reply.send(Err(e)).is_err() {
                    tracing::trace!(peer = %key.0, "utp: connect abandoned");
                }
            }
            self.links.remove(&key);
            self.ep.remove(key);
        }
    }

    fn flush(&mut self) {
        let now = self.now();
        let mut buf = Vec::with_capacity(1500);
        while let Some(to) = self.ep.poll_transmit(now, &mut buf) {
            self.gso.push(&self.sock, to, &buf);
        }
        self.gso.flush(&self.sock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_released_when_the_last_link_goes() {
        let free = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let (acc, _accepted) = flume::bounded(1);
        let (link, stopped) = start(free, acc).unwrap();
        assert!(
            UdpSocket::bind(free).is_err(),
            "the uTP thread holds the port"
        );
        // Give the thread time to have its receive pending in the kernel: the
        // case where a runtime dropped with the cancel unanswered leaked the
        // socket (it always did after this wait).
        #[allow(clippy::disallowed_methods)] // a test waiting for another thread
        std::thread::sleep(Duration::from_millis(20));
        drop(link);
        stopped.wait();
        // The socket goes once the kernel has answered the cancel of the
        // pending receive: milliseconds, longer with both cores busy. Up to 10 s.
        let mut freed = false;
        for _ in 0..1000 {
            if UdpSocket::bind(free).is_ok() {
                freed = true;
                break;
            }
            #[allow(clippy::disallowed_methods)] // a test waiting for another thread
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(freed, "the port is still held");
    }
}
