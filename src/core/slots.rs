//! The choker applied to a torrent's peers: a round every `choke_interval`
//! (who holds the upload slots, and how many there are; the decision itself is
//! [`super::choker`]'s), and between rounds, slots given back by peers that
//! ask for nothing.
//!
//! A peer that says it is interested and then asks for nothing (a broken
//! client, or a flood of connections meant to starve a seeder) would hold its
//! slot until the next round and, without care, win it back in the draw. So:
//! - an unchoked peer that has asked for nothing [`SLOT_TRIAL`] after its
//!   unchoke, while an interested peer that never idled in a slot waits for
//!   one, is choked at the next tick, marked (`idle_slot_at`), and its slot
//!   goes at once to the best such waiting peer;
//! - at a round, such peers rank after every peer of equal rate that never
//!   idled, oldest mark first, and they are no evidence about the uplink:
//!   the slot count is judged by the peers that asked.
//!
//! A real leecher asks within a round trip of its unchoke, so a flood of
//! interested, silent connections costs it one trial of two seconds per slot
//! and per silent peer ahead of it, not a draw every ten seconds.

use super::choker::{Candidate, Choker, Served, SlotBounds, next_slots, rank};
use super::*;

/// How long a peer must have been unchoked for its upload rate to count: the
/// rate trackers' window.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// How long an unchoked peer may ask for nothing before its slot goes to
/// another.
pub(super) const SLOT_TRIAL: Duration = Duration::from_secs(2);

impl Core {
    /// The bounds of a torrent's unchoke slots, from the config.
    pub(super) fn slot_bounds(&self) -> SlotBounds {
        SlotBounds {
            mode: self.cfg.slot_mode,
            min: self.cfg.unchoke_slots,
            max: match self.cfg.slot_mode {
                SlotMode::Fixed => self.cfg.unchoke_slots,
                SlotMode::FillUplink => self.cfg.max_unchoke_slots,
            },
            step: self.cfg.slot_rate_step,
        }
    }

    /// A choker round for every torrent with peers (and its turnover,
    /// `core::room`).
    pub(super) fn choke_all(&mut self, now: Time, rotate_optimistic: bool, out: &mut Vec<Action>) {
        // Only torrents with peers have anything to choke or unchoke (and
        // with no peer served, their slots stay as they are): found from the
        // peers, not by a pass over every torrent (a million, idle, at scale).
        let mut ihs: Vec<InfoHash> = self.peers.values().filter_map(|p| p.info_hash).collect();
        ihs.sort_unstable();
        ihs.dedup();
        for ih in ihs {
            self.choke_round(now, ih, rotate_optimistic, out);
            self.turn_over(now, ih, out);
        }
    }

    fn choke_round(
        &mut self,
        now: Time,
        ih: InfoHash,
        rotate_optimistic: bool,
        out: &mut Vec<Action>,
    ) {
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        if !t.is_running() || t.peers.is_empty() {
            return;
        }
        let seeding = t.is_finished();
        let step = self.cfg.slot_rate_step;
        let mut candidates = Vec::new();
        let mut served = Vec::new();
        for k in &t.peers {
            let Some(p) = self.peers.get_mut(k) else {
                continue;
            };
            if p.phase != Phase::Active || !p.peer_interested {
                continue;
            }
            if !p.am_choking {
                let s = Served {
                    upload_rate: p.up.rate(now),
                    settled: now.since(p.unchoked_at) >= RATE_WINDOW,
                };
                let asked = !p.queue_in.is_empty()
                    || p.last_request.is_some_and(|at| now.since(at) < RATE_WINDOW);
                if s.settled && !asked && s.upload_rate < step {
                    // Held its slot and asked for nothing: it goes behind,
                    // and says nothing about how full the uplink is.
                    p.idle_slot_at = Some(now);
                } else {
                    if s.settled && s.upload_rate >= step {
                        p.idle_slot_at = None;
                    }
                    served.push(s);
                }
            }
            candidates.push(Candidate {
                key: *k,
                rate: Self::choke_rate(p, seeding, now),
                idle_slot_at: p.idle_slot_at,
                tiebreak: self.rng.next_u64(),
            });
        }
        let current = t.peers.iter().copied().find(|k| {
            self.peers
                .get(k)
                .is_some_and(|p| p.optimistic && p.peer_interested)
        });
        let bounds = self.slot_bounds();
        let global_cap = self.global_up.rate();
        let global_rate = self.up_rate.rate(now);
        let t = self.torrents.get_mut(&ih).expect("checked above");
        // Full: an upload cap (the torrent's or the global one) nearly reached.
        let near = |rate: u64, cap: u64| cap > 0 && rate.saturating_mul(10) >= cap * 9;
        let upload_full =
            near(t.up_rate.rate(now), t.up_limit.rate()) || near(global_rate, global_cap);
        let slots = next_slots(bounds, t.upload_slots, &served, upload_full);
        if slots != t.upload_slots {
            tracing::debug!(info_hash = %ih, from = t.upload_slots, to = slots, "upload slots");
        }
        t.upload_slots = slots;
        let t = &self.torrents[&ih];
        let choker = Choker { slots };
        let rng = &mut self.rng;
        let unchoked = choker.decide(candidates, current, rotate_optimistic, |n| {
            usize::try_from(rng.below(n as u64)).expect("below n")
        });
        let keys: Vec<PeerKey> = t.peers.iter().copied().collect();
        for k in keys {
            let unchoke = unchoked.contains(k);
            let Some(p) = self.peers.get_mut(&k) else {
                continue;
            };
            if p.phase != Phase::Active {
                continue;
            }
            p.optimistic = unchoked.optimistic == Some(k);
            if unchoke && p.am_choking {
                Self::unchoke_peer(now, k, p, out);
            } else if !unchoke && !p.am_choking {
                Self::choke_peer(k, p, out);
            }
        }
    }

    /// What counts for `p` in the choker's order. Leeching: reciprocate by
    /// what they give us (nothing from a snubbed peer). Seeding: by what they
    /// take (spreads the data fastest).
    fn choke_rate(p: &mut Peer, seeding: bool, now: Time) -> u64 {
        if seeding {
            p.up.rate(now)
        } else if p.snubbed {
            0
        } else {
            p.down.rate(now)
        }
    }

    /// Chokes the peers unchoked for [`SLOT_TRIAL`] that have asked for
    /// nothing since, longest unchoked first, as many as there are interested
    /// peers waiting that never idled in a slot, and hands their slots to
    /// those. With nobody waiting, a slot left unused harms no one and stays
    /// (a leecher whose other peers have all it needs for now keeps its
    /// slot for when it needs ours).
    pub(super) fn reclaim_idle_slots(&mut self, now: Time, out: &mut Vec<Action>) {
        let mut idle: Vec<(InfoHash, Time, PeerKey)> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                p.phase == Phase::Active
                    && !p.am_choking
                    && now.since(p.unchoked_at) >= SLOT_TRIAL
                    && p.queue_in.is_empty()
                    && p.last_request.is_none_or(|at| at < p.unchoked_at)
            })
            .filter_map(|(k, p)| p.info_hash.map(|ih| (ih, p.unchoked_at, *k)))
            .collect();
        if idle.is_empty() {
            return;
        }
        idle.sort_unstable();
        for held in idle.chunk_by(|a, b| a.0 == b.0) {
            let ih = held[0].0;
            let waiting = self.waiting_for_slot(ih);
            if waiting == 0 {
                continue;
            }
            let taken = held.len().min(waiting);
            for &(_, _, k) in &held[..taken] {
                let p = self.peers.get_mut(&k).expect("listed");
                if p.peer_interested {
                    p.idle_slot_at = Some(now);
                }
                p.optimistic = false;
                Self::choke_peer(k, p, out);
            }
            self.fill_slots(now, ih, taken, out);
        }
    }

    /// Whether `p`, of a running torrent, waits for a slot: interested,
    /// choked, and never found idle in one.
    fn waits_for_slot(p: &Peer) -> bool {
        p.phase == Phase::Active && p.am_choking && p.peer_interested && p.idle_slot_at.is_none()
    }

    /// How many of `ih`'s peers wait for a slot.
    fn waiting_for_slot(&self, ih: InfoHash) -> usize {
        let Some(t) = self.torrents.get(&ih).filter(|t| t.is_running()) else {
            return 0;
        };
        t.peers
            .iter()
            .filter(|k| self.peers.get(k).is_some_and(Self::waits_for_slot))
            .count()
    }

    /// Unchokes `ih`'s best peers waiting for a slot: as many as its free
    /// slots, and at least `handed` (slots just taken back for them).
    fn fill_slots(&mut self, now: Time, ih: InfoHash, handed: usize, out: &mut Vec<Action>) {
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        if !t.is_running() {
            return;
        }
        let seeding = t.is_finished();
        let mut unchoked = 0;
        let mut candidates = Vec::new();
        for k in &t.peers {
            let Some(p) = self.peers.get_mut(k) else {
                continue;
            };
            if !p.am_choking {
                unchoked += 1;
            } else if Self::waits_for_slot(p) {
                candidates.push(Candidate {
                    key: *k,
                    rate: Self::choke_rate(p, seeding, now),
                    idle_slot_at: None,
                    tiebreak: self.rng.next_u64(),
                });
            }
        }
        let free = t.upload_slots.saturating_sub(unchoked).max(handed);
        rank(&mut candidates);
        for c in candidates.into_iter().take(free) {
            let p = self.peers.get_mut(&c.key).expect("listed");
            Self::unchoke_peer(now, c.key, p, out);
        }
    }

    pub(super) fn unchoke_peer(now: Time, k: PeerKey, p: &mut Peer, out: &mut Vec<Action>) {
        p.am_choking = false;
        p.unchoked_at = now;
        out.push(Action::Send {
            peer: k,
            bytes: Message::Unchoke.encode(),
        });
    }

    fn choke_peer(k: PeerKey, p: &mut Peer, out: &mut Vec<Action>) {
        p.am_choking = true;
        let mut bytes = Message::Choke.encode();
        // With the fast extension, queued requests are rejected one by one;
        // without it, a choke drops them all.
        for r in p.queue_in.drain(..) {
            if p.fast {
                Message::Reject(r).encode_into(&mut bytes);
            }
        }
        out.push(Action::Send { peer: k, bytes });
    }
}
