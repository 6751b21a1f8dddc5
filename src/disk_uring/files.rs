//! The operating system's files behind the [`Files`] port: every path under a
//! storage root is opened, made and removed from the root with
//! [`Beneath`], so no symlink inside a root leads outside it.

use std::cell::RefCell;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags};
use rustix::io::Errno;

use super::beneath::{Access, Beneath};
use super::io::file_path;
use crate::metainfo::Info;
use crate::resume_lmdb::record::FileStamp;
use crate::storage::{Files, Stamps};

/// Real files, through `std::fs` (blocking: call it off the shard thread).
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFiles;

impl Stamps for RealFiles {
    fn stamp(&self, path: &Path) -> Option<FileStamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            size: m.len(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        })
    }
}

/// Stamps for one batch of torrents (`shard::stat`: a restart's comparisons,
/// the seeding watch): each file's path is walked from its root's folder,
/// opened once for the batch and let go with it, instead of from `/` with a
/// path made for it (a file's `FilePath` is already the path under its root). At 100,000 torrents a restart stamps 527,000 files, and
/// the walk of the root's own folders was most of each `statx`'s kernel time.
/// The stamps are the same as [`RealFiles`]' (symlinks followed, as there).
#[derive(Debug, Default)]
pub struct RootStamps {
    /// The last root asked for, and its folder (`None`: it could not be
    /// opened, so its files are stamped one whole path at a time).
    root: RefCell<Option<(PathBuf, Option<OwnedFd>)>>,
}

impl Stamps for RootStamps {
    fn stamp(&self, path: &Path) -> Option<FileStamp> {
        RealFiles.stamp(path)
    }

    fn stamps_under(&self, root: &Path, info: &Info, asked: &[usize]) -> Vec<Option<FileStamp>> {
        let mut held = self.root.borrow_mut();
        if held.as_ref().is_none_or(|(r, _)| r != root) {
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let dir = rustix::fs::open(root, flags, Mode::empty()).ok();
            *held = Some((root.to_path_buf(), dir));
        }
        let whole = |i| self.stamp(&file_path(root, info, i));
        let Some((_, Some(dir))) = &*held else {
            return asked.iter().map(|&i| whole(i)).collect();
        };
        let want = StatxFlags::SIZE | StatxFlags::MTIME;
        let stamp = |i: usize| {
            // Its components joined by `/`: a path relative to the root as it is.
            let rel = info.files[i].path.as_str();
            if rel.is_empty() {
                return whole(i);
            }
            match rustix::fs::statx(dir, rel, AtFlags::empty(), want) {
                Ok(s) => Some(FileStamp {
                    size: s.stx_size,
                    mtime_ns: s.stx_mtime.tv_sec * 1_000_000_000 + i64::from(s.stx_mtime.tv_nsec),
                }),
                // A kernel without statx (before 4.11): the way std stamps.
                Err(Errno::NOSYS) => whole(i),
                Err(_) => None,
            }
        };
        asked.iter().map(|&i| stamp(i)).collect()
    }
}

impl Files for RealFiles {
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn sync_data(&mut self, root: &Path, path: &Path) -> io::Result<()> {
        match open_beneath(root, path, Access::Write) {
            Ok(f) => f.sync_data(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn create_sized(&mut self, root: &Path, path: &Path, len: u64) -> io::Result<()> {
        let file = open_beneath(root, path, Access::WriteCreate)?;
        if file.metadata()?.len() < len {
            file.set_len(len)?;
        }
        Ok(())
    }

    fn create_dirs(&mut self, root: &Path, dir: &Path) -> io::Result<()> {
        if dir == root {
            // The root's own folder, where the user said it is.
            return std::fs::create_dir_all(dir);
        }
        Beneath::new(root)?.create_dirs(Beneath::relative(root, dir)?)
    }

    fn write_durably(&mut self, path: &Path, data: &[u8]) -> io::Result<()> {
        std::fs::write(path, data)?;
        std::fs::File::open(path)?.sync_all()?;
        match path.parent() {
            Some(dir) => std::fs::File::open(dir)?.sync_all(),
            None => Ok(()),
        }
    }

    fn rename(
        &mut self,
        from_root: &Path,
        from: &Path,
        to_root: &Path,
        to: &Path,
    ) -> io::Result<()> {
        let to_beneath = Beneath::new(to_root)?;
        Beneath::new(from_root)?.rename(
            Beneath::relative(from_root, from)?,
            &to_beneath,
            Beneath::relative(to_root, to)?,
        )
    }

    fn copy_durably(
        &mut self,
        from_root: &Path,
        from: &Path,
        to_root: &Path,
        to: &Path,
    ) -> io::Result<()> {
        let mut src = open_beneath(from_root, from, Access::Read)?;
        let mut dst = open_beneath(to_root, to, Access::WriteCreate)?;
        dst.set_len(0)?;
        io::copy(&mut src, &mut dst)?;
        dst.sync_all()
    }

    fn remove_file(&mut self, root: &Path, path: &Path) -> io::Result<()> {
        Beneath::new(root)?.remove_file(Beneath::relative(root, path)?)
    }

    fn remove_empty_dir(&mut self, root: &Path, dir: &Path) -> bool {
        Beneath::relative(root, dir)
            .and_then(|rel| Beneath::new(root)?.remove_dir(rel))
            .is_ok()
    }

    fn read_exact_at(
        &self,
        root: &Path,
        path: &Path,
        offset: u64,
        buf: &mut [u8],
    ) -> io::Result<()> {
        open_beneath(root, path, Access::Read)?.read_exact_at(buf, offset)
    }
}

/// `path`, under `root`, opened from the root so that it cannot lead outside.
fn open_beneath(root: &Path, path: &Path, access: Access) -> io::Result<std::fs::File> {
    Beneath::new(root)?.open(Beneath::relative(root, path)?, access)
}
