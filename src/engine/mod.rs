//! The public engine handle and its presets.
//!
//! What it owns: the one API every preset offers: add, remove, pause, resume,
//! recheck, limits, file priorities, peers, stats. The presets differ only in the
//! driver under the same core:
//!
//! - [`Engine::memory`]: the sim driver, whole swarms in one thread (tests, benches);
//! - [`Engine::auto`], [`Engine::uring`], [`Engine::epoll`]: compio shard threads on
//!   real sockets and files, differing only in which IO backend they allow.
//!
//! The handle: an [`Engine`] is a cheap `Clone + Send + Sync` handle (an `Arc`);
//! every clone drives the same engine, and the last one to go saves everything
//! ([`Engine::flush`]) and stops the shards. Each operation exists as an `async`
//! method (`*_async`, for tokio or compio tasks: it never blocks the caller's
//! thread) and as a blocking method of the plain name (for the command line and
//! tests; never call those from inside an async task).
//!
//! Each call runs one command on the core that owns the torrent at the driver's
//! current time and hands the resulting actions straight to the driver, so an
//! engine is consistent between calls. On shards, the command travels over the
//! shard's bounded command channel (a full channel makes the caller wait: back
//! pressure) and the answer comes back on a channel of its own. A shard that
//! panicked answers nothing more: its calls return [`EngineError::ShardFailed`]
//! with the panic's message, and [`Engine::failed_shards`] lists it; the other
//! shards go on.

mod blocking;
mod calls;
pub mod catalog;
mod details;
pub mod discovery;
mod merge;
mod pieces;
mod placement;
pub mod queue;
mod restore;
mod restore_read;
mod storage;

use core::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

pub use calls::ChangedStats;
pub use pieces::StatsPiece;
pub use placement::DownloadRoot;
pub use restore::RestoreReport;
pub use storage::RootStatus;

use crate::core::{Command, CommandError, CoreConfig, Reply};
use crate::resume_lmdb::{MemorySessionStore, SharedStore};
use crate::roots::StorageRootManager;
use crate::shard::{self, Envelope, IoChoice, ShardConfig, ShardHandle, StartError};
use crate::sim::SimWorld;
use crate::types::InfoHash;

/// Why an engine call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The core refused the command (unknown torrent, bad argument, ...).
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The shard that owns the torrent has failed (it panicked) and answers no more.
    #[error("shard {shard} has failed: {reason}")]
    ShardFailed {
        /// Which shard.
        shard: usize,
        /// What it died of (the panic message).
        reason: String,
    },
    /// A category or tag change was refused.
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    /// A core answered a command with a reply of another kind: a bug in seedring.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A shard that failed, for [`Engine::failed_shards`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardFailure {
    /// Which shard.
    pub shard: usize,
    /// Why (the panic message).
    pub reason: String,
}

pub(crate) enum Backend {
    Memory {
        world: SimWorld,
        node: usize,
    },
    Shards {
        shards: Vec<ShardHandle>,
        caps: Mutex<GlobalCaps>,
    },
}

/// Global rate caps and where torrents live: a cap is shared out equally between the
/// shards that hold at least one torrent.
#[derive(Debug, Default)]
pub(crate) struct GlobalCaps {
    download: u64,
    upload: u64,
    torrents: Vec<usize>,
}

/// What every clone of a handle shares.
pub(crate) struct Inner {
    backend: Backend,
    store: SharedStore,
    roots: Mutex<StorageRootManager>,
    catalog: Mutex<catalog::Catalog>,
    /// The place in the queue the next torrent added takes.
    next_queue_pos: std::sync::atomic::AtomicU64,
    /// The queue's limits.
    queue: Mutex<crate::core::queue::QueueLimits>,
    report: OnceLock<RestoreReport>,
    /// A simulated crash: nothing is saved when the engine goes.
    crashed: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.crashed.load(Ordering::Relaxed) {
            // The last handle is going: everything the shards know is saved. A shard
            // that has failed cannot save; its torrents keep their last saves.
            if let Err(err) = pollster::block_on(self.flush()) {
                tracing::error!(error = %err, "final save incomplete");
            }
        }
    }
}

impl Inner {
    fn shards(&self) -> usize {
        match &self.backend {
            Backend::Memory { .. } => 1,
            Backend::Shards { shards, .. } => shards.len(),
        }
    }

    fn shard_index(&self, ih: InfoHash) -> usize {
        match &self.backend {
            Backend::Memory { .. } => 0,
            Backend::Shards { shards, .. } => {
                // A hybrid's alias goes to its torrent's shard.
                let table = shards.first().and_then(|s| s.names.as_deref());
                let ih = table.map_or(ih, |t| shard::names_read(t).resolve(ih));
                shard::shard_of(ih, shards.len())
            }
        }
    }

    /// The shards' names table (several shards only: one core keeps its own
    /// names).
    fn names(&self) -> Option<&shard::NameTable> {
        match &self.backend {
            Backend::Memory { .. } => None,
            Backend::Shards { shards, .. } => shards.first()?.names.as_deref(),
        }
    }

    /// The torrent `name` names on some shard (its id or a hybrid's alias),
    /// if any shard has taken it (several shards only: one core checks its
    /// own names itself).
    fn named(&self, name: InfoHash) -> Option<InfoHash> {
        let Backend::Shards { shards, .. } = &self.backend else {
            return None;
        };
        let names = shard::names_read(shards.first()?.names.as_deref()?);
        names
            .by_req2(&crate::core::req2(name))
            .map(|_| names.resolve(name))
    }

    /// Runs the command `make` gives on every core, collecting the answers.
    /// The shards work at once: every command is sent before any reply is
    /// awaited.
    async fn on_all(&self, make: impl Fn() -> Command) -> Result<Vec<Reply>, EngineError> {
        self.on_each((0..self.shards()).map(|_| make()).collect())
            .await
    }

    /// Runs `commands[i]` on shard `i`, all at once, collecting the answers.
    async fn on_each(&self, commands: Vec<Command>) -> Result<Vec<Reply>, EngineError> {
        let asks: Vec<_> = commands
            .into_iter()
            .enumerate()
            .map(|(i, c)| self.on_shard(i, c))
            .collect();
        futures_util::future::join_all(asks)
            .await
            .into_iter()
            .collect()
    }

    /// Runs `command` on shard `index`'s core and awaits its reply.
    async fn on_shard(&self, index: usize, command: Command) -> Result<Reply, EngineError> {
        let rx = self.send_now(index, command).await?;
        self.answer_of(index, rx).await
    }

    /// Sends `command` to shard `index` now; its answer comes on the channel
    /// returned (bound 1: the one answer), read with `answer_of` when the
    /// caller is ready.
    async fn send_now(
        &self,
        index: usize,
        command: Command,
    ) -> Result<flume::Receiver<Result<Reply, String>>, EngineError> {
        let (tx, rx) = flume::bounded(1);
        let answer: shard::Answer = Box::new(move |reply| {
            if tx.send(reply).is_err() {
                tracing::debug!("a command's answer found no caller (its future was dropped)");
            }
            None
        });
        self.send_envelope(index, Envelope { command, answer })
            .await?;
        Ok(rx)
    }

    /// Hands `env` to shard `index` (the memory backend runs it, and every
    /// command its answers ask for, at once).
    async fn send_envelope(&self, index: usize, env: Envelope) -> Result<(), EngineError> {
        match &self.backend {
            Backend::Memory { world, node } => {
                let mut next = Some(env);
                while let Some(Envelope { command, answer }) = next {
                    next = answer(Ok(world.run_command(*node, command)));
                }
                Ok(())
            }
            Backend::Shards { shards, .. } => (shards[index].commands.send_async(env).await)
                .map_err(|_| self.shard_failed(index, None)),
        }
    }

    /// What an envelope's answer sends on `rx`: the answer, or why shard
    /// `index` failed.
    async fn answer_of<T>(
        &self,
        index: usize,
        rx: flume::Receiver<Result<T, String>>,
    ) -> Result<T, EngineError> {
        match rx.recv_async().await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(why)) => Err(self.shard_failed(index, Some(why))),
            Err(_) => Err(self.shard_failed(index, None)),
        }
    }

    /// Shard `index` failed: `reason`, or what it said when it failed.
    fn shard_failed(&self, index: usize, reason: Option<String>) -> EngineError {
        let said = match &self.backend {
            Backend::Shards { shards, .. } => shards[index].failure(),
            Backend::Memory { .. } => None,
        };
        EngineError::ShardFailed {
            shard: index,
            reason: reason
                .or(said)
                .unwrap_or_else(|| "the shard stopped".into()),
        }
    }

    /// Saves every torrent now and waits until the saves are committed.
    async fn flush(&self) -> Result<(), EngineError> {
        let saved = self.on_all(|| Command::SaveAll).await;
        if let Backend::Shards { shards, .. } = &self.backend {
            for h in shards {
                // A shard's resume queue answers once every job before is done.
                let (tx, rx) = flume::bounded(1);
                let answered = h.resume.send_async(shard::Wake::Flush(tx)).await.is_ok()
                    && rx.recv_async().await.is_ok();
                if !answered {
                    // Its shard has failed: what it had not saved stays unsaved.
                    tracing::warn!(reason = ?h.failure(), "a shard's resume writer did not flush");
                }
            }
        }
        saved.map(drop)
    }
}

/// A running engine: a cheap handle, `Clone + Send + Sync`.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Engine({} at {})", self.io_backend(), self.listen_addr())
    }
}

impl Engine {
    /// The memory preset: an engine in `world` (sim driver, memory filesystem,
    /// memory network). Its address is on loopback, unique in the world.
    pub fn memory(world: &SimWorld, cfg: CoreConfig) -> Engine {
        Self::memory_with_store(world, cfg, MemorySessionStore::default())
    }

    /// The memory preset on a given session store (clones share data, so a test can
    /// look into it). Whatever the store holds is restored.
    pub fn memory_with_store(
        world: &SimWorld,
        cfg: CoreConfig,
        store: MemorySessionStore,
    ) -> Engine {
        let node = world.add_node(cfg, store.clone());
        Self::assemble(
            Backend::Memory {
                world: world.clone(),
                node,
            },
            Arc::new(store),
            crate::core::queue::QueueLimits::default(),
        )
    }

    /// A simulated crash of a memory engine and its restart: connections break,
    /// writes not yet synced are kept, lost or torn, nothing is saved on the way
    /// down, and a fresh engine on the same node restores from the store. Returns
    /// the new engine and what the crash did to the unsynced writes.
    ///
    /// # Panics
    /// If this is not a memory engine, or other clones of this handle still live.
    pub fn memory_crash_restart(self, cfg: CoreConfig) -> (Engine, crate::sim::CrashLoss) {
        let Backend::Memory { world, node } = &self.inner.backend else {
            panic!("memory_crash_restart needs a memory engine");
        };
        assert_eq!(
            Arc::strong_count(&self.inner),
            1,
            "a crash takes every handle of the engine down"
        );
        let (world, node) = (world.clone(), *node);
        self.inner.crashed.store(true, Ordering::Relaxed);
        let store = self.inner.store.clone();
        drop(self);
        let loss = world.lock().crash(node, cfg);
        let queue = crate::core::queue::QueueLimits::default();
        let e = Self::assemble(Backend::Memory { world, node }, store, queue);
        (e, loss)
    }

    fn assemble(
        backend: Backend,
        store: SharedStore,
        queue: crate::core::queue::QueueLimits,
    ) -> Engine {
        let e = Engine {
            inner: Arc::new(Inner {
                backend,
                store,
                roots: Mutex::new(StorageRootManager::default()),
                catalog: Mutex::new(catalog::Catalog::default()),
                next_queue_pos: std::sync::atomic::AtomicU64::new(1),
                queue: Mutex::new(queue),
                report: OnceLock::new(),
                crashed: AtomicBool::new(false),
            }),
        };
        let report = e.restore();
        e.inner.report.set(report).expect("restored once");
        // The restore's records and adds are freed now; the allocator keeps the
        // pages unless told (100,000 torrents: ~250 MiB held for nothing).
        // SAFETY: malloc_trim has no preconditions; it only returns free memory.
        unsafe { libc::malloc_trim(0) };
        e
    }

    /// What the last start restored from the session store.
    pub fn restore_report(&self) -> &RestoreReport {
        self.inner.report.get().expect("set at start")
    }

    /// io_uring where the kernel and sandbox allow it, epoll otherwise
    /// ([`Engine::io_fallback_reason`] says why).
    pub fn auto(cfg: ShardConfig) -> Result<Engine, StartError> {
        Self::start(cfg, IoChoice::Auto)
    }

    /// io_uring, or a clear [`StartError`]: never a silent fallback.
    pub fn uring(cfg: ShardConfig) -> Result<Engine, StartError> {
        Self::start(cfg, IoChoice::Uring)
    }

    /// epoll (and compio's blocking pool for files), never io_uring.
    pub fn epoll(cfg: ShardConfig) -> Result<Engine, StartError> {
        Self::start(cfg, IoChoice::Epoll)
    }

    /// The preset for `io`: `cfg.shards` shard threads (one per core when 0).
    pub fn start(mut cfg: ShardConfig, io: IoChoice) -> Result<Engine, StartError> {
        cfg.io = io;
        // Global caps are applied by the engine across shards, not per shard.
        let caps = GlobalCaps {
            download: std::mem::take(&mut cfg.core.download_rate_limit),
            upload: std::mem::take(&mut cfg.core.upload_rate_limit),
            torrents: Vec::new(),
        };
        let store: SharedStore = match &cfg.state_dir {
            Some(dir) => {
                let (store, aside) = crate::resume_lmdb::damaged::open_or_set_aside(dir)
                    .map_err(StartError::Store)?;
                if let Some(a) = aside {
                    tracing::error!(
                        why = %a.why,
                        moved_to = %a.moved_to.display(),
                        "the session store could not be read and was set aside: its torrents are not restored (add them again: their data on disk is kept and checked); starting with an empty store"
                    );
                }
                Arc::new(store)
            }
            None => Arc::new(MemorySessionStore::default()),
        };
        let queue = cfg.queue;
        let shards = shard::spawn_all(cfg, &store)?;
        let n = shards.len();
        let e = Self::assemble(
            Backend::Shards {
                shards,
                caps: Mutex::new(GlobalCaps {
                    torrents: vec![0; n],
                    ..caps
                }),
            },
            store,
            queue,
        );
        e.share_caps();
        Ok(e)
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    pub(crate) fn store(&self) -> &SharedStore {
        &self.inner.store
    }

    pub(crate) fn roots_lock(&self) -> MutexGuard<'_, StorageRootManager> {
        // The manager holds plain data that every method leaves consistent.
        self.inner
            .roots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many shard threads run this engine (1 for the memory preset).
    pub fn shards(&self) -> usize {
        self.inner.shards()
    }

    /// How many torrents each shard holds (one entry for the memory preset).
    pub fn torrents_per_shard(&self) -> Vec<usize> {
        match self.backend() {
            Backend::Memory { .. } => vec![self.torrents().map_or(0, |t| t.len())],
            Backend::Shards { caps, .. } => caps
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .torrents
                .clone(),
        }
    }

    /// Shards that have failed, with why. Their torrents answer
    /// [`EngineError::ShardFailed`]; the other shards go on.
    pub fn failed_shards(&self) -> Vec<ShardFailure> {
        let Backend::Shards { shards, .. } = self.backend() else {
            return Vec::new();
        };
        shards
            .iter()
            .enumerate()
            .filter_map(|(shard, h)| h.failure().map(|reason| ShardFailure { shard, reason }))
            .collect()
    }

    /// The global download and upload caps (bytes per second, 0 = none) the
    /// engine shares out between its shards; `None` for the memory preset,
    /// whose one core holds them.
    pub fn global_limits(&self) -> Option<(u64, u64)> {
        let Backend::Shards { caps, .. } = self.backend() else {
            return None;
        };
        let c = caps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some((c.download, c.upload))
    }

    /// Hands each shard its part of the global caps (blocking: start-up).
    fn share_caps(&self) {
        pollster::block_on(self.share_caps_async());
    }

    /// Hands each shard its part of the global caps.
    async fn share_caps_async(&self) {
        let Backend::Shards { shards, caps } = self.backend() else {
            return;
        };
        let (down, up, active) = {
            let c = caps
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let active = c.torrents.iter().filter(|&&t| t > 0).count().max(1) as u64;
            (c.download, c.upload, active)
        };
        let part = |cap: u64| if cap == 0 { 0 } else { (cap / active).max(1) };
        for i in 0..shards.len() {
            let (d, u) = (part(down), part(up));
            let set = Command::SetGlobalLimits {
                download: d,
                upload: u,
            };
            if let Err(e) = self.inner.on_shard(i, set).await {
                // A failed shard has no torrents left to limit.
                tracing::debug!(shard = i, error = %e, "global caps not handed to a failed shard");
            }
        }
    }

    fn shard_index(&self, ih: InfoHash) -> usize {
        self.inner.shard_index(ih)
    }

    /// `"memory"`, `"io_uring"` or `"epoll"`.
    pub fn io_backend(&self) -> &'static str {
        match self.backend() {
            Backend::Memory { .. } => "memory",
            Backend::Shards { shards, .. } => shards.first().map_or("stopped", |s| s.backend),
        }
    }

    /// Why an `auto` engine runs on epoll, if it does.
    pub fn io_fallback_reason(&self) -> Option<&str> {
        match self.backend() {
            Backend::Memory { .. } => None,
            Backend::Shards { shards, .. } => shards.first()?.fallback_reason.as_deref(),
        }
    }

    /// The sim node behind a memory engine (for `SimWorld`'s test helpers).
    pub(crate) fn sim_node(&self) -> Option<usize> {
        match self.backend() {
            Backend::Memory { node, .. } => Some(*node),
            Backend::Shards { .. } => None,
        }
    }

    /// Counts a torrent in its shard; whether the set of shards holding torrents
    /// changed (the caps must then be shared out again).
    fn tally_torrent(&self, ih: InfoHash, added: bool) -> bool {
        self.tally_at(self.shard_index(ih), added)
    }

    /// [`Engine::tally_torrent`] on shard `i`.
    fn tally_at(&self, i: usize, added: bool) -> bool {
        let Backend::Shards { caps, .. } = self.backend() else {
            return false;
        };
        let mut c = caps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = c.torrents[i];
        c.torrents[i] = if added {
            before + 1
        } else {
            before.saturating_sub(1)
        };
        (before == 0) != (c.torrents[i] == 0)
    }

    async fn count_torrent(&self, ih: InfoHash, added: bool) {
        self.count_torrent_at(self.shard_index(ih), added).await;
    }

    /// [`Engine::count_torrent`] on shard `i`.
    async fn count_torrent_at(&self, i: usize, added: bool) {
        if self.tally_at(i, added) {
            self.share_caps_async().await;
        }
    }

    /// Runs `command` on the core that owns `ih`, waiting for the answer.
    fn ask_blocking(&self, ih: InfoHash, command: Command) -> Result<Reply, EngineError> {
        pollster::block_on(self.ask(ih, command))
    }

    /// Runs `command` on the core that owns `ih`, awaiting the answer.
    async fn ask(&self, ih: InfoHash, command: Command) -> Result<Reply, EngineError> {
        let i = self.shard_index(ih);
        self.inner.on_shard(i, command).await
    }

    /// Runs `command` on shard `index`, waiting for the answer.
    fn on_shard(&self, index: usize, command: Command) -> Result<Reply, EngineError> {
        pollster::block_on(self.inner.on_shard(index, command))
    }

    /// The peer id this engine uses (trackers need it).
    pub fn peer_id(&self) -> [u8; 20] {
        match self.backend() {
            Backend::Memory { world, node } => world.lock().nodes[*node].core.config().peer_id,
            Backend::Shards { shards, .. } => shards.first().map_or([0; 20], |s| s.peer_id),
        }
    }

    /// Where this engine accepts connections.
    pub fn listen_addr(&self) -> SocketAddr {
        match self.backend() {
            Backend::Memory { world, node } => world.lock().nodes[*node].addr,
            Backend::Shards { shards, .. } => shards
                .first()
                .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |s| s.listen_addr),
        }
    }
}

#[cfg(test)]
mod tests;

/// Runs `f` for a caller on a shard's thread: a panic in it is the caller's
/// failure (its message), not the shard's.
pub(crate) fn shard_side<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|p| format!("its answer failed: {}", shard::panic_message(&*p)))
}
