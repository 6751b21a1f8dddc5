//! Which transport a connection of ours takes: TCP or uTP (BEP 29), by the
//! configured [`TransportMode`].
//!
//! Rules: with a preference, an address is dialled over the preferred transport
//! first; an attempt that never connects (refused, unanswered), or that
//! connects and is closed before the peer says a byte to our plaintext
//! handshake (libtorrent with incoming TCP off accepts and resets at once), is
//! tried again at once over the other, and only a failure of both counts against the address
//! (whose next attempt starts over with the preferred one). An address reached
//! over the other transport is dialled over it again next time.

use core::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::peer::{Peer, Phase};
use super::{Core, PeerKey};
use crate::types::InfoHash;

/// How a connection travels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// TCP.
    #[default]
    Tcp,
    /// uTP over UDP.
    Utp,
}

impl Transport {
    /// `tcp` or `utp`, for stats.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Utp => "utp",
        }
    }

    fn other(self) -> Transport {
        match self {
            Transport::Tcp => Transport::Utp,
            Transport::Utp => Transport::Tcp,
        }
    }
}

/// Which transports we dial (`peers.transport`). Both are always accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportMode {
    /// TCP first, uTP when TCP does not connect.
    #[default]
    PreferTcp,
    /// uTP first, TCP when uTP does not connect.
    PreferUtp,
    /// TCP only.
    TcpOnly,
    /// uTP only.
    UtpOnly,
}

impl TransportMode {
    fn first(self) -> Transport {
        match self {
            TransportMode::PreferTcp | TransportMode::TcpOnly => Transport::Tcp,
            TransportMode::PreferUtp | TransportMode::UtpOnly => Transport::Utp,
        }
    }

    fn falls_back(self) -> bool {
        matches!(self, TransportMode::PreferTcp | TransportMode::PreferUtp)
    }
}

impl Core {
    /// The transport of our next attempt at `addr` for `ih`.
    pub(super) fn dial_transport(&self, ih: InfoHash, addr: SocketAddr) -> Transport {
        let mode = self.cfg.transport;
        let other = (self.torrents.get(&ih))
            .and_then(|t| t.addrs.get(&addr))
            .is_some_and(|a| a.other_transport_next);
        if other && mode.falls_back() {
            mode.first().other()
        } else {
            mode.first()
        }
    }

    /// An attempt of ours that never connected: `true` when the address is to be
    /// tried again at once over the other transport (not counted as a failure).
    pub(super) fn after_failed_connect(&mut self, p: &Peer) -> bool {
        let unheard = p.phase == Phase::Handshake
            && p.crypt.is_none()
            && p.handshake_buf.is_empty()
            && !self.connected_to(p);
        if !p.outbound
            || !(p.phase == Phase::Connecting || unheard)
            || !self.cfg.transport.falls_back()
        {
            return false;
        }
        let Some(a) = (p.info_hash)
            .and_then(|ih| self.torrents.get_mut(&ih))
            .and_then(|t| t.addrs.get_mut(&p.addr))
        else {
            return false;
        };
        a.other_transport_next = !a.other_transport_next;
        if a.other_transport_next {
            a.last_attempt = None;
        }
        a.other_transport_next
    }

    /// Whether `p`'s torrent holds another connection with the peer at its
    /// address (dialled there, or from it with that listen port): then a close
    /// before any byte is most likely the peer dropping a duplicate (both ends
    /// dialled at once), not a transport it refuses.
    fn connected_to(&self, p: &Peer) -> bool {
        let Some(t) = p.info_hash.and_then(|ih| self.torrents.get(&ih)) else {
            return false;
        };
        (t.peers.iter()).filter_map(|k| self.peers.get(k)).any(|q| {
            q.addr.ip() == p.addr.ip() && (q.addr == p.addr || q.listen_port == Some(p.addr.port()))
        })
    }

    /// The driver says how an incoming connection travels (TCP unless told).
    pub fn set_transport(&mut self, peer: PeerKey, transport: Transport) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.transport = transport;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tests::core_having_with;
    use crate::core::{Action, CoreConfig, Event};
    use crate::types::Time;

    /// The transports of our attempts at one address that never connects, a
    /// tick a second for three seconds.
    fn attempts(mode: TransportMode) -> Vec<Transport> {
        let cfg = CoreConfig {
            transport: mode,
            ..CoreConfig::default()
        };
        let (mut c, ih, _) = core_having_with(false, cfg);
        c.add_peers(ih, &["10.0.0.1:6881".parse().unwrap()])
            .unwrap();
        let mut seen = Vec::new();
        for s in 1..4 {
            let now = Time::from_secs(s);
            // Ticks until no attempt goes out (a retry goes out on the next).
            for _ in 0..4 {
                let mut out = Vec::new();
                c.on_tick(now, &mut out);
                let peers: Vec<_> = (out.into_iter())
                    .filter_map(|a| match a {
                        Action::Connect {
                            peer, transport, ..
                        } => Some((peer, transport)),
                        _ => None,
                    })
                    .collect();
                for (peer, transport) in &peers {
                    seen.push(*transport);
                    let failed = Event::ConnectFailed { peer: *peer };
                    c.on_event(now, failed, &mut Vec::new());
                }
                if peers.is_empty() {
                    break;
                }
            }
        }
        seen
    }

    #[test]
    fn a_connection_closed_before_the_peer_says_anything_is_retried_over_utp() {
        let cfg = CoreConfig {
            transport: TransportMode::PreferTcp,
            encryption: crate::core::Encryption::Disabled,
            ..CoreConfig::default()
        };
        let (mut c, ih, _) = core_having_with(false, cfg);
        c.add_peers(ih, &["10.0.0.1:6881".parse().unwrap()])
            .unwrap();
        let now = Time::from_secs(1);
        let mut seen = Vec::new();
        for _ in 0..4 {
            let mut out = Vec::new();
            c.on_tick(now, &mut out);
            let Some((peer, transport)) = out.into_iter().find_map(|a| match a {
                Action::Connect {
                    peer, transport, ..
                } => Some((peer, transport)),
                _ => None,
            }) else {
                break;
            };
            seen.push(transport);
            // Connected, our handshake sent, then closed with nothing heard.
            c.on_event(now, Event::Connected { peer }, &mut Vec::new());
            c.on_event(now, Event::Closed { peer }, &mut Vec::new());
        }
        assert_eq!(seen, [Transport::Tcp, Transport::Utp]);
    }

    #[test]
    fn a_refused_attempt_is_retried_at_once_over_the_other_transport() {
        use Transport::*;
        assert_eq!(attempts(TransportMode::PreferTcp), [Tcp, Utp]);
        assert_eq!(attempts(TransportMode::PreferUtp), [Utp, Tcp]);
        assert_eq!(attempts(TransportMode::UtpOnly), [Utp]);
        assert_eq!(attempts(TransportMode::TcpOnly), [Tcp]);
    }
}
