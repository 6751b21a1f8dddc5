//! The state a node keeps across restarts: its id and the nodes that answered
//! it, bencoded as `{id: 20 bytes, nodes: compact v4 node infos, nodes6: v6}`.
//! A damaged record is ignored (the node starts afresh), never trusted in part.

use super::id::NodeId;
use super::krpc::NodeInfo;
use crate::bencode::{self, Limits, Node, OwnedValue};
use crate::proto::compact;

/// Nodes saved at most.
pub const MAX_SAVED: usize = 200;

/// What a node saved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Saved {
    /// Its id (kept, so the nodes near it stay near it).
    pub id: Option<NodeId>,
    /// Nodes that answered, to start from.
    pub nodes: Vec<NodeInfo>,
}

impl Saved {
    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for n in self.nodes.iter().take(MAX_SAVED) {
            let out = if n.addr.is_ipv4() { &mut v4 } else { &mut v6 };
            out.extend_from_slice(&n.id.0);
            compact::push(out, n.addr);
        }
        let mut d = OwnedValue::dict();
        if let Some(id) = self.id {
            d.insert("id", id.0.to_vec());
        }
        d.insert("nodes", v4);
        d.insert("nodes6", v6);
        d.encode()
    }

    /// Reads a record; `None` if it is damaged.
    pub fn decode(bytes: &[u8]) -> Option<Saved> {
        let root = bencode::decode(
            bytes,
            Limits {
                max_depth: 2,
                max_tokens: 16,
                max_string_len: 64 * 1024,
            },
        )
        .ok()?;
        let id = match root.get("id") {
            None => None,
            Some(n) => Some(NodeId(n.as_bytes()?.try_into().ok()?)),
        };
        let mut nodes = Vec::new();
        for (key, width) in [("nodes", compact::V4_LEN), ("nodes6", compact::V6_LEN)] {
            let b = root.get(key).and_then(Node::as_bytes).unwrap_or_default();
            if !b.len().is_multiple_of(20 + width) {
                return None;
            }
            for c in b.chunks_exact(20 + width).take(MAX_SAVED) {
                let id = NodeId(c[..20].try_into().ok()?);
                if let Some(&addr) = compact::decode(&c[20..], width, 1).ok()?.first() {
                    nodes.push(NodeInfo { id, addr });
                }
            }
        }
        Some(Saved { id, nodes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let s = Saved {
            id: Some(NodeId([1; 20])),
            nodes: vec![
                NodeInfo {
                    id: NodeId([2; 20]),
                    addr: "203.0.113.1:6881".parse().unwrap(),
                },
                NodeInfo {
                    id: NodeId([3; 20]),
                    addr: "[2001:db8::1]:6881".parse().unwrap(),
                },
            ],
        };
        assert_eq!(Saved::decode(&s.encode()), Some(s.clone()));
        let mut bad = s.encode();
        bad.truncate(bad.len() - 3);
        assert_eq!(Saved::decode(&bad), None);
        assert_eq!(Saved::decode(b"d5:nodes5:abcdee"), None);
    }
}
