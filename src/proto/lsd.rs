//! Local service discovery (BEP 14): the `BT-SEARCH` datagram a client sends to
//! a multicast group to tell peers on its network which torrents it has.
//!
//! ```text
//! BT-SEARCH * HTTP/1.1\r\n
//! Host: 239.192.152.143:6771\r\n
//! Port: 6881\r\n
//! Infohash: <40 hex digits>\r\n        (one line per torrent)
//! cookie: <ours, to recognise our own>\r\n
//! \r\n\r\n
//! ```
//!
//! Limits: a datagram over [`MAX_LSD_PACKET`] bytes, without the request line,
//! without a port in 1..=65535, or with no info-hash is refused; at most
//! [`MAX_LSD_HASHES`] info-hashes are read; header names are matched without
//! regard to case, unknown headers ignored.

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::types::InfoHash;

/// The IPv4 group and port.
pub const LSD_V4: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(239, 192, 152, 143), 6771));
/// The IPv6 group and port.
pub const LSD_V6: SocketAddr = SocketAddr::V6(SocketAddrV6::new(
    Ipv6Addr::new(0xff15, 0, 0, 0, 0, 0, 0xefc0, 0x988f),
    6771,
    0,
    0,
));
/// The largest datagram read.
pub const MAX_LSD_PACKET: usize = 1400;
/// Info-hashes read (and sent) per datagram at most.
pub const MAX_LSD_HASHES: usize = 16;

/// One `BT-SEARCH` announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LsdAnnounce {
    /// The sender's peer port.
    pub port: u16,
    /// Its torrents.
    pub info_hashes: Vec<InfoHash>,
    /// Its cookie (we send ours to skip our own announces).
    pub cookie: Option<String>,
}

/// Why a datagram was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LsdError {
    /// Over the size bound, not text, or not a BT-SEARCH request.
    #[error("not a BT-SEARCH datagram: {0}")]
    NotSearch(&'static str),
    /// No usable port or no info-hash.
    #[error("BT-SEARCH without {0}")]
    Missing(&'static str),
}

impl LsdAnnounce {
    /// The datagram for `group` (its Host line).
    pub fn encode(&self, group: SocketAddr) -> Vec<u8> {
        let mut s = format!(
            "BT-SEARCH * HTTP/1.1\r\nHost: {group}\r\nPort: {}\r\n",
            self.port
        );
        for ih in self.info_hashes.iter().take(MAX_LSD_HASHES) {
            s.push_str(&format!("Infohash: {}\r\n", ih.to_hex()));
        }
        if let Some(c) = &self.cookie {
            s.push_str(&format!("cookie: {c}\r\n"));
        }
        s.push_str("\r\n\r\n");
        s.into_bytes()
    }

    /// Parses a datagram.
    pub fn decode(bytes: &[u8]) -> Result<LsdAnnounce, LsdError> {
        if bytes.len() > MAX_LSD_PACKET {
            return Err(LsdError::NotSearch("too long"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| LsdError::NotSearch("not text"))?;
        let mut lines = text.split("\r\n").map(str::trim_end);
        if lines.next() != Some("BT-SEARCH * HTTP/1.1") {
            return Err(LsdError::NotSearch("no request line"));
        }
        let (mut port, mut info_hashes, mut cookie) = (None, Vec::new(), None);
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "port" => port = value.parse::<u16>().ok().filter(|&p| p != 0),
                "infohash" if info_hashes.len() < MAX_LSD_HASHES => {
                    if let Some(ih) = (value.len() == 40)
                        .then(|| InfoHash::parse(value).ok())
                        .flatten()
                    {
                        info_hashes.push(ih);
                    }
                }
                "cookie" if value.len() <= 64 => cookie = Some(value.to_owned()),
                _ => {}
            }
        }
        let port = port.ok_or(LsdError::Missing("a port"))?;
        if info_hashes.is_empty() {
            return Err(LsdError::Missing("an info-hash"));
        }
        Ok(LsdAnnounce {
            port,
            info_hashes,
            cookie,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let a = LsdAnnounce {
            port: 6881,
            info_hashes: vec![InfoHash([0xab; 20]), InfoHash([1; 20])],
            cookie: Some("sr-1234".into()),
        };
        let bytes = a.encode(LSD_V4);
        assert!(bytes.starts_with(b"BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\n"));
        assert_eq!(LsdAnnounce::decode(&bytes), Ok(a));
        // Other clients' spelling: lowercase names, no cookie, a bad hash skipped.
        let other = b"BT-SEARCH * HTTP/1.1\r\nhost: [ff15::efc0:988f]:6771\r\nport: 51413\r\ninfohash: ABABABABABABABABABABABABABABABABABABABAB\r\ninfohash: zz\r\n\r\n\r\n";
        let got = LsdAnnounce::decode(other).unwrap();
        assert_eq!(
            (got.port, got.info_hashes.len(), got.cookie),
            (51413, 1, None)
        );
        assert!(LsdAnnounce::decode(b"GET / HTTP/1.1\r\n\r\n").is_err());
        assert!(LsdAnnounce::decode(b"BT-SEARCH * HTTP/1.1\r\nPort: 0\r\nInfohash: abababababababababababababababababababab\r\n").is_err());
        assert!(LsdAnnounce::decode(b"BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n").is_err());
        assert!(LsdAnnounce::decode(&[b'x'; MAX_LSD_PACKET + 1]).is_err());
        assert!(LsdAnnounce::decode(&[0xff, 0xfe]).is_err());
    }
}
