//! Identifier newtypes shared by every module.

use std::fmt;

/// A v1 info-hash: the SHA-1 of a torrent's bencoded `info` dictionary.
///
/// Shown and compared as lowercase hex everywhere (parsing accepts either case).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct InfoHash(pub [u8; 20]);

/// Ordered as its bytes are (lexicographically), compared as two big-endian
/// integers: a `memcmp` call per comparison was 7% of a restart of 100,000
/// torrents, whose maps keyed by info-hash compare about 17 times a lookup.
impl Ord for InfoHash {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        fn key(h: &InfoHash) -> (u128, u32) {
            let (head, tail) = h.0.split_at(16);
            (
                u128::from_be_bytes(head.try_into().expect("16 bytes")),
                u32::from_be_bytes(tail.try_into().expect("4 bytes")),
            )
        }
        key(self).cmp(&key(other))
    }
}

impl PartialOrd for InfoHash {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Why a string is not an info-hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a 40-character hex or 32-character base32 info-hash")]
pub struct InfoHashParseError(pub String);

impl InfoHash {
    /// Lowercase hex, 40 characters.
    pub fn to_hex(&self) -> String {
        Hex::of(&self.0).as_str().to_owned()
    }

    /// Parses 40 hex digits (any case) or 32 base32 characters (RFC 4648, any case),
    /// the two forms a magnet's `urn:btih:` may take.
    pub fn parse(s: &str) -> Result<InfoHash, InfoHashParseError> {
        let err = || InfoHashParseError(s.to_owned());
        let mut out = [0u8; 20];
        match s.len() {
            40 => {
                for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
                    let hi = hex_value(pair[0]).ok_or_else(err)?;
                    let lo = hex_value(pair[1]).ok_or_else(err)?;
                    out[i] = hi << 4 | lo;
                }
            }
            32 => {
                // 32 chars x 5 bits = 160 bits, exactly 20 bytes: no padding.
                let mut acc: u64 = 0;
                let mut bits = 0;
                let mut i = 0;
                for &c in s.as_bytes() {
                    acc = acc << 5 | u64::from(base32_value(c).ok_or_else(err)?);
                    bits += 5;
                    if bits >= 8 {
                        bits -= 8;
                        out[i] = u8::try_from((acc >> bits) & 0xff).expect("masked to a byte");
                        i += 1;
                    }
                }
            }
            _ => return Err(err()),
        }
        Ok(InfoHash(out))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A hash of up to 32 bytes in lowercase hex, held inline (no allocation):
/// what the APIs show for v1 and v2 info-hashes, made for every torrent of a
/// list.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Hex {
    digits: [u8; 64],
    len: u8,
}

impl Hex {
    /// No digits (an absent hash shows as `""`).
    pub const EMPTY: Hex = Hex {
        digits: [0; 64],
        len: 0,
    };

    /// The hex of `bytes` (at most 32; more are left out).
    pub fn of(bytes: &[u8]) -> Hex {
        let mut h = Hex::EMPTY;
        for (pair, b) in h.digits.chunks_exact_mut(2).zip(bytes) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0xf)];
            h.len += 2;
        }
        h
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written into `digits`.
        std::str::from_utf8(&self.digits[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn base32_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a'),
        b'2'..=b'7' => Some(c - b'2' + 26),
        _ => None,
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

/// A point on a monotonic clock, in nanoseconds from an arbitrary origin. The core
/// never reads a clock: drivers pass `Time` in (the real one from the OS, the sim its
/// virtual clock), so the same code runs in real time and in simulated time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub u64);

impl Time {
    /// The origin.
    pub const ZERO: Time = Time(0);

    /// `secs` seconds after the origin.
    pub const fn from_secs(secs: u64) -> Time {
        Time(secs * 1_000_000_000)
    }

    /// `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Time {
        Time(ms * 1_000_000)
    }

    /// How long after `earlier` this is (zero if it is not after).
    pub fn since(self, earlier: Time) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// Seconds since the origin, as a float (for rates and logs).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

impl std::ops::Add<std::time::Duration> for Time {
    type Output = Time;
    /// This time plus `d`, saturating at the end of time.
    fn add(self, d: std::time::Duration) -> Time {
        Time(
            self.0
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        )
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}s", self.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_hashes_order_as_their_bytes() {
        // Edges of each word (the first byte, the 16th and 17th, the last)
        // and a spread of mixed values, every pair compared both ways.
        let mut hashes = vec![InfoHash([0; 20]), InfoHash([0xff; 20])];
        for at in [0, 15, 16, 19] {
            for v in [1u8, 0x7f, 0x80, 0xff] {
                let mut h = [0u8; 20];
                h[at] = v;
                hashes.push(InfoHash(h));
                let mut h = [0xffu8; 20];
                h[at] = v - 1;
                hashes.push(InfoHash(h));
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..64 {
            let mut h = [0u8; 20];
            for b in &mut h {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = (x % 3) as u8 * 0x7f;
            }
            hashes.push(InfoHash(h));
        }
        for a in &hashes {
            for b in &hashes {
                assert_eq!(a.cmp(b), a.0[..].cmp(&b.0[..]), "{a} against {b}");
                assert_eq!(a.partial_cmp(b), Some(a.cmp(b)));
            }
        }
    }

    #[test]
    fn hex_round_trips_and_normalises_case() {
        let upper = "C12FE1C06BBA254A9DC9F519B335AA7C1367A88A";
        let h = InfoHash::parse(upper).unwrap();
        assert_eq!(h.to_hex(), upper.to_lowercase());
        assert_eq!(InfoHash::parse(&h.to_hex()).unwrap(), h);
    }

    #[test]
    fn inline_hex_is_the_hex_of_any_length_up_to_32_bytes() {
        let h = InfoHash::parse("c12fe1c06bba254a9dc9f519b335aa7c1367a88a").unwrap();
        assert_eq!(Hex::of(&h.0).as_str(), h.to_hex());
        let v2: Vec<u8> = (0u8..32).map(|b| b.wrapping_mul(37)).collect();
        let want: String = v2.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(Hex::of(&v2).as_str(), want);
        assert_eq!(Hex::of(&[0xab; 40]).as_str(), "ab".repeat(32));
        assert_eq!(Hex::EMPTY.as_str(), "");
    }

    #[test]
    fn base32_matches_hex() {
        // 20 bytes 0x00..0x13 in base32 (RFC 4648).
        let h = InfoHash::parse("AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQT").unwrap();
        let expected: Vec<u8> = (0u8..20).collect();
        assert_eq!(&h.0[..], &expected[..]);
        assert_eq!(
            InfoHash::parse("aaaqeayeaudaocajbifqydiob4ibceqt").unwrap(),
            h
        );
    }

    #[test]
    fn rejects_wrong_length_and_alphabet() {
        assert!(InfoHash::parse("abc").is_err());
        assert!(InfoHash::parse(&"g".repeat(40)).is_err());
        assert!(InfoHash::parse(&"1".repeat(32)).is_err());
    }
}
