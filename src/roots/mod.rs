//! Storage roots: the named places torrents are stored.
//!
//! What it owns: [`StorageRootManager`]: roots (`{token, label, path}`), the default
//! root, and the root of each torrent (by info-hash); root health (exists, writable,
//! free and total bytes); saving the roots and the default in a session store
//! under `settings:roots`. Which root a torrent is in is saved in the torrent's
//! own resume record, not here: a record that grew with the torrents was
//! rewritten whole at every change of a root, and at a million torrents it
//! outgrew what the store's reader accepts.
//!
//! Invariants: a root's path is absolute; tokens are unique; a root that still holds
//! torrents cannot be removed; a torrent is in at most one root.
//!
//! What it must not do: move data. Moving storage between roots (rename, or copy,
//! verify and delete) and pausing the torrents of a vanished root are the engine's,
//! built on this.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bencode::{self, Node, OwnedValue};
use crate::resume_lmdb::{SessionStore, StoreError};
use crate::types::InfoHash;

/// A place torrents are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// Stable identifier (what the API and the resume records name).
    pub token: String,
    /// What people see.
    pub label: String,
    /// Absolute folder.
    pub path: PathBuf,
    /// A configured root, with a marker file ([`ROOT_MARKER`]) whose presence
    /// tells that its disk is mounted; or (false) a plain folder named when a
    /// torrent was added, left unmarked, there while the folder is.
    pub marked: bool,
}

/// How a root is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootHealth {
    /// The folder exists (an unmounted disk's mount point may not).
    pub exists: bool,
    /// A file can be created and removed in it.
    pub writable: bool,
    /// Bytes available to us.
    pub free_bytes: u64,
    /// Bytes in the filesystem.
    pub total_bytes: u64,
}

/// Why a root operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootError {
    /// The token is taken.
    #[error("a root with token {0:?} already exists")]
    Duplicate(String),
    /// No such root.
    #[error("no root with token {0:?}")]
    Unknown(String),
    /// Relative path, or an empty token.
    #[error("invalid root: {0}")]
    Invalid(String),
    /// The root still holds torrents.
    #[error("root {token:?} still holds {count} torrent(s); move or remove them first")]
    InUse {
        /// The root.
        token: String,
        /// How many torrents.
        count: usize,
    },
    /// No root given and no default set.
    #[error("no default root is set")]
    NoDefault,
    /// The saved roots could not be read or written.
    #[error("saved roots: {0}")]
    Store(String),
    /// The folder or its marker could not be made.
    #[error("cannot prepare root {path}: {reason}")]
    Prepare {
        /// The folder.
        path: String,
        /// What the filesystem said.
        reason: String,
    },
}

impl From<StoreError> for RootError {
    fn from(e: StoreError) -> Self {
        RootError::Store(e.0)
    }
}

/// The file that marks a folder as a storage root. A root without it is treated
/// as unavailable (an unmounted disk leaves an empty mount point behind, and
/// nothing must be downloaded into that): its torrents stop until it returns.
pub const ROOT_MARKER: &str = ".seedring-root";

/// The key the roots are saved under.
pub const ROOTS_KEY: &[u8] = b"settings:roots";

/// Roots, the default root and the root of every torrent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageRootManager {
    /// By token; the key is shared with every torrent placed in the root.
    roots: BTreeMap<Arc<str>, Root>,
    default: Option<String>,
    /// Each torrent's root token: one shared token, not a string of its own
    /// (36 bytes a torrent in the map, not 76).
    torrents: BTreeMap<InfoHash, Arc<str>>,
    /// Where a store written before the torrents' roots left this record
    /// placed its torrents: asked by the restore for a torrent whose own
    /// record is unusable, then dropped ([`StorageRootManager::forget_recorded`]).
    recorded: BTreeMap<InfoHash, Arc<str>>,
}

impl StorageRootManager {
    /// Adds a configured root (marked). The first root added becomes the default.
    pub fn add(&mut self, token: &str, label: &str, path: &Path) -> Result<&Root, RootError> {
        self.add_root(token, label, path, true)
    }

    /// Adds a root, marked or a plain folder ([`Root::marked`]).
    pub fn add_root(
        &mut self,
        token: &str,
        label: &str,
        path: &Path,
        marked: bool,
    ) -> Result<&Root, RootError> {
        if token.is_empty() {
            return Err(RootError::Invalid("empty token".into()));
        }
        if !path.is_absolute() {
            return Err(RootError::Invalid(format!(
                "{} is not an absolute path",
                path.display()
            )));
        }
        if self.roots.contains_key(token) {
            return Err(RootError::Duplicate(token.to_owned()));
        }
        let root = Root {
            token: token.to_owned(),
            label: label.to_owned(),
            path: path.to_path_buf(),
            marked,
        };
        self.roots.insert(Arc::from(token), root);
        if self.default.is_none() {
            self.default = Some(token.to_owned());
        }
        Ok(&self.roots[token])
    }

    /// Removes a root that holds no torrent.
    pub fn remove(&mut self, token: &str) -> Result<Root, RootError> {
        if !self.roots.contains_key(token) {
            return Err(RootError::Unknown(token.to_owned()));
        }
        let count = self.torrents.values().filter(|t| ***t == *token).count();
        if count > 0 {
            return Err(RootError::InUse {
                token: token.to_owned(),
                count,
            });
        }
        if self.default.as_deref() == Some(token) {
            self.default = None;
        }
        Ok(self.roots.remove(token).expect("checked"))
    }

    /// Every root, by token.
    pub fn list(&self) -> impl Iterator<Item = &Root> {
        self.roots.values()
    }

    /// Makes `token` the default root.
    pub fn set_default(&mut self, token: &str) -> Result<(), RootError> {
        if !self.roots.contains_key(token) {
            return Err(RootError::Unknown(token.to_owned()));
        }
        self.default = Some(token.to_owned());
        Ok(())
    }

    /// The default root.
    pub fn default_root(&self) -> Result<&Root, RootError> {
        let t = self.default.as_deref().ok_or(RootError::NoDefault)?;
        Ok(&self.roots[t])
    }

    /// Puts a torrent in a root (`None`: the default).
    pub fn set_torrent_root(
        &mut self,
        ih: InfoHash,
        token: Option<&str>,
    ) -> Result<&Root, RootError> {
        let token = match token {
            Some(t) => t,
            None => self.default.as_deref().ok_or(RootError::NoDefault)?,
        };
        let Some((shared, root)) = self.roots.get_key_value(token) else {
            return Err(RootError::Unknown(token.to_owned()));
        };
        self.torrents.insert(ih, Arc::clone(shared));
        Ok(root)
    }

    /// The root a torrent is in.
    pub fn root_of(&self, ih: InfoHash) -> Option<&Root> {
        self.torrents.get(&ih).and_then(|t| self.roots.get(&**t))
    }

    /// The root an older store's record placed a torrent in (see `recorded`).
    pub fn recorded_root_of(&self, ih: InfoHash) -> Option<&Root> {
        self.recorded.get(&ih).and_then(|t| self.roots.get(&**t))
    }

    /// Drops what an older store's record placed (the restore is over).
    pub fn forget_recorded(&mut self) {
        self.recorded = BTreeMap::new();
    }

    /// Forgets a torrent (it was removed).
    pub fn forget_torrent(&mut self, ih: InfoHash) {
        self.torrents.remove(&ih);
    }

    /// How a root is doing now.
    pub fn health(&self, token: &str) -> Result<RootHealth, RootError> {
        let root = self
            .roots
            .get(token)
            .ok_or_else(|| RootError::Unknown(token.to_owned()))?;
        Ok(health_of(&root.path))
    }

    /// Saves roots, default and torrent placement under [`ROOTS_KEY`].
    pub fn save(&self, store: &dyn SessionStore) -> Result<(), RootError> {
        let mut d = OwnedValue::dict();
        let roots = self
            .roots
            .values()
            .map(|r| {
                let mut e = OwnedValue::dict();
                e.insert("token", r.token.as_str());
                e.insert("label", r.label.as_str());
                e.insert("path", r.path.as_os_str().as_encoded_bytes().to_vec());
                e.insert("marked", i64::from(r.marked));
                e
            })
            .collect::<Vec<_>>();
        d.insert("roots", OwnedValue::List(roots));
        if let Some(t) = &self.default {
            d.insert("default", t.as_str());
        }
        // The torrents' roots are in their own records (see the module's text).
        store.set(ROOTS_KEY, &d.encode())?;
        Ok(())
    }

    /// Loads what [`StorageRootManager::save`] saved; an empty manager if nothing was.
    pub fn load(store: &dyn SessionStore) -> Result<StorageRootManager, RootError> {
        let Some(bytes) = store.get(ROOTS_KEY)? else {
            return Ok(StorageRootManager::default());
        };
        let bad = |m: &str| {
            RootError::Store(format!(
                "corrupted {}: {m}",
                String::from_utf8_lossy(ROOTS_KEY)
            ))
        };
        // Our own record: a store written before the torrents' roots moved to
        // their records may list a million of them, more values than the
        // default limit allows (each value takes at least two bytes).
        let limits = bencode::Limits {
            max_tokens: bencode::Limits::default().max_tokens.max(bytes.len() / 2),
            ..bencode::Limits::default()
        };
        let root = bencode::decode(&bytes, limits).map_err(|e| bad(&e.to_string()))?;
        let mut m = StorageRootManager::default();
        for r in root
            .get("roots")
            .and_then(Node::as_list)
            .ok_or_else(|| bad("no roots"))?
        {
            let text = |k: &str| r.get(k).and_then(Node::as_str).map(str::to_owned);
            let (Some(token), Some(label)) = (text("token"), text("label")) else {
                return Err(bad("root without token or label"));
            };
            let path = r
                .get("path")
                .and_then(Node::as_bytes)
                .ok_or_else(|| bad("root without path"))?;
            // Paths are saved as their raw bytes: on Unix any bytes are a path, so
            // non-UTF-8 folder names survive the round trip.
            let path =
                PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path));
            // Saved before roots could be plain folders: marked.
            let marked = r.get("marked").and_then(Node::as_int) != Some(0);
            m.add_root(&token, &label, &path, marked)?;
        }
        m.default = root
            .get("default")
            .and_then(Node::as_str)
            .map(str::to_owned);
        if let Some(placed) = root.get("torrents").and_then(Node::as_dict) {
            for (k, v) in placed {
                let ih = std::str::from_utf8(k)
                    .ok()
                    .and_then(|h| InfoHash::parse(h).ok())
                    .ok_or_else(|| bad("info-hash"))?;
                let t = v.as_str().ok_or_else(|| bad("root token"))?;
                if let Some((shared, _)) = m.roots.get_key_value(t) {
                    m.recorded.insert(ih, Arc::clone(shared));
                }
            }
        }
        Ok(m)
    }
}

fn health_of(path: &Path) -> RootHealth {
    let exists = path.is_dir();
    let writable = exists && {
        let probe = path.join(format!(".seedring-probe-{}", std::process::id()));
        let ok = std::fs::write(&probe, b"").is_ok();
        let _ = std::fs::remove_file(&probe);
        ok
    };
    let (free_bytes, total_bytes) = match fs4::statvfs(path) {
        Ok(s) if exists => (s.available_space(), s.total_space()),
        _ => (0, 0),
    };
    RootHealth {
        exists,
        writable,
        free_bytes,
        total_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resume_lmdb::MemorySessionStore;

    #[test]
    fn add_default_place_and_remove() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let mut m = StorageRootManager::default();
        assert_eq!(m.default_root(), Err(RootError::NoDefault));
        m.add("fast", "NVMe", a.path()).unwrap();
        m.add("big", "HDD array", b.path()).unwrap();
        assert_eq!(m.default_root().unwrap().token, "fast");
        assert!(matches!(
            m.add("fast", "again", b.path()),
            Err(RootError::Duplicate(_))
        ));
        assert!(matches!(
            m.add("rel", "x", Path::new("relative")),
            Err(RootError::Invalid(_))
        ));
        assert!(matches!(
            m.add("", "x", a.path()),
            Err(RootError::Invalid(_))
        ));

        let ih = InfoHash([1; 20]);
        assert_eq!(m.set_torrent_root(ih, None).unwrap().token, "fast");
        m.set_torrent_root(ih, Some("big")).unwrap();
        assert_eq!(m.root_of(ih).unwrap().path, b.path());
        assert!(matches!(
            m.set_torrent_root(ih, Some("nope")),
            Err(RootError::Unknown(_))
        ));
        assert_eq!(
            m.remove("big"),
            Err(RootError::InUse {
                token: "big".into(),
                count: 1
            })
        );
        m.forget_torrent(ih);
        m.remove("big").unwrap();
        m.set_default("fast").unwrap();
        assert!(m.set_default("big").is_err());
        assert_eq!(m.list().count(), 1);
    }

    #[test]
    fn health_reports_presence_space_and_writability() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = StorageRootManager::default();
        m.add("r", "root", dir.path()).unwrap();
        let h = m.health("r").unwrap();
        assert!(h.exists && h.writable);
        assert!(h.total_bytes > 0 && h.free_bytes <= h.total_bytes);
        // An unmounted disk's mount point: gone.
        let gone = dir.path().join("unmounted");
        m.add("gone", "gone", &gone).unwrap();
        let h = m.health("gone").unwrap();
        assert!(!h.exists && !h.writable);
        assert_eq!((h.free_bytes, h.total_bytes), (0, 0));
        assert!(m.health("nope").is_err());
    }

    #[test]
    fn saved_roots_load_back() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let store = MemorySessionStore::default();
        assert_eq!(
            StorageRootManager::load(&store).unwrap(),
            StorageRootManager::default()
        );
        let mut m = StorageRootManager::default();
        m.add("a", "first", a.path()).unwrap();
        m.add("b", "second, with spaces", b.path()).unwrap();
        // A folder name that is not UTF-8 survives the round trip.
        let odd = a
            .path()
            .join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"caf\xe9"));
        m.add("odd", "latin-1 name", &odd).unwrap();
        m.set_default("b").unwrap();
        m.save(&store).unwrap();
        assert_eq!(StorageRootManager::load(&store).unwrap(), m);
        // A torrent's root is its own record's to keep: the roots' record
        // does not grow with the torrents.
        let before = store.get(ROOTS_KEY).unwrap().unwrap().len();
        m.set_torrent_root(InfoHash([7; 20]), Some("a")).unwrap();
        m.save(&store).unwrap();
        assert_eq!(store.get(ROOTS_KEY).unwrap().unwrap().len(), before);
        store.set(ROOTS_KEY, b"garbage").unwrap();
        assert!(matches!(
            StorageRootManager::load(&store),
            Err(RootError::Store(_))
        ));
    }

    #[test]
    fn an_older_record_of_a_million_placements_still_loads() {
        // Written by a build that kept every torrent's root here: 1,000,001
        // placements are over two million values, the default limit.
        let a = tempfile::tempdir().unwrap();
        let store = MemorySessionStore::default();
        let mut text = format!(
            "d7:default1:a5:rootsld5:label1:a6:markedi1e4:path{}:{}5:token1:aee8:torrentsd",
            a.path().as_os_str().len(),
            a.path().display()
        );
        let mut placed = Vec::new();
        for i in 0..1_000_001u32 {
            let mut b = [0u8; 20];
            b[..4].copy_from_slice(&i.to_be_bytes());
            placed.push(InfoHash(b));
        }
        for ih in &placed {
            text.push_str(&format!("40:{}1:a", ih.to_hex()));
        }
        text.push_str("ee");
        store.set(ROOTS_KEY, text.as_bytes()).unwrap();
        let mut m = StorageRootManager::load(&store).unwrap();
        assert_eq!(m.default_root().unwrap().path, a.path());
        // Those placements serve the restore, not the torrents' map.
        assert_eq!(m.recorded_root_of(placed[1_000_000]).unwrap().token, "a");
        assert!(m.root_of(placed[0]).is_none());
        m.forget_recorded();
        assert!(m.recorded_root_of(placed[0]).is_none());
        // Saved again, it is small.
        m.save(&store).unwrap();
        assert!(store.get(ROOTS_KEY).unwrap().unwrap().len() < 200);
    }
}
