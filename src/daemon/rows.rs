//! Lists written where the torrents are: each shard writes its torrents' JSON
//! rows, with the key each is ordered by, into a [`Part`] per piece of 1,024
//! torrents on its own thread (`Engine::all_stats_then`), and the API's thread
//! only orders the keys and copies the page's rows out. A list of 100,000
//! torrents is written by every core at once, and the stats' strings are freed
//! by the thread that allocated them. (`torrents/info` streams its pieces
//! instead when it needs no order: see `qbit::info`.)

use std::cmp::Ordering;

/// One shard's rows: their JSON one after the other, and each row's key and
/// where it ends.
#[derive(Debug)]
pub struct Part<K> {
    text: Vec<u8>,
    rows: Vec<(K, usize)>,
}

impl<K> Part<K> {
    /// Room for `rows` rows of about `row_bytes` each, taken at once.
    pub fn with_capacity(rows: usize, row_bytes: usize) -> Part<K> {
        Part {
            text: Vec::with_capacity(rows.saturating_mul(row_bytes)),
            rows: Vec::with_capacity(rows),
        }
    }

    /// Adds a row: `write` appends its JSON.
    pub fn push(&mut self, key: K, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.text);
        self.rows.push((key, self.text.len()));
    }

    /// Its rows: key and JSON.
    fn rows(&self) -> impl Iterator<Item = (&K, &[u8])> {
        let starts = std::iter::once(0).chain(self.rows.iter().map(|r| r.1));
        (self.rows.iter().zip(starts)).map(|((k, end), start)| (k, &self.text[start..*end]))
    }
}

/// Which rows a page shows, and how they are ordered.
#[derive(Debug, Clone, Copy, Default)]
pub struct Paging {
    /// Last to first, after ordering.
    pub reverse: bool,
    /// Rows skipped at the front, after ordering.
    pub offset: usize,
    /// At most this many rows (`None`: all).
    pub take: Option<usize>,
}

/// How rows are ordered by their keys.
pub type Order<'f, K> = &'f dyn Fn(&K, &K) -> Ordering;

/// The rows a page shows, and how many there were before paging.
#[derive(Debug)]
pub struct Page<'a> {
    /// Rows before paging (after the filters the parts were made with).
    pub total: usize,
    rows: Vec<&'a [u8]>,
}

impl Page<'_> {
    /// Appends the rows as a JSON array's items, comma separated.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.reserve(self.rows.iter().map(|r| r.len() + 1).sum());
        for (i, row) in self.rows.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(row);
        }
    }
}

/// The page of `parts`' rows in `order` (stable: rows equal by key stay in
/// the parts' order).
pub fn page<'a, K>(parts: &'a [Part<K>], order: Order<'_, K>, paging: Paging) -> Page<'a> {
    let mut rows: Vec<(&K, &[u8])> = parts.iter().flat_map(Part::rows).collect();
    rows.sort_by(|a, b| order(a.0, b.0));
    if paging.reverse {
        rows.reverse();
    }
    let total = rows.len();
    let take = paging.take.unwrap_or(usize::MAX);
    let rows = rows
        .into_iter()
        .skip(paging.offset)
        .take(take)
        .map(|r| r.1)
        .collect();
    Page { total, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(rows: &[(u32, &str)]) -> Part<u32> {
        let mut p = Part::with_capacity(rows.len(), 8);
        for (k, text) in rows {
            p.push(*k, |out| out.extend_from_slice(text.as_bytes()));
        }
        p
    }

    fn page(parts: &[Part<u32>], paging: Paging) -> (usize, String) {
        let by_key = |a: &u32, b: &u32| a.cmp(b);
        let mut out = Vec::new();
        let page = super::page(parts, &by_key, paging);
        page.write(&mut out);
        (page.total, String::from_utf8(out).unwrap())
    }

    #[test]
    fn rows_of_every_part_are_ordered_and_paged() {
        let parts = [part(&[(3, "c"), (1, "a")]), part(&[(2, "b"), (4, "d")])];
        let all = Paging::default();
        assert_eq!(page(&parts, all), (4, "a,b,c,d".into()));
        let rev = Paging {
            reverse: true,
            ..all
        };
        assert_eq!(page(&parts, rev), (4, "d,c,b,a".into()));
        let mid = Paging {
            offset: 1,
            take: Some(2),
            ..all
        };
        assert_eq!(page(&parts, mid), (4, "b,c".into()));
        let past = Paging { offset: 9, ..all };
        assert_eq!(page(&parts, past), (4, String::new()));
        assert_eq!(page(&[], all), (0, String::new()));
        let empty: [Part<u32>; 2] = [part(&[]), part(&[(1, "")])];
        assert_eq!(page(&empty, all), (1, String::new()));
    }

    #[test]
    fn equal_keys_keep_the_parts_order() {
        let parts = [part(&[(1, "x"), (0, "w")]), part(&[(1, "y")])];
        assert_eq!(page(&parts, Paging::default()), (3, "w,x,y".into()));
    }
}
