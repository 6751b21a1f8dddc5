//! Stats by version: which torrents' numbers changed since a reader last
//! looked, without building the numbers of those that did not.
//!
//! Each torrent carries a fingerprint of everything its stats show and the
//! version at which that fingerprint last changed. [`Core::stats_since`]
//! recomputes the fingerprints (a hash over plain fields, no allocation),
//! gives changed torrents the next version of the core's counter, and returns
//! full stats only for torrents newer than the reader's version. A reader
//! keeps the version it got and asks from it next time; a torrent moving data
//! is always changed (its rates and last activity move), an idle seedbox's
//! torrents are not, so a poll of 100,000 idle torrents costs one hash each.

use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::*;

/// A fast 64-bit hasher for fingerprints and maps keyed by info-hash (a
/// multiply-and-rotate mix, one step per 8 bytes). Not for maps whose keys an
/// outsider chooses freely: it has no seed.
#[derive(Debug, Default, Clone, Copy)]
pub struct QuickHasher(u64);

const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

impl QuickHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(MIX);
    }
}

impl Hasher for QuickHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // Byte by byte (at most seven): a copy into a word would be a call
            // to `memmove` for every string hashed.
            let last =
                (rest.iter().enumerate()).fold(0u64, |w, (i, &b)| w | u64::from(b) << (8 * i));
            self.add(last);
        }
        self.add(bytes.len() as u64);
    }

    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }

    fn write_usize(&mut self, v: usize) {
        self.add(v as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Maps keyed by info-hash with [`QuickHasher`] (info-hashes are already
/// uniform; the torrents are the user's own).
pub type QuickBuild = BuildHasherDefault<QuickHasher>;

/// Most removals remembered for readers; a reader whose version is older
/// than the oldest forgotten one gets every torrent's info-hash instead.
pub const REMOVALS_KEPT: usize = 65_536;

/// What [`Core::stats_since`] answers.
#[derive(Debug, Clone, Default)]
pub struct StatsSince {
    /// The core's version now: ask from it next time.
    pub version: u64,
    /// Every torrent of the core, when the removals since the version asked
    /// from are not all known (a first call, or more removals than
    /// [`REMOVALS_KEPT`] since); else `None` and `removed` says what went.
    pub all: Option<Vec<InfoHash>>,
    /// Torrents removed since the version asked from.
    pub removed: Vec<InfoHash>,
    /// The stats of torrents changed since the version asked from.
    pub changed: Vec<TorrentStats>,
}

impl Torrent {
    /// A hash of everything [`Core::stats`] shows of it at `now` (the rates of
    /// a torrent moving data change every tick, so it always differs then),
    /// but for two numbers that move on their own and that no reader of
    /// [`Core::stats_since`] shows: the idle clock (every second) and the
    /// known addresses by source (a walk over up to 2,000 of them).
    fn fingerprint(&mut self, now: Time, peers: (usize, usize)) -> u64 {
        let mut h = QuickHasher::default();
        let down = self.down_rate.rate(now);
        let up = self.up_rate.rate(now);
        (down, up).hash(&mut h);
        if down > 0 || up > 0 {
            now.hash(&mut h);
        }
        self.name.hash(&mut h);
        std::mem::discriminant(&self.state()).hash(&mut h);
        (self.error.as_deref(), self.note.as_deref()).hash(&mut h);
        (self.have.count(), self.have.len(), self.info.is_some()).hash(&mut h);
        (
            self.downloaded,
            self.uploaded,
            self.wasted,
            self.hash_failures,
        )
            .hash(&mut h);
        (peers, self.peers.len(), self.banned.len()).hash(&mut h);
        // The headline tracker, its error and warning, the swarm: hashed by
        // the announcer as they change.
        self.announcer.shown().hash(&mut h);
        // The tiers' order moves as trackers answer; stats show their count.
        self.announcer.count().hash(&mut h);
        (
            self.root_lost,
            &self.root_token,
            self.manual,
            self.super_seeding,
        )
            .hash(&mut h);
        self.finish_in.as_ref().map(|f| &f.token).hash(&mut h);
        (self.added_at, self.completed_at).hash(&mut h);
        (
            self.sequential,
            self.down_limit.rate(),
            self.up_limit.rate(),
        )
            .hash(&mut h);
        (&self.labels, &self.category, self.queue_pos, self.forced).hash(&mut h);
        let s = self.share;
        (s.ratio_milli, s.seeding_mins, s.inactive_mins).hash(&mut h);
        self.share_action.hash(&mut h);
        // Seeding and running time as views show them: in whole minutes
        // (each torrent's minute turns at its own moment).
        (self.seeding_secs_at(now) / 60).hash(&mut h);
        (self.run_clock.at(now) / 60).hash(&mut h);
        // While it seeds, shown from the seeding clock itself (its minute
        // above); else as a share pass set it.
        if !self.seeds_whole() {
            self.seen_complete.hash(&mut h);
        }
        self.moving.is_some().hash(&mut h);
        // What is shown of its files: the name given, the layout (content
        // path), first and last pieces first, and what is wanted (progress,
        // bytes left). Each priority change, and each new layout (its name and
        // content path with it), moves the epoch.
        (&self.display_name, self.first_last, self.content_layout).hash(&mut h);
        (self.priority_epoch, self.writing.len()).hash(&mut h);
        Core::web_seed_bytes(self).hash(&mut h);
        h.finish()
    }
}

impl Core {
    /// The stats of torrents changed since `version` (all of them for 0), the
    /// core's version now, and every torrent's info-hash.
    pub fn stats_since(&mut self, now: Time, version: u64) -> StatsSince {
        // Removals newer than `version` were forgotten: the reader compares
        // every torrent instead.
        let forgot = self.removals_dropped > version;
        let mut out = StatsSince {
            all: (version == 0 || forgot).then(|| Vec::with_capacity(self.torrents.len())),
            removed: self
                .removals
                .iter()
                .filter(|(v, _)| *v > version)
                .map(|(_, ih)| *ih)
                .collect(),
            ..StatsSince::default()
        };
        let mut newer = Vec::new();
        for (ih, t) in &mut self.torrents {
            let mut peers = (0, 0);
            for k in &t.peers {
                if let Some(p) = self.peers.get(k)
                    && p.info_hash == Some(*ih)
                    && p.phase == Phase::Active
                {
                    peers.0 += 1;
                    peers.1 += usize::from(p.is_seed());
                }
            }
            let fp = t.fingerprint(now, peers);
            if fp != t.stats_fp || t.stats_version == 0 {
                self.stats_counter += 1;
                t.stats_fp = fp;
                t.stats_version = self.stats_counter;
            }
            if t.stats_version > version {
                newer.push(*ih);
            }
            if let Some(all) = &mut out.all {
                all.push(*ih);
            }
        }
        out.changed = newer
            .into_iter()
            .filter_map(|ih| self.stats(now, ih))
            .collect();
        out.version = self.stats_counter;
        out
    }

    /// Notes a removal for readers of [`Core::stats_since`].
    pub(super) fn note_removal(&mut self, ih: InfoHash) {
        self.stats_counter += 1;
        if self.removals.len() >= REMOVALS_KEPT
            && let Some((v, _)) = self.removals.pop_front()
        {
            self.removals_dropped = v;
        }
        self.removals.push_back((self.stats_counter, ih));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: impl Hash) -> u64 {
        let mut x = QuickHasher::default();
        v.hash(&mut x);
        x.finish()
    }

    #[test]
    fn the_quick_hasher_tells_values_apart() {
        assert_ne!(h(1u64), h(2u64));
        assert_ne!(h("ab"), h("ba"));
        assert_ne!(h(("a", "bc")), h(("ab", "c")));
        assert_ne!(h([0u8; 9]), h([0u8; 8]));
        assert_eq!(h("same"), h("same"));
    }
}
