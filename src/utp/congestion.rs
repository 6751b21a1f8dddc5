//! LEDBAT (BEP 29, RFC 6817): the send window grows while the one-way delay the
//! peer measures stays under a target, and shrinks as a queue builds, so uTP
//! gives way to TCP on a shared bottleneck. Also the round-trip estimate and the
//! retransmission timeout, as TCP keeps them.

use std::time::Duration;

use crate::types::Time;

/// The queueing delay LEDBAT aims for.
pub const TARGET: Duration = Duration::from_millis(100);
/// Window growth per round trip at zero queueing delay (BEP 29).
const GAIN_PER_RTT: f64 = 3000.0;
/// The base delay is the least delay seen over this many minutes.
const BASE_MINUTES: usize = 2;
/// The shortest retransmission timeout, and the first.
const MIN_RTO: Duration = Duration::from_millis(500);
const FIRST_RTO: Duration = Duration::from_secs(1);
const MAX_RTO: Duration = Duration::from_secs(30);
/// The largest window on a short path: a burst of more lands in a peer's UDP
/// receive buffer (about 200 KB by default on Linux, ~2 KB of it per packet)
/// faster than a busy peer drains it, and the holes that leaves are what stall
/// a transfer.
pub const MAX_WINDOW: f64 = 128.0 * 1024.0;
/// On a longer path the window may hold this rate's worth of the least round
/// trip seen (128 KiB over 100 ms would cap a connection at 1.3 MB/s): there a
/// window spreads over the round trip as the peer's ACKs release it (sends are
/// not paced, so slow start and a resend after a loss still come in bursts).
const LONG_PATH_RATE: f64 = 32.0 * 1024.0 * 1024.0;
/// The largest window on any path (the peer's advertised window bounds it too).
const MAX_LONG_WINDOW: f64 = 4.0 * 1024.0 * 1024.0;

/// One direction's congestion state.
#[derive(Debug, Clone)]
pub struct Ledbat {
    /// Bytes allowed in flight.
    window: f64,
    /// The least window (two packets: one lost still leaves room for its resend).
    min_window: f64,
    /// Doubling each round trip until the first loss or queueing delay.
    slow_start: bool,
    /// Least delay per minute, newest last: `(minute, micros)`.
    base: Vec<(u64, u32)>,
    /// Last queueing delay measured, for stats.
    pub queue_delay: Duration,
    srtt: Option<Duration>,
    /// The least round trip seen: the path's own, without queues.
    min_rtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
}

/// The lesser of two delay samples. Samples are differences of two 32-bit
/// microsecond clocks, so they wrap: they are compared by their distance
/// (samples of one path lie within 35 minutes of each other), never as plain
/// numbers, or a base near the wrap would read every later sample as
/// a huge queue.
fn earlier(a: u32, b: u32) -> u32 {
    if (b.wrapping_sub(a) as i32) < 0 { b } else { a }
}

impl Ledbat {
    /// A window of two packets of `packet` bytes, in slow start.
    pub fn new(packet: usize) -> Ledbat {
        let p = packet as f64;
        Ledbat {
            window: 2.0 * p,
            min_window: 2.0 * p,
            slow_start: true,
            base: Vec::new(),
            queue_delay: Duration::ZERO,
            srtt: None,
            min_rtt: None,
            rttvar: Duration::ZERO,
            rto: FIRST_RTO,
        }
    }

    /// Bytes allowed in flight.
    pub fn window(&self) -> usize {
        #[allow(clippy::cast_possible_truncation)] // whole bytes; kept within usize
        let w = self.window as usize;
        w
    }

    /// The retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rto
    }

    /// The smoothed round trip, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The largest window this path allows: [`MAX_WINDOW`], or more on a path
    /// whose least round trip is long ([`LONG_PATH_RATE`]).
    fn max_window(&self) -> f64 {
        let rtt = self.min_rtt.map_or(0.0, |r| r.as_secs_f64());
        (rtt * LONG_PATH_RATE).clamp(MAX_WINDOW, MAX_LONG_WINDOW)
    }

    /// A round-trip sample (from a packet sent once).
    pub fn on_rtt(&mut self, sample: Duration) {
        self.min_rtt = Some(self.min_rtt.map_or(sample, |m| m.min(sample)));
        match self.srtt {
            None => {
                self.srtt = Some(sample);
                self.rttvar = sample / 2;
            }
            Some(s) => {
                let diff = s.abs_diff(sample);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((s * 7 + sample) / 8);
            }
        }
        let s = self.srtt.unwrap_or(sample);
        self.rto = (s + self.rttvar * 4).clamp(MIN_RTO, MAX_RTO);
    }

    /// `acked` bytes were acknowledged by a packet that says our packets reach
    /// the peer after `delay_us` (its clock minus ours: only differences
    /// between samples mean anything); `in_flight` were outstanding before.
    pub fn on_ack(&mut self, now: Time, acked: usize, delay_us: u32, in_flight: usize) {
        let minute = now.0 / 60_000_000_000;
        match self.base.last_mut() {
            Some((m, d)) if *m == minute => *d = earlier(*d, delay_us),
            _ => {
                self.base.push((minute, delay_us));
                if self.base.len() > BASE_MINUTES {
                    self.base.remove(0);
                }
            }
        }
        let base = (self.base.iter().map(|b| b.1)).fold(delay_us, earlier);
        let queue = Duration::from_micros(u64::from(delay_us.wrapping_sub(base).min(10_000_000)));
        self.queue_delay = queue;
        let off_target = (TARGET.as_secs_f64() - queue.as_secs_f64()) / TARGET.as_secs_f64();
        if self.slow_start && off_target > 0.1 {
            // Only while the window is what limits us: an idle sender learns
            // nothing about the path.
            if in_flight as f64 + acked as f64 >= self.window * 0.5 {
                self.window = (self.window + acked as f64).min(self.max_window());
            }
            return;
        }
        self.slow_start = false;
        let acked = acked as f64;
        let scale = acked.min(self.window) / self.window.max(acked);
        // Above the target, the decrease grows with the queue (RFC 6817 sets no
        // floor): behind a full 500 ms queue the window falls four times as
        // fast as it grows at an empty one.
        let gain = GAIN_PER_RTT * off_target.min(1.0) * scale;
        if gain < 0.0 || in_flight as f64 + acked >= self.window * 0.5 {
            self.window = (self.window + gain).clamp(self.min_window, self.max_window());
        }
    }

    /// A packet was lost (found by duplicate or selective ACKs): halve once.
    pub fn on_loss(&mut self) {
        self.slow_start = false;
        self.window = (self.window / 2.0).max(self.min_window);
    }

    /// The oldest packet timed out: back to the least window, and a longer
    /// timeout until a round trip is measured again.
    pub fn on_timeout(&mut self) {
        self.slow_start = false;
        self.window = self.min_window;
        self.rto = (self.rto * 2).min(MAX_RTO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_grows_below_the_target_and_shrinks_above_it() {
        let mut c = Ledbat::new(1000);
        c.on_loss(); // out of slow start
        let t = Time::from_secs(1);
        let w0 = c.window();
        // No queueing delay (every sample at the base): grows.
        for _ in 0..100 {
            c.on_ack(t, 1000, 5_000, c.window());
        }
        let grown = c.window();
        assert!(grown > w0 + 10_000, "{w0} -> {grown}");
        // 200 ms over the base: twice the target, shrinks to the floor.
        for _ in 0..1000 {
            c.on_ack(t, 1000, 205_000, c.window());
        }
        assert_eq!(c.window(), 2000);
        assert_eq!(c.queue_delay, Duration::from_millis(200));
    }

    #[test]
    fn slow_start_doubles_until_the_delay_rises() {
        let mut c = Ledbat::new(1000);
        let t = Time::from_secs(1);
        c.on_ack(t, 2000, 100, 2000);
        assert_eq!(c.window(), 4000);
        c.on_ack(t, 4000, 100, 4000);
        assert_eq!(c.window(), 8000);
        // 95 ms of queue: out of slow start, now additive.
        c.on_ack(t, 1000, 95_100, 8000);
        assert!(c.window() < 8100);
    }

    #[test]
    fn timeouts_back_off_and_samples_set_the_timeout() {
        let mut c = Ledbat::new(1000);
        assert_eq!(c.rto(), FIRST_RTO);
        c.on_timeout();
        assert_eq!(c.rto(), FIRST_RTO * 2);
        assert_eq!(c.window(), 2000);
        c.on_rtt(Duration::from_millis(200));
        // 200 + 4 × 100.
        assert_eq!(c.rto(), Duration::from_millis(600));
        c.on_rtt(Duration::from_millis(1));
        assert!(c.rto() >= MIN_RTO);
    }

    #[test]
    fn delays_that_straddle_the_clock_wrap_compare_by_distance() {
        let mut c = Ledbat::new(1000);
        c.on_loss();
        let t = Time::from_secs(1);
        // The base sits 1 ms before the wrap; samples 20 ms later wrap to
        // small numbers and are 20 ms of queue, not none (nor four billion).
        c.on_ack(t, 1000, u32::MAX - 999, 2000);
        c.on_ack(t, 1000, 19_000, 2000);
        assert_eq!(c.queue_delay, Duration::from_millis(20));
        // A sample past the wrap but earlier than the base becomes the base.
        c.on_ack(t, 1000, u32::MAX - 4_999, 2000);
        assert_eq!(c.queue_delay, Duration::ZERO);
        c.on_ack(t, 1000, 15_000, 2000);
        assert_eq!(c.queue_delay, Duration::from_millis(20));
    }

    #[test]
    fn the_base_delay_forgets_old_minutes() {
        let mut c = Ledbat::new(1000);
        c.on_loss();
        c.on_ack(Time::from_secs(0), 1000, 1_000, 2000);
        // Three minutes later the path is 50 ms longer for good: that becomes
        // the base, not queueing.
        let later = Time::from_secs(200);
        c.on_ack(later, 1000, 51_000, 2000);
        c.on_ack(Time::from_secs(261), 1000, 51_000, 2000);
        c.on_ack(Time::from_secs(321), 1000, 51_000, 2000);
        assert_eq!(c.queue_delay, Duration::ZERO);
    }
}
