//! A session store that LMDB cannot read at all (its header overwritten, the file
//! cut short) does not keep the daemon from starting: the folder is set aside,
//! named with the time, and a fresh store is opened in its place. What was in
//! it is lost to the daemon (the torrents are not restored: they are added again,
//! and their data on disk, which is never touched, is checked then); the folder
//! set aside is kept for whoever wants to look into it.

use std::path::{Path, PathBuf};

use super::StoreError;
use super::lmdb::LmdbSessionStore;

/// LMDB's words for a file it cannot use as a store.
const DAMAGE: [&str; 4] = [
    "MDB_INVALID",
    "MDB_CORRUPTED",
    "MDB_PAGE_NOTFOUND",
    "MDB_VERSION_MISMATCH",
];

/// A damaged store set aside: where it went and what LMDB said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// The folder it was moved to.
    pub moved_to: PathBuf,
    /// Why it could not be opened.
    pub why: String,
}

/// Opens the store in `dir`; if LMDB finds it damaged, sets the folder aside
/// and opens a fresh one (any other failure is an error, as before).
pub fn open_or_set_aside(dir: &Path) -> Result<(LmdbSessionStore, Option<SetAside>), StoreError> {
    let why = match LmdbSessionStore::open(dir) {
        Ok(s) => return Ok((s, None)),
        Err(e) if DAMAGE.iter().any(|d| e.0.contains(d)) => e.0,
        Err(e) => return Err(e),
    };
    // A name for the folder set aside, not the engine's time.
    #[allow(clippy::disallowed_methods)]
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = dir
        .file_name()
        .map_or("state".into(), |n| n.to_string_lossy().into_owned());
    let moved_to = dir.with_file_name(format!("{name}.damaged-{secs}"));
    std::fs::rename(dir, &moved_to)
        .map_err(|e| StoreError(format!("{why}; and it could not be set aside: {e}")))?;
    let store = LmdbSessionStore::open(dir)?;
    Ok((store, Some(SetAside { moved_to, why })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resume_lmdb::SessionStore;

    #[test]
    fn a_store_lmdb_cannot_read_is_set_aside_and_a_fresh_one_opened() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        {
            let (s, aside) = open_or_set_aside(&state).unwrap();
            assert_eq!(aside, None);
            s.set(b"k", b"v").unwrap();
        }
        // Its first page overwritten.
        let data = state.join("data.mdb");
        let mut bytes = std::fs::read(&data).unwrap();
        bytes[..4096].fill(0);
        std::fs::write(&data, bytes).unwrap();
        let (s, aside) = open_or_set_aside(&state).unwrap();
        let aside = aside.expect("set aside");
        assert!(aside.why.contains("MDB_INVALID"), "{}", aside.why);
        assert!(aside.moved_to.join("data.mdb").exists());
        assert_eq!(s.get(b"k").unwrap(), None);
        s.set(b"k2", b"v").unwrap();
    }
}
