//! The public engine handle and its presets.
//!
//! What it owns: the one API every preset offers: add, remove, pause, resume,
//! recheck, limits, file priorities, peers, stats. The presets differ only in the
//! driver under the same core:
//!
//! - [`Engine::memory`]: the sim driver, whole swarms in one thread (tests, benches);
//! - [`Engine::auto`], [`Engine::uring`], [`Engine::epoll`]: a compio shard thread on
//!   real sockets and files, differing only in which IO backend they allow.
//!
//! Each call runs the core command at the driver's current time and hands the
//! resulting actions straight to the driver, so an engine is always consistent
//! between calls. On a shard, the call travels over a channel and waits for the
//! shard to answer.

mod restore;
mod storage;

use core::net::SocketAddr;
use std::cell::RefCell;
use std::sync::Arc;

pub use restore::RestoreReport;
pub use storage::RootStatus;

use crate::core::{
    Action, AddTorrent, Bitfield, CommandError, ConnectionCounts, Core, CoreConfig, PeerStats,
    TorrentStats,
};
use crate::resume_lmdb::{LmdbSessionStore, MemorySessionStore, SharedStore};
use crate::roots::StorageRootManager;
use crate::shard::{self, IoChoice, ShardConfig, ShardHandle, StartError};
use crate::sim::{SimWorld, World};
use crate::types::{InfoHash, Time};

enum Backend {
    Memory {
        world: SimWorld,
        node: usize,
    },
    Shards {
        shards: Vec<ShardHandle>,
        caps: std::cell::RefCell<GlobalCaps>,
    },
}

/// Global rate caps and where torrents live: a cap is shared out equally between the
/// shards that hold at least one torrent.
#[derive(Debug, Default)]
struct GlobalCaps {
    download: u64,
    upload: u64,
    torrents: Vec<usize>,
}

/// A running engine.
pub struct Engine {
    backend: Backend,
    store: SharedStore,
    roots: RefCell<StorageRootManager>,
    report: RestoreReport,
    /// A simulated crash: nothing is saved when this handle goes.
    crashed: bool,
}

impl Drop for Engine {
    fn drop(&mut self) {
        if !self.crashed {
            self.flush();
        }
    }
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
        )
    }

    /// A simulated crash of a memory engine and its restart: connections break,
    /// writes not yet synced are kept, lost or torn, nothing is saved on the way
    /// down, and a fresh engine on the same node restores from the store. Returns
    /// the new engine and what the crash did to the unsynced writes.
    pub fn memory_crash_restart(mut self, cfg: CoreConfig) -> (Engine, crate::sim::CrashLoss) {
        let Backend::Memory { world, node } = &self.backend else {
            panic!("memory_crash_restart needs a memory engine");
        };
        let (world, node) = (world.clone(), *node);
        self.crashed = true;
        let store = self.store.clone();
        drop(self);
        let loss = world.inner.borrow_mut().crash(node, cfg);
        let e = Self::assemble(Backend::Memory { world, node }, store);
        (e, loss)
    }

    fn assemble(backend: Backend, store: SharedStore) -> Engine {
        let mut e = Engine {
            backend,
            store,
            roots: RefCell::new(StorageRootManager::default()),
            report: RestoreReport::default(),
            crashed: false,
        };
        e.report = e.restore();
        e
    }

    /// What the last start restored from the session store.
    pub fn restore_report(&self) -> &RestoreReport {
        &self.report
    }

    /// Saves every torrent now and waits until the saves are committed (also done
    /// when the engine is dropped).
    pub fn flush(&self) {
        let _ = self.on_all(|c, _, out| c.save_all(out));
        if let Backend::Shards { shards, .. } = &self.backend {
            for h in shards {
                let (tx, rx) = flume::bounded(1);
                if h.resume.send(shard::ResumeJob::Flush(tx)).is_ok() {
                    let _ = rx.recv();
                }
            }
        }
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
            Some(dir) => Arc::new(LmdbSessionStore::open(dir).map_err(StartError::Store)?),
            None => Arc::new(MemorySessionStore::default()),
        };
        let shards = shard::spawn_all(cfg, &store)?;
        let n = shards.len();
        let e = Self::assemble(
            Backend::Shards {
                shards,
                caps: std::cell::RefCell::new(GlobalCaps {
                    torrents: vec![0; n],
                    ..caps
                }),
            },
            store,
        );
        e.share_caps();
        Ok(e)
    }

    /// How many shard threads run this engine (1 for the memory preset).
    pub fn shards(&self) -> usize {
        match &self.backend {
            Backend::Memory { .. } => 1,
            Backend::Shards { shards, .. } => shards.len(),
        }
    }

    /// Hands each shard its part of the global caps.
    fn share_caps(&self) {
        let Backend::Shards { shards, caps } = &self.backend else {
            return;
        };
        let (down, up, active) = {
            let c = caps.borrow();
            let active = c.torrents.iter().filter(|&&t| t > 0).count().max(1) as u64;
            (c.download, c.upload, active)
        };
        let part = |cap: u64| if cap == 0 { 0 } else { (cap / active).max(1) };
        for i in 0..shards.len() {
            let (d, u) = (part(down), part(up));
            self.on_shard(i, move |c, now, _| c.set_global_limits(now, d, u));
        }
    }

    fn shard_index(&self, ih: InfoHash) -> usize {
        match &self.backend {
            Backend::Memory { .. } => 0,
            Backend::Shards { shards, .. } => shard::shard_of(ih, shards.len()),
        }
    }

    /// `"memory"`, `"io_uring"` or `"epoll"`.
    pub fn io_backend(&self) -> &'static str {
        match &self.backend {
            Backend::Memory { .. } => "memory",
            Backend::Shards { shards, .. } => shards[0].backend,
        }
    }

    /// Why an `auto` engine runs on epoll, if it does.
    pub fn io_fallback_reason(&self) -> Option<&str> {
        match &self.backend {
            Backend::Memory { .. } => None,
            Backend::Shards { shards, .. } => shards[0].fallback_reason.as_deref(),
        }
    }

    /// The sim node behind a memory engine (for `SimWorld`'s test helpers).
    pub(crate) fn sim_node(&self) -> Option<usize> {
        match &self.backend {
            Backend::Memory { node, .. } => Some(*node),
            Backend::Shards { .. } => None,
        }
    }

    /// Runs `f` on the core that owns `ih`.
    fn with<R: Send + 'static>(
        &self,
        ih: InfoHash,
        f: impl FnOnce(&mut Core, Time, &mut Vec<Action>) -> R + Send + 'static,
    ) -> R {
        self.on_shard(self.shard_index(ih), f)
    }

    /// Runs `f` on every core, collecting the answers.
    fn on_all<R: Send + 'static>(
        &self,
        f: impl Fn(&mut Core, Time, &mut Vec<Action>) -> R + Send + Clone + 'static,
    ) -> Vec<R> {
        (0..self.shards())
            .map(|i| self.on_shard(i, f.clone()))
            .collect()
    }

    fn on_shard<R: Send + 'static>(
        &self,
        index: usize,
        f: impl FnOnce(&mut Core, Time, &mut Vec<Action>) -> R + Send + 'static,
    ) -> R {
        match &self.backend {
            Backend::Memory { world, node } => {
                let mut w = world.inner.borrow_mut();
                let now = w.now;
                let mut out = Vec::new();
                let r = f(&mut w.nodes[*node].core, now, &mut out);
                World::apply(&mut w, *node, out);
                r
            }
            Backend::Shards { shards, .. } => {
                let h = &shards[index];
                let (tx, rx) = flume::bounded(1);
                let cmd: shard::Command = Box::new(move |core, now, out| {
                    let _ = tx.send(f(core, now, out));
                });
                h.commands
                    .send(cmd)
                    .expect("the shard thread runs as long as its engine");
                rx.recv().expect("the shard answers every command")
            }
        }
    }

    /// The peer id this engine uses (trackers need it).
    pub fn peer_id(&self) -> [u8; 20] {
        match &self.backend {
            Backend::Memory { world, node } => {
                world.inner.borrow().nodes[*node].core.config().peer_id
            }
            Backend::Shards { shards, .. } => shards[0].peer_id,
        }
    }

    /// Where this engine accepts connections.
    pub fn listen_addr(&self) -> SocketAddr {
        match &self.backend {
            Backend::Memory { world, node } => world.inner.borrow().nodes[*node].addr,
            Backend::Shards { shards, .. } => shards[0].listen_addr,
        }
    }

    /// Adds a torrent. `add.root` names a storage root by token, or a folder (made
    /// a root of its own if no root has that path), or nothing (the default root).
    pub fn add_torrent(&self, mut add: AddTorrent) -> Result<InfoHash, CommandError> {
        let ih = match &add.source {
            crate::core::TorrentSource::Metainfo(m) => m.info_hash,
            crate::core::TorrentSource::Magnet(m) => m.info_hash,
        };
        let root = self.resolve_root(&add.root)?;
        if !self.root_available(&root.path) {
            return Err(CommandError::BadArgument(format!(
                "storage root {:?} ({}) is unavailable",
                root.token,
                root.path.display()
            )));
        }
        add.root = root.path.to_string_lossy().into_owned();
        add.root_token.clone_from(&root.token);
        let r = self.with(ih, move |c, now, out| c.add_torrent(now, add, out));
        if r.is_ok() {
            let _ = self
                .roots
                .borrow_mut()
                .set_torrent_root(ih, Some(&root.token));
            self.count_torrent(ih, true);
        }
        r
    }

    fn count_torrent(&self, ih: InfoHash, added: bool) {
        if self.tally_torrent(ih, added) {
            self.share_caps();
        }
    }

    /// Counts a torrent in its shard; whether the set of shards holding torrents
    /// changed (the caps must then be shared out again).
    fn tally_torrent(&self, ih: InfoHash, added: bool) -> bool {
        let Backend::Shards { caps, .. } = &self.backend else {
            return false;
        };
        let i = self.shard_index(ih);
        let mut c = caps.borrow_mut();
        let before = c.torrents[i];
        c.torrents[i] = if added {
            before + 1
        } else {
            before.saturating_sub(1)
        };
        (before == 0) != (c.torrents[i] == 0)
    }

    /// Removes a torrent; `delete_files` deletes what was downloaded.
    pub fn remove(&self, ih: InfoHash, delete_files: bool) -> Result<(), CommandError> {
        let r = self.with(ih, move |c, _, out| c.remove_torrent(ih, delete_files, out));
        if r.is_ok() {
            self.roots.borrow_mut().forget_torrent(ih);
            self.count_torrent(ih, false);
        }
        r
    }

    /// Pauses a torrent.
    pub fn pause(&self, ih: InfoHash) -> Result<(), CommandError> {
        self.with(ih, move |c, _, out| c.pause(ih, out))
    }

    /// Resumes a torrent.
    pub fn resume(&self, ih: InfoHash) -> Result<(), CommandError> {
        self.with(ih, move |c, _, out| c.resume(ih, out))
    }

    /// Hashes a torrent's data again from disk.
    pub fn force_recheck(&self, ih: InfoHash) -> Result<(), CommandError> {
        self.with(ih, move |c, _, out| c.force_recheck(ih, out))
    }

    /// Per-torrent caps in bytes per second (0 = none).
    pub fn set_torrent_limits(
        &self,
        ih: InfoHash,
        download: u64,
        upload: u64,
    ) -> Result<(), CommandError> {
        self.with(ih, move |c, now, _| {
            c.set_torrent_limits(now, ih, download, upload)
        })
    }

    /// Global caps in bytes per second (0 = none).
    pub fn set_global_limits(&self, download: u64, upload: u64) {
        match &self.backend {
            Backend::Memory { .. } => {
                self.on_shard(0, move |c, now, _| {
                    c.set_global_limits(now, download, upload)
                });
            }
            Backend::Shards { caps, .. } => {
                {
                    let mut c = caps.borrow_mut();
                    c.download = download;
                    c.upload = upload;
                }
                self.share_caps();
            }
        }
    }

    /// File priorities (0 = skip).
    pub fn set_file_priorities(&self, ih: InfoHash, priorities: &[u8]) -> Result<(), CommandError> {
        let p = priorities.to_vec();
        self.with(ih, move |c, _, out| c.set_file_priorities(ih, &p, out))
    }

    /// Sequential download on or off.
    pub fn set_sequential(&self, ih: InfoHash, on: bool) -> Result<(), CommandError> {
        self.with(ih, move |c, _, _| c.set_sequential(ih, on))
    }

    /// Peers to try for a torrent.
    pub fn add_peers(&self, ih: InfoHash, addrs: &[SocketAddr]) -> Result<(), CommandError> {
        let a = addrs.to_vec();
        self.with(ih, move |c, _, _| c.add_peers(ih, &a))
    }

    /// Records what a torrent's trackers said last (shown in its stats).
    pub fn set_tracker_status(
        &self,
        ih: InfoHash,
        error: Option<String>,
        warning: Option<String>,
    ) -> Result<(), CommandError> {
        self.with(ih, move |c, _, _| c.set_tracker_status(ih, error, warning))
    }

    /// Every torrent.
    pub fn torrents(&self) -> Vec<InfoHash> {
        self.on_all(|c, _, _| c.torrents()).concat()
    }

    /// A torrent's numbers now.
    pub fn stats(&self, ih: InfoHash) -> Option<TorrentStats> {
        self.with(ih, move |c, now, _| c.stats(now, ih))
    }

    /// Which pieces a torrent has, once its metadata is known.
    pub fn have(&self, ih: InfoHash) -> Option<Bitfield> {
        self.with(ih, move |c, _, _| c.have(ih).cloned())
    }

    /// A torrent's peers now.
    pub fn peer_stats(&self, ih: InfoHash) -> Vec<PeerStats> {
        self.with(ih, move |c, now, _| c.peer_stats(now, ih))
    }

    /// Connection counts now.
    pub fn connections(&self) -> ConnectionCounts {
        self.on_all(|c, _, _| c.connections()).into_iter().fold(
            ConnectionCounts {
                total: 0,
                half_open: 0,
            },
            |a, b| ConnectionCounts {
                total: a.total + b.total,
                half_open: a.half_open + b.half_open,
            },
        )
    }
}
