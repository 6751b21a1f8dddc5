//! Shard threads: the core on real sockets and disks, through compio.
//!
//! What it owns: threads (`sr-shard-NN`), each with its own compio runtime, holding a
//! [`Core`] and carrying out its actions: TCP connections (a reader task with one
//! reused buffer and a writer task per connection), the listener, piece IO
//! (`disk_uring::io`), the 100 ms tick, and commands from the [`crate::Engine`].
//!
//! IO backend: [`IoChoice::Auto`] tries io_uring first and, if the kernel or a
//! sandbox refuses it, runs on epoll (compio's polling driver, files on its blocking
//! pool), remembering why; [`IoChoice::Uring`] fails to start with a clear error
//! instead of falling back; [`IoChoice::Epoll`] never tries io_uring.
//!
//! Invariants: the core is touched only inside [`with_shard`], which never awaits, so
//! no borrow is held across an IO; a connection's tasks die with its entry in
//! `conns` (dropping a compio task cancels it, closing the socket).
//!
//! Several shards: each owns the torrents whose info-hash maps to it
//! ([`shard_of`]). Shard 0 accepts, reads the handshake and hands the connection to
//! the owner (a duplicated descriptor and the bytes already read, over a channel).

use core::net::SocketAddr;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use compio::BufResult;
use compio::driver::{DriverType, ProactorBuilder};
use compio::io::{AsyncRead, AsyncWriteExt};
use compio::net::{TcpListener, TcpStream};
use compio::runtime::{JoinHandle, Runtime, RuntimeBuilder};

use crate::core::{Action, Core, CoreConfig, DiskError, Event, PeerKey, ResumeSave};
use crate::disk_uring::RealFiles;
use crate::disk_uring::io::{self as disk, FileCache};
use crate::metainfo::Info;
use crate::proto::BlockRequest;
use crate::proto::tracker::TrackerError;
use crate::resume_lmdb::{SharedStore, StoreOp, meta_key, torrent_prefix};
use crate::storage;
use crate::types::{InfoHash, Time};

/// Which IO backend a shard may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoChoice {
    /// io_uring where allowed, else epoll (the choice and its reason are reported).
    #[default]
    Auto,
    /// io_uring or a start-up error.
    Uring,
    /// epoll only.
    Epoll,
}

/// How to start a shard.
#[derive(Debug, Clone)]
pub struct ShardConfig {
    /// The core's settings.
    pub core: CoreConfig,
    /// Where to accept connections (port 0: any free port).
    pub listen: SocketAddr,
    /// IO backend.
    pub io: IoChoice,
    /// Most files kept open (per shard).
    pub max_open_files: usize,
    /// Shard threads (0: one per available core).
    pub shards: usize,
    /// Where the session store (LMDB) lives; `None`: in memory, gone at exit.
    pub state_dir: Option<PathBuf>,
    /// How long a listen port found in use is tried again before giving up (see
    /// `bind`: a restart right after a crash on io_uring needs it).
    pub bind_patience: Duration,
}

impl ShardConfig {
    /// Defaults: listen on `listen`, automatic IO choice, one shard per core,
    /// 512 open files per shard, no state folder, 10 s of patience with a busy port.
    pub fn new(core: CoreConfig, listen: SocketAddr) -> ShardConfig {
        ShardConfig {
            core,
            listen,
            io: IoChoice::Auto,
            max_open_files: 512,
            shards: 0,
            state_dir: None,
            bind_patience: Duration::from_secs(10),
        }
    }
}

/// Which of `n` shards owns a torrent: the first eight bytes of its info-hash,
/// modulo `n` (info-hashes are uniformly distributed).
pub fn shard_of(ih: InfoHash, n: usize) -> usize {
    let head = u64::from_be_bytes(ih.0[..8].try_into().expect("8 bytes"));
    usize::try_from(head % n.max(1) as u64).expect("below n")
}

/// An accepted connection on its way to the shard that owns its torrent, with the
/// bytes already read (at least the handshake).
struct Handoff {
    stream: std::net::TcpStream,
    addr: SocketAddr,
    first: Vec<u8>,
}

/// Why a shard did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `--io uring` was asked for but io_uring cannot be used here.
    #[error(
        "io_uring is not available here ({0}); it may be disabled by the kernel \
         (kernel.io_uring_disabled) or blocked by a seccomp profile (containers); \
         use --io auto or --io epoll"
    )]
    UringUnavailable(std::io::Error),
    /// The runtime could not be created.
    #[error("cannot start the IO runtime: {0}")]
    Runtime(std::io::Error),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why (shown in the message, so not a `source`).
        error: std::io::Error,
    },
    /// The shard thread could not be spawned.
    #[error("cannot spawn the shard thread: {0}")]
    Thread(std::io::Error),
    /// The session store (state folder) could not be opened.
    #[error("cannot open the state folder: {0}")]
    Store(crate::resume_lmdb::StoreError),
}

/// Work for a shard's resume writer, kept in the order the core asked for it: a
/// torrent's records are deleted only after every save asked for before its
/// removal, and a re-added torrent's metadata after its deletion.
pub(crate) enum ResumeJob {
    /// A resume save (the durability rule: sync, stamp, commit).
    Save { id: u64, saves: Vec<ResumeSave> },
    /// Set one key (a torrent's metadata).
    Set(Vec<u8>, Vec<u8>),
    /// Delete every key of a torrent.
    Forget(InfoHash),
}

/// What wakes a shard's resume writer. Each wake makes it take every job queued
/// so far (`Shard::resume_jobs`), so wakes never carry work themselves.
pub(crate) enum Wake {
    /// Jobs are waiting.
    Work,
    /// Answer once every job queued before this is done (the engine's flush).
    Flush(flume::Sender<()>),
}

/// Work for a core, run on its shard's thread at the shard's current time.
pub(crate) type CoreFn<R> = Box<dyn FnOnce(&mut Core, Time, &mut Vec<Action>) -> R + Send>;
/// A command run on the shard thread against its core.
pub(crate) type Command = CoreFn<()>;

/// Commands waiting for a shard. Full: the engine's caller waits (back pressure);
/// a shard is never far behind its callers, so this only bounds bursts.
const COMMAND_QUEUE: usize = 1024;
/// Wakes waiting for a shard's resume writer. Full: the shard's wake is dropped,
/// which loses nothing: a writer with wakes pending takes every queued job at the
/// next one. (The jobs themselves wait in the shard, in order: at most one save,
/// the core keeps one in flight, plus one metadata write or deletion per torrent
/// added or removed since the writer's last pass, which takes them all in one
/// transaction.) The engine's flushes wait for room (back pressure).
const RESUME_WAKES: usize = 64;
/// Messages waiting for a connection's writer. The core keeps at most 1 MiB of
/// piece data unsent per peer (it waits for `Sent`), so only a peer that reads
/// nothing while being sent many small messages fills it. Full: the peer is
/// closed as too slow.
const SEND_QUEUE: usize = 4096;
/// Accepted connections on their way to their owning shard. Full: the connection
/// is closed (the peer will retry), and the drop is counted in the log.
const HANDOFF_QUEUE: usize = 256;

/// A command that answers on `reply`: `f`'s result, or the message of its panic
/// (which then goes on to fail the shard).
pub(crate) fn command<R: Send + 'static>(
    f: CoreFn<R>,
    reply: flume::Sender<Result<R, String>>,
) -> Command {
    Box::new(move |core, now, out| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(core, now, out))) {
            // The caller may have stopped waiting (a dropped future): nothing to do.
            Ok(r) => drop(reply.send(Ok(r))),
            Err(panic) => {
                let _ = reply.send(Err(panic_message(&*panic)));
                std::panic::resume_unwind(panic);
            }
        }
    })
}

/// The text of a panic payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// The control-plane tracker client, shared by an engine's shards and started at
/// the first announce (an engine without trackers never starts the thread).
#[derive(Debug, Default)]
pub(crate) struct TrackerLink {
    client: std::sync::OnceLock<Result<crate::net::TrackerClient, String>>,
}

impl TrackerLink {
    /// Sends an announce; the answer arrives on the returned channel (at once, as
    /// an error, if the client cannot run).
    fn announce(
        &self,
        url: String,
        request: crate::proto::tracker::Announce,
    ) -> flume::Receiver<AnnounceResult> {
        let client = self.client.get_or_init(|| {
            crate::net::TrackerClient::start()
                .map_err(|e| format!("cannot start the tracker thread: {e}"))
        });
        match client {
            Ok(c) => c.announce(url, request),
            Err(why) => {
                let (tx, rx) = flume::bounded(1);
                let _ = tx.send(Err(TrackerError::Io(why.clone())));
                rx
            }
        }
    }
}

type AnnounceResult = Result<crate::proto::tracker::AnnounceReply, TrackerError>;

/// Whether a shard is alive, seen from outside: set once, when its core panics.
#[derive(Debug, Default)]
pub(crate) struct ShardHealth {
    failed: std::sync::OnceLock<String>,
}

/// The engine's side of a running shard.
#[derive(Debug)]
pub(crate) struct ShardHandle {
    pub commands: flume::Sender<Command>,
    pub listen_addr: SocketAddr,
    /// `"io_uring"` or `"epoll"`.
    pub backend: &'static str,
    /// Why `auto` ended on epoll, if it did.
    pub fallback_reason: Option<String>,
    /// The core's peer id.
    pub peer_id: [u8; 20],
    /// Wakes the shard's resume writer (the engine flushes it at shutdown).
    pub resume: flume::Sender<Wake>,
    health: Arc<ShardHealth>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ShardHandle {
    /// Why the shard failed, if it has.
    pub fn failure(&self) -> Option<String> {
        self.health.failed.get().cloned()
    }
}

impl Drop for ShardHandle {
    fn drop(&mut self) {
        // Closing the command channel ends the shard's loop; wait for it so files are
        // closed and sockets shut before the engine is gone.
        let (tx, _) = flume::bounded(1);
        drop(std::mem::replace(&mut self.commands, tx));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn build_runtime(driver: Option<DriverType>) -> std::io::Result<Runtime> {
    let mut proactor = ProactorBuilder::new();
    if let Some(d) = driver {
        proactor.driver_type(d);
    }
    RuntimeBuilder::new().with_proactor(proactor).build()
}

/// Builds the runtime the choice allows: `(runtime, backend, fallback reason)`.
fn runtime_for(io: IoChoice) -> Result<(Runtime, Option<String>), StartError> {
    match io {
        IoChoice::Uring => build_runtime(Some(DriverType::IoUring))
            .map(|rt| (rt, None))
            .map_err(StartError::UringUnavailable),
        IoChoice::Epoll => build_runtime(Some(DriverType::Poll))
            .map(|rt| (rt, None))
            .map_err(StartError::Runtime),
        IoChoice::Auto => match build_runtime(Some(DriverType::IoUring)) {
            Ok(rt) => Ok((rt, None)),
            Err(e) => build_runtime(Some(DriverType::Poll))
                .map(|rt| (rt, Some(format!("io_uring unavailable: {e}"))))
                .map_err(StartError::Runtime),
        },
    }
}

/// 64 random bits from the operating system.
fn os_random() -> u64 {
    // No randomness from the OS is a broken system: nothing can be secret then.
    getrandom::u64().expect("the operating system's random source works")
}

/// A peer id of the form `-SR0100-` + 12 random alphanumerics, unless the caller
/// set one of its own.
fn fresh_peer_id(cfg: &mut CoreConfig) {
    if cfg.peer_id == CoreConfig::default().peer_id {
        const ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut r = os_random();
        for b in &mut cfg.peer_id[8..] {
            *b = ALNUM[usize::try_from(r % ALNUM.len() as u64).expect("small")];
            r = r.rotate_right(6) ^ os_random();
        }
    }
    if cfg.seed == 0 {
        cfg.seed = os_random();
    }
}

/// Starts every shard: shard 0 listens (its address is returned in every handle)
/// and hands each accepted connection to the shard that owns its torrent.
pub(crate) fn spawn_all(
    mut cfg: ShardConfig,
    store: &SharedStore,
) -> Result<Vec<ShardHandle>, StartError> {
    let n = if cfg.shards == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        cfg.shards
    };
    fresh_peer_id(&mut cfg.core);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n)
        .map(|_| flume::bounded::<Handoff>(HANDOFF_QUEUE))
        .unzip();
    let senders = Arc::new(senders);
    let trackers = Arc::new(TrackerLink::default());
    let mut handles = Vec::with_capacity(n);
    let mut listen = Some(cfg.listen);
    let mut port = cfg.listen.port();
    for (index, handoffs) in receivers.into_iter().enumerate() {
        let mut shard_cfg = cfg.clone();
        shard_cfg.core.seed = cfg.core.seed.wrapping_add(index as u64);
        shard_cfg.core.listen_port = port;
        let h = spawn_one(
            index,
            n,
            shard_cfg,
            listen.take(),
            handoffs,
            senders.clone(),
            store.clone(),
            trackers.clone(),
        )?;
        port = h.listen_addr.port();
        handles.push(h);
    }
    Ok(handles)
}

/// Starts shard `index` of `n` on its own thread; it listens on `listen` if given.
#[allow(clippy::too_many_arguments)] // the shard's whole wiring, passed once at start
fn spawn_one(
    index: usize,
    n: usize,
    cfg: ShardConfig,
    listen: Option<SocketAddr>,
    handoffs: flume::Receiver<Handoff>,
    senders: Arc<Vec<flume::Sender<Handoff>>>,
    store: SharedStore,
    trackers: Arc<TrackerLink>,
) -> Result<ShardHandle, StartError> {
    let peer_id = cfg.core.peer_id;
    let (ready_tx, ready_rx) = flume::bounded(1);
    let (cmd_tx, cmd_rx) = flume::bounded::<Command>(COMMAND_QUEUE);
    let (resume_tx, resume_rx) = flume::bounded::<Wake>(RESUME_WAKES);
    let health = Arc::new(ShardHealth::default());
    let health2 = health.clone();
    let resume_tx2 = resume_tx.clone();
    let thread = std::thread::Builder::new()
        .name(format!("sr-shard-{index:02}"))
        .spawn(move || {
            let (rt, reason) = match runtime_for(cfg.io) {
                Ok(x) => x,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let backend = if rt.driver_type().is_iouring() {
                "io_uring"
            } else {
                "epoll"
            };
            rt.block_on(async move {
                let listener = match listen {
                    None => None,
                    Some(addr) => match bind(addr, cfg.bind_patience).await {
                        Ok(l) => Some(l),
                        Err(error) => {
                            // The engine waits for this answer; it cannot be gone.
                            let _ = ready_tx.send(Err(StartError::Listen { addr, error }));
                            return;
                        }
                    },
                };
                let addr = listener
                    .as_ref()
                    .and_then(|l| l.local_addr().ok())
                    .unwrap_or(cfg.listen);
                let mut core_cfg = cfg.core;
                core_cfg.listen_port = addr.port();
                let shard = Rc::new(RefCell::new(Shard::new(
                    core_cfg,
                    cfg.max_open_files,
                    resume_tx2,
                    health2,
                    trackers,
                )));
                match &reason {
                    Some(why) => tracing::warn!(shard = index, %addr, "io: epoll ({why})"),
                    None => tracing::info!(shard = index, %addr, "io: {backend}"),
                }
                // The engine waits for this answer; it cannot be gone.
                let _ = ready_tx.send(Ok((addr, backend, reason)));
                let routing = Routing { index, n, senders };
                let _resume =
                    compio::runtime::spawn(resume_writer(shard.clone(), store, resume_rx));
                run(shard, listener, routing, handoffs, cmd_rx).await;
            });
        })
        .map_err(StartError::Thread)?;
    match ready_rx.recv() {
        Ok(Ok((listen_addr, backend, fallback_reason))) => Ok(ShardHandle {
            commands: cmd_tx,
            listen_addr,
            backend,
            fallback_reason,
            peer_id,
            resume: resume_tx,
            health,
            thread: Some(thread),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err(StartError::Runtime(std::io::Error::other(
                "shard thread died",
            )))
        }
    }
}

/// Binds the listener, retrying for `patience` while the port is in use.
///
/// Why: a process on io_uring that dies (SIGKILL, a crash) releases its sockets
/// only when the kernel tears its rings down, asynchronously, some time after the
/// process is gone; a daemon restarted at once (systemd's `Restart=`) finds its own
/// port still listening. SO_REUSEADDR does not help against a listening socket, and
/// SO_REUSEPORT would let two live daemons split one port silently. So a port in
/// use is tried again every 100 ms for a bounded time, said once in the log.
async fn bind(addr: SocketAddr, patience: Duration) -> std::io::Result<TcpListener> {
    #[allow(clippy::disallowed_methods)] // a bound on start-up, not the core's time
    let start = std::time::Instant::now();
    let mut said = false;
    loop {
        match TcpListener::bind(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && start.elapsed() < patience => {
                if !said {
                    tracing::warn!(
                        %addr,
                        "port in use; retrying for up to {patience:?} (a seedring that just \
                         died on io_uring releases its port a moment after it is gone)"
                    );
                    said = true;
                }
                compio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(l) => {
                if said {
                    tracing::info!(%addr, waited = ?start.elapsed(), "port free again: listening");
                }
                return Ok(l);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Where accepted connections go.
struct Routing {
    index: usize,
    n: usize,
    senders: Arc<Vec<flume::Sender<Handoff>>>,
}

struct Conn {
    tx: flume::Sender<Vec<u8>>,
    _reader: Option<JoinHandle<()>>,
    _writer: Option<JoinHandle<()>>,
    _connect: Option<JoinHandle<()>>,
}

struct Storage {
    info: Arc<Info>,
    root: PathBuf,
}

pub(crate) struct Shard {
    core: Core,
    conns: HashMap<PeerKey, Conn>,
    storage: HashMap<InfoHash, Storage>,
    files: Rc<FileCache>,
    started: std::time::Instant,
    /// Jobs for the resume writer, in order, taken all at once by its next pass.
    resume_jobs: Vec<ResumeJob>,
    resume: flume::Sender<Wake>,
    /// Roots as last reported to the core (available or not).
    roots_seen: HashMap<PathBuf, bool>,
    /// Set when the core panicked: nothing runs on it any more.
    health: Arc<ShardHealth>,
    trackers: Arc<TrackerLink>,
}

type ShardRc = Rc<RefCell<Shard>>;

/// Runs `f` against the shard's core at the current time, then carries out the
/// actions it produced. Never awaits.
///
/// A panic in the core fails the shard: its state can no longer be trusted, so it
/// runs nothing more (commands are dropped unrun, so their callers get the
/// failure) and drops its connections. The other shards go on.
fn with_shard(rc: &ShardRc, f: impl FnOnce(&mut Core, Time, &mut Vec<Action>)) {
    let mut out = Vec::new();
    let mut s = rc.borrow_mut();
    if s.health.failed.get().is_some() {
        return;
    }
    let now = s.now();
    let core = &mut s.core;
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(core, now, &mut out)));
    match run {
        Ok(()) => s.apply(rc, out),
        Err(panic) => {
            let why = panic_message(&*panic);
            tracing::error!(reason = %why, "shard failed: its torrents stop answering");
            let _ = s.health.failed.set(why);
            let conns = std::mem::take(&mut s.conns);
            drop(s);
            drop(conns);
        }
    }
}

impl Shard {
    fn new(
        mut cfg: CoreConfig,
        max_open_files: usize,
        resume: flume::Sender<Wake>,
        health: Arc<ShardHealth>,
        trackers: Arc<TrackerLink>,
    ) -> Shard {
        if cfg.unix_at_zero == 0 {
            #[allow(clippy::disallowed_methods)]
            let wall = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            cfg.unix_at_zero = wall;
        }
        Shard {
            core: Core::new(cfg),
            resume,
            resume_jobs: Vec::new(),
            health,
            trackers,
            roots_seen: HashMap::new(),
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
        // Peers whose send queue overflowed: closed, and told to the core after.
        let mut slow = Vec::new();
        for a in actions {
            match a {
                Action::Send { peer, bytes } => {
                    let Some(c) = self.conns.get(&peer) else {
                        continue;
                    };
                    match c.tx.try_send(bytes) {
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
                Action::Close { peer, reason } => {
                    tracing::debug!(?peer, ?reason, "closing peer");
                    self.conns.remove(&peer);
                }
                Action::Connect { peer, addr } => {
                    let rc2 = rc.clone();
                    let task = compio::runtime::spawn(async move {
                        let res = compio::time::timeout(
                            Duration::from_secs(10),
                            TcpStream::connect(addr),
                        )
                        .await;
                        match res {
                            Ok(Ok(stream)) => {
                                tracing::debug!(?peer, %addr, "connected");
                                nodelay(&stream);
                                attach(&rc2, peer, stream);
                                with_shard(&rc2, |c, now, out| {
                                    c.on_event(now, Event::Connected { peer }, out);
                                });
                            }
                            failed => {
                                let why = match failed {
                                    Ok(Err(e)) => e.to_string(),
                                    _ => "no answer in 10 s".into(),
                                };
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
                Action::Announce {
                    info_hash,
                    id,
                    url,
                    request,
                } => {
                    let reply = self.trackers.announce(url, request);
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
                Action::ReadPiece { info_hash, piece } => {
                    let Some((info, root)) = self.storage_of(info_hash) else {
                        continue;
                    };
                    let files = self.files.clone();
                    let read = async move {
                        let len = info.geometry.piece_len(piece);
                        disk::read(&files, &root, &info, piece, 0, len).await
                    };
                    spawn_then(rc, read, move |c, now, out, result| {
                        let ev = Event::PieceRead {
                            info_hash,
                            piece,
                            result,
                        };
                        c.on_event(now, ev, out);
                    });
                }
                Action::WritePiece {
                    info_hash,
                    piece,
                    data,
                } => {
                    let Some((info, root)) = self.storage_of(info_hash) else {
                        continue;
                    };
                    let write = async move { disk::write_piece(&root, &info, piece, data).await };
                    spawn_then(rc, write, move |c, now, out, result| {
                        let ev = Event::PieceWritten {
                            info_hash,
                            piece,
                            result,
                        };
                        c.on_event(now, ev, out);
                    });
                }
                Action::OpenStorage {
                    info_hash,
                    info,
                    info_bytes,
                    root,
                    save_meta,
                } => {
                    if save_meta {
                        self.queue_resume(ResumeJob::Set(meta_key(info_hash), info_bytes.to_vec()));
                    }
                    let root = PathBuf::from(root);
                    let (i2, r2) = (info.clone(), root.clone());
                    let prepare = async move { disk::prepare_files(&r2, &i2).await };
                    spawn_then(rc, prepare, move |c, now, out, result| {
                        c.on_event(now, Event::StorageOpened { info_hash, result }, out);
                    });
                    self.storage.insert(info_hash, Storage { info, root });
                }
                Action::CloseStorage {
                    info_hash,
                    delete_files,
                } => {
                    self.queue_resume(ResumeJob::Forget(info_hash));
                    if let Some(st) = self.storage.remove(&info_hash) {
                        let files = self.files.clone();
                        files.forget_under(&st.root);
                        if delete_files {
                            compio::runtime::spawn(async move {
                                disk::delete_files(&files, &st.root, &st.info).await;
                            })
                            .detach();
                        }
                    }
                }
                Action::SaveResume { id, torrents } => {
                    self.queue_resume(ResumeJob::Save {
                        id,
                        saves: torrents,
                    });
                }
                Action::MoveStorage {
                    info_hash,
                    info,
                    have,
                    from,
                    to,
                } => {
                    let (from, to) = (PathBuf::from(from), PathBuf::from(to));
                    self.files.forget_under(&from);
                    let work = async move {
                        let job = move || {
                            storage::move_torrent(&mut RealFiles, &info, &have, &from, &to, false)
                        };
                        match compio::runtime::spawn_blocking(job).await {
                            Ok(r) => r.map(|_| ()),
                            Err(_) => Err(DiskError("the move thread panicked".into())),
                        }
                    };
                    spawn_then(rc, work, move |c, now, out, result| {
                        c.on_event(now, Event::StorageMoved { info_hash, result }, out);
                    });
                }
            }
        }
        self.read_batched(rc, reads);
        for peer in slow {
            // Told on the next turn of the loop: the shard is borrowed here.
            spawn_then(rc, async {}, move |c, now, out, ()| {
                c.on_event(now, Event::Closed { peer }, out);
            });
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

    /// Queues a job for the resume writer and wakes it.
    fn queue_resume(&mut self, job: ResumeJob) {
        self.resume_jobs.push(job);
        // Full: wakes are pending, and the next takes this job too.
        let _ = self.resume.try_send(Wake::Work);
    }

    fn storage_of(&self, ih: InfoHash) -> Option<(Arc<Info>, PathBuf)> {
        self.storage
            .get(&ih)
            .map(|s| (s.info.clone(), s.root.clone()))
    }
}

/// Runs `work` (disk IO) as a task, then hands its outcome to the core through
/// `deliver`, on the shard thread, without awaiting under a borrow.
fn spawn_then<T: 'static>(
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

/// Starts the reader and writer tasks of an established connection.
fn attach(rc: &ShardRc, peer: PeerKey, stream: TcpStream) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, rx) = flume::bounded::<Vec<u8>>(SEND_QUEUE);
    let rc_r = rc.clone();
    let reader = compio::runtime::spawn(async move {
        // One buffer for the life of the connection.
        let mut buf = Vec::with_capacity(64 * 1024);
        loop {
            buf.clear();
            let BufResult(res, b) = rd.read(buf).await;
            buf = b;
            match res {
                Ok(n) if n > 0 => with_shard(&rc_r, |c, now, out| {
                    c.on_event(
                        now,
                        Event::Data {
                            peer,
                            bytes: &buf[..n],
                        },
                        out,
                    );
                }),
                _ => {
                    closed(&rc_r, peer);
                    return;
                }
            }
        }
    });
    let rc_w = rc.clone();
    let writer = compio::runtime::spawn(async move {
        while let Ok(mut bytes) = rx.recv_async().await {
            // Coalesce what is already queued into one write.
            while bytes.len() < 256 * 1024 {
                match rx.try_recv() {
                    Ok(more) => bytes.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            let n = bytes.len();
            let BufResult(res, _) = wr.write_all(bytes).await;
            if res.is_err() {
                closed(&rc_w, peer);
                return;
            }
            with_shard(&rc_w, |c, now, out| {
                c.on_event(now, Event::Sent { peer, bytes: n }, out);
            });
        }
    });
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
fn closed(rc: &ShardRc, peer: PeerKey) {
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

/// Small messages (requests, haves) go out at once. Failing only costs latency.
fn nodelay(stream: &TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY refused");
    }
}

/// A connection for a torrent of this shard: register it with the core and give the
/// core the bytes already read.
fn incoming(rc: &ShardRc, stream: TcpStream, addr: SocketAddr, first: &[u8]) {
    nodelay(&stream);
    let mut key = None;
    with_shard(rc, |c, now, _| key = c.on_incoming(now, addr));
    // Refused by the caps: the stream is dropped, which closes it.
    if key.is_none() {
        tracing::debug!(%addr, "incoming connection refused: connection caps");
    }
    if let Some(peer) = key {
        attach(rc, peer, stream);
        with_shard(rc, |c, now, out| {
            c.on_event(now, Event::Data { peer, bytes: first }, out);
        });
    }
}

/// Reads an accepted connection's handshake (10 s at most) and sends the connection
/// to the shard that owns the torrent it names; connections that do not start with a
/// BitTorrent handshake are closed.
async fn route(rc: ShardRc, routing: Rc<Routing>, mut stream: TcpStream, addr: SocketAddr) {
    let read = async {
        let mut first = Vec::new();
        while first.len() < crate::proto::HANDSHAKE_LEN {
            let BufResult(res, buf) = stream.read(Vec::with_capacity(4096)).await;
            match res {
                Ok(n) if n > 0 => first.extend_from_slice(&buf[..n]),
                _ => return None,
            }
        }
        Some(first)
    };
    let Ok(Some(first)) = compio::time::timeout(Duration::from_secs(10), read).await else {
        tracing::debug!(%addr, "incoming connection closed: no handshake in 10 s");
        return;
    };
    let Some(hs) = crate::proto::Handshake::decode(&first) else {
        tracing::debug!(%addr, "incoming connection closed: not a BitTorrent handshake");
        return;
    };
    let owner = shard_of(hs.info_hash, routing.n);
    if owner == routing.index {
        incoming(&rc, stream, addr, &first);
        return;
    }
    // The socket moves threads as a duplicated descriptor; ours closes on drop.
    use std::os::fd::AsFd;
    let fd = match stream.as_fd().try_clone_to_owned() {
        Ok(fd) => fd,
        Err(e) => {
            tracing::warn!(%addr, error = %e, "incoming connection dropped: cannot hand it over");
            return;
        }
    };
    drop(stream);
    let handoff = Handoff {
        stream: std::net::TcpStream::from(fd),
        addr,
        first,
    };
    if routing.senders[owner].try_send(handoff).is_err() {
        // The owner is behind or gone: the peer sees a close and may retry.
        tracing::warn!(%addr, shard = owner, "connection dropped: its shard takes no more");
    }
}

/// The shard's resume writer: at each wake, takes every queued job and carries
/// them out in order on the blocking pool. Metadata writes and deletions between
/// two saves go in one transaction.
///
/// A flush also waits for piece writes in flight (2 s at most) and saves what they
/// add, so that what is on disk when the engine stops is what its records say.
async fn resume_writer(rc: ShardRc, store: SharedStore, wakes: flume::Receiver<Wake>) {
    while let Ok(wake) = wakes.recv_async().await {
        run_resume_jobs(&rc, &store).await;
        let Wake::Flush(done) = wake else {
            continue;
        };
        #[allow(clippy::disallowed_methods)] // a bound on the wait, not the core's time
        let start = std::time::Instant::now();
        loop {
            let mut writing = 0;
            with_shard(&rc, |c, _, _| writing = c.writes_in_flight());
            if writing == 0 || start.elapsed() > Duration::from_secs(2) {
                break;
            }
            compio::time::sleep(Duration::from_millis(10)).await;
            with_shard(&rc, |c, _, out| c.save_changed(out));
            run_resume_jobs(&rc, &store).await;
        }
        // The engine may have stopped waiting.
        let _ = done.send(());
    }
}

/// Carries out every queued resume job, in order.
async fn run_resume_jobs(rc: &ShardRc, store: &SharedStore) {
    let jobs = std::mem::take(&mut rc.borrow_mut().resume_jobs);
    let mut ops = Vec::new();
    for job in jobs {
        match job {
            ResumeJob::Set(k, v) => ops.push(StoreOp::Set(k, v)),
            ResumeJob::Forget(ih) => ops.push(StoreOp::DeletePrefix(torrent_prefix(ih))),
            ResumeJob::Save { id, saves } => {
                commit(store, std::mem::take(&mut ops)).await;
                let n = saves.len();
                let store = store.clone();
                let work = move || storage::save_resume(&mut RealFiles, &*store, saves);
                let result = compio::runtime::spawn_blocking(work)
                    .await
                    .unwrap_or_else(|_| Err(DiskError("the save thread panicked".into())));
                match &result {
                    Ok(()) => tracing::debug!(id, torrents = n, "resume data saved"),
                    Err(e) => tracing::warn!(id, error = %e, "resume save failed: retried"),
                }
                with_shard(rc, |c, now, out| {
                    c.on_event(now, Event::ResumeSaved { id, result }, out);
                });
            }
        }
    }
    commit(store, ops).await;
}

/// Commits metadata writes and deletions in one transaction. A failure is logged:
/// a lost metadata write costs a magnet its metadata fetch again after a restart,
/// a lost deletion brings a removed torrent back at the next start.
async fn commit(store: &SharedStore, ops: Vec<StoreOp>) {
    if ops.is_empty() {
        return;
    }
    let store = store.clone();
    let n = ops.len();
    match compio::runtime::spawn_blocking(move || store.apply(ops)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "session store: {n} metadata changes lost"),
        Err(_) => tracing::error!("session store: the commit thread panicked"),
    }
}

/// Every second: tells the core about storage roots that went away or came back.
async fn watch_roots(rc: ShardRc) {
    loop {
        compio::time::sleep(Duration::from_secs(1)).await;
        let roots: Vec<PathBuf> = {
            let s = rc.borrow();
            let mut v: Vec<PathBuf> = s.storage.values().map(|st| st.root.clone()).collect();
            v.sort();
            v.dedup();
            v
        };
        let check = move || {
            roots
                .into_iter()
                .map(|r| {
                    let up = storage::root_available(&RealFiles, &r);
                    (r, up)
                })
                .collect::<Vec<_>>()
        };
        let Ok(states) = compio::runtime::spawn_blocking(check).await else {
            continue;
        };
        for (root, available) in states {
            let before = rc.borrow_mut().roots_seen.insert(root.clone(), available);
            if before.unwrap_or(true) != available {
                if available {
                    tracing::info!(root = %root.display(), "storage root is back");
                } else {
                    tracing::warn!(
                        root = %root.display(),
                        "storage root unavailable (its marker file is gone): its torrents stop"
                    );
                }
                let root = root.to_string_lossy().into_owned();
                with_shard(&rc, |c, now, out| {
                    c.on_event(now, Event::RootStatus { root, available }, out);
                });
            }
        }
    }
}

async fn run(
    shard: ShardRc,
    listener: Option<TcpListener>,
    routing: Routing,
    handoffs: flume::Receiver<Handoff>,
    commands: flume::Receiver<Command>,
) {
    let routing = Rc::new(routing);
    let rc = shard.clone();
    let _accept = listener.map(|listener| {
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
                compio::runtime::spawn(route(rc.clone(), routing.clone(), stream, addr)).detach();
            }
        })
    });
    let rc = shard.clone();
    let _handoffs = compio::runtime::spawn(async move {
        while let Ok(h) = handoffs.recv_async().await {
            match TcpStream::from_std(h.stream) {
                Ok(stream) => incoming(&rc, stream, h.addr, &h.first),
                Err(e) => tracing::warn!(addr = %h.addr, error = %e, "handed-over connection lost"),
            }
        }
    });
    let _roots = compio::runtime::spawn(watch_roots(shard.clone()));
    let rc = shard.clone();
    let _tick = compio::runtime::spawn(async move {
        loop {
            compio::time::sleep(Duration::from_millis(100)).await;
            with_shard(&rc, |c, now, out| c.on_tick(now, out));
        }
    });
    // A failed shard keeps taking commands until the engine goes, dropping each
    // unrun: its caller's answer channel closes and it reports the failure.
    while let Ok(cmd) = commands.recv_async().await {
        with_shard(&shard, cmd);
    }
    // The engine is gone: drop every connection (closing the sockets) and return.
    shard.borrow_mut().conns.clear();
}
