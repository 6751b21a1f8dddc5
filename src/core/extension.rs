//! The extension protocol (BEP 10) and metadata exchange (BEP 9): asking peers for
//! a magnet's info dictionary and checking what they send against its hash.

use super::*;

impl Core {
    pub(super) fn on_extended(
        &mut self,
        now: Time,
        key: PeerKey,
        ih: InfoHash,
        id: u8,
        payload: &[u8],
        out: &mut Vec<Action>,
    ) -> Result<(), CloseReason> {
        let p = self.peers.get_mut(&key).expect("caller checked");
        if id == 0 {
            let hs =
                ExtHandshake::decode(payload).map_err(|e| CloseReason::Protocol(e.to_string()))?;
            p.ut_metadata = hs.m.get("ut_metadata").copied().filter(|&i| i != 0);
            p.metadata_size = hs.metadata_size;
            let pex_was = p.ut_pex;
            p.ut_pex = hs.m.get("ut_pex").copied().filter(|&i| i != 0);
            let pex_new = pex_was.is_none() && p.ut_pex.is_some();
            if let Some(q) = hs.reqq {
                p.remote_reqq = q.clamp(1, 10_000);
            }
            if let Some(v) = hs.v {
                p.client = v;
            }
            p.listen_port = hs.p;
            // `e`: dial it with MSE even after a failed MSE attempt.
            if hs.e
                && p.outbound
                && let Some(a) = (self.torrents.get_mut(&ih)).and_then(|t| t.addrs.get_mut(&p.addr))
            {
                a.flags |= crate::proto::pex::FLAG_ENCRYPTION;
            }
            let p = self.peers.get_mut(&key).expect("caller checked");
            let from = p.addr.ip();
            if let Some(ours) = &hs.yourip {
                self.our_addrs.heard(ours, from);
            }
            // The peer's address in its other family: one more way to reach it.
            let other = (hs.ipv4.map(IpAddr::from))
                .filter(|_| from.to_canonical().is_ipv6())
                .or_else(|| hs.ipv6.map(IpAddr::from).filter(|_| from.is_ipv4()));
            let allowed = (self.torrents.get(&ih)).is_some_and(|t| self.pex_allowed(t));
            if let (Some(ip), Some(port), true) = (other, hs.p, allowed)
                && let Some(t) = self.torrents.get_mut(&ih)
            {
                t.learn([((ip, port).into(), 0)], PeerSource::Pex, Some(from));
            }
            if let (Some(size), Some(m)) = (hs.metadata_size, self.metadata.get_mut(&ih)) {
                if size == 0 || size > MAX_METADATA_SIZE {
                    return Err(CloseReason::Protocol(format!("metadata size {size}")));
                }
                m.offer(size);
            }
            self.request_metadata(now, key, out);
            if pex_new {
                self.pex_start(now, key, ih, out);
            }
            return Ok(());
        }
        if id == crate::proto::pex::UT_PEX_ID {
            return self.on_pex(now, key, ih, payload);
        }
        if id != UT_METADATA_ID {
            return Ok(()); // an extension we did not offer: ignore
        }
        let msg = UtMetadata::decode(payload).map_err(|e| CloseReason::Protocol(e.to_string()))?;
        match msg {
            UtMetadata::Request { piece } => {
                if p.ut_metadata.is_none() {
                    return Ok(());
                }
                // Asking for the metadata is asking: a magnet leecher keeps
                // its upload slot while it fetches it (`core::slots`).
                p.last_request = Some(now);
                let t = self.torrents.get_mut(&ih).expect("caller checked");
                if t.meta.bytes.is_some() {
                    t.meta.used = now;
                } else if self.hold_metadata_request(ih, key, piece, out) {
                    return Ok(());
                }
                self.answer_metadata_request(now, ih, key, piece, out);
            }
            UtMetadata::Data { piece, data, .. } => {
                p.metadata_inflight = p.metadata_inflight.saturating_sub(1);
                let done = self
                    .metadata
                    .get_mut(&ih)
                    .and_then(|m| m.on_data(piece, data));
                if let Some(bytes) = done {
                    self.on_metadata(now, ih, bytes, out);
                } else {
                    self.request_metadata(now, key, out);
                }
            }
            UtMetadata::Reject { piece } => {
                p.metadata_inflight = p.metadata_inflight.saturating_sub(1);
                if let Some(m) = self.metadata.get_mut(&ih) {
                    m.on_reject(piece);
                }
            }
        }
        Ok(())
    }

    pub(super) fn request_metadata(&mut self, now: Time, key: PeerKey, out: &mut Vec<Action>) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let (Some(ih), Some(their_id)) = (p.info_hash, p.ut_metadata) else {
            return;
        };
        let Some(m) = self.metadata.get_mut(&ih) else {
            return;
        };
        let mut msgs = Vec::new();
        while p.metadata_inflight < 2 {
            let Some(piece) = m.next_request(now) else {
                break;
            };
            p.metadata_inflight += 1;
            msgs.push(Message::Extended {
                id: their_id,
                payload: UtMetadata::Request { piece }.encode(),
            });
        }
        self.send(now, key, &msgs, out);
    }

    /// Sends a peer the metadata piece it asked for, or a reject when we do not
    /// have it (in memory, or at all).
    pub(super) fn answer_metadata_request(
        &mut self,
        now: Time,
        ih: InfoHash,
        key: PeerKey,
        piece: u32,
        out: &mut Vec<Action>,
    ) {
        let Some(their_id) = self.peers.get(&key).and_then(|p| p.ut_metadata) else {
            return;
        };
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        let reply = match &t.meta.bytes {
            Some(bytes) if (piece as usize) * metadata::PIECE < bytes.len() => {
                let start = piece as usize * metadata::PIECE;
                let end = (start + metadata::PIECE).min(bytes.len());
                UtMetadata::Data {
                    piece,
                    total_size: bytes.len() as u64,
                    data: bytes[start..end].to_vec(),
                }
            }
            _ => UtMetadata::Reject { piece },
        };
        let m = Message::Extended {
            id: their_id,
            payload: reply.encode(),
        };
        self.send(now, key, &[m], out);
    }

    /// The `info` dictionary of torrent `ih`, fetched whole from peers.
    pub(crate) fn on_metadata(
        &mut self,
        now: Time,
        ih: InfoHash,
        bytes: Vec<u8>,
        out: &mut Vec<Action>,
    ) {
        // A v2-only torrent's magnet names the first 20 bytes of its SHA-256.
        let v1 = hash::sha1(&bytes) == ih.0;
        if !v1 && <sha2::Sha256 as sha2::Digest>::digest(&bytes)[..20] != ih.0 {
            // Someone sent a wrong piece: start over (the fetch forgets every piece).
            if let Some(m) = self.metadata.get_mut(&ih) {
                m.reset();
            }
            return;
        }
        let limits = MetainfoLimits::default();
        let as_v1 = crate::metainfo::parse_info_bytes(&bytes, &limits);
        let parsed = match as_v1 {
            Ok((_, i)) if v1 => Ok((i, Vec::new())),
            // A hybrid named by its v2 hash runs by its v1 side (its SHA-1
            // piece hashes are in its `info`: no piece layers to fetch).
            Ok((_, i)) if i.v2_hash.is_some() => Ok((i, Vec::new())),
            Err(e) if v1 => Err(e),
            _ => crate::metainfo::parse_v2_info_bytes(&bytes, &limits).map(|(_, i, n)| (i, n)),
        };
        let t = self
            .torrents
            .get_mut(&ih)
            .expect("fetching for a torrent we have");
        let (info, needs) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => {
                t.error = Some(format!("metadata from peers is invalid: {e}"));
                tracing::warn!(info_hash = %ih, error = %e, "metadata from peers is invalid");
                self.metadata.remove(&ih);
                return;
            }
        };
        self.metadata.remove(&ih);
        if info.private {
            // BEP 27: what peer exchange told a magnet that turns out private is
            // forgotten, and no more is exchanged (see `pex.rs`).
            t.addrs
                .retain(|_, a| a.connected || a.sources != PeerSource::Pex.bit());
            t.pex = None;
        }
        t.set_info(now, info, Arc::new(bytes));
        self.name_alias(now, ih, out);
        let t = self.torrents.get_mut(&ih).expect("present");
        if needs.is_empty() {
            out.push(t.open_storage(ih, true, false));
            // Data may already be on disk (an interrupted download): check it first.
            t.checking = Some(Box::new(Check::full(t.have.len())));
            t.save_now = true;
        }
        let pieces = t.have.len();
        let keys: Vec<PeerKey> = t.peers.iter().copied().collect();
        for k in keys {
            let Some(p) = self.peers.get_mut(&k) else {
                continue;
            };
            let t = self.torrents.get_mut(&ih).expect("present");
            p.decoder.set_max_len(1 + pieces.div_ceil(8).max(1 << 16));
            let have = match p.early_have.take() {
                Some(EarlyHave::All) => Bitfield::full(pieces),
                Some(EarlyHave::Bits(b)) => match Bitfield::from_wire(&b, pieces) {
                    Some(b) => b,
                    None => {
                        self.close(k, CloseReason::Protocol("bad bitfield".into()), out);
                        continue;
                    }
                },
                Some(EarlyHave::Indices(v)) => {
                    let mut b = Bitfield::new(pieces);
                    for i in v.into_iter().filter(|&i| i < pieces) {
                        b.set(i);
                    }
                    b
                }
                None => Bitfield::new(pieces),
            };
            p.have = Bitfield::new(pieces);
            Self::apply_have(t, p, have);
        }
        // A hybrid: its v2 side's layers fetched beside the download.
        self.fetch_missing_hybrid_layers(now, ih, out);
        if !needs.is_empty() {
            // A v2-only torrent: its piece layers first (see `layers`).
            self.fetch_layers(ih, needs);
            self.ask_for_layers(now, ih, out);
        }
        self.update_interest(ih, out);
        self.drive_checking(ih, out);
    }
}
