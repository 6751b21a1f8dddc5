//! The piece picker: which blocks to ask a peer for, and the pieces in progress
//! (their blocks' request counts and the bytes received so far).
//!
//! Order: finish pieces in progress (fullest first); then new pieces, highest
//! priority first, rarest first among equals with ties broken at random (or in
//! piece order when sequential). Once every missing block is requested somewhere
//! and only the last few ([`ENDGAME_BLOCKS`]) are still to arrive, endgame: a
//! block may be asked of a second peer (never more than two at once), so what
//! duplicates can cost is bounded by those few blocks. Before that, a peer with
//! nothing left to ask takes over work queued at a slower peer instead (the
//! core's `steal_requests`), which moves requests and duplicates nothing.

use core::net::IpAddr;
use std::collections::{BTreeMap, BTreeSet};

use super::bitfield::Bitfield;
use super::buckets::Buckets;
use super::peer::InFlight;
use super::rng::Rng;
use crate::metainfo::BLOCK_LEN;
use crate::proto::BlockRequest;

/// A block slot's state: received.
const RECEIVED: u8 = u8::MAX;
/// Most requests for one block at once (endgame duplicates included).
const MAX_COPIES: u8 = 2;
/// Endgame duplicates are asked for only once this few blocks are still to
/// arrive (512 KiB): what they can waste is bounded by these.
pub(crate) const ENDGAME_BLOCKS: usize = 32;

#[derive(Debug)]
struct Partial {
    /// Per block: 0 missing, 1..=MAX_COPIES outstanding requests, or RECEIVED.
    blocks: Vec<u8>,
    /// Who sent each received block (for smart-ban).
    from: Vec<Option<IpAddr>>,
    /// The piece's bytes so far: no memory until its first block comes, then
    /// the whole piece's (see `on_block`).
    data: Vec<u8>,
    received: u32,
    /// Blocks asked of nobody (state 0): a piece with none is skipped without
    /// looking at its blocks.
    unasked: u32,
}

/// How a block that arrived fits in.
pub(crate) enum BlockOutcome {
    /// Not something we asked for, or already have.
    Unexpected,
    /// Stored; the piece still misses blocks.
    Stored,
    /// Stored, and the piece is whole: its bytes for hashing, and who sent each block.
    PieceComplete(Vec<u8>, Vec<Option<IpAddr>>),
}

/// What the torrent wants, as the picker sees it.
pub(crate) struct Wanted<'a> {
    /// Pieces had.
    pub have: &'a Bitfield,
    /// Per piece: 0 = skip, higher first; empty when every piece has `uniform`.
    pub priority: &'a [u8],
    /// Every piece's priority when `priority` is empty.
    pub uniform: u8,
    /// Verified pieces on their way to disk.
    pub writing: &'a BTreeSet<u32>,
    /// In piece order instead of rarest first.
    pub sequential: bool,
    /// Pieces readers are waiting for (files being streamed), one window per
    /// reader: asked for first, each window in order, before anything else.
    pub urgent: &'a BTreeMap<u64, std::ops::Range<u32>>,
    /// Changes whenever `priority` does.
    pub priority_epoch: u64,
}

impl Wanted<'_> {
    /// Whether `piece` is to be downloaded.
    pub fn wants(&self, piece: u32) -> bool {
        !self.have.get(piece) && self.priority_of(piece) > 0 && !self.writing.contains(&piece)
    }

    /// `piece`'s priority (0 for a piece out of range).
    pub fn priority_of(&self, piece: u32) -> u8 {
        match self.priority {
            [] if piece < self.have.len() => self.uniform,
            per_piece => per_piece.get(piece as usize).copied().unwrap_or(0),
        }
    }
}

/// One torrent's picker.
#[derive(Debug, Default)]
pub(crate) struct Picker {
    geom: Geom,
    /// Nothing until a peer has a piece or one is picked: the picker of a
    /// seed that no peer downloads from is its geometry alone (24 bytes,
    /// not 184, at each of a large seedbox's torrents).
    live: Option<Box<Live>>,
}

/// The pieces' count and lengths.
#[derive(Debug, Default, Clone, Copy)]
struct Geom {
    piece_length: u32,
    last_piece_length: u32,
    /// Pieces in the torrent.
    count: u32,
}

/// What the picker counts once it is used.
#[derive(Debug, Default)]
struct Live {
    /// Per piece: how many connected peers have it (empty until a peer has one).
    availability: Vec<u32>,
    partial: BTreeMap<u32, Partial>,
    /// Pieces to start, by priority and rarity.
    buckets: Buckets,
    /// Per piece, its priority when the buckets were filled.
    priority: Vec<u8>,
    /// The have generation and priority epoch the buckets were filled for.
    synced: Option<(u64, u64)>,
}

impl Geom {
    fn piece_len(self, piece: u32) -> u32 {
        if piece + 1 == self.count {
            self.last_piece_length
        } else {
            self.piece_length
        }
    }

    fn block_count(self, piece: u32) -> u32 {
        self.piece_len(piece).div_ceil(BLOCK_LEN)
    }

    fn block_req(self, piece: u32, block: u32) -> BlockRequest {
        let len = self.piece_len(piece);
        let offset = block * BLOCK_LEN;
        BlockRequest {
            piece,
            offset,
            len: BLOCK_LEN.min(len - offset),
        }
    }
}

impl Picker {
    /// A picker for `count` pieces of `piece_length` bytes, the last `last` long.
    pub fn new(count: u32, piece_length: u32, last: u32) -> Picker {
        Picker {
            geom: Geom {
                piece_length,
                last_piece_length: last,
                count,
            },
            live: None,
        }
    }

    /// Its counts, made at first use.
    fn live(&mut self) -> &mut Live {
        self.live.get_or_insert_with(Box::default)
    }

    /// The peers' counts of each piece (empty until a peer tells of one).
    fn counts(&self) -> &[u32] {
        self.live.as_ref().map_or(&[], |l| &l.availability)
    }

    /// A peer has `piece` (a `have`, or one bit of its bitfield).
    pub fn peer_has(&mut self, piece: u32) {
        let count = self.geom.count;
        if piece >= count {
            return;
        }
        let Live {
            availability,
            priority,
            buckets,
            ..
        } = self.live();
        if availability.is_empty() {
            *availability = vec![0; count as usize];
        }
        let a = &mut availability[piece as usize];
        *a += 1;
        let prio = priority.get(piece as usize).copied().unwrap_or(0);
        buckets.moved(piece, prio, *a);
    }

    /// A peer that had `piece` is gone.
    pub fn peer_lost(&mut self, piece: u32) {
        let Some(l) = self.live.as_deref_mut() else {
            return;
        };
        if let Some(a) = l.availability.get_mut(piece as usize) {
            *a = a.saturating_sub(1);
            let prio = l.priority.get(piece as usize).copied().unwrap_or(0);
            l.buckets.moved(piece, prio, *a);
        }
    }

    /// How many connected peers have `piece`.
    pub fn availability(&self, piece: u32) -> u32 {
        self.counts().get(piece as usize).copied().unwrap_or(0)
    }

    /// Copies of the whole torrent among the connected peers (libtorrent's
    /// "distributed copies"): the fewest peers any piece has, plus the share
    /// of pieces that more peers than that have. One pass over the pieces.
    pub fn distributed_copies(&self) -> f64 {
        let counts = self.counts();
        if counts.is_empty() {
            // No peer has told us of a piece yet.
            return 0.0;
        }
        let (mut fewest, mut at_fewest) = (u32::MAX, 0usize);
        for &a in counts {
            if a < fewest {
                (fewest, at_fewest) = (a, 1);
            } else if a == fewest {
                at_fewest += 1;
            }
        }
        let more = counts.len() - at_fewest;
        f64::from(fewest) + more as f64 / counts.len() as f64
    }

    /// How many connected peers have each piece (`count` zeros until a peer
    /// tells of one).
    pub fn availabilities(&self) -> Vec<u32> {
        match self.counts() {
            [] => vec![0; self.geom.count as usize],
            counts => counts.to_vec(),
        }
    }

    /// Pieces in progress.
    pub fn in_progress(&self) -> impl Iterator<Item = u32> + '_ {
        self.live.iter().flat_map(|l| l.partial.keys().copied())
    }

    /// Bytes of memory held for the pieces in progress (their buffers).
    pub fn buffered(&self) -> usize {
        let parts = self.live.iter().flat_map(|l| l.partial.values());
        parts.map(|p| p.data.capacity()).sum()
    }

    /// Drops a piece in progress (no longer wanted); its blocks are forgotten.
    pub fn drop_piece(&mut self, piece: u32) {
        if let Some(l) = self.live.as_deref_mut()
            && l.partial.remove(&piece).is_some()
        {
            l.requeue(piece);
        }
    }

    /// Drops every piece in progress (a check, a lost root, a move).
    pub fn drop_all(&mut self) {
        if let Some(l) = self.live.as_deref_mut() {
            l.partial.clear();
            l.synced = None;
        }
    }

    /// Chooses up to `n` blocks to ask of a peer that has `peer_have` and already
    /// has `inflight` outstanding.
    pub fn pick(
        &mut self,
        wanted: &Wanted<'_>,
        peer_have: &Bitfield,
        inflight: &[InFlight],
        n: usize,
        rng: &mut Rng,
    ) -> Vec<BlockRequest> {
        if n == 0 {
            return Vec::new();
        }
        let g = self.geom;
        self.live().pick(g, wanted, peer_have, inflight, n, rng)
    }

    /// Whether every block still wanted is asked of some peer.
    pub fn all_requested(&mut self, wanted: &Wanted<'_>) -> bool {
        let g = self.geom;
        !self.live().any_unrequested(g, wanted)
    }

    /// Requests outstanding for a block (0 when not in progress or received).
    pub fn copies(&self, req: &BlockRequest) -> u8 {
        (self.live.as_ref())
            .and_then(|l| l.partial.get(&req.piece))
            .and_then(|part| part.blocks.get((req.offset / BLOCK_LEN) as usize))
            .map_or(0, |&s| if s == RECEIVED { 0 } else { s })
    }

    /// Gives a requested block back (timeout, choke, reject, close).
    pub fn release(&mut self, req: &BlockRequest) {
        let part = (self.live.as_deref_mut()).and_then(|l| l.partial.get_mut(&req.piece));
        if let Some(part) = part {
            let b = (req.offset / BLOCK_LEN) as usize;
            if let Some(s) = part.blocks.get_mut(b)
                && *s != RECEIVED
                && *s > 0
            {
                *s -= 1;
                if *s == 0 {
                    part.unasked += 1;
                }
            }
        }
    }

    /// Stores a block that arrived from `from`.
    pub fn on_block(&mut self, piece: u32, offset: u32, data: &[u8], from: IpAddr) -> BlockOutcome {
        let piece_len = self.geom.piece_len(piece) as usize;
        match self.live.as_deref_mut() {
            Some(l) => l.on_block(piece_len, piece, offset, data, from),
            None => BlockOutcome::Unexpected,
        }
    }
}

impl Live {
    /// [`Picker::pick`] for a picker in use, of geometry `g`.
    fn pick(
        &mut self,
        g: Geom,
        wanted: &Wanted<'_>,
        peer_have: &Bitfield,
        inflight: &[InFlight],
        n: usize,
        rng: &mut Rng,
    ) -> Vec<BlockRequest> {
        let mut out = Vec::new();
        // 0. Pieces a reader waits for, in order, started or not.
        for piece in wanted.urgent.values().flat_map(Clone::clone) {
            if piece >= wanted.have.len() || !peer_have.get(piece) || !wanted.wants(piece) {
                continue;
            }
            if !self.partial.contains_key(&piece) {
                self.start(g, piece);
            }
            self.take_missing(g, piece, n, &mut out);
            if out.len() >= n {
                return out;
            }
        }
        // 1. Pieces in progress: the highest priority, then the fullest, then
        // the first.
        let mut partial: Vec<(u8, u32, u32)> = self
            .partial
            .iter()
            .filter(|(p, part)| part.unasked > 0 && peer_have.get(**p))
            .map(|(p, part)| (wanted.priority_of(*p), part.received, *p))
            .collect();
        partial.sort_by(|a, b| (b.0, b.1, a.2).cmp(&(a.0, a.1, b.2)));
        for &(_, _, piece) in &partial {
            self.take_missing(g, piece, n, &mut out);
            if out.len() >= n {
                return out;
            }
        }
        // 2. New pieces.
        while out.len() < n {
            let Some(piece) = self.pick_new_piece(g, wanted, peer_have, rng) else {
                break;
            };
            self.start(g, piece);
            self.take_missing(g, piece, n, &mut out);
        }
        if !out.is_empty() || self.any_unrequested(g, wanted) || !self.last_few() {
            return out;
        }
        // 3. Endgame: ask this peer too for blocks it does not already have in
        // flight, up to MAX_COPIES requests per block.
        let partial: Vec<u32> = self
            .partial
            .keys()
            .copied()
            .filter(|p| peer_have.get(*p))
            .collect();
        for &piece in &partial {
            for b in 0..g.block_count(piece) {
                let req = g.block_req(piece, b);
                let state = self.partial[&piece].blocks[b as usize];
                let mine = inflight.iter().any(|f| f.req == req) || out.contains(&req);
                if (1..MAX_COPIES).contains(&state) && !mine {
                    self.partial.get_mut(&piece).expect("listed").blocks[b as usize] += 1;
                    out.push(req);
                    if out.len() >= n {
                        return out;
                    }
                }
            }
        }
        out
    }

    /// A piece in progress from now on, nothing of it asked for yet.
    fn start(&mut self, g: Geom, piece: u32) {
        let blocks = g.block_count(piece) as usize;
        self.partial.insert(
            piece,
            Partial {
                blocks: vec![0; blocks],
                from: vec![None; blocks],
                // Nothing until a block comes (see `on_block`): a peer asked
                // for a second of its rate has many pieces started and most
                // of them still empty.
                data: Vec::new(),
                received: 0,
                unasked: u32::try_from(blocks).expect("blocks of a piece fit a u32"),
            },
        );
        // In progress: no longer a candidate to start.
        self.buckets.remove(piece);
    }

    fn take_missing(&mut self, g: Geom, piece: u32, n: usize, out: &mut Vec<BlockRequest>) {
        for b in 0..g.block_count(piece) {
            if out.len() >= n {
                return;
            }
            let req = g.block_req(piece, b);
            let part = self.partial.get_mut(&piece).expect("caller checked");
            if part.unasked == 0 {
                return;
            }
            if part.blocks[b as usize] == 0 {
                part.blocks[b as usize] = 1;
                part.unasked -= 1;
                out.push(req);
            }
        }
    }

    /// Whether only the last few blocks are still to arrive.
    fn last_few(&self) -> bool {
        let mut left = 0;
        for part in self.partial.values() {
            left += part.blocks.len() - part.received as usize;
            if left > ENDGAME_BLOCKS {
                return false;
            }
        }
        true
    }

    /// Refills the buckets if a had piece may be wanted again or priorities
    /// changed since they were filled.
    fn sync(&mut self, count: u32, wanted: &Wanted<'_>) {
        let now = (wanted.have.generation(), wanted.priority_epoch);
        if self.synced == Some(now) {
            return;
        }
        self.priority = (0..count).map(|p| wanted.priority_of(p)).collect();
        self.availability.resize(count as usize, 0);
        self.buckets
            .rebuild(&self.priority, &self.availability, |p| wanted.have.get(p));
        self.synced = Some(now);
    }

    /// A piece to start from the buckets, rarest first: `peer_has` holds it,
    /// it is not had, started or being written.
    fn next_from_buckets(
        &mut self,
        count: u32,
        wanted: &Wanted<'_>,
        start: u64,
        peer_has: impl Fn(u32) -> bool,
    ) -> Option<u32> {
        self.sync(count, wanted);
        let partial = &self.partial;
        self.buckets.find(
            start,
            |p| wanted.have.get(p),
            |p| peer_has(p) && !partial.contains_key(&p) && !wanted.writing.contains(&p),
        )
    }

    fn any_unrequested(&mut self, g: Geom, wanted: &Wanted<'_>) -> bool {
        self.partial.values().any(|p| p.unasked > 0)
            || self
                .next_from_buckets(g.count, wanted, 0, |_| true)
                .is_some()
    }

    fn pick_new_piece(
        &mut self,
        g: Geom,
        wanted: &Wanted<'_>,
        peer_have: &Bitfield,
        rng: &mut Rng,
    ) -> Option<u32> {
        if wanted.sequential {
            let candidates = (0..wanted.have.len())
                .filter(|&p| peer_have.get(p) && wanted.wants(p) && !self.partial.contains_key(&p));
            return candidates.min_by_key(|&p| (std::cmp::Reverse(wanted.priority_of(p)), p));
        }
        // Highest priority, then rarest; among equals, wherever the draw starts.
        self.next_from_buckets(g.count, wanted, rng.next_u64(), |p| peer_have.get(p))
    }

    /// A piece no longer in progress goes back among the candidates (dropped
    /// there once had).
    fn requeue(&mut self, piece: u32) {
        let i = piece as usize;
        let avail = self.availability.get(i).copied().unwrap_or(0);
        if let Some(&prio) = self.priority.get(i)
            && prio > 0
        {
            self.buckets.add(piece, prio, avail);
        }
    }

    /// Stores a block of a piece `piece_len` long that arrived from `from`.
    fn on_block(
        &mut self,
        piece_len: usize,
        piece: u32,
        offset: u32,
        data: &[u8],
        from: IpAddr,
    ) -> BlockOutcome {
        let Some(part) = self.partial.get_mut(&piece) else {
            return BlockOutcome::Unexpected;
        };
        if !offset.is_multiple_of(BLOCK_LEN) {
            return BlockOutcome::Unexpected;
        }
        let b = (offset / BLOCK_LEN) as usize;
        let start = offset as usize;
        let Some(slot) = part.blocks.get_mut(b) else {
            return BlockOutcome::Unexpected;
        };
        let expected = BLOCK_LEN.min(u32::try_from(piece_len - start).unwrap_or(0)) as usize;
        if *slot == RECEIVED || *slot == 0 || data.len() != expected {
            return BlockOutcome::Unexpected;
        }
        *slot = RECEIVED;
        part.from[b] = Some(from);
        // The whole piece's memory at its first block, never grown after (no
        // copy); none before it. Reserved at the start instead, every piece
        // asked for held its buffer: 20 peers asked for a second of 4 MiB/s
        // each held 80 MiB of 256 KiB pieces, nearly all of them still empty
        // (malloc keeps a freed buffer's pages for the next one).
        if part.data.capacity() == 0 {
            part.data.reserve_exact(piece_len);
        }
        // The piece's bytes end where its furthest block received ends (always
        // a block's end): a block past them is appended, the gap before it
        // zeroed until its own block comes; one before them is written in place.
        if start >= part.data.len() {
            part.data.resize(start, 0);
            part.data.extend_from_slice(data);
        } else {
            part.data[start..start + data.len()].copy_from_slice(data);
        }
        part.received += 1;
        if part.received as usize == part.blocks.len() {
            let done = self.partial.remove(&piece).expect("present");
            // Back among the candidates until it is had: a piece that fails its
            // hash is picked again from there.
            self.requeue(piece);
            return BlockOutcome::PieceComplete(done.data, done.from);
        }
        BlockOutcome::Stored
    }
}

#[cfg(test)]
#[path = "picker_tests.rs"]
mod tests;
