//! The blocking forms of the engine's calls, for threads that are not async
//! tasks (the CLI, tests): each waits for its `_async` twin in `calls`.

use core::net::SocketAddr;

use super::calls::ChangedStats;
use super::{Engine, EngineError};
use crate::core::*;
use crate::types::InfoHash;

impl Engine {
    /// Blocking [`Engine::add_torrent_async`].
    pub fn add_torrent(&self, add: AddTorrent) -> Result<InfoHash, EngineError> {
        pollster::block_on(self.add_torrent_async(add))
    }
    /// Blocking [`Engine::stats_since_async`].
    pub fn stats_since(&self, versions: &[u64]) -> Result<ChangedStats, EngineError> {
        pollster::block_on(self.stats_since_async(versions))
    }
    /// Blocking [`Engine::set_share_limits_async`].
    pub fn set_share_limits(
        &self,
        ih: InfoHash,
        limits: crate::core::ShareLimits,
        action: crate::core::share::OwnAction,
    ) -> Result<(), EngineError> {
        pollster::block_on(self.set_share_limits_async(ih, limits, action))
    }
    /// Blocking [`Engine::set_global_share_async`].
    pub fn set_global_share(&self, g: crate::core::GlobalShare) -> Result<(), EngineError> {
        pollster::block_on(self.set_global_share_async(g))
    }
    /// Blocking [`Engine::reconcile_async`].
    pub fn reconcile(&self) -> Result<usize, EngineError> {
        pollster::block_on(self.reconcile_async())
    }
    /// Blocking [`Engine::remove_async`].
    pub fn remove(&self, ih: InfoHash, delete_files: bool) -> Result<(), EngineError> {
        pollster::block_on(self.remove_async(ih, delete_files))
    }
    /// Blocking [`Engine::pause_async`].
    pub fn pause(&self, ih: InfoHash) -> Result<(), EngineError> {
        pollster::block_on(self.pause_async(ih))
    }
    /// Blocking [`Engine::resume_async`].
    pub fn resume(&self, ih: InfoHash) -> Result<(), EngineError> {
        pollster::block_on(self.resume_async(ih))
    }
    /// Blocking [`Engine::force_recheck_async`].
    pub fn force_recheck(&self, ih: InfoHash) -> Result<(), EngineError> {
        pollster::block_on(self.force_recheck_async(ih))
    }
    /// Blocking [`Engine::set_torrent_limits_async`].
    pub fn set_torrent_limits(&self, ih: InfoHash, down: u64, up: u64) -> Result<(), EngineError> {
        pollster::block_on(self.set_torrent_limits_async(ih, Some(down), Some(up)))
    }
    /// Blocking [`Engine::set_global_limits_async`].
    pub fn set_global_limits(&self, download: u64, upload: u64) -> Result<(), EngineError> {
        pollster::block_on(self.set_global_limits_async(download, upload))
    }
    /// Blocking [`Engine::set_file_priorities_async`].
    pub fn set_file_priorities(&self, ih: InfoHash, priorities: &[u8]) -> Result<(), EngineError> {
        pollster::block_on(self.set_file_priorities_async(ih, priorities))
    }
    /// Blocking [`Engine::set_sequential_async`].
    pub fn set_sequential(&self, ih: InfoHash, on: bool) -> Result<(), EngineError> {
        pollster::block_on(self.set_sequential_async(ih, on))
    }
    /// Blocking [`Engine::set_first_last_async`].
    pub fn set_first_last(&self, ih: InfoHash, on: bool) -> Result<(), EngineError> {
        pollster::block_on(self.set_first_last_async(ih, on))
    }
    /// Blocking [`Engine::add_peers_async`].
    pub fn add_peers(&self, ih: InfoHash, addrs: &[SocketAddr]) -> Result<(), EngineError> {
        pollster::block_on(self.add_peers_async(ih, addrs))
    }
    /// Blocking [`Engine::shut_down_async`], then waits up to `wait` for the
    /// trackers to answer, then saves everything ([`Engine::flush`]). Returns the
    /// announces left unanswered.
    pub fn shut_down(&self, wait: std::time::Duration) -> Result<usize, EngineError> {
        let left = pollster::block_on(self.shut_down_async())?;
        let left = self.wait_for_trackers(left, wait)?;
        self.flush()?;
        Ok(left)
    }

    fn wait_for_trackers(
        &self,
        mut left: usize,
        wait: std::time::Duration,
    ) -> Result<usize, EngineError> {
        // The CLI's own wall clock: how long it may wait for trackers on its way out.
        #[allow(clippy::disallowed_methods)]
        let start = std::time::Instant::now();
        // A tracker nearby answers in a millisecond or two: look again soon
        // at first, then every 20 ms (a fixed 20 ms first wait was most of a
        // short download's exit).
        let mut pause = std::time::Duration::from_millis(1);
        while left > 0 && start.elapsed() < wait {
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_millis(20));
            left = pollster::block_on(self.announces_in_flight_async())?;
        }
        Ok(left)
    }
    /// Blocking [`Engine::torrents_async`].
    pub fn torrents(&self) -> Result<Vec<InfoHash>, EngineError> {
        pollster::block_on(self.torrents_async())
    }
    /// Blocking [`Engine::counters_async`].
    pub fn counters(&self) -> Result<Vec<crate::core::CoreCounters>, EngineError> {
        pollster::block_on(self.counters_async())
    }
    /// Blocking [`Engine::set_super_seeding_async`].
    pub fn set_super_seeding(&self, ih: InfoHash, on: bool) -> Result<(), EngineError> {
        pollster::block_on(self.set_super_seeding_async(ih, on))
    }
    /// Blocking [`Engine::stats_async`].
    pub fn stats(&self, ih: InfoHash) -> Result<TorrentStats, EngineError> {
        pollster::block_on(self.stats_async(ih))
    }
    /// Blocking [`Engine::have_async`].
    pub fn have(&self, ih: InfoHash) -> Result<Option<Bitfield>, EngineError> {
        pollster::block_on(self.have_async(ih))
    }
    /// Blocking [`Engine::peer_stats_async`].
    pub fn peer_stats(&self, ih: InfoHash) -> Result<Vec<PeerStats>, EngineError> {
        pollster::block_on(self.peer_stats_async(ih))
    }
    /// Blocking [`Engine::connections_async`].
    pub fn connections(&self) -> Result<ConnectionCounts, EngineError> {
        pollster::block_on(self.connections_async())
    }
    /// Blocking [`Engine::flush_async`].
    pub fn flush(&self) -> Result<(), EngineError> {
        pollster::block_on(self.flush_async())
    }
}
