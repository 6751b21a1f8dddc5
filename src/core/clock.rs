//! A torrent's clocks: the seconds it has seeded (for the share limits and
//! qBittorrent's `seeding_time`) and the seconds it has run at all, paused,
//! queued and failed time left out (qBittorrent's `time_active`). Each is
//! banked as it goes, at the share pass (`Core::apply_share_limits`), so a save
//! carries it; when only the clocks moved, the save writes them alone, in a
//! small record of their own (`resume_lmdb::clock_key`), instead of the
//! torrent's whole record.

use crate::types::Time;

/// Seconds spent in one state: those banked, and since when it is in it now.
/// 16 bytes: two of these in every torrent, 100,000 torrents in a daemon.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StateClock {
    /// In the state since, core time in nanoseconds (`OFF`: not in it now;
    /// the core's time reaches it after 584 years).
    since: u64,
    /// Whole seconds banked (136 years fit).
    secs: u32,
    /// Of those, the seconds the store holds: what a save compares with.
    saved: u32,
}

impl Default for StateClock {
    fn default() -> Self {
        StateClock {
            since: OFF,
            secs: 0,
            saved: 0,
        }
    }
}

const OFF: u64 = u64::MAX;

impl StateClock {
    fn since(&self) -> Option<Time> {
        (self.since != OFF).then_some(Time(self.since))
    }

    /// A clock that starts from `secs` banked, the store holding as much
    /// (`saved`) or nothing of it.
    pub fn from_secs(secs: u64, saved: bool) -> StateClock {
        let secs = u32::try_from(secs).unwrap_or(u32::MAX);
        StateClock {
            since: OFF,
            secs,
            saved: if saved { secs } else { 0 },
        }
    }

    /// Starts, stops or banks the clock as of `now`; `true` when it stopped.
    pub fn run(&mut self, now: Time, on: bool) -> bool {
        match (on, self.since()) {
            (true, None) => self.since = now.0.min(OFF - 1),
            (false, Some(since)) => {
                self.bank(now.since(since).as_secs());
                self.since = OFF;
                return true;
            }
            (true, Some(since)) => {
                // Whole seconds only: the rest stays in `since`.
                let add = now.since(since).as_secs();
                self.bank(add);
                self.since = (since + std::time::Duration::from_secs(add)).0.min(OFF - 1);
            }
            (false, None) => {}
        }
        false
    }

    fn bank(&mut self, secs: u64) {
        let add = u32::try_from(secs).unwrap_or(u32::MAX);
        self.secs = self.secs.saturating_add(add);
    }

    /// In the state now.
    pub fn is_on(&self) -> bool {
        self.since != OFF
    }

    /// Seconds as of `now`.
    pub fn at(&self, now: Time) -> u64 {
        u64::from(self.secs) + self.since().map_or(0, |s| now.since(s).as_secs())
    }

    /// Seconds banked.
    pub fn banked(&self) -> u64 {
        u64::from(self.secs)
    }

    /// Seconds banked that the store does not hold yet.
    pub fn unsaved(&self) -> u64 {
        u64::from(self.secs.saturating_sub(self.saved))
    }

    /// The store now holds every second banked.
    pub fn mark_saved(&mut self) {
        self.saved = self.secs;
    }
}

/// What a torrent's clock record holds: seconds seeded and run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ClockSecs {
    /// Seconds seeded.
    pub seeding: u64,
    /// Seconds run (`None`: a record from before this was kept, which held
    /// the seconds seeded alone).
    pub running: Option<u64>,
}

impl ClockSecs {
    /// The larger of each count (seconds only grow, so the larger is the newer).
    pub fn max(self, other: ClockSecs) -> ClockSecs {
        ClockSecs {
            seeding: self.seeding.max(other.seeding),
            running: self.running.max(other.running),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_banks_whole_seconds_and_keeps_the_rest() {
        let mut c = StateClock::from_secs(10, true);
        assert!(!c.run(Time::from_millis(1_000), true));
        assert!(c.is_on());
        // 2.7 s: 2 banked, 0.7 s carried in `since`.
        c.run(Time::from_millis(3_700), true);
        assert_eq!((c.banked(), c.unsaved()), (12, 2));
        assert_eq!(c.at(Time::from_millis(4_000)), 13);
        assert!(c.run(Time::from_millis(4_100), false));
        assert_eq!(c.banked(), 13, "the carried 0.7 s and 0.4 s make one more");
        assert!(!c.is_on());
        // Stopped, it stands still.
        assert_eq!(c.at(Time::from_secs(100)), 13);
        c.mark_saved();
        assert_eq!(c.unsaved(), 0);
    }

    #[test]
    fn a_clock_is_small() {
        assert_eq!(std::mem::size_of::<StateClock>(), 16);
    }

    #[test]
    fn a_clock_from_an_import_is_not_yet_saved() {
        let c = StateClock::from_secs(u64::MAX, false);
        assert_eq!(
            (c.banked(), c.unsaved()),
            (u64::from(u32::MAX), u64::from(u32::MAX))
        );
    }

    #[test]
    fn the_newer_of_two_clock_records_is_the_larger() {
        let old = ClockSecs {
            seeding: 50,
            running: None,
        };
        let new = ClockSecs {
            seeding: 40,
            running: Some(90),
        };
        assert_eq!(
            old.max(new),
            ClockSecs {
                seeding: 50,
                running: Some(90)
            }
        );
    }
}
