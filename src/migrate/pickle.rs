//! A reader for the few Python pickles a client keeps its state in (Deluge's
//! `torrents.state`): data only. Classes are never looked up or called: an
//! object is its class's name and the state it was built with, so a pickle
//! from anywhere can do nothing but describe values.
//!
//! What it reads: the opcodes Python 3 writes for protocols 2 to 4 (and
//! Python 2 for protocol 2) when it pickles dictionaries, lists, tuples,
//! text, bytes, numbers, booleans, `None` and plain objects (`GLOBAL`/`STACK_GLOBAL` with `NEWOBJ` or
//! `REDUCE`, then `BUILD`). Anything else is refused, with its opcode.
//!
//! Bounds, for a hostile file: values nest at most [`MAX_DEPTH`] deep; the
//! memo's values are copied where they are fetched again, and the values made
//! in all (copies counted) are at most [`MAX_VALUES`] plus four per byte of
//! the input, so a small file cannot grow into a large tree; a text or bytes value
//! is at most the input's length.

use std::collections::HashMap;

/// How deep values may nest.
pub const MAX_DEPTH: usize = 64;
/// How many values one pickle may make, copies from the memo included, on
/// top of four per byte of it (a client's state of 10,000 torrents makes
/// about two per byte).
pub const MAX_VALUES: usize = 1 << 20;

/// A value read from a pickle.
#[derive(Debug, Clone, PartialEq)]
pub enum Py {
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An integer that fits 64 bits.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Str(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A list or a tuple.
    List(Vec<Py>),
    /// A dictionary's pairs, in order.
    Dict(Vec<(Py, Py)>),
    /// A class, by `module name`.
    Class(String),
    /// An object: its class, and the state `BUILD` gave it (a dictionary,
    /// usually; `None` if none).
    Object(String, Box<Py>),
}

impl Py {
    /// A dictionary's value for text key `key`; an object's state's.
    pub fn get(&self, key: &str) -> Option<&Py> {
        match self {
            Py::Dict(pairs) => pairs
                .iter()
                .find(|(k, _)| matches!(k, Py::Str(s) if s == key))
                .map(|(_, v)| v),
            Py::Object(_, state) => state.get(key),
            _ => None,
        }
    }

    /// Text, or `None`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Py::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A boolean (an integer 0 or 1 too), or `None`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Py::Bool(b) => Some(*b),
            Py::Int(0) => Some(false),
            Py::Int(1) => Some(true),
            _ => None,
        }
    }

    /// A number as a float, or `None`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Py::Float(f) => Some(*f),
            #[allow(clippy::cast_precision_loss)] // small numbers from a client's settings
            Py::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// A list's (or a tuple's) items, or `None`.
    pub fn as_list(&self) -> Option<&[Py]> {
        match self {
            Py::List(v) => Some(v),
            _ => None,
        }
    }

    /// How deep it nests (1 for a value with nothing inside).
    fn depth(&self) -> usize {
        match self {
            Py::List(v) => 1 + v.iter().map(Py::depth).max().unwrap_or(0),
            Py::Dict(p) => {
                1 + p
                    .iter()
                    .map(|(k, v)| k.depth().max(v.depth()))
                    .max()
                    .unwrap_or(0)
            }
            Py::Object(_, s) => 1 + s.depth(),
            _ => 1,
        }
    }

    /// How many values it holds, itself included.
    fn count(&self) -> usize {
        match self {
            Py::List(v) => 1 + v.iter().map(Py::count).sum::<usize>(),
            Py::Dict(p) => 1 + p.iter().map(|(k, v)| k.count() + v.count()).sum::<usize>(),
            Py::Object(_, s) => 1 + s.count(),
            _ => 1,
        }
    }
}

/// Why a pickle was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickleError {
    /// It ends before its `STOP`.
    #[error("it ends early")]
    Truncated,
    /// An opcode this reader does not take.
    #[error("opcode {0:#04x} at byte {1} is not read here")]
    Opcode(u8, usize),
    /// Its opcodes do not make values (a pop from an empty stack, an item
    /// added to something that is not a list, a memo entry never stored).
    #[error("malformed at byte {0}")]
    Malformed(usize),
    /// Past [`MAX_DEPTH`] or [`MAX_VALUES`].
    #[error("too large or too deep")]
    TooLarge,
}

/// One item on the machine's stack: a value, or a mark.
enum Item {
    Mark,
    Value(Py),
}

struct Machine<'a> {
    data: &'a [u8],
    at: usize,
    stack: Vec<Item>,
    memo: HashMap<u32, Py>,
    made: usize,
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self.at.checked_add(n).ok_or(PickleError::Truncated)?;
        let b = self.data.get(self.at..end).ok_or(PickleError::Truncated)?;
        self.at = end;
        Ok(b)
    }

    fn uint(&mut self, n: usize) -> Result<u64, PickleError> {
        let b = self.take(n)?;
        Ok(b.iter().rev().fold(0, |acc, &x| (acc << 8) | u64::from(x)))
    }

    fn len(&mut self, n: usize) -> Result<usize, PickleError> {
        let l = usize::try_from(self.uint(n)?).map_err(|_| PickleError::Truncated)?;
        if l > self.data.len() {
            return Err(PickleError::Truncated);
        }
        Ok(l)
    }

    /// A text line (for `GLOBAL`), without its newline.
    fn line(&mut self) -> Result<String, PickleError> {
        let rest = self.data.get(self.at..).ok_or(PickleError::Truncated)?;
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PickleError::Truncated)?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.at += n + 1;
        Ok(s)
    }

    /// Counts `n` values made (copies included).
    fn made(&mut self, n: usize) -> Result<(), PickleError> {
        self.made = self.made.saturating_add(n);
        if self.made > MAX_VALUES.saturating_add(self.data.len().saturating_mul(4)) {
            return Err(PickleError::TooLarge);
        }
        Ok(())
    }

    /// Pushes a value that is new: itself counted (what it holds was).
    fn push(&mut self, v: Py) -> Result<(), PickleError> {
        self.made(1)?;
        self.stack.push(Item::Value(v));
        Ok(())
    }

    /// Pushes a new list of `items` (already counted).
    fn push_list(&mut self, items: Vec<Py>) -> Result<(), PickleError> {
        let deepest = items.iter().map(Py::depth).max().unwrap_or(0);
        if deepest >= MAX_DEPTH {
            return Err(PickleError::TooLarge);
        }
        self.push(Py::List(items))
    }

    fn pop(&mut self, at: usize) -> Result<Py, PickleError> {
        match self.stack.pop() {
            Some(Item::Value(v)) => Ok(v),
            _ => Err(PickleError::Malformed(at)),
        }
    }

    /// The values above the topmost mark, the mark taken away.
    fn since_mark(&mut self, at: usize) -> Result<Vec<Py>, PickleError> {
        let mark = (self.stack.iter())
            .rposition(|i| matches!(i, Item::Mark))
            .ok_or(PickleError::Malformed(at))?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items
            .into_iter()
            .filter_map(|i| match i {
                Item::Value(v) => Some(v),
                Item::Mark => None,
            })
            .collect())
    }

    /// Adds `items` to the list (or, `pairs`, the dictionary) on top.
    fn extend(&mut self, items: Vec<Py>, pairs: bool, at: usize) -> Result<(), PickleError> {
        if items.iter().map(Py::depth).max().unwrap_or(0) >= MAX_DEPTH {
            return Err(PickleError::TooLarge);
        }
        let target = self.pop(at)?;
        let grown = match (target, pairs) {
            (Py::List(mut v), false) => {
                v.extend(items);
                Py::List(v)
            }
            (Py::Dict(mut p), true) if items.len().is_multiple_of(2) => {
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    p.push((k, v));
                }
                Py::Dict(p)
            }
            _ => return Err(PickleError::Malformed(at)),
        };
        // Its items were counted when made.
        self.stack.push(Item::Value(grown));
        Ok(())
    }

    fn top(&self, at: usize) -> Result<&Py, PickleError> {
        match self.stack.last() {
            Some(Item::Value(v)) => Ok(v),
            _ => Err(PickleError::Malformed(at)),
        }
    }

    fn step(&mut self) -> Result<Option<Py>, PickleError> {
        let at = self.at;
        let op = self.take(1)?[0];
        match op {
            0x80 => drop(self.take(1)?), // PROTO
            0x95 => drop(self.take(8)?), // FRAME
            b'.' => return self.pop(at).map(Some),
            b'(' => self.stack.push(Item::Mark),
            b'}' => self.push(Py::Dict(Vec::new()))?,
            b']' | b')' => self.push(Py::List(Vec::new()))?,
            b'N' => self.push(Py::None)?,
            0x88 => self.push(Py::Bool(true))?,
            0x89 => self.push(Py::Bool(false))?,
            b'J' => {
                let v = i64::from(i32::from_le_bytes(self.take(4)?.try_into().expect("4")));
                self.push(Py::Int(v))?;
            }
            b'K' => {
                let v = self.uint(1)?;
                self.push(Py::Int(i64::try_from(v).expect("a byte")))?;
            }
            b'M' => {
                let v = self.uint(2)?;
                self.push(Py::Int(i64::try_from(v).expect("two bytes")))?;
            }
            0x8a => {
                // LONG1: little-endian two's complement, up to 8 bytes here.
                let n = self.len(1)?;
                let b = self.take(n)?;
                if n > 8 {
                    return Err(PickleError::TooLarge);
                }
                let mut buf = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                    [0xff; 8]
                } else {
                    [0; 8]
                };
                buf[..n].copy_from_slice(b);
                self.push(Py::Int(i64::from_le_bytes(buf)))?;
            }
            b'G' => {
                let v = f64::from_be_bytes(self.take(8)?.try_into().expect("8"));
                self.push(Py::Float(v))?;
            }
            // Text; `T` and `U` are Python 2's byte strings (Deluge 1.3's
            // state), read as text too.
            b'X' | 0x8c | 0x8d | b'T' | b'U' => {
                let n = match op {
                    b'X' | b'T' => self.len(4)?,
                    0x8c | b'U' => self.len(1)?,
                    _ => self.len(8)?,
                };
                let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                self.push(Py::Str(s))?;
            }
            b'B' | b'C' | 0x8e => {
                let n = match op {
                    b'B' => self.len(4)?,
                    b'C' => self.len(1)?,
                    _ => self.len(8)?,
                };
                let b = self.take(n)?.to_vec();
                self.push(Py::Bytes(b))?;
            }
            b't' => {
                let items = self.since_mark(at)?;
                self.push_list(items)?;
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                if self.stack.len() < n {
                    return Err(PickleError::Malformed(at));
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop(at)?);
                }
                items.reverse();
                self.push_list(items)?;
            }
            b'a' => {
                let v = self.pop(at)?;
                self.extend(vec![v], false, at)?;
            }
            b'e' => {
                let items = self.since_mark(at)?;
                self.extend(items, false, at)?;
            }
            b's' => {
                let v = self.pop(at)?;
                let k = self.pop(at)?;
                self.extend(vec![k, v], true, at)?;
            }
            b'u' => {
                let items = self.since_mark(at)?;
                self.extend(items, true, at)?;
            }
            b'q' | b'r' | 0x94 => {
                let key = match op {
                    b'q' => self.uint(1)?,
                    b'r' => self.uint(4)?,
                    _ => self.memo.len() as u64,
                };
                let key = u32::try_from(key).map_err(|_| PickleError::Malformed(at))?;
                // A copy: every value in it counts again.
                let n = self.top(at)?.count();
                self.made(n)?;
                let v = self.top(at)?.clone();
                self.memo.insert(key, v);
            }
            b'h' | b'j' => {
                let key = u32::try_from(self.uint(if op == b'h' { 1 } else { 4 })?)
                    .map_err(|_| PickleError::Malformed(at))?;
                let n = self
                    .memo
                    .get(&key)
                    .ok_or(PickleError::Malformed(at))?
                    .count();
                // A copy: every value in it counts again.
                self.made(n)?;
                let v = self.memo[&key].clone();
                self.stack.push(Item::Value(v));
            }
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                self.push(Py::Class(format!("{module} {name}")))?;
            }
            0x93 => {
                let name = self.pop(at)?;
                let module = self.pop(at)?;
                let (Py::Str(m), Py::Str(n)) = (module, name) else {
                    return Err(PickleError::Malformed(at));
                };
                self.push(Py::Class(format!("{m} {n}")))?;
            }
            // NEWOBJ and REDUCE: an object of the class, its arguments
            // dropped (a class is never called).
            0x81 | b'R' => {
                let _args = self.pop(at)?;
                let Py::Class(c) = self.pop(at)? else {
                    return Err(PickleError::Malformed(at));
                };
                self.push(Py::Object(c, Box::new(Py::None)))?;
            }
            b'b' => {
                let state = self.pop(at)?;
                let Py::Object(c, _) = self.pop(at)? else {
                    return Err(PickleError::Malformed(at));
                };
                if state.depth() >= MAX_DEPTH {
                    return Err(PickleError::TooLarge);
                }
                self.push(Py::Object(c, Box::new(state)))?;
            }
            _ => return Err(PickleError::Opcode(op, at)),
        }
        Ok(None)
    }
}

/// The value `data` pickles.
pub fn load(data: &[u8]) -> Result<Py, PickleError> {
    let mut m = Machine {
        data,
        at: 0,
        stack: Vec::new(),
        memo: HashMap::new(),
        made: 0,
    };
    loop {
        if let Some(v) = m.step()? {
            return Ok(v);
        }
    }
}
