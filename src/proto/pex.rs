//! Peer exchange (BEP 11, `ut_pex`): the extended message that tells a peer which
//! peers we connected to and dropped since the last one.
//!
//! The payload is a dictionary of compact lists: `added` / `added.f` (one flag byte
//! per added peer) / `dropped` for IPv4, and `added6` / `added6.f` / `dropped6`
//! for IPv6. Decoding reads at most [`PEX_MAX_READ`] entries of each list (a longer
//! list is cut, and the cut counted, not refused); a list whose length is not a
//! whole number of entries, or flags of the wrong length, refuse the message.

use core::net::SocketAddr;

use super::compact::{self, V4_LEN, V6_LEN};
use super::ext::ExtError;
use crate::bencode::{self, Limits, Node, OwnedValue};

/// The extended message id we assign to ut_pex in our handshake.
pub const UT_PEX_ID: u8 = 2;
/// Entries of each list we send in one message (BEP 11 asks for at most 50).
pub const PEX_MAX_SEND: usize = 50;
/// Entries of each list we read from one message; the rest are ignored.
pub const PEX_MAX_READ: usize = 100;

/// `added.f` flag: prefers encrypted connections.
pub const FLAG_ENCRYPTION: u8 = 0x01;
/// `added.f` flag: a seed (or a partial seed wanting nothing).
pub const FLAG_SEED: u8 = 0x02;
/// `added.f` flag: supports uTP.
pub const FLAG_UTP: u8 = 0x04;
/// `added.f` flag: supports the holepunch extension.
pub const FLAG_HOLEPUNCH: u8 = 0x08;
/// `added.f` flag: reachable (the sender connected to it, so it accepts connections).
pub const FLAG_REACHABLE: u8 = 0x10;

/// One ut_pex message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pex {
    /// Peers connected since the last message, with their flags.
    pub added: Vec<(SocketAddr, u8)>,
    /// Peers dropped since the last message.
    pub dropped: Vec<SocketAddr>,
    /// Entries beyond [`PEX_MAX_READ`] that decoding did not read.
    pub cut: usize,
}

fn limits() -> Limits {
    Limits {
        max_depth: 4,
        max_tokens: 64,
        max_string_len: 64 * 1024,
    }
}

impl Pex {
    /// The payload (after the extended message id). Addresses are put in the list
    /// of their family; the caller keeps each list within [`PEX_MAX_SEND`].
    pub fn encode(&self) -> Vec<u8> {
        let (mut a4, mut f4, mut a6, mut f6) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &(addr, flags) in &self.added {
            if compact::is_v4(addr) {
                compact::push(&mut a4, addr);
                f4.push(flags);
            } else {
                compact::push(&mut a6, addr);
                f6.push(flags);
            }
        }
        let (mut d4, mut d6) = (Vec::new(), Vec::new());
        for &addr in &self.dropped {
            compact::push(
                if compact::is_v4(addr) {
                    &mut d4
                } else {
                    &mut d6
                },
                addr,
            );
        }
        let mut d = OwnedValue::dict();
        d.insert("added", a4);
        d.insert("added.f", f4);
        if !a6.is_empty() {
            d.insert("added6", a6);
            d.insert("added6.f", f6);
        }
        d.insert("dropped", d4);
        if !d6.is_empty() {
            d.insert("dropped6", d6);
        }
        d.encode()
    }

    /// Parses a payload. Missing lists are empty; missing flags are zero.
    pub fn decode(payload: &[u8]) -> Result<Pex, ExtError> {
        let root =
            bencode::decode(payload, limits()).map_err(|e| ExtError::Malformed(e.to_string()))?;
        if root.as_dict().is_none() {
            return Err(ExtError::Malformed("pex: not a dictionary".into()));
        }
        let bytes = |k: &str| root.get(k).and_then(Node::as_bytes).unwrap_or_default();
        let list = |k: &str, width: usize, cut: &mut usize| {
            let b = bytes(k);
            let all = b.len() / width;
            *cut += all.saturating_sub(PEX_MAX_READ);
            compact::decode(b, width, PEX_MAX_READ)
                .map_err(|e| ExtError::Malformed(format!("pex {k}: {e}")))
        };
        let mut pex = Pex::default();
        for (key, flags_key, width) in
            [("added", "added.f", V4_LEN), ("added6", "added6.f", V6_LEN)]
        {
            let b = bytes(key);
            let flags = bytes(flags_key);
            if !flags.is_empty() && flags.len() != b.len() / width {
                return Err(ExtError::Malformed(format!(
                    "pex {flags_key}: {} flags for {} peers",
                    flags.len(),
                    b.len() / width
                )));
            }
            if !b.len().is_multiple_of(width) {
                return Err(ExtError::Malformed(format!(
                    "pex {key}: {} bytes, not a multiple of {width}",
                    b.len()
                )));
            }
            // Entries with port 0 are skipped by the compact decoder, so each flag
            // is matched to its entry here, not by place in the decoded list.
            pex.cut += (b.len() / width).saturating_sub(PEX_MAX_READ);
            for (i, c) in b.chunks_exact(width).take(PEX_MAX_READ).enumerate() {
                if let Some(&addr) = compact::decode(c, width, 1).expect("whole entry").first() {
                    pex.added.push((addr, flags.get(i).copied().unwrap_or(0)));
                }
            }
        }
        for (key, width) in [("dropped", V4_LEN), ("dropped6", V6_LEN)] {
            pex.dropped.extend(list(key, width, &mut pex.cut)?);
        }
        Ok(pex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn round_trip_both_families() {
        let m = Pex {
            added: vec![
                (a("10.0.0.1:6881"), FLAG_SEED | FLAG_REACHABLE),
                (a("[2001:db8::1]:7000"), FLAG_UTP),
                (a("10.0.0.2:6882"), 0),
            ],
            dropped: vec![a("10.0.0.9:1"), a("[2001:db8::9]:2")],
            cut: 0,
        };
        let back = Pex::decode(&m.encode()).unwrap();
        let mut want = m.added.clone();
        want.sort_by_key(|(addr, _)| addr.is_ipv6());
        assert_eq!(back.added, want);
        assert_eq!(back.dropped, m.dropped);
    }

    #[test]
    fn bad_lengths_are_refused_and_long_lists_cut() {
        assert!(Pex::decode(b"d5:added5:abcdee").is_err());
        assert!(Pex::decode(b"d5:added6:abcdef7:added.f2:xxe").is_err());
        assert!(Pex::decode(b"li1ee").is_err());
        assert_eq!(Pex::decode(b"de").unwrap(), Pex::default());
        let mut many = Pex::default();
        for i in 0..u16::try_from(PEX_MAX_READ + 30).unwrap() {
            many.added
                .push((SocketAddr::from(([10, 0, 0, 1], 1000 + i)), 0));
        }
        let back = Pex::decode(&many.encode()).unwrap();
        assert_eq!(back.added.len(), PEX_MAX_READ);
        assert_eq!(back.cut, 30);
    }

    #[test]
    fn flags_stay_with_their_peer_when_a_port_is_zero() {
        let mut added = Vec::new();
        compact::push(&mut added, a("10.0.0.1:0"));
        compact::push(&mut added, a("10.0.0.2:5"));
        let mut d = OwnedValue::dict();
        d.insert("added", added);
        d.insert("added.f", vec![0u8, FLAG_SEED]);
        let back = Pex::decode(&d.encode()).unwrap();
        assert_eq!(back.added, vec![(a("10.0.0.2:5"), FLAG_SEED)]);
    }
}
