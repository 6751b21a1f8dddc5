//! KRPC (BEP 5): the DHT's bencoded queries, responses and errors over UDP, with
//! BEP 32's IPv6 node lists and BEP 42's `ip` field.
//!
//! Limits: a packet is at most [`MAX_PACKET`] bytes; a transaction id at most 16
//! bytes; at most [`MAX_NODES`] nodes per list and [`MAX_VALUES`] peers are read
//! (the rest ignored); tokens at most 64 bytes. Anything else malformed is an
//! error naming the field.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::id::NodeId;
use crate::bencode::{self, Limits, Node, OwnedValue};
use crate::proto::compact;

/// The largest packet read or written.
pub const MAX_PACKET: usize = 1500;
/// Nodes read per list.
pub const MAX_NODES: usize = 16;
/// Peers read per `values` list.
pub const MAX_VALUES: usize = 100;

/// A node: its id and address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeInfo {
    /// Its id.
    pub id: NodeId,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// A query's method and arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// `ping`.
    Ping,
    /// `find_node`.
    FindNode {
        /// The id looked for.
        target: NodeId,
    },
    /// `get_peers`.
    GetPeers {
        /// The torrent.
        info_hash: NodeId,
    },
    /// `announce_peer`.
    AnnouncePeer {
        /// The torrent.
        info_hash: NodeId,
        /// The port peers should connect to.
        port: u16,
        /// Use the packet's source port instead of `port`.
        implied_port: bool,
        /// The token a `get_peers` to this node returned.
        token: Vec<u8>,
    },
}

/// What a packet carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A query from the sender, with its id; `read_only` (BEP 43): do not add it
    /// to the table.
    Query {
        /// Sender's id.
        id: NodeId,
        /// Method and arguments.
        query: Query,
        /// BEP 43 `ro`.
        read_only: bool,
    },
    /// A response.
    Response {
        /// Responder's id.
        id: NodeId,
        /// Closer nodes (`nodes`, `nodes6`).
        nodes: Vec<NodeInfo>,
        /// Peers of the torrent (`values`).
        values: Vec<SocketAddr>,
        /// A token for a later `announce_peer`.
        token: Option<Vec<u8>>,
    },
    /// An error: code and message.
    Error {
        /// 201 generic, 202 server, 203 protocol, 204 method unknown.
        code: i64,
        /// Free text.
        message: String,
    },
}

/// One KRPC packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Transaction id (chosen by the querier, echoed by the responder).
    pub tid: Vec<u8>,
    /// What it carries.
    pub body: Body,
    /// BEP 42: the querier's address as the responder sees it (responses).
    pub ip: Option<SocketAddr>,
}

/// Why a packet was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KrpcError {
    /// Not a bencoded dictionary, or over [`MAX_PACKET`].
    #[error("not a KRPC packet: {0}")]
    Malformed(String),
    /// A field missing or of the wrong shape.
    #[error("KRPC field `{0}` missing or wrong")]
    Field(&'static str),
    /// A method we do not know (answered with error 204).
    #[error("unknown KRPC method {0:?}")]
    UnknownMethod(String),
}

fn limits() -> Limits {
    Limits {
        max_depth: 4,
        max_tokens: 256,
        max_string_len: MAX_PACKET,
    }
}

fn id_of(n: Option<&Node<'_>>, field: &'static str) -> Result<NodeId, KrpcError> {
    n.and_then(Node::as_bytes)
        .and_then(|b| <[u8; 20]>::try_from(b).ok())
        .map(NodeId)
        .ok_or(KrpcError::Field(field))
}

/// Compact node infos: 20-byte id + compact address, 26 bytes (IPv4) or 38 (IPv6).
fn nodes_of(b: &[u8], width: usize, out: &mut Vec<NodeInfo>) -> Result<(), KrpcError> {
    if !b.len().is_multiple_of(20 + width) {
        return Err(KrpcError::Field("nodes"));
    }
    for c in b.chunks_exact(20 + width) {
        if out.len() >= MAX_NODES {
            break;
        }
        let id = NodeId(c[..20].try_into().expect("20 bytes"));
        if let Some(&addr) = compact::decode(&c[20..], width, 1)
            .map_err(|_| KrpcError::Field("nodes"))?
            .first()
        {
            out.push(NodeInfo { id, addr });
        }
    }
    Ok(())
}

/// Writes `nodes` as `nodes` (IPv4) and `nodes6` (IPv6) of `d`.
fn put_nodes(d: &mut OwnedValue, nodes: &[NodeInfo]) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for n in nodes {
        let out = if n.addr.is_ipv4() { &mut v4 } else { &mut v6 };
        out.extend_from_slice(&n.id.0);
        compact::push(out, n.addr);
    }
    if !v4.is_empty() {
        d.insert("nodes", v4);
    }
    if !v6.is_empty() {
        d.insert("nodes6", v6);
    }
}

fn compact_addr(addr: SocketAddr) -> Vec<u8> {
    let mut v = Vec::with_capacity(18);
    compact::push(&mut v, addr);
    v
}

fn addr_of(b: &[u8]) -> Option<SocketAddr> {
    let (ip, port): (IpAddr, &[u8]) = match b.len() {
        6 => (Ipv4Addr::new(b[0], b[1], b[2], b[3]).into(), &b[4..]),
        18 => (
            Ipv6Addr::from(<[u8; 16]>::try_from(&b[..16]).ok()?).into(),
            &b[16..],
        ),
        _ => return None,
    };
    Some(SocketAddr::new(ip, u16::from_be_bytes([port[0], port[1]])))
}

impl Packet {
    /// The packet's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut d = OwnedValue::dict();
        d.insert("t", self.tid.clone());
        if let Some(ip) = self.ip {
            d.insert("ip", compact_addr(ip));
        }
        match &self.body {
            Body::Query {
                id,
                query,
                read_only,
            } => {
                d.insert("y", "q");
                let mut a = OwnedValue::dict();
                a.insert("id", id.0.to_vec());
                let method = match query {
                    Query::Ping => "ping",
                    Query::FindNode { target } => {
                        a.insert("target", target.0.to_vec());
                        "find_node"
                    }
                    Query::GetPeers { info_hash } => {
                        a.insert("info_hash", info_hash.0.to_vec());
                        "get_peers"
                    }
                    Query::AnnouncePeer {
                        info_hash,
                        port,
                        implied_port,
                        token,
                    } => {
                        a.insert("info_hash", info_hash.0.to_vec());
                        a.insert("port", i64::from(*port));
                        if *implied_port {
                            a.insert("implied_port", 1);
                        }
                        a.insert("token", token.clone());
                        "announce_peer"
                    }
                };
                d.insert("q", method);
                d.insert("a", a);
                if *read_only {
                    d.insert("ro", 1);
                }
            }
            Body::Response {
                id,
                nodes,
                values,
                token,
            } => {
                d.insert("y", "r");
                let mut r = OwnedValue::dict();
                r.insert("id", id.0.to_vec());
                put_nodes(&mut r, nodes);
                if !values.is_empty() {
                    let list: Vec<OwnedValue> =
                        values.iter().map(|a| compact_addr(*a).into()).collect();
                    r.insert("values", list);
                }
                if let Some(t) = token {
                    r.insert("token", t.clone());
                }
                d.insert("r", r);
            }
            Body::Error { code, message } => {
                d.insert("y", "e");
                d.insert("e", vec![OwnedValue::Int(*code), message.as_str().into()]);
            }
        }
        d.encode()
    }

    /// Parses a packet.
    pub fn decode(bytes: &[u8]) -> Result<Packet, KrpcError> {
        if bytes.len() > MAX_PACKET {
            return Err(KrpcError::Malformed(format!("{} bytes", bytes.len())));
        }
        let root =
            bencode::decode(bytes, limits()).map_err(|e| KrpcError::Malformed(e.to_string()))?;
        if root.as_dict().is_none() {
            return Err(KrpcError::Malformed("not a dictionary".into()));
        }
        let tid = root
            .get("t")
            .and_then(Node::as_bytes)
            .filter(|t| t.len() <= 16)
            .ok_or(KrpcError::Field("t"))?
            .to_vec();
        let ip = root.get("ip").and_then(Node::as_bytes).and_then(addr_of);
        let body = match root.get("y").and_then(Node::as_bytes) {
            Some(b"q") => Self::query(&root)?,
            Some(b"r") => Self::response(&root)?,
            Some(b"e") => {
                let e = root.get("e").and_then(Node::as_list).unwrap_or_default();
                Body::Error {
                    code: e.first().and_then(Node::as_int).unwrap_or(201),
                    message: e
                        .get(1)
                        .and_then(Node::as_bytes)
                        .map(|m| String::from_utf8_lossy(&m[..m.len().min(200)]).into_owned())
                        .unwrap_or_default(),
                }
            }
            _ => return Err(KrpcError::Field("y")),
        };
        Ok(Packet { tid, body, ip })
    }

    fn query(root: &Node<'_>) -> Result<Body, KrpcError> {
        let a = root
            .get("a")
            .filter(|a| a.as_dict().is_some())
            .ok_or(KrpcError::Field("a"))?;
        let id = id_of(a.get("id"), "id")?;
        let method = root
            .get("q")
            .and_then(Node::as_bytes)
            .ok_or(KrpcError::Field("q"))?;
        let query = match method {
            b"ping" => Query::Ping,
            b"find_node" => Query::FindNode {
                target: id_of(a.get("target"), "target")?,
            },
            b"get_peers" => Query::GetPeers {
                info_hash: id_of(a.get("info_hash"), "info_hash")?,
            },
            b"announce_peer" => Query::AnnouncePeer {
                info_hash: id_of(a.get("info_hash"), "info_hash")?,
                port: a
                    .get("port")
                    .and_then(Node::as_int)
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or(KrpcError::Field("port"))?,
                implied_port: a
                    .get("implied_port")
                    .and_then(Node::as_int)
                    .is_some_and(|v| v != 0),
                token: a
                    .get("token")
                    .and_then(Node::as_bytes)
                    .filter(|t| t.len() <= 64)
                    .ok_or(KrpcError::Field("token"))?
                    .to_vec(),
            },
            other => {
                return Err(KrpcError::UnknownMethod(
                    String::from_utf8_lossy(&other[..other.len().min(32)]).into_owned(),
                ));
            }
        };
        let read_only = root.get("ro").and_then(Node::as_int) == Some(1);
        Ok(Body::Query {
            id,
            query,
            read_only,
        })
    }

    fn response(root: &Node<'_>) -> Result<Body, KrpcError> {
        let r = root
            .get("r")
            .filter(|r| r.as_dict().is_some())
            .ok_or(KrpcError::Field("r"))?;
        let id = id_of(r.get("id"), "id")?;
        let mut nodes = Vec::new();
        if let Some(b) = r.get("nodes").and_then(Node::as_bytes) {
            nodes_of(b, compact::V4_LEN, &mut nodes)?;
        }
        if let Some(b) = r.get("nodes6").and_then(Node::as_bytes) {
            nodes_of(b, compact::V6_LEN, &mut nodes)?;
        }
        let mut values = Vec::new();
        if let Some(list) = r.get("values") {
            let list = list.as_list().ok_or(KrpcError::Field("values"))?;
            for v in list.iter().take(MAX_VALUES) {
                let addr = v
                    .as_bytes()
                    .and_then(addr_of)
                    .ok_or(KrpcError::Field("values"))?;
                if addr.port() != 0 {
                    values.push(addr);
                }
            }
        }
        let token = match r.get("token") {
            None => None,
            Some(t) => Some(
                t.as_bytes()
                    .filter(|t| t.len() <= 64)
                    .ok_or(KrpcError::Field("token"))?
                    .to_vec(),
            ),
        };
        Ok(Body::Response {
            id,
            nodes,
            values,
            token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(p: Packet) {
        let bytes = p.encode();
        assert!(bytes.len() <= MAX_PACKET);
        assert_eq!(Packet::decode(&bytes).unwrap(), p);
    }

    #[test]
    fn every_kind_round_trips() {
        let id = NodeId([1; 20]);
        for query in [
            Query::Ping,
            Query::FindNode {
                target: NodeId([2; 20]),
            },
            Query::GetPeers {
                info_hash: NodeId([3; 20]),
            },
            Query::AnnouncePeer {
                info_hash: NodeId([3; 20]),
                port: 6881,
                implied_port: true,
                token: b"tok".to_vec(),
            },
        ] {
            round_trip(Packet {
                tid: b"aa".to_vec(),
                body: Body::Query {
                    id,
                    query,
                    read_only: false,
                },
                ip: None,
            });
        }
        round_trip(Packet {
            tid: vec![0, 1],
            body: Body::Response {
                id,
                nodes: vec![
                    NodeInfo {
                        id: NodeId([4; 20]),
                        addr: "10.0.0.1:6881".parse().unwrap(),
                    },
                    NodeInfo {
                        id: NodeId([5; 20]),
                        addr: "[2001:db8::1]:6881".parse().unwrap(),
                    },
                ],
                values: vec![
                    "10.0.0.2:1".parse().unwrap(),
                    "[2001:db8::2]:2".parse().unwrap(),
                ],
                token: Some(vec![9; 8]),
            },
            ip: Some("203.0.113.7:4000".parse().unwrap()),
        });
        round_trip(Packet {
            tid: vec![7],
            body: Body::Error {
                code: 203,
                message: "bad".into(),
            },
            ip: None,
        });
    }

    #[test]
    fn the_bep_examples_parse() {
        let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
        let p = Packet::decode(ping).unwrap();
        assert_eq!(p.tid, b"aa");
        assert!(matches!(
            p.body,
            Body::Query {
                query: Query::Ping,
                ..
            }
        ));
        let err = b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
        assert!(matches!(
            Packet::decode(err).unwrap().body,
            Body::Error { code: 201, .. }
        ));
    }

    #[test]
    fn bad_packets_are_errors() {
        assert!(Packet::decode(b"li1ee").is_err());
        assert!(Packet::decode(b"d1:t2:aa1:y1:qe").is_err()); // no method
        assert_eq!(
            Packet::decode(b"d1:ad2:id20:abcdefghij0123456789e1:q4:evil1:t2:aa1:y1:qe"),
            Err(KrpcError::UnknownMethod("evil".into()))
        );
        assert!(Packet::decode(b"d1:rd2:id3:abc5:nodes3:xyze1:t1:a1:y1:re").is_err());
        assert!(Packet::decode(&vec![b'x'; MAX_PACKET + 1]).is_err());
        let long_tid = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t17:aaaaaaaaaaaaaaaaa1:y1:qe";
        assert_eq!(Packet::decode(long_tid), Err(KrpcError::Field("t")));
    }
}
