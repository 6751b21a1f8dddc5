//! Pieces: blocks arriving and the hash check of a whole piece, smart-ban and strikes
//! against peers that send bad data, and the disk's answers (blocks read for
//! uploads, pieces written, pieces read back for a check).

use super::*;

impl Core {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_piece_msg(
        &mut self,
        now: Time,
        key: PeerKey,
        ih: InfoHash,
        piece: u32,
        offset: u32,
        data: &[u8],
        out: &mut Vec<Action>,
    ) -> Result<(), CloseReason> {
        let p = self.peers.get_mut(&key).expect("caller checked");
        let t = self.torrents.get_mut(&ih).expect("caller checked");
        let len = data.len() as u64;
        p.down.add(now, len);
        t.down_rate.add(now, len);
        self.down_rate.add(now, len);
        let req = BlockRequest {
            piece,
            offset,
            len: u32::try_from(data.len()).unwrap_or(u32::MAX),
        };
        // A block no longer asked of this peer may still be wanted: moved from
        // its queue to another peer's (`steal_requests`), whose request it now
        // makes needless. Whichever copy comes first is kept.
        let after_cancel = p.answers_cancel(&req);
        let asked_here = p.inflight.iter().position(|f| f.req == req);
        if after_cancel && asked_here.is_some() {
            // The answer to a request we cancelled, and the block asked again
            // since: this copy serves, and the later request is cancelled too.
            out.push(Action::Send {
                peer: key,
                bytes: p.cancel(req).encode(),
            });
        }
        match asked_here {
            Some(i) => {
                p.inflight.swap_remove(i);
            }
            None if t.picker.copies(&req) > 0 => {}
            None => {
                t.wasted += len;
                return Ok(());
            }
        }
        p.last_block = now;
        p.snubbed = false;
        let from = p.addr.ip();
        t.downloaded += len;
        t.received_at = Some(now);
        self.session_bytes.0 += len;
        // Asked of another peer too (endgame): that one need not send it.
        let duplicated = t.picker.copies(&req) > 1 || asked_here.is_none();
        match t.picker.on_block(piece, offset, data, from) {
            BlockOutcome::Unexpected => t.wasted += len,
            BlockOutcome::Stored => {}
            BlockOutcome::PieceComplete(bytes, senders) => {
                self.piece_complete(now, ih, piece, bytes, senders, out);
            }
        }
        if duplicated {
            self.cancel_elsewhere(ih, key, req, out);
        }
        Ok(())
    }

    /// Cancels `req` at every peer of `ih` but `key` that was asked for it.
    fn cancel_elsewhere(
        &mut self,
        ih: InfoHash,
        key: PeerKey,
        req: BlockRequest,
        out: &mut Vec<Action>,
    ) {
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        for k in t.peers.iter().filter(|k| **k != key) {
            if let Some(o) = self.peers.get_mut(k)
                && let Some(i) = o.inflight.iter().position(|f| f.req == req)
            {
                o.inflight.swap_remove(i);
                out.push(Action::Send {
                    peer: *k,
                    bytes: o.cancel(req).encode(),
                });
            }
        }
    }

    /// A complete piece's check: `ok` is whether it matched its hash, `None`
    /// when the hash is not in memory.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_piece_checked(
        &mut self,
        now: Time,
        ih: InfoHash,
        piece: u32,
        bytes: Vec<u8>,
        senders: Vec<Option<IpAddr>>,
        ok: Option<bool>,
        out: &mut Vec<Action>,
    ) {
        let t = self.torrents.get_mut(&ih).expect("caller checked");
        // Blocks are asked for only while the hashes are in memory, and they stay
        // while the torrent is incomplete: a piece without them was never asked for.
        let Some(ok) = ok else {
            tracing::debug!(info_hash = %ih, piece, "piece without its hash in memory: dropped");
            t.picker.drop_piece(piece);
            return;
        };
        self.hashed_bytes += bytes.len() as u64;
        let block = crate::metainfo::BLOCK_LEN as usize;
        if ok {
            // Smart-ban: anyone who sent a block of an earlier, failed copy of this
            // piece that differs from the good one sent bad data. A peer that sent
            // the good block itself this time has mended (a disk error on its side,
            // say), and is spared.
            let mut to_ban = Vec::new();
            if let Some(records) = t.smart_ban.remove(&piece) {
                for (b, ip, digest) in records {
                    let start = b as usize * block;
                    let end = (start + block).min(bytes.len());
                    let mended = senders.get(b as usize) == Some(&Some(ip));
                    if !mended && hash::sha1(&bytes[start..end]) != digest {
                        to_ban.push(ip);
                    }
                }
            }
            t.writing.insert(piece);
            out.push(Action::WritePiece {
                info_hash: ih,
                piece,
                data: bytes,
            });
            for ip in to_ban {
                self.ban(
                    now,
                    ih,
                    ip,
                    "sent a block that differs from the good copy",
                    out,
                );
            }
            return;
        }
        t.hash_failures += 1;
        t.wasted += bytes.len() as u64;
        let distinct: std::collections::BTreeSet<IpAddr> =
            senders.iter().flatten().copied().collect();
        let records = t.smart_ban.entry(piece).or_default();
        for (b, ip) in senders.iter().enumerate() {
            if let Some(ip) = ip {
                let start = b * block;
                let end = (start + block).min(bytes.len());
                if records.len() < 4096 {
                    records.push((
                        u32::try_from(b).expect("block index"),
                        *ip,
                        hash::sha1(&bytes[start..end]),
                    ));
                }
            }
        }
        // One sender for the whole piece: no doubt who sent the bad data. A strike:
        // the peer is dropped and tried again later (a disk error on its side, a bad
        // cable, are not malice); after MAX_HASH_STRIKES it is banned.
        if distinct.len() == 1 {
            let ip = *distinct.first().expect("one");
            let strikes = t.strikes.entry(ip).or_insert(0);
            *strikes += 1;
            let strikes = *strikes;
            tracing::info!(
                info_hash = %ih,
                peer = %ip,
                piece,
                strikes,
                "piece failed its hash check; all of it came from one peer"
            );
            if strikes >= MAX_HASH_STRIKES {
                self.ban(
                    now,
                    ih,
                    ip,
                    &format!("{strikes} pieces failed their hash"),
                    out,
                );
            } else {
                self.strike(now, ih, ip, out);
            }
        }
    }

    /// Drops the connections to `ip` after a piece it alone sent failed, and makes
    /// its address wait out a backoff before it is dialled again.
    pub(super) fn strike(&mut self, now: Time, ih: InfoHash, ip: IpAddr, out: &mut Vec<Action>) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        for (addr, a) in t.addrs.iter_mut() {
            if addr.ip() == ip {
                a.failures = a.failures.saturating_add(1).min(u32::MAX - 1);
                a.last_attempt = Some(now);
            }
        }
        self.close_ip(ih, ip, &CloseReason::HashFailure, out);
    }

    /// Closes every connection of torrent `ih` to address `ip`.
    pub(super) fn close_ip(
        &mut self,
        ih: InfoHash,
        ip: IpAddr,
        reason: &CloseReason,
        out: &mut Vec<Action>,
    ) {
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        let keys: Vec<PeerKey> = t
            .peers
            .iter()
            .copied()
            .filter(|k| self.peers.get(k).is_some_and(|p| p.addr.ip() == ip))
            .collect();
        for k in keys {
            self.close(k, reason.clone(), out);
        }
    }

    pub(super) fn ban(
        &mut self,
        now: Time,
        ih: InfoHash,
        ip: IpAddr,
        why: &str,
        out: &mut Vec<Action>,
    ) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        if t.banned.insert(ip) {
            match t.web_seeds.iter().find(|w| w.addr.ip() == ip) {
                Some(w) => {
                    tracing::warn!(info_hash = %ih, url = %w.url, reason = why, "web seed banned");
                }
                None => {
                    tracing::warn!(info_hash = %ih, peer = %ip, reason = why, "peer banned");
                    out.push(self.peer_note(now, ip, false, why));
                }
            }
        }
        self.close_ip(ih, ip, &CloseReason::Banned, out);
    }

    pub(super) fn on_block_read(
        &mut self,
        now: Time,
        key: PeerKey,
        ih: InfoHash,
        req: BlockRequest,
        result: Result<Vec<u8>, DiskError>,
        out: &mut Vec<Action>,
    ) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        p.reads_pending = p.reads_pending.saturating_sub(1);
        let short = result.as_ref().is_ok_and(|d| d.len() != req.len as usize);
        if result.is_err() || short {
            // The piece is not readable after all: tell the peer, never send a
            // short or made-up block. A root check made after this read tells a
            // file gone or cut (the torrent stops until rechecked) from a disk
            // gone away (the root's own handling).
            if p.fast {
                out.push(Action::Send {
                    peer: key,
                    bytes: Message::Reject(req).encode(),
                });
            }
            let why = match &result {
                Err(e) => e.0.clone(),
                Ok(d) => format!("piece {} read {} of {} bytes", req.piece, d.len(), req.len),
            };
            let next_root_check = self.root_checks_issued + 1;
            if let Some(t) = self.torrents.get_mut(&ih)
                && t.read_doubt.is_none()
            {
                if !t.read_failure_logged {
                    t.read_failure_logged = true;
                    tracing::warn!(info_hash = %ih, piece = req.piece, error = %why,
                        "a block could not be read for a peer: refused; a root check tells a changed file from a disk gone away");
                }
                t.read_doubt = Some((next_root_check, why));
                self.want_root_check(out);
            }
            return;
        }
        let data = result.unwrap_or_default();
        if p.am_choking {
            // Choked while the block was read: a fast-extension peer is told,
            // or it would wait for the block until its request timed out.
            if p.fast {
                out.push(Action::Send {
                    peer: key,
                    bytes: Message::Reject(req).encode(),
                });
            }
            return;
        }
        if let Some(t) = self.torrents.get_mut(&ih) {
            note_upload(p, t, &mut self.up_rate, now, data.len() as u64);
            self.session_bytes.1 += data.len() as u64;
        }
        let m = Message::Piece {
            piece: req.piece,
            offset: req.offset,
            data,
        };
        self.send(now, key, &[m], out);
        self.serve_uploads(now, key, out);
    }

    pub(super) fn on_piece_written(
        &mut self,
        now: Time,
        ih: InfoHash,
        piece: u32,
        result: Result<(), DiskError>,
        out: &mut Vec<Action>,
    ) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        if !t.writing.remove(&piece) {
            return;
        }
        if let Err(e) = result {
            if e.is_no_space() {
                // Not the disk's fault: stop asking for more until space may
                // have returned, keep serving what is on disk, and try again.
                if t.disk_full.is_none() {
                    tracing::warn!(info_hash = %ih, name = %t.name, error = %e,
                        "disk full: downloading stopped, retried every {DISK_FULL_RETRY:?}; seeding goes on");
                }
                t.disk_full = Some(now + DISK_FULL_RETRY);
                t.note = Some(format!(
                    "{DISK_FULL_NOTE}: downloading stopped, retried every {} s; seeding goes on ({})",
                    DISK_FULL_RETRY.as_secs(),
                    e.0
                ));
                return;
            }
            // The verified data is lost: fetch the piece again, up to a point
            // (at once for a disk that refuses every write).
            let n = t.write_failures.entry(piece).or_insert(0);
            *n += 1;
            if e.is_permanent() {
                t.error = Some(format!("writing piece {piece} failed: {}", e.0));
                tracing::error!(info_hash = %ih, piece, error = %e, "torrent stopped: its files cannot be written");
                self.close_peers(ih, out);
            } else if *n >= MAX_WRITE_FAILURES {
                t.error = Some(format!("writing piece {piece} failed {n} times: {}", e.0));
                tracing::error!(info_hash = %ih, piece, error = %e, "torrent stopped: writes keep failing");
                self.close_peers(ih, out);
            }
            return;
        }
        t.write_failures.remove(&piece);
        if t.disk_full.take().is_some() {
            tracing::info!(info_hash = %ih, name = %t.name, "disk space again: downloading");
            if t.note
                .as_deref()
                .is_some_and(|n| n.starts_with(DISK_FULL_NOTE))
            {
                t.note = None;
            }
        }
        t.have.set(piece);
        t.dirty = true;
        if let Some(info) = &t.info {
            t.touched.extend(
                info.geometry
                    .piece_spans(piece)
                    .map(|s| s.file)
                    .filter(|&f| info.files[f].is_stored()),
            );
        }
        let resume: Vec<PeerKey> = t.peers.iter().copied().collect();
        let finished = t.is_finished();
        t.announcer.owe_completed(now, finished);
        let mut now_complete = false;
        if finished && t.completed_at.is_none() {
            tracing::info!(info_hash = %ih, name = %t.name, "download complete");
            t.completed_at = Some(self.cfg.unix_at_zero + now.since(Time::ZERO).as_secs());
            t.save_now = true;
            now_complete = true;
        }
        let keys: Vec<PeerKey> = t.peers.iter().copied().collect();
        for k in keys {
            let Some(p) = self.peers.get(&k) else {
                continue;
            };
            // Peers that have it hear too (libtorrent's "redundant have"): a
            // super-seeding seed shows the next piece when told (`superseed`).
            if p.phase == Phase::Active {
                out.push(Action::Send {
                    peer: k,
                    bytes: Message::Have(piece).encode(),
                });
            }
        }
        if finished {
            self.update_interest(ih, out);
            if now_complete {
                self.now_complete(ih, out);
            }
        } else {
            // Requests may have paused on the write backlog.
            for k in resume {
                self.request_more(now, k, out);
            }
        }
    }

    pub(super) fn on_pieces_verified(
        &mut self,
        ih: InfoHash,
        results: Vec<(u32, Verdict)>,
        out: &mut Vec<Action>,
    ) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        let Some(check) = &mut t.checking else {
            return;
        };
        let next_root_check = self.root_checks_issued + 1;
        let mut doubtful = false;
        for (piece, verdict) in results {
            check.pending = check.pending.saturating_sub(1);
            if verdict != Verdict::Unreadable
                && let Some(info) = &t.info
            {
                self.hashed_bytes += u64::from(info.geometry.piece_len(piece));
            }
            if verdict != Verdict::Valid && t.root_lost {
                // The disk went away under the read: it says nothing about the piece.
                check.retry(piece);
                continue;
            }
            match (verdict, &check.kind) {
                (Verdict::Valid, _) => {
                    t.have.set(piece);
                }
                // A missing file, or a disk going away that no root check has
                // seen yet: a root check made after this read tells which.
                (Verdict::Unreadable, _) => {
                    check.doubtful.push((piece, next_root_check));
                    doubtful = true;
                }
                (Verdict::Invalid, CheckKind::Sample) => check.failed += 1,
                (Verdict::Invalid, _) => {
                    t.have.clear(piece);
                }
            }
        }
        if doubtful {
            self.want_root_check(out);
        }
        self.drive_checking(ih, out);
    }

    /// Keeps a check going: a few piece reads in flight until every piece is done.
    pub(super) fn drive_checking(&mut self, ih: InfoHash, out: &mut Vec<Action>) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        // Its files are read once they are prepared where it now lives.
        let held = t.paused && !t.checking_while_paused();
        if held || t.root_lost || t.moving.is_some() || !t.storage_ready {
            return;
        }
        if t.checking.as_ref().is_none_or(|c| c.done()) {
            self.finish_check(ih, out);
            return self.next_checks(out);
        }
        if !self.check_turn(ih) {
            // Again when its turn comes; a free turn goes to the line's head.
            return self.next_checks(out);
        }
        let Some(hashes) = self.need_hashes(ih, out) else {
            return; // again when they are read back
        };
        let t = self.torrents.get_mut(&ih).expect("looked up above");
        let Some(check) = &mut t.checking else {
            return;
        };
        // Batches of about `check_batch_bytes`, two in flight: the driver hashes a
        // batch on every core while the core takes the other's answer.
        let piece_len = t
            .info
            .as_ref()
            .map_or(1, |i| u64::from(i.geometry.piece_length()).max(1));
        let batch = usize::try_from(self.cfg.check_batch_bytes / piece_len)
            .unwrap_or(usize::MAX)
            .clamp(1, 4096);
        while (check.pending as usize) < 2 * batch {
            let mut pieces = Vec::with_capacity(batch);
            while pieces.len() < batch {
                let Some(piece) = check.next_piece() else {
                    break;
                };
                if check.kind == CheckKind::Pieces {
                    t.have.clear(piece);
                }
                pieces.push(piece);
            }
            if pieces.is_empty() {
                break;
            }
            check.pending += u32::try_from(pieces.len()).expect("a batch is small");
            out.push(Action::VerifyPieces {
                info_hash: ih,
                pieces,
                hashes: Arc::clone(&hashes),
            });
        }
        if !check.done() {
            return;
        }
        self.finish_check(ih, out);
        self.next_checks(out);
    }

    /// A check with every piece answered: its outcome.
    fn finish_check(&mut self, ih: InfoHash, out: &mut Vec<Action>) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        let Some(check) = &t.checking else {
            return;
        };
        if !check.done() {
            return;
        }
        let sample_failed = check.kind == CheckKind::Sample && check.failed > 0;
        let kind = check.kind.clone();
        t.checking = None;
        t.dirty = true;
        t.save_now = true;
        if sample_failed {
            t.note =
                Some("pieces sampled from the returned storage root failed: full recheck".into());
            // Nothing of that disk is trusted until it is read back.
            t.have = Bitfield::new(t.have.len());
            t.checking = Some(Box::new(Check::full(t.have.len())));
            self.drive_checking(ih, out);
            return;
        }
        self.announce_soon.push(ih);
        let t = self.torrents.get_mut(&ih).expect("looked up above");
        let found = t.have.count();
        if kind == CheckKind::Full && found > 0 {
            t.note = Some(format!(
                "{found} of {} pieces already here and valid",
                t.have.len()
            ));
        }
        if t.is_finished() {
            if t.completed_at.is_none() {
                match t.done_elsewhere.take() {
                    // Finished in the client it came from: at that time, and
                    // not again here (that client ran its program then).
                    Some(at) if t.finish_in.is_none() => t.completed_at = Some(at),
                    at => {
                        t.completed_at = Some(at.unwrap_or(t.added_at));
                        self.now_complete(ih, out);
                    }
                }
            }
        } else {
            t.completed_at = None;
            t.done_elsewhere = None;
        }
    }

    pub(super) fn update_interest(&mut self, ih: InfoHash, out: &mut Vec<Action>) {
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        let keys: Vec<PeerKey> = t.peers.iter().copied().collect();
        let finished = t.is_finished();
        let mut seeds = Vec::new();
        for k in keys {
            let t = &self.torrents[&ih];
            let Some(p) = self.peers.get_mut(&k) else {
                continue;
            };
            if p.phase != Phase::Active {
                continue;
            }
            Self::refresh_interest(t, p, k, out);
            if finished && p.is_seed() && t.info.is_some() {
                seeds.push(k);
            }
        }
        // Two seeds have nothing to say to each other.
        for k in seeds {
            self.close(k, CloseReason::NothingToExchange, out);
        }
    }
}

/// `n` bytes of blocks have gone to peer `p` of torrent `t`: its rates, the
/// torrent's total and the session's upload rate (`total`) count them.
pub(super) fn note_upload(
    p: &mut Peer,
    t: &mut Torrent,
    total: &mut RateTracker,
    now: Time,
    n: u64,
) {
    p.up.add(now, n);
    t.uploaded += n;
    t.up_rate.add(now, n);
    t.served_at = Some(now);
    total.add(now, n);
}
