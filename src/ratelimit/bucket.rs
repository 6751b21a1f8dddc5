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
    rate_bytes_per_sec: u64,
    burst_bytes: u64,
    /// Tokens scaled by 1e9 (byte-nanoseconds per second), so refills are exact.
    tokens_scaled: u128,
    last: Time,
}

impl TokenBucket {
    /// A bucket for `rate_bytes_per_sec` (0 = unlimited) holding up to one second of
    /// traffic (at least 16 KiB, so one block can always pass).
    pub fn new(rate_bytes_per_sec: u64) -> TokenBucket {
        let burst = rate_bytes_per_sec.max(16 * 1024);
        TokenBucket {
            rate_bytes_per_sec,
            burst_bytes: burst,
            tokens_scaled: u128::from(burst) * 1_000_000_000,
            last: Time::ZERO,
        }
    }

    /// The configured rate (0 = unlimited).
    pub fn rate(&self) -> u64 {
        self.rate_bytes_per_sec
    }

    /// The most bytes it lets through at once (a full bucket).
    pub fn burst(&self) -> u64 {
        self.burst_bytes
    }

    /// Changes the rate, keeping what is saved up (capped to the new burst).
    pub fn set_rate(&mut self, now: Time, rate_bytes_per_sec: u64) {
        self.refill(now);
        self.rate_bytes_per_sec = rate_bytes_per_sec;
        self.burst_bytes = rate_bytes_per_sec.max(16 * 1024);
        self.tokens_scaled = self
            .tokens_scaled
            .min(u128::from(self.burst_bytes) * 1_000_000_000);
    }

    fn refill(&mut self, now: Time) {
        if now > self.last {
            let gained = u128::from(now.0 - self.last.0) * u128::from(self.rate_bytes_per_sec);
            let cap = u128::from(self.burst_bytes) * 1_000_000_000;
            self.tokens_scaled = (self.tokens_scaled + gained).min(cap);
            self.last = now;
        }
    }

    /// Whether `n` bytes may pass now; if so they are taken from the budget.
    pub fn take(&mut self, now: Time, n: u64) -> bool {
        if self.rate_bytes_per_sec == 0 {
            return true;
        }
        self.refill(now);
        let need = u128::from(n) * 1_000_000_000;
        if self.tokens_scaled >= need {
            self.tokens_scaled -= need;
            true
        } else {
            false
        }
    }

    /// Bytes that may pass now (`None`: unlimited), without taking them.
    pub fn available(&mut self, now: Time) -> Option<u64> {
        if self.rate_bytes_per_sec == 0 {
            return None;
        }
        self.refill(now);
        Some(u64::try_from(self.tokens_scaled / 1_000_000_000).unwrap_or(u64::MAX))
    }

    /// How long until `n` bytes could pass (zero if now).
    pub fn wait(&mut self, now: Time, n: u64) -> std::time::Duration {
        if self.rate_bytes_per_sec == 0 {
            return std::time::Duration::ZERO;
        }
        self.refill(now);
        let need = u128::from(n.min(self.burst_bytes)) * 1_000_000_000;
        let missing = need.saturating_sub(self.tokens_scaled);
        let ns = missing.div_ceil(u128::from(self.rate_bytes_per_sec));
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
        let mut b = TokenBucket::new(0);
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
    }
}
