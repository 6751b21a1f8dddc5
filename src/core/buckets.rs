//! The picker's candidates sorted by what rarest-first asks: priority, then
//! availability. Each (priority, availability) pair is a bucket holding its
//! pieces in no order; a piece moves between buckets in O(1) when a peer gains
//! or loses it, and the rarest non-empty bucket is found through a bit per
//! bucket. Picking so costs what scanning the first buckets costs (one piece
//! when the peer has most of them), not a pass over every piece, which is what
//! keeps a torrent of a million pieces cheap to pick from.
//!
//! Pieces leave lazily: the picker drops a piece it finds already had when it
//! scans. Anything that can make a piece wanted again (a bit of `have`
//! cleared, priorities changed) is caught by [`Buckets::rebuild`], which the
//! picker calls when the have bitfield's generation or the priority epoch moved.

/// Availabilities told apart; more common pieces share the last level.
const LEVELS: usize = 256;
/// Priorities 1..=7 (0 is never a candidate).
const PRIORITIES: usize = 7;
const BUCKETS: usize = LEVELS * PRIORITIES;
/// A piece outside every bucket.
const NOWHERE: (u32, u32) = (u32::MAX, u32::MAX);

#[derive(Debug, Default)]
pub(crate) struct Buckets {
    /// Per bucket, its pieces.
    lists: Vec<Vec<u32>>,
    /// Per piece: (bucket, index in its list), or [`NOWHERE`].
    slot: Vec<(u32, u32)>,
    /// A bit per bucket: set when the bucket holds a piece.
    nonempty: Vec<u64>,
}

/// The bucket of a piece: higher priority first, then rarer first.
fn bucket(priority: u8, availability: u32) -> usize {
    let p = PRIORITIES - usize::from(priority.clamp(1, 7));
    p * LEVELS + (availability as usize).min(LEVELS - 1)
}

impl Buckets {
    /// Fills the buckets with the pieces whose `priority` is above 0 and that
    /// `had` does not hold.
    pub fn rebuild(&mut self, priority: &[u8], availability: &[u32], had: impl Fn(u32) -> bool) {
        self.lists = vec![Vec::new(); BUCKETS];
        self.nonempty = vec![0; BUCKETS.div_ceil(64)];
        self.slot = vec![NOWHERE; availability.len()];
        for (i, &a) in availability.iter().enumerate() {
            let piece = u32::try_from(i).expect("piece count is a u32");
            let prio = priority.get(i).copied().unwrap_or(0);
            if prio > 0 && !had(piece) {
                self.insert(piece, bucket(prio, a));
            }
        }
    }

    fn insert(&mut self, piece: u32, b: usize) {
        let list = &mut self.lists[b];
        // Both bounded: BUCKETS buckets, and a list holds at most every piece.
        let at = u32::try_from(list.len()).expect("fewer pieces than u32::MAX");
        self.slot[piece as usize] = (u32::try_from(b).expect("below BUCKETS"), at);
        list.push(piece);
        self.nonempty[b / 64] |= 1 << (b % 64);
    }

    /// Puts `piece` in its bucket, if it is in none.
    pub fn add(&mut self, piece: u32, priority: u8, availability: u32) {
        if self.slot.get(piece as usize) == Some(&NOWHERE) {
            self.insert(piece, bucket(priority, availability));
        }
    }

    /// Takes `piece` out of its bucket (no-op when it is in none).
    pub fn remove(&mut self, piece: u32) {
        let Some(&(b, i)) = self.slot.get(piece as usize) else {
            return;
        };
        if (b, i) == NOWHERE {
            return;
        }
        let list = &mut self.lists[b as usize];
        list.swap_remove(i as usize);
        if let Some(&moved) = list.get(i as usize) {
            self.slot[moved as usize].1 = i;
        }
        if list.is_empty() {
            self.nonempty[b as usize / 64] &= !(1 << (b as usize % 64));
        }
        self.slot[piece as usize] = NOWHERE;
    }

    /// `piece`'s availability is now `availability`: it changes bucket if it is
    /// in one.
    pub fn moved(&mut self, piece: u32, priority: u8, availability: u32) {
        let Some(&(b, _)) = self.slot.get(piece as usize) else {
            return;
        };
        let to = bucket(priority, availability);
        if b == u32::MAX || b as usize == to {
            return;
        }
        self.remove(piece);
        self.insert(piece, to);
    }

    /// The buckets holding pieces, rarest of the highest priority first.
    fn nonempty_buckets(&self) -> impl Iterator<Item = usize> + '_ {
        self.nonempty.iter().enumerate().flat_map(|(w, &bits)| {
            let mut bits = bits;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(w * 64 + b)
            })
        })
    }

    /// The first piece, rarest first, that `had` does not hold and `ok`
    /// accepts. Within a bucket the scan starts at `start % len` (a random
    /// draw: ties go to any of them). Pieces found had are dropped on the way.
    pub fn find(
        &mut self,
        start: u64,
        had: impl Fn(u32) -> bool,
        ok: impl Fn(u32) -> bool,
    ) -> Option<u32> {
        let buckets: Vec<usize> = self.nonempty_buckets().collect();
        let mut stale = Vec::new();
        let mut found = None;
        'scan: for b in buckets {
            let list = &self.lists[b];
            let n = list.len();
            let first = usize::try_from(start % n as u64).expect("below a usize");
            for k in 0..n {
                let piece = list[(first + k) % n];
                if had(piece) {
                    stale.push(piece);
                } else if ok(piece) {
                    found = Some(piece);
                    break 'scan;
                }
            }
        }
        for piece in stale {
            self.remove(piece);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rarest_first_within_the_highest_priority() {
        let mut b = Buckets::default();
        let prio = [1, 1, 4, 1, 0];
        let avail = [3, 1, 9, 2, 0];
        b.rebuild(&prio, &avail, |_| false);
        // Priority 4 beats rarity; then availability 1, 2, 3; priority 0 never.
        let mut order = Vec::new();
        while let Some(p) = b.find(0, |_| false, |p| !order.contains(&p)) {
            order.push(p);
            b.remove(p);
        }
        assert_eq!(order, vec![2, 1, 3, 0]);
    }

    #[test]
    fn pieces_move_with_their_availability_and_had_ones_drop_out() {
        let mut b = Buckets::default();
        let prio = [1; 4];
        b.rebuild(&prio, &[5, 5, 5, 5], |p| p == 3);
        b.moved(1, 1, 0);
        assert_eq!(b.find(7, |_| false, |_| true), Some(1));
        // Piece 1 had now: dropped on the scan, never offered.
        assert_eq!(b.find(7, |p| p == 1, |_| true).map(|p| p != 1), Some(true));
        assert_eq!(b.slot[1], NOWHERE);
        // Piece 3 was had at the rebuild: never in a bucket, moving it is a no-op.
        b.moved(3, 1, 0);
        assert_eq!(b.find(0, |_| false, |p| p == 3), None);
        // A filter nobody passes scans everything and finds nothing.
        assert_eq!(b.find(3, |_| false, |_| false), None);
    }

    #[test]
    fn every_tied_piece_can_come_first() {
        let mut b = Buckets::default();
        b.rebuild(&[1; 6], &[2; 6], |_| false);
        let firsts: std::collections::BTreeSet<u32> = (0..6)
            .filter_map(|s| b.find(s, |_| false, |_| true))
            .collect();
        assert_eq!(firsts.len(), 6);
    }
}
