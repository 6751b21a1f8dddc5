//! A token bucket: at most `rate` bytes per second, with bursts up to `burst`.

use crate::types::Time;

/// A byte budget that refills at `rate` bytes per second up to `burst` bytes. A rate
/// of 0 means unlimited.
///
/// Callers ask before moving bytes: [`TokenBucket::take`] grants what the budget
/// allows now, [`TokenBucket::wait`] says how long until `n` bytes would be granted.
/// Over any interval of length T, at most `burst + rate * T` bytes are granted.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// 0: unlimited, and nothing held (most torrents have no limit of their
    /// own: 16 bytes each, not 48).
    rate_bytes_per_sec: u64,
    budget: Option<Box<Budget>>,
}

/// What a limited bucket has saved up.
#[derive(Debug, Clone)]
struct Budget {
    /// Tokens scaled by 1e9 (byte-nanoseconds per second), so refills are exact.
    tokens_scaled: u128,
    last: Time,
}

/// The smallest burst: one block can always pass.
const MIN_BURST: u64 = 16 * 1024;

impl TokenBucket {
    /// A bucket for `rate_bytes_per_sec` (0 = unlimited) holding up to one second of
    /// traffic (at least 16 KiB, so one block can always pass), full.
    pub fn new(rate_bytes_per_sec: u64) -> TokenBucket {
        let mut b = TokenBucket {
            rate_bytes_per_sec,
            budget: None,
        };
        if rate_bytes_per_sec > 0 {
            b.budget = Some(Box::new(Budget {
                tokens_scaled: b.cap(),
                last: Time::ZERO,
            }));
        }
        b
    }

    /// The configured rate (0 = unlimited).
    pub fn rate(&self) -> u64 {
        self.rate_bytes_per_sec
    }

    /// The most bytes it lets through at once (a full bucket).
    pub fn burst(&self) -> u64 {
        self.rate_bytes_per_sec.max(MIN_BURST)
    }

    /// A full bucket's tokens.
    fn cap(&self) -> u128 {
        u128::from(self.burst()) * 1_000_000_000
    }

    /// Changes the rate, keeping what is saved up (capped to the new burst);
    /// a bucket that was unlimited starts with the smallest burst saved.
    pub fn set_rate(&mut self, now: Time, rate_bytes_per_sec: u64) {
        self.refill(now);
        self.rate_bytes_per_sec = rate_bytes_per_sec;
        if rate_bytes_per_sec == 0 {
            self.budget = None;
            return;
        }
        let cap = self.cap();
        let budget = self.budget.get_or_insert_with(|| {
            Box::new(Budget {
                tokens_scaled: u128::from(MIN_BURST) * 1_000_000_000,
                last: now,
            })
        });
        budget.tokens_scaled = budget.tokens_scaled.min(cap);
    }

    /// The budget brought up to `now`: `None` when unlimited.
    fn refill(&mut self, now: Time) -> Option<&mut Budget> {
        let (rate, cap) = (self.rate_bytes_per_sec, self.cap());
        let budget = self.budget.as_deref_mut()?;
        if now > budget.last {
            let gained = u128::from(now.0 - budget.last.0) * u128::from(rate);
            budget.tokens_scaled = (budget.tokens_scaled + gained).min(cap);
            budget.last = now;
        }
        Some(budget)
    }

    /// Whether `n` bytes may pass now; if so they are taken from the budget.
    pub fn take(&mut self, now: Time, n: u64) -> bool {
        let Some(budget) = self.refill(now) else {
            return true;
        };
        let need = u128::from(n) * 1_000_000_000;
        if budget.tokens_scaled >= need {
            budget.tokens_scaled -= need;
            true
        } else {
            false
        }
    }

    /// Bytes that may pass now (`None`: unlimited), without taking them.
    pub fn available(&mut self, now: Time) -> Option<u64> {
        let budget = self.refill(now)?;
        Some(u64::try_from(budget.tokens_scaled / 1_000_000_000).unwrap_or(u64::MAX))
    }

    /// How long until `n` bytes could pass (zero if now).
    pub fn wait(&mut self, now: Time, n: u64) -> std::time::Duration {
        let (rate, burst) = (self.rate_bytes_per_sec, self.burst());
        let Some(budget) = self.refill(now) else {
            return std::time::Duration::ZERO;
        };
        let need = u128::from(n.min(burst)) * 1_000_000_000;
        let missing = need.saturating_sub(budget.tokens_scaled);
        let ns = missing.div_ceil(u128::from(rate));
        std::time::Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Greedy sender asking for 16 KiB every millisecond for a simulated minute.
    fn greedy(rate: u64, secs: u64) -> u64 {
        let mut b = TokenBucket::new(rate);
        let mut sent = 0;
        for ms in 0..secs * 1000 {
            let now = Time::from_millis(ms);
            while b.take(now, 16 * 1024) {
                sent += 16 * 1024;
            }
        }
        sent
    }

    #[test]
    fn cap_holds_within_a_few_percent_over_a_minute() {
        for rate in [50_000u64, 200_000, 1_000_000, 10_000_000] {
            let sent = greedy(rate, 60);
            let want = rate * 60;
            // At most one burst (one second) above, and within 3% below.
            assert!(sent <= want + rate.max(16384), "{rate}: sent {sent}");
            assert!(sent * 100 >= want * 97, "{rate}: sent {sent}");
        }
    }

    #[test]
    fn unlimited_always_passes() {
        assert_eq!(std::mem::size_of::<TokenBucket>(), 16);
        let mut b = TokenBucket::new(0);
        assert!(b.budget.is_none());
        assert!(b.take(Time::ZERO, u64::MAX / 2));
        assert_eq!(b.wait(Time::ZERO, 1 << 30), std::time::Duration::ZERO);
    }

    #[test]
    fn wait_says_when_bytes_will_pass() {
        let mut b = TokenBucket::new(100_000);
        assert!(b.take(Time::ZERO, 100_000));
        let w = b.wait(Time::ZERO, 50_000);
        assert_eq!(w, std::time::Duration::from_millis(500));
        assert!(!b.take(Time::from_millis(499), 50_000));
        assert!(b.take(Time::from_millis(500), 50_000));
    }

    #[test]
    fn changing_the_rate_applies_at_once() {
        let mut b = TokenBucket::new(1_000_000);
        b.set_rate(Time::ZERO, 20_000);
        assert!(b.take(Time::ZERO, 20_000));
        assert!(!b.take(Time::ZERO, 1));
        b.set_rate(Time::from_secs(1), 0);
        assert!(b.take(Time::from_secs(1), 1 << 40));
        // Limited again: one block's worth saved, then the rate's refills.
        b.set_rate(Time::from_secs(2), 100_000);
        assert!(b.take(Time::from_secs(2), 16 * 1024));
        assert!(!b.take(Time::from_secs(2), 1));
        assert!(b.take(Time::from_millis(2_100), 10_000));
    }
}
