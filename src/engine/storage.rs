//! The engine's storage roots: naming them, their health, and moving torrents
//! between them. The [`StorageRootManager`](crate::roots::StorageRootManager) keeps
//! the names; the backend (memory filesystem or real disks) answers whether a root
//! is there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Backend, Engine, EngineError};
use crate::core::{Command, CommandError};
use crate::disk_uring::RealFiles;
use crate::roots::{Root, RootError, RootHealth, StorageRootManager};
use crate::storage::{self, Files};
use crate::types::InfoHash;

/// A root with how it is doing and what it holds.
#[derive(Debug, Clone)]
pub struct RootStatus {
    /// The root.
    pub root: Root,
    /// Exists (its marker is there), writable, space.
    pub health: RootHealth,
    /// Whether it is the default root.
    pub is_default: bool,
    /// Torrents in it.
    pub torrents: usize,
}

fn root_err(e: RootError) -> CommandError {
    CommandError::BadArgument(e.to_string())
}

impl Engine {
    /// Adds a storage root: creates the folder and its marker file
    /// ([`crate::roots::ROOT_MARKER`]), which tells from then on whether the disk
    /// is mounted. The first root becomes the default.
    pub fn add_root(&self, token: &str, label: &str, path: &Path) -> Result<Root, RootError> {
        let root = self.add_prepared(&mut self.roots_lock(), token, label, path, true)?;
        self.save_roots();
        Ok(root)
    }

    /// Adds a root and writes its marker, under one hold of the manager: no other
    /// caller sees the root before its marker is there.
    fn add_prepared(
        &self,
        roots: &mut StorageRootManager,
        token: &str,
        label: &str,
        path: &Path,
        marked: bool,
    ) -> Result<Root, RootError> {
        let root = roots.add_root(token, label, path, marked)?.clone();
        if let Err(e) = self.init_root(&root) {
            roots
                .remove(token)
                .expect("a root just added holds no torrent");
            return Err(RootError::Prepare {
                path: path.display().to_string(),
                reason: e.to_string(),
            });
        }
        Ok(root)
    }

    /// Removes a root that holds no torrent (its files are left alone).
    pub fn remove_root(&self, token: &str) -> Result<Root, RootError> {
        let r = self.roots_lock().remove(token)?;
        self.save_roots();
        Ok(r)
    }

    /// Makes a root the default for torrents added without one.
    pub fn set_default_root(&self, token: &str) -> Result<(), RootError> {
        self.roots_lock().set_default(token)?;
        self.save_roots();
        Ok(())
    }

    /// Every root with its health. Torrents of a failed shard are not counted.
    pub fn roots(&self) -> Vec<RootStatus> {
        let torrents = self.torrents().unwrap_or_default();
        let roots = self.roots_lock();
        let default = roots.default_root().ok().map(|r| r.token.clone());
        // One pass over the torrents, not one per root.
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for r in torrents.iter().filter_map(|ih| roots.root_of(*ih)) {
            *counts.entry(r.token.as_str()).or_default() += 1;
        }
        roots
            .list()
            .map(|r| RootStatus {
                root: r.clone(),
                health: self.root_health(&roots, r),
                is_default: default.as_deref() == Some(r.token.as_str()),
                torrents: counts.get(r.token.as_str()).copied().unwrap_or(0),
            })
            .collect()
    }

    /// The default root and its health, without asking the shards for their
    /// torrents (`roots` counts every torrent's root: at 100,000 torrents a
    /// qBittorrent `sync/maindata` poll spent a quarter of its time there to
    /// read one root's free space).
    pub fn default_root_health(&self) -> Option<(Root, RootHealth)> {
        let roots = self.roots_lock();
        let r = roots.default_root().ok()?;
        Some((r.clone(), self.root_health(&roots, r)))
    }

    /// The default root, without looking at its disk.
    pub fn default_root(&self) -> Option<Root> {
        self.roots_lock().default_root().ok().cloned()
    }

    /// Every root, without asking the shards for their torrents.
    pub fn root_list(&self) -> Vec<Root> {
        self.roots_lock().list().cloned().collect()
    }

    /// A torrent's root and the paths of its files in it (pad files left out;
    /// empty until a magnet's metadata arrives).
    pub fn torrent_files(&self, ih: InfoHash) -> Result<(Root, Vec<PathBuf>), EngineError> {
        let root = self.roots_lock().root_of(ih).cloned();
        let root = root.ok_or(CommandError::UnknownTorrent(ih))?;
        let info = self.ask_blocking(ih, Command::Info(ih))?.info()?;
        let files = info.map_or_else(Vec::new, |info| {
            (0..info.files.len())
                .filter(|&i| info.files[i].is_stored())
                .map(|i| crate::disk_uring::io::file_path(&root.path, &info, i))
                .collect()
        });
        Ok((root, files))
    }

    /// Moves a torrent's data to another root. The torrent stops while its data
    /// moves and runs again after; `stats` shows [`crate::core::TorrentState::Moving`]
    /// meanwhile and a note if the move failed (its data then stays where it was).
    /// [`Engine::move_storage`] is the user's move (it places the torrent by hand).
    pub(super) fn move_data(&self, ih: InfoHash, token: &str) -> Result<(), EngineError> {
        self.move_data_then(ih, token, None)
    }

    /// [`Engine::move_data`], the torrent then moving on to root `finish`
    /// once it has every wanted piece (into an incomplete folder).
    pub(super) fn move_data_then(
        &self,
        ih: InfoHash,
        token: &str,
        finish: Option<Box<crate::core::FinishRoot>>,
    ) -> Result<(), EngineError> {
        let root = self
            .roots_lock()
            .list()
            .find(|r| r.token == token)
            .cloned()
            .ok_or_else(|| root_err(RootError::Unknown(token.to_owned())))?;
        if !self.root_available(&root) {
            return Err(CommandError::BadArgument(format!(
                "storage root {token:?} is unavailable"
            ))
            .into());
        }
        let path = root.path.to_string_lossy().into_owned();
        let tok = root.token.clone();
        let to_marked = root.marked;
        let mv = Command::MoveStorage {
            info_hash: ih,
            to: path,
            to_token: tok,
            to_marked,
            finish_in: finish,
        };
        self.ask_blocking(ih, mv)?.done()?;
        self.place_torrent(ih, token);
        Ok(())
    }

    /// Gives some of torrent `ih`'s files new names (each file's index and new
    /// path under the download folder, see `core::rename`): refused at once if a
    /// name is unsafe or taken; the torrent then stops while its files are
    /// renamed (`stats` says [`crate::core::TorrentState::Moving`]) and runs
    /// again after, with a note if the renaming failed (the files keep their
    /// names).
    pub async fn rename_files_async(
        &self,
        ih: InfoHash,
        renames: Vec<(usize, Vec<String>)>,
    ) -> Result<(), EngineError> {
        let cmd = Command::RenameFiles {
            info_hash: ih,
            renames,
        };
        self.ask(ih, cmd).await?.done()
    }

    /// [`Engine::rename_files_async`], waiting for the answer.
    pub fn rename_files(
        &self,
        ih: InfoHash,
        renames: Vec<(usize, Vec<String>)>,
    ) -> Result<(), EngineError> {
        let cmd = Command::RenameFiles {
            info_hash: ih,
            renames,
        };
        self.ask_blocking(ih, cmd)?.done()
    }

    /// Records that torrent `ih` lives in root `token` (a root the caller just
    /// resolved, so it is known; if not, that is a bug, said in the log).
    pub(super) fn place_torrent(&self, ih: InfoHash, token: &str) {
        if let Err(e) = self.roots_lock().set_torrent_root(ih, Some(token)) {
            tracing::error!(info_hash = %ih, root = token, error = %e, "torrent not placed in its root");
        }
    }

    /// Whether any file of the torrent `add` names is in `root` already, with
    /// bytes in it (a magnet's files are not known: no).
    pub(super) fn has_data_in(&self, add: &crate::core::AddTorrent, root: &Path) -> bool {
        let crate::core::TorrentSource::Metainfo(m) = &add.source else {
            return false;
        };
        let mut info = m.info.clone();
        info.lay_out(add.settings.content_layout);
        self.with_files(|fs| {
            let found = storage::stat_files(&*fs, root, &info);
            found.into_iter().flatten().any(|s| s.size > 0)
        })
    }

    /// Where a torrent's files go when it finishes: the root with token
    /// `token`, if there is one.
    pub(super) fn finish_root(&self, token: &str) -> Option<crate::core::FinishRoot> {
        let roots = self.roots_lock();
        roots.list().find(|r| r.token == token).map(finish_root_of)
    }

    /// The root `r` names: a token, a folder (a plain-folder root of its own,
    /// unmarked, if no root has that path), or the default root when empty.
    pub(super) fn resolve_root(&self, r: &str) -> Result<Root, CommandError> {
        let mut roots = self.roots_lock();
        if r.is_empty() {
            return roots.default_root().cloned().map_err(root_err);
        }
        if let Some(root) = roots.list().find(|x| x.token == r) {
            return Ok(root.clone());
        }
        let path = PathBuf::from(r);
        if let Some(root) = roots.list().find(|x| x.path == path) {
            return Ok(root.clone());
        }
        let n = roots.list().count();
        let token = (n + 1..)
            .map(|i| format!("root-{i}"))
            .find(|t| roots.list().all(|x| &x.token != t))
            .expect("a free token");
        let root = self
            .add_prepared(&mut roots, &token, r, &path, false)
            .map_err(root_err)?;
        drop(roots);
        self.save_roots();
        Ok(root)
    }

    fn save_roots(&self) {
        // A failed save shows up at the next start as a root to add again; the
        // torrents' own records name their root.
        if let Err(e) = self.roots_lock().save(&**self.store()) {
            tracing::error!(error = %e, "storage roots not saved: add them again after a restart");
        }
    }

    /// Runs `f` on the engine's files: a memory engine's filesystem in its world,
    /// or the machine's. The storage policy (`crate::storage`) is the same code on
    /// both.
    pub(super) fn with_files<R>(&self, f: impl FnOnce(&mut dyn Files) -> R) -> R {
        match self.backend() {
            Backend::Memory { world, node } => f(&mut world.lock().nodes[*node].fs),
            Backend::Shards { .. } => f(&mut RealFiles),
        }
    }

    /// Makes a root's folder, and its marker if it is a marked root.
    fn init_root(&self, root: &Root) -> std::io::Result<()> {
        self.with_files(|fs| {
            if root.marked {
                storage::init_root(fs, &root.path, &root.token)
            } else {
                fs.create_dirs(&root.path, &root.path)
            }
        })
    }

    pub(super) fn root_available(&self, root: &Root) -> bool {
        self.with_files(|fs| storage::root_available(fs, &root.path, root.marked))
    }

    /// How root `r` of `roots` (held by the caller) is doing.
    fn root_health(&self, roots: &StorageRootManager, r: &Root) -> RootHealth {
        let up = self.root_available(r);
        let mut h = match self.backend() {
            // A memory disk is as large as the world's capacity lets it be.
            Backend::Memory { .. } => RootHealth {
                exists: true,
                writable: true,
                free_bytes: u64::MAX,
                total_bytes: u64::MAX,
            },
            Backend::Shards { .. } => roots.health(&r.token).unwrap_or(RootHealth {
                exists: false,
                writable: false,
                free_bytes: 0,
                total_bytes: 0,
            }),
        };
        // A folder without its marker is an empty mount point: not the root.
        if !up {
            h.exists = false;
            h.writable = false;
        }
        h
    }
}

/// Where a torrent's files go when it finishes, as the core keeps it: `root`.
pub(super) fn finish_root_of(root: &Root) -> crate::core::FinishRoot {
    crate::core::FinishRoot {
        path: root.path.to_string_lossy().into_owned(),
        token: root.token.clone(),
        marked: root.marked,
    }
}
