//! The operating system's files behind the [`Files`] port.

use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use crate::resume_lmdb::record::FileStamp;
use crate::storage::Files;

/// Real files, through `std::fs` (blocking: call it off the shard thread).
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFiles;

impl Files for RealFiles {
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn stamp(&self, path: &Path) -> Option<FileStamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            size: m.len(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        })
    }

    fn sync_data(&mut self, path: &Path) -> io::Result<()> {
        match std::fs::OpenOptions::new().write(true).open(path) {
            Ok(f) => f.sync_data(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn create_sized(&mut self, path: &Path, len: u64) -> io::Result<()> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if file.metadata()?.len() < len {
            file.set_len(len)?;
        }
        Ok(())
    }

    fn create_dirs(&mut self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn write_durably(&mut self, path: &Path, data: &[u8]) -> io::Result<()> {
        std::fs::write(path, data)?;
        std::fs::File::open(path)?.sync_all()?;
        match path.parent() {
            Some(dir) => std::fs::File::open(dir)?.sync_all(),
            None => Ok(()),
        }
    }

    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn copy_durably(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::copy(from, to)?;
        std::fs::File::open(to)?.sync_all()
    }

    fn remove_file(&mut self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn remove_empty_dir(&mut self, dir: &Path) -> bool {
        std::fs::remove_dir(dir).is_ok()
    }

    fn read_exact_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        std::fs::File::open(path)?.read_exact_at(buf, offset)
    }
}
