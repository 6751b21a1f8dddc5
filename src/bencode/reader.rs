//! The pull reader: bencode as a stream of tokens, with nothing built.
//!
//! [`decode`](super::decode) builds a tree of [`Node`](super::Node)s, a vector
//! per list and dictionary; a caller that knows the shape it expects (a resume
//! record read a hundred thousand times at a start) reads the tokens in order
//! instead and keeps only what it wants. The tree decoder itself is built on
//! this reader's scanning, so both accept exactly the same bytes.

use super::decode::{DecodeError, DecodeErrorKind, Limits};

/// One step through the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// `i...e`
    Int(i64),
    /// `N:...`
    Bytes(&'a [u8]),
    /// `l`: the list's elements follow, then [`Token::End`].
    List,
    /// `d`: keys (byte strings) and values follow in turn, then [`Token::End`].
    Dict,
    /// `e`: the innermost open list or dictionary ends.
    End,
}

/// Reads one value's tokens from a byte slice, bounded by [`Limits`]: nesting
/// deeper than `max_depth` and strings longer than `max_string_len` are
/// errors; it allocates nothing, so a token count needs no bound here.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    depth: usize,
    limits: Limits,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `input`.
    pub fn new(input: &'a [u8], limits: Limits) -> Self {
        Reader {
            input,
            pos: 0,
            depth: 0,
            limits,
        }
    }

    /// Offset of the next byte to read.
    pub fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn err<T>(&self, offset: usize, kind: DecodeErrorKind) -> Result<T, DecodeError> {
        Err(DecodeError { offset, kind })
    }

    pub(super) fn peek(&self) -> Result<u8, DecodeError> {
        match self.input.get(self.pos) {
            Some(&b) => Ok(b),
            None => self.err(self.pos, DecodeErrorKind::UnexpectedEnd),
        }
    }

    /// The next token. An `e` with no list or dictionary open, or any byte
    /// that starts no value, is an error; so is a token after the one
    /// top-level value has ended.
    pub fn token(&mut self) -> Result<Token<'a>, DecodeError> {
        if self.depth == 0 && self.pos > 0 {
            return self.err(
                self.pos,
                DecodeErrorKind::TrailingData(self.input.len() - self.pos),
            );
        }
        self.next_token()
    }

    /// The next token, the top level's end unchecked (the tree decoder
    /// tracks values, not the reader's position in them).
    fn next_token(&mut self) -> Result<Token<'a>, DecodeError> {
        let b = self.peek()?;
        Ok(match b {
            b'i' => Token::Int(self.int()?),
            b'0'..=b'9' => Token::Bytes(self.bytes()?),
            b'l' => {
                self.open()?;
                Token::List
            }
            b'd' => {
                self.open()?;
                Token::Dict
            }
            b'e' if self.depth > 0 => {
                self.close();
                Token::End
            }
            other => return self.err(self.pos, DecodeErrorKind::UnexpectedByte(other)),
        })
    }

    /// Steps over the rest of the value `first` began (nothing more for an
    /// integer or a string; up to its `e` for a list or dictionary).
    pub fn skip(&mut self, first: Token<'a>) -> Result<(), DecodeError> {
        if !matches!(first, Token::List | Token::Dict) {
            return Ok(());
        }
        let until = self.depth - 1;
        while self.depth > until {
            self.next_token()?;
        }
        Ok(())
    }

    /// Checks that the one top-level value is complete and nothing follows it.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.depth > 0 || self.pos == 0 {
            return self.err(self.pos, DecodeErrorKind::UnexpectedEnd);
        }
        if self.pos != self.input.len() {
            return self.err(
                self.pos,
                DecodeErrorKind::TrailingData(self.input.len() - self.pos),
            );
        }
        Ok(())
    }

    /// Steps into a list or dictionary, within the depth bound.
    pub(super) fn open(&mut self) -> Result<(), DecodeError> {
        if self.depth >= self.limits.max_depth {
            return self.err(self.pos, DecodeErrorKind::TooDeep(self.limits.max_depth));
        }
        self.depth += 1;
        self.pos += 1;
        Ok(())
    }

    /// Steps over the `e` that ends the innermost list or dictionary.
    pub(super) fn close(&mut self) {
        self.depth -= 1;
        self.pos += 1;
    }

    /// `i<digits>e`, with an optional minus sign; leading zeros are accepted.
    pub(super) fn int(&mut self) -> Result<i64, DecodeError> {
        let start = self.pos;
        self.pos += 1; // 'i'
        let negative = self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        let mut value: i64 = 0;
        let mut digits = 0usize;
        loop {
            let b = self.peek()?;
            match b {
                b'0'..=b'9' => {
                    let d = i64::from(b - b'0');
                    // Accumulate towards the sign so that i64::MIN parses.
                    value = value
                        .checked_mul(10)
                        .and_then(|v| {
                            if negative {
                                v.checked_sub(d)
                            } else {
                                v.checked_add(d)
                            }
                        })
                        .ok_or(DecodeError {
                            offset: start,
                            kind: DecodeErrorKind::IntegerOverflow,
                        })?;
                    digits += 1;
                    self.pos += 1;
                }
                b'e' if digits > 0 => {
                    self.pos += 1;
                    return Ok(value);
                }
                _ => return self.err(self.pos, DecodeErrorKind::BadInteger),
            }
        }
    }

    /// `<len>:<bytes>`; leading zeros in the length are accepted.
    pub(super) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let mut len: u64 = 0;
        loop {
            let b = self.peek()?;
            match b {
                b'0'..=b'9' => {
                    len = len
                        .checked_mul(10)
                        .and_then(|l| l.checked_add(u64::from(b - b'0')))
                        .ok_or(DecodeError {
                            offset: start,
                            kind: DecodeErrorKind::BadLength,
                        })?;
                    self.pos += 1;
                }
                b':' => {
                    self.pos += 1;
                    break;
                }
                _ => return self.err(self.pos, DecodeErrorKind::BadLength),
            }
        }
        let remaining = self.input.len() - self.pos;
        let available = remaining.min(self.limits.max_string_len);
        match usize::try_from(len) {
            Ok(n) if n <= available => {
                let s = &self.input[self.pos..self.pos + n];
                self.pos += n;
                Ok(s)
            }
            _ => self.err(start, DecodeErrorKind::StringTooLong { len, available }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(input: &[u8]) -> Result<Vec<Token<'_>>, DecodeError> {
        let mut r = Reader::new(input, Limits::default());
        let mut out = vec![r.token()?];
        while r.depth > 0 {
            out.push(r.token()?);
        }
        r.finish()?;
        Ok(out)
    }

    #[test]
    fn tokens_come_in_input_order() {
        use Token::*;
        assert_eq!(
            tokens(b"d1:ai1e1:bl2:xyi-3eee").unwrap(),
            vec![
                Dict,
                Bytes(b"a"),
                Int(1),
                Bytes(b"b"),
                List,
                Bytes(b"xy"),
                Int(-3),
                End,
                End
            ]
        );
        assert_eq!(tokens(b"i7e").unwrap(), vec![Int(7)]);
    }

    #[test]
    fn the_tree_decoder_and_the_reader_refuse_the_same_bytes() {
        for bad in [
            &b""[..],
            b"e",
            b"l",
            b"i1ei2e",
            b"le1",
            b"d1:a",
            b"x",
            b"i-e",
            b"5:abc",
        ] {
            let tree = super::super::decode(bad, Limits::default()).unwrap_err();
            assert_eq!(tokens(bad).unwrap_err().kind, tree.kind, "{bad:?}");
        }
    }

    #[test]
    fn skip_steps_over_a_whole_container() {
        let mut r = Reader::new(b"d1:ald1:xi1eeli2eee1:bi9ee", Limits::default());
        assert_eq!(r.token().unwrap(), Token::Dict);
        assert_eq!(r.token().unwrap(), Token::Bytes(b"a"));
        let first = r.token().unwrap();
        r.skip(first).unwrap();
        assert_eq!(r.token().unwrap(), Token::Bytes(b"b"));
        assert_eq!(r.token().unwrap(), Token::Int(9));
        assert_eq!(r.token().unwrap(), Token::End);
        r.finish().unwrap();
        // Past the end, the reader says so.
        assert_eq!(
            r.token().unwrap_err().kind,
            DecodeErrorKind::TrailingData(0)
        );
    }

    #[test]
    fn nesting_is_bounded_and_a_bomb_stops_at_the_bound() {
        let limits = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        let mut r = Reader::new(&[b'l'; 1000], limits);
        let first = r.token().unwrap();
        let e = r.skip(first).unwrap_err();
        assert_eq!((e.kind, e.offset), (DecodeErrorKind::TooDeep(3), 3));
    }
}
