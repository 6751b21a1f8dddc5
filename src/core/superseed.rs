//! Super-seeding (BEP 16), for a torrent's first seed: instead of its
//! bitfield, a peer that connects while the torrent is whole is shown a
//! piece or two at a time (`have`), the least shown first, then the rarest
//! among the connected peers; it is shown another once it says it has one of
//! them, or once another peer says it has one (the piece went round: BEP 16's
//! rule, for clients that send no `have` to a seed). Asked for a piece it was
//! not shown, the seed refuses. Each piece
//! then leaves the seed about once, and the peers trade the rest among
//! themselves. Turned off, every peer is told the pieces it was not shown;
//! turned on, it applies to the peers that connect from then on.

use super::peer::Peer;
use super::{Action, Bitfield, CommandError, Core, PeerKey, Torrent};
use crate::proto::Message;
use crate::types::{InfoHash, Time};

/// Pieces shown to a peer and not yet reported back.
const SHOWN_AT_ONCE: usize = 2;

/// What a super-seeded peer was told.
#[derive(Debug, Clone)]
pub struct Shown {
    /// Every piece shown to it.
    pub pieces: Bitfield,
    /// Those it has not said it has yet.
    pub out: Vec<u32>,
}

impl Shown {
    /// Whether it may ask for `piece`.
    pub fn allows(&self, piece: u32) -> bool {
        self.pieces.get(piece)
    }
}

impl Core {
    /// Whether a peer of `t` whose handshake completes now is super-seeded.
    pub(super) fn super_seeds(t: &Torrent) -> bool {
        t.super_seeding && t.info.is_some() && t.have.all()
    }

    /// Shows peer `key` of torrent `ih` new pieces until it has
    /// [`SHOWN_AT_ONCE`] out (none left it lacks: fewer).
    pub(super) fn show_pieces(
        &mut self,
        now: Time,
        ih: InfoHash,
        key: PeerKey,
        out: &mut Vec<Action>,
    ) {
        let (Some(t), Some(p)) = (self.torrents.get(&ih), self.peers.get_mut(&key)) else {
            return;
        };
        let Some(shown) = p.superseed.as_mut() else {
            return;
        };
        let n = t.have.len();
        let counts = (self.super_shown)
            .entry(ih)
            .or_insert_with(|| vec![0; n as usize]);
        let start = u32::try_from(self.rng.below(u64::from(n.max(1)))).unwrap_or(0);
        let mut msgs = Vec::new();
        while shown.out.len() < SHOWN_AT_ONCE {
            let best = (0..n)
                .map(|i| (i + start) % n)
                .filter(|&i| !p.have.get(i) && !shown.pieces.get(i))
                .min_by_key(|&i| (counts[i as usize], t.picker.availability(i)));
            let Some(i) = best else {
                break;
            };
            shown.pieces.set(i);
            shown.out.push(i);
            counts[i as usize] = counts[i as usize].saturating_add(1);
            msgs.push(Message::Have(i));
        }
        if !msgs.is_empty() {
            self.send(now, key, &msgs, out);
        }
    }

    /// A super-seeded peer said it has `piece`: true if it was one shown to
    /// it (it is then due another).
    pub(super) fn shown_piece_taken(p: &mut Peer, piece: u32) -> bool {
        let Some(s) = p.superseed.as_mut() else {
            return false;
        };
        let before = s.out.len();
        s.out.retain(|&i| i != piece);
        s.out.len() != before
    }

    /// Peer `from` said it has `piece`: every other peer that was shown it and
    /// has not reported it is shown another (the piece went round, BEP 16's
    /// rule: a peer that sends no `have` to a seed still moves on).
    pub(super) fn shown_piece_spread(
        &mut self,
        now: Time,
        ih: InfoHash,
        from: PeerKey,
        piece: u32,
        out: &mut Vec<Action>,
    ) {
        if !self.super_shown.contains_key(&ih) {
            return;
        }
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        let others: Vec<PeerKey> = t.peers.iter().copied().filter(|k| *k != from).collect();
        for key in others {
            if self
                .peers
                .get_mut(&key)
                .is_some_and(|p| Self::shown_piece_taken(p, piece))
            {
                self.show_pieces(now, ih, key, out);
            }
        }
    }

    /// A super-seeded peer is gone: the pieces shown to it that it never
    /// reported count as not shown.
    pub(super) fn forget_shown(&mut self, ih: InfoHash, shown: &Shown) {
        if let Some(counts) = self.super_shown.get_mut(&ih) {
            for &i in &shown.out {
                if let Some(c) = counts.get_mut(i as usize) {
                    *c = c.saturating_sub(1);
                }
            }
        }
    }

    /// Turns super-seeding on (for peers that connect from now on) or off
    /// (every peer is told the pieces it was not shown).
    pub fn set_super_seeding(
        &mut self,
        now: Time,
        info_hash: InfoHash,
        on: bool,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        if t.super_seeding == on {
            return Ok(());
        }
        t.super_seeding = on;
        t.save_now = true;
        if on {
            return Ok(());
        }
        self.super_shown.remove(&info_hash);
        let t = &self.torrents[&info_hash];
        let keys: Vec<PeerKey> = t.peers.iter().copied().collect();
        for key in keys {
            let Some(p) = self.peers.get_mut(&key) else {
                continue;
            };
            let Some(shown) = p.superseed.take() else {
                continue;
            };
            let msgs: Vec<Message> = (self.torrents[&info_hash].have.ones())
                .filter(|&i| !shown.pieces.get(i) && !p.have.get(i))
                .map(Message::Have)
                .collect();
            if !msgs.is_empty() {
                self.send(now, key, &msgs, out);
            }
        }
        Ok(())
    }
}
