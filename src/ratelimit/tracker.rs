//! A rolling-window byte rate.

use crate::types::Time;

/// Bytes per second over the last `window`, kept in sub-second buckets.
///
/// The default window is 5 s in 20 buckets of 250 ms. The rate counts the bytes in the
/// buckets that fall inside the window ending now, divided by the window's length
/// (or by the time since the first byte, while the tracker is younger than one window,
/// so a fresh peer's rate is not understated).
#[derive(Debug, Clone)]
pub struct RateTracker {
    /// The window, in milliseconds, and how many buckets it is cut into.
    window_ms: u32,
    slots: u32,
    /// Nothing until the first byte: most torrents of a large seedbox, and
    /// many of their peers, never move one (16 bytes each then, not 72).
    live: Option<Box<Live>>,
}

/// A tracker's buckets, from its first byte on.
#[derive(Debug, Clone)]
struct Live {
    bucket_ns: u64,
    /// Index (time / bucket_ns) of the newest bucket written.
    head: u64,
    started: Time,
    total: u64,
    buckets: Box<[u64]>,
}

impl Default for RateTracker {
    fn default() -> Self {
        RateTracker::new(5_000, 20)
    }
}

impl RateTracker {
    /// A tracker over `window_ms` milliseconds (under 49 days) in `buckets`
    /// buckets.
    pub fn new(window_ms: u32, buckets: u32) -> RateTracker {
        assert!(buckets > 0 && window_ms > 0);
        RateTracker {
            window_ms,
            slots: buckets,
            live: None,
        }
    }

    /// Records `bytes` at `now`.
    pub fn add(&mut self, now: Time, bytes: u64) {
        let (window_ms, slots) = (self.window_ms, self.slots);
        let live = self.live.get_or_insert_with(|| {
            let bucket_ns = u64::from(window_ms) * 1_000_000 / u64::from(slots);
            Box::new(Live {
                bucket_ns,
                head: now.0 / bucket_ns,
                started: now,
                total: 0,
                buckets: vec![0; slots as usize].into_boxed_slice(),
            })
        });
        live.advance(now);
        let slot = live.slot(live.head);
        live.buckets[slot] += bytes;
        live.total += bytes;
    }

    /// Bytes per second over the window ending at `now`.
    pub fn rate(&mut self, now: Time) -> u64 {
        let Some(live) = self.live.as_deref_mut() else {
            return 0;
        };
        live.advance(now);
        let sum: u64 = live.buckets.iter().sum();
        let window_ns = live.bucket_ns * live.buckets.len() as u64;
        // While younger than a window, divide by the time actually covered (but at
        // least one bucket, so a single burst does not read as infinite).
        let covered = (now.0.saturating_sub(live.started.0) + live.bucket_ns).min(window_ns);
        u64::try_from(u128::from(sum) * 1_000_000_000 / u128::from(covered)).unwrap_or(u64::MAX)
    }

    /// Bytes per second over about the last `ms` (whole buckets before the
    /// current one, which counts as far as it goes): quicker than [`rate`]
    /// to show that a peer slowed down.
    ///
    /// [`rate`]: RateTracker::rate
    pub fn recent_rate(&mut self, now: Time, ms: u64) -> u64 {
        let Some(live) = self.live.as_deref_mut() else {
            return 0;
        };
        live.advance(now);
        let len = live.buckets.len() as u64;
        let n = (ms * 1_000_000 / live.bucket_ns).clamp(1, len);
        let sum: u64 = (0..n)
            .map(|i| live.buckets[live.slot(live.head + len - i)])
            .sum();
        let into_current = now.0.saturating_sub(live.head * live.bucket_ns);
        let covered = ((n - 1) * live.bucket_ns + into_current)
            .min(now.0.saturating_sub(live.started.0))
            .max(live.bucket_ns);
        u64::try_from(u128::from(sum) * 1_000_000_000 / u128::from(covered)).unwrap_or(u64::MAX)
    }

    /// Every byte ever recorded.
    pub fn total(&self) -> u64 {
        self.live.as_ref().map_or(0, |l| l.total)
    }
}

impl Live {
    /// The ring's place for bucket index `i`.
    fn slot(&self, i: u64) -> usize {
        usize::try_from(i % self.buckets.len() as u64).expect("ring index")
    }

    fn advance(&mut self, now: Time) {
        let idx = now.0 / self.bucket_ns;
        if idx <= self.head {
            return;
        }
        let n = self.buckets.len() as u64;
        // Clear every bucket that the clock moved past (at most the whole ring).
        for i in (self.head + 1)..=idx.min(self.head + n) {
            let slot = self.slot(i);
            self.buckets[slot] = 0;
        }
        self.head = idx;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tracker_holds_nothing_until_its_first_byte() {
        assert_eq!(std::mem::size_of::<RateTracker>(), 16);
        let mut t = RateTracker::default();
        assert_eq!((t.rate(Time::from_secs(9)), t.total()), (0, 0));
        assert_eq!(t.recent_rate(Time::from_secs(9), 1_000), 0);
        assert!(t.live.is_none());
        t.add(Time::from_secs(10), 0);
        assert!(t.live.is_some());
    }

    #[test]
    fn steady_stream_reads_its_rate() {
        let mut t = RateTracker::default();
        // 100 KiB every 100 ms = 1000 KiB/s, for 20 s.
        for i in 0..200 {
            t.add(Time::from_millis(i * 100), 100 * 1024);
        }
        let r = t.rate(Time::from_millis(19_950));
        let want = 1000 * 1024;
        assert!(r.abs_diff(want) * 100 <= want * 3, "rate {r}, want ~{want}");
        assert_eq!(t.total(), 200 * 100 * 1024);
    }

    #[test]
    fn rate_decays_to_zero_after_the_window() {
        let mut t = RateTracker::default();
        for i in 0..50 {
            t.add(Time::from_millis(i * 100), 10_000);
        }
        assert!(t.rate(Time::from_millis(5_000)) > 0);
        assert_eq!(t.rate(Time::from_millis(10_500)), 0);
        // A long silence followed by new traffic does not resurrect old buckets.
        t.add(Time::from_secs(100), 1000);
        assert!(t.rate(Time::from_secs(100)) <= 4000);
    }

    #[test]
    fn young_tracker_is_not_understated() {
        let mut t = RateTracker::default();
        for i in 0..10 {
            t.add(Time::from_millis(i * 100), 50_000); // 500 KB/s for 1 s
        }
        let r = t.rate(Time::from_millis(1_000));
        assert!((400_000..=600_000).contains(&r), "{r}");
    }

    #[test]
    fn halving_the_stream_halves_the_rate() {
        let mut t = RateTracker::new(2_000, 8);
        for i in 0..100 {
            t.add(Time::from_millis(i * 50), 5_000); // 100 KB/s
        }
        for i in 100..300 {
            t.add(Time::from_millis(i * 50), 2_500); // 50 KB/s
        }
        let r = t.rate(Time::from_millis(299 * 50));
        assert!((45_000..=56_000).contains(&r), "{r}");
    }

    #[test]
    fn the_recent_rate_shows_a_slowdown_the_window_still_hides() {
        let mut t = RateTracker::default();
        // 4 MB/s for 4 s, then 250 KB/s for one second.
        for i in 0..400 {
            t.add(Time::from_millis(i * 10), 40_000);
        }
        for i in 400..500 {
            t.add(Time::from_millis(i * 10), 2_500);
        }
        let now = Time::from_millis(4_999);
        let recent = t.recent_rate(now, 1_000);
        assert!((200_000..=400_000).contains(&recent), "{recent}");
        assert!(t.rate(now) > 3_000_000, "{}", t.rate(now));
        // Young: over the time since the first byte, never less than a bucket.
        let mut y = RateTracker::default();
        y.add(Time::from_millis(10_000), 50_000);
        let r = y.recent_rate(Time::from_millis(10_100), 1_000);
        assert_eq!(r, 200_000, "one bucket's worth: 50 KB in 250 ms");
        assert_eq!(RateTracker::default().recent_rate(now, 1_000), 0);
    }
}
