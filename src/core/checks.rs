//! Complete pieces hashed sixteen at a time. SHA-NI hashes one piece at a
//! time at about 2 GiB/s a core here; the AVX-512 multi-buffer SHA-1
//! ([`crate::hash::sha1_x16`]) hashes sixteen equal pieces side by side at
//! about 7 GiB/s. A download at full speed completes a 1 MiB piece every
//! millisecond or two, so a piece that completes while blocks of the same
//! torrent are still coming waits for others, and they are hashed together.
//!
//! Bounds: at most [`LANES`] pieces wait, each of at most [`MAX_PIECE`], none
//! longer than [`HASH_WAIT`] once another event or a tick comes; the last
//! piece of a torrent with nothing more in flight is checked at once, with
//! whatever waits. A waiting piece counts as being written
//! (`Torrent::writing`): it is not picked again, and it counts toward the
//! torrent's write backlog. Any command first checks what waits, so no
//! command sees a piece in between.
//!
//! Fewer than [`MIN_LANES`] pieces, pieces of v2-only torrents (merkle
//! roots), pieces over [`MAX_PIECE`] and a core without
//! [`CoreConfig::batch_piece_checks`] are checked one at a time, at once.

use crate::hash::{self, LANES, Sha1Digest};

use super::*;

/// Longest a complete piece waits for others once an event or tick comes.
const HASH_WAIT: Duration = Duration::from_millis(20);
/// Fewest waiting pieces hashed in one multi-buffer pass: a pass costs the
/// same for one lane as for sixteen, and SHA-NI is about a quarter of its
/// speed.
pub(super) const MIN_LANES: usize = 4;
/// Largest piece that waits (sixteen of them: 16 MiB).
const MAX_PIECE: usize = 1 << 20;

/// A complete piece waiting for its hash check.
pub(super) struct Waiting {
    ih: InfoHash,
    pub(super) piece: u32,
    bytes: Vec<u8>,
    senders: Vec<Option<IpAddr>>,
    since: Time,
}

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiting")
            .field("ih", &self.ih)
            .field("piece", &self.piece)
            .field("bytes", &self.bytes.len())
            .field("since", &self.since)
            .finish_non_exhaustive()
    }
}

impl Core {
    /// A piece whose blocks are all here: checked now, or set to wait for
    /// others.
    pub(super) fn piece_complete(
        &mut self,
        now: Time,
        ih: InfoHash,
        piece: u32,
        bytes: Vec<u8>,
        senders: Vec<Option<IpAddr>>,
        out: &mut Vec<Action>,
    ) {
        let hashes = self.torrents[&ih].meta.hashes.as_ref();
        let v1 = hashes.and_then(|h| h.sha1()).is_some();
        if !(self.cfg.batch_piece_checks && v1 && bytes.len() <= MAX_PIECE) {
            let ok = hashes.and_then(|h| h.check(piece, &bytes));
            return self.on_piece_checked(now, ih, piece, bytes, senders, ok, out);
        }
        // One pass hashes pieces of one length (a torrent's last piece is
        // shorter, another torrent's pieces may differ).
        if self
            .waiting
            .first()
            .is_some_and(|w| w.bytes.len() != bytes.len())
        {
            self.check_waiting(now, out);
        }
        let t = self.torrents.get_mut(&ih).expect("caller checked");
        t.writing.insert(piece);
        self.waiting.push(Waiting {
            ih,
            piece,
            bytes,
            senders,
            since: now,
        });
        if self.waiting.len() >= LANES || !self.blocks_in_flight(ih) {
            self.check_waiting(now, out);
        }
    }

    /// Checks what waits once the oldest has waited [`HASH_WAIT`].
    pub(super) fn check_waiting_due(&mut self, now: Time, out: &mut Vec<Action>) {
        if self
            .waiting
            .first()
            .is_some_and(|w| now.since(w.since) >= HASH_WAIT)
        {
            self.check_waiting(now, out);
        }
    }

    /// Checks every waiting piece now.
    pub(super) fn check_waiting(&mut self, now: Time, out: &mut Vec<Action>) {
        if self.waiting.is_empty() {
            return;
        }
        let waiting = std::mem::take(&mut self.waiting);
        let digests = digests(&waiting);
        for (w, digest) in waiting.into_iter().zip(digests) {
            // Removed meanwhile (by the core itself: a share limit): nothing to
            // check it for.
            let Some(t) = self.torrents.get_mut(&w.ih) else {
                continue;
            };
            t.writing.remove(&w.piece);
            let want = t.meta.hashes.as_ref().and_then(|h| h.sha1());
            let ok = want
                .and_then(|h| h.get(w.piece as usize))
                .map(|h| *h == digest);
            self.on_piece_checked(now, w.ih, w.piece, w.bytes, w.senders, ok, out);
        }
    }

    /// Whether any peer of `ih` has blocks of it asked for and not yet here.
    fn blocks_in_flight(&self, ih: InfoHash) -> bool {
        self.torrents.get(&ih).is_some_and(|t| {
            t.peers
                .iter()
                .any(|k| self.peers.get(k).is_some_and(|p| !p.inflight.is_empty()))
        })
    }
}

/// The SHA-1 of each waiting piece: in one multi-buffer pass when there are
/// enough of them (unused lanes repeat the last piece), else one at a time.
fn digests(waiting: &[Waiting]) -> Vec<Sha1Digest> {
    if waiting.len() >= MIN_LANES {
        let msgs: [&[u8]; LANES] =
            std::array::from_fn(|i| waiting[i.min(waiting.len() - 1)].bytes.as_slice());
        if let Some(d) = hash::sha1_x16(&msgs) {
            return d[..waiting.len()].to_vec();
        }
    }
    waiting.iter().map(|w| hash::sha1(&w.bytes)).collect()
}
