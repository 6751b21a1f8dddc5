//! Announce failures said per tracker, not per torrent: a tracker that goes
//! down under 100,000 torrents is two lines a minute, not 100,000.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::types::{InfoHash, Time};

/// How often the failures counted since the last report are said.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Trackers whose announces started failing since the last report.
#[derive(Debug, Default)]
pub(super) struct FailureLog {
    /// By tracker URL: torrents that started failing there, the first one's
    /// error. Bound: the core's trackers (each a torrent's), emptied at each
    /// report.
    by_url: BTreeMap<String, (u64, String)>,
    last_report: Time,
}

impl FailureLog {
    /// Torrent `ih`'s announces to `url` started failing with `error`: the
    /// first such torrent of a tracker since the last report is said at
    /// once, the others counted.
    pub(super) fn note(&mut self, ih: InfoHash, url: &str, error: &str) {
        match self.by_url.get_mut(url) {
            Some((n, _)) => {
                *n += 1;
                tracing::debug!(info_hash = %ih, url, error, "announce failed");
            }
            None => {
                tracing::info!(info_hash = %ih, url, error, "announce failed (other torrents of this tracker failing within the minute are counted, not listed)");
                self.by_url.insert(url.to_owned(), (0, error.to_owned()));
            }
        }
    }

    /// Once a minute: how many more torrents started failing at each tracker.
    pub(super) fn report(&mut self, now: Time) {
        if now.since(self.last_report) < REPORT_EVERY {
            return;
        }
        self.last_report = now;
        for (url, (more, error)) in std::mem::take(&mut self.by_url) {
            if more > 0 {
                tracing::info!(url, torrents = more, first_error = %error, "announces of more torrents failed at this tracker in the last minute");
            }
        }
    }

    /// Trackers with failures not yet reported.
    #[cfg(test)]
    pub(super) fn pending(&self) -> Vec<(&str, u64)> {
        self.by_url
            .iter()
            .map(|(u, (n, _))| (u.as_str(), *n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_tracker_then_a_count_a_minute() {
        let mut log = FailureLog::default();
        let t0 = Time::from_secs(100);
        log.report(t0);
        for i in 0..5u8 {
            log.note(InfoHash([i; 20]), "http://a/announce", "refused");
        }
        log.note(InfoHash([9; 20]), "http://b/announce", "timeout");
        assert_eq!(
            log.pending(),
            [("http://a/announce", 4), ("http://b/announce", 0)]
        );
        log.report(t0 + Duration::from_secs(30));
        assert_eq!(log.pending().len(), 2, "not yet a minute");
        log.report(t0 + Duration::from_secs(60));
        assert!(log.pending().is_empty(), "said and forgotten");
    }
}
