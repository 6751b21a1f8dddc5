//! The dialling side (A) of the handshake.

use super::*;

/// Where the dialler is.
#[derive(Debug)]
enum Stage {
    /// Waiting for `Yb`.
    PublicKey,
    /// Searching `PadB` for `ENCRYPT(VC)`, which is `marker`.
    Sync { marker: [u8; 8] },
    /// Reading `crypto_select` and `len(PadD)`.
    Select,
    /// Skipping `PadD`.
    Pad { len: usize, select: u32 },
}

/// A handshake we started on a connection we opened.
#[derive(Debug)]
pub struct Initiator {
    keys: KeyPair,
    skey: InfoHash,
    provide: u32,
    /// `PadC` and `IA`, sent with step 3.
    pad_c: Vec<u8>,
    ia: Vec<u8>,
    buf: Vec<u8>,
    stage: Stage,
    rx: Option<Cipher>,
    tx: Option<Cipher>,
}

impl Initiator {
    /// Starts a handshake for torrent `skey` offering `provide`
    /// ([`CRYPTO_PLAINTEXT`] | [`CRYPTO_RC4`]), with `ia` (our BitTorrent handshake)
    /// as initial payload. `secret`: 20 random bytes; `pad_a`, `pad_c`: random
    /// paddings of at most [`MAX_PAD`] bytes. Returns step 1, to send at once.
    pub fn start(
        secret: [u8; 20],
        skey: InfoHash,
        provide: u32,
        ia: Vec<u8>,
        pad_a: &[u8],
        pad_c: Vec<u8>,
    ) -> (Initiator, Vec<u8>) {
        debug_assert!(pad_a.len() <= MAX_PAD && pad_c.len() <= MAX_PAD);
        let keys = KeyPair::new(secret);
        let mut step1 = keys.public.to_vec();
        step1.extend_from_slice(pad_a);
        let me = Initiator {
            keys,
            skey,
            provide,
            pad_c,
            ia,
            buf: Vec::new(),
            stage: Stage::PublicKey,
            rx: None,
            tx: None,
        };
        (me, step1)
    }

    /// Takes bytes read from the other side; what to send goes to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<Progress, MseError> {
        self.buf.extend_from_slice(bytes);
        loop {
            match self.stage {
                Stage::PublicKey => {
                    if self.buf.len() < DH_LEN {
                        return Ok(Progress::More);
                    }
                    let yb: [u8; DH_LEN] = self.buf[..DH_LEN].try_into().expect("DH_LEN bytes");
                    self.buf.drain(..DH_LEN);
                    let s = self.keys.shared(&yb).ok_or(MseError::BadKey)?;
                    self.step3(&s, out);
                }
                Stage::Sync { marker } => match find(&self.buf, &marker, MAX_PAD) {
                    Some(at) => {
                        // PadB is in the clear; the marker is the stream's first bytes.
                        self.buf.drain(..at);
                        take(&mut self.buf, marker.len(), self.rx.as_mut().expect("set"));
                        self.stage = Stage::Select;
                    }
                    None if self.buf.len() >= MAX_PAD + marker.len() => {
                        return Err(MseError::NoSync);
                    }
                    None => return Ok(Progress::More),
                },
                Stage::Select => {
                    if self.buf.len() < 6 {
                        return Ok(Progress::More);
                    }
                    let head = take(&mut self.buf, 6, self.rx.as_mut().expect("set"));
                    let select = be32(&head[..4]);
                    if select & self.provide == 0 || select.count_ones() != 1 {
                        return Err(MseError::BadSelect(select));
                    }
                    let len = be16(&head[4..]);
                    if len > MAX_PAD {
                        return Err(MseError::PadTooLong(len));
                    }
                    self.stage = Stage::Pad { len, select };
                }
                Stage::Pad { len, select } => {
                    if self.buf.len() < len {
                        return Ok(Progress::More);
                    }
                    let mut rx = self.rx.take().expect("set");
                    take(&mut self.buf, len, &mut rx);
                    return Ok(Progress::Done(Box::new(self.finish(select, rx))));
                }
            }
        }
    }

    /// Step 3, once the secret is known; then the search for B's `ENCRYPT(VC)`.
    fn step3(&mut self, s: &[u8; DH_LEN], out: &mut Vec<u8>) {
        out.extend_from_slice(&hash(&[b"req1", s]));
        let req2 = hash(&[b"req2", &self.skey.0]);
        out.extend_from_slice(&xor(req2, hash(&[b"req3", s])));
        let mut tx = Cipher::new(b"keyA", s, &self.skey.0);
        let mut plain = Vec::with_capacity(16 + self.pad_c.len() + self.ia.len());
        plain.extend_from_slice(&VC);
        plain.extend_from_slice(&self.provide.to_be_bytes());
        plain.extend_from_slice(&len16(self.pad_c.len()));
        plain.extend_from_slice(&std::mem::take(&mut self.pad_c));
        plain.extend_from_slice(&len16(self.ia.len()));
        plain.extend_from_slice(&std::mem::take(&mut self.ia));
        tx.apply(&mut plain);
        out.extend_from_slice(&plain);
        let mut marker = VC;
        Cipher::new(b"keyB", s, &self.skey.0).apply(&mut marker);
        self.rx = Some(Cipher::new(b"keyB", s, &self.skey.0));
        self.tx = Some(tx);
        self.stage = Stage::Sync { marker };
    }

    fn finish(&mut self, select: u32, mut rx: Cipher) -> Established {
        let mut payload = std::mem::take(&mut self.buf);
        let rc4 = select == CRYPTO_RC4;
        if rc4 {
            rx.apply(&mut payload);
        }
        Established {
            info_hash: self.skey,
            rc4,
            rx: rc4.then_some(rx),
            tx: self.tx.take().filter(|_| rc4),
            payload,
        }
    }
}

/// A length field: two bytes, big-endian (callers keep lengths far below 64 KiB).
pub(super) fn len16(n: usize) -> [u8; 2] {
    u16::try_from(n).expect("lengths are bounded").to_be_bytes()
}
