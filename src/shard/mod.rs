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

use compio::driver::{DriverType, ProactorBuilder};
use compio::net::{TcpListener, TcpStream};
use compio::runtime::{JoinHandle, Runtime, RuntimeBuilder};

use crate::core::{
    Action, CheckTurns, Command, Core, CoreConfig, DiskError, Event, PeerKey, Reply, ResumeSave,
    Verdict,
};
use crate::disk_uring::RealFiles;
use crate::disk_uring::io::{self as disk, FileCache};
pub use crate::disk_uring::write::WriteMode;
use crate::metainfo::Info;
use crate::proto::BlockRequest;
use crate::proto::tracker::TrackerError;
use crate::resume_lmdb::{SharedStore, StoreOp, forget_ops, meta_key, meta_ops, open_ops};
use crate::storage;
use crate::types::{InfoHash, Time};
use milestones::Milestones;
pub use milestones::{MILESTONE_QUEUE, MilestoneSender};

mod driver;
mod milestones;
mod names;
mod resume;
mod stat;
mod writes;

pub(crate) use names::{Merge, NameTable, read as names_read, write as names_write};

use crate::net::TrackerLink;
pub(crate) use driver::{Conn, Routing, Shard, ShardRc, run, with_shard};
pub(crate) use resume::{ResumeJob, Wake, resume_writer};

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
    /// How verified pieces reach their files.
    pub write_mode: WriteMode,
    /// Shard threads (0: one per available core).
    pub shards: usize,
    /// Where the session store (LMDB) lives; `None`: in memory, gone at exit.
    pub state_dir: Option<PathBuf>,
    /// How long a listen port found in use is tried again before giving up (see
    /// `bind`: a restart right after a crash on io_uring needs it).
    pub bind_patience: Duration,
    /// Where torrents' milestones go (the daemon's hooks), a queue of
    /// [`MILESTONE_QUEUE`]; `None`: nowhere.
    pub milestones: Option<MilestoneSender>,
    /// Where peers refused or banned are noted (the daemon's `log/peers`);
    /// `None`: nowhere.
    pub peer_log: Option<crate::peerlog::PeerLog>,
    /// The queue's limits from the start: torrents restored past them wait
    /// from the first moment (see `Engine::restore`).
    pub queue: crate::core::queue::QueueLimits,
}

impl ShardConfig {
    /// Defaults: listen on `listen`, automatic IO choice, one shard per core,
    /// 512 open files per shard, piece writes through the page cache, no state folder, 10 s of
    /// patience with a busy port.
    pub fn new(core: CoreConfig, listen: SocketAddr) -> ShardConfig {
        ShardConfig {
            core,
            listen,
            io: IoChoice::Auto,
            max_open_files: 512,
            write_mode: WriteMode::Cached,
            shards: 0,
            state_dir: None,
            bind_patience: Duration::from_secs(10),
            milestones: None,
            peer_log: None,
            queue: crate::core::queue::QueueLimits::default(),
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
pub(crate) struct Handoff {
    pub(crate) stream: HandoffStream,
    pub(crate) addr: SocketAddr,
    pub(crate) first: Vec<u8>,
    /// An MSE handshake the router answered until it knew the torrent.
    pub(crate) mse: Option<Box<crate::proto::mse::Responder>>,
}

/// How a handed-off connection travels.
pub(crate) enum HandoffStream {
    /// A duplicate of the accepted socket.
    Tcp(std::net::TcpStream),
    /// A uTP connection (channels to the uTP thread).
    Utp(crate::net::utp::UtpStream),
}

/// The shards' way to the uTP thread, set once it runs (see `spawn_all`).
pub(crate) type UtpSlot = Arc<std::sync::OnceLock<crate::net::utp::UtpLink>>;

/// An accepted uTP connection and its peer's address.
pub(crate) type UtpAccepted = (crate::net::utp::UtpStream, SocketAddr);

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

/// A command for a shard's core and where its answer goes: the [`Reply`], or the
/// message of the panic that failed the shard while running it.
pub(crate) struct Envelope {
    pub(crate) command: Command,
    /// Called once on the shard's thread with the core's reply, or why the
    /// shard failed: it sends the answer (or what the caller makes of it)
    /// back to the caller, or hands back the next command to run on this
    /// shard (a long list taken in pieces without a trip to the caller and
    /// back between them; the shard serves its peers between the two).
    pub(crate) answer: Answer,
}

/// What a shard calls with a command's reply (see [`Envelope`]).
pub(crate) type Answer = Box<dyn FnOnce(Result<Reply, String>) -> Option<Envelope> + Send>;

/// Commands waiting for a shard. Full: the engine's caller waits (back pressure);
/// a shard is never far behind its callers, so this only bounds bursts.
pub(crate) const COMMAND_QUEUE: usize = 1024;
/// Wakes waiting for a shard's resume writer. Full: the shard's wake is dropped,
/// which loses nothing: a writer with wakes pending takes every queued job at the
/// next one. (The jobs themselves wait in the shard, in order: at most one save,
/// the core keeps one in flight, plus one metadata write or deletion per torrent
/// added or removed since the writer's last pass, which takes them all in one
/// transaction.) The engine's flushes wait for room (back pressure).
pub(crate) const RESUME_WAKES: usize = 64;
/// Messages waiting for a connection's writer. The core keeps at most 1 MiB of
/// piece data unsent per peer (it waits for `Sent`), so only a peer that reads
/// nothing while being sent many small messages fills it. Full: the peer is
/// closed as too slow.
pub(crate) const SEND_QUEUE: usize = 4096;
/// Accepted connections on their way to their owning shard (a descriptor, an
/// address and the handshake's bytes: about 200 bytes each, about 1.2 KB with
/// an MSE answer in progress, so a full queue is 2 to 10 MiB). Sized for a
/// burst of connects to one popular seed while its shard is busy (5,000 at
/// once, every one for the same shard, with a loaded CPU). Full: the
/// connection is closed (the peer will retry), and the drops are counted in the
/// log.
pub(crate) const HANDOFF_QUEUE: usize = 8192;

/// The text of a panic payload.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Whether a shard is alive, seen from outside: set once, when its core panics.
#[derive(Debug, Default)]
pub(crate) struct ShardHealth {
    failed: std::sync::OnceLock<String>,
}

/// The engine's side of a running shard.
#[derive(Debug)]
pub(crate) struct ShardHandle {
    pub commands: flume::Sender<Envelope>,
    pub listen_addr: SocketAddr,
    /// `"io_uring"` or `"epoll"`.
    pub backend: &'static str,
    /// Why `auto` ended on epoll, if it did.
    pub fallback_reason: Option<String>,
    /// The core's peer id.
    pub peer_id: [u8; 20],
    /// Wakes the shard's resume writer (the engine flushes it at shutdown).
    pub resume: flume::Sender<Wake>,
    /// Every shard's torrents by name (several shards only): where a command
    /// naming a hybrid's alias goes.
    pub(crate) names: Option<Arc<NameTable>>,
    health: Arc<ShardHealth>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The last shard's handle only: waited for once its thread is joined
    /// (the handles go in order, so every shard's uTP link is gone by then).
    utp_stopped: Option<crate::net::utp::UtpStopped>,
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
        if let Some(utp) = self.utp_stopped.take() {
            utp.wait();
        }
    }
}

pub(crate) fn build_runtime(driver: Option<DriverType>) -> std::io::Result<Runtime> {
    let mut proactor = ProactorBuilder::new();
    if let Some(d) = driver {
        proactor.driver_type(d);
    }
    RuntimeBuilder::new().with_proactor(proactor).build()
}

/// Builds the runtime the choice allows: `(runtime, backend, fallback reason)`.
pub(crate) fn runtime_for(io: IoChoice) -> Result<(Runtime, Option<String>), StartError> {
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
pub(crate) fn os_random() -> u64 {
    // No randomness from the OS is a broken system: nothing can be secret then.
    getrandom::u64().expect("the operating system's random source works")
}

/// A peer id of the form `-SR0100-` + 12 random alphanumerics, unless the caller
/// set one of its own.
pub(crate) fn fresh_peer_id(cfg: &mut CoreConfig) {
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
    if cfg.secret == [0; 20] {
        getrandom::fill(&mut cfg.secret).expect("the operating system's random source works");
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
    let trackers = Arc::new(TrackerLink::new(source_ip(cfg.listen)));
    let names = (n > 1).then(|| Arc::new(NameTable::default()));
    // One line of check turns for every core: `checks_at_once` is the
    // engine's, however many shards it has.
    let turns = CheckTurns::new(cfg.core.checks_at_once);
    // uTP shares the peer port's number, known once shard 0 has bound it; its
    // accepted connections go to shard 0's router like TCP ones.
    let utp: UtpSlot = Arc::default();
    let (utp_accepted, utp_accepts) = flume::bounded(crate::net::utp::ACCEPTS);
    let mut utp_accepts = Some(utp_accepts);
    let mut utp_stopped = None;
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
            (names.clone(), turns.clone()),
            (utp.clone(), utp_accepts.take()),
        )?;
        if index == 0 {
            match crate::net::utp::start(h.listen_addr, utp_accepted.clone()) {
                Ok((link, stopped)) => {
                    if utp.set(link).is_err() {
                        tracing::debug!("utp: link set twice");
                    }
                    utp_stopped = Some(stopped);
                }
                Err(e) => {
                    tracing::warn!(addr = %h.listen_addr, error = %e, "utp: cannot bind the peer port over UDP; uTP is off");
                }
            }
        }
        port = h.listen_addr.port();
        handles.push(h);
    }
    // A `Vec` drops its items first to last: the last handle is dropped once
    // every other shard is joined.
    if let Some(last) = handles.last_mut() {
        last.utp_stopped = utp_stopped;
    }
    Ok(handles)
}

/// `spawn_one` waits for its shard's start-up answer before it returns.
const READY: &str = "spawn_one waits for the shard's answer";

/// Starts shard `index` of `n` on its own thread; it listens on `listen` if given.
#[allow(clippy::too_many_arguments)] // the shard's whole wiring, passed once at start
pub(crate) fn spawn_one(
    index: usize,
    n: usize,
    cfg: ShardConfig,
    listen: Option<SocketAddr>,
    handoffs: flume::Receiver<Handoff>,
    senders: Arc<Vec<flume::Sender<Handoff>>>,
    store: SharedStore,
    trackers: Arc<TrackerLink>,
    (names, turns): (Option<Arc<NameTable>>, CheckTurns),
    (utp, utp_accepts): (UtpSlot, Option<flume::Receiver<UtpAccepted>>),
) -> Result<ShardHandle, StartError> {
    let peer_id = cfg.core.peer_id;
    let (ready_tx, ready_rx) = flume::bounded(1);
    let (cmd_tx, cmd_rx) = flume::bounded::<Envelope>(COMMAND_QUEUE);
    let (resume_tx, resume_rx) = flume::bounded::<Wake>(RESUME_WAKES);
    let health = Arc::new(ShardHealth::default());
    let health2 = health.clone();
    let resume_tx2 = resume_tx.clone();
    let names2 = names.clone();
    let thread = std::thread::Builder::new()
        .name(format!("sr-shard-{index:02}"))
        .spawn(move || {
            let (rt, reason) = match runtime_for(cfg.io) {
                Ok(x) => x,
                Err(e) => {
                    ready_tx.send(Err(e)).expect(READY);
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
                            ready_tx
                                .send(Err(StartError::Listen { addr, error }))
                                .expect(READY);
                            return;
                        }
                    },
                };
                // A shard without the listener has the port shard 0 bound
                // (`spawn_all`), not the configured one (0: any free port).
                let addr = listener
                    .as_ref()
                    .and_then(|l| l.local_addr().ok())
                    .unwrap_or(SocketAddr::new(cfg.listen.ip(), cfg.core.listen_port));
                let mut core_cfg = cfg.core;
                core_cfg.listen_port = addr.port();
                let shard = Rc::new(RefCell::new(Shard::new(
                    core_cfg,
                    (cfg.max_open_files, cfg.write_mode),
                    resume_tx2,
                    health2,
                    trackers,
                    store.clone(),
                )));
                shard.borrow_mut().core.share_check_turns(turns);
                shard.borrow_mut().utp = utp;
                shard.borrow_mut().source = source_ip(cfg.listen);
                shard.borrow_mut().milestones = Milestones::new(cfg.milestones);
                shard.borrow_mut().peer_log.clone_from(&cfg.peer_log);
                match &reason {
                    Some(why) => tracing::warn!(shard = index, %addr, "io: epoll ({why})"),
                    None => tracing::info!(shard = index, %addr, "io: {backend}"),
                }
                ready_tx.send(Ok((addr, backend, reason))).expect(READY);
                if let Some(table) = &names {
                    let mut s = shard.borrow_mut();
                    s.core.follow_wire_names();
                    s.names = Some(table.clone());
                }
                let routing = Routing {
                    index,
                    n,
                    senders,
                    names: names.clone(),
                };
                let _resume =
                    compio::runtime::spawn(resume_writer(shard.clone(), store, resume_rx));
                run(shard, (listener, utp_accepts), routing, handoffs, cmd_rx).await;
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
            names: names2,
            health,
            thread: Some(thread),
            utp_stopped: None,
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
pub(crate) async fn bind(addr: SocketAddr, patience: Duration) -> std::io::Result<TcpListener> {
    #[allow(clippy::disallowed_methods)] // a bound on start-up, not the core's time
    let start = std::time::Instant::now();
    let mut said = false;
    loop {
        match listen_on(addr) {
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

/// The address outgoing peer connections, announces and web seed fetches
/// leave from: the listen address when it names one (traffic meant for a VPN's
/// address stays on it), none for an unspecified one (`0.0.0.0`, `[::]`).
pub(crate) fn source_ip(listen: SocketAddr) -> Option<std::net::IpAddr> {
    let ip = listen.ip().to_canonical();
    (!ip.is_unspecified()).then_some(ip)
}

/// A listening socket on `addr`. `[::]` takes IPv4 peers as well (dual-stack,
/// whatever the system's `net.ipv6.bindv6only` says); on a machine without
/// IPv6 at all it falls back to `0.0.0.0` on the same port, said in the log.
fn listen_on(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let open = |addr: SocketAddr| -> std::io::Result<std::net::TcpListener> {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        if addr.is_ipv6() && addr.ip().is_unspecified() {
            s.set_only_v6(false)?;
        }
        s.set_nonblocking(true)?;
        s.bind(&addr.into())?;
        // Connections waiting to be accepted: a busy seed is dialled in bursts.
        s.listen(1024)?;
        Ok(s.into())
    };
    let any6 = addr.is_ipv6() && addr.ip().is_unspecified();
    let l = match open(addr) {
        // No IPv6 in this kernel (EAFNOSUPPORT), or none configured (EADDRNOTAVAIL).
        Err(e)
            if any6
                && matches!(
                    e.raw_os_error(),
                    Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL)
                ) =>
        {
            let v4 = SocketAddr::from(([0, 0, 0, 0], addr.port()));
            tracing::warn!(%addr, error = %e, "no IPv6 here: listening on {v4}, IPv4 peers only");
            open(v4)?
        }
        r => r?,
    };
    TcpListener::from_std(l)
}
