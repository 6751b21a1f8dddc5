//! The piece layers of a v2-only torrent added by magnet link (BEP 52): its
//! `info` came by ut_metadata, but the hashes of the pieces of each file longer
//! than a piece are outside it. They are asked for in hash requests, each
//! answer checked against the file's `pieces root` with its proof; a peer whose
//! answer does not prove is dropped. Nothing is downloaded, and the storage is
//! not opened, until every layer is in.
//!
//! A hybrid added by magnet link runs by its SHA-1 pieces at once, and its
//! layers are fetched beside (from the peers that speak to it by its v2 name,
//! the only ones sure to know hash requests), so that its own v2 peers can get
//! them from it in turn: once in, its pieces' roots join their SHA-1
//! ([`PieceHashes::Hybrid`]) and its metadata record is written again with
//! them. A hybrid whose record has no roots (restarted before they came)
//! fetches them again once its hashes are read back: for its download, its
//! check, or a v2 peer's hash request. A complete hybrid's fetch with nobody
//! to ask is dropped with its hashes when they are let go (`resident`).

use super::*;
use crate::hash::merkle::{MAX_HASHES, Sha256Digest, check_answer};
use crate::hash::{MerklePiece, PieceHashes};
use crate::metainfo::LayerNeed;
use crate::proto::HashRange;

/// How long a hash request may go unanswered before another peer is asked.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Hash requests one peer may have out at once.
const PER_PEER: usize = 4;

/// Hashes asked for per request (a power of two; libtorrent answers up to
/// [`MAX_HASHES`]).
const CHUNK: u32 = 512;

/// One hash request's worth of a file's piece layer.
#[derive(Debug)]
struct Chunk {
    range: HashRange,
    /// Index in [`LayerFetch::files`].
    file: usize,
    /// Asked of this peer, at this time.
    asked: Option<(PeerKey, Time)>,
    done: bool,
}

/// The piece layers a torrent still waits for.
#[derive(Debug)]
pub(crate) struct LayerFetch {
    /// Every piece's root; zero where a layer is still to come.
    table: Vec<MerklePiece>,
    files: Vec<LayerNeed>,
    chunks: Vec<Chunk>,
    /// A hybrid's, fetched beside its download from its v2 peers.
    hybrid: bool,
}

impl LayerFetch {
    /// A fetch of `needs`' layers into `table` (every piece's root, zero where
    /// a layer is missing); `blocks_per_piece` sets the layer's height.
    fn new(
        table: Vec<MerklePiece>,
        needs: Vec<LayerNeed>,
        blocks_per_piece: u64,
        hybrid: bool,
    ) -> LayerFetch {
        let base = blocks_per_piece.trailing_zeros();
        let mut chunks = Vec::new();
        for (file, n) in needs.iter().enumerate() {
            let width = n.pieces.next_power_of_two();
            let count = width.min(CHUNK).min(MAX_HASHES);
            // Up to just under the root: the answer proves to it.
            let proof_layers = if count == width {
                0
            } else {
                width.trailing_zeros() - 1
            };
            for index in (0..n.pieces).step_by(count as usize) {
                chunks.push(Chunk {
                    range: HashRange {
                        pieces_root: n.root,
                        base,
                        index,
                        count,
                        proof_layers,
                    },
                    file,
                    asked: None,
                    done: false,
                });
            }
        }
        LayerFetch {
            table,
            files: needs,
            chunks,
            hybrid,
        }
    }

    fn complete(&self) -> bool {
        self.chunks.iter().all(|c| c.done)
    }

    /// A hybrid's fetch with no request out (no peer by the v2 name to ask):
    /// it may be dropped with the hashes, and starts again when they are read
    /// back.
    pub(crate) fn idle_hybrid(&self, now: Time) -> bool {
        let out = |c: &Chunk| c.asked.is_some_and(|(_, at)| now.since(at) < ANSWER_WITHIN);
        self.hybrid && !self.chunks.iter().any(out)
    }
}

impl Core {
    /// Starts fetching the layers `needs` of torrent `ih`, whose layout `info`
    /// was just installed; its hashes stay out of reach until they are in.
    pub(super) fn fetch_layers(&mut self, ih: InfoHash, needs: Vec<LayerNeed>) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        let (Some(hashes), Some(info)) = (t.meta.hashes.take(), t.info.as_ref()) else {
            return;
        };
        let bpp = u64::from(info.geometry.piece_length()) / crate::hash::merkle::BLOCK;
        tracing::info!(info_hash = %ih, files = needs.len(), "v2 metadata in: fetching piece layers from peers");
        let hashes = Arc::try_unwrap(hashes).unwrap_or_else(|a| (*a).clone());
        let PieceHashes::Merkle(table) = hashes else {
            tracing::warn!(info_hash = %ih, "piece layers to fetch for a torrent without v2 pieces: not fetched");
            return;
        };
        self.layers
            .insert(ih, LayerFetch::new(table, needs, bpp, false));
    }

    /// Hybrid `ih` came by magnet link (its `info` just installed): its
    /// pieces' roots are `table` once the layers `needs` are in (see the
    /// module's note); at once when there are none to fetch.
    fn fetch_hybrid_layers(
        &mut self,
        now: Time,
        ih: InfoHash,
        table: Vec<MerklePiece>,
        needs: Vec<LayerNeed>,
        out: &mut Vec<Action>,
    ) {
        let Some(info) = self.torrents.get(&ih).and_then(|t| t.info.as_ref()) else {
            return;
        };
        let bpp = u64::from(info.geometry.piece_length()) / crate::hash::merkle::BLOCK;
        let f = LayerFetch::new(table, needs, bpp, true);
        if f.complete() {
            self.layers_complete(now, ih, f, out);
            return;
        }
        tracing::info!(info_hash = %ih, files = f.files.len(), "hybrid by magnet: fetching its piece layers from its v2 peers beside the download");
        self.layers.insert(ih, f);
    }

    /// Starts fetching hybrid `ih`'s piece layers when its hashes are in memory
    /// without their merkle roots (it came by magnet link, and maybe was
    /// restarted before its layers came) and its two layouts' pieces line up;
    /// its peers are asked at once. Called when its hashes become resident.
    pub(super) fn fetch_missing_hybrid_layers(
        &mut self,
        now: Time,
        ih: InfoHash,
        out: &mut Vec<Action>,
    ) {
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        let (Some(info), Some(bytes), Some(PieceHashes::Sha1(_))) =
            (&t.info, &t.meta.bytes, t.meta.hashes.as_deref())
        else {
            return;
        };
        if info.v2_hash.is_none() || t.hybrid_misaligned || self.layers.contains_key(&ih) {
            return;
        }
        let limits = MetainfoLimits::default();
        let Some((table, needs)) = crate::metainfo::hybrid_layer_needs(bytes, info, &limits) else {
            if let Some(t) = self.torrents.get_mut(&ih) {
                t.hybrid_misaligned = true;
            }
            tracing::info!(info_hash = %ih, "a hybrid whose v1 pieces are not its v2 pieces (a pad file missing): it runs by its SHA-1 side only and refuses its v2 peers' hash requests");
            return;
        };
        self.fetch_hybrid_layers(now, ih, table, needs, out);
        self.ask_for_layers(now, ih, out);
    }

    /// Asks each of torrent `ih`'s peers for the layers it waits for, if any.
    pub(super) fn ask_for_layers(&mut self, now: Time, ih: InfoHash, out: &mut Vec<Action>) {
        if !self.fetching_layers(&ih) {
            return;
        }
        let keys: Vec<PeerKey> = self.torrents[&ih].peers.iter().copied().collect();
        for k in keys {
            self.request_layers(now, k, out);
        }
    }

    /// Whether torrent `ih` waits for layers (its hashes stay in memory).
    pub(crate) fn fetching_layers(&self, ih: &InfoHash) -> bool {
        self.layers.contains_key(ih)
    }

    /// Asks peer `key` for piece layers its torrent still needs (the tick and
    /// each answer call it).
    pub(super) fn request_layers(&mut self, now: Time, key: PeerKey, out: &mut Vec<Action>) {
        let Some(p) = self.peers.get(&key) else {
            return;
        };
        let Some(ih) = p
            .info_hash
            .filter(|_| p.phase == super::peer::Phase::Active)
        else {
            return;
        };
        let Some(f) = self.layers.get_mut(&ih) else {
            return;
        };
        if f.hybrid {
            // Only a peer that speaks to the hybrid by its v2 name is sure to
            // know hash requests.
            let v2 = (self.torrents.get(&ih))
                .and_then(|t| t.info.as_ref()?.v2_hash)
                .map(|h| InfoHash(h[..20].try_into().expect("32 bytes")));
            if v2 != Some(p.wire_name.unwrap_or(ih)) {
                return;
            }
        }
        let mut out_now = f
            .chunks
            .iter()
            .filter(|c| !c.done && c.asked.is_some_and(|(k, _)| k == key))
            .count();
        let mut msgs = Vec::new();
        for c in f.chunks.iter_mut().filter(|c| !c.done) {
            if out_now >= PER_PEER {
                break;
            }
            if c.asked.is_some_and(|(_, at)| now.since(at) < ANSWER_WITHIN) {
                continue;
            }
            c.asked = Some((key, now));
            out_now += 1;
            msgs.push(Message::HashRequest(c.range));
        }
        self.send(now, key, &msgs, out);
    }

    /// Hashes (or a reject) from peer `key` for a fetch of torrent `ih`; false
    /// when there is no such fetch (the answer was not asked for).
    pub(super) fn on_layer_answer(
        &mut self,
        now: Time,
        key: PeerKey,
        ih: InfoHash,
        range: &HashRange,
        hashes: Option<&[Sha256Digest]>,
        out: &mut Vec<Action>,
    ) -> bool {
        let Some(f) = self.layers.get_mut(&ih) else {
            return false;
        };
        let Some(c) = f
            .chunks
            .iter_mut()
            .find(|c| !c.done && c.range == *range && c.asked.is_some_and(|(k, _)| k == key))
        else {
            return false;
        };
        let Some(hashes) = hashes else {
            // Refused: someone else is asked at the next tick.
            c.asked = None;
            return true;
        };
        let n = &f.files[c.file];
        let width = u64::from(n.pieces.next_power_of_two());
        let r = c.range;
        let Some(got) = check_answer(&n.root, width, r.index, r.count, r.proof_layers, hashes)
        else {
            c.asked = None;
            tracing::info!(info_hash = %ih, peer = key.0, "hashes that do not prove to the file's root: peer dropped");
            self.close(
                key,
                CloseReason::Protocol("hashes that do not hash to the file's root".into()),
                out,
            );
            return true;
        };
        let end = n.pieces.min(r.index + r.count);
        for (i, root) in (r.index..end).zip(got) {
            f.table[(n.first_piece + i) as usize].root = root;
        }
        c.done = true;
        if f.complete() {
            let f = self.layers.remove(&ih).expect("present");
            self.layers_complete(now, ih, f, out);
        } else {
            self.request_layers(now, key, out);
        }
        true
    }

    /// Every layer is in: the torrent's hashes are whole, its metadata is saved
    /// with them, its storage opened and checked as after any metadata fetch
    /// (a hybrid's storage is open already: its record is written again).
    fn layers_complete(&mut self, now: Time, ih: InfoHash, f: LayerFetch, out: &mut Vec<Action>) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        tracing::info!(info_hash = %ih, "piece layers complete");
        if f.hybrid {
            let Some(PieceHashes::Sha1(sha1)) = t.meta.hashes.as_deref() else {
                tracing::warn!(info_hash = %ih, "a hybrid's layers came but its SHA-1 pieces are not in memory: not kept");
                return;
            };
            let merkle = f.table;
            let hashes = PieceHashes::Hybrid {
                sha1: sha1.clone(),
                merkle,
            };
            t.meta.hashes = Some(Arc::new(hashes));
            t.meta.trees = None;
            t.meta.used = now;
            if let (Some(record), Some(info), true) = (t.meta.record(), &t.info, t.meta.stored) {
                out.push(Action::SaveMeta {
                    info_hash: ih,
                    info: Arc::clone(info),
                    record,
                    metadata_size: t.meta.size,
                });
            }
            return;
        }
        t.meta.hashes = Some(Arc::new(PieceHashes::Merkle(f.table)));
        t.meta.used = now;
        out.push(t.open_storage(ih, true, false));
        t.checking = Some(Box::new(Check::full(t.have.len())));
        t.save_now = true;
        self.update_interest(ih, out);
        self.drive_checking(ih, out);
    }
}
