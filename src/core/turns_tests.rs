//! Check turns shared by several cores (`turns`): one line for the engine,
//! in the order checks asked on any core; a raised limit hands turns out at
//! the next tick, a lowered one stops no check; a failed core's turns go
//! to the others.

use super::checks_tests::{add_sized, check_through, piece_a_batch, verify_asked_of};
use super::*;

/// Two cores taking turns from one line of `limit`.
fn two_cores(limit: usize) -> (CheckTurns, Core, Core) {
    let turns = CheckTurns::new(limit);
    let (mut one, mut two) = (piece_a_batch(), piece_a_batch());
    one.share_check_turns(turns.clone());
    two.share_check_turns(turns.clone());
    (turns, one, two)
}

fn recheck(core: &mut Core, ih: InfoHash) -> Vec<Action> {
    let mut out = Vec::new();
    core.execute(Time::ZERO, Command::Recheck(ih), &mut out);
    out
}

fn tick(core: &mut Core, ms: u64) -> Vec<Action> {
    let mut out = Vec::new();
    core.on_tick(Time::from_millis(ms), &mut out);
    out
}

fn whole(core: &Core, ih: InfoHash) -> bool {
    let t = &core.torrents[&ih];
    t.have.count() == t.have.len()
}

/// A turn freed on one core goes to the check that asked next on any core,
/// taken at that core's next tick; the core that freed it does not hand it
/// to a check of its own that asked later.
#[test]
fn checks_on_two_cores_take_turns_from_one_line_in_the_order_they_asked() {
    let (turns, mut one, mut two) = two_cores(1);
    let a = add_sized(&mut one, 200_000);
    let b = add_sized(&mut two, 150_000);
    let c = add_sized(&mut one, 100_000);
    let first = verify_asked_of(&recheck(&mut one, a), a);
    assert!(!first.is_empty(), "the first reads");
    assert!(
        verify_asked_of(&recheck(&mut two, b), b).is_empty(),
        "one at a time"
    );
    assert!(verify_asked_of(&recheck(&mut one, c), c).is_empty());
    let now = turns.now();
    assert_eq!((now.limit, now.running, now.waiting), (1, 1, 2));
    // The first ends: the second in line is on the other core.
    let out = check_through(&mut one, a, first);
    assert!(verify_asked_of(&out, c).is_empty(), "c asked after b");
    assert!(verify_asked_of(&tick(&mut one, 100), c).is_empty());
    let second = verify_asked_of(&tick(&mut two, 100), b);
    assert!(!second.is_empty(), "b's turn, at its core's tick");
    check_through(&mut two, b, second);
    // Its end frees the turn at once; the third's core takes it at its tick.
    assert_eq!(turns.now().running, 0);
    let third = verify_asked_of(&tick(&mut one, 200), c);
    assert!(!third.is_empty(), "then c's");
    check_through(&mut one, c, third);
    assert!(whole(&one, a) && whole(&two, b) && whole(&one, c));
    let now = turns.now();
    assert_eq!((now.running, now.waiting), (0, 0), "no turn or ticket left");
}

/// A raised limit lets the waiting start at the next tick; a lowered one
/// stops no check that reads, and lets no new one start until they end.
#[test]
fn a_changed_limit_applies_to_the_next_turns_only() {
    let mut core = piece_a_batch();
    let ids: Vec<InfoHash> = [200_000, 150_000, 100_000, 120_000]
        .into_iter()
        .map(|len| add_sized(&mut core, len))
        .collect();
    let mut reads: Vec<Vec<u32>> = ids[..3]
        .iter()
        .map(|&ih| verify_asked_of(&recheck(&mut core, ih), ih))
        .collect();
    assert!(!reads[0].is_empty() && reads[1].is_empty() && reads[2].is_empty());
    let more = Tunables {
        checks_at_once: 3,
        ..Tunables::default()
    };
    core.set_tunables(Time::ZERO, more);
    let out = tick(&mut core, 100);
    for (i, r) in reads.iter_mut().enumerate().skip(1) {
        *r = verify_asked_of(&out, ids[i]);
        assert!(!r.is_empty(), "check {i} starts at the tick");
    }
    let fewer = Tunables {
        checks_at_once: 1,
        ..Tunables::default()
    };
    core.set_tunables(Time::ZERO, fewer);
    assert!(verify_asked_of(&recheck(&mut core, ids[3]), ids[3]).is_empty());
    let now = core.check_turns().now();
    assert_eq!((now.limit, now.running, now.waiting), (1, 3, 1));
    // The three go on to their ends; the fourth waits for the last of them.
    let out0 = check_through(&mut core, ids[0], std::mem::take(&mut reads[0]));
    let out1 = check_through(&mut core, ids[1], std::mem::take(&mut reads[1]));
    assert!(verify_asked_of(&out0, ids[3]).is_empty() && verify_asked_of(&out1, ids[3]).is_empty());
    let out2 = check_through(&mut core, ids[2], std::mem::take(&mut reads[2]));
    let fourth = verify_asked_of(&out2, ids[3]);
    assert!(!fourth.is_empty(), "the fourth's turn once all three end");
    check_through(&mut core, ids[3], fourth);
    assert!(ids.iter().all(|&ih| whole(&core, ih)));
}

/// A core that gives up (its shard failed) hands its turn and its tickets
/// back: the other core's checks go on.
#[test]
fn a_failed_core_gives_its_turns_back() {
    let (turns, mut one, mut two) = two_cores(1);
    let a = add_sized(&mut one, 200_000);
    let c = add_sized(&mut one, 100_000);
    let b = add_sized(&mut two, 150_000);
    assert!(!verify_asked_of(&recheck(&mut one, a), a).is_empty());
    assert!(verify_asked_of(&recheck(&mut one, c), c).is_empty());
    assert!(verify_asked_of(&recheck(&mut two, b), b).is_empty());
    one.give_up_check_turns();
    let now = turns.now();
    assert_eq!((now.running, now.waiting), (0, 1), "only b's ticket left");
    let reads = verify_asked_of(&tick(&mut two, 100), b);
    assert!(!reads.is_empty(), "b's turn");
    check_through(&mut two, b, reads);
    assert!(whole(&two, b));
}

/// Rechecks of a torrent that waits for its turn behind another leave one
/// entry of it in line, not one a recheck.
#[test]
fn rechecks_while_waiting_leave_one_entry() {
    let mut core = piece_a_batch();
    let a = add_sized(&mut core, 200_000);
    let (b, c) = (add_sized(&mut core, 150_000), add_sized(&mut core, 100_000));
    let first = verify_asked_of(&recheck(&mut core, a), a);
    assert!(verify_asked_of(&recheck(&mut core, c), c).is_empty());
    for _ in 0..100 {
        assert!(verify_asked_of(&recheck(&mut core, b), b).is_empty());
    }
    assert_eq!(core.turns.waiting.len(), 2, "c's entry, and b's last");
    let now = core.check_turns().now();
    assert_eq!((now.running, now.waiting), (1, 2));
    let out = check_through(&mut core, a, first);
    let second = verify_asked_of(&out, c);
    assert!(!second.is_empty(), "c asked before b's last recheck");
    let out = check_through(&mut core, c, second);
    let third = verify_asked_of(&out, b);
    assert!(!third.is_empty(), "then b");
    check_through(&mut core, b, third);
    assert!(whole(&core, a) && whole(&core, b) && whole(&core, c));
}
