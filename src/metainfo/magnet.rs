//! Magnet URIs (BEP 9): `xt=urn:btih:` (hex or base32) or `xt=urn:btmh:` (BEP
//! 52, a v2 hash), `dn`, `tr`, `x.pe`, `so` (BEP 53).

use crate::types::InfoHash;

/// A parsed magnet link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    /// The v1 info-hash from `xt=urn:btih:`, or without one the first 20 bytes
    /// of the v2 hash from `xt=urn:btmh:`.
    pub info_hash: InfoHash,
    /// `dn`: the name to show until metadata arrives.
    pub display_name: Option<String>,
    /// `tr`: trackers, in order, without duplicates.
    pub trackers: Vec<String>,
    /// `x.pe`: peers to try, as `host:port` (host may be a name or `[v6]`).
    pub peers: Vec<String>,
    /// `so` (BEP 53): the file indices to download; empty means all.
    pub select_only: Vec<std::ops::RangeInclusive<u32>>,
}

/// Why a string is not a usable magnet link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MagnetError {
    /// It does not start with `magnet:?`.
    #[error("not a magnet link (expected it to start with \"magnet:?\")")]
    NotMagnet,
    /// A `%` escape is malformed or decodes to invalid UTF-8.
    #[error("bad percent-encoding in {0:?}")]
    BadEncoding(String),
    /// No `xt=urn:btih:` and no `xt=urn:btmh:` parameter.
    #[error("no info-hash: a magnet link needs an xt=urn:btih:... parameter")]
    MissingInfoHash,
    /// The `btih` value is neither 40 hex nor 32 base32 characters.
    #[error("bad info-hash {0:?}: expected 40 hex or 32 base32 characters")]
    BadInfoHash(String),
    /// The `btmh` value is not a SHA-256 multihash (`1220` and 64 hex digits).
    #[error("bad v2 info-hash {0:?}: expected 1220 and 64 hex characters")]
    BadV2InfoHash(String),
    /// An `x.pe` value is not `host:port`.
    #[error("bad peer address {0:?}: expected host:port")]
    BadPeer(String),
    /// An `so` value is not a list of indices and ranges.
    #[error("bad select-only list {0:?}: expected indices and ranges like 0,2,4-6")]
    BadSelectOnly(String),
}

/// The longest magnet link accepted, in bytes.
pub const MAX_MAGNET_LEN: usize = 64 * 1024;

impl Magnet {
    /// Parses a magnet link. Unknown parameters are ignored, as other clients do.
    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        let query = uri
            .strip_prefix("magnet:?")
            .filter(|_| uri.len() <= MAX_MAGNET_LEN)
            .ok_or(MagnetError::NotMagnet)?;
        let mut info_hash = None;
        let mut v2_hash = None;
        let mut display_name = None;
        let mut trackers: Vec<String> = Vec::new();
        let mut peers = Vec::new();
        let mut select_only = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(raw)?;
            match key {
                "xt" => {
                    if let Some(h) = value.strip_prefix("urn:btih:") {
                        if info_hash.is_none() {
                            info_hash = Some(
                                InfoHash::parse(h)
                                    .map_err(|_| MagnetError::BadInfoHash(h.to_owned()))?,
                            );
                        }
                    } else if let Some(h) = value.strip_prefix("urn:btmh:")
                        && v2_hash.is_none()
                    {
                        v2_hash = Some(parse_btmh(h)?);
                    }
                }
                "dn" => display_name = Some(value),
                "tr" if !value.is_empty() && !trackers.contains(&value) => trackers.push(value),
                "x.pe" => peers.push(parse_peer(&value)?),
                "so" => select_only = parse_select_only(&value)?,
                _ => {}
            }
        }
        // A hybrid's link names both: its v1 swarm is joined. A v2-only torrent
        // is known to peers by the first 20 bytes of its v2 hash.
        let info_hash = match (info_hash, v2_hash) {
            (Some(h), _) | (None, Some(h)) => h,
            (None, None) => return Err(MagnetError::MissingInfoHash),
        };
        Ok(Magnet {
            info_hash,
            display_name,
            trackers,
            peers,
            select_only,
        })
    }
}

/// A `btmh` value: the SHA-256 multihash of a v2 `info`, as the 20 bytes
/// peers know the torrent by.
fn parse_btmh(h: &str) -> Result<InfoHash, MagnetError> {
    let bad = || MagnetError::BadV2InfoHash(h.to_owned());
    // Every byte a hex digit before any slicing: a multi-byte character would
    // put a slice's end inside it.
    let hex = h
        .strip_prefix("1220")
        .filter(|x| x.len() == 64 && x.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(bad)?;
    InfoHash::parse(&hex[..40]).map_err(|_| bad())
}

/// Decodes `%XX` escapes and `+` (as a space, which is what web forms mean by it).
/// Every `%` must start two hex digits (`%zz`, `%4`, `%+5` are errors, not text).
fn percent_decode(s: &str) -> Result<String, MagnetError> {
    let bad = || MagnetError::BadEncoding(s.to_owned());
    let bytes = s.as_bytes();
    for (i, _) in s.match_indices('%') {
        let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(bad());
        }
    }
    // A literal '+' can only be a space here: an encoded one is `%2B`.
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| bad())
}

fn parse_peer(s: &str) -> Result<String, MagnetError> {
    let bad = || MagnetError::BadPeer(s.to_owned());
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<core::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    if port == 0 || !host_ok {
        return Err(bad());
    }
    Ok(format!("{host}:{port}"))
}

fn parse_select_only(s: &str) -> Result<Vec<std::ops::RangeInclusive<u32>>, MagnetError> {
    let bad = || MagnetError::BadSelectOnly(s.to_owned());
    s.split(',')
        .map(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let a: u32 = a.trim().parse().map_err(|_| bad())?;
            let b: u32 = b.trim().parse().map_err(|_| bad())?;
            if a > b {
                return Err(bad());
            }
            Ok(a..=b)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    #[test]
    fn full_magnet() {
        let m = Magnet::parse(&format!(
            "magnet:?xt=urn:btih:{}&dn=My+Film%20(2020)&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce\
             &tr=udp://127.0.0.1:1&tr=udp://127.0.0.1:1&x.pe=127.0.0.1:6881&x.pe=[::1]:51413&so=0,2,4-6",
            HEX.to_uppercase()
        ))
        .unwrap();
        assert_eq!(m.info_hash.to_hex(), HEX);
        assert_eq!(m.display_name.as_deref(), Some("My Film (2020)"));
        assert_eq!(
            m.trackers,
            vec!["http://127.0.0.1:6969/announce", "udp://127.0.0.1:1"]
        );
        assert_eq!(m.peers, vec!["127.0.0.1:6881", "[::1]:51413"]);
        assert_eq!(m.select_only, vec![0..=0, 2..=2, 4..=6]);
    }

    #[test]
    fn base32_hash() {
        let m = Magnet::parse("magnet:?xt=urn:btih:AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQT").unwrap();
        assert_eq!(m.info_hash.0[19], 19);
    }

    #[test]
    fn hybrid_uses_btih_and_v2_only_its_truncated_v2_hash() {
        let hybrid = format!(
            "magnet:?xt=urn:btmh:1220{}&xt=urn:btih:{HEX}",
            "ab".repeat(32)
        );
        assert_eq!(Magnet::parse(&hybrid).unwrap().info_hash.to_hex(), HEX);
        let v2 = format!("magnet:?xt=urn:btmh:1220{}", "ab".repeat(32));
        assert_eq!(
            Magnet::parse(&v2).unwrap().info_hash.to_hex(),
            "ab".repeat(20)
        );
        for bad in [
            format!("1114{}", "ab".repeat(32)),
            format!("1220{}", "ab".repeat(31)),
            format!("1220{}zz", "ab".repeat(31)),
            // A two-byte character across the 40th byte (found by the fuzzer:
            // the slice there panicked).
            format!("1220{}\u{3db}{}", "a".repeat(39), "a".repeat(23)),
        ] {
            assert!(matches!(
                Magnet::parse(&format!("magnet:?xt=urn:btmh:{bad}")),
                Err(MagnetError::BadV2InfoHash(_))
            ));
        }
    }

    #[test]
    fn malformed_magnets_have_clear_errors() {
        type Check = fn(&MagnetError) -> bool;
        let cases: &[(&str, Check)] = &[
            ("http://x", |e| matches!(e, MagnetError::NotMagnet)),
            ("magnet:?dn=x", |e| {
                matches!(e, MagnetError::MissingInfoHash)
            }),
            ("magnet:?xt=urn:btih:1234", |e| {
                matches!(e, MagnetError::BadInfoHash(_))
            }),
            ("magnet:?xt=urn:btih:%zz", |e| {
                matches!(e, MagnetError::BadEncoding(_))
            }),
            ("magnet:?xt=urn:btih:%ff%fe", |e| {
                matches!(e, MagnetError::BadEncoding(_))
            }),
            ("magnet:?xt=urn:btih:%+5", |e| {
                matches!(e, MagnetError::BadEncoding(_))
            }),
            ("magnet:?xt=urn:btih:%4", |e| {
                matches!(e, MagnetError::BadEncoding(_))
            }),
        ];
        for (uri, ok) in cases {
            let e = Magnet::parse(uri).unwrap_err();
            assert!(ok(&e), "{uri}: {e}");
        }
        let with = |extra: &str| Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&{extra}"));
        assert!(matches!(with("x.pe=nohost"), Err(MagnetError::BadPeer(_))));
        assert!(matches!(with("x.pe=h:0"), Err(MagnetError::BadPeer(_))));
        assert!(matches!(with("x.pe=h:99999"), Err(MagnetError::BadPeer(_))));
        assert!(matches!(with("x.pe=a/b:1"), Err(MagnetError::BadPeer(_))));
        assert!(matches!(with("so=3-1"), Err(MagnetError::BadSelectOnly(_))));
        assert!(matches!(with("so=a"), Err(MagnetError::BadSelectOnly(_))));
        assert!(
            Magnet::parse(&format!(
                "magnet:?xt=urn:btih:{HEX}&{}",
                "a".repeat(MAX_MAGNET_LEN)
            ))
            .is_err()
        );
    }
}
