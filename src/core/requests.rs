//! Asking peers for blocks (sized to their rate, within the caps), serving theirs,
//! and closing connections.

use super::*;

impl Core {
    // ------------------------------------------------------------------ requests

    /// Pieces a reader waits for come first. Requests already out for other
    /// pieces, to peers that have a missing urgent one, are cancelled and given
    /// back, so the urgent blocks are not queued behind seconds of others.
    ///
    /// Each reader has its own window (`reader` is any id the caller picks); an
    /// empty range ends it. At most [`MAX_READERS`] windows per torrent: a new
    /// reader beyond them replaces the oldest.
    pub fn set_urgent(
        &mut self,
        now: Time,
        ih: InfoHash,
        reader: u64,
        pieces: std::ops::Range<u32>,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        let t = self.torrent_mut(ih)?;
        if pieces.is_empty() {
            t.urgent.remove(&reader);
            return Ok(());
        }
        if t.urgent.len() >= MAX_READERS && !t.urgent.contains_key(&reader) {
            t.urgent.pop_first();
        }
        t.urgent.insert(reader, pieces.clone());
        let missing: Vec<u32> = pieces.filter(|&p| p < t.have.len() && t.wants(p)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let keys: Vec<PeerKey> = t.peers.iter().copied().collect();
        for &k in &keys {
            let (Some(p), Some(t)) = (self.peers.get_mut(&k), self.torrents.get_mut(&ih)) else {
                continue;
            };
            if !missing.iter().any(|&m| p.have.get(m)) {
                continue;
            }
            let urgent = &t.urgent;
            let (keep, others): (Vec<InFlight>, Vec<InFlight>) = p
                .inflight
                .drain(..)
                .partition(|f| urgent.values().any(|w| w.contains(&f.req.piece)));
            p.inflight = keep;
            for f in &others {
                t.picker.release(&f.req);
            }
            let cancels: Vec<Message> = others.iter().map(|f| p.cancel(f.req)).collect();
            if !cancels.is_empty() {
                self.send(now, k, &cancels, out);
            }
        }
        for k in keys {
            self.request_more(now, k, out);
        }
        Ok(())
    }

    pub(super) fn request_more(&mut self, now: Time, key: PeerKey, out: &mut Vec<Action>) {
        let starving = self.starving_peers(key);
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        if p.phase != Phase::Active || p.peer_choking || !p.am_interested {
            return;
        }
        let Some(ih) = p.info_hash else { return };
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        if !t.is_running() {
            return;
        }
        if t.meta.hashes.is_none() {
            // Downloading needs the piece hashes: asked for now, requests next tick.
            self.need_hashes(ih, out);
            return;
        }
        let piece_len = t
            .info
            .as_ref()
            .map_or(0, |i| u64::from(i.geometry.piece_length()));
        if t.writing.len() as u64 * piece_len > MAX_WRITE_BACKLOG {
            return; // the disk is behind; requests resume as writes complete
        }
        if t.disk_full.is_some_and(|retry| now < retry) {
            return; // the disk is full: nothing new until the next try
        }
        let queue_time = queue_time(&self.cfg, now, t, piece_len);
        let desired = desired_requests(&self.cfg, queue_time, now, p);
        if p.inflight.len() >= desired && p.web.is_none() {
            return;
        }
        let mut want = if p.web.is_some() {
            Self::web_want(p, desired)
        } else {
            desired - p.inflight.len()
        };
        if want == 0 {
            return;
        }
        // Download caps: start only what the budgets allow now. Pieces started
        // and then refused would stay half-asked behind newer ones.
        let budget = match (t.down_limit.available(now), self.global_down.available(now)) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(u64::MAX).min(b.unwrap_or(u64::MAX))),
        };
        if let Some(mut bytes) = budget {
            // A block's worth stays for each other unchoked peer of the torrent
            // with nothing asked (all but one block of a full bucket at most): the
            // cap is shared, not taken by whichever peer's blocks arrive first,
            // as it asks again at each arrival and the others only at the tick.
            let block = u64::from(crate::metainfo::BLOCK_LEN);
            let burst = [&t.down_limit, &self.global_down]
                .iter()
                .filter(|b| b.rate() > 0)
                .map(|b| b.burst())
                .min()
                .unwrap_or(0);
            bytes = bytes.saturating_sub(starving.min((burst / block).saturating_sub(1)) * block);
            want = want.min(
                usize::try_from(bytes / u64::from(crate::metainfo::BLOCK_LEN))
                    .unwrap_or(usize::MAX),
            );
            if want == 0 {
                return;
            }
        }
        let mut picked = t.pick(&p.have, &p.inflight, want, &mut self.rng);
        if picked.len() < want && t.all_requested() {
            let moved = self.steal_requests(now, key, ih, want - picked.len(), &picked, out);
            picked.extend(moved);
        }
        let (Some(p), Some(t)) = (self.peers.get_mut(&key), self.torrents.get_mut(&ih)) else {
            return;
        };
        // Download caps: ask only for what the budgets allow now.
        let mut allowed = 0;
        for r in &picked {
            let n = u64::from(r.len);
            // Both budgets must allow it; check without taking, then take both.
            if t.down_limit.wait(now, n) > Duration::ZERO
                || self.global_down.wait(now, n) > Duration::ZERO
            {
                break;
            }
            t.down_limit.take(now, n);
            self.global_down.take(now, n);
            allowed += 1;
        }
        for r in picked.drain(allowed..) {
            t.picker.release(&r);
        }
        if picked.is_empty() {
            return;
        }
        for r in &picked {
            p.inflight.push(InFlight { req: *r, sent: now });
        }
        if p.web.is_some() {
            self.web_fetch(key, picked, out);
            return;
        }
        let msgs: Vec<Message> = picked.iter().map(|r| Message::Request(*r)).collect();
        self.send(now, key, &msgs, out);
    }

    /// Under a download cap: how many other peers of `key`'s torrent could take
    /// requests (active, unchoking us, wanted) and have none out. 0 without a cap.
    fn starving_peers(&self, key: PeerKey) -> u64 {
        let Some(t) = self
            .peers
            .get(&key)
            .and_then(|p| p.info_hash)
            .and_then(|ih| self.torrents.get(&ih))
        else {
            return 0;
        };
        if t.down_limit.rate() == 0 && self.global_down.rate() == 0 {
            return 0;
        }
        let starving = t.peers.iter().filter(|&&k| {
            k != key
                && self.peers.get(&k).is_some_and(|q| {
                    q.phase == Phase::Active
                        && !q.peer_choking
                        && q.am_interested
                        && q.web.is_none()
                        && q.inflight.is_empty()
                })
        });
        starving.count() as u64
    }

    /// Work for `key`, which has nothing left to ask: requests queued at the peer
    /// that will take longest to deliver them at its rate over the last second,
    /// moved from the back of its queue (asked last: the least likely to be on
    /// their way) until both would be done at about the same time. The slow peer
    /// is sent cancels; nothing is asked twice (what `key` has asked for, or is
    /// given in `picked`, is not moved to it). Moved only when that peer needs a
    /// second or more, and four times what `key` would; the front of its queue
    /// (128 KiB, or half a second at its rate) stays, as it is most likely on
    /// its way already. If the slow peer sends a moved block anyway, whichever
    /// copy comes first is kept (`on_piece_msg`).
    fn steal_requests(
        &mut self,
        now: Time,
        key: PeerKey,
        ih: InfoHash,
        max: usize,
        picked: &[BlockRequest],
        out: &mut Vec<Action>,
    ) -> Vec<BlockRequest> {
        // A peer not measured yet counts at one block per second.
        const FLOOR: u64 = crate::metainfo::BLOCK_LEN as u64;
        let Some(t) = self.torrents.get(&ih) else {
            return Vec::new();
        };
        let Some(me) = self.peers.get_mut(&key) else {
            return Vec::new();
        };
        let my_rate = me.down.rate(now).max(FLOOR);
        let my_bytes: u64 = me.inflight.iter().map(|f| u64::from(f.req.len)).sum();
        // The slowest queue: seconds to drain, as millis.
        let mut slowest: Option<(u64, PeerKey)> = None;
        for k in t.peers.iter().filter(|k| **k != key) {
            let Some(o) = self.peers.get_mut(k) else {
                continue;
            };
            if o.inflight.is_empty() {
                continue;
            }
            let bytes: u64 = o.inflight.iter().map(|f| u64::from(f.req.len)).sum();
            let drain_ms = bytes * 1000 / o.down.recent_rate(now, RECENT_MS).max(1);
            if slowest.is_none_or(|(d, _)| drain_ms > d) {
                slowest = Some((drain_ms, *k));
            }
        }
        let Some((drain_ms, victim)) = slowest else {
            return Vec::new();
        };
        let mine_ms = my_bytes * 1000 / my_rate;
        if drain_ms < STEAL_MIN_DRAIN_MS || drain_ms <= 4 * mine_ms {
            return Vec::new();
        }
        let o = self.peers.get_mut(&victim).expect("found above");
        let o_rate = o.down.recent_rate(now, RECENT_MS).max(1);
        let o_bytes: u64 = o.inflight.iter().map(|f| u64::from(f.req.len)).sum();
        // The front of its queue is likely sent already (socket buffers, the
        // wire): moving it would fetch it twice.
        let keep = STEAL_KEEP_BYTES.max(o_rate / 2);
        // Bytes to move so both finish together: (o - x) / o_rate = (m + x) / my_rate.
        let even = (u128::from(o_bytes) * u128::from(my_rate))
            .saturating_sub(u128::from(my_bytes) * u128::from(o_rate))
            / (u128::from(o_rate) + u128::from(my_rate));
        let mut budget = u64::try_from(even)
            .unwrap_or(u64::MAX)
            .min(o_bytes.saturating_sub(keep));
        if budget == 0 {
            return Vec::new();
        }
        let (Some(me), Some(o)) = (self.peers.get(&key), self.peers.get(&victim)) else {
            return Vec::new();
        };
        // Newest first: the back of its queue; of pieces `key` has, and not
        // asked of `key` already (endgame copies among them).
        let mut order: Vec<usize> = (0..o.inflight.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(o.inflight[i].sent));
        let mut take = Vec::new();
        for i in order {
            if take.len() >= max || budget == 0 {
                break;
            }
            let r = o.inflight[i].req;
            let asked = me.inflight.iter().any(|f| f.req == r) || picked.contains(&r);
            if me.have.get(r.piece) && !asked {
                budget = budget.saturating_sub(u64::from(r.len));
                take.push(i);
            }
        }
        take.sort_unstable_by(|a, b| b.cmp(a));
        let o = self.peers.get_mut(&victim).expect("found above");
        let moved: Vec<BlockRequest> = take.into_iter().map(|i| o.inflight.remove(i).req).collect();
        if !moved.is_empty() {
            let cancels: Vec<Message> = moved.iter().map(|r| o.cancel(*r)).collect();
            self.send(now, victim, &cancels, out);
            tracing::trace!(info_hash = %ih, blocks = moved.len(), "requests moved from a slow peer");
        }
        moved
    }

    pub(super) fn serve_uploads(&mut self, now: Time, key: PeerKey, out: &mut Vec<Action>) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let Some(ih) = p.info_hash else { return };
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        // Straight from the files when nothing in between changes the bytes.
        let direct = self.cfg.send_from_files && p.stream_is_plain_tcp();
        while p.reads_pending < READS_PER_PEER && !p.am_choking && p.send_backlog < MAX_SEND_BACKLOG
        {
            let Some(&r) = p.queue_in.front() else { break };
            let n = u64::from(r.len);
            // Both budgets must allow it; check without taking, then take both.
            if t.up_limit.wait(now, n) > Duration::ZERO
                || self.global_up.wait(now, n) > Duration::ZERO
            {
                break;
            }
            t.up_limit.take(now, n);
            self.global_up.take(now, n);
            p.queue_in.pop_front();
            if direct {
                // Counted as sent now: nothing comes back unless the read fails.
                note_upload(p, t, &mut self.up_rate, now, n);
                self.session_bytes.1 += n;
                p.send_backlog += PIECE_HEAD + r.len as usize;
                p.last_sent = now;
                out.push(Action::SendBlock {
                    peer: key,
                    info_hash: ih,
                    req: r,
                });
            } else {
                p.reads_pending += 1;
                out.push(Action::ReadBlock {
                    peer: key,
                    info_hash: ih,
                    req: r,
                });
            }
        }
    }

    // ------------------------------------------------------------------ closing

    /// Closes a connection and forgets it.
    pub(super) fn close(&mut self, key: PeerKey, reason: CloseReason, out: &mut Vec<Action>) {
        if self.forget(key) {
            out.push(Action::Close { peer: key, reason });
        }
    }

    /// Forgets a connection: its requests go back to the picker, its pieces leave the
    /// availability counts. Returns whether it was known.
    pub(super) fn forget(&mut self, key: PeerKey) -> bool {
        let Some(p) = self.peers.remove(&key) else {
            return false;
        };
        if let Some(w) = (p.web)
            .zip(p.info_hash.and_then(|ih| self.torrents.get_mut(&ih)))
            .and_then(|(i, t)| t.web_seeds.get_mut(i))
        {
            w.peer = None;
        }
        // An MSE attempt that failed in its handshake is tried again in the clear.
        // One that never connected, over the other transport.
        let retry = (p.outbound && p.phase == Phase::Handshake && self.after_failed_dial(&p))
            || self.after_failed_connect(&p);
        if let (Some(s), Some(ih)) = (&p.superseed, p.info_hash) {
            self.forget_shown(ih, s);
        }
        if let Some(t) = p.info_hash.and_then(|h| self.torrents.get_mut(&h)) {
            t.peers.remove(&key);
            if let Some(a) = t.addrs.get_mut(&p.addr) {
                a.connected = false;
                // An attempt of ours that never got through its handshake (refused,
                // unanswered, timed out) backs the address off further; a
                // never-again mark (u32::MAX) stays.
                if p.outbound && p.phase != Phase::Active && a.failures != u32::MAX && !retry {
                    a.failures = a.failures.saturating_add(1).min(u32::MAX - 1);
                }
            }
            for f in &p.inflight {
                t.picker.release(&f.req);
            }
            if p.have.len() == t.have.len() {
                for i in p.have.ones() {
                    t.picker.peer_lost(i);
                }
            }
        }
        true
    }
}

/// Requests are moved only from a peer that needs at least this long to
/// deliver its queue (and four times what the taker needs).
const STEAL_MIN_DRAIN_MS: u64 = 1000;
/// What a slow peer keeps of its queue, at least: the front, which it has most
/// likely sent already (or half a second at its rate, if more).
const STEAL_KEEP_BYTES: u64 = 128 << 10;
/// A slow peer's rate is taken over this last while (its whole-window rate
/// takes seconds to show that it slowed down).
const RECENT_MS: u64 = 1000;

/// How far ahead to ask each peer of a torrent: `request_queue_time`, but near
/// the end half of what the pieces still missing would take at the torrent's
/// rate, down to [`END_QUEUE_TIME`]. Blocks not yet asked for go to whichever
/// peer is ready first, so a peer that slows near the end (a lost segment
/// halves its window) holds less of what is left behind it.
fn queue_time(cfg: &CoreConfig, now: Time, t: &mut Torrent, piece_len: u64) -> Duration {
    // Pieces missing, wanted or not: more than is left when some are skipped,
    // so the queues shorten later there, never sooner.
    let left = u128::from(t.have.len() - t.have.count()) * u128::from(piece_len);
    let rate = u128::from(t.down_rate.rate(now)).max(1);
    let half_ms = u64::try_from(left * 1000 / rate / 2).unwrap_or(u64::MAX);
    Duration::from_millis(half_ms).clamp(
        END_QUEUE_TIME.min(cfg.request_queue_time),
        cfg.request_queue_time,
    )
}

/// The shortest queue time near the end (see [`queue_time`]).
const END_QUEUE_TIME: Duration = Duration::from_millis(300);

/// Requests to keep outstanding with a peer: `queue_time` worth of its rate
/// (see [`queue_time`]), within the caps (one while it is snubbed; [`FIRST_REQUESTS`]
/// before its first block, when it has no rate yet).
fn desired_requests(cfg: &CoreConfig, queue_time: Duration, now: Time, p: &mut Peer) -> usize {
    if p.snubbed {
        return 1;
    }
    let rate = u128::from(p.down.rate(now));
    let ahead_bytes = rate * queue_time.as_millis() / 1000;
    let blocks =
        usize::try_from(ahead_bytes / u128::from(crate::metainfo::BLOCK_LEN)).unwrap_or(usize::MAX);
    let floor = if p.down.total() == 0 {
        FIRST_REQUESTS
    } else {
        MIN_REQUESTS
    };
    let blocks = blocks.max(floor);
    if p.web.is_some() {
        // A web seed's fetch has bounds of its own (`webseed::web_want`).
        return blocks;
    }
    blocks
        .min(cfg.request_queue_max)
        .min(p.remote_reqq as usize)
}
