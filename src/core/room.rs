//! A torrent's connection cap, and who makes way at it. For the peers that
//! dial us: at the cap, a newcomer takes the place of the connected peer that
//! has been of no use the longest, if one has been of no use for
//! [`NO_USE_FOR`]; otherwise it is refused (`CloseReason::Caps`). Without this
//! the cap did not hold for them at all; and a cap alone would let connections
//! that finish the handshake and then do nothing fill a torrent for good,
//! shutting out every real peer. For our own dials (turnover): a torrent still
//! downloading, at its cap, with an address it has never tried, lets its peer
//! of no use the longest go at each choker round and dials in its place, so a
//! torrent that filled up with peers that have nothing for it still finds
//! those that do (libtorrent's peer turnover does the same).

use super::addrs::AddrState;
use super::*;

/// How long a peer must have been connected and of no use (no block from it,
/// no request from it, nothing of ours waiting on it) before a newcomer may
/// take its place.
pub(super) const NO_USE_FOR: Duration = Duration::from_secs(60);

impl Core {
    /// Whether torrent `ih` has room for one more peer that dialled us, made
    /// by closing a peer of no use if the torrent is at its cap.
    pub(super) fn room_for_incoming(
        &mut self,
        now: Time,
        ih: InfoHash,
        out: &mut Vec<Action>,
    ) -> bool {
        let Some(t) = self.torrents.get(&ih) else {
            return false;
        };
        if t.peers.len() < self.cfg.max_connections_per_torrent {
            return true;
        }
        let Some(k) = self.least_useful(now, t) else {
            return false;
        };
        self.close(k, CloseReason::Caps, out);
        true
    }

    /// The peer of `t` that has been of no use the longest, if one has been
    /// of no use for [`NO_USE_FOR`].
    fn least_useful(&self, now: Time, t: &Torrent) -> Option<PeerKey> {
        t.peers
            .iter()
            .filter_map(|k| self.peers.get(k).map(|p| (*k, p)))
            .filter(|(_, p)| of_no_use(now, p))
            .min_by_key(|(k, p)| (last_use(p), *k))
            .map(|(k, _)| k)
    }

    /// Turnover (see the module's notes): at most one peer of `ih` let go,
    /// and the dial in its place.
    pub(super) fn turn_over(&mut self, now: Time, ih: InfoHash, out: &mut Vec<Action>) {
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        let untried = |(addr, a): (&SocketAddr, &AddrState)| {
            !a.connected
                && a.last_attempt.is_none()
                && a.failures == 0
                && !t.banned.contains(&addr.ip())
        };
        if t.is_finished()
            || !t.takes_peers()
            || t.peers.len() < self.cfg.max_connections_per_torrent
            || !t.addrs.iter().any(untried)
        {
            return;
        }
        let Some(k) = self.least_useful(now, t) else {
            return;
        };
        let addr = self.peers[&k].addr;
        self.close(k, CloseReason::Caps, out);
        // Not dialled again before the untried ones.
        if let Some(a) = self
            .torrents
            .get_mut(&ih)
            .and_then(|t| t.addrs.get_mut(&addr))
            && a.failures != u32::MAX
        {
            a.failures = a.failures.max(TURNED_OVER_FAILURES);
            a.last_attempt = Some(now);
        }
        self.dial_now(now, ih, out);
    }
}

/// How long a peer let go for turnover waits before it is dialled again (its
/// address's failures count raised to this, at least).
const TURNED_OVER_FAILURES: u32 = 4;

/// When `p` was last of use: a block from it, a request from it, or its
/// handshake.
fn last_use(p: &Peer) -> Time {
    let asked = p.last_request.unwrap_or(Time::ZERO);
    p.last_block.max(asked).max(p.phase_since)
}

/// Whether `p` may make way for a newcomer.
fn of_no_use(now: Time, p: &Peer) -> bool {
    p.phase == Phase::Active
        && p.web.is_none()
        && now.since(last_use(p)) >= NO_USE_FOR
        && p.inflight.is_empty()
        && p.queue_in.is_empty()
        && p.reads_pending == 0
        && p.metadata_inflight == 0
}
