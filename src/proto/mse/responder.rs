//! The answering side (B) of the handshake.

use super::initiator::len16;
use super::*;

/// Where the answerer is.
#[derive(Debug)]
enum Stage {
    /// Waiting for `Ya`.
    PublicKey,
    /// Searching `PadA` for `HASH("req1", S)`, which is `marker`.
    Sync { marker: [u8; 20] },
    /// Reading the obfuscated info-hash.
    Skey,
    /// Reading `VC`, `crypto_provide` and `len(PadC)`.
    Provide,
    /// Skipping `PadC`, then reading `len(IA)`.
    Pad { len: usize, provide: u32 },
    /// Reading `IA`.
    Payload { len: usize, provide: u32 },
}

/// A handshake a dialler started on a connection we accepted.
#[derive(Debug)]
pub struct Responder {
    keys: KeyPair,
    methods: Methods,
    pad_b: Vec<u8>,
    pad_d: Vec<u8>,
    buf: Vec<u8>,
    stage: Stage,
    secret: [u8; DH_LEN],
    skey: Option<InfoHash>,
    rx: Option<Cipher>,
    tx: Option<Cipher>,
}

impl Responder {
    /// An answerer accepting `methods`. `secret`: 20 random bytes; `pad_b`,
    /// `pad_d`: random paddings of at most [`MAX_PAD`] bytes.
    pub fn new(secret: [u8; 20], methods: Methods, pad_b: Vec<u8>, pad_d: Vec<u8>) -> Responder {
        debug_assert!(pad_b.len() <= MAX_PAD && pad_d.len() <= MAX_PAD);
        Responder {
            keys: KeyPair::new(secret),
            methods,
            pad_b,
            pad_d,
            buf: Vec::new(),
            stage: Stage::PublicKey,
            secret: [0; DH_LEN],
            skey: None,
            rx: None,
            tx: None,
        }
    }

    /// The torrent the dialler named, once its obfuscated info-hash is read.
    pub fn info_hash(&self) -> Option<InfoHash> {
        self.skey
    }

    /// Takes bytes read from the dialler; what to send goes to `out`. `torrent`
    /// maps `HASH("req2", info_hash)` to the info-hash, for the torrents served.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<u8>,
        torrent: &dyn Fn(&[u8; 20]) -> Option<InfoHash>,
    ) -> Result<Progress, MseError> {
        self.run(bytes, out, torrent, false)
    }

    /// Like [`Responder::feed`], but stops once the torrent is known (the router of
    /// accepted connections uses it to find the shard that owns the torrent, which
    /// then goes on with `feed`). `Ok(None)`: more bytes are needed.
    pub fn identify(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<u8>,
        torrent: &dyn Fn(&[u8; 20]) -> Option<InfoHash>,
    ) -> Result<Option<InfoHash>, MseError> {
        self.run(bytes, out, torrent, true)?;
        Ok(self.skey)
    }

    fn run(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<u8>,
        torrent: &dyn Fn(&[u8; 20]) -> Option<InfoHash>,
        stop_when_known: bool,
    ) -> Result<Progress, MseError> {
        self.buf.extend_from_slice(bytes);
        loop {
            if stop_when_known && self.skey.is_some() {
                return Ok(Progress::More);
            }
            match self.stage {
                Stage::PublicKey => {
                    if self.buf.len() < DH_LEN {
                        return Ok(Progress::More);
                    }
                    let ya: [u8; DH_LEN] = self.buf[..DH_LEN].try_into().expect("DH_LEN bytes");
                    self.buf.drain(..DH_LEN);
                    self.secret = self.keys.shared(&ya).ok_or(MseError::BadKey)?;
                    out.extend_from_slice(&self.keys.public);
                    out.extend_from_slice(&std::mem::take(&mut self.pad_b));
                    let marker = hash(&[b"req1", &self.secret]);
                    self.stage = Stage::Sync { marker };
                }
                Stage::Sync { marker } => match find(&self.buf, &marker, MAX_PAD) {
                    Some(at) => {
                        self.buf.drain(..at + marker.len());
                        self.stage = Stage::Skey;
                    }
                    None if self.buf.len() >= MAX_PAD + marker.len() => {
                        return Err(MseError::NoSync);
                    }
                    None => return Ok(Progress::More),
                },
                Stage::Skey => {
                    if self.buf.len() < 20 {
                        return Ok(Progress::More);
                    }
                    let seen: [u8; 20] = self.buf[..20].try_into().expect("20 bytes");
                    self.buf.drain(..20);
                    let req2 = xor(seen, hash(&[b"req3", &self.secret]));
                    let ih = torrent(&req2).ok_or(MseError::UnknownTorrent)?;
                    self.rx = Some(Cipher::new(b"keyA", &self.secret, &ih.0));
                    self.tx = Some(Cipher::new(b"keyB", &self.secret, &ih.0));
                    self.skey = Some(ih);
                    self.stage = Stage::Provide;
                }
                Stage::Provide => {
                    if self.buf.len() < 14 {
                        return Ok(Progress::More);
                    }
                    let head = take(&mut self.buf, 14, self.rx.as_mut().expect("set"));
                    if head[..8] != VC {
                        return Err(MseError::BadVc);
                    }
                    let provide = be32(&head[8..12]);
                    let len = be16(&head[12..]);
                    if len > MAX_PAD {
                        return Err(MseError::PadTooLong(len));
                    }
                    self.stage = Stage::Pad { len, provide };
                }
                Stage::Pad { len, provide } => {
                    if self.buf.len() < len + 2 {
                        return Ok(Progress::More);
                    }
                    let rest = take(&mut self.buf, len + 2, self.rx.as_mut().expect("set"));
                    let len = be16(&rest[len..]);
                    if len > MAX_IA {
                        return Err(MseError::PayloadTooLong(len));
                    }
                    self.stage = Stage::Payload { len, provide };
                }
                Stage::Payload { len, provide } => {
                    if self.buf.len() < len {
                        return Ok(Progress::More);
                    }
                    return self.finish(len, provide, out).map(Progress::Done);
                }
            }
        }
    }

    /// Step 4 and the payload that came with and after `IA`.
    fn finish(
        &mut self,
        ia_len: usize,
        provide: u32,
        out: &mut Vec<u8>,
    ) -> Result<Box<Established>, MseError> {
        let select = self
            .methods
            .choose(provide)
            .ok_or(MseError::NoCommonMethod(provide))?;
        let (mut rx, mut tx) = (self.rx.take().expect("set"), self.tx.take().expect("set"));
        let mut payload = take(&mut self.buf, ia_len, &mut rx);
        let mut rest = std::mem::take(&mut self.buf);
        let rc4 = select == CRYPTO_RC4;
        if rc4 {
            rx.apply(&mut rest);
        }
        payload.extend_from_slice(&rest);
        let mut step4 = Vec::with_capacity(14 + self.pad_d.len());
        step4.extend_from_slice(&VC);
        step4.extend_from_slice(&select.to_be_bytes());
        step4.extend_from_slice(&len16(self.pad_d.len()));
        step4.extend_from_slice(&self.pad_d);
        tx.apply(&mut step4);
        out.extend_from_slice(&step4);
        Ok(Box::new(Established {
            info_hash: self.skey.expect("known before the payload"),
            rc4,
            rx: rc4.then_some(rx),
            tx: rc4.then_some(tx),
            payload,
        }))
    }
}
