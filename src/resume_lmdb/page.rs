//! [`Page`]: the records one scan read, keys and values side by side in one
//! buffer. A start reads a large store 16,384 records at a time; a vector per
//! key and per value was two allocations a record (a fifth of the restoring
//! thread's time at 100,000 torrents), where a page reused from scan to scan
//! costs none once it has grown.

/// Keys and values in scan order, in one buffer.
#[derive(Debug, Default, Clone)]
pub struct Page {
    bytes: Vec<u8>,
    /// Where each record's key and value end in `bytes` (each starts where
    /// the one before ended).
    ends: Vec<(usize, usize)>,
}

impl Page {
    /// Appends a record.
    pub fn push(&mut self, key: &[u8], value: &[u8]) {
        self.bytes.extend_from_slice(key);
        let key_end = self.bytes.len();
        self.bytes.extend_from_slice(value);
        self.ends.push((key_end, self.bytes.len()));
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// No records.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Forgets the records, keeping the room they took.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// The records, in the order they were read.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|e| e.1));
        starts.zip(&self.ends).map(|(start, &(key_end, end))| {
            (&self.bytes[start..key_end], &self.bytes[key_end..end])
        })
    }

    /// The `i`th record's key.
    pub fn key(&self, i: usize) -> &[u8] {
        let start = i.checked_sub(1).map_or(0, |b| self.ends[b].1);
        &self.bytes[start..self.ends[i].0]
    }

    /// The last record's key.
    pub fn last_key(&self) -> Option<&[u8]> {
        let (key_end, _) = *self.ends.last()?;
        let start = self.ends.len().checked_sub(2).map_or(0, |i| self.ends[i].1);
        Some(&self.bytes[start..key_end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_as_pushed_and_clear_keeps_the_room() {
        let mut p = Page::default();
        assert_eq!(p.last_key(), None);
        p.push(b"a", b"1");
        p.push(b"bb", b"");
        p.push(b"", b"333");
        let got: Vec<_> = p.iter().collect();
        assert_eq!(
            got,
            vec![(&b"a"[..], &b"1"[..]), (b"bb", b""), (b"", b"333")]
        );
        assert_eq!(p.last_key(), Some(&b""[..]));
        assert_eq!([p.key(0), p.key(1), p.key(2)], [&b"a"[..], b"bb", b""]);
        p.clear();
        assert!(p.is_empty());
        p.push(b"k", b"v");
        assert_eq!(p.last_key(), Some(&b"k"[..]));
        assert_eq!(p.len(), 1);
    }
}
