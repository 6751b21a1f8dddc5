//! A fixed-size bit set of pieces, in the wire's order (high bit of byte 0 is piece 0).

use std::sync::atomic::{AtomicU64, Ordering};

/// Which pieces someone has.
#[derive(Debug, Default)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: u32,
    count: u32,
    /// Changes when a set bit is cleared, and differs between any two bitfields
    /// made separately: a reader that saw generation `g` and sees it again knows
    /// no bit it saw set has been cleared since (see [`Bitfield::generation`]).
    generation: u64,
}

/// Where generations come from: every new value is unique in the process.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed)
}

impl Clone for Bitfield {
    fn clone(&self) -> Self {
        Bitfield {
            bytes: self.bytes.clone(),
            len: self.len,
            count: self.count,
            // A copy can be changed apart and put back: it is another bitfield.
            generation: next_generation(),
        }
    }
}

impl PartialEq for Bitfield {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.bytes == other.bytes
    }
}

impl Eq for Bitfield {}

impl Bitfield {
    /// `len` pieces, none set.
    pub fn new(len: u32) -> Bitfield {
        Bitfield {
            bytes: vec![0; len.div_ceil(8) as usize],
            len,
            count: 0,
            generation: next_generation(),
        }
    }

    /// Same as before if no set bit was cleared and the bitfield was not replaced
    /// since; set bits may have been added. (The picker keeps its candidate lists
    /// across calls on this.)
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// `len` pieces, all set.
    pub fn full(len: u32) -> Bitfield {
        let mut b = Bitfield::new(len);
        for i in 0..len {
            b.set(i);
        }
        b
    }

    /// From wire bytes: `None` if the length is wrong or spare bits are set.
    pub fn from_wire(bytes: &[u8], len: u32) -> Option<Bitfield> {
        if bytes.len() != len.div_ceil(8) as usize {
            return None;
        }
        let spare = len % 8;
        if spare != 0 && bytes.last().is_some_and(|b| b & (0xff >> spare) != 0) {
            return None;
        }
        let count = bytes.iter().map(|b| b.count_ones()).sum();
        Some(Bitfield {
            bytes: bytes.to_vec(),
            len,
            count,
            generation: next_generation(),
        })
    }

    /// Wire bytes.
    pub fn as_wire(&self) -> &[u8] {
        &self.bytes
    }

    /// Number of pieces.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// No pieces at all (a torrent whose metadata is not known yet).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pieces set.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Every piece is set.
    pub fn all(&self) -> bool {
        self.count == self.len
    }

    /// Whether piece `i` is set (false when out of range).
    pub fn get(&self, i: u32) -> bool {
        i < self.len && self.bytes[(i / 8) as usize] & (0x80 >> (i % 8)) != 0
    }

    /// Sets piece `i`; returns whether it was newly set.
    pub fn set(&mut self, i: u32) -> bool {
        assert!(i < self.len, "piece {i} out of range {}", self.len);
        let (byte, bit) = ((i / 8) as usize, 0x80u8 >> (i % 8));
        let new = self.bytes[byte] & bit == 0;
        self.bytes[byte] |= bit;
        self.count += u32::from(new);
        new
    }

    /// Clears piece `i`; returns whether it was set.
    pub fn clear(&mut self, i: u32) -> bool {
        assert!(i < self.len);
        let (byte, bit) = ((i / 8) as usize, 0x80u8 >> (i % 8));
        let was = self.bytes[byte] & bit != 0;
        self.bytes[byte] &= !bit;
        self.count -= u32::from(was);
        if was {
            self.generation = next_generation();
        }
        was
    }

    /// Indices of set pieces.
    pub fn ones(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(|&i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_count_and_wire() {
        let mut b = Bitfield::new(10);
        assert!(b.set(0) && b.set(9) && !b.set(9));
        assert_eq!(b.count(), 2);
        assert_eq!(b.as_wire(), &[0x80, 0x40]);
        assert_eq!(Bitfield::from_wire(&[0x80, 0x40], 10), Some(b.clone()));
        assert!(Bitfield::from_wire(&[0x80, 0x41], 10).is_none()); // spare bit
        assert!(Bitfield::from_wire(&[0x80], 10).is_none()); // wrong length
        assert!(b.clear(0) && !b.clear(0));
        assert_eq!(b.ones().collect::<Vec<_>>(), vec![9]);
        assert!(Bitfield::full(10).all());
    }
}
