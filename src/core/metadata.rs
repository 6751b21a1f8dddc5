//! Fetching a magnet torrent's metadata (the info dictionary) from peers, BEP 9.

use std::time::Duration;

use crate::proto::ext::{MAX_METADATA_SIZE, METADATA_PIECE_LEN};
use crate::types::Time;

/// Size of one metadata piece.
pub(crate) const PIECE: usize = METADATA_PIECE_LEN;
/// A metadata request unanswered for this long is asked of someone else.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The pieces of the info dictionary gathered so far. Bounded by
/// [`MAX_METADATA_SIZE`]: a peer claiming more is refused before anything is kept.
#[derive(Debug, Default)]
pub(crate) struct MetadataFetch {
    size: usize,
    pieces: Vec<Option<Vec<u8>>>,
    requested: Vec<Option<Time>>,
}

impl MetadataFetch {
    /// A peer says the metadata is `size` bytes. The first size offered is used;
    /// peers that disagree later simply send pieces that will not fit.
    pub fn offer(&mut self, size: u64) {
        if self.size != 0 || size == 0 || size > MAX_METADATA_SIZE {
            return;
        }
        self.size = usize::try_from(size).expect("bounded by MAX_METADATA_SIZE");
        let n = self.size.div_ceil(PIECE);
        self.pieces = vec![None; n];
        self.requested = vec![None; n];
    }

    /// The next piece to ask for: missing and not asked for recently.
    pub fn next_request(&mut self, now: Time) -> Option<u32> {
        let i = (0..self.pieces.len()).find(|&i| {
            self.pieces[i].is_none()
                && self.requested[i].is_none_or(|at| now.since(at) > REQUEST_TIMEOUT)
        })?;
        self.requested[i] = Some(now);
        u32::try_from(i).ok()
    }

    /// A piece arrived. Returns the whole metadata once every piece is in.
    pub fn on_data(&mut self, piece: u32, data: Vec<u8>) -> Option<Vec<u8>> {
        let i = piece as usize;
        if i >= self.pieces.len() {
            return None;
        }
        let expected = PIECE.min(self.size - i * PIECE);
        if data.len() != expected {
            self.requested[i] = None;
            return None;
        }
        self.pieces[i] = Some(data);
        if self.pieces.iter().any(Option::is_none) {
            return None;
        }
        let mut all = Vec::with_capacity(self.size);
        for p in &self.pieces {
            all.extend_from_slice(p.as_ref().expect("all present"));
        }
        Some(all)
    }

    /// A peer refused a piece: ask someone else.
    pub fn on_reject(&mut self, piece: u32) {
        if let Some(r) = self.requested.get_mut(piece as usize) {
            *r = None;
        }
    }

    /// The assembled metadata did not hash to the info-hash: start over.
    pub fn reset(&mut self) {
        self.pieces.iter_mut().for_each(|p| *p = None);
        self.requested.iter_mut().for_each(|r| *r = None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_pieces_and_refuses_wrong_sizes() {
        let mut m = MetadataFetch::default();
        m.offer(MAX_METADATA_SIZE + 1);
        assert_eq!(m.next_request(Time::ZERO), None);
        m.offer(PIECE as u64 + 100);
        assert_eq!(m.next_request(Time::ZERO), Some(0));
        assert_eq!(m.next_request(Time::ZERO), Some(1));
        assert_eq!(m.next_request(Time::ZERO), None);
        assert!(m.on_data(1, vec![1; 99]).is_none()); // wrong size: re-asked
        assert_eq!(m.next_request(Time::ZERO), Some(1));
        assert!(m.on_data(1, vec![1; 100]).is_none());
        let all = m.on_data(0, vec![0; PIECE]).unwrap();
        assert_eq!(all.len(), PIECE + 100);
        assert!(m.on_data(7, vec![]).is_none());
    }

    #[test]
    fn unanswered_requests_are_asked_again_after_a_timeout() {
        let mut m = MetadataFetch::default();
        m.offer(10);
        assert_eq!(m.next_request(Time::ZERO), Some(0));
        assert_eq!(m.next_request(Time::from_secs(5)), None);
        assert_eq!(m.next_request(Time::from_secs(11)), Some(0));
    }
}
