//! The wire session of a peer: connects, the handshake, every BEP 3/6/10 message and
//! what it changes, and how events are dispatched.

use super::*;
use crate::proto::Frame;

impl Core {
    // ------------------------------------------------------------------ events

    /// A connection arrived on our listen port. `None`: refused by the connection caps
    /// or the IP filter (the driver closes the socket).
    pub fn on_incoming(&mut self, now: Time, addr: SocketAddr) -> Option<PeerKey> {
        // A dual-stack listener sees IPv4 peers as IPv4-mapped IPv6: they are
        // kept as IPv4 (bans, peer exchange and the address book compare them).
        let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        if self.peers.len() >= self.cfg.max_connections
            || self.shutting_down
            || self.ip_filter.refuses(now, addr.ip())
        {
            return None;
        }
        let key = self.new_key();
        self.peers.insert(key, Peer::new(addr, false, now));
        Some(key)
    }

    /// Handles one event from the driver.
    pub fn on_event(&mut self, now: Time, ev: Event<'_>, out: &mut Vec<Action>) {
        let start = out.len();
        self.dispatch(now, ev, out);
        self.check_waiting_due(now, out);
        self.announce_promptly(now, out);
        self.seal_sends(out, start);
    }

    pub(super) fn dispatch(&mut self, now: Time, ev: Event<'_>, out: &mut Vec<Action>) {
        self.note_event(&ev);
        match ev {
            Event::Connected { peer } => self.on_connected(now, peer, out),
            // A failed attempt: `forget` counts it against the address.
            Event::ConnectFailed { peer } => {
                self.forget(peer);
            }
            Event::Data { peer, bytes } => self.on_data(now, peer, bytes, out),
            Event::Sent { peer, bytes } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.send_backlog = p.send_backlog.saturating_sub(bytes);
                }
                self.serve_uploads(now, peer, out);
            }
            Event::Closed { peer } => {
                self.forget(peer);
            }
            Event::BlockRead {
                peer,
                info_hash,
                req,
                result,
            } => self.on_block_read(now, peer, info_hash, req, result, out),
            Event::PieceWritten {
                info_hash,
                piece,
                result,
            } => self.on_piece_written(now, info_hash, piece, result, out),
            Event::MetaLoaded { info_hash, result } => {
                self.on_meta_loaded(now, info_hash, result, out);
            }
            Event::BlocksHashed {
                info_hash,
                peer,
                range,
                leaves,
            } => self.on_blocks_hashed(now, info_hash, peer, &range, leaves, out),
            Event::PiecesVerified { info_hash, results } => {
                self.on_pieces_verified(info_hash, results, out);
            }
            Event::ResumeSaved { id, result } => self.on_resume_saved(id, result),
            Event::RootsChecked { roots } => self.on_roots_checked(roots, out),
            Event::FilesStated {
                info_hash,
                stamps,
                recorded,
            } => {
                self.on_files_stated(info_hash, stamps, recorded, out);
            }
            Event::WebBytes { peer, bytes } => self.on_web_bytes(now, peer, &bytes, out),
            Event::WebDone { peer, result } => self.on_web_done(now, peer, result, out),
            Event::StorageMoved { info_hash, result } => {
                self.on_storage_moved(info_hash, result, out);
            }
            Event::AnnounceReply {
                info_hash,
                id,
                result,
            } => self.on_announce_reply(now, info_hash, id, result, out),
            Event::StorageOpened { info_hash, result } => {
                self.on_storage_opened(info_hash, result, out);
            }
        }
    }

    pub(super) fn new_key(&mut self) -> PeerKey {
        let k = PeerKey(self.next_key);
        self.next_key += 1;
        k
    }

    pub(super) fn send(
        &mut self,
        now: Time,
        key: PeerKey,
        msgs: &[Message],
        out: &mut Vec<Action>,
    ) {
        if msgs.is_empty() {
            return;
        }
        let mut bytes = Vec::new();
        for m in msgs {
            m.encode_into(&mut bytes);
        }
        if let Some(p) = self.peers.get_mut(&key) {
            p.last_sent = now;
        }
        out.push(Action::Send { peer: key, bytes });
    }

    pub(super) fn on_connected(&mut self, now: Time, key: PeerKey, out: &mut Vec<Action>) {
        // Only an outbound connection in progress can complete; anything else is a
        // stale or confused driver event and is ignored.
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let (Phase::Connecting, Some(ih)) = (p.phase, p.info_hash) else {
            return;
        };
        p.phase = Phase::Handshake;
        p.phase_since = now;
        let name = p.wire_name.unwrap_or(ih);
        let hs = Handshake::new(name, self.cfg.peer_id).encode().to_vec();
        p.last_sent = now;
        let addr = p.addr;
        if self.dial_encrypted(ih, addr) {
            self.start_dialling(key, name, hs, out);
            return;
        }
        out.push(Action::Send {
            peer: key,
            bytes: hs,
        });
    }

    pub(super) fn on_data(&mut self, now: Time, key: PeerKey, bytes: &[u8], out: &mut Vec<Action>) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        p.last_recv = now;
        let Some(bytes) = self.unwrap_incoming(key, bytes, out) else {
            return;
        };
        let bytes = &*bytes;
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let handshake;
        let mut input = if p.phase == Phase::Active {
            bytes
        } else {
            p.handshake_buf.extend_from_slice(bytes);
            if p.handshake_buf.len() < HANDSHAKE_LEN {
                return;
            }
            handshake = std::mem::take(&mut p.handshake_buf);
            if let Err(reason) = self.on_handshake(now, key, &handshake[..HANDSHAKE_LEN], out) {
                self.close(key, reason, out);
                return;
            }
            &handshake[HANDSHAKE_LEN..]
        };
        // Messages read where they arrived: a block's bytes are copied once,
        // into its piece.
        loop {
            let Some(p) = self.peers.get_mut(&key) else {
                return;
            };
            match p.decoder.next_in(&mut input) {
                Ok(Some(frame)) => {
                    if let Err(reason) = self.on_message(now, key, frame, out) {
                        self.close(key, reason, out);
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.close(key, CloseReason::Protocol(e.to_string()), out);
                    return;
                }
            }
        }
        self.request_more(now, key, out);
        self.serve_uploads(now, key, out);
    }

    pub(super) fn on_handshake(
        &mut self,
        now: Time,
        key: PeerKey,
        raw: &[u8],
        out: &mut Vec<Action>,
    ) -> Result<(), CloseReason> {
        let hs = Handshake::decode(raw).ok_or(CloseReason::BadHandshake)?;
        if hs.peer_id == self.cfg.peer_id {
            // We dialled our own listen address (a tracker listed us). Both ends are
            // in this core: the inbound end sees our handshake, and the outbound end
            // is the one still waiting on our listen port. Never try it again.
            let port = self.cfg.listen_port;
            for p in self.peers.values() {
                let dialled_us = p.outbound && p.phase == Phase::Handshake && p.addr.port() == port;
                if (dialled_us || p.outbound && p.peer_id == hs.peer_id)
                    && let Some(t) = p.info_hash.and_then(|h| self.torrents.get_mut(&h))
                    && let Some(a) = t.addrs.get_mut(&p.addr)
                {
                    a.failures = u32::MAX;
                }
            }
            if let Some(p) = self.peers.get(&key)
                && let Some(t) = p.info_hash.and_then(|h| self.torrents.get_mut(&h))
                && let Some(a) = t.addrs.get_mut(&p.addr)
            {
                a.failures = u32::MAX;
            }
            return Err(CloseReason::SelfConnection);
        }
        let p = self.peers.get(&key).expect("caller checked");
        let outbound = p.outbound;
        // The name the peer used (a hybrid's alias, or a torrent's id) and the
        // torrent it names.
        let named = hs.info_hash;
        let ih = self.resolve_name(named);
        // Ours, or the one an MSE handshake already named: it must match.
        let ours = p.wire_name.or(p.info_hash);
        if (outbound && ours != Some(named)) || p.mse_torrent().is_some_and(|m| m != named) {
            return Err(CloseReason::BadHandshake);
        }
        let t = self.torrents.get(&ih).ok_or(CloseReason::BadHandshake)?;
        if !t.takes_peers() {
            return Err(CloseReason::TorrentStopped);
        }
        if t.banned.contains(&p.addr.ip()) {
            return Err(CloseReason::Banned);
        }
        // Already talking to this peer (both sides dialled at once): keep one, the
        // same one on both sides: the connection opened by the lower peer id.
        let existing = t.peers.iter().copied().find(|k| {
            *k != key
                && self
                    .peers
                    .get(k)
                    .is_some_and(|o| o.phase == Phase::Active && o.peer_id == hs.peer_id)
        });
        if let Some(old) = existing {
            let opener = |outbound: bool| {
                if outbound {
                    self.cfg.peer_id
                } else {
                    hs.peer_id
                }
            };
            let old_outbound = self.peers[&old].outbound;
            let keep_new = outbound == old_outbound || opener(outbound) < opener(old_outbound);
            if !keep_new {
                return Err(CloseReason::Duplicate);
            }
            self.close(old, CloseReason::Duplicate, out);
        }
        if !outbound && !self.room_for_incoming(now, ih, out) {
            return Err(CloseReason::Caps);
        }
        let t = self.torrents.get(&ih).expect("checked above");
        let pieces = t.have.len();
        let metadata_size = (t.meta.size > 0).then_some(t.meta.size);
        let super_seeded = Self::super_seeds(t);
        let have_msg = if t.info.is_none() {
            None
        } else if super_seeded {
            // What it may ask for comes a piece at a time (`superseed`).
            hs.supports_fast().then_some(Message::HaveNone)
        } else if hs.supports_fast() && t.have.all() {
            Some(Message::HaveAll)
        } else if hs.supports_fast() && t.have.count() == 0 {
            Some(Message::HaveNone)
        } else if t.have.count() > 0 {
            Some(Message::Bitfield(t.have.as_wire().to_vec()))
        } else {
            None
        };
        let p = self.peers.get_mut(&key).expect("caller checked");
        p.info_hash = Some(ih);
        p.wire_name = (named != ih).then_some(named);
        p.peer_id = hs.peer_id;
        p.fast = hs.supports_fast();
        p.extended = hs.supports_extensions();
        p.decoder = MessageDecoder::new(1 + pieces.div_ceil(8).max(1 << 16), p.fast, p.extended);
        p.have = Bitfield::new(pieces);
        if super_seeded {
            p.superseed = Some(Box::new(super::superseed::Shown {
                pieces: Bitfield::new(pieces),
                out: Vec::new(),
            }));
        }
        p.phase = Phase::Active;
        p.phase_since = now;
        let addr = p.addr;
        if outbound {
            let seen = self.unix(now);
            let t = self.torrents.get_mut(&ih).expect("checked");
            t.good_peers.insert(addr, seen);
            t.peers_changed = true;
        }
        let mut msgs = Vec::new();
        if !outbound {
            let t = self.torrents.get_mut(&ih).expect("checked");
            t.peers.insert(key);
            self.attention.note(ih);
            out.push(Action::Send {
                peer: key,
                bytes: Handshake::new(named, self.cfg.peer_id).encode().to_vec(),
            });
        } else if let Some(a) = self
            .torrents
            .get_mut(&ih)
            .and_then(|t| t.addrs.get_mut(&addr))
        {
            a.failures = 0;
        }
        if hs.supports_extensions() {
            let mut ext = ExtHandshake::ours(
                &self.cfg.client_name,
                self.cfg.listen_port,
                u32::try_from(self.cfg.request_queue_max).unwrap_or(u32::MAX),
                metadata_size,
            );
            ext.e = matches!(
                self.cfg.encryption,
                Encryption::PreferRc4 | Encryption::Required
            );
            // BEP 10 `yourip`: the address we see the peer at.
            ext.yourip = Some(match addr.ip().to_canonical() {
                core::net::IpAddr::V4(v4) => v4.octets().to_vec(),
                core::net::IpAddr::V6(v6) => v6.octets().to_vec(),
            });
            // Our address in the peer's other family, where peers agree on it.
            match self.our_addrs.ours(!addr.ip().to_canonical().is_ipv6()) {
                Some(core::net::IpAddr::V4(v4)) => ext.ipv4 = Some(v4.octets()),
                Some(core::net::IpAddr::V6(v6)) => ext.ipv6 = Some(v6.octets()),
                None => {}
            }
            let t = self.torrents.get(&ih).expect("checked");
            if self.pex_allowed(t) {
                ext.m
                    .insert("ut_pex".to_owned(), crate::proto::pex::UT_PEX_ID);
            }
            msgs.push(Message::Extended {
                id: 0,
                payload: ext.encode(),
            });
        }
        msgs.extend(have_msg);
        // Unchoked at once while a slot is free and we have something to
        // give, before they say they are interested: their requests can then
        // come with their `interested`, a round trip sooner. One that asks
        // for nothing gives the slot back two seconds later (`core::slots`).
        if self.torrents[&ih].have.count() > 0 && self.free_slot(ih, key) {
            let p = self.peers.get_mut(&key).expect("caller checked");
            p.am_choking = false;
            p.unchoked_at = now;
            msgs.push(Message::Unchoke);
        }
        self.send(now, key, &msgs, out);
        if super_seeded {
            self.show_pieces(now, ih, key, out);
        }
        Ok(())
    }

    /// Whether `key`, choked, may have an unchoke slot of torrent `ih` now:
    /// the torrent runs and fewer of its other peers are unchoked than it has
    /// slots.
    fn free_slot(&self, ih: InfoHash, key: PeerKey) -> bool {
        let (Some(t), Some(p)) = (self.torrents.get(&ih), self.peers.get(&key)) else {
            return false;
        };
        let unchoked = t
            .peers
            .iter()
            .filter(|k| **k != key)
            .filter_map(|k| self.peers.get(k))
            .filter(|o| !o.am_choking)
            .count();
        p.am_choking && unchoked < t.upload_slots && t.is_running()
    }

    pub(super) fn on_message(
        &mut self,
        now: Time,
        key: PeerKey,
        frame: Frame<'_>,
        out: &mut Vec<Action>,
    ) -> Result<(), CloseReason> {
        let proto = |s: &str| CloseReason::Protocol(s.to_owned());
        let p = self.peers.get_mut(&key).expect("caller checked");
        let ih = p.info_hash.expect("active peers have a torrent");
        let first = !p.got_first_message;
        if !matches!(
            frame,
            Frame::Message(Message::KeepAlive | Message::Extended { .. })
        ) {
            p.got_first_message = true;
        }
        let t = self
            .torrents
            .get_mut(&ih)
            .ok_or(CloseReason::TorrentStopped)?;
        let msg = match frame {
            Frame::Block {
                piece,
                offset,
                data,
            } => return self.on_piece_msg(now, key, ih, piece, offset, data, out),
            Frame::Message(msg) => msg,
        };
        let pieces = t.have.len();
        let known = t.info.is_some();
        let mut show_more = false;
        let mut spread = None;
        match msg {
            Message::KeepAlive => {}
            Message::Choke => {
                p.peer_choking = true;
                if !p.fast {
                    for f in std::mem::take(&mut p.inflight) {
                        t.picker.release(&f.req);
                    }
                }
            }
            Message::Unchoke => p.peer_choking = false,
            Message::Interested => {
                p.peer_interested = true;
                // A free unchoke slot goes to them now, not at the next choker round.
                if self.free_slot(ih, key) {
                    let p = self.peers.get_mut(&key).expect("caller checked");
                    Self::unchoke_peer(now, key, p, out);
                }
            }
            Message::NotInterested => p.peer_interested = false,
            Message::Have(i) => {
                if !known {
                    if let Some(EarlyHave::Indices(v)) = &mut p.early_have {
                        if v.len() < 1 << 20 {
                            v.push(i);
                        }
                    } else if p.early_have.is_none() {
                        p.early_have = Some(EarlyHave::Indices(vec![i]));
                    }
                    return Ok(());
                }
                if i >= pieces {
                    return Err(proto("have out of range"));
                }
                show_more = Self::shown_piece_taken(p, i);
                spread = Some(i);
                if p.have.set(i) {
                    t.picker.peer_has(i);
                    if !p.am_interested && t.wants(i) {
                        p.am_interested = true;
                        out.push(Action::Send {
                            peer: key,
                            bytes: Message::Interested.encode(),
                        });
                    }
                }
            }
            Message::Bitfield(bits) => {
                if !first {
                    return Err(proto("bitfield after the first message"));
                }
                if !known {
                    p.early_have = Some(EarlyHave::Bits(bits));
                    return Ok(());
                }
                let b = Bitfield::from_wire(&bits, pieces).ok_or_else(|| proto("bad bitfield"))?;
                Self::apply_have(t, p, b);
                Self::refresh_interest(t, p, key, out);
            }
            Message::HaveAll | Message::HaveNone => {
                if !first {
                    return Err(proto("have-all/none after the first message"));
                }
                let all = msg == Message::HaveAll;
                if !known {
                    p.early_have = all.then_some(EarlyHave::All);
                    return Ok(());
                }
                let b = if all {
                    Bitfield::full(pieces)
                } else {
                    Bitfield::new(pieces)
                };
                Self::apply_have(t, p, b);
                Self::refresh_interest(t, p, key, out);
            }
            Message::Request(r) => {
                let valid = known && {
                    let g = &t.info.as_ref().expect("known").geometry;
                    r.piece < pieces
                        && t.have.get(r.piece)
                        && p.superseed.as_ref().is_none_or(|s| s.allows(r.piece))
                        && r.len > 0
                        && r.len <= crate::metainfo::BLOCK_LEN
                        && u64::from(r.offset) + u64::from(r.len) <= u64::from(g.piece_len(r.piece))
                };
                if !valid || p.am_choking {
                    if p.fast {
                        out.push(Action::Send {
                            peer: key,
                            bytes: Message::Reject(r).encode(),
                        });
                    }
                } else if p.queue_in.len() >= self.cfg.request_queue_max {
                    return Err(proto("too many outstanding requests"));
                } else {
                    p.queue_in.push_back(r);
                    p.last_request = Some(now);
                }
            }
            Message::Piece {
                piece,
                offset,
                data,
            } => self.on_piece_msg(now, key, ih, piece, offset, &data, out)?,
            Message::HashRequest(_) | Message::Hashes { .. } | Message::HashReject(_) => {
                self.on_hash_message(now, key, ih, msg, out);
            }
            Message::Cancel(r) => {
                let before = p.queue_in.len();
                p.queue_in.retain(|q| *q != r);
                // BEP 6: with the fast extension a cancelled request is still
                // answered, with its piece if that is already on its way, else
                // with a reject (a peer that waits for it keeps it in its queue).
                if p.fast {
                    for _ in p.queue_in.len()..before {
                        out.push(Action::Send {
                            peer: key,
                            bytes: Message::Reject(r).encode(),
                        });
                    }
                }
            }
            // The answer to a request we cancelled: a later one of the same
            // block stands.
            Message::Reject(r) if p.answers_cancel(&r) => {}
            Message::Reject(r) => {
                if let Some(i) = p.inflight.iter().position(|f| f.req == r) {
                    p.inflight.swap_remove(i);
                    t.picker.release(&r);
                }
            }
            Message::Suggest(_) | Message::AllowedFast(_) | Message::Port(_) => {}
            Message::Extended { id, payload } => {
                self.on_extended(now, key, ih, id, &payload, out)?
            }
        }
        if show_more {
            self.show_pieces(now, ih, key, out);
        }
        if let Some(i) = spread {
            self.shown_piece_spread(now, ih, key, i, out);
        }
        Ok(())
    }

    /// Sends interested / not interested when what the peer has changes our mind.
    pub(super) fn refresh_interest(t: &Torrent, p: &mut Peer, key: PeerKey, out: &mut Vec<Action>) {
        let want = t.interesting(&p.have);
        if want != p.am_interested {
            p.am_interested = want;
            let m = if want {
                Message::Interested
            } else {
                Message::NotInterested
            };
            out.push(Action::Send {
                peer: key,
                bytes: m.encode(),
            });
        }
    }

    pub(super) fn apply_have(t: &mut Torrent, p: &mut Peer, b: Bitfield) {
        for i in p.have.ones() {
            t.picker.peer_lost(i);
        }
        for i in b.ones() {
            t.picker.peer_has(i);
        }
        p.have = b;
    }
}
