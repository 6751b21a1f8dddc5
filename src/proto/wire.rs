//! BEP 3, BEP 6 and BEP 52 messages, and the incremental decoder.

/// A block request (also the payload of cancel and reject).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRequest {
    /// Piece index.
    pub piece: u32,
    /// Offset inside the piece.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
}

/// A range of one file's merkle tree (BEP 52): the payload of hash request,
/// hashes (before the hashes) and hash reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashRange {
    /// The file's `pieces root`.
    pub pieces_root: [u8; 32],
    /// The layer of the hashes asked for: 0 is the 16 KiB blocks'.
    pub base: u32,
    /// The first hash's position in that layer.
    pub index: u32,
    /// How many hashes.
    pub count: u32,
    /// How many layers above `base` the proof reaches (see
    /// `crate::hash::merkle::LayerTree::answer`).
    pub proof_layers: u32,
}

impl HashRange {
    /// Bytes of the payload.
    pub const LEN: usize = 48;

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.pieces_root);
        for n in [self.base, self.index, self.count, self.proof_layers] {
            out.extend_from_slice(&n.to_be_bytes());
        }
    }

    fn decode(p: &[u8]) -> HashRange {
        let n =
            |i: usize| u32::from_be_bytes(p[32 + 4 * i..36 + 4 * i].try_into().expect("4 bytes"));
        HashRange {
            pieces_root: p[..32].try_into().expect("32 bytes"),
            base: n(0),
            index: n(1),
            count: n(2),
            proof_layers: n(3),
        }
    }
}

/// A peer wire message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Zero-length message.
    KeepAlive,
    /// id 0
    Choke,
    /// id 1
    Unchoke,
    /// id 2
    Interested,
    /// id 3
    NotInterested,
    /// id 4
    Have(u32),
    /// id 5: raw bitfield bytes, high bit first.
    Bitfield(Vec<u8>),
    /// id 6
    Request(BlockRequest),
    /// id 7
    Piece {
        /// Piece index.
        piece: u32,
        /// Offset inside the piece.
        offset: u32,
        /// The block's bytes.
        data: Vec<u8>,
    },
    /// id 8
    Cancel(BlockRequest),
    /// id 9: DHT port.
    Port(u16),
    /// id 13 (BEP 6)
    Suggest(u32),
    /// id 14 (BEP 6)
    HaveAll,
    /// id 15 (BEP 6)
    HaveNone,
    /// id 16 (BEP 6)
    Reject(BlockRequest),
    /// id 17 (BEP 6)
    AllowedFast(u32),
    /// id 21 (BEP 52): hash request.
    HashRequest(HashRange),
    /// id 22 (BEP 52): the hashes of a range, then its proof.
    Hashes {
        /// What they answer.
        range: HashRange,
        /// The range's hashes followed by the proof's.
        hashes: Vec<[u8; 32]>,
    },
    /// id 23 (BEP 52): hash reject.
    HashReject(HashRange),
    /// id 20 (BEP 10): extended message id and its payload.
    Extended {
        /// 0 is the extension handshake; others as the receiver's `m` dictionary says.
        id: u8,
        /// The payload.
        payload: Vec<u8>,
    },
}

/// Bytes before a `piece` message's block of `len` bytes (length prefix, id,
/// index, offset): what goes out ahead of a block sent straight from a file.
pub fn piece_head(piece: u32, offset: u32, len: u32) -> [u8; PIECE_HEAD] {
    let mut h = [0; PIECE_HEAD];
    h[..4].copy_from_slice(&(len + 9).to_be_bytes());
    h[4] = 7;
    h[5..9].copy_from_slice(&piece.to_be_bytes());
    h[9..].copy_from_slice(&offset.to_be_bytes());
    h
}

/// Length of a `piece` message's head.
pub const PIECE_HEAD: usize = 13;

impl Message {
    /// Appends the message, length prefix included, to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        fn header(out: &mut Vec<u8>, len: usize, id: u8) {
            let len = u32::try_from(len + 1).expect("messages are far below 4 GiB");
            out.extend_from_slice(&len.to_be_bytes());
            out.push(id);
        }
        fn req(out: &mut Vec<u8>, id: u8, r: &BlockRequest) {
            header(out, 12, id);
            out.extend_from_slice(&r.piece.to_be_bytes());
            out.extend_from_slice(&r.offset.to_be_bytes());
            out.extend_from_slice(&r.len.to_be_bytes());
        }
        fn index(out: &mut Vec<u8>, id: u8, i: u32) {
            header(out, 4, id);
            out.extend_from_slice(&i.to_be_bytes());
        }
        match self {
            Message::KeepAlive => out.extend_from_slice(&[0; 4]),
            Message::Choke => header(out, 0, 0),
            Message::Unchoke => header(out, 0, 1),
            Message::Interested => header(out, 0, 2),
            Message::NotInterested => header(out, 0, 3),
            Message::Have(i) => index(out, 4, *i),
            Message::Bitfield(b) => {
                header(out, b.len(), 5);
                out.extend_from_slice(b);
            }
            Message::Request(r) => req(out, 6, r),
            Message::Piece {
                piece,
                offset,
                data,
            } => {
                let len = u32::try_from(data.len()).expect("blocks are far below 4 GiB");
                out.extend_from_slice(&piece_head(*piece, *offset, len));
                out.extend_from_slice(data);
            }
            Message::Cancel(r) => req(out, 8, r),
            Message::Port(p) => {
                header(out, 2, 9);
                out.extend_from_slice(&p.to_be_bytes());
            }
            Message::Suggest(i) => index(out, 13, *i),
            Message::HaveAll => header(out, 0, 14),
            Message::HaveNone => header(out, 0, 15),
            Message::Reject(r) => req(out, 16, r),
            Message::AllowedFast(i) => index(out, 17, *i),
            Message::Extended { id, payload } => {
                header(out, 1 + payload.len(), 20);
                out.push(*id);
                out.extend_from_slice(payload);
            }
            Message::HashRequest(r) => {
                header(out, HashRange::LEN, 21);
                r.encode_into(out);
            }
            Message::Hashes { range, hashes } => {
                header(out, HashRange::LEN + 32 * hashes.len(), 22);
                range.encode_into(out);
                for h in hashes {
                    out.extend_from_slice(h);
                }
            }
            Message::HashReject(r) => {
                header(out, HashRange::LEN, 23);
                r.encode_into(out);
            }
        }
    }

    /// The message as bytes, length prefix included.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_into(&mut v);
        v
    }
}

/// Why the byte stream from a peer is unacceptable. Any of these closes the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A length prefix larger than any legal message.
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    TooLong {
        /// The announced length.
        len: u32,
        /// The limit.
        max: u32,
    },
    /// An id this decoder does not know.
    #[error("unknown message id {0}")]
    UnknownId(u8),
    /// A message whose length does not fit its id.
    #[error("message id {id} with bad length {len}")]
    BadLength {
        /// The id.
        id: u8,
        /// The payload length.
        len: u32,
    },
    /// A fast-extension or extended message although the handshake did not offer it.
    #[error("message id {0} was not negotiated")]
    NotNegotiated(u8),
}

/// A message read in place by [`MessageDecoder::next_in`]: a block's bytes lent
/// from what was received, anything else owned.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// id 7, its bytes not copied.
    Block {
        /// Piece index.
        piece: u32,
        /// Offset inside the piece.
        offset: u32,
        /// The block's bytes.
        data: &'a [u8],
    },
    /// Any other message, or a block completed from bytes kept between reads.
    Message(Message),
}

impl Frame<'_> {
    /// The message, owning its bytes.
    pub fn into_message(self) -> Message {
        match self {
            Frame::Block {
                piece,
                offset,
                data,
            } => Message::Piece {
                piece,
                offset,
                data: data.to_vec(),
            },
            Frame::Message(m) => m,
        }
    }
}

/// Splits a peer's byte stream into messages. Bytes may arrive in any chunking; the
/// buffer is reused between messages, never reallocated per message.
#[derive(Debug)]
pub struct MessageDecoder {
    buf: Vec<u8>,
    start: usize,
    max_len: u32,
    fast: bool,
    extended: bool,
}

/// The largest block we send or accept: 16 KiB.
pub const MAX_BLOCK: u32 = 16 * 1024;

impl MessageDecoder {
    /// A decoder that accepts messages up to `max_len` bytes (after the prefix), and
    /// fast/extended messages only if negotiated.
    pub fn new(max_len: u32, fast: bool, extended: bool) -> MessageDecoder {
        MessageDecoder {
            buf: Vec::new(),
            start: 0,
            max_len: max_len.max(MAX_BLOCK + 9),
            fast,
            extended,
        }
    }

    /// Raises the limit (a bitfield for a torrent with many pieces).
    pub fn set_max_len(&mut self, max_len: u32) {
        self.max_len = max_len.max(MAX_BLOCK + 9);
    }

    /// Appends bytes received from the peer.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet consumed (for handing leftovers on).
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The next whole message, `Ok(None)` if more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Message>, DecodeError> {
        let Some((frame, used)) = self.frame_in(&self.buf[self.start..])? else {
            return Ok(None);
        };
        let msg = frame.into_message();
        self.start += used;
        Ok(Some(msg))
    }

    /// The next whole message of `incoming` read in place (a block's bytes
    /// lent, not copied), `incoming` moved past it. A message begun by earlier
    /// bytes is completed from `incoming` first and comes whole. What is left
    /// of a message that `incoming` does not complete is kept for the next
    /// call; then `Ok(None)`, with `incoming` empty.
    pub fn next_in<'a>(
        &mut self,
        incoming: &mut &'a [u8],
    ) -> Result<Option<Frame<'a>>, DecodeError> {
        if self.start < self.buf.len() {
            self.complete_from(incoming);
            let msg = self.next_message()?;
            if self.start == self.buf.len() {
                self.buf.clear();
                self.start = 0;
            }
            return Ok(msg.map(Frame::Message));
        }
        self.buf.clear();
        self.start = 0;
        let input: &'a [u8] = incoming;
        match self.frame_in(input)? {
            Some((frame, used)) => {
                *incoming = &input[used..];
                Ok(Some(frame))
            }
            None => {
                self.buf.extend_from_slice(input);
                *incoming = &[];
                Ok(None)
            }
        }
    }

    /// Moves from `incoming` to the buffer what the message begun there
    /// still lacks (its length first, then its body), and no more.
    fn complete_from(&mut self, incoming: &mut &[u8]) {
        let mut take = |buf: &mut Vec<u8>, want: usize| {
            let n = want.min(incoming.len());
            buf.extend_from_slice(&incoming[..n]);
            *incoming = &incoming[n..];
        };
        let have = self.buf.len() - self.start;
        if have < 4 {
            take(&mut self.buf, 4 - have);
        }
        let Some(prefix) = self.buf.get(self.start..self.start + 4) else {
            return;
        };
        let len = u32::from_be_bytes(prefix.try_into().expect("4 bytes"));
        if len > self.max_len {
            return; // refused by `next_message`
        }
        let have = self.buf.len() - self.start;
        take(&mut self.buf, 4 + len as usize - have);
    }

    /// The whole message at the front of `avail` and its size with its length
    /// prefix, `Ok(None)` if `avail` holds only part of it.
    fn frame_in<'a>(&self, avail: &'a [u8]) -> Result<Option<(Frame<'a>, usize)>, DecodeError> {
        let Some(prefix) = avail.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(prefix.try_into().expect("4 bytes"));
        if len > self.max_len {
            return Err(DecodeError::TooLong {
                len,
                max: self.max_len,
            });
        }
        let total = 4 + len as usize;
        let Some(body) = avail.get(4..total) else {
            return Ok(None);
        };
        Ok(Some((self.parse(body)?, total)))
    }

    fn parse<'a>(&self, body: &'a [u8]) -> Result<Frame<'a>, DecodeError> {
        let Some((&id, p)) = body.split_first() else {
            return Ok(Frame::Message(Message::KeepAlive));
        };
        let len = u32::try_from(p.len()).expect("bounded by max_len");
        let bad = || DecodeError::BadLength { id, len };
        let u32_at = |i: usize| u32::from_be_bytes(p[i..i + 4].try_into().expect("4 bytes"));
        let fixed = |n: usize| if p.len() == n { Ok(()) } else { Err(bad()) };
        let request = || -> Result<BlockRequest, DecodeError> {
            fixed(12)?;
            Ok(BlockRequest {
                piece: u32_at(0),
                offset: u32_at(4),
                len: u32_at(8),
            })
        };
        let needs_fast = matches!(id, 13..=17);
        if (needs_fast && !self.fast) || (id == 20 && !self.extended) {
            return Err(DecodeError::NotNegotiated(id));
        }
        if id == 7 {
            if p.len() < 8 || p.len() - 8 > MAX_BLOCK as usize {
                return Err(bad());
            }
            return Ok(Frame::Block {
                piece: u32_at(0),
                offset: u32_at(4),
                data: &p[8..],
            });
        }
        Ok(Frame::Message(match id {
            0 => fixed(0).map(|()| Message::Choke)?,
            1 => fixed(0).map(|()| Message::Unchoke)?,
            2 => fixed(0).map(|()| Message::Interested)?,
            3 => fixed(0).map(|()| Message::NotInterested)?,
            4 => fixed(4).map(|()| Message::Have(u32_at(0)))?,
            5 => Message::Bitfield(p.to_vec()),
            6 => Message::Request(request()?),
            8 => Message::Cancel(request()?),
            9 => {
                fixed(2)?;
                Message::Port(u16::from_be_bytes([p[0], p[1]]))
            }
            13 => fixed(4).map(|()| Message::Suggest(u32_at(0)))?,
            14 => fixed(0).map(|()| Message::HaveAll)?,
            15 => fixed(0).map(|()| Message::HaveNone)?,
            16 => Message::Reject(request()?),
            17 => fixed(4).map(|()| Message::AllowedFast(u32_at(0)))?,
            20 => {
                let (&ext, payload) = p.split_first().ok_or_else(bad)?;
                Message::Extended {
                    id: ext,
                    payload: payload.to_vec(),
                }
            }
            21 => fixed(HashRange::LEN).map(|()| Message::HashRequest(HashRange::decode(p)))?,
            22 => {
                let hashes = p.get(HashRange::LEN..).ok_or_else(bad)?;
                if hashes.len() % 32 != 0 {
                    return Err(bad());
                }
                Message::Hashes {
                    range: HashRange::decode(p),
                    hashes: hashes
                        .chunks_exact(32)
                        .map(|c| c.try_into().expect("32 bytes"))
                        .collect(),
                }
            }
            23 => fixed(HashRange::LEN).map(|()| Message::HashReject(HashRange::decode(p)))?,
            other => return Err(DecodeError::UnknownId(other)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all_kinds() -> Vec<Message> {
        let r = BlockRequest {
            piece: 3,
            offset: 16384,
            len: 16384,
        };
        let h = HashRange {
            pieces_root: [7; 32],
            base: 2,
            index: 4,
            count: 2,
            proof_layers: 1,
        };
        vec![
            Message::KeepAlive,
            Message::Choke,
            Message::Unchoke,
            Message::Interested,
            Message::NotInterested,
            Message::Have(77),
            Message::Bitfield(vec![0xff, 0x80]),
            Message::Request(r),
            Message::Piece {
                piece: 1,
                offset: 0,
                data: vec![5; 16384],
            },
            Message::Cancel(r),
            Message::Port(6881),
            Message::Suggest(2),
            Message::HaveAll,
            Message::HaveNone,
            Message::Reject(r),
            Message::AllowedFast(9),
            Message::Extended {
                id: 0,
                payload: b"d1:md11:ut_metadatai1eee".to_vec(),
            },
            Message::HashRequest(h),
            Message::Hashes {
                range: h,
                hashes: vec![[1; 32], [2; 32], [3; 32]],
            },
            Message::HashReject(h),
        ]
    }

    #[test]
    fn every_message_round_trips_byte_by_byte() {
        let msgs = all_kinds();
        let mut stream = Vec::new();
        for m in &msgs {
            m.encode_into(&mut stream);
        }
        let mut d = MessageDecoder::new(0, true, true);
        let mut got = Vec::new();
        for b in &stream {
            d.feed(std::slice::from_ref(b));
            while let Some(m) = d.next_message().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, msgs);
        assert!(d.pending().is_empty());
    }

    #[test]
    fn messages_read_in_place_come_whole_at_any_split_and_blocks_are_lent() {
        let msgs = all_kinds();
        let mut stream = Vec::new();
        let mut block = 0..0;
        for m in &msgs {
            let start = stream.len();
            m.encode_into(&mut stream);
            if matches!(m, Message::Piece { .. }) {
                block = start..stream.len();
            }
        }
        for cut in 0..=stream.len() {
            let mut d = MessageDecoder::new(0, true, true);
            let (mut got, mut lent) = (Vec::new(), 0);
            for part in [&stream[..cut], &stream[cut..]] {
                let mut input = part;
                while let Some(frame) = d.next_in(&mut input).unwrap() {
                    if let Frame::Block { data, .. } = &frame {
                        // Lent from the part that came, not copied.
                        assert!(part.as_ptr_range().contains(&data.as_ptr()));
                        lent += 1;
                    }
                    got.push(frame.into_message());
                }
                assert!(input.is_empty());
            }
            assert_eq!(got, msgs, "cut at {cut}");
            assert!(d.pending().is_empty());
            // The one block is lent unless the cut falls inside it.
            let inside = block.start < cut && cut < block.end;
            assert_eq!(lent, usize::from(!inside), "cut at {cut}");
        }
        // Byte by byte, nothing is lent and everything still comes.
        let mut d = MessageDecoder::new(0, true, true);
        let mut got = Vec::new();
        for b in &stream {
            let mut input = std::slice::from_ref(b);
            while let Some(frame) = d.next_in(&mut input).unwrap() {
                assert!(matches!(frame, Frame::Message(_)));
                got.push(frame.into_message());
            }
        }
        assert_eq!(got, msgs);
    }

    #[test]
    fn oversized_prefix_is_refused_before_buffering() {
        let mut d = MessageDecoder::new(0, true, true);
        d.feed(&[0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(d.next_message(), Err(DecodeError::TooLong { .. })));
        // A piece message bigger than a block is refused too.
        let mut big = Message::Piece {
            piece: 0,
            offset: 0,
            data: vec![0; 16385],
        }
        .encode();
        let mut d = MessageDecoder::new(1 << 20, true, true);
        d.feed(&big);
        assert!(matches!(
            d.next_message(),
            Err(DecodeError::BadLength { id: 7, .. })
        ));
        big.truncate(4);
    }

    #[test]
    fn unknown_and_malformed_messages_are_errors() {
        let mut d = MessageDecoder::new(0, true, true);
        d.feed(&[0, 0, 0, 1, 99]);
        assert_eq!(d.next_message(), Err(DecodeError::UnknownId(99)));
        let mut d = MessageDecoder::new(0, true, true);
        d.feed(&[0, 0, 0, 3, 4, 0, 0]); // have with 2 bytes
        assert!(matches!(
            d.next_message(),
            Err(DecodeError::BadLength { id: 4, .. })
        ));
        // Hashes whose payload is not a whole number of hashes after its range.
        let mut d = MessageDecoder::new(0, true, true);
        let mut m = vec![0, 0, 0, 50, 22];
        m.extend_from_slice(&[0; 49]);
        d.feed(&m);
        assert!(matches!(
            d.next_message(),
            Err(DecodeError::BadLength { id: 22, .. })
        ));
        let mut d = MessageDecoder::new(0, true, true);
        d.feed(&[0, 0, 0, 2, 1, 0]); // unchoke with a payload
        assert!(matches!(
            d.next_message(),
            Err(DecodeError::BadLength { id: 1, .. })
        ));
    }

    #[test]
    fn unnegotiated_extensions_are_errors() {
        let mut d = MessageDecoder::new(0, false, false);
        d.feed(&Message::HaveAll.encode());
        assert_eq!(d.next_message(), Err(DecodeError::NotNegotiated(14)));
        let mut d = MessageDecoder::new(0, false, false);
        d.feed(
            &Message::Extended {
                id: 0,
                payload: vec![],
            }
            .encode(),
        );
        assert_eq!(d.next_message(), Err(DecodeError::NotNegotiated(20)));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..20)) {
            let mut d = MessageDecoder::new(1000, true, true);
            for c in chunks {
                d.feed(&c);
                while let Ok(Some(_)) = d.next_message() {}
            }
        }

        #[test]
        fn requests_round_trip(piece in any::<u32>(), offset in any::<u32>(), len in any::<u32>()) {
            let m = Message::Request(BlockRequest { piece, offset, len });
            let mut d = MessageDecoder::new(0, false, false);
            d.feed(&m.encode());
            prop_assert_eq!(d.next_message().unwrap(), Some(m));
        }
    }
}
