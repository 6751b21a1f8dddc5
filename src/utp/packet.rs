//! uTP packets (BEP 29): a 20-byte header, an optional chain of extensions (only
//! selective ACK is read; others are skipped), then the payload.

/// What a packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Payload.
    Data = 0,
    /// The end of the sender's stream (takes a sequence number).
    Fin = 1,
    /// An acknowledgement without payload (takes no sequence number).
    State = 2,
    /// The connection is gone.
    Reset = 3,
    /// Opens a connection.
    Syn = 4,
}

/// The fixed header's length.
pub const HEADER: usize = 20;

/// The most selective-ACK bytes read or sent (32 packets past the first gap:
/// the receive side never holds more out of order, see `conn`).
pub const MAX_SACK: usize = 8;

/// A decoded header (and the selective ACK, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Packet type.
    pub kind: Kind,
    /// The receiver's connection id for this packet.
    pub conn_id: u16,
    /// The sender's clock when sent, in microseconds (wrapping).
    pub timestamp: u32,
    /// The sender's last measured delay from us to it, in microseconds.
    pub timestamp_diff: u32,
    /// Bytes the sender can still take.
    pub wnd_size: u32,
    /// This packet's sequence number.
    pub seq_nr: u16,
    /// The last packet the sender received in order.
    pub ack_nr: u16,
    /// Bit `i` (of byte `i / 8`, least significant first): packet `ack_nr + 2 + i`
    /// was received. Empty without the extension.
    pub sack: Vec<u8>,
}

/// Why a datagram is not a uTP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than its header or its extensions say.
    #[error("truncated uTP packet")]
    Truncated,
    /// Not version 1, or an unknown type.
    #[error("not a uTP version 1 packet")]
    NotUtp,
}

impl Kind {
    fn from_nibble(n: u8) -> Option<Kind> {
        Some(match n {
            0 => Kind::Data,
            1 => Kind::Fin,
            2 => Kind::State,
            3 => Kind::Reset,
            4 => Kind::Syn,
            _ => return None,
        })
    }
}

impl Header {
    /// Decodes a datagram: the header and the payload after it.
    pub fn decode(b: &[u8]) -> Result<(Header, &[u8]), PacketError> {
        if b.len() < HEADER {
            return Err(PacketError::Truncated);
        }
        if b[0] & 0x0f != 1 {
            return Err(PacketError::NotUtp);
        }
        let kind = Kind::from_nibble(b[0] >> 4).ok_or(PacketError::NotUtp)?;
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut h = Header {
            kind,
            conn_id: u16_at(2),
            timestamp: u32_at(4),
            timestamp_diff: u32_at(8),
            wnd_size: u32_at(12),
            seq_nr: u16_at(16),
            ack_nr: u16_at(18),
            sack: Vec::new(),
        };
        let mut next = b[1];
        let mut at = HEADER;
        while next != 0 {
            let (&ext_next, &len) = (
                b.get(at).ok_or(PacketError::Truncated)?,
                b.get(at + 1).ok_or(PacketError::Truncated)?,
            );
            let len = usize::from(len);
            let body = b.get(at + 2..at + 2 + len).ok_or(PacketError::Truncated)?;
            if next == 1 {
                // BEP 29 asks for a multiple of 4 bytes, but libtorrent sends
                // as many as its bits need (6, 10, 11 seen): any length is
                // read. Only the first MAX_SACK bytes matter to us.
                h.sack = body[..len.min(MAX_SACK)].to_vec();
            }
            next = ext_next;
            at += 2 + len;
        }
        Ok((h, &b[at..]))
    }

    /// Appends the header (with its selective ACK, if any) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(((self.kind as u8) << 4) | 1);
        out.push(u8::from(!self.sack.is_empty()));
        out.extend_from_slice(&self.conn_id.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.timestamp_diff.to_be_bytes());
        out.extend_from_slice(&self.wnd_size.to_be_bytes());
        out.extend_from_slice(&self.seq_nr.to_be_bytes());
        out.extend_from_slice(&self.ack_nr.to_be_bytes());
        if !self.sack.is_empty() {
            out.push(0);
            out.push(u8::try_from(self.sack.len()).expect("at most MAX_SACK"));
            out.extend_from_slice(&self.sack);
        }
    }
}

/// Whether sequence number `a` comes before `b` (within half the space).
pub fn seq_before(a: u16, b: u16) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(sack: Vec<u8>) -> Header {
        Header {
            kind: Kind::Data,
            conn_id: 0xbeef,
            timestamp: 1,
            timestamp_diff: 2,
            wnd_size: 3,
            seq_nr: 0xfffe,
            ack_nr: 7,
            sack,
        }
    }

    #[test]
    fn headers_round_trip_with_and_without_a_selective_ack() {
        for sack in [vec![], vec![0b101, 0, 0, 0x80]] {
            let h = header(sack);
            let mut b = Vec::new();
            h.encode(&mut b);
            b.extend_from_slice(b"payload");
            let (back, payload) = Header::decode(&b).unwrap();
            assert_eq!(back, h);
            assert_eq!(payload, b"payload");
        }
    }

    #[test]
    fn unknown_extensions_are_skipped_a_selective_ack_of_any_length_read_and_bad_packets_refused() {
        let mut b = Vec::new();
        header(vec![]).encode(&mut b);
        b[1] = 9; // an unknown extension of 3 bytes, then a selective ACK
        b.extend_from_slice(&[1, 3, 0xaa, 0xbb, 0xcc, 0, 4, 1, 0, 0, 0, b'x']);
        let (h, payload) = Header::decode(&b).unwrap();
        assert_eq!(h.sack, [1, 0, 0, 0]);
        assert_eq!(payload, b"x");
        // A selective ACK of a length not a multiple of 4 (libtorrent sends
        // them) is read; an empty one is none.
        for (len, want) in [
            (3, &[1, 2, 3][..]),
            (10, &[1, 2, 3, 4, 5, 6, 7, 8]),
            (0, &[]),
        ] {
            let mut odd = b[..HEADER].to_vec();
            odd[1] = 1;
            odd.extend_from_slice(&[0, len]);
            odd.extend(1..=len);
            odd.push(b'y');
            let (h, payload) = Header::decode(&odd).unwrap();
            assert_eq!((&h.sack[..], payload), (want, &b"y"[..]));
        }
        // A chain running past the end, a wrong version.
        assert_eq!(Header::decode(&b[..22]), Err(PacketError::Truncated));
        let mut v2 = b.clone();
        v2[0] = 0x02;
        assert_eq!(Header::decode(&v2), Err(PacketError::NotUtp));
        assert_eq!(Header::decode(&[1; 19]), Err(PacketError::Truncated));
    }

    #[test]
    fn sequence_numbers_compare_across_the_wrap() {
        assert!(seq_before(0xfffe, 1));
        assert!(!seq_before(1, 0xfffe));
        assert!(seq_before(1, 2) && !seq_before(2, 2));
    }
}
