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
    /// Rows that passed the filters, written or not (see [`Part::best`]).
    counted: usize,
}

impl<K> Part<K> {
    /// Room for `rows` rows of about `row_bytes` each, taken at once.
    pub fn with_capacity(rows: usize, row_bytes: usize) -> Part<K> {
        Part {
            text: Vec::with_capacity(rows.saturating_mul(row_bytes)),
            rows: Vec::with_capacity(rows),
            counted: 0,
        }
    }

    /// Adds a row: `write` appends its JSON.
    pub fn push(&mut self, key: K, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.text);
        self.rows.push((key, self.text.len()));
        self.counted += 1;
    }

    /// The part of `rows` (each a key and what its row is written from) that
    /// a page of `paging` in `order` can show: with a page's end (`offset +
    /// take`) of `k`, only the first `k` rows of this part, for a row after
    /// them here comes after them in the whole list too. Every row counts in
    /// the total. A page of 10 out of 1,000,000 torrents writes at most 10
    /// rows per part, not a million; a list without a page writes each row as
    /// it comes, holding one at a time. Rows equal in `order` at the page's
    /// edge are kept in no set order (`/torrents` keys end with the torrent's
    /// id, so none are equal there).
    pub fn best<T>(
        rows: impl Iterator<Item = (K, T)>,
        order: Order<'_, K>,
        paging: Paging,
        row_bytes: usize,
        write: impl Fn(&T, &mut Vec<u8>),
    ) -> Part<K> {
        let Some(k) = paging.take.map(|t| paging.offset.saturating_add(t)) else {
            // Room for every row the filters may keep.
            let (least, most) = rows.size_hint();
            let mut part = Part::with_capacity(most.unwrap_or(least), row_bytes);
            for (key, row) in rows {
                part.push(key, |out| write(&row, out));
            }
            return part;
        };
        let mut rows: Vec<(K, T)> = rows.collect();
        let counted = rows.len();
        if k < rows.len() {
            let by = |a: &(K, T), b: &(K, T)| {
                let o = order(&a.0, &b.0);
                if paging.reverse { o.reverse() } else { o }
            };
            if k == 0 {
                rows.clear();
            } else {
                rows.select_nth_unstable_by(k - 1, by);
                rows.truncate(k);
            }
        }
        let mut part = Part::with_capacity(rows.len(), row_bytes);
        for (key, row) in rows {
            part.push(key, |out| write(&row, out));
        }
        part.counted = counted;
        part
    }

    /// Its rows: key and JSON.
    #[cfg(test)]
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

/// Where a row is: its part, and its place in that part.
#[derive(Debug, Clone, Copy)]
struct RowAt {
    part: u32,
    row: u32,
}

/// The rows a page shows, and how many there were before paging.
#[derive(Debug)]
pub struct Page {
    /// Rows before paging (after the filters the parts were made with).
    pub total: usize,
    rows: Vec<RowAt>,
}

/// The page of `parts`' rows in `order` (stable: rows equal by key stay in
/// the parts' order).
pub fn page<K>(parts: &[Part<K>], order: Order<'_, K>, paging: Paging) -> Page {
    let at = |(p, part): (usize, &Part<K>)| {
        let part_at = u32::try_from(p).expect("fewer parts than u32::MAX");
        (0..part.rows.len()).map(move |r| RowAt {
            part: part_at,
            row: u32::try_from(r).expect("fewer rows than u32::MAX"),
        })
    };
    let mut rows: Vec<RowAt> = parts.iter().enumerate().flat_map(at).collect();
    let key = |r: &RowAt| &parts[r.part as usize].rows[r.row as usize].0;
    rows.sort_by(|a, b| order(key(a), key(b)));
    if paging.reverse {
        rows.reverse();
    }
    let total = parts.iter().map(|p| p.counted).sum();
    let end = paging
        .offset
        .saturating_add(paging.take.unwrap_or(usize::MAX));
    let written = rows.len();
    let rows = rows
        .drain(paging.offset.min(written)..end.min(written))
        .collect();
    Page { total, rows }
}

/// Bytes of an answer's chunk: about this many, or one row when a row is
/// longer.
const CHUNK: usize = 256 << 10;

/// A page as an answer's body: `head`, the rows as a JSON array's items
/// (comma separated), then `tail`, in chunks of about [`CHUNK`] bytes copied
/// out of the parts as the client takes them. The whole answer is never held
/// beside the parts (at 100,000 torrents that was a second 58 MB).
#[derive(Debug)]
pub struct Chunks<K> {
    parts: Vec<Part<K>>,
    page: Page,
    /// The next row to copy.
    at: usize,
    head: Option<Vec<u8>>,
    tail: Option<&'static [u8]>,
}

impl<K> Chunks<K> {
    pub fn new(parts: Vec<Part<K>>, page: Page, head: Vec<u8>, tail: &'static [u8]) -> Chunks<K> {
        Chunks {
            parts,
            page,
            at: 0,
            head: Some(head),
            tail: Some(tail),
        }
    }

    fn row(&self, at: RowAt) -> &[u8] {
        let part = &self.parts[at.part as usize];
        let r = at.row as usize;
        let start = if r == 0 { 0 } else { part.rows[r - 1].1 };
        &part.text[start..part.rows[r].1]
    }
}

impl<K> Iterator for Chunks<K> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let tail = self.tail?;
        let mut out = self.head.take().unwrap_or_default();
        // The rows this chunk takes, measured first so it is allocated once.
        let (mut end, mut bytes) = (self.at, out.len());
        while bytes < CHUNK
            && let Some(&at) = self.page.rows.get(end)
        {
            bytes += self.row(at).len() + 1;
            end += 1;
        }
        let last = end == self.page.rows.len();
        out.reserve(bytes - out.len() + if last { tail.len() } else { 0 });
        for i in self.at..end {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(self.row(self.page.rows[i]));
        }
        self.at = end;
        if last {
            out.extend_from_slice(tail);
            self.tail = None;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part<T: AsRef<[u8]>>(rows: &[(u32, T)]) -> Part<u32> {
        let mut p = Part::with_capacity(rows.len(), 8);
        for (k, text) in rows {
            p.push(*k, |out| out.extend_from_slice(text.as_ref()));
        }
        p
    }

    fn page(parts: &[Part<u32>], paging: Paging) -> (usize, String) {
        let by_key = |a: &u32, b: &u32| a.cmp(b);
        let page = super::page(parts, &by_key, paging);
        let total = page.total;
        let copy = |p: &Part<u32>| part(&p.rows().map(|(k, t)| (*k, t)).collect::<Vec<_>>());
        let chunks = Chunks::new(parts.iter().map(copy).collect(), page, Vec::new(), b"");
        (
            total,
            String::from_utf8(chunks.flatten().collect()).unwrap(),
        )
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
        let empty: [Part<u32>; 2] = [part::<&str>(&[]), part(&[(1, "")])];
        assert_eq!(page(&empty, all), (1, String::new()));
    }

    #[test]
    fn a_long_page_goes_in_bounded_chunks_with_its_head_and_tail() {
        let long = "x".repeat(CHUNK + 10);
        let rows: Vec<(u32, String)> = (0..3000u32).map(|i| (i, format!("{i:0>200}"))).collect();
        let mut first = rows[..1500].to_vec();
        first.push((1600, long.clone()));
        let parts = vec![part(&first), part(&rows[1500..])];
        let page = super::page(&parts, &|a: &u32, b: &u32| a.cmp(b), Paging::default());
        let chunks: Vec<Vec<u8>> = Chunks::new(parts, page, b"[".to_vec(), b"]").collect();
        assert!(chunks.len() >= 4, "{} chunks", chunks.len());
        for c in &chunks {
            // About CHUNK each: one row may go past it, the long row alone.
            assert!(
                c.len() <= CHUNK + long.len() + 202,
                "a chunk of {}",
                c.len()
            );
        }
        let mut want: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
        want.insert(1600, long);
        let want = format!("[{}]", want.join(","));
        assert_eq!(String::from_utf8(chunks.concat()).unwrap(), want);
        let empty = super::page::<u32>(&[], &|a, b| a.cmp(b), Paging::default());
        let chunks: Vec<Vec<u8>> =
            Chunks::<u32>::new(Vec::new(), empty, b"[".to_vec(), b"]").collect();
        assert_eq!(chunks, vec![b"[]".to_vec()]);
    }

    #[test]
    fn a_part_keeps_only_the_rows_a_page_can_show() {
        let rows: Vec<(u32, u32)> = [9, 3, 7, 1, 8, 2, 6, 4, 5, 0].map(|k| (k, k)).to_vec();
        let write = |r: &u32, out: &mut Vec<u8>| out.extend_from_slice(r.to_string().as_bytes());
        let by = |a: &u32, b: &u32| a.cmp(b);
        let cases = [
            (false, 0, Some(3), "0,1,2"),
            (false, 4, Some(2), "4,5"),
            (true, 0, Some(3), "9,8,7"),
            (true, 8, Some(5), "1,0"),
            (false, 0, Some(0), ""),
            (false, 0, None, "0,1,2,3,4,5,6,7,8,9"),
            (true, 11, Some(5), ""),
        ];
        for (reverse, offset, take, want) in cases {
            let paging = Paging {
                reverse,
                offset,
                take,
            };
            // The rows in two parts, each cut to what the page can show.
            let (a, b) = rows.split_at(4);
            let parts = vec![
                Part::best(a.iter().copied(), &by, paging, 2, write),
                Part::best(b.iter().copied(), &by, paging, 2, write),
            ];
            let written: usize = parts.iter().map(|p| p.rows.len()).sum();
            let bound = take.map_or(usize::MAX, |t| 2 * (offset + t));
            assert!(written <= bound, "{written} rows written");
            let page = super::page(&parts, &by, paging);
            assert_eq!(page.total, 10);
            let got: Vec<u8> = Chunks::new(parts, page, Vec::new(), b"")
                .flatten()
                .collect();
            assert_eq!(
                String::from_utf8(got).unwrap(),
                want,
                "{reverse} {offset} {take:?}"
            );
        }
    }

    #[test]
    fn equal_keys_keep_the_parts_order() {
        let parts = [part(&[(1, "x"), (0, "w")]), part(&[(1, "y")])];
        assert_eq!(page(&parts, Paging::default()), (3, "w,x,y".into()));
    }
}
