//! The queue across every shard: the engine gathers each torrent's place and
//! state from all cores, asks [`queue::plan`] which to queue, and tells the
//! cores. The policy is the core's function; this only carries it out.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use super::{Engine, EngineError};
use crate::core::queue::{self, QueueEntry, QueueLimits};
use crate::core::{Command, Reply};
use crate::types::InfoHash;

/// A move in the queue (qBittorrent's top, bottom, up, down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueMove {
    /// First.
    Top,
    /// Last.
    Bottom,
    /// One place earlier.
    Up,
    /// One place later.
    Down,
}

impl Engine {
    pub(super) fn take_queue_pos(&self) -> u64 {
        self.inner.next_queue_pos.fetch_add(1, Ordering::Relaxed)
    }

    /// The queue's limits now.
    pub fn queue_limits(&self) -> QueueLimits {
        *self
            .inner
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// New queue limits (and slow rates), applied at once.
    pub async fn set_queue_limits_async(&self, l: QueueLimits) -> Result<(), EngineError> {
        *self
            .inner
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = l;
        let rates = || Command::SetSlowRates(l.slow_download_rate, l.slow_upload_rate);
        for r in self.inner.on_all(rates).await? {
            r.done()?;
        }
        self.balance_queue_async().await.map(|_| ())
    }

    /// Every torrent's place and state in the queue, over every shard (one
    /// command per shard; a few dozen bytes per torrent).
    async fn queue_entries_async(&self) -> Result<Vec<QueueEntry>, EngineError> {
        let mut all = Vec::new();
        for r in self.inner.on_all(|| Command::QueueEntries).await? {
            match r {
                Reply::QueueEntries(e) => all.extend(e),
                other => return Err(other.mismatch("queue entries")),
            }
        }
        Ok(all)
    }

    /// Each incomplete torrent's place among the incomplete ones in queue
    /// order, from 1 (qBittorrent's `priority`), from the shards' queue
    /// entries (a few dozen bytes per torrent).
    pub async fn queue_ranks_async(&self) -> Result<HashMap<InfoHash, u64>, EngineError> {
        let mut waiting: Vec<(u64, InfoHash)> = (self.queue_entries_async().await?)
            .into_iter()
            .filter(|e| !e.complete)
            .map(|e| (e.pos, e.info_hash))
            .collect();
        waiting.sort_unstable();
        Ok((waiting.into_iter().zip(1..))
            .map(|((_, ih), rank)| (ih, rank))
            .collect())
    }

    /// Queues and starts torrents as the limits say; how many changed. The
    /// daemon calls it every 2 s (and after each queue change).
    pub async fn balance_queue_async(&self) -> Result<usize, EngineError> {
        let l = self.queue_limits();
        let entries = self.queue_entries_async().await?;
        let changes = queue::plan(&entries, &l);
        for (ih, queued) in &changes {
            let set = Command::SetQueued {
                info_hash: *ih,
                queued: *queued,
            };
            match self.ask(*ih, set).await?.done() {
                Ok(())
                | Err(EngineError::Command(crate::core::CommandError::UnknownTorrent(_))) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(changes.len())
    }

    /// Moves torrents in the queue (several move together, keeping their
    /// order), then balances it.
    pub async fn move_in_queue_async(
        &self,
        ihs: &[InfoHash],
        how: QueueMove,
    ) -> Result<(), EngineError> {
        let all = self.queue_entries_async().await?;
        let mut by_place: Vec<(u64, InfoHash)> = all.iter().map(|e| (e.pos, e.info_hash)).collect();
        by_place.sort_unstable();
        let mut order: Vec<InfoHash> = by_place.into_iter().map(|(_, ih)| ih).collect();
        let picked = |ih: &InfoHash| ihs.contains(ih);
        match how {
            QueueMove::Top | QueueMove::Bottom => {
                let (mut moved, rest): (Vec<_>, Vec<_>) = order.into_iter().partition(picked);
                order = if how == QueueMove::Top {
                    moved.extend(rest);
                    moved
                } else {
                    let mut r = rest;
                    r.extend(moved);
                    r
                };
            }
            QueueMove::Up => {
                for i in 1..order.len() {
                    if picked(&order[i]) && !picked(&order[i - 1]) {
                        order.swap(i, i - 1);
                    }
                }
            }
            QueueMove::Down => {
                for i in (0..order.len().saturating_sub(1)).rev() {
                    if picked(&order[i]) && !picked(&order[i + 1]) {
                        order.swap(i, i + 1);
                    }
                }
            }
        }
        let now: std::collections::HashMap<InfoHash, u64> =
            all.iter().map(|e| (e.info_hash, e.pos)).collect();
        for (i, ih) in order.iter().enumerate() {
            let pos = i as u64 + 1;
            if now.get(ih) != Some(&pos) {
                let set = Command::SetQueuePos {
                    info_hash: *ih,
                    pos,
                };
                self.ask(*ih, set).await?.done()?;
            }
        }
        self.inner
            .next_queue_pos
            .fetch_max(order.len() as u64 + 1, Ordering::Relaxed);
        self.balance_queue_async().await.map(|_| ())
    }

    /// Force start on or off.
    pub async fn set_forced_async(&self, ih: InfoHash, on: bool) -> Result<(), EngineError> {
        let set = Command::SetForced { info_hash: ih, on };
        self.ask(ih, set).await?.done()?;
        self.balance_queue_async().await.map(|_| ())
    }

    /// Blocking [`Engine::balance_queue_async`].
    pub fn balance_queue(&self) -> Result<usize, EngineError> {
        pollster::block_on(self.balance_queue_async())
    }

    /// Blocking [`Engine::set_queue_limits_async`].
    pub fn set_queue_limits(&self, l: QueueLimits) -> Result<(), EngineError> {
        pollster::block_on(self.set_queue_limits_async(l))
    }

    /// Blocking [`Engine::move_in_queue_async`].
    pub fn move_in_queue(&self, ihs: &[InfoHash], how: QueueMove) -> Result<(), EngineError> {
        pollster::block_on(self.move_in_queue_async(ihs, how))
    }

    /// Blocking [`Engine::set_forced_async`].
    pub fn set_forced(&self, ih: InfoHash, on: bool) -> Result<(), EngineError> {
        pollster::block_on(self.set_forced_async(ih, on))
    }
}
