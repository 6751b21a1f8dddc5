//! Files of one torrent that would land on the same path are renamed, the way
//! libtorrent renames them (so both clients store such a torrent alike), rather
//! than the torrent refused:
//!
//! - a file whose path another file already has: `a.txt`, `a.txt` become
//!   `a.txt`, `a.1.txt` (the number goes before the last extension; the next
//!   free number is taken, `a.2.txt` and on);
//! - a file whose path is a folder of another file (`a` beside `a/b`): the file
//!   is renamed (`a.1`), the folder keeps its name, whichever comes first.
//!
//! Checked against libtorrent 2.0 by hand (the cases in the tests below are
//! what it names them). Pad files and symlinks are not stored, so never clash.

use std::collections::{HashMap, HashSet};

use super::path::NAME_MAX_BYTES;
use super::{FileEntry, FilePath};

/// An extension longer than this is not kept apart when a number is added.
const MAX_EXTENSION: usize = 32;

/// Renames files whose stored path clashes with an earlier file's or with a
/// folder of any file; returns how many were renamed.
pub fn rename_duplicates(files: &mut [FileEntry]) -> usize {
    let mut folders: HashSet<String> = HashSet::new();
    for f in files.iter().filter(|f| f.is_stored()) {
        folders.extend(f.path.folders().map(str::to_owned));
    }
    let mut taken: HashSet<FilePath> = HashSet::with_capacity(files.len());
    // Per clashing path, the number to try next: a path only ever becomes
    // taken, so a number found taken once stays so, and a million copies of
    // one name cost a million tries, not half a million million.
    let mut next: HashMap<FilePath, u64> = HashMap::new();
    let mut renamed = 0;
    let free = |p: &FilePath, taken: &HashSet<FilePath>| {
        !taken.contains(p) && !folders.contains(p.as_str())
    };
    for f in files.iter_mut().filter(|f| f.is_stored()) {
        if !free(&f.path, &taken) {
            let name = f.path.last().unwrap_or_default().to_owned();
            let n = next.entry(f.path.clone()).or_insert(1);
            // Each number tried is new, and at most taken + folders paths are
            // not free: the search ends.
            let candidate = loop {
                let candidate = f.path.with_last(&numbered(&name, *n));
                *n += 1;
                if free(&candidate, &taken) {
                    break candidate;
                }
            };
            f.path = candidate;
            renamed += 1;
        }
        taken.insert(f.path.clone());
    }
    renamed
}

/// `name` with `.n` before its last extension, within the length Linux takes.
fn numbered(name: &str, n: u64) -> String {
    let (stem, ext) = match name.rfind('.') {
        Some(i) if name.len() - i <= MAX_EXTENSION => name.split_at(i),
        _ => (name, ""),
    };
    let tag = format!(".{n}");
    let mut cut = stem.len().min(NAME_MAX_BYTES - tag.len() - ext.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{tag}{ext}", &stem[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::FileAttr;

    fn files(paths: &[&str]) -> Vec<FileEntry> {
        paths
            .iter()
            .map(|p| FileEntry {
                path: p.split('/').map(str::to_owned).collect(),
                length: 1,
                attr: FileAttr::default(),
            })
            .collect()
    }

    fn renamed(paths: &[&str]) -> Vec<String> {
        let mut f = files(paths);
        rename_duplicates(&mut f);
        f.iter().map(FileEntry::display_path).collect()
    }

    #[test]
    fn names_as_libtorrent_does() {
        // Each right-hand side is what libtorrent 2.0.8 made of the left.
        let cases: &[(&[&str], &[&str])] = &[
            (
                &["t/a.txt", "t/a.txt", "t/a.txt"],
                &["t/a.txt", "t/a.1.txt", "t/a.2.txt"],
            ),
            (&["t/a", "t/a/b", "t/a/c"], &["t/a.1", "t/a/b", "t/a/c"]),
            (&["t/a/b", "t/a"], &["t/a/b", "t/a.1"]),
            (
                &["t/x.tar.gz", "t/x.tar.gz"],
                &["t/x.tar.gz", "t/x.tar.1.gz"],
            ),
            (&["t/.hidden", "t/.hidden"], &["t/.hidden", "t/.1.hidden"]),
            (
                &["t/noext", "t/noext", "t/noext.1"],
                &["t/noext", "t/noext.1", "t/noext.1.1"],
            ),
            (&["t/d.x/f", "t/d.x/f"], &["t/d.x/f", "t/d.x/f.1"]),
            (
                &["t/a.1.txt", "t/a.txt", "t/a.txt"],
                &["t/a.1.txt", "t/a.txt", "t/a.2.txt"],
            ),
        ];
        for (given, want) in cases {
            assert_eq!(renamed(given), *want, "{given:?}");
        }
    }

    #[test]
    fn pad_files_never_clash_and_unique_paths_stay() {
        let mut f = files(&["t/.pad/100", "t/.pad/100", "t/a", "t/b/c"]);
        f[0].attr.pad = true;
        f[1].attr.pad = true;
        assert_eq!(rename_duplicates(&mut f), 0);
    }

    #[test]
    fn a_long_name_stays_within_the_limit() {
        let long = format!("t/{}.mkv", "é".repeat(126));
        let out = renamed(&[&long, &long]);
        let last = out[1].rsplit('/').next().unwrap();
        assert!(last.len() <= NAME_MAX_BYTES, "{}", last.len());
        assert!(last.ends_with(".1.mkv"));
        assert_ne!(out[0], out[1]);
    }

    #[test]
    fn many_copies_get_numbers_in_order() {
        let paths = vec!["t/same"; 100_000];
        let out = renamed(&paths);
        let unique: HashSet<_> = out.iter().collect();
        assert_eq!(unique.len(), 100_000);
        assert_eq!(out[99_999], "t/same.99999");
    }
}
