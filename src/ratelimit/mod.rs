//! Rates and rate limits: the rolling [`RateTracker`] and the [`TokenBucket`].
//!
//! What it owns: measuring bytes per second over a sliding window, and capping them.
//! Both take the time as an argument and read no clock, so they behave the same under
//! the sim's virtual clock and the real one.
//!
//! Invariants: a tracker's memory is fixed at construction (a ring of buckets); a
//! bucket never holds more than its burst, so an idle minute does not turn into a
//! one-second flood.

mod bucket;
mod tracker;

pub use bucket::TokenBucket;
pub use tracker::RateTracker;
