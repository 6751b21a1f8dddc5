//! Trackers of the simulated world: each URL added with
//! [`SimWorld::add_tracker`](super::SimWorld::add_tracker) answers announces the
//! way a plain tracker does (the other peers of the torrent, an interval), and
//! keeps a log of what it was told so tests can check events and numbers. A
//! tracker added as down logs each announce and refuses it; an announce to a URL
//! the world does not know fails the same way, unlogged.

use core::net::SocketAddr;
use std::collections::BTreeMap;

use crate::proto::tracker::{Announce, AnnounceEvent, AnnounceReply, TrackerError};
use crate::types::{InfoHash, Time};

/// One announce a sim tracker received.
#[derive(Debug, Clone)]
pub struct AnnounceRecord {
    /// When it arrived.
    pub at: Time,
    /// Who announced (their address and the port they announced).
    pub from: SocketAddr,
    /// What they said.
    pub request: Announce,
}

/// A tracker in the sim.
#[derive(Debug, Default)]
pub(crate) struct SimTracker {
    /// Seconds between announces, told to every peer.
    interval: u32,
    /// Refuses every announce (after logging it): a tracker that is down.
    down: bool,
    /// Per torrent: the peers that announced and have not stopped.
    swarms: BTreeMap<InfoHash, BTreeMap<SocketAddr, ()>>,
    pub log: Vec<AnnounceRecord>,
}

/// The sim's trackers by URL.
#[derive(Debug, Default)]
pub(crate) struct SimTrackers {
    by_url: BTreeMap<String, SimTracker>,
}

impl SimTrackers {
    pub fn add(&mut self, url: &str, interval: u32, down: bool) {
        self.by_url.insert(
            url.to_owned(),
            SimTracker {
                interval,
                down,
                ..SimTracker::default()
            },
        );
    }

    pub fn log(&self, url: &str) -> Vec<AnnounceRecord> {
        self.by_url
            .get(url)
            .map_or_else(Vec::new, |t| t.log.clone())
    }

    /// The tracker at `url` hears `request` from `from` at `at`.
    pub fn announce(
        &mut self,
        at: Time,
        url: &str,
        from: SocketAddr,
        request: Announce,
    ) -> Result<AnnounceReply, TrackerError> {
        let Some(t) = self.by_url.get_mut(url) else {
            return Err(TrackerError::Io(format!(
                "{url}: connection refused (no such tracker in the sim)"
            )));
        };
        t.log.push(AnnounceRecord {
            at,
            from,
            request: request.clone(),
        });
        if t.down {
            return Err(TrackerError::Io(format!("{url}: connection refused")));
        }
        let swarm = t.swarms.entry(request.info_hash).or_default();
        if request.event == AnnounceEvent::Stopped {
            swarm.remove(&from);
        } else {
            swarm.insert(from, ());
        }
        let peers = swarm
            .keys()
            .filter(|&&p| p != from)
            .take(request.numwant as usize)
            .copied()
            .collect();
        Ok(AnnounceReply {
            interval: t.interval,
            peers,
            ..AnnounceReply::default()
        })
    }
}
