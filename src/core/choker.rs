//! The choker's decision, apart from the peers it is applied to: who gets the
//! regular unchoke slots and who the optimistic one.
//!
//! Rules: the `slots` interested peers with the best rates are unchoked (by what
//! they give us while leeching, by what they take while seeding; a snubbed peer
//! counts as rate 0 while leeching). Between equal rates (in practice, the peers
//! at rate 0), a peer that never left a slot of ours unused goes first, then the
//! one that did so longest ago, then a random draw made by the caller: peers that
//! say they are interested and never ask get their turn one after the other,
//! and cannot win the draw round after round against a real leecher that has
//! not had a slot yet. One more, optimistic, slot goes to a peer outside the
//! regular ones, chosen at random (among those that never left a slot unused, if
//! any) when it rotates (every `optimistic_interval`) or when there is none, and
//! kept in between unless it has earned a regular slot.
//!
//! How many regular slots there are is the [`SlotMode`]'s call. `Fixed` keeps the
//! configured number. `FillUplink` (the default) starts from the maximum and
//! closes slots only on evidence. A settled unchoked peer (unchoked longer than
//! the rate window, so its rate means something) keeps its slot while it takes at
//! least `slot_rate_step`; one that takes less is not using it. When the upload is
//! known to be full (an upload cap nearly reached), the bar rises: ranked by what
//! we send them, the k-th peer must get k × `slot_rate_step`, so a thin upload is
//! not spread over so many peers that each gets a trickle. The slots are the
//! peers that pass, plus the peers too new to judge, plus one to probe; while
//! every settled peer passes, they grow back (doubling) up to the maximum. A
//! seeder facing many slow leechers so serves them all at once instead of four at
//! a time, and one with a thin upload serves few at a good rate.

use std::cmp::Reverse;

use super::PeerKey;
use crate::types::Time;

/// How a torrent's number of regular unchoke slots is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotMode {
    /// Always `unchoke_slots`.
    Fixed,
    /// As many as the upload can feed (see the module's notes), between
    /// `unchoke_slots` and `max_unchoke_slots`.
    #[default]
    FillUplink,
}

/// An unchoked peer as the slot count sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Served {
    /// Bytes per second we send it.
    pub upload_rate: u64,
    /// Unchoked for longer than the rate window: its rate means something.
    pub settled: bool,
}

/// The bounds of [`next_slots`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotBounds {
    pub mode: SlotMode,
    /// Fewest regular slots (all of them, `Fixed`).
    pub min: usize,
    /// Most regular slots.
    pub max: usize,
    /// Bytes per second the k-th peer must get, per k.
    pub step: u64,
}

/// The regular slot count for the next round, from the count now, how the peers
/// unchoked now are served, and whether the upload is full (a cap reached).
pub(crate) fn next_slots(
    b: SlotBounds,
    current: usize,
    served: &[Served],
    upload_full: bool,
) -> usize {
    let max = b.max.max(b.min);
    if b.mode == SlotMode::Fixed {
        return b.min;
    }
    let mut rates: Vec<u64> = served
        .iter()
        .filter(|s| s.settled)
        .map(|s| s.upload_rate)
        .collect();
    rates.sort_unstable_by(|a, b| b.cmp(a));
    let fresh = served.len() - rates.len();
    let passing = rates
        .iter()
        .enumerate()
        .take_while(|&(k, &r)| {
            let bar = if upload_full { k as u64 + 1 } else { 1 };
            r >= bar.saturating_mul(b.step)
        })
        .count();
    let n = if passing == rates.len() {
        // No sign of a full uplink: keep what there is, and grow.
        current.max((passing + fresh) * 2)
    } else {
        passing + fresh + 1
    };
    n.clamp(b.min, max)
}

/// An interested peer as the choker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub key: PeerKey,
    /// Bytes per second that count for it.
    pub rate: u64,
    /// When it was last found holding a slot it did not use, if it ever was.
    pub idle_slot_at: Option<Time>,
    /// A random draw: breaks the ties left.
    pub tiebreak: u64,
}

/// Puts `candidates` in the choker's order, best first: rate, then never idle
/// in a slot (`None`), then idle longest ago, then the draw.
pub(crate) fn rank(candidates: &mut [Candidate]) {
    candidates.sort_by_key(|c| Reverse((c.rate, Reverse(c.idle_slot_at), c.tiebreak, c.key)));
}

/// Who is unchoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unchoked {
    /// The regular slots, best rate first.
    pub regular: Vec<PeerKey>,
    /// The optimistic slot.
    pub optimistic: Option<PeerKey>,
}

impl Unchoked {
    pub fn contains(&self, k: PeerKey) -> bool {
        self.regular.contains(&k) || self.optimistic == Some(k)
    }
}

/// The choker of one torrent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Choker {
    /// Regular unchoke slots.
    pub slots: usize,
}

impl Choker {
    /// Decides who is unchoked among `candidates` (the interested peers).
    /// `current` is the optimistic peer so far, if it is still interested;
    /// `rotate`: its time is up. `pick(n)` draws an index below `n`.
    pub fn decide(
        &self,
        mut candidates: Vec<Candidate>,
        current: Option<PeerKey>,
        rotate: bool,
        pick: impl FnOnce(usize) -> usize,
    ) -> Unchoked {
        rank(&mut candidates);
        let regular: Vec<PeerKey> = candidates.iter().take(self.slots).map(|c| c.key).collect();
        let optimistic = if rotate || current.is_none() {
            let rest = &candidates[self.slots.min(candidates.len())..];
            let untried: Vec<PeerKey> = rest
                .iter()
                .filter(|c| c.idle_slot_at.is_none())
                .map(|c| c.key)
                .collect();
            let pool = if untried.is_empty() {
                rest.iter().map(|c| c.key).collect()
            } else {
                untried
            };
            (!pool.is_empty()).then(|| pool[pick(pool.len()).min(pool.len() - 1)])
        } else {
            current.filter(|k| !regular.contains(k))
        };
        Unchoked {
            regular,
            optimistic,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILL: SlotBounds = SlotBounds {
        mode: SlotMode::FillUplink,
        min: 4,
        max: 64,
        step: 1000,
    };

    fn served(rates: &[u64]) -> Vec<Served> {
        rates
            .iter()
            .map(|&upload_rate| Served {
                upload_rate,
                settled: true,
            })
            .collect()
    }

    #[test]
    fn fixed_slots_stay_fixed() {
        let b = SlotBounds {
            mode: SlotMode::Fixed,
            ..FILL
        };
        assert_eq!(next_slots(b, 64, &served(&[1_000_000; 20]), false), 4);
        assert_eq!(next_slots(b, 4, &served(&[]), true), 4);
    }

    #[test]
    fn well_served_peers_keep_their_slots_and_make_room_for_more() {
        // Twenty peers each getting 4 MB/s: nothing says the uplink is full.
        assert_eq!(next_slots(FILL, 64, &served(&[4_000_000; 20]), false), 64);
        // Forty slow peers (their own links), each taking 20 kB/s: all kept.
        assert_eq!(next_slots(FILL, 64, &served(&[20_000; 40]), false), 64);
        // From few slots, the count doubles each round up to the maximum.
        assert_eq!(next_slots(FILL, 4, &served(&[4_000_000; 4]), false), 8);
        assert_eq!(next_slots(FILL, 8, &served(&[4_000_000; 8]), false), 16);
        assert_eq!(next_slots(FILL, 40, &served(&[4_000_000; 40]), false), 64);
        // Nobody measured yet: no change.
        assert_eq!(next_slots(FILL, 64, &[], false), 64);
        // Peers that take nothing give their slots up (two idle of ten).
        let mut s = served(&[50_000; 8]);
        s.extend(served(&[0, 0]));
        assert_eq!(next_slots(FILL, 64, &s, false), 9);
    }

    #[test]
    fn a_thin_uplink_closes_slots_to_those_it_feeds() {
        // A full 40 kB/s upload shared by 20 peers: 2 kB/s each; the k-th needs k
        // kB/s, so two pass; slots: those two and one to probe (at least 4).
        assert_eq!(next_slots(FILL, 64, &served(&[2_000; 20]), true), 4);
        // A full 1 MB/s over 30 peers: 33 kB/s each, 30 pass → all kept.
        assert_eq!(next_slots(FILL, 64, &served(&[33_000; 30]), true), 64);
        // Uneven: 9 fast peers pass, the 10th gets 500 B/s; one fresh peer is not
        // judged yet.
        let mut s = served(&[
            100_000, 90_000, 80_000, 70_000, 60_000, 50_000, 40_000, 30_000, 20_000, 500,
        ]);
        s.push(Served {
            upload_rate: 0,
            settled: false,
        });
        assert_eq!(next_slots(FILL, 64, &s, true), 9 + 1 + 1);
    }

    fn peers(rates: &[u64]) -> Vec<Candidate> {
        rates
            .iter()
            .enumerate()
            .map(|(i, &rate)| Candidate {
                key: PeerKey(i as u64),
                rate,
                idle_slot_at: None,
                tiebreak: 0,
            })
            .collect()
    }

    #[test]
    fn the_four_regular_slots_go_to_the_four_best_rates() {
        let c = Choker { slots: 4 };
        let rates = [50, 900, 10, 700, 0, 800, 300, 650, 20, 1];
        let u = c.decide(peers(&rates), None, true, |_| 0);
        // 900 (1), 800 (5), 700 (3), 650 (7): exactly these, best first.
        assert_eq!(
            u.regular,
            vec![PeerKey(1), PeerKey(5), PeerKey(3), PeerKey(7)]
        );
        // The optimistic slot goes to one of the others, never a regular one.
        let opt = u.optimistic.unwrap();
        assert!(!u.regular.contains(&opt));
        assert_eq!(u.regular.len() + 1, 5);
    }

    #[test]
    fn every_other_peer_can_be_the_optimistic_one() {
        let c = Choker { slots: 4 };
        let rates = [50, 900, 10, 700, 0, 800, 300, 650, 20, 1];
        let chosen: Vec<PeerKey> = (0..6)
            .map(|i| {
                c.decide(peers(&rates), None, true, |n| {
                    assert_eq!(n, 6, "drawn among the six outside the regular slots");
                    i
                })
                .optimistic
                .unwrap()
            })
            .collect();
        let mut sorted = chosen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 6);
    }

    #[test]
    fn the_optimistic_peer_stays_until_its_time_is_up() {
        let c = Choker { slots: 2 };
        let rates = [100, 90, 5, 4];
        let kept = c.decide(peers(&rates), Some(PeerKey(3)), false, |_| {
            panic!("no draw")
        });
        assert_eq!(kept.optimistic, Some(PeerKey(3)));
        let rotated = c.decide(peers(&rates), Some(PeerKey(3)), true, |_| 0);
        assert_eq!(rotated.optimistic, Some(PeerKey(2)));
        // Earning a regular slot frees the optimistic one.
        let fast = [100, 90, 5, 400];
        let promoted = c.decide(peers(&fast), Some(PeerKey(3)), false, |_| panic!("no draw"));
        assert!(promoted.regular.contains(&PeerKey(3)));
        assert_eq!(promoted.optimistic, None);
    }

    #[test]
    fn between_equal_rates_peers_that_left_a_slot_unused_come_last_oldest_first() {
        let mut cands = peers(&[0, 0, 0, 0, 500, 0]);
        cands[0].idle_slot_at = Some(Time::from_millis(20_000));
        cands[1].idle_slot_at = Some(Time::from_millis(10_000));
        cands[2].idle_slot_at = Some(Time::from_millis(20_000));
        // Peer 4's rate wins even though it too once idled.
        cands[4].idle_slot_at = Some(Time::from_millis(20_000));
        for (i, c) in cands.iter_mut().enumerate() {
            c.tiebreak = 100 - i as u64;
        }
        // Peers 3 and 5 never idled: they come before the others whatever
        // the draw says, and the optimistic draw is among them alone.
        let u = Choker { slots: 2 }.decide(cands.clone(), None, true, |n| {
            assert_eq!(n, 1, "the draw is among those that never idled");
            0
        });
        assert_eq!(u.regular, vec![PeerKey(4), PeerKey(3)]);
        assert_eq!(u.optimistic, Some(PeerKey(5)));
        // With four slots, the one that idled longest ago comes next; then
        // nobody left never idled, and the draw is among all the rest.
        let u = Choker { slots: 4 }.decide(cands, None, true, |n| {
            assert_eq!(n, 2);
            0
        });
        assert_eq!(
            u.regular,
            vec![PeerKey(4), PeerKey(3), PeerKey(5), PeerKey(1)]
        );
        assert!(u.optimistic.is_some());
    }

    #[test]
    fn few_peers_are_all_unchoked_and_ties_go_by_the_draw() {
        let c = Choker { slots: 4 };
        let u = c.decide(peers(&[1, 2]), None, true, |_| {
            panic!("nobody left to draw")
        });
        assert_eq!(u.regular.len(), 2);
        assert_eq!(u.optimistic, None);
        let mut tied = peers(&[7, 7, 7]);
        tied[2].tiebreak = 9;
        let u = Choker { slots: 1 }.decide(tied, None, false, |_| 0);
        assert_eq!(u.regular, vec![PeerKey(2)]);
    }
}
