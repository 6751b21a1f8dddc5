//! Writing bencode straight into a buffer, for records written often (resume
//! records: a save of 100,000 torrents builds 100,000 of them). Building an
//! [`super::OwnedValue`] tree first costs an allocation per key and value;
//! this writes the same canonical bytes with none beyond the buffer's.
//!
//! The caller writes a dictionary's keys in byte order, as bencode requires;
//! a key out of order panics (a bug in the caller, caught by any test that
//! writes the record: a record's keys are fixed in its code).

/// Appends `i<v>e`.
pub fn int(out: &mut Vec<u8>, v: i64) {
    out.push(b'i');
    if v < 0 {
        out.push(b'-');
    }
    digits(out, v.unsigned_abs());
    out.push(b'e');
}

/// Appends an unsigned integer (bencode integers are `i64`: larger values are
/// written as `i64::MAX`).
pub fn uint(out: &mut Vec<u8>, v: u64) {
    int(out, i64::try_from(v).unwrap_or(i64::MAX));
}

/// Appends `<len>:<bytes>`.
pub fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    digits(out, b.len() as u64);
    out.push(b':');
    out.extend_from_slice(b);
}

/// Appends a list: `l`, what `items` writes, `e`.
pub fn list(out: &mut Vec<u8>, items: impl FnOnce(&mut Vec<u8>)) {
    out.push(b'l');
    items(out);
    out.push(b'e');
}

/// Appends a dictionary: `d`, the entries `entries` writes through a [`Dict`]
/// (keys in byte order), `e`.
pub fn dict(out: &mut Vec<u8>, entries: impl FnOnce(&mut Dict<'_>)) {
    out.push(b'd');
    let mut d = Dict { out, last: None };
    entries(&mut d);
    out.push(b'e');
}

/// A dictionary being written (see [`dict`]).
#[derive(Debug)]
pub struct Dict<'o> {
    out: &'o mut Vec<u8>,
    last: Option<&'static str>,
}

impl Dict<'_> {
    /// Writes `key`, after checking it comes after the previous one; returns the
    /// buffer for its value.
    pub fn key(&mut self, key: &'static str) -> &mut Vec<u8> {
        if let Some(last) = self.last {
            assert!(
                last.as_bytes() < key.as_bytes(),
                "bencode keys out of order: {last:?} before {key:?}"
            );
        }
        self.last = Some(key);
        bytes(self.out, key.as_bytes());
        self.out
    }

    /// `key` with an integer.
    pub fn int(&mut self, key: &'static str, v: i64) {
        int(self.key(key), v);
    }

    /// `key` with an unsigned integer (see [`uint`]).
    pub fn uint(&mut self, key: &'static str, v: u64) {
        uint(self.key(key), v);
    }

    /// `key` with a byte string.
    pub fn bytes(&mut self, key: &'static str, v: &[u8]) {
        bytes(self.key(key), v);
    }
}

/// Appends `v` in decimal.
fn digits(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + u8::try_from(v % 10).unwrap_or(0);
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::OwnedValue;
    use proptest::prelude::*;

    #[test]
    fn writes_what_the_tree_encodes() {
        let mut out = Vec::new();
        dict(&mut out, |d| {
            d.bytes("alpha", b"x");
            list(d.key("list"), |l| {
                int(l, -3);
                bytes(l, b"s");
            });
            d.uint("max", u64::MAX);
            d.int("zeta", 1);
        });
        let mut tree = OwnedValue::dict();
        tree.insert("zeta", 1);
        tree.insert("alpha", "x");
        tree.insert("list", vec![OwnedValue::Int(-3), "s".into()]);
        tree.insert("max", i64::MAX);
        assert_eq!(out, tree.encode());
    }

    #[test]
    #[should_panic(expected = "out of order")]
    fn a_key_out_of_order_is_refused() {
        dict(&mut Vec::new(), |d| {
            d.int("b", 1);
            d.int("a", 2);
        });
    }

    proptest! {
        #[test]
        fn integers_as_the_tree_writes_them(v in any::<i64>()) {
            let mut out = Vec::new();
            int(&mut out, v);
            prop_assert_eq!(out, OwnedValue::Int(v).encode());
        }
    }
}
