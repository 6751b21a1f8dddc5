//! BitTorrent v2 hash messages (BEP 52): a peer's hash requests are answered
//! from a v2-only or hybrid torrent's piece layers (the files' trees above them are built
//! once and kept while the hashes are in memory); requests while the hashes
//! are on disk only (they are read back for the peer's next try) get a hash
//! reject. Hashes and rejects answer a layer fetch (`layers`), or are dropped
//! when nobody asked.
//!
//! A request below the piece layer (the blocks' hashes, which libtorrent asks
//! for to find the bad block of a piece that failed) is answered from the
//! pieces' blocks on disk: the driver reads and hashes them
//! ([`Action::HashBlocks`]), the core checks that they still hash up to the
//! pieces' entries and answers with the proof. Each such answer costs a read
//! of up to [`MAX_BLOCKS`] blocks for a 49-byte request, so a peer has one out
//! at a time and at most one a second, and a core at most
//! [`MAX_BLOCK_READS`]; past these, and for pieces it does not have, the peer
//! gets a hash reject.

use super::*;
use crate::hash::merkle::{LayerTree, Sha256Digest};
use crate::hash::{MerklePiece, PieceHashes};
use crate::proto::HashRange;

/// Block hash reads a core has out at most.
pub(crate) const MAX_BLOCK_READS: usize = 8;

/// Blocks one answer below the piece layer reads at most (8 MiB; libtorrent
/// asks for a piece's blocks, 512 at most in one request).
pub(crate) const MAX_BLOCKS: u64 = 512;

/// A peer's block hash reads start at most this often.
const BLOCK_READ_EVERY: Duration = Duration::from_secs(1);

/// One file's tree, and where its pieces are in the torrent.
#[derive(Debug)]
pub(crate) struct FileTree {
    /// The torrent's piece that is the file's first.
    first: u32,
    /// The file's pieces.
    pieces: u32,
    tree: LayerTree,
}

/// The trees of a v2-only or hybrid torrent's files, by root (a file of one
/// piece or less: a tree of that piece's blocks alone).
#[derive(Debug, Default)]
pub(crate) struct FileTrees(Vec<(Sha256Digest, FileTree)>);

impl FileTrees {
    /// The trees of `info`'s files, from `hashes` (empty for a v1 torrent).
    pub fn build(info: &Info, hashes: &PieceHashes) -> FileTrees {
        let Some(pieces) = hashes.merkle() else {
            return FileTrees::default();
        };
        let g = &info.geometry;
        let mut trees: Vec<(Sha256Digest, FileTree)> = (0..info.files.len())
            .filter(|&i| info.files[i].is_stored() && info.files[i].length > 0)
            .filter_map(|i| {
                let range = g.file_pieces(i);
                let table = pieces.get(range.start as usize..range.end as usize)?;
                // A piece's leaves: a piece's blocks for a file longer than a
                // piece, the next power of two of its blocks for a shorter one
                // (whose root is its one piece's).
                let bpp = u64::from(table.first()?.leaves);
                let layer: Vec<Sha256Digest> = table.iter().map(|p| p.root).collect();
                let tree = LayerTree::new(&layer, bpp);
                let file = FileTree {
                    first: range.start,
                    pieces: range.end - range.start,
                    tree,
                };
                Some((file.tree.root(), file))
            })
            .collect();
        trees.sort_unstable_by_key(|t| t.0);
        FileTrees(trees)
    }

    /// The tree of the file whose root is `root`.
    fn get(&self, root: &Sha256Digest) -> Option<&FileTree> {
        let i = self.0.binary_search_by(|(r, _)| r.cmp(root)).ok()?;
        Some(&self.0[i].1)
    }
}

/// What a hash request gets.
enum Answer {
    /// The hashes, now.
    Now(Vec<Sha256Digest>),
    /// Hashes once the blocks are read ([`Core::on_blocks_hashed`]).
    Later,
    /// A hash reject.
    Refused,
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
                // Asking for hashes is asking (`core::slots`).
                if let Some(p) = self.peers.get_mut(&key) {
                    p.last_request = Some(now);
                }
                let reply = match self.answer_hashes(now, key, ih, &r, out) {
                    Answer::Now(hashes) => Message::Hashes { range: r, hashes },
                    Answer::Later => return,
                    Answer::Refused => Message::HashReject(r),
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

    /// The file trees of torrent `ih`, when it has v2 pieces (v2-only, or a
    /// hybrid whose piece layers came with it) and its hashes are in memory
    /// (else they are read back for the next request).
    fn file_trees(&mut self, ih: InfoHash, out: &mut Vec<Action>) -> Option<Arc<FileTrees>> {
        self.torrents.get(&ih)?.info.as_ref()?.v2_hash?;
        let hashes = self.need_hashes(ih, out)?;
        hashes.merkle()?;
        let t = self.torrents.get_mut(&ih)?;
        let info = t.info.as_ref()?;
        let trees = t
            .meta
            .trees
            .get_or_insert_with(|| Arc::new(FileTrees::build(info, &hashes)));
        Some(trees.clone())
    }

    /// What request `r` of peer `key` gets now.
    fn answer_hashes(
        &mut self,
        now: Time,
        key: PeerKey,
        ih: InfoHash,
        r: &HashRange,
        out: &mut Vec<Action>,
    ) -> Answer {
        let Some(trees) = self.file_trees(ih, out) else {
            return Answer::Refused;
        };
        let Some(file) = trees.get(&r.pieces_root) else {
            return Answer::Refused;
        };
        let below = file
            .tree
            .pieces_below(r.base, r.index, r.count, r.proof_layers);
        let Some(pieces) = below else {
            let hashes = file.tree.answer(r.base, r.index, r.count, r.proof_layers);
            return hashes.map_or(Answer::Refused, Answer::Now);
        };
        // The file's pieces among them (the rest are the layer's padding).
        let ours = (file.first + pieces.start)..(file.first + pieces.end.min(file.pieces));
        match self.read_blocks(now, key, ih, r, ours) {
            Ok(action) => {
                out.push(action);
                Answer::Later
            }
            Err(why) => {
                tracing::debug!(info_hash = %ih, peer = key.0, base = r.base, index = r.index,
                    "a hash request below the piece layer refused: {why}");
                Answer::Refused
            }
        }
    }

    /// The read behind an answer below the piece layer: torrent `ih`'s
    /// `pieces`, if they are had and the peer and the core may have one more.
    fn read_blocks(
        &mut self,
        now: Time,
        key: PeerKey,
        ih: InfoHash,
        r: &HashRange,
        pieces: std::ops::Range<u32>,
    ) -> Result<Action, &'static str> {
        if u64::from(r.count) << r.base > MAX_BLOCKS {
            return Err("too many blocks in one request");
        }
        if self.block_reads >= MAX_BLOCK_READS {
            return Err("the core has enough block reads out");
        }
        let t = self.torrents.get(&ih).ok_or("no such torrent")?;
        let Some(table) = t.meta.hashes.as_deref().and_then(PieceHashes::merkle) else {
            return Err("the pieces' roots are not in memory");
        };
        let mut shapes: Vec<(u32, MerklePiece)> = Vec::new();
        for i in pieces {
            let shape = (table.get(i as usize))
                .filter(|_| t.have.get(i))
                .ok_or("pieces we do not have")?;
            shapes.push((i, *shape));
        }
        let p = self.peers.get_mut(&key).ok_or("the peer is gone")?;
        if p.block_hashes_out {
            return Err("the peer has a block read out");
        }
        if p.block_hashes_at
            .is_some_and(|at| now.since(at) < BLOCK_READ_EVERY)
        {
            return Err("the peer asks too often");
        }
        p.block_hashes_at = Some(now);
        p.block_hashes_out = true;
        self.block_reads += 1;
        Ok(Action::HashBlocks {
            info_hash: ih,
            peer: key,
            range: *r,
            pieces: shapes,
        })
    }

    /// The blocks behind peer `key`'s request `r` were read: the answer, or
    /// a hash reject when they could not be read or no longer hash up to the
    /// pieces' entries.
    pub(super) fn on_blocks_hashed(
        &mut self,
        now: Time,
        ih: InfoHash,
        key: PeerKey,
        r: &HashRange,
        leaves: Option<Vec<Sha256Digest>>,
        out: &mut Vec<Action>,
    ) {
        self.block_reads = self.block_reads.saturating_sub(1);
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        p.block_hashes_out = false;
        let trees = self.torrents.get(&ih).and_then(|t| t.meta.trees.clone());
        let answer = leaves.zip(trees).and_then(|(mut leaves, trees)| {
            let tree = &trees.get(&r.pieces_root)?.tree;
            let pieces = tree.pieces_below(r.base, r.index, r.count, r.proof_layers)?;
            // The padding pieces past the file: zero leaves.
            leaves.resize(pieces.len() << tree.piece_base(), [0; 32]);
            tree.answer_below(r.base, r.index, r.count, r.proof_layers, &leaves)
        });
        let reply = match answer {
            Some(hashes) => Message::Hashes { range: *r, hashes },
            None => {
                tracing::info!(info_hash = %ih, peer = key.0, index = r.index,
                    "blocks for a hash request unreadable or changed on disk: refused");
                Message::HashReject(*r)
            }
        };
        self.send(now, key, &[reply], out);
    }
}
