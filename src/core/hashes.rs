//! BitTorrent v2 hash messages (BEP 52): a peer's hash requests are answered
//! from a v2-only torrent's piece layers (the files' trees above them are built
//! once and kept while the hashes are in memory); block-layer requests, and
//! requests while the hashes are on disk only (they are read back for the
//! peer's next try), get a hash reject. Hashes and rejects answer a layer
//! fetch (`layers`), or are dropped when nobody asked.

use super::*;
use crate::hash::PieceHashes;
use crate::hash::merkle::{LayerTree, Sha256Digest};
use crate::proto::HashRange;

/// The trees of a v2-only torrent's files longer than a piece, by root.
#[derive(Debug, Default)]
pub(crate) struct FileTrees(Vec<(Sha256Digest, LayerTree)>);

impl FileTrees {
    /// The trees of `info`'s files, from `hashes` (empty for a v1 torrent).
    pub fn build(info: &Info, hashes: &PieceHashes) -> FileTrees {
        let PieceHashes::Merkle(pieces) = hashes else {
            return FileTrees::default();
        };
        let g = &info.geometry;
        let bpp = u64::from(g.piece_length()) / crate::hash::merkle::BLOCK;
        let mut trees: Vec<(Sha256Digest, LayerTree)> = (0..info.files.len())
            .filter(|&i| {
                info.files[i].is_stored() && info.files[i].length > u64::from(g.piece_length())
            })
            .filter_map(|i| {
                let range = g.file_pieces(i);
                let layer: Vec<Sha256Digest> = pieces
                    .get(range.start as usize..range.end as usize)?
                    .iter()
                    .map(|p| p.root)
                    .collect();
                let tree = LayerTree::new(&layer, bpp);
                Some((tree.root(), tree))
            })
            .collect();
        trees.sort_unstable_by_key(|t| t.0);
        FileTrees(trees)
    }

    /// The tree of the file whose root is `root`.
    pub fn get(&self, root: &Sha256Digest) -> Option<&LayerTree> {
        let i = self.0.binary_search_by(|(r, _)| r.cmp(root)).ok()?;
        Some(&self.0[i].1)
    }
}

impl Core {
    /// A hash request, hashes or hash reject from a peer of torrent `ih`.
    pub(super) fn on_hash_message(
        &mut self,
        now: Time,
        key: PeerKey,
        ih: InfoHash,
        msg: Message,
        out: &mut Vec<Action>,
    ) {
        match msg {
            Message::HashRequest(r) => {
                let reply = match self.answer_hashes(ih, &r, out) {
                    Some(hashes) => Message::Hashes { range: r, hashes },
                    None => Message::HashReject(r),
                };
                self.send(now, key, &[reply], out);
            }
            Message::Hashes { range, hashes }
                if !self.on_layer_answer(now, key, ih, &range, Some(&hashes), out) =>
            {
                tracing::debug!(info_hash = %ih, peer = key.0, "hashes nobody asked for: dropped");
            }
            Message::HashReject(range) => {
                if self.on_layer_answer(now, key, ih, &range, None, out) {
                    return;
                }
                tracing::debug!(
                    info_hash = %ih,
                    peer = key.0,
                    base = range.base,
                    index = range.index,
                    "a hash reject for nothing asked: dropped"
                );
            }
            _ => {}
        }
    }

    /// The hashes `r` asks for, when this torrent can tell them now.
    fn answer_hashes(
        &mut self,
        ih: InfoHash,
        r: &HashRange,
        out: &mut Vec<Action>,
    ) -> Option<Vec<Sha256Digest>> {
        // Only a v2-only torrent (its id the head of its v2 hash, no v1 one)
        // has layers to tell: a v1 or hybrid one's piece hashes are SHA-1.
        let layout = self.torrents.get(&ih)?.info.as_ref()?;
        if layout.v1_hash.is_some() || layout.v2_hash.is_none_or(|h| h[..20] != ih.0) {
            return None;
        }
        let hashes = self.need_hashes(ih, out)?;
        let t = self.torrents.get_mut(&ih)?;
        let info = t.info.as_ref()?;
        let trees = t
            .meta
            .trees
            .get_or_insert_with(|| Arc::new(FileTrees::build(info, &hashes)));
        trees
            .get(&r.pieces_root)?
            .answer(r.base, r.index, r.count, r.proof_layers)
    }
}
