//! The bencode encoder: an owned value tree that always encodes canonically
//! (dictionary keys sorted as raw bytes, no leading zeros).

use std::collections::BTreeMap;

use super::decode::{Node, Value};

/// An owned bencode value. Dictionaries are `BTreeMap`s, so encoding is canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedValue {
    /// An integer.
    Int(i64),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<OwnedValue>),
    /// A dictionary with keys in byte order.
    Dict(BTreeMap<Vec<u8>, OwnedValue>),
}

impl OwnedValue {
    /// An empty dictionary, to be filled with [`OwnedValue::insert`].
    pub fn dict() -> Self {
        OwnedValue::Dict(BTreeMap::new())
    }

    /// Sets `key` in a dictionary. Does nothing on other kinds of value.
    pub fn insert(&mut self, key: &str, value: impl Into<OwnedValue>) {
        if let OwnedValue::Dict(d) = self {
            d.insert(key.as_bytes().to_vec(), value.into());
        }
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the canonical encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            OwnedValue::Int(i) => super::writer::int(out, *i),
            OwnedValue::Bytes(b) => super::writer::bytes(out, b),
            OwnedValue::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode_into(out);
                }
                out.push(b'e');
            }
            OwnedValue::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    super::writer::bytes(out, k);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }
}

impl From<&Node<'_>> for OwnedValue {
    /// Copies a decoded tree. Of duplicate keys, the first is kept (as lookups do).
    fn from(n: &Node<'_>) -> Self {
        match &n.value {
            Value::Int(i) => OwnedValue::Int(*i),
            Value::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            Value::List(l) => OwnedValue::List(l.iter().map(OwnedValue::from).collect()),
            Value::Dict(d) => {
                let mut map = BTreeMap::new();
                for (k, v) in d {
                    map.entry(k.to_vec()).or_insert_with(|| OwnedValue::from(v));
                }
                OwnedValue::Dict(map)
            }
        }
    }
}

impl From<i64> for OwnedValue {
    fn from(i: i64) -> Self {
        OwnedValue::Int(i)
    }
}

impl From<&str> for OwnedValue {
    fn from(s: &str) -> Self {
        OwnedValue::Bytes(s.as_bytes().to_vec())
    }
}

impl From<String> for OwnedValue {
    fn from(s: String) -> Self {
        OwnedValue::Bytes(s.into_bytes())
    }
}

impl From<Vec<u8>> for OwnedValue {
    fn from(b: Vec<u8>) -> Self {
        OwnedValue::Bytes(b)
    }
}

impl From<Vec<OwnedValue>> for OwnedValue {
    fn from(l: Vec<OwnedValue>) -> Self {
        OwnedValue::List(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::{Limits, decode};
    use proptest::prelude::*;

    fn arb_value() -> impl Strategy<Value = OwnedValue> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(OwnedValue::Int),
            proptest::collection::vec(any::<u8>(), 0..24).prop_map(OwnedValue::Bytes),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(OwnedValue::List),
                proptest::collection::btree_map(
                    proptest::collection::vec(any::<u8>(), 0..8),
                    inner,
                    0..6
                )
                .prop_map(OwnedValue::Dict),
            ]
        })
    }

    /// Converts bendy's tree (the oracle) into ours for comparison.
    fn from_bendy(v: &bendy::value::Value<'_>) -> OwnedValue {
        use bendy::value::Value as B;
        match v {
            B::Integer(i) => OwnedValue::Int(*i),
            B::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            B::List(l) => OwnedValue::List(l.iter().map(from_bendy).collect()),
            B::Dict(d) => {
                OwnedValue::Dict(d.iter().map(|(k, v)| (k.to_vec(), from_bendy(v))).collect())
            }
        }
    }

    #[test]
    fn encodes_sorted_keys() {
        let mut d = OwnedValue::dict();
        d.insert("zeta", 1);
        d.insert("alpha", "x");
        d.insert("list", vec![OwnedValue::Int(-3), "s".into()]);
        assert_eq!(d.encode(), b"d5:alpha1:x4:listli-3e1:se4:zetai1ee");
    }

    proptest! {
        #[test]
        fn round_trips_through_our_decoder(v in arb_value()) {
            let bytes = v.encode();
            let node = decode(&bytes, Limits::default()).unwrap();
            prop_assert_eq!(node.raw(), &bytes[..]);
            prop_assert_eq!(OwnedValue::from(&node), v);
        }

        #[test]
        fn bendy_reads_what_we_write(v in arb_value()) {
            use bendy::decoding::{Decoder, FromBencode};
            let bytes = v.encode();
            let mut decoder = Decoder::new(&bytes).with_max_depth(64);
            let object = decoder.next_object().unwrap().unwrap();
            let theirs = bendy::value::Value::decode_bencode_object(object).unwrap();
            prop_assert_eq!(from_bendy(&theirs), v);
        }

        #[test]
        fn we_read_what_bendy_writes(v in arb_value()) {
            let ours = v.encode();
            let mut encoder = bendy::encoding::Encoder::new().with_max_depth(64);
            encoder.emit(to_bendy(&v)).unwrap();
            let theirs = encoder.get_output().unwrap();
            prop_assert_eq!(&theirs, &ours);
            let node = decode(&theirs, Limits::default()).unwrap();
            prop_assert_eq!(OwnedValue::from(&node), v);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes, Limits::default());
        }
    }

    fn to_bendy(v: &OwnedValue) -> bendy::value::Value<'static> {
        use bendy::value::Value as B;
        use std::borrow::Cow;
        match v {
            OwnedValue::Int(i) => B::Integer(*i),
            OwnedValue::Bytes(b) => B::Bytes(Cow::Owned(b.clone())),
            OwnedValue::List(l) => B::List(l.iter().map(to_bendy).collect()),
            OwnedValue::Dict(d) => B::Dict(
                d.iter()
                    .map(|(k, v)| (Cow::Owned(k.clone()), to_bendy(v)))
                    .collect(),
            ),
        }
    }
}
