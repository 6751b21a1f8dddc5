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

use core::net::SocketAddr;

use crate::core::{
    Action, AddTorrent, Bitfield, CommandError, ConnectionCounts, Core, CoreConfig, PeerStats,
    TorrentStats,
};
use crate::resume_lmdb::MemorySessionStore;
use crate::shard::{self, IoChoice, ShardConfig, ShardHandle, StartError};
use crate::sim::{SimWorld, World};
use crate::types::{InfoHash, Time};

enum Backend {
    Memory { world: SimWorld, node: usize },
    Shard(ShardHandle),
}

/// A running engine.
pub struct Engine {
    backend: Backend,
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
    /// look into it, or start another engine on what this one left).
    pub fn memory_with_store(
        world: &SimWorld,
        cfg: CoreConfig,
        store: MemorySessionStore,
    ) -> Engine {
        let node = world.add_node(cfg, store);
        Engine {
            backend: Backend::Memory {
                world: world.clone(),
                node,
            },
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

    /// The preset named by `cfg.io`.
    pub fn start(mut cfg: ShardConfig, io: IoChoice) -> Result<Engine, StartError> {
        cfg.io = io;
        Ok(Engine {
            backend: Backend::Shard(shard::spawn(0, cfg)?),
        })
    }

    /// `"memory"`, `"io_uring"` or `"epoll"`.
    pub fn io_backend(&self) -> &'static str {
        match &self.backend {
            Backend::Memory { .. } => "memory",
            Backend::Shard(h) => h.backend,
        }
    }

    /// Why an `auto` engine runs on epoll, if it does.
    pub fn io_fallback_reason(&self) -> Option<&str> {
        match &self.backend {
            Backend::Memory { .. } => None,
            Backend::Shard(h) => h.fallback_reason.as_deref(),
        }
    }

    /// The sim node behind a memory engine (for `SimWorld`'s test helpers).
    pub(crate) fn sim_node(&self) -> Option<usize> {
        match &self.backend {
            Backend::Memory { node, .. } => Some(*node),
            Backend::Shard(_) => None,
        }
    }

    fn with<R: Send + 'static>(
        &self,
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
            Backend::Shard(h) => {
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
            Backend::Shard(h) => h.peer_id,
        }
    }

    /// Where this engine accepts connections.
    pub fn listen_addr(&self) -> SocketAddr {
        match &self.backend {
            Backend::Memory { world, node } => world.inner.borrow().nodes[*node].addr,
            Backend::Shard(h) => h.listen_addr,
        }
    }

    /// Adds a torrent.
    pub fn add_torrent(&self, add: AddTorrent) -> Result<InfoHash, CommandError> {
        self.with(|c, now, out| c.add_torrent(now, add, out))
    }

    /// Removes a torrent; `delete_files` deletes what was downloaded.
    pub fn remove(&self, ih: InfoHash, delete_files: bool) -> Result<(), CommandError> {
        self.with(move |c, _, out| c.remove_torrent(ih, delete_files, out))
    }

    /// Pauses a torrent.
    pub fn pause(&self, ih: InfoHash) -> Result<(), CommandError> {
        self.with(move |c, _, out| c.pause(ih, out))
    }

    /// Resumes a torrent.
    pub fn resume(&self, ih: InfoHash) -> Result<(), CommandError> {
        self.with(move |c, _, out| c.resume(ih, out))
    }

    /// Hashes a torrent's data again from disk.
    pub fn force_recheck(&self, ih: InfoHash) -> Result<(), CommandError> {
        self.with(move |c, _, out| c.force_recheck(ih, out))
    }

    /// Per-torrent caps in bytes per second (0 = none).
    pub fn set_torrent_limits(
        &self,
        ih: InfoHash,
        download: u64,
        upload: u64,
    ) -> Result<(), CommandError> {
        self.with(move |c, now, _| c.set_torrent_limits(now, ih, download, upload))
    }

    /// Global caps in bytes per second (0 = none).
    pub fn set_global_limits(&self, download: u64, upload: u64) {
        self.with(move |c, now, _| c.set_global_limits(now, download, upload));
    }

    /// File priorities (0 = skip).
    pub fn set_file_priorities(&self, ih: InfoHash, priorities: &[u8]) -> Result<(), CommandError> {
        let p = priorities.to_vec();
        self.with(move |c, _, out| c.set_file_priorities(ih, &p, out))
    }

    /// Sequential download on or off.
    pub fn set_sequential(&self, ih: InfoHash, on: bool) -> Result<(), CommandError> {
        self.with(move |c, _, _| c.set_sequential(ih, on))
    }

    /// Peers to try for a torrent.
    pub fn add_peers(&self, ih: InfoHash, addrs: &[SocketAddr]) -> Result<(), CommandError> {
        let a = addrs.to_vec();
        self.with(move |c, _, _| c.add_peers(ih, &a))
    }

    /// Every torrent.
    pub fn torrents(&self) -> Vec<InfoHash> {
        self.with(|c, _, _| c.torrents())
    }

    /// A torrent's numbers now.
    pub fn stats(&self, ih: InfoHash) -> Option<TorrentStats> {
        self.with(move |c, now, _| c.stats(now, ih))
    }

    /// Which pieces a torrent has, once its metadata is known.
    pub fn have(&self, ih: InfoHash) -> Option<Bitfield> {
        self.with(move |c, _, _| c.have(ih).cloned())
    }

    /// A torrent's peers now.
    pub fn peer_stats(&self, ih: InfoHash) -> Vec<PeerStats> {
        self.with(move |c, now, _| c.peer_stats(now, ih))
    }

    /// Connection counts now.
    pub fn connections(&self) -> ConnectionCounts {
        self.with(|c, _, _| c.connections())
    }
}
