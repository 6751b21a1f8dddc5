//! Commands as data: everything a driver's caller (the engine) asks of a core is a
//! [`Command`] value, run by [`Core::execute`] at the driver's time, answered by a
//! [`Reply`]. Both drivers take commands the same way: the shard from its command
//! queue, the sim from its world's lock; neither carries code from the caller.

use core::net::SocketAddr;
use std::sync::Arc;

use super::{
    Action, AddTorrent, Bitfield, CommandError, ConnectionCounts, Core, PeerStats, TorrentStats,
};
use crate::metainfo::Info;
use crate::types::{InfoHash, Time};

/// What the engine asks a core to do or tell.
#[derive(Debug)]
pub enum Command {
    /// Adds torrents (one, or a shard's share of a restore) in order.
    Add(Vec<AddTorrent>),
    /// Removes a torrent, with its files if asked.
    Remove {
        /// The torrent.
        info_hash: InfoHash,
        /// Delete what was downloaded too.
        delete_files: bool,
    },
    /// Pauses a torrent.
    Pause(InfoHash),
    /// Resumes a torrent.
    Resume(InfoHash),
    /// Hashes a torrent's data again.
    Recheck(InfoHash),
    /// A torrent's own caps in bytes per second (0 = none; `None`: as it is).
    SetTorrentLimits {
        /// The torrent.
        info_hash: InfoHash,
        /// Download cap.
        download: Option<u64>,
        /// Upload cap.
        upload: Option<u64>,
    },
    /// This core's share of the global caps (0 = none).
    SetGlobalLimits {
        /// Download cap.
        download: u64,
        /// Upload cap.
        upload: u64,
    },
    /// Every file's priority (0 = skip).
    SetFilePriorities {
        /// The torrent.
        info_hash: InfoHash,
        /// One per file.
        priorities: Vec<u8>,
    },
    /// Some files' priority (0 = skip), the others' kept.
    SetSomeFilePriorities {
        /// The torrent.
        info_hash: InfoHash,
        /// Indexes into its metadata's files.
        files: Vec<usize>,
        /// Their new priority.
        priority: u8,
    },
    /// Sequential download on or off.
    SetSequential {
        /// The torrent.
        info_hash: InfoHash,
        /// On or off.
        on: bool,
    },
    /// Replace a torrent's labels.
    SetLabels {
        /// The torrent.
        info_hash: InfoHash,
        /// Its labels from now on.
        labels: Vec<String>,
    },
    /// Announce a torrent to its trackers now.
    Reannounce(InfoHash),
    /// A torrent's own share limits.
    SetShareLimits {
        /// The torrent.
        info_hash: InfoHash,
        /// Its limits from now on.
        limits: super::ShareLimits,
        /// What reaching one does from now on.
        action: super::share::OwnAction,
    },
    /// The global share limits and their action.
    SetGlobalShare(super::GlobalShare),
    /// The torrents a share limit removed since last asked.
    TakeRemoved,
    /// The torrents whose files the core moved to another root by itself (to
    /// where they finish) since last asked.
    TakeRelocated,
    /// The stats of torrents changed since a version (see `versions`).
    StatsSince(u64),
    /// Queue a torrent, or let it run (see [`super::queue::plan`]).
    SetQueued {
        /// The torrent.
        info_hash: InfoHash,
        /// Queued or not.
        queued: bool,
    },
    /// A torrent's place in the queue.
    SetQueuePos {
        /// The torrent.
        info_hash: InfoHash,
        /// Its place.
        pos: u64,
    },
    /// Force start on or off.
    SetForced {
        /// The torrent.
        info_hash: InfoHash,
        /// On or off.
        on: bool,
    },
    /// The rates (download, upload; bytes/s) under which a running torrent
    /// is idle.
    SetSlowRates(u64, u64),
    /// Each wanted file's first and last piece first, or not.
    SetFirstLast {
        /// The torrent.
        info_hash: InfoHash,
        /// On or off.
        on: bool,
    },
    /// Give a torrent a name to be shown by (empty: its own).
    SetDisplayName {
        /// The torrent.
        info_hash: InfoHash,
        /// The name.
        name: String,
    },
    /// Place a torrent by hand (its files stay put when its category
    /// changes), or have it follow its category.
    SetManual {
        /// The torrent.
        info_hash: InfoHash,
        /// By hand.
        manual: bool,
    },
    /// Super-seeding on or off (`core::superseed`).
    SetSuperSeeding {
        /// The torrent.
        info_hash: InfoHash,
        /// On or off.
        on: bool,
    },
    /// Where a torrent downloading in an incomplete folder moves when it
    /// finishes (`Err` for a torrent not waiting to move).
    SetFinishIn {
        /// The torrent.
        info_hash: InfoHash,
        /// The root.
        to: Box<super::FinishRoot>,
    },
    /// Set a torrent's category.
    SetCategory {
        /// The torrent.
        info_hash: InfoHash,
        /// Its category from now on (empty: none).
        category: String,
    },
    /// Peers to try.
    AddPeers {
        /// The torrent.
        info_hash: InfoHash,
        /// Their addresses.
        addrs: Vec<SocketAddr>,
        /// Where they were learned.
        source: super::PeerSource,
    },
    /// Moves a torrent's data to another root.
    MoveStorage {
        /// The torrent.
        info_hash: InfoHash,
        /// The root's path.
        to: String,
        /// The root's token.
        to_token: String,
        /// Whether the root is there by its marker file (or, a folder, by itself).
        to_marked: bool,
        /// Where it moves again once it finishes (a move into an incomplete
        /// folder); `None`: it stays.
        finish_in: Option<Box<super::FinishRoot>>,
    },
    /// Gives some of a torrent's files new names (see `core::rename`).
    RenameFiles {
        /// The torrent.
        info_hash: InfoHash,
        /// Each file's index and new path (components under the download
        /// folder).
        renames: Vec<(usize, Vec<String>)>,
    },
    /// Saves every torrent now.
    SaveAll,
    /// Closes every peer, refuses new ones and tells the trackers `stopped`;
    /// answers the announces left in flight.
    ShutDown,
    /// Announces handed to trackers and not yet answered.
    AnnouncesInFlight,
    /// Every torrent's info-hash.
    Torrents,
    /// The torrents these names mean: a hybrid's other info-hash (its alias)
    /// gives its id, any other name itself ([`Reply::Torrents`], in order).
    Resolve(Vec<InfoHash>),
    /// The torrents the DHT may announce (see [`Core::dht_torrents`]).
    DhtTorrents,
    /// A torrent's metadata, once known.
    Info(InfoHash),
    /// Which pieces a torrent has.
    Have(InfoHash),
    /// Which pieces a torrent has, is downloading, and how many peers have
    /// each.
    PieceStates(InfoHash),
    /// A torrent's file priorities (empty until a magnet's metadata arrives).
    FilePriorities(InfoHash),
    /// A torrent's numbers.
    Stats(InfoHash),
    /// Every torrent's numbers.
    AllStats,
    /// The numbers of at most `max` torrents after `after` in id order (from
    /// the first with `None`): a long list taken in pieces, so that the shard
    /// serves its peers between them and each piece stays in the cache while
    /// it is made into rows.
    StatsFrom {
        /// The last torrent of the piece before.
        after: Option<InfoHash>,
        /// At most this many.
        max: usize,
    },
    /// Every torrent's place and state in the queue.
    QueueEntries,
    /// A torrent's trackers and their schedule.
    Trackers(InfoHash),
    /// Trackers a torrent does not have yet, added as tiers after its last.
    AddTrackers {
        /// The torrent.
        info_hash: InfoHash,
        /// The trackers, by tier.
        tiers: Vec<Vec<String>>,
    },
    /// A torrent's trackers replaced by these (see [`Core::set_trackers`]).
    SetTrackers {
        /// The torrent.
        info_hash: InfoHash,
        /// The trackers, by tier.
        tiers: Vec<Vec<String>>,
    },
    /// A new IP filter (see `core::filtered`).
    SetIpFilter(Arc<crate::ipfilter::IpFilter>),
    /// This core's work counters.
    Counters,
    /// Pieces a reader waits for (a streamed file): fetched first, in order
    /// (replaces the previous window; an empty range clears it).
    SetUrgent {
        /// The torrent.
        info_hash: InfoHash,
        /// Which reader (each has its own window).
        reader: u64,
        /// The pieces.
        pieces: std::ops::Range<u32>,
    },
    /// Connection caps and upload slots, changed at run time.
    SetTunables(Tunables),
    /// A torrent's peers.
    PeerStats(InfoHash),
    /// Connection counts.
    Connections,
    /// Payload bytes received and sent since the core started (this run's
    /// totals); answered with [`Reply::Bytes`].
    SessionBytes,
    /// The wall clock (Unix seconds) as the core sees it.
    UnixNow,
    /// The engine's restore is over: restored torrents' files are compared
    /// with their records from now on (during the restore they would take
    /// its CPU; see `core::stamps`).
    RestoreDone,
    /// Makes the core panic: the shard-failure tests' fault.
    #[cfg(test)]
    Panic,
}

/// What can change in a running core's [`super::CoreConfig`] (0 leaves a value as
/// it is).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tunables {
    /// Connections in all, of this core.
    pub max_connections: usize,
    /// Connections per torrent.
    pub max_connections_per_torrent: usize,
    /// Outbound connections being set up at once.
    pub max_half_open: usize,
    /// Regular unchoke slots per torrent (the fewest, filling the uplink).
    pub unchoke_slots: usize,
    /// Most regular unchoke slots per torrent, filling the uplink.
    pub max_unchoke_slots: usize,
    /// How the slot count is chosen (`None`: unchanged).
    pub slot_mode: Option<super::SlotMode>,
    /// Which trackers each torrent announces to at once (`None`: unchanged).
    pub tracker_reach: Option<super::announce::Reach>,
    /// Torrents whose checks read at once, over the whole engine (its cores
    /// share the turns; a raised limit is handed out at the next tick).
    pub checks_at_once: usize,
}

impl Core {
    /// Changes caps and slots from now on (connections above a lowered cap stay
    /// until they close; no new one is made or taken meanwhile).
    pub fn set_tunables(&mut self, now: Time, t: Tunables) {
        let set = |v: &mut usize, new: usize| {
            if new > 0 {
                *v = new;
            }
        };
        set(&mut self.cfg.max_connections, t.max_connections);
        set(
            &mut self.cfg.max_connections_per_torrent,
            t.max_connections_per_torrent,
        );
        set(&mut self.cfg.max_half_open, t.max_half_open);
        set(&mut self.cfg.unchoke_slots, t.unchoke_slots);
        set(&mut self.cfg.max_unchoke_slots, t.max_unchoke_slots);
        set(&mut self.cfg.checks_at_once, t.checks_at_once);
        if t.checks_at_once > 0 {
            self.turns_limit(t.checks_at_once);
        }
        if let Some(m) = t.slot_mode {
            self.cfg.slot_mode = m;
        }
        if let Some(reach) = t.tracker_reach.filter(|r| *r != self.cfg.tracker_reach) {
            self.cfg.tracker_reach = reach;
            for t in self.torrents.values_mut() {
                t.announcer.set_reach(now, reach);
            }
            // New lanes are due at once: every torrent is looked at.
            self.attention.note_all();
        }
    }
}

/// A core's work counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreCounters {
    /// Bytes hashed (downloaded pieces, checks) since the core started.
    pub hashed_bytes: u64,
    /// Pieces waiting for the disk: verified pieces being written, and check
    /// reads in flight.
    pub disk_queue: usize,
    /// Bytes held for pieces being downloaded (a piece's buffer from its first
    /// block until it is hashed).
    pub piece_buffer_bytes: usize,
    /// Torrents it holds.
    pub torrents: usize,
    /// Torrents whose piece hashes are in memory (the rest hold their layout only).
    pub resident_metadata: usize,
    /// Times metadata was read back from the session store since the core started.
    pub metadata_loads: u64,
    /// Torrents visited by ticks since the core started (see `core::walk`).
    pub torrent_visits: u64,
    /// Connections refused by the IP filter since the core started.
    pub filtered: u64,
    /// Payload bytes downloaded since the core started.
    pub downloaded: u64,
    /// Payload bytes uploaded since the core started.
    pub uploaded: u64,
    /// Its torrents whose checks read now.
    pub checks_reading: usize,
    /// Its torrents whose checks wait for a turn.
    pub checks_waiting: usize,
}

/// A core's answer to a [`Command`], one variant per kind of answer.
#[derive(Debug)]
pub enum Reply {
    /// Done, or why not.
    Done(Result<(), CommandError>),
    /// One result per torrent of [`Command::Add`], in order.
    Added(Vec<Result<InfoHash, CommandError>>),
    /// A count ([`Command::ShutDown`], [`Command::AnnouncesInFlight`]).
    Count(usize),
    /// [`Command::Torrents`].
    Torrents(Vec<InfoHash>),
    /// [`Command::DhtTorrents`]: info-hash, and whether it needs peers now.
    DhtTorrents(Vec<(InfoHash, bool)>),
    /// [`Command::Info`]: unknown torrent, or metadata not yet known.
    Info(Result<Option<Arc<Info>>, CommandError>),
    /// [`Command::Have`]: `None` until a magnet's metadata arrives.
    Have(Result<Option<Bitfield>, CommandError>),
    /// [`Command::PieceStates`]: `None` until a magnet's metadata arrives.
    PieceStates(Result<Option<Box<super::PieceStates>>, CommandError>),
    /// [`Command::FilePriorities`].
    Priorities(Result<Vec<u8>, CommandError>),
    /// [`Command::Stats`].
    Stats(Result<Box<TorrentStats>, CommandError>),
    /// [`Command::AllStats`], [`Command::StatsFrom`].
    AllStats(Vec<TorrentStats>),
    /// [`Command::QueueEntries`].
    QueueEntries(Vec<super::queue::QueueEntry>),
    /// [`Command::StatsSince`].
    StatsSince(super::versions::StatsSince),
    /// [`Command::Trackers`].
    Trackers(Result<super::announce::TrackersReport, CommandError>),
    /// [`Command::Counters`].
    Counters(CoreCounters),
    /// [`Command::PeerStats`].
    PeerStats(Result<Vec<PeerStats>, CommandError>),
    /// [`Command::Connections`].
    Connections(ConnectionCounts),
    /// [`Command::UnixNow`].
    UnixNow(u64),
    /// [`Command::SessionBytes`]: received, sent.
    Bytes(u64, u64),
}

impl Core {
    /// Runs one command at `now`, pushing the actions it needs.
    pub fn execute(&mut self, now: Time, cmd: Command, out: &mut Vec<Action>) -> Reply {
        self.note_command(&cmd);
        // No command sees a piece between its last block and its check.
        self.check_waiting(now, out);
        let known = |ih| CommandError::UnknownTorrent(ih);
        let reply = match cmd {
            Command::Add(adds) => Reply::Added(
                adds.into_iter()
                    .map(|a| self.add_torrent(now, a, out))
                    .collect(),
            ),
            Command::Remove {
                info_hash,
                delete_files,
            } => Reply::Done(self.remove_torrent(now, info_hash, delete_files, out)),
            Command::Pause(ih) => {
                let r = self.pause(ih, out);
                self.clocks_at(now, ih);
                Reply::Done(r)
            }
            Command::Resume(ih) => {
                let r = self.resume(ih, out);
                self.clocks_at(now, ih);
                Reply::Done(r)
            }
            Command::Recheck(ih) => Reply::Done(self.force_recheck(ih, out)),
            Command::SetTorrentLimits {
                info_hash,
                download,
                upload,
            } => Reply::Done(self.set_torrent_limits(now, info_hash, download, upload)),
            Command::SetGlobalLimits { download, upload } => {
                self.set_global_limits(now, download, upload);
                Reply::Done(Ok(()))
            }
            Command::SetFilePriorities {
                info_hash,
                priorities,
            } => Reply::Done(self.set_file_priorities(info_hash, &priorities, out)),
            Command::SetSomeFilePriorities {
                info_hash,
                files,
                priority,
            } => Reply::Done(self.set_some_file_priorities(info_hash, &files, priority, out)),
            Command::SetSequential { info_hash, on } => {
                Reply::Done(self.set_sequential(info_hash, on))
            }
            Command::SetLabels { info_hash, labels } => {
                Reply::Done(self.set_labels(info_hash, &labels))
            }
            Command::SetCategory {
                info_hash,
                category,
            } => Reply::Done(self.set_category(info_hash, &category)),
            Command::SetFirstLast { info_hash, on } => {
                Reply::Done(self.set_first_last(info_hash, on))
            }
            Command::SetManual { info_hash, manual } => {
                Reply::Done(self.set_manual(info_hash, manual))
            }
            Command::SetFinishIn { info_hash, to } => {
                Reply::Done(self.set_finish_in(info_hash, to))
            }
            Command::SetSuperSeeding { info_hash, on } => {
                Reply::Done(self.set_super_seeding(now, info_hash, on, out))
            }
            Command::SetDisplayName { info_hash, name } => {
                Reply::Done(self.set_display_name(info_hash, &name))
            }
            Command::SetShareLimits {
                info_hash,
                limits,
                action,
            } => Reply::Done(self.set_share_limits(info_hash, limits, action)),
            Command::SetGlobalShare(g) => {
                self.set_global_share(g);
                Reply::Done(Ok(()))
            }
            Command::TakeRemoved => Reply::Torrents(self.take_removed()),
            Command::TakeRelocated => Reply::Torrents(std::mem::take(&mut self.relocated_here)),
            Command::AddTrackers { info_hash, tiers } => {
                Reply::Done(self.add_trackers(now, info_hash, &tiers))
            }
            Command::SetIpFilter(f) => {
                self.set_ip_filter(now, f, out);
                Reply::Done(Ok(()))
            }
            Command::SetTrackers { info_hash, tiers } => {
                Reply::Done(self.set_trackers(now, info_hash, tiers))
            }
            Command::StatsSince(v) => Reply::StatsSince(self.stats_since(now, v)),
            Command::SetQueued { info_hash, queued } => {
                let r = self.set_queued(now, info_hash, queued, out);
                self.clocks_at(now, info_hash);
                Reply::Done(r)
            }
            Command::SetQueuePos { info_hash, pos } => {
                Reply::Done(self.set_queue_pos(info_hash, pos))
            }
            Command::SetForced { info_hash, on } => {
                Reply::Done(self.set_forced(now, info_hash, on, out))
            }
            Command::SetSlowRates(down, up) => {
                self.set_slow_rates(down, up);
                Reply::Done(Ok(()))
            }
            Command::Reannounce(ih) => {
                Reply::Done(self.torrent_mut(ih).map(|t| t.announcer.reannounce(now)))
            }
            Command::AddPeers {
                info_hash,
                addrs,
                source,
            } => {
                let added = self.add_peers_from(info_hash, &addrs, source);
                if added.is_ok() {
                    self.dial_now(now, self.resolve_name(info_hash), out);
                }
                Reply::Done(added)
            }
            Command::MoveStorage {
                info_hash,
                to,
                to_token,
                to_marked,
                finish_in,
            } => Reply::Done(
                self.move_storage(info_hash, to, to_token, to_marked, out)
                    .and_then(|()| match finish_in {
                        Some(f) => self.set_finish_in(info_hash, f),
                        None => Ok(()),
                    }),
            ),
            Command::RenameFiles { info_hash, renames } => {
                Reply::Done(self.rename_files(info_hash, &renames, out))
            }
            Command::SaveAll => {
                self.save_all(now, out);
                Reply::Done(Ok(()))
            }
            Command::ShutDown => {
                self.shut_down(now, out);
                Reply::Count(self.announces_in_flight())
            }
            Command::AnnouncesInFlight => Reply::Count(self.announces_in_flight()),
            Command::Torrents => Reply::Torrents(self.torrents()),
            Command::Resolve(names) => {
                Reply::Torrents(names.into_iter().map(|n| self.resolve_name(n)).collect())
            }
            Command::DhtTorrents => Reply::DhtTorrents(self.dht_torrents()),
            Command::FilePriorities(ih) => Reply::Priorities(
                self.torrents
                    .get(&ih)
                    .map(|t| t.file_priority.clone())
                    .ok_or(known(ih)),
            ),
            Command::Info(ih) => Reply::Info(
                self.torrents
                    .get(&ih)
                    .map(|t| t.info.clone())
                    .ok_or(known(ih)),
            ),
            Command::Have(ih) => Reply::Have(
                self.torrents
                    .get(&ih)
                    .map(|t| t.info.is_some().then(|| t.have.clone()))
                    .ok_or(known(ih)),
            ),
            Command::PieceStates(ih) => Reply::PieceStates(
                self.torrents
                    .get(&ih)
                    .map(|t| {
                        t.info.is_some().then(|| {
                            let missing = !t.have.all();
                            Box::new(super::PieceStates {
                                have: t.have.clone(),
                                downloading: t.picker.in_progress().collect(),
                                availability: if missing {
                                    t.picker.availabilities()
                                } else {
                                    Vec::new()
                                },
                            })
                        })
                    })
                    .ok_or(known(ih)),
            ),
            Command::Stats(ih) => Reply::Stats(self.stats(now, ih).map(Box::new).ok_or(known(ih))),
            Command::PeerStats(ih) => Reply::PeerStats(if self.torrents.contains_key(&ih) {
                Ok(self.peer_stats(now, ih))
            } else {
                Err(known(ih))
            }),
            Command::QueueEntries => Reply::QueueEntries(self.queue_entries(now)),
            Command::AllStats => Reply::AllStats(self.all_stats(now)),
            Command::StatsFrom { after, max } => Reply::AllStats(self.stats_from(now, after, max)),
            Command::SetUrgent {
                info_hash,
                reader,
                pieces,
            } => Reply::Done(self.set_urgent(now, info_hash, reader, pieces, out)),
            Command::Trackers(ih) => Reply::Trackers(
                self.torrents
                    .get(&ih)
                    .map(|t| {
                        let mut r = t.announcer.report(now);
                        r.web_seeds = t.web_seeds.iter().map(|w| w.url.clone()).collect();
                        r
                    })
                    .ok_or(known(ih)),
            ),
            Command::Counters => Reply::Counters(CoreCounters {
                hashed_bytes: self.hashed_bytes,
                disk_queue: self
                    .torrents
                    .values()
                    .map(|t| {
                        t.writing.len() + t.checking.as_ref().map_or(0, |c| c.pending as usize)
                    })
                    .sum(),
                piece_buffer_bytes: self.torrents.values().map(|t| t.picker.buffered()).sum(),
                torrents: self.torrents.len(),
                resident_metadata: self
                    .torrents
                    .values()
                    .filter(|t| t.meta.hashes.is_some())
                    .count(),
                metadata_loads: self.metadata_loads,
                torrent_visits: self.attention.visits,
                filtered: self.ip_filter.refused,
                downloaded: self.session_bytes.0,
                uploaded: self.session_bytes.1,
                checks_reading: self.checks_reading(),
                checks_waiting: self.checks_waiting(),
            }),
            Command::SetTunables(t) => {
                self.set_tunables(now, t);
                Reply::Done(Ok(()))
            }
            Command::Connections => Reply::Connections(self.connections()),
            Command::RestoreDone => {
                self.restore_done(out);
                Reply::Done(Ok(()))
            }
            Command::SessionBytes => Reply::Bytes(self.session_bytes.0, self.session_bytes.1),
            Command::UnixNow => {
                Reply::UnixNow(self.config().unix_at_zero + now.since(Time::ZERO).as_secs())
            }
            #[cfg(test)]
            Command::Panic => panic!("injected fault"),
        };
        self.announce_promptly(now, out);
        reply
    }
}
