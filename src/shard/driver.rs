//! The shard's side of the driver: the [`Shard`] that owns a core, carries out its
//! actions (connections, piece IO, saves, moves, announces) and feeds it events,
//! the root watcher and the loop that takes the engine's commands.

use super::*;
use std::path::Path;

use super::stat::{Stamping, StatJob, stat_batched};
use super::writes::WriteLanes;
use crate::core::Transport;
use crate::disk_uring::write::{PieceWrite, WriteMode};
use crate::net::peer::{attach, incoming, route};
use crate::net::stream::PeerStream;
use crate::net::writer::{FileBlock, Outgoing};

/// Where accepted connections go.
pub(crate) struct Routing {
    pub(crate) index: usize,
    pub(crate) n: usize,
    pub(crate) senders: Arc<Vec<flume::Sender<Handoff>>>,
    /// Every shard's torrents as peers name them (several shards only).
    pub(crate) names: Option<Arc<NameTable>>,
}

pub(crate) struct Conn {
    pub(crate) tx: flume::Sender<Outgoing>,
    pub(crate) _reader: Option<JoinHandle<()>>,
    pub(crate) _writer: Option<JoinHandle<()>>,
    pub(crate) _connect: Option<JoinHandle<()>>,
}

pub(crate) struct Storage {
    pub(crate) info: Arc<Info>,
    /// Shared with every block sent from it (no copy per block).
    pub(crate) root: Arc<Path>,
    /// The root is there by its marker file (or, a plain folder, by itself).
    pub(crate) marked: bool,
}

pub(crate) struct Shard {
    pub(crate) core: Core,
    pub(crate) conns: HashMap<PeerKey, Conn>,
    pub(crate) storage: HashMap<InfoHash, Storage>,
    pub(crate) files: Rc<FileCache>,
    pub(crate) started: std::time::Instant,
    /// Jobs for the resume writer, in order, taken all at once by its next pass.
    pub(crate) resume_jobs: Vec<ResumeJob>,
    pub(crate) resume: flume::Sender<Wake>,
    /// Set when the core panicked: nothing runs on it any more.
    pub(crate) health: Arc<ShardHealth>,
    pub(crate) trackers: Arc<TrackerLink>,
    /// Where this shard's torrents are published for the router (several shards).
    pub(crate) names: Option<Arc<NameTable>>,
    /// The uTP thread, once it runs.
    pub(crate) utp: UtpSlot,
    /// The address outgoing TCP connections leave from: the listen address
    /// when it names one (a VPN's, say), else any (`None`).
    pub(crate) source: Option<std::net::IpAddr>,
    /// The session store (read for the stamps of a restored torrent's record).
    pub(crate) store: SharedStore,
    /// The file-stamping jobs on the blocking pool (`stat`).
    pub(crate) stamping: Stamping,
    /// Verified pieces on their way to the files (`writes`).
    pub(crate) writes: WriteLanes,
    /// Torrents' milestones on their way to the daemon's hooks.
    pub(crate) milestones: super::Milestones,
    /// Where peer notes go (`None`: nowhere).
    pub(crate) peer_log: Option<crate::peerlog::PeerLog>,
}

pub(crate) type ShardRc = Rc<RefCell<Shard>>;

/// A TCP connection to `addr`, from `source` when given (a peer of the other
/// address family cannot be reached from it, and is not dialled from any
/// other address).
async fn dial(source: Option<std::net::IpAddr>, addr: SocketAddr) -> std::io::Result<TcpStream> {
    match source {
        None => TcpStream::connect(addr).await,
        Some(ip) if ip.is_ipv4() != addr.is_ipv4() => Err(std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("peers.listen is {ip}: no route to {addr} from it"),
        )),
        Some(ip) => TcpStream::bind_and_connect(SocketAddr::new(ip, 0), addr).await,
    }
}

/// Runs `f` against the shard's core at the current time, then carries out the
/// actions it produced. Never awaits.
///
/// A panic in the core fails the shard: its state can no longer be trusted, so it
/// runs nothing more (commands are dropped unrun, so their callers get the
/// failure) and drops its connections. The other shards go on.
pub(crate) fn with_shard(rc: &ShardRc, f: impl FnOnce(&mut Core, Time, &mut Vec<Action>)) {
    let mut out = Vec::new();
    let mut s = rc.borrow_mut();
    if s.health.failed.get().is_some() {
        return;
    }
    let now = s.now();
    let core = &mut s.core;
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(core, now, &mut out)));
    match run {
        Ok(()) => {
            s.publish_names();
            s.apply(rc, out);
        }
        Err(panic) => {
            let why = panic_message(&*panic);
            tracing::error!(reason = %why, "shard failed: its torrents stop answering");
            // Set once: a failed shard runs nothing more (checked above).
            s.health.failed.get_or_init(|| why);
            // Its checks' turns go to the other shards' checks.
            s.core.give_up_check_turns();
            let conns = std::mem::take(&mut s.conns);
            drop(s);
            drop(conns);
        }
    }
}

/// Runs one of the engine's commands and answers it: the core's reply, or why
/// the shard failed (while running it, or before). The answer may ask for a
/// command to run next.
fn run_command(rc: &ShardRc, env: Envelope) -> Option<Envelope> {
    let Envelope {
        command,
        answer: reply,
    } = env;
    let mut answer = None;
    with_shard(rc, |c, now, out| {
        answer = Some(c.execute(now, command, out))
    });
    let answer = answer.ok_or_else(|| {
        let health = rc.borrow().health.clone();
        health
            .failed
            .get()
            .cloned()
            .unwrap_or_else(|| "the shard failed".into())
    });
    reply(answer)
}

/// Gives the shard's other tasks (its peers, its tick) a turn before going on.
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

impl Shard {
    pub(crate) fn new(
        mut cfg: CoreConfig,
        (max_open_files, write_mode): (usize, WriteMode),
        resume: flume::Sender<Wake>,
        health: Arc<ShardHealth>,
        trackers: Arc<TrackerLink>,
        store: SharedStore,
    ) -> Shard {
        if cfg.unix_at_zero == 0 {
            #[allow(clippy::disallowed_methods)]
            let wall = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            cfg.unix_at_zero = wall;
        }
        // Blocks go straight from the page cache where the kernel can tell what
        // is cached (`net::writer`).
        cfg.send_from_files = crate::disk_uring::page_cache::supported();
        Shard {
            core: Core::new(cfg),
            resume,
            resume_jobs: Vec::new(),
            health,
            trackers,
            names: None,
            utp: UtpSlot::default(),
            source: None,
            store,
            stamping: Stamping::default(),
            writes: WriteLanes::new(write_mode),
            milestones: super::Milestones::default(),
            peer_log: None,
            conns: HashMap::new(),
            storage: HashMap::new(),
            files: Rc::new(FileCache::new(max_open_files)),
            // The one clock read of the real driver: the core's time is time since
            // the shard started.
            #[allow(clippy::disallowed_methods)]
            started: std::time::Instant::now(),
        }
    }

    fn now(&self) -> Time {
        Time(u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    fn apply(&mut self, rc: &ShardRc, actions: Vec<Action>) {
        let mut reads = Vec::new();
        let mut stats = Vec::new();
        // Peers whose send queue overflowed: closed, and told to the core after.
        let mut slow = Vec::new();
        for a in actions {
            match a {
                Action::Send { peer, bytes } => self.send(peer, Outgoing::Bytes(bytes), &mut slow),
                Action::SendBlock {
                    peer,
                    info_hash,
                    req,
                } => {
                    let Some((info, root)) = self.storage_of(info_hash) else {
                        // Not open here: as a failed read (the core refuses it).
                        spawn_then(rc, async {}, move |c, now, out, ()| {
                            let result = Err(DiskError("the torrent's storage is not open".into()));
                            let ev = Event::BlockRead {
                                peer,
                                info_hash,
                                req,
                                result,
                            };
                            c.on_event(now, ev, out);
                        });
                        continue;
                    };
                    let block = FileBlock {
                        info_hash,
                        req,
                        info,
                        root,
                    };
                    self.send(peer, Outgoing::Block(Box::new(block)), &mut slow);
                }
                Action::Close { peer, reason } => {
                    tracing::debug!(?peer, ?reason, "closing peer");
                    self.conns.remove(&peer);
                }
                Action::Connect {
                    peer,
                    addr,
                    transport,
                } => {
                    let rc2 = rc.clone();
                    let utp = self.utp.get().cloned();
                    let source = self.source;
                    let task = compio::runtime::spawn(async move {
                        // No deadline here: the core closes a connect that takes
                        // longer than its handshake timeout, which drops this task.
                        let made = match (transport, utp) {
                            (Transport::Tcp, _) => dial(source, addr).await.map(PeerStream::Tcp),
                            (Transport::Utp, Some(utp)) => {
                                utp.connect(addr).await.map(PeerStream::Utp)
                            }
                            (Transport::Utp, None) => Err(std::io::Error::other("uTP is off")),
                        };
                        match made {
                            Ok(stream) => {
                                tracing::debug!(?peer, %addr, ?transport, "connected");
                                stream.nodelay();
                                attach(&rc2, peer, stream);
                                with_shard(&rc2, |c, now, out| {
                                    c.on_event(now, Event::Connected { peer }, out);
                                });
                            }
                            Err(why) => {
                                tracing::debug!(?peer, %addr, reason = %why, "connect failed");
                                rc2.borrow_mut().conns.remove(&peer);
                                with_shard(&rc2, |c, now, out| {
                                    c.on_event(now, Event::ConnectFailed { peer }, out);
                                });
                            }
                        }
                    });
                    // Nothing is sent before the connection is made.
                    let (tx, _) = flume::bounded(0);
                    self.conns.insert(
                        peer,
                        Conn {
                            tx,
                            _reader: None,
                            _writer: None,
                            _connect: Some(task),
                        },
                    );
                }
                Action::ReadBlock {
                    peer,
                    info_hash,
                    req,
                } => reads.push((info_hash, req, peer)),
                Action::StatFiles {
                    info_hash,
                    info,
                    root,
                    with_record,
                } => stats.push(StatJob {
                    info_hash,
                    info,
                    root,
                    with_record,
                }),
                Action::WebFetch { peer, ranges } => {
                    let parts = self.trackers.web_fetch(ranges);
                    compio::runtime::spawn(web_parts(rc.clone(), peer, parts)).detach();
                }
                Action::Announce(a) => {
                    let (info_hash, id) = (a.info_hash, a.id);
                    let reply = self.trackers.announce(a.url, a.request);
                    let wait = async move {
                        reply.recv_async().await.unwrap_or_else(|_| {
                            Err(TrackerError::Io("the tracker thread stopped".into()))
                        })
                    };
                    spawn_then(rc, wait, move |c, now, out, result| {
                        let ev = Event::AnnounceReply {
                            info_hash,
                            id,
                            result,
                        };
                        c.on_event(now, ev, out);
                    });
                }
                Action::VerifyPieces {
                    info_hash,
                    pieces,
                    hashes,
                } => {
                    let storage = self.storage_of(info_hash);
                    let work = async move {
                        let unreadable =
                            |p: &[u32]| p.iter().map(|&p| (p, Verdict::Unreadable)).collect();
                        let Some((info, root)) = storage else {
                            return unreadable(&pieces);
                        };
                        // Every check in the process shares the machine's cores.
                        let threads =
                            crate::hash::budget::take(crate::hash::default_threads()).await;
                        let (p2, i2, n) = (pieces.clone(), info.clone(), threads.count());
                        let job =
                            move || crate::disk_uring::verify_pieces(&i2, &hashes, &root, &p2, n);
                        let verdicts =
                            blocking(job, "a check's hashing", || unreadable(&pieces)).await;
                        drop(threads);
                        verdicts
                    };
                    spawn_then(rc, work, move |c, now, out, results| {
                        c.on_event(now, Event::PiecesVerified { info_hash, results }, out);
                    });
                }
                Action::HashBlocks {
                    info_hash,
                    peer,
                    range,
                    pieces,
                } => {
                    let storage = self.storage_of(info_hash);
                    let work = async move {
                        let (info, root) = storage?;
                        let job = move || crate::disk_uring::block_leaves(&info, &root, &pieces);
                        blocking(job, "a hash request's block hashes", || None).await
                    };
                    spawn_then(rc, work, move |c, now, out, leaves| {
                        let ev = Event::BlocksHashed {
                            info_hash,
                            peer,
                            range,
                            leaves,
                        };
                        c.on_event(now, ev, out);
                    });
                }
                Action::WritePiece {
                    info_hash,
                    piece,
                    data,
                } => {
                    let Some(st) = self.storage.get(&info_hash) else {
                        continue;
                    };
                    let w = PieceWrite {
                        root: st.root.clone(),
                        marked: st.marked,
                        info: st.info.clone(),
                        piece,
                        data,
                    };
                    self.writes.push(rc, info_hash, w);
                }
                Action::SaveMeta {
                    info_hash,
                    info,
                    record,
                    metadata_size,
                } => {
                    for op in meta_ops(info_hash, &info, &record, metadata_size) {
                        self.queue_resume(ResumeJob::Op(op));
                    }
                }
                Action::OpenStorage(o) => {
                    for op in open_ops(&o) {
                        self.queue_resume(ResumeJob::Op(op));
                    }
                    let (info_hash, info, marked) = (o.info_hash, o.info, o.marked);
                    let root: Arc<Path> = PathBuf::from(o.root).into();
                    // In the torrent's lane: after the deletion of its files
                    // from before, if it was removed and added again.
                    let files = (root.clone(), info.clone());
                    self.writes
                        .prepare_files(rc, info_hash, files, marked, o.prepared);
                    self.storage
                        .insert(info_hash, Storage { info, root, marked });
                }
                Action::CloseStorage {
                    info_hash,
                    delete_files,
                } => {
                    self.queue_resume(ResumeJob::Forget(info_hash));
                    match self.storage.remove(&info_hash) {
                        Some(st) => {
                            self.files.forget_torrent(&st.root, &st.info);
                            if delete_files {
                                self.writes.delete_files(rc, info_hash, st.root, st.info);
                            } else {
                                self.writes.drop_queued(info_hash);
                            }
                        }
                        None => self.writes.drop_queued(info_hash),
                    }
                }
                Action::Milestone { info_hash, what } => self.milestones.tell(info_hash, what),
                Action::PeerNote(note) => {
                    if let Some(log) = &self.peer_log {
                        log.note(note);
                    }
                }
                Action::CheckRoots { roots } => {
                    let check = move || {
                        let roots = roots.into_iter().map(|(r, marked)| {
                            let up = storage::root_available(&RealFiles, Path::new(&r), marked);
                            (r, up)
                        });
                        roots.collect::<Vec<_>>()
                    };
                    let work = async move {
                        // Roots are taken as there.
                        blocking(check, "the root check", Vec::new).await
                    };
                    spawn_then(rc, work, move |c, now, out, roots| {
                        c.on_event(now, Event::RootsChecked { roots }, out);
                    });
                }
                Action::SaveResume {
                    id,
                    torrents,
                    clocks,
                } => {
                    self.queue_resume(ResumeJob::Save {
                        id,
                        saves: torrents,
                        clocks,
                    });
                }
                Action::LoadMeta { info_hash } => {
                    self.queue_resume(ResumeJob::Load(info_hash));
                }
                Action::MoveStorage(m) => {
                    self.files.forget_under(Path::new(&m.from));
                    // In the torrent's lane: a removal with files meanwhile
                    // deletes them where the move leaves them.
                    self.writes.move_files(rc, m);
                }
            }
        }
        self.read_batched(rc, reads);
        stat_batched(rc, &mut self.stamping, &self.store, stats);
        for peer in slow {
            // Told on the next turn of the loop: the shard is borrowed here.
            spawn_then(rc, async {}, move |c, now, out, ()| {
                c.on_event(now, Event::Closed { peer }, out);
            });
        }
    }

    /// Queues `o` for the writer of connection `peer`; a full queue closes it (too
    /// slow), told to the core through `slow`.
    fn send(&mut self, peer: PeerKey, o: Outgoing, slow: &mut Vec<PeerKey>) {
        let Some(c) = self.conns.get(&peer) else {
            return;
        };
        match c.tx.try_send(o) {
            Ok(()) => {}
            // Not connected yet: the core sends nothing before Connected.
            Err(flume::TrySendError::Disconnected(_)) => {}
            Err(flume::TrySendError::Full(_)) => {
                tracing::debug!(?peer, "closing peer: {SEND_QUEUE} messages unsent");
                self.conns.remove(&peer);
                slow.push(peer);
            }
        }
    }

    /// Serves block reads for uploads, merging contiguous blocks of the same piece
    /// (from one peer or several) into one disk read; each peer then gets its block.
    fn read_batched(&mut self, rc: &ShardRc, mut reads: Vec<(InfoHash, BlockRequest, PeerKey)>) {
        reads.sort_by_key(|(ih, r, _)| (*ih, r.piece, r.offset));
        let mut i = 0;
        while i < reads.len() {
            let (ih, first, _) = reads[i];
            let mut end = first.offset + first.len;
            let mut j = i + 1;
            while j < reads.len()
                && reads[j].0 == ih
                && reads[j].1.piece == first.piece
                && reads[j].1.offset <= end
            {
                end = end.max(reads[j].1.offset + reads[j].1.len);
                j += 1;
            }
            let group: Vec<(BlockRequest, PeerKey)> =
                reads[i..j].iter().map(|(_, r, p)| (*r, *p)).collect();
            i = j;
            let Some((info, root)) = self.storage_of(ih) else {
                continue;
            };
            let files = self.files.clone();
            let start = first.offset;
            let read = async move {
                disk::read(&files, &root, &info, first.piece, start, end - start).await
            };
            spawn_then(rc, read, move |c, now, out, result| {
                for (req, peer) in group {
                    let part = match &result {
                        Ok(buf) => {
                            let a = (req.offset - start) as usize;
                            Ok(buf[a..a + req.len as usize].to_vec())
                        }
                        Err(e) => Err(e.clone()),
                    };
                    let ev = Event::BlockRead {
                        peer,
                        info_hash: ih,
                        req,
                        result: part,
                    };
                    c.on_event(now, ev, out);
                }
            });
        }
    }

    /// Names taken or given up by the last call into the core, into the
    /// shards' table.
    fn publish_names(&mut self) {
        let Some(table) = &self.names else {
            return;
        };
        let changes = self.core.take_name_changes();
        if changes.is_empty() {
            return;
        }
        let mut t = names::write(table);
        for c in changes {
            t.apply(c);
        }
    }

    /// Queues a job for the resume writer and wakes it.
    fn queue_resume(&mut self, job: ResumeJob) {
        self.resume_jobs.push(job);
        match self.resume.try_send(Wake::Work) {
            // Full: wakes are pending, and the next takes this job too.
            Ok(()) | Err(flume::TrySendError::Full(_)) => {}
            Err(flume::TrySendError::Disconnected(_)) => {
                tracing::warn!("resume writer gone (shutting down): a resume job waits unsaved");
            }
        }
    }

    fn storage_of(&self, ih: InfoHash) -> Option<(Arc<Info>, Arc<Path>)> {
        self.storage
            .get(&ih)
            .map(|s| (s.info.clone(), s.root.clone()))
    }
}

/// Runs `job` on the blocking pool; if it panics, says so (`what`) and answers
/// `fallback()` instead.
pub(super) async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
    what: &str,
    fallback: impl FnOnce() -> T,
) -> T {
    compio::runtime::spawn_blocking(job)
        .await
        .unwrap_or_else(|_| {
            tracing::error!("{what} panicked");
            fallback()
        })
}

/// Runs `work` (disk IO) as a task, then hands its outcome to the core through
/// `deliver`, on the shard thread, without awaiting under a borrow.
pub(crate) fn spawn_then<T: 'static>(
    rc: &ShardRc,
    work: impl std::future::Future<Output = T> + 'static,
    deliver: impl FnOnce(&mut Core, Time, &mut Vec<Action>, T) + 'static,
) {
    let rc = rc.clone();
    compio::runtime::spawn(async move {
        let result = work.await;
        with_shard(&rc, |c, now, out| deliver(c, now, out, result));
    })
    .detach();
}

/// Hands a web fetch's parts to the core as they arrive, until its end, or
/// until the core no longer waits for them: dropping `parts` then stops the
/// fetch on the control-plane thread.
async fn web_parts(rc: ShardRc, peer: PeerKey, parts: flume::Receiver<crate::net::WebPart>) {
    use crate::net::WebPart;
    loop {
        let part = (parts.recv_async().await)
            .unwrap_or_else(|_| WebPart::End(Err("the tracker thread stopped".into())));
        let end = matches!(part, WebPart::End(_));
        let mut wanted = false;
        with_shard(&rc, |c, now, out| {
            let ev = match part {
                WebPart::Bytes(bytes) => Event::WebBytes { peer, bytes },
                WebPart::End(result) => Event::WebDone { peer, result },
            };
            c.on_event(now, ev, out);
            wanted = c.web_fetching(peer);
        });
        if end || !wanted {
            return;
        }
    }
}

pub(crate) async fn run(
    shard: ShardRc,
    (listener, utp_accepts): (Option<TcpListener>, Option<flume::Receiver<UtpAccepted>>),
    routing: Routing,
    handoffs: flume::Receiver<Handoff>,
    commands: flume::Receiver<Envelope>,
) {
    let routing = Rc::new(routing);
    let (rc, routing2) = (shard.clone(), routing.clone());
    let _utp_accept = utp_accepts.map(|accepts| {
        compio::runtime::spawn(async move {
            while let Ok((stream, addr)) = accepts.recv_async().await {
                let stream = PeerStream::Utp(stream);
                compio::runtime::spawn(route(rc.clone(), routing2.clone(), stream, addr)).detach();
            }
        })
    });
    let rc = shard.clone();
    // Closed by hand at the end (see there).
    let kept = listener.clone();
    let accept = listener.map(|listener| {
        compio::runtime::spawn(async move {
            loop {
                let (stream, addr) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of descriptors, say: wait a little rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        compio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let stream = PeerStream::Tcp(stream);
                compio::runtime::spawn(route(rc.clone(), routing.clone(), stream, addr)).detach();
            }
        })
    });
    let rc = shard.clone();
    let _handoffs = compio::runtime::spawn(async move {
        while let Ok(h) = handoffs.recv_async().await {
            let stream = match h.stream {
                HandoffStream::Tcp(s) => TcpStream::from_std(s).map(PeerStream::Tcp),
                HandoffStream::Utp(s) => Ok(PeerStream::Utp(s)),
            };
            match stream {
                Ok(stream) => incoming(&rc, stream, h.addr, &h.first, h.mse),
                Err(e) => tracing::warn!(addr = %h.addr, error = %e, "handed-over connection lost"),
            }
        }
    });
    let rc = shard.clone();
    let _tick = compio::runtime::spawn(async move {
        loop {
            compio::time::sleep(Duration::from_millis(100)).await;
            with_shard(&rc, |c, now, out| c.on_tick(now, out));
        }
    });
    // A failed shard keeps taking commands until the engine goes, dropping each
    // unrun: its caller's answer channel closes and it reports the failure.
    while let Ok(env) = commands.recv_async().await {
        let mut next = run_command(&shard, env);
        while let Some(env) = next {
            YieldNow(false).await;
            next = run_command(&shard, env);
        }
    }
    // The engine is gone: drop every connection and stop accepting. The
    // listener is closed once its cancelled accept is answered (see
    // `net::closing`), and the connections' cancels get one more turn of the
    // driver.
    shard.borrow_mut().conns.clear();
    drop(accept);
    if let Some(l) = kept {
        crate::net::close_when_answered("listener", l.close()).await;
    }
    compio::time::sleep(Duration::from_millis(1)).await;
}
