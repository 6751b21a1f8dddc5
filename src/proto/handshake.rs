//! The 68-byte BitTorrent handshake.

use crate::types::InfoHash;

/// Length of a handshake on the wire.
pub const HANDSHAKE_LEN: usize = 68;
const PROTOCOL: &[u8; 20] = b"\x13BitTorrent protocol";

/// A peer's handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// The reserved bytes: extension bits.
    pub reserved: [u8; 8],
    /// The torrent the peer wants.
    pub info_hash: InfoHash,
    /// The peer's id.
    pub peer_id: [u8; 20],
}

impl Handshake {
    /// Our handshake: extension protocol (BEP 10) and fast extension (BEP 6) on.
    pub fn new(info_hash: InfoHash, peer_id: [u8; 20]) -> Handshake {
        let mut reserved = [0u8; 8];
        reserved[5] |= 0x10; // BEP 10
        reserved[7] |= 0x04; // BEP 6
        Handshake {
            reserved,
            info_hash,
            peer_id,
        }
    }

    /// Whether the peer speaks the extension protocol (BEP 10).
    pub fn supports_extensions(&self) -> bool {
        self.reserved[5] & 0x10 != 0
    }

    /// Whether the peer speaks the fast extension (BEP 6).
    pub fn supports_fast(&self) -> bool {
        self.reserved[7] & 0x04 != 0
    }

    /// The 68 bytes.
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved);
        out[28..48].copy_from_slice(&self.info_hash.0);
        out[48..].copy_from_slice(&self.peer_id);
        out
    }

    /// Whether the first bytes received can still begin a handshake (so that a
    /// connection sending anything else is closed at its first wrong byte, not
    /// after a deadline).
    pub fn could_begin(first: &[u8]) -> bool {
        let n = first.len().min(PROTOCOL.len());
        first[..n] == PROTOCOL[..n]
    }

    /// Parses the first 68 bytes; `None` if they are not a BitTorrent handshake.
    pub fn decode(bytes: &[u8]) -> Option<Handshake> {
        let b = bytes.get(..HANDSHAKE_LEN)?;
        if &b[..20] != PROTOCOL {
            return None;
        }
        Some(Handshake {
            reserved: b[20..28].try_into().expect("8 bytes"),
            info_hash: InfoHash(b[28..48].try_into().expect("20 bytes")),
            peer_id: b[48..].try_into().expect("20 bytes"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bits() {
        let h = Handshake::new(InfoHash([7; 20]), [9; 20]);
        let bytes = h.encode();
        let back = Handshake::decode(&bytes).unwrap();
        assert!((0..=HANDSHAKE_LEN).all(|n| Handshake::could_begin(&bytes[..n])));
        assert!(!Handshake::could_begin(b"\x13BitTorrent protocoX"));
        assert!(!Handshake::could_begin(b"GET / HTTP/1.1"));
        assert_eq!(back, h);
        assert!(back.supports_extensions() && back.supports_fast());
        let mut plain = bytes;
        plain[20..28].fill(0);
        let p = Handshake::decode(&plain).unwrap();
        assert!(!p.supports_extensions() && !p.supports_fast());
        assert!(Handshake::decode(&bytes[..67]).is_none());
        let mut other = bytes;
        other[1] = b'X';
        assert!(Handshake::decode(&other).is_none());
    }
}
