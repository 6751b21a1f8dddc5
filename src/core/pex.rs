//! Peer exchange (BEP 11): telling the peers of a torrent which peers it is
//! connected to, and learning theirs.
//!
//! Rules:
//! - never for a private torrent (BEP 27): ut_pex is not offered in its extension
//!   handshake, nothing is sent, and anything received is ignored; a magnet whose
//!   metadata turns out private stops at once. Off for every torrent when
//!   [`CoreConfig::pex`](super::CoreConfig) is off;
//! - a peer that offers ut_pex gets the torrent's connected peers (up to
//!   [`PEX_MAX_SEND`]) at once, then what changed every [`PEX_INTERVAL`], as one
//!   message per torrent built once per round and sent to each such peer;
//! - a peer's entry is its listen address: the address we dialled, or its address
//!   with the port of its extension handshake (an incoming peer that gave none is
//!   not listed);
//! - what a peer sends is read at most every [`PEX_MIN_GAP`] (sooner ones are
//!   ignored, said once per peer at debug), at most `PEX_MAX_READ` addresses per
//!   list, into the torrent's bounded address book under its rules (`addrs.rs`).
//!   A message that does not parse closes the peer, as any malformed message does.

use std::collections::BTreeSet;

use super::addrs::PeerSource;
use super::*;
use crate::proto::pex::{FLAG_ENCRYPTION, FLAG_REACHABLE, FLAG_SEED, PEX_MAX_SEND, Pex};

/// Between two rounds of a torrent (BEP 11: at most once a minute).
pub(crate) const PEX_INTERVAL: Duration = Duration::from_secs(60);
/// Messages from one peer closer together than this are ignored.
pub(crate) const PEX_MIN_GAP: Duration = Duration::from_secs(30);

/// A torrent's peer exchange: what the last round told its peers.
#[derive(Debug, Default)]
pub(crate) struct PexRound {
    /// When the next round is due.
    pub next: Time,
    /// The addresses the rounds so far have said we are connected to.
    pub listed: BTreeSet<SocketAddr>,
    /// Messages sent (initial and rounds), for stats and tests.
    pub sent: u64,
}

impl Core {
    /// Whether torrent `t` may use peer exchange.
    pub(super) fn pex_allowed(&self, t: &Torrent) -> bool {
        self.cfg.pex && !t.info.as_ref().is_some_and(|i| i.private)
    }

    /// What a peer of the torrent is, as an entry of a PEX message.
    fn pex_entry(p: &Peer) -> Option<(SocketAddr, u8)> {
        if p.phase != Phase::Active || p.web.is_some() {
            return None;
        }
        // A link-local address means nothing without its interface, which a
        // PEX entry cannot carry.
        if let core::net::IpAddr::V6(v6) = p.addr.ip()
            && v6.is_unicast_link_local()
        {
            return None;
        }
        let mut flags = 0;
        if p.is_seed() {
            flags |= FLAG_SEED;
        }
        // Told as preferring encryption: it took an MSE handshake from us or
        // gave us one.
        if p.crypt.is_some() {
            flags |= FLAG_ENCRYPTION;
        }
        if p.outbound {
            Some((p.addr, flags | FLAG_REACHABLE))
        } else {
            let port = p.listen_port.filter(|&port| port != 0)?;
            Some((SocketAddr::new(p.addr.ip(), port), flags))
        }
    }

    /// The torrent's connected peers as PEX entries, in address order.
    fn pex_current(&self, ih: InfoHash) -> BTreeMap<SocketAddr, u8> {
        let Some(t) = self.torrents.get(&ih) else {
            return BTreeMap::new();
        };
        t.peers
            .iter()
            .filter_map(|k| self.peers.get(k))
            .filter_map(Self::pex_entry)
            .collect()
    }

    /// A peer offered ut_pex in its extension handshake: it gets the torrent's
    /// connected peers now, and the torrent's rounds from then on.
    pub(super) fn pex_start(
        &mut self,
        now: Time,
        key: PeerKey,
        ih: InfoHash,
        out: &mut Vec<Action>,
    ) {
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        if !self.pex_allowed(t) {
            return;
        }
        let Some(their_id) = self.peers.get(&key).and_then(|p| p.ut_pex) else {
            return;
        };
        let own = self.peers.get(&key).and_then(Self::pex_entry).map(|e| e.0);
        let added: Vec<(SocketAddr, u8)> = self
            .pex_current(ih)
            .into_iter()
            .filter(|(a, _)| Some(*a) != own)
            .take(PEX_MAX_SEND)
            .collect();
        let t = self.torrents.get_mut(&ih).expect("seen");
        let round = t.pex.get_or_insert_with(|| {
            Box::new(PexRound {
                next: now + PEX_INTERVAL,
                ..PexRound::default()
            })
        });
        round.sent += 1;
        let payload = Pex {
            added,
            ..Pex::default()
        }
        .encode();
        let m = Message::Extended {
            id: their_id,
            payload,
        };
        self.send(now, key, &[m], out);
    }

    /// A round of torrent `ih`: what changed since the last one, to every peer
    /// that speaks ut_pex.
    pub(super) fn pex_round(&mut self, now: Time, ih: InfoHash, out: &mut Vec<Action>) {
        let current = self.pex_current(ih);
        let allowed = self.torrents.get(&ih).is_some_and(|t| self.pex_allowed(t));
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        let Some(round) = t.pex.as_mut().filter(|_| allowed) else {
            t.pex = None;
            return;
        };
        round.next = now + PEX_INTERVAL;
        let added: Vec<(SocketAddr, u8)> = current
            .iter()
            .filter(|(a, _)| !round.listed.contains(a))
            .take(PEX_MAX_SEND)
            .map(|(a, f)| (*a, *f))
            .collect();
        let dropped: Vec<SocketAddr> = round
            .listed
            .iter()
            .filter(|a| !current.contains_key(a))
            .take(PEX_MAX_SEND)
            .copied()
            .collect();
        if added.is_empty() && dropped.is_empty() {
            return;
        }
        // What did not fit this time goes in the next round.
        for (a, _) in &added {
            round.listed.insert(*a);
        }
        for a in &dropped {
            round.listed.remove(a);
        }
        let payload = Pex {
            added,
            dropped,
            cut: 0,
        }
        .encode();
        let targets: Vec<(PeerKey, u8)> = t
            .peers
            .iter()
            .filter_map(|k| Some((*k, self.peers.get(k)?.ut_pex?)))
            .collect();
        round.sent += targets.len() as u64;
        for (k, id) in targets {
            let m = Message::Extended {
                id,
                payload: payload.clone(),
            };
            self.send(now, k, &[m], out);
        }
    }

    /// A ut_pex message from peer `key` of torrent `ih`.
    pub(super) fn on_pex(
        &mut self,
        now: Time,
        key: PeerKey,
        ih: InfoHash,
        payload: &[u8],
    ) -> Result<(), CloseReason> {
        let pex = Pex::decode(payload).map_err(|e| CloseReason::Protocol(e.to_string()))?;
        let t = self.torrents.get(&ih).ok_or(CloseReason::TorrentStopped)?;
        let allowed = self.pex_allowed(t);
        let p = self.peers.get_mut(&key).expect("caller checked");
        if !allowed || p.ut_pex.is_none() {
            return Ok(()); // not offered to this peer (or private): ignored
        }
        if let Some(last) = p.pex_in_at
            && now.since(last) < PEX_MIN_GAP
        {
            if !p.pex_flood_logged {
                p.pex_flood_logged = true;
                tracing::debug!(info_hash = %ih, peer = %p.addr,
                    "peer exchange: messages closer than {}s apart are ignored",
                    PEX_MIN_GAP.as_secs());
            }
            return Ok(());
        }
        p.pex_in_at = Some(now);
        let from = p.addr;
        let t = self.torrents.get_mut(&ih).expect("seen");
        let learned = t.learn(pex.added, PeerSource::Pex, Some(from.ip()));
        if learned.refused > 0 || pex.cut > 0 {
            tracing::debug!(info_hash = %ih, peer = %from, refused = learned.refused,
                why = learned.why.unwrap_or(""), not_read = pex.cut,
                "peer exchange: addresses not kept");
        }
        Ok(())
    }
}
