//! Piece hashes and metadata bytes kept in memory only while a torrent needs
//! them: a complete torrent that is only seeding never reads its hashes, and at
//! 100,000 torrents they would be gigabytes. The session store holds the `info`
//! dictionary (written when the torrent was added or its metadata fetched); the
//! core asks the driver for it ([`Action::LoadMeta`]) when a check, a move, a
//! download or a peer's metadata request needs it, and lets it go again once the
//! torrent has been complete and quiet for [`KEEP_RESIDENT`].

use super::*;
use crate::hash::PieceHashes;

/// How long loaded metadata stays after it was read back or asked for.
const KEEP_RESIDENT: Duration = Duration::from_secs(60);

/// Peers' metadata requests held while the bytes are read back; more are
/// rejected (the peer asks again or asks someone else).
const MAX_WAITING: usize = 32;

/// A torrent's metadata residency.
#[derive(Debug, Default)]
pub(crate) struct MetaCache {
    /// Every piece's hashes, while resident.
    pub hashes: Option<Arc<crate::hash::PieceHashes>>,
    /// A v2-only or hybrid torrent's file trees, built from `hashes` for a
    /// peer's hash request and let go with them.
    pub trees: Option<Arc<super::hashes::FileTrees>>,
    /// The `info` dictionary's bytes, while resident.
    pub bytes: Option<Arc<Vec<u8>>>,
    /// Bytes of the `info` dictionary (0 while unknown).
    pub size: u64,
    /// The session store holds the bytes: they may be let go.
    pub stored: bool,
    /// An [`Action::LoadMeta`] is out.
    pub loading: bool,
    /// Last loaded or asked for by a peer.
    pub used: Time,
    /// Peers' ut_metadata requests waiting for the bytes: (peer, piece).
    pub waiting: Vec<(PeerKey, u32)>,
}

impl MetaCache {
    /// Resident from bytes just parsed: `hashes` taken out of the parsed info.
    pub fn resident(hashes: crate::hash::PieceHashes, bytes: Arc<Vec<u8>>, now: Time) -> MetaCache {
        MetaCache {
            hashes: Some(Arc::new(hashes)),
            size: bytes.len() as u64,
            bytes: Some(bytes),
            used: now,
            ..MetaCache::default()
        }
    }

    /// What the session store keeps, while the bytes are resident: the `info`
    /// bytes themselves, or for a torrent with v2 pieces those and its piece
    /// roots.
    pub fn record(&self) -> Option<Arc<Vec<u8>>> {
        let bytes = self.bytes.as_ref()?;
        match self.hashes.as_deref() {
            Some(h @ (PieceHashes::Merkle(_) | PieceHashes::Hybrid { .. })) => {
                Some(Arc::new(crate::metainfo::encode_stored(bytes, h)))
            }
            _ => Some(Arc::clone(bytes)),
        }
    }

    /// Known to the store only (a restart).
    pub fn stored(size: u64) -> MetaCache {
        MetaCache {
            size,
            stored: true,
            ..MetaCache::default()
        }
    }
}

impl Core {
    /// The torrent's piece hashes if they are in memory; otherwise asks for them
    /// (once) and returns `None`: the caller tries again when they arrive.
    pub(crate) fn need_hashes(
        &mut self,
        ih: InfoHash,
        out: &mut Vec<Action>,
    ) -> Option<Arc<crate::hash::PieceHashes>> {
        let t = self.torrents.get_mut(&ih)?;
        t.info.as_ref()?;
        if let Some(h) = &t.meta.hashes {
            return Some(Arc::clone(h));
        }
        self.load_meta(ih, out);
        None
    }

    /// The torrent's piece hashes if they are in memory (nothing asked for).
    pub(crate) fn resident_hashes(&self, ih: InfoHash) -> Option<Arc<crate::hash::PieceHashes>> {
        self.torrents.get(&ih)?.meta.hashes.clone()
    }

    /// A peer's metadata request for a torrent whose bytes are not in memory:
    /// held until they are (or rejected when too many wait).
    pub(crate) fn hold_metadata_request(
        &mut self,
        ih: InfoHash,
        peer: PeerKey,
        piece: u32,
        out: &mut Vec<Action>,
    ) -> bool {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return false;
        };
        if !t.meta.stored || t.meta.waiting.len() >= MAX_WAITING {
            return false;
        }
        t.meta.waiting.push((peer, piece));
        self.load_meta(ih, out);
        true
    }

    /// Asks the driver for the torrent's metadata unless a read is out (or
    /// cannot help).
    fn load_meta(&mut self, ih: InfoHash, out: &mut Vec<Action>) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        if t.meta.loading || !t.meta.stored || t.error.is_some() {
            return;
        }
        t.meta.loading = true;
        self.metadata_loads += 1;
        out.push(Action::LoadMeta { info_hash: ih });
    }

    /// The store's answer to an [`Action::LoadMeta`].
    pub(crate) fn on_meta_loaded(
        &mut self,
        now: Time,
        ih: InfoHash,
        result: Result<Option<Vec<u8>>, String>,
        out: &mut Vec<Action>,
    ) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        t.meta.loading = false;
        let pieces = t.info.as_ref().map_or(0, |i| i.geometry.piece_count());
        let parsed = match result {
            Ok(Some(bytes)) => {
                match crate::metainfo::parse_stored(&bytes, &MetainfoLimits::default()) {
                    Ok((h, info, bytes))
                        if (h == ih || info.other_name(h) == Some(ih))
                            && info.geometry.piece_count() == pieces =>
                    {
                        Ok((info.pieces, bytes))
                    }
                    Ok(_) => Err("it belongs to another torrent or layout".to_owned()),
                    Err(e) => Err(e.to_string()),
                }
            }
            Ok(None) => Err("the record is missing".to_owned()),
            Err(e) => Err(e),
        };
        let waiting = std::mem::take(&mut t.meta.waiting);
        match parsed {
            Ok((hashes, bytes)) => {
                let cache = MetaCache::resident(hashes, Arc::new(bytes), now);
                t.meta = MetaCache {
                    stored: true,
                    ..cache
                };
                tracing::debug!(info_hash = %ih, "piece hashes read back from the session store");
                self.fetch_missing_hybrid_layers(now, ih, out);
            }
            Err(why) => {
                let e = format!(
                    "its metadata could not be read from the session store ({why}): remove it and add it again"
                );
                tracing::warn!(info_hash = %ih, error = %e, "torrent stopped");
                t.error = Some(e);
            }
        }
        for (peer, piece) in waiting {
            self.answer_metadata_request(now, ih, peer, piece, out);
        }
        self.drive_checking(ih, out);
        self.drive_move(ih, out);
    }

    /// Lets go of the hashes and bytes of torrents that have been complete and
    /// quiet for [`KEEP_RESIDENT`] and wait for no piece layers, or only for a
    /// hybrid's that nobody is asked for (the choker's pass calls it).
    pub(crate) fn release_idle_meta(&mut self, now: Time) {
        let mut dropped = Vec::new();
        for (ih, t) in &mut self.torrents {
            let m = &t.meta;
            let fetch = self.layers.get(ih);
            if m.stored
                && fetch.is_none_or(|f| f.idle_hybrid(now))
                && (m.hashes.is_some() || m.bytes.is_some())
                && !m.loading
                && m.waiting.is_empty()
                && now.since(m.used) >= KEEP_RESIDENT
                && t.checking.is_none()
                && t.moving.is_none()
                && t.writing.is_empty()
                && t.is_finished()
            {
                t.meta.hashes = None;
                t.meta.trees = None;
                t.meta.bytes = None;
                if fetch.is_some() {
                    dropped.push(*ih);
                }
            }
        }
        for ih in dropped {
            tracing::debug!(info_hash = %ih, "a hybrid's layer fetch with no v2 peer to ask: dropped with its hashes until they are read back");
            self.layers.remove(&ih);
        }
    }
}
