//! A connection's writer task: what the core sends, in order, coalesced into few
//! writes; blocks the core asked to go straight from the files
//! ([`crate::core::Action::SendBlock`]) leave with `sendfile` when their pages
//! are cached, else are read first and sent as bytes.

use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use super::sendfile::{FileSent, Sock, cork, send_all, send_file};
use super::stream::WriteHalf;
use crate::core::{DiskError, Event, PeerKey};
use crate::disk_uring::io::{self as disk, FileCache};
use crate::disk_uring::page_cache::resident;
use crate::metainfo::Info;
use crate::proto::{BlockRequest, PIECE_HEAD, piece_head};
use crate::shard::{ShardRc, with_shard};
use crate::types::InfoHash;

/// What goes to a connection's writer.
pub(crate) enum Outgoing {
    /// Bytes as the core made them.
    Bytes(Vec<u8>),
    /// A block straight from the torrent's files.
    Block(Box<FileBlock>),
}

/// A block to send from the files.
pub(crate) struct FileBlock {
    pub(crate) info_hash: InfoHash,
    pub(crate) req: BlockRequest,
    pub(crate) info: Arc<Info>,
    pub(crate) root: Arc<Path>,
}

impl Outgoing {
    fn len(&self) -> usize {
        match self {
            Outgoing::Bytes(b) => b.len(),
            Outgoing::Block(b) => PIECE_HEAD + b.req.len as usize,
        }
    }
}

/// Bytes coalesced into one write.
const BATCH: usize = 256 * 1024;

/// Why a batch stopped: the connection is closed, and a block that could not be
/// read is told to the core first.
struct Failed(Option<(InfoHash, BlockRequest, DiskError)>);

impl From<std::io::Error> for Failed {
    fn from(_: std::io::Error) -> Failed {
        Failed(None)
    }
}

/// Writes what comes on `rx` to `wr` until the channel or the connection
/// closes. `sock`: the TCP socket (none for uTP), for sends from files.
pub(crate) async fn run(
    rc: ShardRc,
    peer: PeerKey,
    mut wr: WriteHalf,
    sock: Option<Sock>,
    files: Rc<FileCache>,
    rx: flume::Receiver<Outgoing>,
) {
    while let Ok(first) = rx.recv_async().await {
        let mut size = first.len();
        let mut batch = vec![first];
        // Coalesce what is already queued.
        while size < BATCH {
            match rx.try_recv() {
                Ok(more) => {
                    size += more.len();
                    batch.push(more);
                }
                Err(_) => break,
            }
        }
        let blocks = batch.iter().any(|o| matches!(o, Outgoing::Block(_)));
        let sent = match (&sock, blocks) {
            (Some(sock), true) => direct(sock, &files, batch).await,
            _ => buffered(&mut wr, &files, batch).await,
        };
        match sent {
            Ok(n) => with_shard(&rc, |c, now, out| {
                c.on_event(now, Event::Sent { peer, bytes: n }, out);
            }),
            Err(Failed(block)) => {
                if let Some((info_hash, req, e)) = block {
                    with_shard(&rc, |c, now, out| {
                        let ev = Event::BlockRead {
                            peer,
                            info_hash,
                            req,
                            result: Err(e),
                        };
                        c.on_event(now, ev, out);
                    });
                }
                super::peer::closed(&rc, peer);
                return;
            }
        }
    }
}

/// Reads a block for a send as bytes.
async fn read(files: &FileCache, b: &FileBlock) -> Result<Vec<u8>, Failed> {
    let r = b.req;
    disk::read(files, &b.root, &b.info, r.piece, r.offset, r.len)
        .await
        .map_err(|e| Failed(Some((b.info_hash, r, e))))
}

/// The batch as one buffer, blocks read into it, written by the runtime.
async fn buffered(
    wr: &mut WriteHalf,
    files: &FileCache,
    batch: Vec<Outgoing>,
) -> Result<usize, Failed> {
    let mut bytes = Vec::new();
    for o in batch {
        match o {
            Outgoing::Bytes(b) if bytes.is_empty() => bytes = b,
            Outgoing::Bytes(b) => bytes.extend_from_slice(&b),
            Outgoing::Block(b) => {
                let data = read(files, &b).await?;
                bytes.extend_from_slice(&piece_head(b.req.piece, b.req.offset, b.req.len));
                bytes.extend_from_slice(&data);
            }
        }
    }
    let n = bytes.len();
    wr.write_all(bytes).await?;
    Ok(n)
}

/// The batch on the TCP socket from the shard's thread, corked: bytes with
/// `send`, cached blocks with `sendfile`, blocks not in the page cache read
/// first (so the thread never waits for the disk).
async fn direct(sock: &Sock, files: &FileCache, batch: Vec<Outgoing>) -> Result<usize, Failed> {
    cork(sock, true);
    let mut cached_run = CachedRun::default();
    let mut pending: Vec<u8> = Vec::new();
    let mut total = 0;
    for o in batch {
        let b = match o {
            Outgoing::Bytes(b) => {
                pending.extend_from_slice(&b);
                continue;
            }
            Outgoing::Block(b) => b,
        };
        let r = b.req;
        pending.extend_from_slice(&piece_head(r.piece, r.offset, r.len));
        let failed = |e: DiskError| Failed(Some((b.info_hash, r, e)));
        let spans = disk::block_spans(files, &b.root, &b.info, r.piece, r.offset, r.len)
            .await
            .map_err(failed)?;
        let cached = spans.iter().all(|s| {
            s.file
                .as_ref()
                .is_some_and(|f| cached_run.covers(f, s.offset, s.len))
        });
        if !cached {
            pending.extend_from_slice(&read(files, &b).await?);
            continue;
        }
        total += pending.len();
        send_all(sock, &pending).await?;
        pending.clear();
        for s in spans {
            use std::os::fd::AsFd;
            let Some(file) = &s.file else { continue };
            total += s.len;
            let FileSent::Rest { offset, left } =
                send_file(sock, file.as_fd(), s.offset, s.len).await?
            else {
                continue;
            };
            // The file system cannot splice, or the file got shorter: the rest
            // of the span read as bytes (a short file fails the read).
            let buf = Vec::with_capacity(left);
            let compio::BufResult(res, buf) =
                compio::io::AsyncReadAtExt::read_exact_at(&**file, buf, offset).await;
            res.map_err(|e| failed(DiskError(format!("reading piece {}: {e}", r.piece))))?;
            send_all(sock, &buf).await?;
        }
    }
    total += pending.len();
    send_all(sock, &pending).await?;
    cork(sock, false);
    Ok(total)
}

/// A run of a file known to be in the page cache, so that the blocks of a batch
/// (mostly one after the other in one file) cost one `cachestat`, not one each.
#[derive(Default)]
struct CachedRun {
    file: Option<Rc<compio::fs::File>>,
    range: std::ops::Range<u64>,
}

impl CachedRun {
    /// Whether `len` bytes at `offset` of `file` are cached: inside the known
    /// run, or found so by asking for the batch's worth from there (then for
    /// the span alone).
    fn covers(&mut self, file: &Rc<compio::fs::File>, offset: u64, len: usize) -> bool {
        use std::os::fd::AsFd;
        let end = offset + len as u64;
        let same = self.file.as_ref().is_some_and(|f| Rc::ptr_eq(f, file));
        if same && self.range.start <= offset && end <= self.range.end {
            return true;
        }
        let ahead = offset + len.max(BATCH) as u64;
        for run_end in [ahead, end] {
            if resident(file.as_fd(), offset, run_end - offset) {
                self.file = Some(file.clone());
                self.range = offset..run_end;
                return true;
            }
        }
        false
    }
}
