//! The extension protocol (BEP 10) handshake and ut_metadata (BEP 9) messages.

use std::collections::BTreeMap;

use crate::bencode::{self, Limits, Node, OwnedValue};

/// The extended message id we assign to ut_metadata in our handshake.
pub const UT_METADATA_ID: u8 = 1;
/// One ut_metadata piece: 16 KiB.
pub const METADATA_PIECE_LEN: usize = 16 * 1024;
/// The largest metadata (info dictionary) we accept from peers: 30 MiB.
pub const MAX_METADATA_SIZE: u64 = 30 << 20;

/// A BEP 10 extension handshake.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtHandshake {
    /// Extension name to the id the sender wants to receive it under.
    pub m: BTreeMap<String, u8>,
    /// Client name and version.
    pub v: Option<String>,
    /// The sender's listen port.
    pub p: Option<u16>,
    /// How many outstanding requests the sender accepts.
    pub reqq: Option<u32>,
    /// Size of the info dictionary (ut_metadata).
    pub metadata_size: Option<u64>,
    /// Our address as the sender sees it (4 or 16 bytes).
    pub yourip: Option<Vec<u8>>,
    /// The sender's IPv4 address (told over IPv6, so we can reach it over both).
    pub ipv4: Option<[u8; 4]>,
    /// The sender's IPv6 address (told over IPv4).
    pub ipv6: Option<[u8; 16]>,
    /// `e`: the sender prefers encrypted connections (MSE).
    pub e: bool,
}

/// Why an extended payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtError {
    /// Not bencode, or not a dictionary.
    #[error("malformed extension message: {0}")]
    Malformed(String),
    /// A ut_metadata message type we do not know, or a field out of range.
    #[error("bad ut_metadata message")]
    BadMetadataMessage,
}

fn limits() -> Limits {
    Limits {
        max_depth: 8,
        max_tokens: 10_000,
        max_string_len: 64 * 1024,
    }
}

/// Most bytes of a peer's client name (`v`) kept.
const CLIENT_NAME_MAX: usize = 64;

/// A peer's client name (`v`): its first [`CLIENT_NAME_MAX`] bytes as UTF-8,
/// invalid sequences replaced, and cut again to at most that many bytes at a
/// character boundary (each replacement character is three bytes, so the
/// lossy text can be longer than what it came from).
fn client_name(raw: &[u8]) -> String {
    let mut name = String::from_utf8_lossy(&raw[..raw.len().min(CLIENT_NAME_MAX)]).into_owned();
    let mut cut = name.len().min(CLIENT_NAME_MAX);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    name.truncate(cut);
    name
}

fn small_int<T: TryFrom<i64>>(n: Option<&Node<'_>>) -> Option<T> {
    n.and_then(Node::as_int).and_then(|i| T::try_from(i).ok())
}

impl ExtHandshake {
    /// Ours: ut_metadata under [`UT_METADATA_ID`], and the metadata size if known.
    pub fn ours(client: &str, port: u16, reqq: u32, metadata_size: Option<u64>) -> ExtHandshake {
        ExtHandshake {
            m: BTreeMap::from([("ut_metadata".to_owned(), UT_METADATA_ID)]),
            v: Some(client.to_owned()),
            p: Some(port),
            reqq: Some(reqq),
            metadata_size,
            yourip: None,
            ipv4: None,
            ipv6: None,
            e: false,
        }
    }

    /// The bencoded payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut d = OwnedValue::dict();
        let mut m = OwnedValue::dict();
        for (k, v) in &self.m {
            m.insert(k, i64::from(*v));
        }
        d.insert("m", m);
        if let Some(v) = &self.v {
            d.insert("v", v.as_str());
        }
        if let Some(p) = self.p {
            d.insert("p", i64::from(p));
        }
        if let Some(q) = self.reqq {
            d.insert("reqq", i64::from(q));
        }
        if let Some(s) = self.metadata_size {
            d.insert("metadata_size", i64::try_from(s).unwrap_or(i64::MAX));
        }
        if let Some(ip) = &self.yourip {
            d.insert("yourip", ip.clone());
        }
        if let Some(ip) = self.ipv4 {
            d.insert("ipv4", ip.to_vec());
        }
        if let Some(ip) = self.ipv6 {
            d.insert("ipv6", ip.to_vec());
        }
        if self.e {
            d.insert("e", 1i64);
        }
        d.encode()
    }

    /// Parses a peer's handshake payload. Unknown keys are ignored; a value of the
    /// wrong type is treated as absent, as other clients do.
    pub fn decode(payload: &[u8]) -> Result<ExtHandshake, ExtError> {
        let root =
            bencode::decode(payload, limits()).map_err(|e| ExtError::Malformed(e.to_string()))?;
        if root.as_dict().is_none() {
            return Err(ExtError::Malformed("not a dictionary".into()));
        }
        let mut m = BTreeMap::new();
        if let Some(entries) = root.get("m").and_then(Node::as_dict) {
            for (k, v) in entries {
                if let (Ok(name), Some(id)) = (std::str::from_utf8(k), small_int::<u8>(Some(v))) {
                    m.insert(name.to_owned(), id);
                }
            }
        }
        Ok(ExtHandshake {
            m,
            v: root.get("v").and_then(Node::as_bytes).map(client_name),
            p: small_int(root.get("p")),
            reqq: small_int(root.get("reqq")),
            metadata_size: small_int(root.get("metadata_size")),
            yourip: root
                .get("yourip")
                .and_then(Node::as_bytes)
                .filter(|b| b.len() == 4 || b.len() == 16)
                .map(<[u8]>::to_vec),
            ipv4: (root.get("ipv4").and_then(Node::as_bytes)).and_then(|b| b.try_into().ok()),
            ipv6: (root.get("ipv6").and_then(Node::as_bytes)).and_then(|b| b.try_into().ok()),
            e: small_int::<i64>(root.get("e")) == Some(1),
        })
    }
}

/// A ut_metadata message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UtMetadata {
    /// msg_type 0
    Request {
        /// Metadata piece index.
        piece: u32,
    },
    /// msg_type 1: the piece's bytes follow the dictionary.
    Data {
        /// Metadata piece index.
        piece: u32,
        /// Size of the whole info dictionary.
        total_size: u64,
        /// The piece's bytes.
        data: Vec<u8>,
    },
    /// msg_type 2
    Reject {
        /// Metadata piece index.
        piece: u32,
    },
}

impl UtMetadata {
    /// The payload (after the extended message id).
    pub fn encode(&self) -> Vec<u8> {
        let mut d = OwnedValue::dict();
        let (kind, piece) = match self {
            UtMetadata::Request { piece } => (0, piece),
            UtMetadata::Data { piece, .. } => (1, piece),
            UtMetadata::Reject { piece } => (2, piece),
        };
        d.insert("msg_type", kind);
        d.insert("piece", i64::from(*piece));
        if let UtMetadata::Data {
            total_size, data, ..
        } = self
        {
            d.insert("total_size", i64::try_from(*total_size).unwrap_or(i64::MAX));
            let mut out = d.encode();
            out.extend_from_slice(data);
            return out;
        }
        d.encode()
    }

    /// Parses a payload.
    pub fn decode(payload: &[u8]) -> Result<UtMetadata, ExtError> {
        let (root, used) = bencode::decode_prefix(payload, limits())
            .map_err(|e| ExtError::Malformed(e.to_string()))?;
        let piece = small_int::<u32>(root.get("piece")).ok_or(ExtError::BadMetadataMessage)?;
        match root.get("msg_type").and_then(Node::as_int) {
            Some(0) => Ok(UtMetadata::Request { piece }),
            Some(1) => {
                let total_size =
                    small_int::<u64>(root.get("total_size")).ok_or(ExtError::BadMetadataMessage)?;
                let data = payload[used..].to_vec();
                if data.len() > METADATA_PIECE_LEN {
                    return Err(ExtError::BadMetadataMessage);
                }
                Ok(UtMetadata::Data {
                    piece,
                    total_size,
                    data,
                })
            }
            Some(2) => Ok(UtMetadata::Reject { piece }),
            _ => Err(ExtError::BadMetadataMessage),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_round_trip() {
        let mut h = ExtHandshake::ours("seedring/0.1", 6881, 250, Some(12345));
        h.yourip = Some(vec![127, 0, 0, 1]);
        assert_eq!(ExtHandshake::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn a_client_name_is_kept_to_64_bytes_whatever_its_encoding() {
        // 40 invalid bytes become 40 replacement characters (120 bytes).
        let mut raw = b"d1:v40:".to_vec();
        raw.extend_from_slice(&[0xa6; 40]);
        raw.push(b'e');
        let h = ExtHandshake::decode(&raw).unwrap();
        let v = h.v.clone().unwrap();
        assert_eq!(v, "\u{fffd}".repeat(21));
        // What is read writes out and reads back the same.
        assert_eq!(ExtHandshake::decode(&h.encode()).unwrap(), h);
        let long = format!("d1:v100:{}e", "x".repeat(100));
        let h = ExtHandshake::decode(long.as_bytes()).unwrap();
        assert_eq!(h.v.as_deref(), Some("x".repeat(64).as_str()));
    }

    #[test]
    fn odd_handshakes_are_tolerated_or_refused_clearly() {
        let h = ExtHandshake::decode(b"d1:md11:ut_metadatai300e6:ut_pexi2ee4:reqqi-5e1:pi70000ee")
            .unwrap();
        assert_eq!(h.m.get("ut_pex"), Some(&2));
        assert!(!h.m.contains_key("ut_metadata")); // 300 is not a u8
        assert_eq!(h.reqq, None);
        assert_eq!(h.p, None);
        assert!(ExtHandshake::decode(b"li1ee").is_err());
        assert!(ExtHandshake::decode(b"d1:m").is_err());
    }

    #[test]
    fn metadata_messages_round_trip() {
        for m in [
            UtMetadata::Request { piece: 3 },
            UtMetadata::Reject { piece: 0 },
            UtMetadata::Data {
                piece: 1,
                total_size: 20000,
                data: vec![7; 3616],
            },
        ] {
            assert_eq!(UtMetadata::decode(&m.encode()).unwrap(), m);
        }
        assert!(UtMetadata::decode(b"d8:msg_typei9e5:piecei0ee").is_err());
        assert!(UtMetadata::decode(b"d8:msg_typei0ee").is_err());
        let mut too_big = UtMetadata::Data {
            piece: 0,
            total_size: 1,
            data: vec![],
        }
        .encode();
        too_big.extend(std::iter::repeat_n(0u8, METADATA_PIECE_LEN + 1));
        assert!(UtMetadata::decode(&too_big).is_err());
    }
}
