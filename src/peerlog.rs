//! The peer log: peers refused by the IP filter and peers banned for sending
//! bad data, each with when and why (qBittorrent's `log/peers`). The cores
//! say each one ([`crate::core::Action::PeerNote`]); the drivers keep them
//! here, in one ring for the whole engine.
//!
//! Bounded: the ring holds the last [`PEER_LOG_ENTRIES`]; the oldest go
//! first (a reader that asks after them gets what is left, and the ids say
//! how many it missed). Writers take a lock for one push: what is noted is
//! rare next to the traffic (a refused connection, a ban).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Entries the ring keeps.
pub const PEER_LOG_ENTRIES: usize = 4096;

/// What a core says of a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The peer's address.
    pub ip: IpAddr,
    /// Refused before anything was read (the IP filter), rather than banned
    /// after it misbehaved.
    pub blocked: bool,
    /// Why, in a few words.
    pub reason: String,
    /// When, in Unix milliseconds.
    pub unix_ms: u64,
}

/// A note as kept, with its place in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Rises by one per note, from 0.
    pub id: u64,
    /// The note.
    pub note: Note,
}

#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<Entry>,
    next_id: u64,
}

/// The engine's peer log; clones share it.
#[derive(Debug, Clone, Default)]
pub struct PeerLog(Arc<Mutex<Ring>>);

impl PeerLog {
    /// An empty log.
    pub fn new() -> PeerLog {
        PeerLog::default()
    }

    /// Keeps `note`, dropping the oldest when full.
    pub fn note(&self, note: Note) {
        let mut r = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if r.entries.len() == PEER_LOG_ENTRIES {
            r.entries.pop_front();
        }
        let id = r.next_id;
        r.next_id += 1;
        r.entries.push_back(Entry { id, note });
    }

    /// The entries after id `after` (all of them for `None`), oldest first.
    pub fn since(&self, after: Option<u64>) -> Vec<Entry> {
        let r = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (r.entries.iter())
            .filter(|e| after.is_none_or(|a| e.id > a))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(i: u8) -> Note {
        Note {
            ip: IpAddr::from([10, 0, 0, i]),
            blocked: true,
            reason: "IP filter".into(),
            unix_ms: u64::from(i),
        }
    }

    #[test]
    fn the_ring_keeps_the_latest_and_reads_after_an_id() {
        let log = PeerLog::new();
        for i in 0..3 {
            log.note(note(i));
        }
        let all = log.since(None);
        assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(log.since(Some(1)), [all[2].clone()]);
        assert!(log.since(Some(2)).is_empty());
        for i in 0..PEER_LOG_ENTRIES {
            log.note(note(u8::try_from(i % 200).unwrap()));
        }
        let kept = log.since(None);
        assert_eq!(kept.len(), PEER_LOG_ENTRIES);
        assert_eq!(kept[0].id, 3, "the three oldest went");
    }
}
