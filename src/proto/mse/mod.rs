//! Message stream encryption (MSE, also called protocol encryption, PE): the
//! obfuscated handshake that hides a BitTorrent connection from traffic shapers,
//! sans IO. Both ends are state machines fed the bytes read and writing the
//! bytes to send; neither reads a clock (the caller's handshake deadline bounds
//! them in time).
//!
//! The exchange (A dials, B answers; `ENCRYPT` is A's or B's RC4 stream):
//! 1. A → B: `Ya`, `PadA`
//! 2. B → A: `Yb`, `PadB`
//! 3. A → B: `HASH("req1", S)`, `HASH("req2", SKEY) xor HASH("req3", S)`,
//!    `ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA))`, `ENCRYPT(IA)`
//! 4. B → A: `ENCRYPT(VC, crypto_select, len(PadD), PadD)`, then the payload
//!    stream: RC4 if `crypto_select` says so, else plaintext.
//!
//! `S` is the Diffie-Hellman secret, `SKEY` the torrent's info-hash (how B, who
//! may serve many torrents, learns which one without it crossing the wire in the
//! clear), `VC` eight zero bytes, `IA` A's first payload (its BitTorrent
//! handshake). Paddings are at most 512 bytes, so each side finds the other's
//! next message by searching a bounded window: a garbage handshake costs two
//! modular exponentiations and at most ~17 KiB of buffer ([`MAX_IA`]).

mod dh;

pub use dh::{Cipher, DH_LEN, KeyPair, hash};

use crate::types::InfoHash;

/// Longest padding either side may send.
pub const MAX_PAD: usize = 512;
/// `crypto_provide` / `crypto_select` bit: the payload stays in the clear.
pub const CRYPTO_PLAINTEXT: u32 = 0x01;
/// `crypto_provide` / `crypto_select` bit: the payload is RC4-encrypted.
pub const CRYPTO_RC4: u32 = 0x02;
/// Longest initial payload accepted from a dialler (a BitTorrent handshake is 68
/// bytes; some clients add their first messages).
pub const MAX_IA: usize = 16 * 1024;

const VC: [u8; 8] = [0; 8];

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MseError {
    /// The other side's public key is 0, 1, P-1 or not below P.
    #[error("public key out of range")]
    BadKey,
    /// No synchronisation marker where the padding limit says it must be.
    #[error("no synchronisation marker within 512 bytes of padding")]
    NoSync,
    /// The obfuscated info-hash names no torrent we have.
    #[error("no torrent of ours matches the obfuscated info-hash")]
    UnknownTorrent,
    /// The decrypted verification constant is not zero (wrong key).
    #[error("verification constant is not zero")]
    BadVc,
    /// A padding length above 512.
    #[error("padding of {0} bytes (at most 512)")]
    PadTooLong(usize),
    /// An initial payload above [`MAX_IA`].
    #[error("initial payload of {0} bytes (at most {MAX_IA})")]
    PayloadTooLong(usize),
    /// The methods offered and the ones we allow have nothing in common.
    #[error("no common method (offered {0:#x})")]
    NoCommonMethod(u32),
    /// The answer selected a method we did not offer, or several.
    #[error("selected method {0:#x} was not offered")]
    BadSelect(u32),
}

/// Which payload streams a side accepts, and which it picks when offered both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Methods {
    /// [`CRYPTO_PLAINTEXT`] and/or [`CRYPTO_RC4`].
    pub allow: u32,
    /// Pick RC4 when both are offered.
    pub prefer_rc4: bool,
}

impl Methods {
    /// The method to select from `provide`, if any.
    pub fn choose(self, provide: u32) -> Option<u32> {
        let both = provide & self.allow;
        if both & CRYPTO_RC4 != 0 && (self.prefer_rc4 || both & CRYPTO_PLAINTEXT == 0) {
            Some(CRYPTO_RC4)
        } else if both & CRYPTO_PLAINTEXT != 0 {
            Some(CRYPTO_PLAINTEXT)
        } else {
            None
        }
    }
}

/// A finished handshake.
#[derive(Debug)]
pub struct Established {
    /// The torrent (`SKEY`).
    pub info_hash: InfoHash,
    /// Whether the payload is RC4-encrypted (else plaintext after the handshake).
    pub rc4: bool,
    /// Decrypts what the other side sends next (`None`: plaintext).
    pub rx: Option<Cipher>,
    /// Encrypts what we send next (`None`: plaintext).
    pub tx: Option<Cipher>,
    /// The payload received after the handshake, in the clear.
    pub payload: Vec<u8>,
}

/// What feeding a handshake led to.
#[derive(Debug)]
pub enum Progress {
    /// More bytes are needed.
    More,
    /// The handshake is over.
    Done(Box<Established>),
}

/// `a xor b`.
fn xor(a: [u8; 20], b: [u8; 20]) -> [u8; 20] {
    core::array::from_fn(|i| a[i] ^ b[i])
}

/// Where `needle` starts in `hay` at or before `max_start`.
fn find(hay: &[u8], needle: &[u8], max_start: usize) -> Option<usize> {
    hay.windows(needle.len())
        .take(max_start + 1)
        .position(|w| w == needle)
}

/// Takes the first `n` bytes of `buf`, decrypted with `c`.
fn take(buf: &mut Vec<u8>, n: usize, c: &mut Cipher) -> Vec<u8> {
    let mut head: Vec<u8> = buf.drain(..n).collect();
    c.apply(&mut head);
    head
}

fn be16(b: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([b[0], b[1]]))
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

mod initiator;
mod responder;

pub use initiator::Initiator;
pub use responder::Responder;

#[cfg(test)]
mod tests;
