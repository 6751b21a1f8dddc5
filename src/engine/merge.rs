//! Two links to one hybrid torrent (its `btih` and its `btmh`), added before
//! either's metadata was known, on two shards: once one's metadata names the
//! other as its alias, the shards' names table keeps the pair
//! (`shard::names`), and the engine merges them here. The torrent that knows
//! its metadata stays; the other gives it its trackers and is removed (its
//! files, if its own metadata came meanwhile, are the same files and stay).
//! On one core the core merges them itself (`Core::merge_duplicate`).

use super::{Backend, Engine, EngineError};
use crate::core::{Command, Reply};
use crate::shard::{self, Merge};
use crate::types::InfoHash;

impl Engine {
    /// Merges the pairs the names table found since the last call; how many.
    pub(super) async fn merge_hybrids_async(&self) -> Result<usize, EngineError> {
        let Backend::Shards { shards, .. } = self.backend() else {
            return Ok(0);
        };
        let Some(table) = shards.first().and_then(|s| s.names.as_deref()) else {
            return Ok(0);
        };
        let merges = shard::names_write(table).take_merges();
        let mut n = 0;
        for m in merges {
            if self.merge_one(m).await? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Merges `m.drop` into `m.keep`, if both are still there (a pair found
    /// the other way round may have been merged first).
    async fn merge_one(&self, m: Merge) -> Result<bool, EngineError> {
        let shards = self.shards();
        // By id, not by name: `drop`'s name now resolves to `keep`.
        let (keep_at, drop_at) = (
            shard::shard_of(m.keep, shards),
            shard::shard_of(m.drop, shards),
        );
        let (Some(_), Some(tiers)) = (
            self.tiers_at(keep_at, m.keep).await?,
            self.tiers_at(drop_at, m.drop).await?,
        ) else {
            return Ok(false);
        };
        let remove = Command::Remove {
            info_hash: m.drop,
            delete_files: false,
        };
        self.inner.on_shard(drop_at, remove).await?.done()?;
        self.roots_lock().forget_torrent(m.drop);
        self.count_torrent_at(drop_at, false).await;
        let add = Command::AddTrackers {
            info_hash: m.keep,
            tiers,
        };
        self.inner.on_shard(keep_at, add).await?.done()?;
        tracing::info!(info_hash = %m.drop, into = %m.keep,
            "the other link of a hybrid torrent, on another shard: merged into it (one torrent, both swarms)");
        Ok(true)
    }

    /// Torrent `ih`'s trackers on shard `index`, or `None` if it is not there.
    async fn tiers_at(
        &self,
        index: usize,
        ih: InfoHash,
    ) -> Result<Option<Vec<Vec<String>>>, EngineError> {
        match self.inner.on_shard(index, Command::Trackers(ih)).await? {
            Reply::Trackers(Ok(r)) => Ok(Some(r.tiers)),
            Reply::Trackers(Err(_)) => Ok(None),
            other => Err(other.mismatch("trackers")),
        }
    }
}
