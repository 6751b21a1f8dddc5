//! A handle on the picker for `benches/picker.rs` (the picker itself is private
//! to the core): a torrent of any size, peers that have all of it, and picks
//! of whole pieces as a download makes them. Not part of the API.

use core::net::{IpAddr, Ipv4Addr};
use std::collections::{BTreeMap, BTreeSet};

use super::Rng;
use super::bitfield::Bitfield;
use super::picker::{Picker, Wanted};
use crate::metainfo::BLOCK_LEN;

/// A picker with its torrent's state, for benchmarks.
#[derive(Debug)]
pub struct PickerHarness {
    picker: Picker,
    have: Bitfield,
    priority: Vec<u8>,
    writing: BTreeSet<u32>,
    urgent: BTreeMap<u64, std::ops::Range<u32>>,
    peer: Bitfield,
    rng: Rng,
    piece_len: u32,
}

impl PickerHarness {
    /// A torrent of `pieces` pieces of 64 KiB, every piece wanted; `seeds`
    /// peers have all of it, and each piece is also had by 0..8 more (varied
    /// availability, as in a real swarm).
    pub fn new(pieces: u32, seeds: u32) -> PickerHarness {
        let piece_len = 4 * BLOCK_LEN;
        let mut picker = Picker::new(pieces, piece_len, piece_len);
        let mut rng = Rng::new(7);
        for p in 0..pieces {
            for _ in 0..seeds + u32::try_from(rng.below(8)).expect("below 8") {
                picker.peer_has(p);
            }
        }
        PickerHarness {
            picker,
            have: Bitfield::new(pieces),
            priority: vec![1; pieces as usize],
            writing: BTreeSet::new(),
            urgent: BTreeMap::new(),
            peer: Bitfield::full(pieces),
            rng,
            piece_len,
        }
    }

    /// Picks a whole piece for a peer that has everything, receives its blocks
    /// and marks it had; returns the piece (`None` when all are had).
    pub fn download_one(&mut self) -> Option<u32> {
        let wanted = Wanted {
            have: &self.have,
            priority: &self.priority,
            uniform: 0,
            writing: &self.writing,
            sequential: false,
            urgent: &self.urgent,
            priority_epoch: 0,
        };
        let blocks = (self.piece_len / BLOCK_LEN) as usize;
        let reqs = self
            .picker
            .pick(&wanted, &self.peer, &[], blocks, &mut self.rng);
        let piece = reqs.first()?.piece;
        let data = vec![0u8; BLOCK_LEN as usize];
        let from = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for r in &reqs {
            self.picker
                .on_block(r.piece, r.offset, &data[..r.len as usize], from);
        }
        self.have.set(piece);
        Some(piece)
    }

    /// A peer that had every piece leaves, and another comes (availability of
    /// every piece moves down, then up).
    pub fn peer_churn(&mut self, pieces: u32) {
        for p in 0..pieces {
            self.picker.peer_lost(p);
        }
        for p in 0..pieces {
            self.picker.peer_has(p);
        }
    }
}
