//! Local service discovery (BEP 14), sans-IO: which torrents to tell the local
//! network about and when, and what to make of what others say. A driver owns
//! the multicast socket (`net::lsd`); the datagram's format is `proto::lsd`.
//!
//! Rules and bounds:
//! - only the torrents the engine lists for discovery (running, not private:
//!   `Core::dht_torrents`), each announced every [`ANNOUNCE_EVERY`];
//! - at most one datagram per [`SEND_GAP`], with up to `MAX_LSD_HASHES`
//!   info-hashes (the longest waiting first), so thousands of torrents are
//!   told over minutes, never in a burst;
//! - our own datagrams (our cookie) are skipped; a sender over
//!   [`MAX_PER_SENDER`] datagrams per [`SENDER_WINDOW`] is ignored until the
//!   window passes (at most [`MAX_SENDERS`] senders remembered);
//! - a peer is taken only for a torrent we hold, at the sender's address and
//!   the port it gave.
#![warn(missing_docs)]

use core::net::{IpAddr, SocketAddr};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::proto::lsd::{LsdAnnounce, MAX_LSD_HASHES};
use crate::types::{InfoHash, Time};

/// Between two announces of one torrent.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(5 * 60);
/// Between two datagrams we send.
pub const SEND_GAP: Duration = Duration::from_secs(1);
/// Datagrams taken from one sender per window.
pub const MAX_PER_SENDER: u32 = 5;
/// The window of that count.
pub const SENDER_WINDOW: Duration = Duration::from_secs(10);
/// Senders whose counts are kept.
pub const MAX_SENDERS: usize = 256;

/// One node's local discovery.
#[derive(Debug, Clone)]
pub struct Lsd {
    cookie: String,
    port: u16,
    /// Torrents with when each is next due.
    torrents: BTreeMap<InfoHash, Time>,
    last_send: Option<Time>,
    senders: BTreeMap<IpAddr, (u32, Time)>,
    /// Datagrams ignored (malformed, over a sender's rate; not our own).
    pub ignored: u64,
}

impl Lsd {
    /// Discovery for peers listening on `port`; `cookie` marks our datagrams.
    pub fn new(cookie: String, port: u16) -> Lsd {
        Lsd {
            cookie,
            port,
            torrents: BTreeMap::new(),
            last_send: None,
            senders: BTreeMap::new(),
            ignored: 0,
        }
    }

    /// The engine's torrents now (as `Core::dht_torrents` lists them): new
    /// ones are due at once, gone ones forgotten.
    pub fn sync(&mut self, now: Time, list: &[(InfoHash, bool)]) {
        let listed: BTreeMap<InfoHash, ()> = list.iter().map(|(ih, _)| (*ih, ())).collect();
        self.torrents.retain(|ih, _| listed.contains_key(ih));
        for ih in listed.keys() {
            self.torrents.entry(*ih).or_insert(now);
        }
    }

    /// The datagram to send now, if one is due and the gap allows.
    pub fn on_tick(&mut self, now: Time) -> Option<LsdAnnounce> {
        if self.last_send.is_some_and(|at| now.since(at) < SEND_GAP) {
            return None;
        }
        let mut due: Vec<(Time, InfoHash)> = self
            .torrents
            .iter()
            .filter(|(_, next)| **next <= now)
            .map(|(ih, next)| (*next, *ih))
            .collect();
        if due.is_empty() {
            return None;
        }
        due.sort();
        due.truncate(MAX_LSD_HASHES);
        for (_, ih) in &due {
            self.torrents.insert(*ih, now + ANNOUNCE_EVERY);
        }
        self.last_send = Some(now);
        Some(LsdAnnounce {
            port: self.port,
            info_hashes: due.into_iter().map(|(_, ih)| ih).collect(),
            cookie: Some(self.cookie.clone()),
        })
    }

    /// A datagram from `from`: the peers it names for torrents we hold.
    pub fn on_packet(
        &mut self,
        now: Time,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Vec<(InfoHash, SocketAddr)> {
        let ip = from.ip().to_canonical();
        if !self.senders.contains_key(&ip) && self.senders.len() >= MAX_SENDERS {
            let oldest = self
                .senders
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.senders.remove(&k);
            }
        }
        let (count, since) = self.senders.entry(ip).or_insert((0, now));
        if now.since(*since) >= SENDER_WINDOW {
            *count = 0;
            *since = now;
        }
        *count += 1;
        if *count > MAX_PER_SENDER {
            self.ignored += 1;
            return Vec::new();
        }
        let Ok(a) = LsdAnnounce::decode(bytes) else {
            self.ignored += 1;
            return Vec::new();
        };
        if a.cookie.as_deref() == Some(self.cookie.as_str()) {
            return Vec::new(); // our own, looped back: not counted
        }
        // An IPv6 sender is often link-local: its interface (scope) is kept,
        // or the address could not be dialled.
        let peer =
            match from {
                SocketAddr::V6(v6) if !ip.is_ipv4() => SocketAddr::V6(
                    core::net::SocketAddrV6::new(*v6.ip(), a.port, 0, v6.scope_id()),
                ),
                _ => SocketAddr::new(ip, a.port),
            };
        a.info_hashes
            .into_iter()
            .filter(|ih| self.torrents.contains_key(ih))
            .map(|ih| (ih, peer))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announces_are_paced_and_others_are_heard() {
        let mut l = Lsd::new("me".into(), 6881);
        let hashes: Vec<(InfoHash, bool)> = (0..40u8).map(|i| (InfoHash([i; 20]), false)).collect();
        l.sync(Time::ZERO, &hashes);
        let first = l.on_tick(Time::ZERO).unwrap();
        assert_eq!(first.info_hashes.len(), MAX_LSD_HASHES);
        assert!(l.on_tick(Time::from_millis(500)).is_none(), "one a second");
        let mut told = MAX_LSD_HASHES;
        for s in 1..5 {
            told += l
                .on_tick(Time::from_secs(s))
                .map_or(0, |a| a.info_hashes.len());
        }
        assert_eq!(told, 40, "all told within seconds, then quiet");
        assert!(l.on_tick(Time::from_secs(60)).is_none());
        assert!(
            l.on_tick(Time::from_secs(301)).is_some(),
            "again after 5 min"
        );

        // Our own datagram is skipped; another's names peers for our torrents.
        let ours = first.encode(crate::proto::lsd::LSD_V4);
        let from: SocketAddr = "192.168.1.7:6771".parse().unwrap();
        assert!(l.on_packet(Time::ZERO, from, &ours).is_empty());
        let theirs = LsdAnnounce {
            port: 51413,
            info_hashes: vec![InfoHash([3; 20]), InfoHash([99; 20])],
            cookie: None,
        }
        .encode(crate::proto::lsd::LSD_V4);
        let got = l.on_packet(Time::ZERO, from, &theirs);
        assert_eq!(
            got,
            vec![(InfoHash([3; 20]), "192.168.1.7:51413".parse().unwrap())]
        );
        // A chatty sender is ignored for the rest of its window.
        for _ in 0..10 {
            l.on_packet(Time::from_secs(1), from, &theirs);
        }
        assert!(l.on_packet(Time::from_secs(2), from, &theirs).is_empty());
        assert_eq!(l.on_packet(Time::from_secs(12), from, &theirs).len(), 1);
    }
}
