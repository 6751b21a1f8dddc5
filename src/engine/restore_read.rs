//! The session store read a page ahead of the restore: while one page of
//! torrents' records is decoded and added, the next is read on a thread of its
//! own, so the restoring threads never wait for the store's pages (read
//! with `pread`, see `resume_lmdb::file_scan`; through LMDB's map, when the
//! file cannot be read that way, faulted in and let go again, which was a
//! third of a start's critical path at 100,000 torrents).

use crate::resume_lmdb::{CLOCK_PREFIX, Page, SessionStore, StoreError, clock_key};
use crate::types::InfoHash;

/// Records read per page of the store (three a torrent, four in a store
/// from before the clocks' own key range: 4,000 to 5,500 torrents, a few
/// MB; seven under test, so pages end inside torrents).
pub(super) const PAGE_RECORDS: usize = if cfg!(test) { 7 } else { 16_384 };

/// One page of the store.
pub(super) struct Read {
    /// Torrents' records, their metadata left out (it stays on disk for
    /// every torrent whose layout record is there).
    pub records: Page,
    /// The clock records from where the page before's ended up to this
    /// page's last whole torrent's (the last page: to the end of their
    /// range). Its last torrent's may be in the next page's: its records
    /// can go on there.
    pub clocks: Page,
    /// The clocks could not be read (from where they stopped).
    pub clocks_error: Option<StoreError>,
    /// No page follows.
    pub last: bool,
}

/// The info-hash that a torrent record's key (`torrent:<hex>:<kind>`) names.
pub(super) fn key_info_hash(key: &[u8]) -> Option<InfoHash> {
    let mut parts = key.splitn(3, |&b| b == b':');
    let hex = parts.nth(1)?;
    InfoHash::parse(std::str::from_utf8(hex).ok()?).ok()
}

/// Reads the store's torrents a page at a time, each page with its torrents'
/// clocks.
pub(super) struct Reader<'a> {
    store: &'a (dyn SessionStore + Send + Sync),
    /// Where the next page starts.
    from: Vec<u8>,
    /// Where the next page's clocks start.
    clocks_from: Vec<u8>,
    /// The last torrent of the page before (its records may go on).
    before: Option<InfoHash>,
    /// A clock scan's records, before they are kept (up to the page's end).
    scratch: Page,
    done: bool,
}

impl<'a> Reader<'a> {
    pub fn new(store: &'a (dyn SessionStore + Send + Sync)) -> Reader<'a> {
        Reader {
            store,
            from: b"torrent:".to_vec(),
            clocks_from: CLOCK_PREFIX.to_vec(),
            before: None,
            scratch: Page::default(),
            done: false,
        }
    }

    /// The next page, read into `records` and `clocks` (their room reused);
    /// `None` once the last page, or an error, was given.
    pub fn read(
        &mut self,
        mut records: Page,
        mut clocks: Page,
    ) -> Option<Result<Read, StoreError>> {
        if self.done {
            return None;
        }
        // Everything but the metadata, which stays on disk (and out of
        // memory) for every torrent whose layout record is there.
        let not_meta = |k: &[u8]| !k.ends_with(b":meta");
        let read = (self.store).scan_page(
            b"torrent:",
            &self.from,
            PAGE_RECORDS,
            &not_meta,
            &mut records,
        );
        if let Err(e) = read {
            self.done = true;
            return Some(Err(e));
        }
        let last = records.len() < PAGE_RECORDS;
        self.done = last;
        if let Some(k) = records.last_key() {
            // The next page starts right after this one's last key.
            self.from.clear();
            self.from.extend_from_slice(k);
            self.from.push(0);
        }
        // The page may end inside its last torrent's records: that torrent
        // waits for the next page, and so do its clocks. This page's clocks
        // end at the torrent before it (the page before's last, if the page
        // holds no other).
        let mut torrents = (0..records.len())
            .rev()
            .filter_map(|i| key_info_hash(records.key(i)))
            .chain(self.before);
        let top = torrents.next();
        let end = torrents.find(|ih| Some(*ih) != top);
        self.before = top;
        clocks.clear();
        let mut clocks_error = None;
        if last || end.is_some() {
            let end = (!last).then(|| end.map(clock_key)).flatten();
            // Most torrents of a page have a clock or none: a scan of as
            // many records mostly reads them at once (two under test, so
            // scans end inside a page's range).
            let limit = if cfg!(test) {
                2
            } else {
                (records.len() + 1).max(64)
            };
            clocks_error = self.read_clocks(end.as_deref(), limit, &mut clocks).err();
        }
        Some(Ok(Read {
            records,
            clocks,
            clocks_error,
            last,
        }))
    }

    /// Reads into `clocks` the clock records from `clocks_from` up to `end`
    /// (`None`: the end of their range), `limit` records a scan, and leaves
    /// `clocks_from` just past `end`.
    fn read_clocks(
        &mut self,
        end: Option<&[u8]>,
        limit: usize,
        clocks: &mut Page,
    ) -> Result<(), StoreError> {
        loop {
            (self.store).scan_page(
                CLOCK_PREFIX,
                &self.clocks_from,
                limit,
                &|_| true,
                &mut self.scratch,
            )?;
            for (key, value) in self.scratch.iter() {
                if end.is_some_and(|end| key > end) {
                    break;
                }
                clocks.push(key, value);
            }
            let next = (self.scratch.last_key()).filter(|k| end.is_none_or(|end| *k < end));
            match next {
                Some(k) if self.scratch.len() == limit => {
                    self.clocks_from.clear();
                    self.clocks_from.extend_from_slice(k);
                    self.clocks_from.push(0);
                }
                _ => break,
            }
        }
        if let Some(end) = end {
            self.clocks_from.clear();
            self.clocks_from.extend_from_slice(end);
            self.clocks_from.push(0);
        }
        Ok(())
    }
}

/// Runs `reader` ahead of the restore: each page is sent on `out` as soon as
/// read, into pages taken back from `spare` (new ones while none comes back).
/// `out` holds one page: the reader waits while the restore has not taken
/// the page before; it stops after the last page or an error, or once the
/// restore hangs up.
pub(super) fn read_ahead(
    mut reader: Reader<'_>,
    out: &flume::Sender<Result<Read, StoreError>>,
    spare: &flume::Receiver<(Page, Page)>,
) {
    loop {
        let (records, clocks) = spare.try_recv().unwrap_or_default();
        let Some(read) = reader.read(records, clocks) else {
            return;
        };
        if out.send(read).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resume_lmdb::{MemorySessionStore, clock_info_hash};

    /// Pages of seven records (under test) end inside torrents: each page's
    /// clocks stop at its last whole torrent, the rest come with the next
    /// page, and every record and clock is read once. A key that names no
    /// torrent is passed on (the restore reports it), never taken for the
    /// page's last torrent.
    #[test]
    fn pages_end_inside_torrents_and_their_clocks_follow() {
        let store = MemorySessionStore::default();
        let ihs: Vec<InfoHash> = (1..=6u8).map(|i| InfoHash([i * 16; 20])).collect();
        for (i, ih) in ihs.iter().enumerate() {
            let hex = ih.to_hex();
            for kind in ["layout", "meta", "state"] {
                store
                    .set(format!("torrent:{hex}:{kind}").as_bytes(), b"v")
                    .unwrap();
            }
            if i % 2 == 0 {
                store
                    .set(format!("torrent:{hex}:peers").as_bytes(), b"v")
                    .unwrap();
            }
            store.set(&clock_key(*ih), b"c").unwrap();
        }
        // Sorts after the fourth torrent's records, before the fifth's.
        let odd = format!("torrent:{}zz", ihs[3].to_hex());
        store.set(odd.as_bytes(), b"v").unwrap();
        // A clock of no torrent, after every torrent's.
        store.set(&clock_key(InfoHash([0xFF; 20])), &[9]).unwrap();

        let mut reader = Reader::new(&store);
        let (mut records, mut clocks) = (Vec::new(), Vec::new());
        let mut pages = 0;
        while let Some(read) = reader.read(Page::default(), Page::default()) {
            let read = read.unwrap();
            pages += 1;
            let page: Vec<Vec<u8>> = read.records.iter().map(|(k, _)| k.to_vec()).collect();
            assert!(page.iter().all(|k| !k.ends_with(b":meta")));
            let got: Vec<InfoHash> = read
                .clocks
                .iter()
                .filter_map(|(k, _)| clock_info_hash(k))
                .collect();
            if !read.last {
                assert_eq!(page.len(), PAGE_RECORDS);
                // No clock of a torrent whose records may go on in the next page.
                let top = (0..read.records.len())
                    .rev()
                    .find_map(|i| key_info_hash(read.records.key(i)));
                assert!(
                    got.iter().all(|ih| Some(*ih) < top),
                    "page {pages}: {got:?}"
                );
            }
            assert!(read.clocks_error.is_none());
            records.extend(page);
            clocks.extend(got);
        }
        assert!(pages >= 3, "{pages} pages");
        let mut want: Vec<Vec<u8>> = store.keys(b"torrent:").unwrap();
        want.retain(|k| !k.ends_with(b":meta"));
        assert_eq!(records, want);
        let mut want: Vec<InfoHash> = ihs.clone();
        want.push(InfoHash([0xFF; 20]));
        assert_eq!(clocks, want, "each clock once, in order");
        assert!(reader.read(Page::default(), Page::default()).is_none());
    }
}
