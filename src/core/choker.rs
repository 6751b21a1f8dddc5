//! The choker's decision, apart from the peers it is applied to: who gets the
//! regular unchoke slots and who the optimistic one.
//!
//! Rules: the `slots` interested peers with the best rates are unchoked (by what
//! they give us while leeching, by what they take while seeding; a snubbed peer
//! counts as rate 0 while leeching); ties go by a random draw made by the caller.
//! One more, optimistic, slot goes to a peer outside the regular ones, chosen at
//! random when it rotates (every `optimistic_interval`) or when there is none, and
//! kept in between unless it has earned a regular slot.

use super::PeerKey;

/// An interested peer as the choker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub key: PeerKey,
    /// Bytes per second that count for it.
    pub rate: u64,
    /// A random draw: breaks ties between equal rates.
    pub tiebreak: u64,
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
        candidates.sort_by_key(|c| std::cmp::Reverse((c.rate, c.tiebreak, c.key)));
        let regular: Vec<PeerKey> = candidates.iter().take(self.slots).map(|c| c.key).collect();
        let optimistic = if rotate || current.is_none() {
            let rest: Vec<PeerKey> = candidates.iter().skip(self.slots).map(|c| c.key).collect();
            (!rest.is_empty()).then(|| rest[pick(rest.len()).min(rest.len() - 1)])
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

    fn peers(rates: &[u64]) -> Vec<Candidate> {
        rates
            .iter()
            .enumerate()
            .map(|(i, &rate)| Candidate {
                key: PeerKey(i as u64),
                rate,
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
