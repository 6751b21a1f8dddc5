//! Reading a versioned record's dictionary a field at a time, with nothing
//! built but what the record keeps (a start reads a hundred thousand of them:
//! a tree of nodes per record was a fifth of the restoring thread's time).
//!
//! What a record accepts is what the tree decoder accepted: the same bencode
//! ([`crate::bencode::Reader`] is the tree decoder's own scanner), the first
//! of two equal keys, unknown keys stepped over, and the same error when
//! several things are wrong: damaged bencode first, then a missing or unknown
//! version, then the first bad field.

use super::record::{RecordError, STATE_VERSION, bad};
use crate::bencode::{DecodeError, Limits, Reader, Token};

/// A record's top-level dictionary, read key by key; the version key `v` is
/// taken out of the stream and checked at the end ([`read_versioned`]).
pub(super) struct Fields<'a> {
    r: Reader<'a>,
    version: Option<Option<i64>>,
}

fn corrupt(e: DecodeError) -> RecordError {
    RecordError::Corrupt(e.to_string())
}

impl<'a> Fields<'a> {
    /// The record's next key, `None` once its dictionary ends; its value is
    /// read next ([`Fields::value`]).
    pub(super) fn next_key(&mut self) -> Result<Option<&'a [u8]>, RecordError> {
        loop {
            let Some(key) = self.key()? else {
                return Ok(None);
            };
            if key != b"v" {
                return Ok(Some(key));
            }
            let t = self.value()?;
            if self.version.is_none() {
                self.version = Some(match t {
                    Token::Int(v) => Some(v),
                    _ => None,
                });
            }
            self.skip(t)?;
        }
    }

    /// The next key of a dictionary inside the record (`None` at its end).
    pub(super) fn key(&mut self) -> Result<Option<&'a [u8]>, RecordError> {
        match self.r.token().map_err(corrupt)? {
            Token::End => Ok(None),
            Token::Bytes(k) => Ok(Some(k)),
            _ => Err(RecordError::Corrupt("a key is not a string".into())),
        }
    }

    /// What the version key read so far says is wrong: missing or not an
    /// integer, or a version this build does not know.
    fn version_error(&self) -> Option<RecordError> {
        match self.version {
            Some(Some(STATE_VERSION)) => None,
            Some(Some(v)) => Some(RecordError::Version(v)),
            _ => Some(bad("v")),
        }
    }

    /// The first token of the value under the key just read.
    pub(super) fn value(&mut self) -> Result<Token<'a>, RecordError> {
        self.r.token().map_err(corrupt)
    }

    /// Steps over the rest of the value `first` began (a key not read, or one
    /// read before).
    pub(super) fn skip(&mut self, first: Token<'a>) -> Result<(), RecordError> {
        self.r.skip(first).map_err(corrupt)
    }

    /// Calls `each` with the first token of every element of the list `first`
    /// opened; `Err(bad(what))` when `first` is not a list.
    pub(super) fn list(
        &mut self,
        first: Token<'a>,
        what: &str,
        mut each: impl FnMut(&mut Self, Token<'a>) -> Result<(), RecordError>,
    ) -> Result<(), RecordError> {
        if first != Token::List {
            return Err(bad(what));
        }
        loop {
            match self.value()? {
                Token::End => return Ok(()),
                t => each(self, t)?,
            }
        }
    }

    /// The strings of the list `first` opened, each valid UTF-8.
    pub(super) fn strings(
        &mut self,
        first: Token<'a>,
        what: &str,
    ) -> Result<Vec<String>, RecordError> {
        let mut out = Vec::new();
        self.list(first, what, |_, t| {
            out.push(text(t, what)?.to_owned());
            Ok(())
        })?;
        Ok(out)
    }
}

/// Reads the record in `bytes` with `read`, which takes its fields; the
/// version is checked after it, and when anything failed the error is the one
/// the record's worst damage earns (see the module's note).
pub(super) fn read_versioned<'a, T>(
    bytes: &'a [u8],
    read: impl FnOnce(&mut Fields<'a>) -> Result<T, RecordError>,
) -> Result<T, RecordError> {
    let attempt = || {
        let mut r = Reader::new(bytes, Limits::default());
        if r.token().map_err(corrupt)? != Token::Dict {
            return Err(RecordError::Corrupt("not a dictionary".into()));
        }
        let mut f = Fields { r, version: None };
        // `read` reads up to the dictionary's end (`next_key` says `None`).
        let out = read(&mut f)?;
        f.r.finish().map_err(corrupt)?;
        f.version_error().map_or(Ok(out), Err)
    };
    attempt().map_err(|e| worse_damage(bytes).unwrap_or(e))
}

/// What is wrong with the record as a whole, if anything: its bencode, its
/// shape, its version.
fn worse_damage(bytes: &[u8]) -> Option<RecordError> {
    let mut r = Reader::new(bytes, Limits::default());
    let whole = r
        .token()
        .and_then(|t| r.skip(t).map(|()| t))
        .and_then(|t| r.finish().map(|()| t));
    match whole {
        Err(e) => return Some(corrupt(e)),
        Ok(Token::Dict) => {}
        Ok(_) => return Some(RecordError::Corrupt("not a dictionary".into())),
    }
    let mut r = Reader::new(bytes, Limits::default());
    r.token().ok()?;
    let mut f = Fields { r, version: None };
    while f.next_key().ok()?.is_some() {
        let t = f.value().ok()?;
        f.skip(t).ok()?;
    }
    f.version_error()
}

/// A non-negative integer.
pub(super) fn uint(t: Token<'_>, what: &str) -> Result<u64, RecordError> {
    match t {
        Token::Int(v) => u64::try_from(v).map_err(|_| bad(what)),
        _ => Err(bad(what)),
    }
}

/// Any integer (signed).
pub(super) fn signed(t: Token<'_>, what: &str) -> Result<i64, RecordError> {
    match t {
        Token::Int(v) => Ok(v),
        _ => Err(bad(what)),
    }
}

/// 0 or 1.
pub(super) fn flag(t: Token<'_>, what: &str) -> Result<bool, RecordError> {
    match t {
        Token::Int(0) => Ok(false),
        Token::Int(1) => Ok(true),
        _ => Err(bad(what)),
    }
}

/// Any non-zero integer is yes; anything else, of any type, is no.
pub(super) fn nonzero(t: Token<'_>) -> bool {
    matches!(t, Token::Int(v) if v != 0)
}

/// A byte string.
pub(super) fn bytes<'a>(t: Token<'a>, what: &str) -> Result<&'a [u8], RecordError> {
    match t {
        Token::Bytes(b) => Ok(b),
        _ => Err(bad(what)),
    }
}

/// A byte string holding UTF-8.
pub(super) fn text<'a>(t: Token<'a>, what: &str) -> Result<&'a str, RecordError> {
    std::str::from_utf8(bytes(t, what)?).map_err(|_| bad(what))
}

/// A required field's value.
pub(super) fn required<T>(v: Option<T>, what: &str) -> Result<T, RecordError> {
    v.ok_or_else(|| bad(what))
}
