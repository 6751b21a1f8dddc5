//! Queueing: at most so many torrents download, seed, or run at all; the rest
//! wait their turn in a persisted order. "Force start" bypasses the queue, and
//! (when told) a torrent without traffic for a while does not count as active,
//! as qBittorrent's "slow torrents" setting does.
//!
//! The queue spans every shard, so the decision is [`plan`], a pure function
//! over every torrent's [`QueueEntry`] that the engine gathers from all cores
//! and applies back with [`Command::SetQueued`](super::Command::SetQueued).
//! Each core keeps per torrent its place (`queue_pos`, saved), whether it is
//! forced (saved), whether it is queued now, and when it last moved data faster
//! than the slow thresholds.

use super::*;

/// Queue limits and the slow-torrent rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Off: nothing is ever queued.
    pub enabled: bool,
    /// Most torrents downloading at once (-1: no limit).
    pub max_downloads: i64,
    /// Most complete torrents seeding at once (-1: no limit).
    pub max_uploads: i64,
    /// Most torrents running at once, both kinds (-1: no limit).
    pub max_torrents: i64,
    /// A running torrent slower than the thresholds for `slow_secs` does not
    /// count against the limits.
    pub ignore_slow: bool,
    /// Download rate, bytes/s, below which a torrent is slow.
    pub slow_download_rate: u64,
    /// Upload rate, bytes/s, below which a torrent is slow.
    pub slow_upload_rate: u64,
    /// Seconds below both rates before a torrent counts as slow.
    pub slow_secs: u64,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            enabled: false,
            max_downloads: 3,
            max_uploads: 3,
            max_torrents: 5,
            ignore_slow: false,
            slow_download_rate: 2048,
            slow_upload_rate: 2048,
            slow_secs: 60,
        }
    }
}

/// One torrent as the queue sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueEntry {
    /// Which.
    pub info_hash: InfoHash,
    /// Its place (lower goes first; ties by info-hash).
    pub pos: u64,
    /// Nothing wanted is missing: it takes a seeding slot.
    pub complete: bool,
    /// It would run if the queue let it: not paused by the user, not errored,
    /// not moving.
    pub eligible: bool,
    /// Forced: runs whatever the queue says, and takes no slot.
    pub forced: bool,
    /// Queued now.
    pub queued: bool,
    /// Seconds it has run without moving data faster than the slow rates
    /// (0 while queued).
    pub idle_secs: u64,
}

/// Which torrents to queue (`true`) or let run (`false`): only those whose
/// state changes. Torrents are taken in queue order; each that counts takes a
/// download or seeding slot and a torrent slot while there are any, else it
/// waits. A running slow torrent (with `ignore_slow`) keeps running and takes
/// no slot. Forced and ineligible torrents are never queued.
pub fn plan(entries: &[QueueEntry], l: &QueueLimits) -> Vec<(InfoHash, bool)> {
    let mut order: Vec<&QueueEntry> = entries.iter().collect();
    order.sort_by_key(|e| (e.pos, e.info_hash));
    let room = |n: i64, used: i64| n < 0 || used < n;
    let (mut down, mut up, mut all) = (0i64, 0i64, 0i64);
    let mut out = Vec::new();
    for e in order {
        // Running slow torrents (with the rule) take no slot and keep running.
        let slow = l.ignore_slow && !e.queued && e.idle_secs >= l.slow_secs;
        let queue = if !l.enabled || e.forced || !e.eligible || slow {
            false
        } else {
            let (kind_max, kind_used) = if e.complete {
                (l.max_uploads, &mut up)
            } else {
                (l.max_downloads, &mut down)
            };
            if room(kind_max, *kind_used) && room(l.max_torrents, all) {
                *kind_used += 1;
                all += 1;
                false
            } else {
                true
            }
        };
        if queue != e.queued {
            out.push((e.info_hash, queue));
        }
    }
    out
}

impl Core {
    /// Every torrent's [`QueueEntry`]: what [`plan`] needs and nothing more
    /// (at 100,000 torrents a few MB, where their full stats are ~100 MB).
    pub fn queue_entries(&self, now: Time) -> Vec<QueueEntry> {
        self.torrents
            .iter()
            .map(|(ih, t)| {
                // Not paused by the user, not errored, not moving (what
                // `Torrent::state` puts before `Queued`).
                let eligible = t.error.is_none() && t.moving.is_none() && !t.paused;
                QueueEntry {
                    info_hash: *ih,
                    pos: t.queue_pos,
                    complete: t.complete(),
                    eligible,
                    forced: t.forced,
                    queued: eligible && t.queued,
                    idle_secs: t.idle_secs(now),
                }
            })
            .collect()
    }

    /// Queues a torrent (it stops like a paused one and keeps its place) or
    /// lets it run.
    pub fn set_queued(
        &mut self,
        now: Time,
        info_hash: InfoHash,
        queued: bool,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        if self.torrent_mut(info_hash)?.queued == queued {
            return Ok(());
        }
        if queued {
            self.stop_peers(info_hash, out)?;
        }
        let t = self.torrent_mut(info_hash)?;
        t.queued = queued;
        // Its idle time counts from when it runs again.
        t.busy_at = now;
        if !queued {
            self.drive_checking(info_hash, out);
        }
        Ok(())
    }

    /// A torrent's place in the queue.
    pub fn set_queue_pos(&mut self, info_hash: InfoHash, pos: u64) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        if t.queue_pos != pos {
            t.queue_pos = pos;
            t.dirty = true;
        }
        Ok(())
    }

    /// Force start on or off (a forced torrent is never queued).
    pub fn set_forced(
        &mut self,
        now: Time,
        info_hash: InfoHash,
        on: bool,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        if t.forced != on {
            t.forced = on;
            t.save_now = true;
        }
        if on {
            self.set_queued(now, info_hash, false, out)?;
        }
        Ok(())
    }

    /// The rates under which a running torrent is idle (for the slow rule).
    pub fn set_slow_rates(&mut self, download: u64, upload: u64) {
        self.slow_rates = (download, upload);
    }

    /// Marks torrents moving data faster than the slow rates as busy now.
    pub(super) fn note_busy(&mut self, now: Time) {
        let (down, up) = self.slow_rates;
        for t in self.torrents.values_mut() {
            if !t.is_running() {
                t.busy_at = now;
                continue;
            }
            let busy = t.down_rate.rate(now) >= down || t.up_rate.rate(now) >= up;
            if busy {
                t.busy_at = now;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(n: u8, pos: u64, complete: bool) -> QueueEntry {
        QueueEntry {
            info_hash: InfoHash([n; 20]),
            pos,
            complete,
            eligible: true,
            forced: false,
            queued: false,
            idle_secs: 0,
        }
    }

    fn limits(down: i64, up: i64, all: i64) -> QueueLimits {
        QueueLimits {
            enabled: true,
            max_downloads: down,
            max_uploads: up,
            max_torrents: all,
            ..QueueLimits::default()
        }
    }

    #[test]
    fn the_first_in_order_run_and_the_rest_wait() {
        let v = vec![
            e(1, 3, false),
            e(2, 1, false),
            e(3, 2, false),
            e(4, 4, true),
        ];
        let got = plan(&v, &limits(2, 1, 5));
        assert_eq!(got, vec![(InfoHash([1; 20]), true)]);
        // The torrent limit binds before the kind's.
        let got = plan(&v, &limits(3, 3, 2));
        assert_eq!(
            got,
            vec![(InfoHash([1; 20]), true), (InfoHash([4; 20]), true)]
        );
        // Off: nothing queued, and queued ones run again.
        let mut q = v.clone();
        q[0].queued = true;
        assert_eq!(
            plan(&q, &QueueLimits::default()),
            vec![(InfoHash([1; 20]), false)]
        );
    }

    #[test]
    fn forced_paused_and_slow_torrents_take_no_slot() {
        let mut v = vec![
            e(1, 1, false),
            e(2, 2, false),
            e(3, 3, false),
            e(4, 4, false),
        ];
        v[0].forced = true;
        v[1].eligible = false;
        v[2].idle_secs = 600;
        let mut l = limits(1, 1, 1);
        // Slow counts unless told: 3 takes the slot, 4 waits.
        assert_eq!(plan(&v, &l), vec![(InfoHash([4; 20]), true)]);
        l.ignore_slow = true;
        assert_eq!(plan(&v, &l), vec![]);
        // A queued torrent is never "slow": it waits its turn.
        v[3].queued = true;
        v[3].idle_secs = 600;
        assert_eq!(plan(&v, &l), vec![(InfoHash([4; 20]), false)]);
    }
}
