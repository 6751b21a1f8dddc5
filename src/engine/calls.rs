//! The engine's operations on torrents. Each is written once, as an `async` method
//! (`*_async`); the blocking method of the plain name (`blocking`) waits for it on
//! the caller's thread.

use core::net::SocketAddr;

use super::{Backend, Engine, EngineError};
use std::sync::Arc;

use crate::core::{
    AddTorrent, Bitfield, Command, CommandError, ConnectionCounts, PeerStats, Reply, TorrentStats,
    Tunables,
};
use crate::metainfo::Info;
use crate::types::InfoHash;

/// Reading a core's [`Reply`] as the kind its command gives.
impl Reply {
    pub(super) fn mismatch(self, want: &str) -> EngineError {
        EngineError::Internal(format!("wanted a {want} reply, got {self:?}"))
    }

    pub(super) fn done(self) -> Result<(), EngineError> {
        match self {
            Reply::Done(r) => Ok(r?),
            other => Err(other.mismatch("done")),
        }
    }

    pub(super) fn added(self) -> Result<Vec<Result<InfoHash, CommandError>>, EngineError> {
        match self {
            Reply::Added(r) => Ok(r),
            other => Err(other.mismatch("added")),
        }
    }

    fn count(self) -> Result<usize, EngineError> {
        match self {
            Reply::Count(n) => Ok(n),
            other => Err(other.mismatch("count")),
        }
    }

    pub(super) fn info(self) -> Result<Option<Arc<Info>>, EngineError> {
        match self {
            Reply::Info(r) => Ok(r?),
            other => Err(other.mismatch("info")),
        }
    }

    pub(super) fn unix_now(self) -> Result<u64, EngineError> {
        match self {
            Reply::UnixNow(t) => Ok(t),
            other => Err(other.mismatch("clock")),
        }
    }
}

/// What [`Engine::stats_since_async`] gives.
#[derive(Debug, Clone, Default)]
pub struct ChangedStats {
    /// The versions to ask from next, one per shard.
    pub versions: Vec<u64>,
    /// Every torrent, when some shard could not say which were removed (a
    /// first call, or too many removals since); else `None`.
    pub all: Option<Vec<InfoHash>>,
    /// Torrents removed since the versions asked from.
    pub removed: Vec<InfoHash>,
    /// The stats of torrents changed since then.
    pub changed: Vec<TorrentStats>,
}

impl Engine {
    /// Adds a torrent. `add.root` names a storage root by token, or a folder (made
    /// a root of its own if no root has that path), or nothing (the default root).
    pub async fn add_torrent_async(&self, mut add: AddTorrent) -> Result<InfoHash, EngineError> {
        let ih = add.source.info_hash();
        // A hybrid whose other name is a torrent (or an alias) on another
        // shard is that torrent (the core sees only its own shard's names).
        if let Some(had) = add.source.other_name().and_then(|n| self.inner.named(n)) {
            return Err(CommandError::Duplicate(had).into());
        }
        self.file_new_torrent(&mut add)?;
        if add.resume.is_none() {
            add.settings.queue_pos = self.take_queue_pos();
        }
        let mut root = self.resolve_root(&add.root)?;
        // Not for a torrent whose data is said to be there already (an add
        // with bits), or is there (a cross-seed's add): it stays where that is.
        let fresh = add.have.as_ref().is_none_or(|b| b.count() == 0);
        if !add.incomplete.is_empty() && fresh && add.resume.is_none() {
            let staging = self.resolve_root(&add.incomplete)?;
            if staging.token != root.token && !self.has_data_in(&add, &root.path) {
                add.settings.finish_in = Some(Box::new(super::storage::finish_root_of(&root)));
                root = staging;
            }
        }
        if !self.root_available(&root) {
            return Err(CommandError::BadArgument(format!(
                "storage root {:?} ({}) is unavailable",
                root.token,
                root.path.display()
            ))
            .into());
        }
        add.root = root.path.to_string_lossy().as_ref().into();
        add.root_token = root.token.as_str().into();
        add.root_marked = root.marked;
        let added = self.ask(ih, Command::Add(vec![add])).await?.added()?;
        let Some(result) = added.into_iter().next() else {
            return Err(EngineError::Internal("an add answered nothing".into()));
        };
        result?;
        self.place_torrent(ih, &root.token);
        self.count_torrent(ih, true).await;
        // It waits its turn at once if the queue is full.
        if self.queue_limits().enabled
            && let Err(e) = self.balance_queue_async().await
        {
            tracing::warn!(info_hash = %ih, error = %e, "queue not balanced after an add");
        }
        Ok(ih)
    }

    /// Removes a torrent; `delete_files` deletes what was downloaded.
    pub async fn remove_async(&self, ih: InfoHash, delete_files: bool) -> Result<(), EngineError> {
        let remove = Command::Remove {
            info_hash: ih,
            delete_files,
        };
        self.ask(ih, remove).await?.done()?;
        self.roots_lock().forget_torrent(ih);
        self.count_torrent(ih, false).await;
        Ok(())
    }

    /// Pauses a torrent.
    pub async fn pause_async(&self, ih: InfoHash) -> Result<(), EngineError> {
        self.ask(ih, Command::Pause(ih)).await?.done()
    }

    /// Resumes a torrent.
    pub async fn resume_async(&self, ih: InfoHash) -> Result<(), EngineError> {
        self.ask(ih, Command::Resume(ih)).await?.done()
    }

    /// The stats of torrents changed since `versions` (one per shard, from the
    /// last call; empty or zeros: all), with the versions to ask from next and
    /// every torrent's info-hash.
    pub async fn stats_since_async(&self, versions: &[u64]) -> Result<ChangedStats, EngineError> {
        let asks = (0..self.inner.shards())
            .map(|i| Command::StatsSince(versions.get(i).copied().unwrap_or(0)))
            .collect();
        let mut out = ChangedStats::default();
        let mut all = Vec::new();
        let mut need_all = false;
        for r in self.inner.on_each(asks).await? {
            let Reply::StatsSince(s) = r else {
                return Err(r.mismatch("stats since"));
            };
            out.versions.push(s.version);
            match s.all {
                Some(a) => {
                    need_all = true;
                    all.extend(a);
                }
                None => all.extend(s.changed.iter().map(|t| t.info_hash)),
            }
            out.removed.extend(s.removed);
            out.changed.extend(s.changed);
        }
        // One shard's "all" is only whole with the others': ask them for theirs.
        if need_all && versions.iter().any(|v| *v > 0) {
            return Box::pin(self.stats_since_async(&[])).await.map(|mut o| {
                o.removed.clear();
                o
            });
        }
        out.all = need_all.then_some(all);
        Ok(out)
    }

    /// Each shard's stats version now, with every torrent's fingerprint
    /// brought up to date first (no torrent's numbers are made). A reader
    /// that then takes every torrent's numbers a piece at a time
    /// ([`Engine::stats_piece_async`]) asks [`Engine::stats_since_async`]
    /// from these next: whatever changes after this call, before or after
    /// its piece was taken, and every removal after it, is in that answer.
    pub async fn stats_versions_async(&self) -> Result<Vec<u64>, EngineError> {
        // Nothing is newer than the last version: no numbers, no removals.
        let asks = (0..self.inner.shards())
            .map(|_| Command::StatsSince(u64::MAX))
            .collect();
        let mut versions = Vec::new();
        for r in self.inner.on_each(asks).await? {
            match r {
                Reply::StatsSince(s) => versions.push(s.version),
                other => return Err(other.mismatch("stats versions")),
            }
        }
        Ok(versions)
    }

    /// A torrent's own share limits, and what reaching one does.
    pub async fn set_share_limits_async(
        &self,
        ih: InfoHash,
        limits: crate::core::ShareLimits,
        action: crate::core::share::OwnAction,
    ) -> Result<(), EngineError> {
        let set = Command::SetShareLimits {
            info_hash: ih,
            limits,
            action,
        };
        self.ask(ih, set).await?.done()
    }

    /// The global share limits and their action, on every shard.
    pub async fn set_global_share_async(
        &self,
        g: crate::core::GlobalShare,
    ) -> Result<(), EngineError> {
        for r in self.inner.on_all(|| Command::SetGlobalShare(g)).await? {
            r.done()?;
        }
        Ok(())
    }

    /// Merges two shards' links to one hybrid (see `engine::merge`), and
    /// forgets in the engine's books the torrents a core removed by itself (a
    /// share limit, a merged duplicate: their root, the shard's count); how
    /// many torrents went. The daemon calls it every few seconds.
    pub async fn reconcile_async(&self) -> Result<usize, EngineError> {
        let mut n = self.merge_hybrids_async().await?;
        let replies = self.inner.on_all(|| Command::TakeRemoved).await?;
        for (shard, r) in replies.into_iter().enumerate() {
            let Reply::Torrents(gone) = r else {
                return Err(r.mismatch("torrents"));
            };
            for ih in gone {
                self.roots_lock().forget_torrent(ih);
                self.count_torrent_at(shard, false).await;
                n += 1;
            }
        }
        // Torrents whose files went where they finish: placed in that root.
        let replies = self.inner.on_all(|| Command::TakeRelocated).await?;
        for r in replies {
            let Reply::Torrents(moved) = r else {
                return Err(r.mismatch("torrents"));
            };
            for ih in moved {
                if let Ok(s) = self.stats_async(ih).await {
                    self.place_torrent(ih, &s.root);
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Announces a torrent to its trackers now (if it is running).
    pub async fn reannounce_async(&self, ih: InfoHash) -> Result<(), EngineError> {
        self.ask(ih, Command::Reannounce(ih)).await?.done()
    }

    /// Hashes a torrent's data again from disk.
    pub async fn force_recheck_async(&self, ih: InfoHash) -> Result<(), EngineError> {
        self.ask(ih, Command::Recheck(ih)).await?.done()
    }

    /// Per-torrent caps in bytes per second (0 = none); `None` leaves that
    /// one as it is.
    pub async fn set_torrent_limits_async(
        &self,
        ih: InfoHash,
        download: Option<u64>,
        upload: Option<u64>,
    ) -> Result<(), EngineError> {
        let set = Command::SetTorrentLimits {
            info_hash: ih,
            download,
            upload,
        };
        self.ask(ih, set).await?.done()
    }

    /// Global caps in bytes per second (0 = none), shared out between the shards
    /// that hold torrents.
    pub async fn set_global_limits_async(
        &self,
        download: u64,
        upload: u64,
    ) -> Result<(), EngineError> {
        match self.backend() {
            Backend::Memory { .. } => {
                let set = Command::SetGlobalLimits { download, upload };
                self.inner.on_shard(0, set).await?.done()
            }
            Backend::Shards { caps, .. } => {
                {
                    let mut c = caps
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    c.download = download;
                    c.upload = upload;
                }
                self.share_caps_async().await;
                Ok(())
            }
        }
    }

    /// File priorities (0 = skip).
    pub async fn set_file_priorities_async(
        &self,
        ih: InfoHash,
        priorities: &[u8],
    ) -> Result<(), EngineError> {
        let set = Command::SetFilePriorities {
            info_hash: ih,
            priorities: priorities.to_vec(),
        };
        self.ask(ih, set).await?.done()
    }

    /// The priority of the files at `files`, the others' kept (see
    /// [`crate::core::Core::set_some_file_priorities`]).
    pub async fn set_some_file_priorities_async(
        &self,
        ih: InfoHash,
        files: Vec<usize>,
        priority: u8,
    ) -> Result<(), EngineError> {
        let set = Command::SetSomeFilePriorities {
            info_hash: ih,
            files,
            priority,
        };
        self.ask(ih, set).await?.done()
    }

    /// Sequential download on or off.
    pub async fn set_sequential_async(&self, ih: InfoHash, on: bool) -> Result<(), EngineError> {
        let set = Command::SetSequential { info_hash: ih, on };
        self.ask(ih, set).await?.done()
    }

    /// Replaces a torrent's labels.
    pub async fn set_labels_async(
        &self,
        ih: InfoHash,
        labels: Vec<String>,
    ) -> Result<(), EngineError> {
        self.create_tags(&labels)?;
        let set = Command::SetLabels {
            info_hash: ih,
            labels,
        };
        self.ask(ih, set).await?.done()
    }

    /// Puts each wanted file's first and last piece first, or stops doing so.
    pub async fn set_first_last_async(&self, ih: InfoHash, on: bool) -> Result<(), EngineError> {
        let set = Command::SetFirstLast { info_hash: ih, on };
        self.ask(ih, set).await?.done()
    }

    /// Super-seeding on (peers that connect while the torrent is whole are
    /// shown a piece at a time) or off (every peer told the rest); see
    /// `core::superseed`.
    pub async fn set_super_seeding_async(&self, ih: InfoHash, on: bool) -> Result<(), EngineError> {
        let set = Command::SetSuperSeeding { info_hash: ih, on };
        self.ask(ih, set).await?.done()
    }

    /// Gives a torrent a name to be shown by (empty: its own again); its files
    /// keep theirs.
    pub async fn set_display_name_async(
        &self,
        ih: InfoHash,
        name: String,
    ) -> Result<(), EngineError> {
        let set = Command::SetDisplayName {
            info_hash: ih,
            name,
        };
        self.ask(ih, set).await?.done()
    }

    /// Peers to try for a torrent.
    pub async fn add_peers_async(
        &self,
        ih: InfoHash,
        addrs: &[SocketAddr],
    ) -> Result<(), EngineError> {
        let add = Command::AddPeers {
            info_hash: ih,
            addrs: addrs.to_vec(),
            source: crate::core::PeerSource::Manual,
        };
        self.ask(ih, add).await?.done()
    }

    /// Starts shutting the engine down: every peer connection closes and no new one
    /// is made or taken (nothing new is downloaded while the last saves are made),
    /// and the trackers are told `stopped`. Returns the announces still waiting for
    /// their trackers ([`Engine::announces_in_flight_async`]); the final save comes
    /// with [`Engine::flush_async`], or when the last handle goes.
    pub async fn shut_down_async(&self) -> Result<usize, EngineError> {
        let left = self.inner.on_all(|| Command::ShutDown).await?;
        left.into_iter().map(Reply::count).sum()
    }

    /// Announces handed to trackers and not yet answered (each has the tracker
    /// client's timeout).
    pub async fn announces_in_flight_async(&self) -> Result<usize, EngineError> {
        let n = self.inner.on_all(|| Command::AnnouncesInFlight).await?;
        n.into_iter().map(Reply::count).sum()
    }

    /// Every torrent.
    pub async fn torrents_async(&self) -> Result<Vec<InfoHash>, EngineError> {
        let mut all = Vec::new();
        for r in self.inner.on_all(|| Command::Torrents).await? {
            match r {
                Reply::Torrents(t) => all.extend(t),
                other => return Err(other.mismatch("torrents")),
            }
        }
        Ok(all)
    }

    /// The torrents these names mean, in order, as qBittorrent finds a hybrid
    /// by either of its ids: a hybrid's other info-hash (its alias, once its
    /// metadata is known) gives the id it is kept under; any other name is
    /// given back as it came (an unknown one stays unknown). Read off the
    /// shards' names table where there is one (several shards), else asked
    /// of the core.
    pub async fn resolve_async(&self, names: Vec<InfoHash>) -> Result<Vec<InfoHash>, EngineError> {
        if names.is_empty() {
            return Ok(names);
        }
        if let Some(table) = self.inner.names() {
            let table = crate::shard::names_read(table);
            return Ok(names.into_iter().map(|n| table.resolve(n)).collect());
        }
        let mut out = names.clone();
        let replies = self
            .inner
            .on_all(|| Command::Resolve(names.clone()))
            .await?;
        for r in replies {
            let Reply::Torrents(given) = r else {
                return Err(r.mismatch("resolve"));
            };
            // The core that knows an alias answers its torrent; the others
            // give the name back.
            for ((o, n), g) in out.iter_mut().zip(&names).zip(given) {
                if g != *n {
                    *o = g;
                }
            }
        }
        Ok(out)
    }

    /// A torrent's numbers now.
    pub async fn stats_async(&self, ih: InfoHash) -> Result<TorrentStats, EngineError> {
        match self.ask(ih, Command::Stats(ih)).await? {
            Reply::Stats(s) => Ok(*s?),
            other => Err(other.mismatch("stats")),
        }
    }

    /// Which pieces a torrent has (`None` until a magnet's metadata arrives).
    pub async fn have_async(&self, ih: InfoHash) -> Result<Option<Bitfield>, EngineError> {
        match self.ask(ih, Command::Have(ih)).await? {
            Reply::Have(h) => Ok(h?),
            other => Err(other.mismatch("have")),
        }
    }

    /// Every torrent's numbers now, over every shard (one command per shard).
    pub async fn all_stats_async(&self) -> Result<Vec<TorrentStats>, EngineError> {
        let mut all = Vec::new();
        for r in self.inner.on_all(|| Command::AllStats).await? {
            match r {
                Reply::AllStats(s) => all.extend(s),
                other => return Err(other.mismatch("all stats")),
            }
        }
        Ok(all)
    }

    /// Pieces a reader waits for (a file being streamed): fetched first, in order.
    /// Each `reader` has one window (16 per torrent at most); an empty range ends
    /// it.
    pub async fn set_urgent_async(
        &self,
        ih: InfoHash,
        reader: u64,
        pieces: std::ops::Range<u32>,
    ) -> Result<(), EngineError> {
        let cmd = Command::SetUrgent {
            info_hash: ih,
            reader,
            pieces,
        };
        self.ask(ih, cmd).await?.done()
    }

    /// Payload bytes received and sent since the engine started, over every
    /// shard (torrents removed since included).
    pub async fn session_bytes_async(&self) -> Result<(u64, u64), EngineError> {
        let mut sum = (0, 0);
        for r in self.inner.on_all(|| Command::SessionBytes).await? {
            match r {
                Reply::Bytes(d, u) => sum = (sum.0 + d, sum.1 + u),
                other => return Err(other.mismatch("bytes")),
            }
        }
        Ok(sum)
    }

    /// Each shard's work counters (hashed bytes, disk queue, torrents).
    pub async fn counters_async(&self) -> Result<Vec<crate::core::CoreCounters>, EngineError> {
        let mut all = Vec::new();
        for r in self.inner.on_all(|| Command::Counters).await? {
            match r {
                Reply::Counters(c) => all.push(c),
                other => return Err(other.mismatch("counters")),
            }
        }
        Ok(all)
    }

    /// A torrent's file priorities, one per file (0 = skip; empty until a
    /// magnet's metadata arrives).
    pub async fn file_priorities_async(&self, ih: InfoHash) -> Result<Vec<u8>, EngineError> {
        match self.ask(ih, Command::FilePriorities(ih)).await? {
            Reply::Priorities(r) => Ok(r?),
            other => Err(other.mismatch("priorities")),
        }
    }

    /// A torrent's metadata (`None` until a magnet's arrives).
    pub async fn info_async(&self, ih: InfoHash) -> Result<Option<Arc<Info>>, EngineError> {
        self.ask(ih, Command::Info(ih)).await?.info()
    }

    /// Changes caps and upload slots at run time; `t` holds whole-engine caps,
    /// shared out equally between the shards (0 leaves a value as it is).
    pub async fn set_tunables_async(&self, t: Tunables) -> Result<(), EngineError> {
        let n = self.inner.shards().max(1);
        let share = |v: usize| if v == 0 { 0 } else { (v / n).max(1) };
        let per_shard = Tunables {
            max_connections: share(t.max_connections),
            max_half_open: share(t.max_half_open),
            ..t
        };
        for r in self
            .inner
            .on_all(|| Command::SetTunables(per_shard))
            .await?
        {
            r.done()?;
        }
        Ok(())
    }

    /// A torrent's peers now.
    pub async fn peer_stats_async(&self, ih: InfoHash) -> Result<Vec<PeerStats>, EngineError> {
        match self.ask(ih, Command::PeerStats(ih)).await? {
            Reply::PeerStats(p) => Ok(p?),
            other => Err(other.mismatch("peer stats")),
        }
    }

    /// Connection counts now, over every shard.
    pub async fn connections_async(&self) -> Result<ConnectionCounts, EngineError> {
        let mut sum = ConnectionCounts {
            total: 0,
            half_open: 0,
        };
        for r in self.inner.on_all(|| Command::Connections).await? {
            match r {
                Reply::Connections(c) => {
                    sum.total += c.total;
                    sum.half_open += c.half_open;
                }
                other => return Err(other.mismatch("connections")),
            }
        }
        Ok(sum)
    }

    /// Saves every torrent now and waits until the saves are committed (also done
    /// when the last handle goes).
    pub async fn flush_async(&self) -> Result<(), EngineError> {
        self.inner.flush().await
    }
}
