//! Which torrents a node announces, and when: every torrent it is told of is
//! announced every `announce_interval`; one that needs peers now (a magnet, a
//! download without a peer) is searched for before anything else, again after
//! [`SEARCH_FIRST_AGAIN`], then at doubling waits up to [`SEARCH_AGAIN_MAX`]
//! while it still needs them. The drivers (the daemon's and the sim's) hand it
//! the engine's list ([`Schedule::sync`]); the node starts what is due.
//!
//! The torrents are kept in the order they fall due as well, so finding what
//! is due costs the few entries taken, not a pass over 100,000 torrents.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::core::Rng;
use crate::types::{InfoHash, Time};

/// The first wait before searching again for a torrent that still needs peers.
pub const SEARCH_FIRST_AGAIN: Duration = Duration::from_secs(10);
/// The longest wait between two searches for a torrent that needs peers.
pub const SEARCH_AGAIN_MAX: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone)]
struct Entry {
    /// When the next announce is due.
    next: Time,
    port: u16,
    /// To be searched before anything else.
    urgent: bool,
    /// While it needs peers: the last search asked for and the wait after it.
    search: Option<(Time, Duration)>,
}

impl Entry {
    /// Where it sits in the order: urgent ones first, then by when due.
    fn key(&self, ih: InfoHash) -> (bool, Time, InfoHash) {
        (!self.urgent, self.next, ih)
    }
}

/// The torrents to announce.
#[derive(Debug, Default, Clone)]
pub struct Schedule {
    torrents: BTreeMap<InfoHash, Entry>,
    /// The same torrents by [`Entry::key`].
    order: BTreeSet<(bool, Time, InfoHash)>,
}

impl Schedule {
    /// How many torrents are announced.
    pub fn len(&self) -> usize {
        self.torrents.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.torrents.is_empty()
    }

    /// The torrents announced.
    pub fn list(&self) -> Vec<InfoHash> {
        self.torrents.keys().copied().collect()
    }

    /// Announce `ih` (peers on `port`) from now on, the first time within 10 s.
    pub fn add(&mut self, ih: InfoHash, port: u16, now: Time, rng: &mut Rng) {
        if self.torrents.contains_key(&ih) {
            return;
        }
        let jitter = Duration::from_millis(rng.below(10_000));
        let e = Entry {
            next: now + jitter,
            port,
            urgent: false,
            search: None,
        };
        self.order.insert(e.key(ih));
        self.torrents.insert(ih, e);
    }

    /// Stop announcing `ih`.
    pub fn remove(&mut self, ih: InfoHash) {
        if let Some(e) = self.torrents.remove(&ih) {
            self.order.remove(&e.key(ih));
        }
    }

    /// Changes `ih`'s entry with `f`, keeping the order true.
    fn change<R>(&mut self, ih: InfoHash, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let e = self.torrents.get_mut(&ih)?;
        self.order.remove(&e.key(ih));
        let r = f(e);
        self.order.insert(e.key(ih));
        Some(r)
    }

    /// Search for `ih` before anything else due.
    pub fn urge(&mut self, ih: InfoHash) {
        self.change(ih, |t| t.urgent = true);
    }

    /// The engine's torrents now (info-hash, needs peers now): those gone are
    /// dropped, new ones added, and those that need peers searched for at the
    /// pace above.
    pub fn sync(&mut self, now: Time, list: &[(InfoHash, bool)], port: u16, rng: &mut Rng) {
        let wanted: BTreeMap<InfoHash, bool> = list.iter().copied().collect();
        let gone: Vec<InfoHash> = (self.torrents.keys())
            .filter(|ih| !wanted.contains_key(ih))
            .copied()
            .collect();
        for ih in gone {
            self.remove(ih);
        }
        for (ih, needy) in wanted {
            self.add(ih, port, now, rng);
            let quiet = (self.torrents.get(&ih)).is_some_and(|t| !needy && t.search.is_none());
            if quiet {
                continue; // the common case changes nothing
            }
            self.change(ih, |t| {
                if !needy {
                    t.search = None;
                    return;
                }
                match &mut t.search {
                    None => {
                        t.search = Some((now, SEARCH_FIRST_AGAIN));
                        t.urgent = true;
                    }
                    Some((at, wait)) if now.since(*at) >= *wait => {
                        *at = now;
                        *wait = (*wait * 2).min(SEARCH_AGAIN_MAX);
                        t.urgent = true;
                    }
                    Some(_) => {}
                }
            });
        }
    }

    /// What is due at `now`, at most `max` of them: searches first, then
    /// announces in the order they fell due.
    pub fn due(&self, now: Time, max: usize) -> Vec<InfoHash> {
        self.order
            .iter()
            .take_while(|(later, next, _)| !later || *next <= now)
            .take(max)
            .map(|(_, _, ih)| *ih)
            .collect()
    }

    /// A lookup for `ih` starts now: the next announce is `interval` away.
    /// Returns the port to announce.
    pub fn started(&mut self, ih: InfoHash, now: Time, interval: Duration) -> Option<u16> {
        self.change(ih, |t| {
            t.urgent = false;
            t.next = now + interval;
            t.port
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needy_torrents_are_searched_at_a_doubling_pace() {
        let mut s = Schedule::default();
        let mut rng = Rng::new(1);
        let ih = InfoHash([1; 20]);
        let at = |secs| Time::from_secs(secs);
        let mut searches = Vec::new();
        for secs in (0..400).step_by(5) {
            s.sync(at(secs), &[(ih, true)], 6881, &mut rng);
            if s.due(at(secs), 10).contains(&ih) && s.torrents[&ih].urgent {
                searches.push(secs);
                s.started(ih, at(secs), Duration::from_secs(900));
            }
        }
        assert_eq!(searches, vec![0, 10, 30, 70, 150, 310]);
        // No longer needy: announced on the schedule only, and gone when the
        // engine no longer lists it.
        s.sync(at(400), &[(ih, false)], 6881, &mut rng);
        assert!(!s.torrents[&ih].urgent && s.torrents[&ih].search.is_none());
        s.sync(at(401), &[], 6881, &mut rng);
        assert!(s.is_empty() && s.order.is_empty());
    }
}
