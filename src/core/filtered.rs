//! The IP filter as the core applies it ([`crate::ipfilter::IpFilter`]): a
//! connection from a blocked address is refused before anything is read, an
//! address a tracker, the DHT, a peer or the user gives is refused when it is
//! learned (`Torrent::learn`), and a new filter closes the connections and
//! forgets the addresses it blocks. Refusals of connections are counted and
//! said at `info`: the first at once, then at most a line a minute.

use core::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{Action, CloseReason, Core};
use crate::ipfilter::IpFilter;
use crate::types::Time;

/// Why the peer log says a peer was refused (qBittorrent's words).
const FILTERED: &str = "IP filter";

/// How often refusals are summed up in the log.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// The filter and what it refused.
#[derive(Debug, Default)]
pub(super) struct PeerFilter {
    /// The ranges (shared with every torrent, and with the other cores).
    pub filter: Arc<IpFilter>,
    /// Connections refused in all.
    pub refused: u64,
    /// Refused since the last line in the log, and the first of them.
    unlogged: u64,
    first_unlogged: Option<IpAddr>,
    /// When the last line was written.
    logged_at: Option<Time>,
}

impl PeerFilter {
    /// Nothing refused yet, under `filter`.
    pub fn new(filter: Arc<IpFilter>) -> PeerFilter {
        PeerFilter {
            filter,
            ..PeerFilter::default()
        }
    }

    /// Whether a connection from `ip` is refused (counted, and said).
    pub fn refuses(&mut self, now: Time, ip: IpAddr) -> bool {
        if !self.filter.blocks(ip) {
            return false;
        }
        self.refused += 1;
        self.unlogged += 1;
        self.first_unlogged.get_or_insert(ip);
        self.report(now);
        true
    }

    /// Says the refusals not said yet, unless a line went out in the last
    /// minute (the tick calls it too, so the last of a burst is said).
    pub fn report(&mut self, now: Time) {
        if self.unlogged == 0 || self.logged_at.is_some_and(|at| now.since(at) < LOG_EVERY) {
            return;
        }
        if let Some(first) = self.first_unlogged.take() {
            tracing::info!(peer = %first, refused = self.unlogged,
                "connections refused by the IP filter (said at most once a minute)");
        }
        self.unlogged = 0;
        self.logged_at = Some(now);
    }
}

impl Core {
    /// Whether a connection from `addr` is refused by the IP filter (counted,
    /// said, and kept in the peer log): the driver asks before it reads a
    /// byte of it, or answers an encryption handshake.
    pub fn refuses_connection(
        &mut self,
        now: Time,
        addr: core::net::SocketAddr,
        out: &mut Vec<Action>,
    ) -> bool {
        let refused = self.ip_filter.refuses(now, addr.ip());
        if refused {
            out.push(self.peer_note(now, addr.ip(), true, FILTERED));
        }
        refused
    }

    /// A note for the peer log about `ip`, as of `now`.
    pub(super) fn peer_note(&self, now: Time, ip: IpAddr, blocked: bool, reason: &str) -> Action {
        let ms = u128::from(self.cfg.unix_at_zero) * 1000 + now.since(Time::ZERO).as_millis();
        Action::PeerNote(crate::peerlog::Note {
            ip,
            blocked,
            reason: reason.to_owned(),
            unix_ms: u64::try_from(ms).unwrap_or(u64::MAX),
        })
    }

    /// Applies a new IP filter: kept for connections to come, given to every
    /// torrent for the addresses it learns, and its blocked addresses' known
    /// entries forgotten and connections closed now.
    pub fn set_ip_filter(&mut self, now: Time, filter: Arc<IpFilter>, out: &mut Vec<Action>) {
        let mut forgotten = 0;
        for t in self.torrents.values_mut() {
            t.ip_filter = Arc::clone(&filter);
            let before = t.addrs.len();
            t.addrs
                .retain(|addr, a| a.connected || !filter.blocks(addr.ip()));
            forgotten += before - t.addrs.len();
        }
        let closing: Vec<_> = (self.peers.iter())
            .filter(|(_, p)| p.web.is_none() && filter.blocks(p.addr.ip()))
            .map(|(k, _)| *k)
            .collect();
        for &k in &closing {
            let ip = self.peers[&k].addr.ip();
            out.push(self.peer_note(now, ip, true, FILTERED));
            self.close(k, CloseReason::Filtered, out);
        }
        tracing::info!(
            ranges = filter.len(),
            closed = closing.len(),
            forgotten,
            "IP filter applied"
        );
        self.ip_filter.filter = filter;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{connect, core_having_with};
    use super::super::{CoreConfig, PeerSource};
    use super::*;

    #[test]
    fn a_filter_refuses_connections_and_addresses_and_closes_what_it_blocks() {
        let (mut core, ih, _) = core_having_with(false, CoreConfig::default());
        let peer = connect(&mut core, ih, true);
        let known: core::net::SocketAddr = "10.9.0.1:6881".parse().unwrap();
        let t = core.torrents.get_mut(&ih).unwrap();
        t.learn([(known, 0)], PeerSource::Tracker, None);
        let mut out = Vec::new();
        let filter = IpFilter::parse("127.0.0.0/8\n10.9.0.0-10.9.255.255\n").filter;
        core.set_ip_filter(Time::from_secs(1), Arc::new(filter), &mut out);
        // The connected peer (127.0.0.9) is closed, the known address forgotten.
        assert!(
            out.iter().any(|a| matches!(a,
            Action::Close { peer: p, reason: CloseReason::Filtered } if *p == peer)),
            "{out:?}"
        );
        let notes = |out: &[Action]| -> Vec<crate::peerlog::Note> {
            (out.iter())
                .filter_map(|a| match a {
                    Action::PeerNote(n) => Some(n.clone()),
                    _ => None,
                })
                .collect()
        };
        let closed = crate::peerlog::Note {
            ip: "127.0.0.9".parse().unwrap(),
            blocked: true,
            reason: "IP filter".into(),
            unix_ms: 1000,
        };
        assert_eq!(notes(&out), [closed], "noted in the peer log");
        let t = &core.torrents[&ih];
        assert!(!t.addrs.contains_key(&known));
        // From now on: refused at the door, and when learned.
        let now = Time::from_secs(1);
        assert!(
            core.on_incoming(now, "127.0.0.2:1".parse().unwrap())
                .is_none()
        );
        assert!(
            core.on_incoming(now, "[::ffff:10.9.1.1]:1".parse().unwrap())
                .is_none()
        );
        assert!(
            core.on_incoming(now, "10.8.0.1:1".parse().unwrap())
                .is_some()
        );
        let mut out = Vec::new();
        assert!(core.refuses_connection(now, "10.9.2.2:1".parse().unwrap(), &mut out));
        assert!(!core.refuses_connection(now, "10.8.0.2:1".parse().unwrap(), &mut out));
        let refused = notes(&out);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].ip, "10.9.2.2".parse::<IpAddr>().unwrap());
        assert!(refused[0].blocked);
        assert_eq!(core.ip_filter.refused, 3);
        // The first was said at once; the two others wait for the minute,
        // and the tick says them then, with nothing more refused.
        assert_eq!(core.ip_filter.unlogged, 2);
        core.ip_filter.report(Time::from_secs(30));
        assert_eq!(core.ip_filter.unlogged, 2);
        core.ip_filter.report(Time::from_secs(61));
        assert_eq!(core.ip_filter.unlogged, 0);
        let t = core.torrents.get_mut(&ih).unwrap();
        let l = t.learn([("10.9.3.3:1".parse().unwrap(), 0)], PeerSource::Pex, None);
        assert_eq!((l.refused, l.why), (1, Some("blocked by the IP filter")));
        // Every torrent shares the core's filter.
        assert!(Arc::ptr_eq(&t.ip_filter, &core.ip_filter.filter));
    }
}
