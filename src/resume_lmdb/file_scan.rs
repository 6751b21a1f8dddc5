//! A range scan of the store that reads LMDB's B-tree pages from the data
//! file with `pread`, not through LMDB's map.
//!
//! Why: a start reads every torrent's records (a scan per 16,384 records).
//! Through the map, each leaf page touched is a page fault, and the kernel's
//! fault-around maps up to 16 neighbouring pages with it, mostly other
//! torrents' metadata, which the store then lets go again
//! (`lmdb::release_map`): at 100,000 torrents that mapping and unmapping was
//! 0.7 s of system time on the reading thread, a fifth of the start's CPU.
//! Read with `pread`, a page costs one copy, and metadata the scan skips is
//! never touched.
//!
//! Safety of the snapshot: the caller holds a read transaction while the scan
//! runs, and the scan reads the tree of that transaction's own meta page (the
//! one whose transaction id is the read transaction's), so LMDB reuses none
//! of its pages meanwhile. Nothing here trusts the file: every page number,
//! offset and length is checked before use, and anything that does not fit
//! the format (or a layout this reader does not know) is an [`Unreadable`]
//! error, upon which the caller scans through LMDB instead.
//!
//! The format read (LMDB 0.9's data file, `mdb.c`, 64-bit): a page starts with
//! its number (8 bytes), a pad and flags (2 bytes each), then the lower and
//! upper bounds of its free space (2 bytes each; an overflow page's count of
//! pages instead), then the nodes' offsets (2 bytes each). A node is the
//! low and high halves of its data size (a branch node's child page number,
//! whose top bits are in the flags), its flags, its key's size, its key, and
//! (on a leaf) its data, or an overflow page number when it is
//! [`F_BIGDATA`]. Pages 0 and 1 are meta pages.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::Page;

/// What a scan reads: the keys starting with `prefix`, from `from` on, at
/// most `limit` of those `keep` says yes to (as
/// [`super::SessionStore::scan_page`] takes them).
pub(super) struct Wanted<'a> {
    pub prefix: &'a [u8],
    pub from: &'a [u8],
    pub limit: usize,
    pub keep: &'a dyn Fn(&[u8]) -> bool,
}

/// Why the file could not be read this way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unreadable(pub String);

fn unreadable(why: impl Into<String>) -> Unreadable {
    Unreadable(why.into())
}

const PAGE_HEADER: usize = 16;
const NODE_HEADER: usize = 8;
const P_BRANCH: u16 = 0x01;
const P_LEAF: u16 = 0x02;
const P_OVERFLOW: u16 = 0x04;
const P_META: u16 = 0x08;
const F_BIGDATA: u16 = 0x01;
const F_SUBDATA: u16 = 0x02;
const F_DUPDATA: u16 = 0x04;
const MAGIC: u32 = 0xBEEF_C0DE;
const DATA_VERSION: u32 = 1;
/// A tree's root when it is empty.
const NO_PAGE: u64 = u64::MAX;
/// Deeper than any store of this size can be (each level at least doubles
/// what the tree holds).
const MAX_DEPTH: usize = 32;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// A tree's record in a meta page or in the main tree (`MDB_db`: 48 bytes).
struct Tree {
    flags: u16,
    depth: u16,
    root: u64,
}

const TREE_BYTES: usize = 48;

fn tree_at(b: &[u8], at: usize) -> Tree {
    Tree {
        flags: u16_at(b, at + 4),
        depth: u16_at(b, at + 6),
        root: u64_at(b, at + 40),
    }
}

/// One B-tree page read from the file, checked.
struct Node<'p> {
    flags: u16,
    /// A leaf's data size, or a branch's child page number's low 32 bits.
    lo_hi: u32,
    key: &'p [u8],
    /// Where the node's data starts in the page.
    data_at: usize,
}

/// The data file and what its meta page says.
struct Snapshot<'f> {
    file: &'f File,
    psize: usize,
    last_page: u64,
}

impl Snapshot<'_> {
    /// Reads page `pgno` into `buf` and checks its header against `want`
    /// (branch or leaf).
    fn read(&self, pgno: u64, want: u16, buf: &mut Vec<u8>) -> Result<(), Unreadable> {
        if pgno > self.last_page {
            return Err(unreadable(format!("page {pgno} past the file's last")));
        }
        buf.resize(self.psize, 0);
        let at = pgno
            .checked_mul(self.psize as u64)
            .ok_or_else(|| unreadable("page offset overflows"))?;
        (self.file.read_exact_at(buf, at)).map_err(|e| unreadable(format!("page {pgno}: {e}")))?;
        if u64_at(buf, 0) != pgno {
            return Err(unreadable(format!("page {pgno} names another")));
        }
        let flags = u16_at(buf, 10);
        if flags & (P_BRANCH | P_LEAF | P_OVERFLOW | P_META) != want {
            return Err(unreadable(format!("page {pgno}: flags {flags:#x}")));
        }
        let (lower, upper) = (usize::from(u16_at(buf, 12)), usize::from(u16_at(buf, 14)));
        if lower < PAGE_HEADER || lower > upper || upper > self.psize || lower % 2 != 0 {
            return Err(unreadable(format!("page {pgno}: bounds {lower}..{upper}")));
        }
        Ok(())
    }

    /// Node `i` of a page read and checked by [`Snapshot::read`].
    fn node<'p>(&self, page: &'p [u8], i: usize) -> Result<Node<'p>, Unreadable> {
        let at = usize::from(u16_at(page, PAGE_HEADER + 2 * i));
        let upper = usize::from(u16_at(page, 14));
        if at < upper || at + NODE_HEADER > page.len() {
            return Err(unreadable("a node outside its page"));
        }
        let lo_hi = u32::from(u16_at(page, at)) | (u32::from(u16_at(page, at + 2)) << 16);
        let key_len = usize::from(u16_at(page, at + 6));
        let data_at = at + NODE_HEADER + key_len;
        if data_at > page.len() {
            return Err(unreadable("a key past its page"));
        }
        Ok(Node {
            flags: u16_at(page, at + 4),
            lo_hi,
            key: &page[at + NODE_HEADER..data_at],
            data_at,
        })
    }

    /// A branch node's child page number.
    fn child(node: &Node<'_>) -> u64 {
        u64::from(node.lo_hi) | (u64::from(node.flags) << 32)
    }

    /// A leaf node's data, inline or on its overflow pages (read into `big`).
    fn data<'b>(
        &self,
        page: &'b [u8],
        node: &Node<'_>,
        big: &'b mut Vec<u8>,
    ) -> Result<&'b [u8], Unreadable> {
        if node.flags & (F_SUBDATA | F_DUPDATA) != 0 {
            return Err(unreadable("a sub-database or duplicates in a plain tree"));
        }
        let len = node.lo_hi as usize;
        if node.flags & F_BIGDATA == 0 {
            return page
                .get(node.data_at..node.data_at + len)
                .ok_or_else(|| unreadable("data past its page"));
        }
        let pgno = page
            .get(node.data_at..node.data_at + 8)
            .map(|b| u64_at(b, 0))
            .ok_or_else(|| unreadable("an overflow page number past its page"))?;
        let pages = (PAGE_HEADER + len).div_ceil(self.psize) as u64;
        if pgno < 2 || pgno.saturating_add(pages) > self.last_page.saturating_add(1) {
            return Err(unreadable(format!("overflow page {pgno} out of the file")));
        }
        big.resize(PAGE_HEADER + len, 0);
        let at = pgno * self.psize as u64;
        (self.file.read_exact_at(big, at))
            .map_err(|e| unreadable(format!("overflow page {pgno}: {e}")))?;
        let flags = u16_at(big, 10);
        if u64_at(big, 0) != pgno || flags & P_OVERFLOW == 0 || u64::from(u32_at(big, 12)) < pages {
            return Err(unreadable(format!("overflow page {pgno}: not one")));
        }
        Ok(&big[PAGE_HEADER..])
    }

    /// The index of the child of a branch page whose keys may hold `key`:
    /// the last node whose key is at most `key` (the first node's key is
    /// empty: everything before the second's).
    fn branch_index(&self, page: &[u8], count: usize, key: &[u8]) -> Result<usize, Unreadable> {
        let (mut lo, mut hi) = (1, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.node(page, mid)?.key <= key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo - 1)
    }
}

fn count(page: &[u8]) -> usize {
    (usize::from(u16_at(page, 12)) - PAGE_HEADER) / 2
}

/// The meta page of transaction `txnid`, its page size and what it says.
fn meta(file: &File, txnid: u64) -> Result<(Snapshot<'_>, Tree), Unreadable> {
    let mut head = [0u8; 152];
    let read = |at: u64, head: &mut [u8; 152]| {
        (file.read_exact_at(head, at)).map_err(|e| unreadable(format!("meta page: {e}")))
    };
    read(0, &mut head)?;
    let psize = u32_at(&head, PAGE_HEADER + 24) as usize;
    if !psize.is_power_of_two() || !(512..=65536).contains(&psize) {
        return Err(unreadable(format!("page size {psize}")));
    }
    for pgno in 0..2u64 {
        if pgno == 1 {
            read(psize as u64, &mut head)?;
        }
        let ok = u64_at(&head, 0) == pgno
            && u16_at(&head, 10) & P_META != 0
            && u32_at(&head, PAGE_HEADER) == MAGIC
            && u32_at(&head, PAGE_HEADER + 4) == DATA_VERSION;
        if !ok {
            return Err(unreadable(format!("meta page {pgno} is not LMDB's")));
        }
        if u64_at(&head, PAGE_HEADER + 128) == txnid {
            let last_page = u64_at(&head, PAGE_HEADER + 120);
            let main = tree_at(&head, PAGE_HEADER + 24 + TREE_BYTES);
            let snapshot = Snapshot {
                file,
                psize,
                last_page,
            };
            return Ok((snapshot, main));
        }
    }
    Err(unreadable(format!("no meta page of transaction {txnid}")))
}

/// A cursor on a tree: the pages from the root down, each with the index of
/// the node it is at (as many as the tree is deep: the last is the leaf).
struct Cursor {
    pages: Vec<(Vec<u8>, usize)>,
}

impl Cursor {
    /// At the first leaf node whose key is at least `from`.
    fn seek(snap: &Snapshot<'_>, tree: &Tree, from: &[u8]) -> Result<Cursor, Unreadable> {
        let depth = usize::from(tree.depth);
        if depth == 0 || depth > MAX_DEPTH {
            return Err(unreadable(format!("tree depth {depth}")));
        }
        let mut c = Cursor {
            pages: Vec::with_capacity(depth),
        };
        let mut pgno = tree.root;
        for level in 0..depth {
            let leaf = level + 1 == depth;
            let mut buf = Vec::new();
            snap.read(pgno, if leaf { P_LEAF } else { P_BRANCH }, &mut buf)?;
            let n = count(&buf);
            let i = if leaf {
                // The first key at least `from`.
                let (mut lo, mut hi) = (0, n);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if snap.node(&buf, mid)?.key < from {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                lo
            } else {
                if n == 0 {
                    return Err(unreadable(format!("empty branch page {pgno}")));
                }
                let i = snap.branch_index(&buf, n, from)?;
                pgno = Snapshot::child(&snap.node(&buf, i)?);
                i
            };
            c.pages.push((buf, i));
        }
        Ok(c)
    }

    /// Moves on to the next leaf when the current one is done; false at the
    /// tree's end.
    fn settle(&mut self, snap: &Snapshot<'_>) -> Result<bool, Unreadable> {
        let Some((leaf, i)) = self.pages.last() else {
            return Ok(false);
        };
        if *i < count(leaf) {
            return Ok(true);
        }
        // Up to the first branch with a child to the right, then down its
        // leftmost path.
        let depth = self.pages.len();
        let mut level = depth - 1;
        loop {
            if level == 0 {
                return Ok(false);
            }
            level -= 1;
            let (page, i) = &mut self.pages[level];
            *i += 1;
            if *i < count(page) {
                break;
            }
        }
        while level + 1 < depth {
            let (page, i) = &self.pages[level];
            let pgno = Snapshot::child(&snap.node(page, *i)?);
            level += 1;
            let want = if level + 1 == depth { P_LEAF } else { P_BRANCH };
            let (buf, i) = &mut self.pages[level];
            snap.read(pgno, want, buf)?;
            *i = 0;
            if count(buf) == 0 {
                return Err(unreadable(format!("empty page {pgno}")));
            }
        }
        Ok(true)
    }
}

/// Reads into `page` the records `want` names of read transaction `txnid`'s
/// tree `name` (the values of those it does not keep are never read).
pub(super) fn scan(
    file: &File,
    txnid: u64,
    name: &[u8],
    want: &Wanted<'_>,
    page: &mut Page,
) -> Result<(), Unreadable> {
    let Wanted {
        prefix,
        from,
        limit,
        keep,
    } = *want;
    page.clear();
    let (snap, main) = meta(file, txnid)?;
    if main.root == NO_PAGE {
        return Ok(());
    }
    // The named tree's record, in the main tree under its name.
    let mut c = Cursor::seek(&snap, &main, name)?;
    if !c.settle(&snap)? {
        return Err(unreadable("the store's tree is not in the file"));
    }
    let tree = {
        let (leaf, i) = c.pages.last().expect("a cursor has its leaf");
        let node = snap.node(leaf, *i)?;
        let data = leaf.get(node.data_at..node.data_at + TREE_BYTES);
        match data {
            Some(d) if node.key == name && node.flags & F_SUBDATA != 0 => tree_at(d, 0),
            _ => return Err(unreadable("the store's tree is not in the file")),
        }
    };
    // Keys compared as bytes, one value a key: anything else is not read here.
    if tree.flags != 0 {
        return Err(unreadable(format!("tree flags {:#x}", tree.flags)));
    }
    if tree.root == NO_PAGE {
        return Ok(());
    }
    let mut c = Cursor::seek(&snap, &tree, from.max(prefix))?;
    let mut big = Vec::new();
    let mut before: Option<Vec<u8>> = None;
    while page.len() < limit && c.settle(&snap)? {
        let (leaf, i) = c.pages.last_mut().expect("a cursor has its leaf");
        let node = snap.node(leaf, *i)?;
        *i += 1;
        if !node.key.starts_with(prefix) {
            break;
        }
        // In order, as the tree keeps them: a damaged page may not.
        if before.as_deref().is_some_and(|b| b >= node.key) {
            return Err(unreadable("keys out of order"));
        }
        if keep(node.key) {
            let value = snap.data(leaf, &node, &mut big)?;
            page.push(node.key, value);
        }
        let b = before.get_or_insert_with(Vec::new);
        b.clear();
        b.extend_from_slice(node.key);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resume_lmdb::{LmdbSessionStore, SessionStore, StoreOp};

    fn records(p: &Page) -> Vec<(Vec<u8>, Vec<u8>)> {
        p.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
    }

    /// A store of torrents' records as a start reads them: small records
    /// inline, metadata and some layouts on overflow pages, clocks in a range
    /// of their own, a tree several levels deep, with pages freed and
    /// rewritten by updates and deletes.
    fn filled(dir: &std::path::Path) -> LmdbSessionStore {
        let store = LmdbSessionStore::open(dir).unwrap();
        let mut ops = Vec::new();
        for i in 0..1500u32 {
            let hex = format!("{:040x}", u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let big = 1 + (i as usize * 37) % 9000;
            for (kind, len) in [
                ("layout", 40 + (i as usize * 13) % 3000),
                ("meta", big),
                ("state", 90),
            ] {
                let value = vec![(i % 251) as u8; len];
                ops.push(StoreOp::Set(
                    format!("torrent:{hex}:{kind}").into_bytes(),
                    value,
                ));
            }
            if i % 3 == 0 {
                ops.push(StoreOp::Set(
                    format!("torrent:{hex}:peers").into_bytes(),
                    Vec::new(),
                ));
            }
            ops.push(StoreOp::Set(
                format!("clock:{hex}").into_bytes(),
                vec![7; 16],
            ));
        }
        ops.push(StoreOp::Set(b"settings:roots".to_vec(), b"r".to_vec()));
        store.apply(ops).unwrap();
        // Rewritten and removed records: pages freed, others taken.
        let mut ops = Vec::new();
        for i in (0..1500u32).step_by(7) {
            let hex = format!("{:040x}", u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            ops.push(StoreOp::Set(
                format!("torrent:{hex}:state").into_bytes(),
                vec![1; 300],
            ));
            ops.push(StoreOp::Delete(format!("clock:{hex}").into_bytes()));
        }
        store.apply(ops).unwrap();
        store
    }

    #[test]
    fn scans_by_reading_the_file_find_what_the_map_finds() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(dir.path());
        let not_meta = |k: &[u8]| !k.ends_with(b":meta");
        let all = |_: &[u8]| true;
        let mut pages = 0;
        for (prefix, keep) in [
            (&b"torrent:"[..], &not_meta as &dyn Fn(&[u8]) -> bool),
            (b"torrent:", &all),
            (b"clock:", &all),
            (b"", &all),
            (b"nothing:", &all),
        ] {
            for limit in [0, 3, 61, 1000, usize::MAX] {
                // Page by page, each from just past the one before's last key.
                let mut from = Vec::new();
                loop {
                    let (file, map, _) = store.scan_both_ways(&Wanted {
                        prefix,
                        from: &from,
                        limit,
                        keep,
                    });
                    let file = file.unwrap();
                    assert_eq!(records(&file), records(&map), "{prefix:?} {limit} {from:?}");
                    pages += 1;
                    match map.last_key() {
                        Some(k) if map.len() == limit => {
                            from = k.to_vec();
                            from.push(0);
                        }
                        _ => break,
                    }
                }
            }
        }
        assert!(pages > 20, "{pages}");
        // A start's view: every torrent's records but the metadata, values and all.
        let (file, _, _) = store.scan_both_ways(&Wanted {
            prefix: b"torrent:",
            from: b"",
            limit: usize::MAX,
            keep: &not_meta,
        });
        let file = file.unwrap();
        assert_eq!(file.len(), 1500 * 2 + 500);
        assert!(
            file.iter().any(|(_, v)| v.len() > 2000),
            "an overflowed layout read back"
        );
    }

    /// Every byte of the file's tree damaged in turn: a scan reads it, or
    /// refuses it, and never panics or reads outside the file.
    #[test]
    fn a_damaged_file_is_refused_or_read_never_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let store = LmdbSessionStore::open(dir.path()).unwrap();
        let ops = (0..300u32)
            .map(|i| {
                let len = if i % 50 == 0 { 5000 } else { 20 };
                StoreOp::Set(format!("torrent:{i:06}:state").into_bytes(), vec![3; len])
            })
            .collect();
        store.apply(ops).unwrap();
        let (good, _, txnid) = store.scan_both_ways(&Wanted {
            prefix: b"torrent:",
            from: b"",
            limit: usize::MAX,
            keep: &|_| true,
        });
        assert_eq!(good.unwrap().len(), 300);
        let bytes = std::fs::read(dir.path().join("data.mdb")).unwrap();
        let copy = dir.path().join("copy.mdb");
        std::fs::write(&copy, &bytes).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&copy)
            .unwrap();
        let (mut refused, mut read) = (0, 0);
        let everything = Wanted {
            prefix: b"torrent:",
            from: b"",
            limit: usize::MAX,
            keep: &|_| true,
        };
        let psize = 4096;
        // The meta pages' fields, then every 7th byte of the tree's pages.
        let positions = (0..200).chain((2 * psize..bytes.len()).step_by(7));
        for at in positions {
            file.write_all_at(&[bytes[at] ^ 0xA5], at as u64).unwrap();
            let mut page = Page::default();
            match scan(&file, txnid, b"session", &everything, &mut page) {
                Ok(()) => read += 1,
                Err(_) => refused += 1,
            }
            file.write_all_at(&bytes[at..=at], at as u64).unwrap();
        }
        assert!(
            refused > 100 && read > 100,
            "refused {refused}, read {read}"
        );
        // Another transaction's snapshot is not read.
        let file = File::open(dir.path().join("data.mdb")).unwrap();
        let mut page = Page::default();
        let other = scan(&file, txnid + 5, b"session", &everything, &mut page);
        assert!(other.is_err());
    }
}
