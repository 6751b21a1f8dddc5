//! The picker on its own: order of pieces, blocks, endgame, give-backs.

use super::*;
use crate::types::Time;

const PIECE: u32 = 4 * BLOCK_LEN;

/// A picker of `count` pieces of four blocks (the last one block and a bit).
fn picker(count: u32) -> Picker {
    Picker::new(count, PIECE, BLOCK_LEN + 100)
}

struct Want {
    have: Bitfield,
    priority: Vec<u8>,
    writing: BTreeSet<u32>,
    sequential: bool,
    urgent: std::collections::BTreeMap<u64, std::ops::Range<u32>>,
}

impl Want {
    fn all(count: u32) -> Want {
        Want {
            have: Bitfield::new(count),
            priority: vec![1; count as usize],
            writing: BTreeSet::new(),
            sequential: false,
            urgent: std::collections::BTreeMap::new(),
        }
    }

    fn view(&self) -> Wanted<'_> {
        Wanted {
            have: &self.have,
            priority: &self.priority,
            uniform: 0,
            writing: &self.writing,
            sequential: self.sequential,
            urgent: &self.urgent,
            // Any change of the priorities changes this (FNV-1a of them).
            priority_epoch: self.priority.iter().fold(0xcbf2_9ce4_8422_2325, |h, &p| {
                (h ^ u64::from(p)).wrapping_mul(0x100_0000_01b3)
            }),
        }
    }
}

fn peer_with(count: u32, pieces: &[u32]) -> Bitfield {
    let mut b = Bitfield::new(count);
    for &p in pieces {
        b.set(p);
    }
    b
}

fn pieces_of(reqs: &[BlockRequest]) -> Vec<u32> {
    let mut v: Vec<u32> = reqs.iter().map(|r| r.piece).collect();
    v.dedup();
    v
}

fn inflight(reqs: &[BlockRequest]) -> Vec<InFlight> {
    reqs.iter()
        .map(|&req| InFlight {
            req,
            sent: Time::ZERO,
        })
        .collect()
}

#[test]
fn rarest_piece_first() {
    let mut p = picker(4);
    let w = Want::all(4);
    // Availability: piece 0 by 3 peers, 1 by 2, 2 by 1, 3 by 2.
    for (piece, n) in [(0, 3), (1, 2), (2, 1), (3, 2)] {
        for _ in 0..n {
            p.peer_has(piece);
        }
    }
    let all = Bitfield::full(4);
    let got = p.pick(&w.view(), &all, &[], 4, &mut Rng::new(1));
    assert_eq!(pieces_of(&got), vec![2], "the rarest piece, whole");
    assert_eq!(got.len(), 4);
}

#[test]
fn distributed_copies_count_the_rarest_piece_and_the_share_above_it() {
    let mut p = picker(4);
    assert_eq!(p.distributed_copies(), 0.0, "no peer has said anything");
    p.peer_has(0);
    assert_eq!(p.distributed_copies(), 0.25, "a quarter of a copy");
    // Two seeds, and a third peer with pieces 0 and 1: 2 whole copies, and
    // half of the pieces a third time.
    p.peer_lost(0);
    for piece in 0..4 {
        p.peer_has(piece);
        p.peer_has(piece);
    }
    p.peer_has(0);
    p.peer_has(1);
    assert_eq!(p.distributed_copies(), 2.5);
}

#[test]
fn ties_are_broken_at_random_but_only_among_the_rarest() {
    let mut seen = BTreeSet::new();
    for seed in 0..64 {
        let mut p = picker(6);
        let w = Want::all(6);
        for piece in 0..6 {
            p.peer_has(piece);
            if piece >= 3 {
                p.peer_has(piece);
            }
        }
        let got = p.pick(&w.view(), &Bitfield::full(6), &[], 1, &mut Rng::new(seed));
        seen.insert(got[0].piece);
    }
    assert_eq!(
        seen,
        BTreeSet::from([0, 1, 2]),
        "every rarest piece, none other"
    );
}

#[test]
fn pieces_in_progress_are_finished_fullest_first() {
    let mut p = picker(4);
    let w = Want::all(4);
    let all = Bitfield::full(4);
    let ip: IpAddr = [127, 0, 0, 1].into();
    let mut rng = Rng::new(3);
    // Start two pieces; piece A gets two blocks, piece B one.
    let first = p.pick(&w.view(), &all, &[], 8, &mut rng);
    let a = first[0].piece;
    let b = first[4].piece;
    for r in &first {
        p.release(r);
    }
    for off in [0, BLOCK_LEN] {
        let asked = p.pick(&w.view(), &peer_with(4, &[a]), &[], 1, &mut rng);
        assert_eq!(asked.len(), 1);
        p.on_block(a, off, &[0; BLOCK_LEN as usize], ip);
    }
    let asked = p.pick(&w.view(), &peer_with(4, &[b]), &[], 1, &mut rng);
    assert_eq!(asked.len(), 1);
    p.on_block(b, 0, &[0; BLOCK_LEN as usize], ip);
    let next = p.pick(&w.view(), &all, &[], 2, &mut rng);
    assert!(
        next.iter().all(|r| r.piece == a),
        "the fuller piece: {next:?}"
    );
}

#[test]
fn pieces_in_progress_go_by_priority_then_first_started_order() {
    let mut p = picker(6);
    let mut w = Want::all(6);
    let all = Bitfield::full(6);
    let mut rng = Rng::new(5);
    // Start every piece, then give every block back (a budget refused them):
    // none is fuller than another.
    let started = p.pick(&w.view(), &all, &[], 6 * 4, &mut rng);
    for r in &started {
        p.release(r);
    }
    // Equals are taken lowest first, not the newest or highest first.
    let next = p.pick(&w.view(), &all, &[], 4, &mut rng);
    assert_eq!(pieces_of(&next), vec![0]);
    for r in &next {
        p.release(r);
    }
    // A higher priority comes before an equal or fuller one.
    w.priority[4] = 7;
    let next = p.pick(&w.view(), &all, &[], 4, &mut rng);
    assert_eq!(pieces_of(&next), vec![4]);
}

#[test]
fn priority_beats_rarity_and_zero_priority_is_never_picked() {
    let mut p = picker(3);
    let mut w = Want::all(3);
    w.priority = vec![0, 1, 7];
    p.peer_has(2);
    p.peer_has(2);
    p.peer_has(1);
    let got = p.pick(&w.view(), &Bitfield::full(3), &[], 100, &mut Rng::new(1));
    assert_eq!(
        pieces_of(&got),
        vec![2, 1],
        "highest priority first, skip 0"
    );
}

#[test]
fn sequential_goes_in_piece_order() {
    let mut p = picker(5);
    let mut w = Want::all(5);
    w.sequential = true;
    w.have.set(0);
    p.peer_has(4);
    let got = p.pick(&w.view(), &Bitfield::full(5), &[], 8, &mut Rng::new(1));
    assert_eq!(pieces_of(&got), vec![1, 2]);
}

#[test]
fn pieces_had_or_being_written_are_not_picked() {
    let mut p = picker(3);
    let mut w = Want::all(3);
    w.have.set(0);
    w.writing.insert(1);
    let got = p.pick(&w.view(), &Bitfield::full(3), &[], 100, &mut Rng::new(1));
    assert_eq!(pieces_of(&got), vec![2]);
    assert_eq!(got.len(), 2, "the short last piece has two blocks");
    assert_eq!(got[1].len, 100);
}

#[test]
fn endgame_asks_a_second_peer_but_never_a_third() {
    let mut p = picker(1);
    let w = Want::all(1);
    let all = Bitfield::full(1);
    let mut rng = Rng::new(1);
    let one = p.pick(&w.view(), &all, &[], 10, &mut rng);
    assert_eq!(one.len(), 2);
    // Everything is requested: a second peer gets duplicates...
    let two = p.pick(&w.view(), &all, &[], 10, &mut rng);
    assert_eq!(two, one);
    // ...and the first peer nothing it already has in flight, a third nothing.
    assert!(
        p.pick(&w.view(), &all, &inflight(&one), 10, &mut rng)
            .is_empty()
    );
    assert!(p.pick(&w.view(), &all, &[], 10, &mut rng).is_empty());
}

#[test]
fn endgame_waits_for_the_last_few_blocks() {
    // Three pieces of 16 blocks: 48 to arrive, more than the endgame's few.
    let mut p = Picker::new(3, 16 * BLOCK_LEN, 16 * BLOCK_LEN);
    let mut w = Want::all(3);
    let all = Bitfield::full(3);
    let mut rng = Rng::new(1);
    let first = p.pick(&w.view(), &all, &[], 100, &mut rng);
    assert_eq!(first.len(), 48);
    assert!(p.all_requested(&w.view()));
    assert!(
        p.pick(&w.view(), &all, &[], 100, &mut rng).is_empty(),
        "no duplicates while 48 blocks are out"
    );
    // 16 arrive: 32 left, the last few: duplicates now, one per block.
    let ip: IpAddr = [127, 0, 0, 1].into();
    let piece = first[0].piece;
    for r in first.iter().filter(|r| r.piece == piece) {
        assert_eq!(p.copies(r), 1);
        p.on_block(r.piece, r.offset, &vec![0; r.len as usize], ip);
        assert_eq!(p.copies(r), 0);
    }
    w.writing.insert(piece);
    let dup = p.pick(&w.view(), &all, &[], 100, &mut rng);
    assert_eq!(dup.len(), 32);
    assert!(dup.iter().all(|r| p.copies(r) == 2));
}

#[test]
fn a_released_block_is_picked_again() {
    let mut p = picker(2);
    let w = Want::all(2);
    let only0 = peer_with(2, &[0]);
    let mut rng = Rng::new(1);
    let got = p.pick(&w.view(), &only0, &[], 4, &mut rng);
    assert_eq!(got.len(), 4);
    p.release(&got[2]);
    let again = p.pick(&w.view(), &only0, &inflight(&got), 4, &mut rng);
    assert_eq!(again, vec![got[2]]);
}

#[test]
fn blocks_assemble_into_a_piece_and_strays_are_refused() {
    let mut p = picker(2);
    let w = Want::all(2);
    let a: IpAddr = [127, 0, 0, 1].into();
    let b: IpAddr = [127, 0, 0, 2].into();
    let got = p.pick(&w.view(), &peer_with(2, &[1]), &[], 4, &mut Rng::new(1));
    assert_eq!(got.len(), 2);
    // Not asked for: another piece, a misaligned offset, a wrong length.
    assert!(matches!(
        p.on_block(0, 0, &[1; 16384], a),
        BlockOutcome::Unexpected
    ));
    assert!(matches!(
        p.on_block(1, 7, &[1; 16384], a),
        BlockOutcome::Unexpected
    ));
    assert!(matches!(
        p.on_block(1, 0, &[1; 100], a),
        BlockOutcome::Unexpected
    ));
    assert!(matches!(
        p.on_block(1, 0, &[1; 16384], a),
        BlockOutcome::Stored
    ));
    assert!(
        matches!(p.on_block(1, 0, &[1; 16384], a), BlockOutcome::Unexpected),
        "twice"
    );
    match p.on_block(1, BLOCK_LEN, &[2; 100], b) {
        BlockOutcome::PieceComplete(data, from) => {
            assert_eq!(data.len(), 16384 + 100);
            assert_eq!(data[16384], 2);
            assert_eq!(from, vec![Some(a), Some(b)]);
        }
        _ => panic!("the piece is whole"),
    }
    assert_eq!(p.in_progress().count(), 0);
}

#[test]
fn a_piece_holds_memory_only_once_its_first_block_comes() {
    let a: IpAddr = [127, 0, 0, 1].into();
    let mut p = picker(8);
    let w = Want::all(8);
    // A peer asked for six pieces' worth at once: nothing held yet.
    let got = p.pick(
        &w.view(),
        &peer_with(8, &[0, 1, 2, 3, 4, 5]),
        &[],
        24,
        &mut Rng::new(1),
    );
    assert_eq!(pieces_of(&got).len(), 6);
    assert_eq!(p.buffered(), 0);
    // The first block of one piece: that piece's whole buffer, no other.
    let first = got[0];
    assert!(matches!(
        p.on_block(first.piece, first.offset, &[1; BLOCK_LEN as usize], a),
        BlockOutcome::Stored
    ));
    assert_eq!(p.buffered(), PIECE as usize);
    // Its other blocks, in any order, add nothing and move nothing.
    let rest: Vec<&BlockRequest> = got
        .iter()
        .filter(|r| r.piece == first.piece)
        .skip(1)
        .collect();
    for r in rest.into_iter().rev() {
        match p.on_block(r.piece, r.offset, &[2; BLOCK_LEN as usize], a) {
            BlockOutcome::Stored => assert_eq!(p.buffered(), PIECE as usize),
            BlockOutcome::PieceComplete(data, _) => assert_eq!(data.capacity(), PIECE as usize),
            BlockOutcome::Unexpected => panic!("asked for"),
        }
    }
    assert_eq!(p.buffered(), 0, "the whole piece left with its buffer");
}

#[test]
fn a_piece_is_whole_and_right_whatever_order_its_blocks_come_in() {
    let a: IpAddr = [127, 0, 0, 1].into();
    for order in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]] {
        let mut p = picker(2);
        let got = p.pick(
            &Want::all(2).view(),
            &peer_with(2, &[0]),
            &[],
            4,
            &mut Rng::new(1),
        );
        assert_eq!(got.len(), 4);
        let mut whole = None;
        for b in order {
            let block = [u8::try_from(b + 1).expect("small"); BLOCK_LEN as usize];
            match p.on_block(0, b * BLOCK_LEN, &block, a) {
                BlockOutcome::PieceComplete(data, _) => whole = Some(data),
                BlockOutcome::Stored => {}
                BlockOutcome::Unexpected => panic!("block {b} was asked for"),
            }
        }
        let data = whole.expect("all four came");
        let want: Vec<u8> = (1..=4u8).flat_map(|v| [v; BLOCK_LEN as usize]).collect();
        assert!(data == want, "order {order:?}");
    }
}

#[test]
fn availability_follows_peers() {
    let mut p = picker(2);
    p.peer_has(1);
    p.peer_has(1);
    p.peer_lost(1);
    p.peer_lost(0); // never below zero
    p.peer_has(9); // out of range: ignored
    assert_eq!((p.availability(0), p.availability(1)), (0, 1));
}

#[test]
fn urgent_pieces_come_first_in_order_then_the_usual_order() {
    let mut p = picker(8);
    let mut w = Want::all(8);
    w.urgent.insert(1, 5..7);
    w.have.set(5);
    // Piece 1 is the rarest, but a streamed piece wins; then the next urgent one.
    for piece in [0, 2, 3, 4, 5, 6, 7] {
        p.peer_has(piece);
    }
    let all = Bitfield::full(8);
    let mut rng = Rng::new(1);
    let first = p.pick(&w.view(), &all, &[], 4, &mut rng);
    assert_eq!(pieces_of(&first), vec![6]);
    let next = p.pick(&w.view(), &all, &[], 4, &mut rng);
    assert_eq!(pieces_of(&next), vec![1], "then rarest first again");
}

/// A picker nobody downloads through holds its geometry alone: reading it,
/// and the calls that only undo what a download did, leave it so.
#[test]
fn an_unused_picker_holds_no_counts() {
    assert_eq!(std::mem::size_of::<Picker>(), 24);
    let mut p = picker(4);
    let req = BlockRequest {
        piece: 1,
        offset: 0,
        len: BLOCK_LEN,
    };
    assert_eq!(p.availability(1), 0);
    assert_eq!(p.availabilities(), vec![0; 4]);
    assert!(p.distributed_copies() == 0.0 && p.buffered() == 0 && p.copies(&req) == 0);
    assert_eq!(p.in_progress().count(), 0);
    p.peer_lost(1);
    p.release(&req);
    p.drop_piece(1);
    p.drop_all();
    let ip = "10.0.0.1".parse().unwrap();
    assert!(matches!(
        p.on_block(1, 0, &[0; 16], ip),
        BlockOutcome::Unexpected
    ));
    p.peer_has(9);
    assert!(p.live.is_none());
    p.peer_has(2);
    assert!(p.live.is_some());
    assert_eq!(p.availabilities(), vec![0, 0, 1, 0]);
}
