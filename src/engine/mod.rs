//! The public engine handle and its presets.
//!
//! What it owns: the one API every preset offers: add, remove, pause, resume,
//! recheck, limits, file priorities, peers, stats. Today the preset is
//! [`Engine::memory`]: the core on the sim driver, whole swarms in one thread. The
//! compio presets (`auto`, `uring`, `epoll`) land with the real-IO driver and keep
//! these method signatures.
//!
//! Each call runs the core command at the driver's current time and hands the
//! resulting actions straight to the driver, so an engine is always consistent
//! between calls.

use core::net::SocketAddr;

use crate::core::{
    Action, AddTorrent, CommandError, ConnectionCounts, Core, CoreConfig, PeerStats, TorrentStats,
};
use crate::sim::{SimWorld, World};
use crate::types::InfoHash;

/// A running engine.
pub struct Engine {
    world: SimWorld,
    node: usize,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Engine(memory #{} at {})", self.node, self.listen_addr())
    }
}

impl Engine {
    /// The memory preset: an engine in `world` (sim driver, memory filesystem,
    /// memory network). Its address is on loopback, unique in the world.
    pub fn memory(world: &SimWorld, cfg: CoreConfig) -> Engine {
        let node = world.add_node(cfg);
        Engine {
            world: world.clone(),
            node,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Core, crate::types::Time, &mut Vec<Action>) -> R) -> R {
        let mut w = self.world.inner.borrow_mut();
        let now = w.now;
        let mut out = Vec::new();
        let r = f(&mut w.nodes[self.node].core, now, &mut out);
        World::apply(&mut w, self.node, out);
        r
    }

    /// Where this engine accepts connections.
    pub fn listen_addr(&self) -> SocketAddr {
        self.world.inner.borrow().nodes[self.node].addr
    }

    /// Adds a torrent.
    pub fn add_torrent(&self, add: AddTorrent) -> Result<InfoHash, CommandError> {
        self.with(|c, now, out| c.add_torrent(now, add, out))
    }

    /// Removes a torrent; `delete_files` deletes what was downloaded.
    pub fn remove(&self, ih: InfoHash, delete_files: bool) -> Result<(), CommandError> {
        self.with(|c, _, out| c.remove_torrent(ih, delete_files, out))
    }

    /// Pauses a torrent.
    pub fn pause(&self, ih: InfoHash) -> Result<(), CommandError> {
        self.with(|c, _, out| c.pause(ih, out))
    }

    /// Resumes a torrent.
    pub fn resume(&self, ih: InfoHash) -> Result<(), CommandError> {
        self.with(|c, _, out| c.resume(ih, out))
    }

    /// Hashes a torrent's data again from disk.
    pub fn force_recheck(&self, ih: InfoHash) -> Result<(), CommandError> {
        self.with(|c, _, out| c.force_recheck(ih, out))
    }

    /// Per-torrent caps in bytes per second (0 = none).
    pub fn set_torrent_limits(
        &self,
        ih: InfoHash,
        download: u64,
        upload: u64,
    ) -> Result<(), CommandError> {
        self.with(|c, now, _| c.set_torrent_limits(now, ih, download, upload))
    }

    /// Global caps in bytes per second (0 = none).
    pub fn set_global_limits(&self, download: u64, upload: u64) {
        self.with(|c, now, _| c.set_global_limits(now, download, upload));
    }

    /// File priorities (0 = skip).
    pub fn set_file_priorities(&self, ih: InfoHash, priorities: &[u8]) -> Result<(), CommandError> {
        self.with(|c, _, out| c.set_file_priorities(ih, priorities, out))
    }

    /// Sequential download on or off.
    pub fn set_sequential(&self, ih: InfoHash, on: bool) -> Result<(), CommandError> {
        self.with(|c, _, _| c.set_sequential(ih, on))
    }

    /// Peers to try for a torrent.
    pub fn add_peers(&self, ih: InfoHash, addrs: &[SocketAddr]) -> Result<(), CommandError> {
        self.with(|c, _, _| c.add_peers(ih, addrs))
    }

    /// Every torrent.
    pub fn torrents(&self) -> Vec<InfoHash> {
        self.with(|c, _, _| c.torrents())
    }

    /// A torrent's numbers now.
    pub fn stats(&self, ih: InfoHash) -> Option<TorrentStats> {
        self.with(|c, now, _| c.stats(now, ih))
    }

    /// Which pieces a torrent has, once its metadata is known.
    pub fn have(&self, ih: InfoHash) -> Option<crate::core::Bitfield> {
        self.with(|c, _, _| c.have(ih).cloned())
    }

    /// A torrent's peers now.
    pub fn peer_stats(&self, ih: InfoHash) -> Vec<PeerStats> {
        self.with(|c, now, _| c.peer_stats(now, ih))
    }

    /// Connection counts now.
    pub fn connections(&self) -> ConnectionCounts {
        self.with(|c, _, _| c.connections())
    }

    /// Writes a file into this engine's memory filesystem (test setup).
    pub fn write_file(&self, path: &str, data: Vec<u8>) {
        self.world.inner.borrow_mut().nodes[self.node]
            .fs
            .put(path, data);
    }

    /// Reads a whole file from this engine's memory filesystem.
    pub fn read_file(&self, path: &str) -> Option<Vec<u8>> {
        self.world.inner.borrow().nodes[self.node]
            .fs
            .get(path)
            .cloned()
    }
}
