//! The key exchange and stream keys of message stream encryption: 768-bit
//! Diffie-Hellman over the spec's prime with generator 2, and the RC4 streams
//! derived from the shared secret and the torrent's info-hash (SKEY).

use num_bigint::BigUint;
use rc4::{KeyInit, Rc4, StreamCipher};
use sha1::{Digest, Sha1};

/// Bytes of a public key and of the shared secret (768 bits, big-endian).
pub const DH_LEN: usize = 96;

/// The spec's prime (the 768-bit MODP prime of RFC 2409, group 1).
const PRIME_HEX: &[u8] = b"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74\
020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437\
4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563";

fn prime() -> BigUint {
    BigUint::parse_bytes(PRIME_HEX, 16).expect("the prime is valid hex")
}

/// Big-endian, left-padded with zeros to [`DH_LEN`] bytes.
fn fixed(n: &BigUint) -> [u8; DH_LEN] {
    let b = n.to_bytes_be();
    let mut out = [0u8; DH_LEN];
    out[DH_LEN - b.len()..].copy_from_slice(&b);
    out
}

/// One side's key pair: a 160-bit private key (as the spec recommends) and its
/// public key `2^x mod P`.
pub struct KeyPair {
    private: BigUint,
    /// What is sent to the other side.
    pub public: [u8; DH_LEN],
}

impl core::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("KeyPair { .. }")
    }
}

impl KeyPair {
    /// A key pair from 20 secret random bytes.
    pub fn new(secret: [u8; 20]) -> KeyPair {
        let private = BigUint::from_bytes_be(&secret);
        let public = fixed(&BigUint::from(2u32).modpow(&private, &prime()));
        KeyPair { private, public }
    }

    /// The shared secret with the other side's public key; `None` for a public key
    /// outside `2..P-1` (0, 1 and P-1 would make the secret guessable).
    pub fn shared(&self, theirs: &[u8; DH_LEN]) -> Option<[u8; DH_LEN]> {
        let p = prime();
        let y = BigUint::from_bytes_be(theirs);
        if y <= BigUint::from(1u32) || y >= &p - 1u32 {
            return None;
        }
        Some(fixed(&y.modpow(&self.private, &p)))
    }
}

/// SHA-1 over the concatenation of `parts`.
pub fn hash(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// One direction's RC4 stream, its first 1,024 bytes already discarded as the
/// spec asks.
pub struct Cipher(Rc4);

impl core::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Cipher { .. }")
    }
}

impl Cipher {
    /// The stream keyed `SHA1(label, S, SKEY)`; `label` is `keyA` (what the
    /// initiator sends) or `keyB` (what the responder sends).
    pub fn new(label: &[u8; 4], secret: &[u8; DH_LEN], skey: &[u8; 20]) -> Cipher {
        let key = hash(&[label, secret, skey]);
        let mut rc4 = Rc4::new_from_slice(&key).expect("a 20-byte key is valid");
        let mut discard = [0u8; 1024];
        rc4.apply_keystream(&mut discard);
        Cipher(rc4)
    }

    /// Encrypts or decrypts `buf` in place (the same operation).
    pub fn apply(&mut self, buf: &mut [u8]) {
        self.0.apply_keystream(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_find_the_same_secret() {
        let a = KeyPair::new([7; 20]);
        let b = KeyPair::new([9; 20]);
        let s1 = a.shared(&b.public).unwrap();
        let s2 = b.shared(&a.public).unwrap();
        assert_eq!(s1, s2);
        assert_ne!(s1, [0; DH_LEN]);
        assert_eq!(PRIME_HEX.len(), 2 * DH_LEN);
    }

    #[test]
    fn degenerate_public_keys_are_refused() {
        let a = KeyPair::new([7; 20]);
        let mut one = [0u8; DH_LEN];
        one[DH_LEN - 1] = 1;
        assert!(a.shared(&one).is_none());
        assert!(a.shared(&[0; DH_LEN]).is_none());
        assert!(a.shared(&fixed(&(prime() - 1u32))).is_none());
        assert!(a.shared(&[0xff; DH_LEN]).is_none());
    }

    #[test]
    fn a_stream_decrypts_what_its_twin_encrypted() {
        let s = [3u8; DH_LEN];
        let mut tx = Cipher::new(b"keyA", &s, &[1; 20]);
        let mut rx = Cipher::new(b"keyA", &s, &[1; 20]);
        let mut msg = *b"hello, peer";
        tx.apply(&mut msg);
        assert_ne!(&msg, b"hello, peer");
        rx.apply(&mut msg);
        assert_eq!(&msg, b"hello, peer");
    }
}
