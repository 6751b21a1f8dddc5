//! The bencode decoder: recursive descent over a byte slice, bounded by [`Limits`].

use std::fmt;

use super::reader::Reader;

/// Bounds on what the decoder accepts. A value past a bound is an error, not a
/// truncation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How deep lists and dictionaries may nest (the top level counts as 1).
    pub max_depth: usize,
    /// How many values (and dictionary keys) one input may hold in all.
    pub max_tokens: usize,
    /// The longest byte string accepted, in bytes.
    pub max_string_len: usize,
}

impl Default for Limits {
    /// The same order of magnitude as libtorrent's defaults: depth 100, two million
    /// tokens, and no string longer than 32 MiB (the largest .torrent we load).
    fn default() -> Self {
        Limits {
            max_depth: 100,
            max_tokens: 2_000_000,
            max_string_len: 32 << 20,
        }
    }
}

/// Why decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// The input ended in the middle of a value.
    #[error("input ends inside a value")]
    UnexpectedEnd,
    /// A byte that cannot start a value (or end a list or dictionary) was found.
    #[error("unexpected byte {0:#04x} where a value should start")]
    UnexpectedByte(u8),
    /// An integer was empty, had a stray character, or was just a sign.
    #[error("malformed integer")]
    BadInteger,
    /// An integer does not fit in a signed 64-bit value.
    #[error("integer does not fit in 64 bits")]
    IntegerOverflow,
    /// A string length prefix was malformed.
    #[error("malformed string length")]
    BadLength,
    /// A string claims more bytes than remain in the input or than the limit allows.
    #[error("string of {len} bytes is longer than {available} bytes allowed here")]
    StringTooLong {
        /// The length the prefix announced.
        len: u64,
        /// What the input or the limit allowed at that point.
        available: usize,
    },
    /// Lists and dictionaries nest deeper than [`Limits::max_depth`].
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    /// The input holds more values than [`Limits::max_tokens`].
    #[error("more than {0} values")]
    TooManyTokens(usize),
    /// A dictionary key was not a byte string.
    #[error("dictionary key is not a byte string")]
    NonStringKey,
    /// Bytes follow the one top-level value.
    #[error("{0} bytes of trailing data after the value")]
    TrailingData(usize),
}

/// A decoding failure: where (byte offset into the input) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bencode error at byte {offset}: {kind}")]
pub struct DecodeError {
    /// Offset of the byte at which decoding failed.
    pub offset: usize,
    /// What was wrong there.
    pub kind: DecodeErrorKind,
}

/// A decoded value; containers hold [`Node`]s so every element keeps its raw bytes.
#[derive(Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// `i...e`
    Int(i64),
    /// `N:...`, not necessarily UTF-8.
    Bytes(&'a [u8]),
    /// `l...e`
    List(Vec<Node<'a>>),
    /// `d...e`, entries in input order; duplicates are kept.
    Dict(Vec<(&'a [u8], Node<'a>)>),
}

/// A value together with the exact input bytes it was decoded from.
#[derive(Clone, PartialEq, Eq)]
pub struct Node<'a> {
    /// The decoded value.
    pub value: Value<'a>,
    raw: &'a [u8],
    offset: usize,
}

impl<'a> Node<'a> {
    /// The exact bytes of this value in the input (for `info`: what the info-hash covers).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Offset of this value's first byte in the input.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The byte string, if this is one.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self.value {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The byte string as UTF-8, if this is a byte string holding valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The elements, if this is a list.
    pub fn as_list(&self) -> Option<&[Node<'a>]> {
        match &self.value {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The entries in input order, if this is a dictionary.
    pub fn as_dict(&self) -> Option<&[(&'a [u8], Node<'a>)]> {
        match &self.value {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The first entry under `key`, if this is a dictionary that has one.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.as_dict()?
            .iter()
            .find(|(k, _)| *k == key.as_bytes())
            .map(|(_, v)| v)
    }
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) if b.len() <= 64 => write!(f, "{s:?}"),
                _ => write!(f, "<{} bytes>", b.len()),
            },
            Value::List(l) => f.debug_list().entries(l).finish(),
            Value::Dict(d) => f
                .debug_map()
                .entries(d.iter().map(|(k, v)| (String::from_utf8_lossy(k), v)))
                .finish(),
        }
    }
}

/// Decode exactly one value that spans the whole input.
pub fn decode(input: &[u8], limits: Limits) -> Result<Node<'_>, DecodeError> {
    let (node, used) = decode_prefix(input, limits)?;
    if used != input.len() {
        return Err(DecodeError {
            offset: used,
            kind: DecodeErrorKind::TrailingData(input.len() - used),
        });
    }
    Ok(node)
}

/// Decode one value at the start of `input` and return it with the number of bytes it
/// used; whatever follows is left alone (a ut_metadata message carries raw data after
/// its dictionary).
pub fn decode_prefix(input: &[u8], limits: Limits) -> Result<(Node<'_>, usize), DecodeError> {
    let mut d = Decoder {
        r: Reader::new(input, limits),
        input,
        tokens: 0,
        limits,
    };
    let node = d.value()?;
    Ok((node, d.r.pos()))
}

/// The tree builder over the [`Reader`]'s scanning (one definition of what a
/// valid integer, string or nesting is).
struct Decoder<'a> {
    r: Reader<'a>,
    input: &'a [u8],
    tokens: usize,
    limits: Limits,
}

impl<'a> Decoder<'a> {
    fn count_token(&mut self) -> Result<(), DecodeError> {
        self.tokens += 1;
        if self.tokens > self.limits.max_tokens {
            return self.r.err(
                self.r.pos(),
                DecodeErrorKind::TooManyTokens(self.limits.max_tokens),
            );
        }
        Ok(())
    }

    fn value(&mut self) -> Result<Node<'a>, DecodeError> {
        self.count_token()?;
        let start = self.r.pos();
        let value = match self.r.peek()? {
            b'i' => Value::Int(self.r.int()?),
            b'0'..=b'9' => Value::Bytes(self.r.bytes()?),
            b'l' => {
                self.r.open()?;
                let mut items = Vec::new();
                while self.r.peek()? != b'e' {
                    items.push(self.value()?);
                }
                self.r.close();
                Value::List(items)
            }
            b'd' => {
                self.r.open()?;
                let mut entries = Vec::new();
                while self.r.peek()? != b'e' {
                    if !self.r.peek()?.is_ascii_digit() {
                        return self.r.err(self.r.pos(), DecodeErrorKind::NonStringKey);
                    }
                    self.count_token()?;
                    let key = self.r.bytes()?;
                    let value = self.value()?;
                    entries.push((key, value));
                }
                self.r.close();
                Value::Dict(entries)
            }
            other => return self.r.err(start, DecodeErrorKind::UnexpectedByte(other)),
        };
        Ok(Node {
            value,
            raw: &self.input[start..self.r.pos()],
            offset: start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(input: &[u8]) -> Result<Node<'_>, DecodeError> {
        decode(input, Limits::default())
    }

    fn kind(input: &[u8]) -> DecodeErrorKind {
        dec(input).unwrap_err().kind
    }

    #[test]
    fn integers_parse_with_sign_and_leading_zeros() {
        assert_eq!(dec(b"i42e").unwrap().as_int(), Some(42));
        assert_eq!(dec(b"i-42e").unwrap().as_int(), Some(-42));
        assert_eq!(dec(b"i007e").unwrap().as_int(), Some(7));
        assert_eq!(dec(b"i-0e").unwrap().as_int(), Some(0));
        assert_eq!(
            dec(b"i9223372036854775807e").unwrap().as_int(),
            Some(i64::MAX)
        );
        assert_eq!(
            dec(b"i-9223372036854775808e").unwrap().as_int(),
            Some(i64::MIN)
        );
    }

    #[test]
    fn malformed_integers_say_where() {
        assert_eq!(kind(b"ie"), DecodeErrorKind::BadInteger);
        assert_eq!(kind(b"i-e"), DecodeErrorKind::BadInteger);
        assert_eq!(kind(b"i1x2e"), DecodeErrorKind::BadInteger);
        assert_eq!(dec(b"i1x2e").unwrap_err().offset, 2);
        assert_eq!(
            kind(b"i9223372036854775808e"),
            DecodeErrorKind::IntegerOverflow
        );
        assert_eq!(kind(b"i12"), DecodeErrorKind::UnexpectedEnd);
    }

    #[test]
    fn strings_borrow_from_the_input() {
        let input = b"4:spam";
        let n = dec(input).unwrap();
        assert_eq!(n.as_bytes(), Some(&b"spam"[..]));
        assert_eq!(n.as_bytes().unwrap().as_ptr(), input[2..].as_ptr());
        assert_eq!(dec(b"0:").unwrap().as_bytes(), Some(&b""[..]));
        assert_eq!(dec(b"04:spam").unwrap().as_bytes(), Some(&b"spam"[..]));
    }

    #[test]
    fn string_longer_than_input_is_rejected_without_allocating() {
        assert!(matches!(
            kind(b"99999999999999:x"),
            DecodeErrorKind::StringTooLong { .. }
        ));
        assert_eq!(
            kind(b"99999999999999999999999:x"),
            DecodeErrorKind::BadLength
        );
        assert_eq!(kind(b"4spam"), DecodeErrorKind::BadLength);
    }

    #[test]
    fn string_limit_applies() {
        let limits = Limits {
            max_string_len: 3,
            ..Limits::default()
        };
        assert!(decode(b"3:abc", limits).is_ok());
        assert!(matches!(
            decode(b"4:abcd", limits).unwrap_err().kind,
            DecodeErrorKind::StringTooLong { .. }
        ));
    }

    #[test]
    fn dictionaries_keep_order_duplicates_and_raw_spans() {
        let input = b"d1:bi1e1:ai2e1:bi3ee";
        let n = dec(input).unwrap();
        let keys: Vec<_> = n.as_dict().unwrap().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec![&b"b"[..], b"a", b"b"]);
        // First duplicate wins, as in libtorrent.
        assert_eq!(n.get("b").unwrap().as_int(), Some(1));
        assert_eq!(n.get("a").unwrap().raw(), b"i2e");
        assert_eq!(n.get("a").unwrap().offset(), 10);
        assert_eq!(n.raw(), input);
    }

    #[test]
    fn structural_errors_are_reported() {
        assert_eq!(kind(b""), DecodeErrorKind::UnexpectedEnd);
        assert_eq!(kind(b"l"), DecodeErrorKind::UnexpectedEnd);
        assert_eq!(kind(b"d3:key"), DecodeErrorKind::UnexpectedEnd);
        assert_eq!(kind(b"di1ei2ee"), DecodeErrorKind::NonStringKey);
        assert_eq!(kind(b"x"), DecodeErrorKind::UnexpectedByte(b'x'));
        assert_eq!(kind(b"e"), DecodeErrorKind::UnexpectedByte(b'e'));
        assert_eq!(kind(b"i1ei2e"), DecodeErrorKind::TrailingData(3));
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let deep = [vec![b'l'; 100], vec![b'e'; 100]].concat();
        assert!(dec(&deep).is_ok());
        let deeper = [vec![b'l'; 101], vec![b'e'; 101]].concat();
        assert_eq!(kind(&deeper), DecodeErrorKind::TooDeep(100));
        // A bomb far past the limit fails fast at the limit, not at the end.
        let bomb = vec![b'l'; 10_000_000];
        let e = dec(&bomb).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::TooDeep(100));
        assert_eq!(e.offset, 100);
    }

    #[test]
    fn token_count_is_bounded() {
        let limits = Limits {
            max_tokens: 10,
            ..Limits::default()
        };
        let mut many = b"l".to_vec();
        many.extend(std::iter::repeat_n(&b"i1e"[..], 20).flatten());
        many.push(b'e');
        assert_eq!(
            decode(&many, limits).unwrap_err().kind,
            DecodeErrorKind::TooManyTokens(10)
        );
    }

    #[test]
    fn prefix_decoding_leaves_the_rest() {
        let (n, used) = decode_prefix(b"d1:ai1eeRAWDATA", Limits::default()).unwrap();
        assert_eq!(used, 8);
        assert_eq!(n.get("a").unwrap().as_int(), Some(1));
    }
}
