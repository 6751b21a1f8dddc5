//! Peer connections on a shard: the reader and writer task of each connection,
//! the handshake of an accepted connection and its handoff to the shard that owns
//! its torrent.

use core::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use compio::BufResult;

use super::stream::PeerStream;
use super::writer::Outgoing;
use crate::core::{Event, PeerKey};
use crate::proto::mse::Responder;
use crate::shard::{
    Conn, Handoff, HandoffStream, NameTable, Routing, SEND_QUEUE, ShardRc, shard_of, with_shard,
};
use crate::types::InfoHash;

/// A connection's first read buffer.
const MIN_READ: usize = 4 * 1024;
/// The largest a connection's read buffer grows.
const MAX_READ: usize = 256 * 1024;
/// Reads in a row that fill the buffer before it grows four times larger.
const GROW_AFTER: u32 = 4;
/// Reads in a row that fill at most a quarter of the buffer before it
/// shrinks to a quarter.
const SHRINK_AFTER: u32 = 16;

/// The size of a connection's read buffer: 4 KiB while the peer says little
/// (5,000 idle peers cost 20 MB), four times larger after [`GROW_AFTER`]
/// reads in a row filled it, up to 256 KiB (a fast peer's blocks reach the
/// core in fewer, larger calls: fewer receives, and its requests answered in
/// larger batches), and a quarter again after [`SHRINK_AFTER`] reads in a row
/// that used a quarter or less (a peer that slowed down does not keep 256 KiB
/// for the rest of the connection). A single burst (a slow peer's queued
/// segments read at once) grows nothing.
#[derive(Debug)]
struct ReadSize {
    cap: usize,
    /// Reads in a row that filled the buffer.
    full: u32,
    /// Reads in a row that used a quarter of it or less.
    small: u32,
}

impl ReadSize {
    fn new() -> ReadSize {
        ReadSize {
            cap: MIN_READ,
            full: 0,
            small: 0,
        }
    }

    /// After a read of `n` bytes into a buffer of the current size: the
    /// size of the next buffer, if it changes.
    fn after(&mut self, n: usize) -> Option<usize> {
        if n >= self.cap {
            self.small = 0;
            self.full = self.full.saturating_add(1);
            if self.full < GROW_AFTER || self.cap >= MAX_READ {
                return None;
            }
            self.full = 0;
            self.cap = (self.cap * 4).min(MAX_READ);
            return Some(self.cap);
        }
        self.full = 0;
        if n > self.cap / 4 || self.cap <= MIN_READ {
            self.small = 0;
            return None;
        }
        self.small += 1;
        if self.small < SHRINK_AFTER {
            return None;
        }
        self.small = 0;
        self.cap = (self.cap / 4).max(MIN_READ);
        Some(self.cap)
    }
}

/// Starts the reader and writer tasks of an established connection.
pub(crate) fn attach(rc: &ShardRc, peer: PeerKey, stream: PeerStream) {
    // A TCP socket is nonblocking, for sends straight from files.
    let sock = match &stream {
        PeerStream::Tcp(s) => {
            use compio::driver::ToSharedFd;
            let sock = s.to_shared_fd();
            match super::sendfile::nonblocking(&sock) {
                Ok(()) => Some(sock),
                Err(e) => {
                    tracing::debug!(error = %e, "socket stays blocking: blocks are sent as bytes");
                    None
                }
            }
        }
        PeerStream::Utp(_) => None,
    };
    let (mut rd, wr) = stream.split();
    let (tx, rx) = flume::bounded::<Outgoing>(SEND_QUEUE);
    let rc_r = rc.clone();
    let reader = compio::runtime::spawn(async move {
        // One buffer at a time, sized by `ReadSize`.
        let mut size = ReadSize::new();
        let mut buf = Vec::with_capacity(MIN_READ);
        loop {
            buf.clear();
            let BufResult(res, b) = rd.read(buf).await;
            buf = b;
            match res {
                Ok(n) if n > 0 => {
                    with_shard(&rc_r, |c, now, out| {
                        c.on_event(
                            now,
                            Event::Data {
                                peer,
                                bytes: &buf[..n],
                            },
                            out,
                        );
                    });
                    if let Some(cap) = size.after(n) {
                        buf = Vec::with_capacity(cap);
                    }
                }
                _ => {
                    closed(&rc_r, peer);
                    return;
                }
            }
        }
    });
    let files = rc.borrow().files.clone();
    let writer = compio::runtime::spawn(super::writer::run(rc.clone(), peer, wr, sock, files, rx));
    let mut s = rc.borrow_mut();
    s.conns.insert(
        peer,
        Conn {
            tx,
            _reader: Some(reader),
            _writer: Some(writer),
            _connect: None,
        },
    );
}

/// The connection broke: forget it and tell the core.
pub(crate) fn closed(rc: &ShardRc, peer: PeerKey) {
    let known = rc.borrow_mut().conns.remove(&peer);
    // Dropping the entry cancels this task at its next await; it returns right away.
    if let Some(conn) = known {
        // Keep the task handles alive until we are out of the borrow.
        let _keep = conn;
        with_shard(rc, |c, now, out| {
            c.on_event(now, Event::Closed { peer }, out)
        });
    }
}

/// A connection for a torrent of this shard: register it with the core and give the
/// core the bytes already read (and the MSE handshake the router began, if any).
pub(crate) fn incoming(
    rc: &ShardRc,
    stream: PeerStream,
    addr: SocketAddr,
    first: &[u8],
    mse: Option<Box<Responder>>,
) {
    stream.nodelay();
    let transport = stream.transport();
    let mut key = None;
    with_shard(rc, |c, now, _| {
        key = match mse {
            Some(answer) => c.on_incoming_mse(now, addr, answer),
            None => c.on_incoming(now, addr),
        };
        if let Some(k) = key {
            c.set_transport(k, transport);
        }
    });
    // Refused by the caps (or the IP filter): the stream is dropped, which
    // closes it.
    if key.is_none() {
        tracing::debug!(%addr, "incoming connection refused: connection caps or the IP filter");
    }
    if let Some(peer) = key {
        attach(rc, peer, stream);
        with_shard(rc, |c, now, out| {
            c.on_event(now, Event::Data { peer, bytes: first }, out);
        });
    }
}

/// Reads an accepted connection's handshake (10 s at most) and sends the connection
/// to the shard that owns the torrent it names. A connection that does not start
/// with a BitTorrent handshake is an MSE handshake: with one shard its core answers
/// it; with several, [`identify`] answers it until the torrent is known.
pub(crate) async fn route(
    rc: ShardRc,
    routing: Rc<Routing>,
    mut stream: PeerStream,
    addr: SocketAddr,
) {
    // The IP filter first: a blocked peer gets nothing, not even an
    // encryption handshake's answer (the stream drops, which closes it).
    let mut refused = false;
    with_shard(&rc, |c, now, out| {
        refused = c.refuses_connection(now, addr, out)
    });
    if refused {
        return;
    }
    let read = async {
        let mut first = Vec::new();
        while first.len() < crate::proto::HANDSHAKE_LEN {
            let BufResult(res, buf) = stream.read(Vec::with_capacity(4096)).await;
            match res {
                Ok(n) if n > 0 => first.extend_from_slice(&buf[..n]),
                _ => return None,
            }
            // Anything but a handshake is closed at its first wrong byte.
            if !crate::proto::Handshake::could_begin(&first) {
                return Some(first);
            }
        }
        Some(first)
    };
    let Ok(Some(first)) = compio::time::timeout(Duration::from_secs(10), read).await else {
        tracing::debug!(%addr, "incoming connection closed: no handshake in 10 s");
        return;
    };
    let (owner, mse) = if crate::proto::Handshake::could_begin(&first) {
        let Some(hs) = crate::proto::Handshake::decode(&first) else {
            tracing::debug!(%addr, "incoming connection closed: not a BitTorrent handshake");
            return;
        };
        (owner_of(&routing, hs.info_hash), None)
    } else if let Some(table) = &routing.names {
        let deadline = Duration::from_secs(10);
        let found = compio::time::timeout(deadline, identify(&rc, table, &mut stream, &first));
        match found.await {
            Ok(Ok((ih, answer))) => (owner_of(&routing, ih), Some(answer)),
            Ok(Err(why)) => {
                tracing::debug!(%addr, reason = %why, "incoming connection closed: encryption handshake");
                return;
            }
            Err(_) => {
                tracing::debug!(%addr, "incoming connection closed: no encryption handshake in 10 s");
                return;
            }
        }
    } else {
        // One shard: its core tells a plaintext handshake from MSE itself.
        (routing.index, None)
    };
    let first = if mse.is_some() { Vec::new() } else { first };
    if owner == routing.index {
        incoming(&rc, stream, addr, &first, mse);
        return;
    }
    let stream = match stream {
        // The socket moves threads as a duplicated descriptor; ours closes on drop.
        PeerStream::Tcp(tcp) => {
            use std::os::fd::AsFd;
            match tcp.as_fd().try_clone_to_owned() {
                Ok(fd) => HandoffStream::Tcp(std::net::TcpStream::from(fd)),
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "incoming connection dropped: cannot hand it over");
                    return;
                }
            }
        }
        // A uTP stream is channels: it moves as it is.
        PeerStream::Utp(utp) => HandoffStream::Utp(utp),
    };
    let mut first = first;
    first.shrink_to_fit(); // the read buffer's spare room stays here
    let handoff = Handoff {
        stream,
        addr,
        first,
        mse,
    };
    if routing.senders[owner].try_send(handoff).is_err() {
        // The owner is behind or gone: the peer sees a close and may retry.
        // Said at the 1st, 2nd, 4th, 8th... drop: a burst does not flood the log.
        static DROPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = DROPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(%addr, shard = owner, dropped_so_far = n,
                "connection dropped: its shard takes no more (a burst of connects)");
        }
    }
}

/// The shard of the torrent a peer names `name` (a hybrid's alias lives on its
/// torrent's shard).
fn owner_of(routing: &Routing, name: InfoHash) -> usize {
    let ih = match &routing.names {
        Some(t) => crate::shard::names_read(t).resolve(name),
        None => name,
    };
    shard_of(ih, routing.n)
}

/// Answers an MSE handshake on an accepted connection until the dialler names its
/// torrent (by `HASH("req2", info-hash)`, looked up in every shard's `table`), our
/// steps written as they come; the answer then goes on in the owner's core.
async fn identify(
    rc: &ShardRc,
    table: &NameTable,
    stream: &mut PeerStream,
    first: &[u8],
) -> Result<(InfoHash, Box<Responder>), String> {
    let mut answer = None;
    with_shard(rc, |c, _, _| answer = Some(c.mse_answerer()));
    let mut answer = Box::new(answer.ok_or("the shard failed")?);
    let find = |h: &[u8; 20]| crate::shard::names_read(table).by_req2(h);
    let mut bytes = first.to_vec();
    loop {
        let mut out = Vec::new();
        let known = answer
            .identify(&bytes, &mut out, &find)
            .map_err(|e| e.to_string())?;
        if !out.is_empty() {
            stream.write_all(out).await.map_err(|e| e.to_string())?;
        }
        if let Some(ih) = known {
            return Ok((ih, answer));
        }
        let BufResult(res, buf) = stream.read(Vec::with_capacity(2048)).await;
        match res {
            Ok(n) if n > 0 => bytes = buf,
            Ok(_) => return Err("closed by the peer".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_buffer_grows_with_full_reads_and_shrinks_after_small_ones() {
        let mut s = ReadSize::new();
        // Reads that do not fill 4 KiB change nothing, however many.
        for _ in 0..100 {
            assert_eq!(s.after(100), None);
        }
        // One full read (a burst) grows nothing; a run of them does.
        assert_eq!(s.after(4096), None);
        assert_eq!(s.after(100), None);
        for _ in 0..GROW_AFTER - 1 {
            assert_eq!(s.after(4096), None);
        }
        assert_eq!(s.after(4096), Some(16 * 1024));
        let full = |s: &mut ReadSize, n: usize| {
            for _ in 0..GROW_AFTER - 1 {
                assert_eq!(s.after(n), None);
            }
            s.after(n)
        };
        assert_eq!(full(&mut s, 16 * 1024), Some(64 * 1024));
        assert_eq!(full(&mut s, 64 * 1024), Some(256 * 1024));
        // Full reads at the largest size keep it.
        assert_eq!(s.after(256 * 1024), None);
        // Reads over a quarter keep it too, and break a run of small ones.
        for _ in 0..SHRINK_AFTER - 1 {
            assert_eq!(s.after(64 * 1024), None);
        }
        assert_eq!(s.after(64 * 1024 + 1), None);
        for _ in 0..SHRINK_AFTER - 1 {
            assert_eq!(s.after(64 * 1024), None);
        }
        assert_eq!(s.after(20_000), Some(64 * 1024));
        for _ in 0..SHRINK_AFTER - 1 {
            assert_eq!(s.after(0), None);
        }
        assert_eq!(s.after(0), Some(16 * 1024));
        for _ in 0..SHRINK_AFTER - 1 {
            assert_eq!(s.after(10), None);
        }
        assert_eq!(s.after(10), Some(MIN_READ));
        // And grows again when reads fill it.
        assert_eq!(full(&mut s, MIN_READ), Some(16 * 1024));
    }
}
