//! Opening, creating and removing a torrent's files so that nothing placed
//! inside a storage root (a symlink to `/etc`, say, where the torrent's folder
//! was) can lead a write outside the root.
//!
//! Every path is resolved from a descriptor of the root with `openat2` and
//! `RESOLVE_BENEATH` (Linux 5.6): a component that would climb out of the
//! root, through `..` or a symlink, fails with `EXDEV`; symlinks that stay
//! inside work. Where `openat2` is missing (an older kernel, a seccomp filter
//! that refuses it) each component is opened with `O_NOFOLLOW` instead, which
//! refuses every symlink: stricter, never looser. Folders are made one at a
//! time, each inside a parent opened the same way, so `mkdir` never follows a
//! link either.
//!
//! The root itself is what the user configured and is trusted (it may be a
//! symlink, a mount point).

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};

/// Whether `openat2` was found missing (then components are walked).
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// A storage root, open as a directory descriptor.
#[derive(Debug)]
pub struct Beneath {
    root: OwnedFd,
}

/// What to open a file for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading.
    Read,
    /// Writing, the file made if missing (never truncated).
    WriteCreate,
    /// Writing an existing file.
    Write,
}

impl Beneath {
    /// Opens `root` (following it if it is a symlink: it is the user's).
    pub fn new(root: &Path) -> io::Result<Beneath> {
        let root = rustix::fs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Beneath { root })
    }

    /// `path` relative to `root`, or an error if it is not under it, or climbs.
    pub fn relative<'a>(root: &Path, path: &'a Path) -> io::Result<&'a Path> {
        let rel = path.strip_prefix(root).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is not inside the storage root {}",
                    path.display(),
                    root.display()
                ),
            )
        })?;
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} climbs out of its storage root", path.display()),
            ));
        }
        Ok(rel)
    }

    /// Opens the file at `rel` (a path inside the root).
    pub fn open(&self, rel: &Path, access: Access) -> io::Result<File> {
        let flags = match access {
            Access::Read => OFlags::RDONLY,
            Access::WriteCreate => OFlags::WRONLY | OFlags::CREATE,
            Access::Write => OFlags::WRONLY,
        } | OFlags::CLOEXEC;
        // openat2 wants no mode unless it may create.
        let mode = if access == Access::WriteCreate {
            Mode::from_raw_mode(0o666)
        } else {
            Mode::empty()
        };
        let fd = self.resolve(rel, flags, mode)?;
        Ok(File::from(fd))
    }

    /// Makes the folder `rel` and every missing parent, inside the root.
    pub fn create_dirs(&self, rel: &Path) -> io::Result<()> {
        let mut parent = std::path::PathBuf::new();
        for c in rel.components() {
            let dir = self.dir(&parent)?;
            match rustix::fs::mkdirat(&dir, c.as_os_str(), Mode::from_raw_mode(0o777)) {
                Ok(()) => {}
                Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(self.explain(&parent.join(c), e)),
            }
            parent.push(c);
        }
        // What is there now must be a folder inside the root (not a link out).
        self.dir(rel).map(drop)
    }

    /// Removes the file at `rel` (a symlink there is removed, never followed).
    pub fn remove_file(&self, rel: &Path) -> io::Result<()> {
        let (parent, name) = split(rel)?;
        let dir = self.dir(parent)?;
        rustix::fs::unlinkat(&dir, name, AtFlags::empty()).map_err(|e| self.explain(rel, e))
    }

    /// Removes the empty folder at `rel`.
    pub fn remove_dir(&self, rel: &Path) -> io::Result<()> {
        let (parent, name) = split(rel)?;
        let dir = self.dir(parent)?;
        rustix::fs::unlinkat(&dir, name, AtFlags::REMOVEDIR).map_err(|e| self.explain(rel, e))
    }

    /// Renames `rel` to `to_rel` inside `to` (another root, or this one).
    pub fn rename(&self, rel: &Path, to: &Beneath, to_rel: &Path) -> io::Result<()> {
        let (parent, name) = split(rel)?;
        let (to_parent, to_name) = split(to_rel)?;
        let from_dir = self.dir(parent)?;
        let to_dir = to.dir(to_parent)?;
        rustix::fs::renameat(&from_dir, name, &to_dir, to_name).map_err(|e| self.explain(rel, e))
    }

    /// The folder at `rel` (the root itself when empty), for `*at` calls.
    fn dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        self.resolve(
            rel,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
    }

    fn resolve(&self, rel: &Path, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            let how = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
            match rustix::fs::openat2(&self.root, rel, flags, mode, how) {
                Ok(fd) => return Ok(fd),
                Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => {
                    tracing::warn!(
                        "openat2 is not available: torrent files are opened one folder at a time, refusing every symlink inside a root"
                    );
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(self.explain(rel, e)),
            }
        }
        self.walk(rel, flags, mode)
    }

    /// The fallback: each component opened with `O_NOFOLLOW` from the last.
    fn walk(&self, rel: &Path, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
        let parts: Vec<_> = rel
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect();
        let Some((last, dirs)) = parts.split_last() else {
            return rustix::fs::openat(&self.root, ".", flags, mode).map_err(io::Error::from);
        };
        let mut dir = rustix::fs::openat(
            &self.root,
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        for c in dirs {
            dir = rustix::fs::openat(
                &dir,
                c.as_os_str(),
                // Not O_PATH: with it a link would open as itself, not fail.
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            // With O_DIRECTORY a link fails as "not a directory".
            .map_err(|e| {
                if e == rustix::io::Errno::NOTDIR {
                    self.explain(rel, rustix::io::Errno::LOOP)
                } else {
                    self.explain(rel, e)
                }
            })?;
        }
        rustix::fs::openat(&dir, last.as_os_str(), flags | OFlags::NOFOLLOW, mode)
            .map_err(|e| self.explain(rel, e))
    }

    fn explain(&self, rel: &Path, e: rustix::io::Errno) -> io::Error {
        let e = io::Error::from(e);
        if e.raw_os_error() == Some(libc::EXDEV) || e.raw_os_error() == Some(libc::ELOOP) {
            return io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{}: refused, it leads outside its storage root (a symlink inside the root?)",
                    rel.display()
                ),
            );
        }
        e
    }
}

/// A path's folder and last name (an error for an empty path).
fn split(rel: &Path) -> io::Result<(&Path, &std::ffi::OsStr)> {
    match (rel.parent(), rel.file_name()) {
        (Some(p), Some(n)) => Ok((p, n)),
        _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "an empty path")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn files_and_folders_inside_the_root_work() {
        let dir = tempfile::tempdir().unwrap();
        let b = Beneath::new(dir.path()).unwrap();
        b.create_dirs(Path::new("t/a/b")).unwrap();
        b.create_dirs(Path::new("t/a/b")).unwrap();
        let mut f = b
            .open(Path::new("t/a/b/x.bin"), Access::WriteCreate)
            .unwrap();
        f.write_all(b"hello").unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("t/a/b/x.bin")).unwrap(),
            b"hello"
        );
        // A link that stays inside the root is followed.
        std::os::unix::fs::symlink("a", dir.path().join("t/inside")).unwrap();
        b.open(Path::new("t/inside/b/x.bin"), Access::Read).unwrap();
        b.rename(Path::new("t/a/b/x.bin"), &b, Path::new("t/y.bin"))
            .unwrap();
        b.remove_file(Path::new("t/y.bin")).unwrap();
        b.remove_dir(Path::new("t/a/b")).unwrap();
        assert!(!dir.path().join("t/a/b").exists());
    }

    #[test]
    fn a_symlink_out_of_the_root_is_refused_for_every_operation() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("victim"), b"precious").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("t")).unwrap();
        let b = Beneath::new(dir.path()).unwrap();
        let refused = |r: io::Result<()>| {
            let e = r.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
            assert!(e.to_string().contains("outside its storage root"), "{e}");
        };
        refused(b.open(Path::new("t/victim"), Access::WriteCreate).map(drop));
        refused(b.open(Path::new("t/new"), Access::WriteCreate).map(drop));
        refused(b.open(Path::new("t/victim"), Access::Read).map(drop));
        refused(b.create_dirs(Path::new("t/sub")));
        refused(b.remove_file(Path::new("t/victim")));
        assert_eq!(
            std::fs::read(outside.path().join("victim")).unwrap(),
            b"precious"
        );
        assert!(!outside.path().join("new").exists());
        assert!(!outside.path().join("sub").exists());
        // The link itself, the last component, is removed, not followed.
        b.remove_file(Path::new("t")).unwrap();
        assert!(outside.path().join("victim").exists());
        assert!(Beneath::relative(dir.path(), &dir.path().join("../x")).is_err());
        assert!(Beneath::relative(dir.path(), Path::new("/etc/passwd")).is_err());
    }

    #[test]
    fn the_fallback_walk_refuses_every_symlink() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("t")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("t/out")).unwrap();
        let b = Beneath::new(dir.path()).unwrap();
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC;
        let e = b
            .walk(Path::new("t/out/x"), flags, Mode::from_raw_mode(0o666))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        b.walk(Path::new("t/x"), flags, Mode::from_raw_mode(0o666))
            .unwrap();
        assert!(dir.path().join("t/x").exists());
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
    }
}
