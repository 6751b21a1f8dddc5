//! What the engine does with files besides reading and writing pieces, written
//! once for both drivers: the durable resume save (sync the written files, stamp
//! them, then commit the records), moving a torrent between roots (rename, or
//! copy + verify + delete, undone on failure), file stamps, root markers, and a
//! torrent's files made ready or deleted.
//!
//! It works through the [`Files`] port. The real driver passes
//! [`RealFiles`](crate::disk_uring::RealFiles) (the operating system's files); the
//! sim passes its [`MemFs`](crate::sim::MemFs), which keeps synced and unsynced
//! bytes apart and loses, keeps or tears unsynced writes in a simulated crash. So
//! the crash simulations test this very code: drop the sync from
//! [`save_resume`] and `tests/sim_resume.rs` finds records claiming pieces a crash
//! took away.
//!
//! Everything here blocks: the real driver calls it on compio's blocking pool.

mod durable;
mod layout;

use std::io;
use std::path::Path;

pub use durable::{
    MoveMethod, carry_out_move, files_stated, init_root, move_torrent, root_available, save_resume,
    stat_files, sync_files,
};
pub use layout::{delete_files, prepare_files};

use crate::resume_lmdb::record::FileStamp;

/// Files' stamps (size, modification time), the part of [`Files`] that
/// stamping needs: a batch of stamps may hold what it opened between calls.
pub trait Stamps {
    /// A file's size and modification time, if it is there.
    fn stamp(&self, path: &Path) -> Option<FileStamp>;
    /// The stamps of files `asked` of `info` under `root`, in that order
    /// (see [`Stamps::stamp`]). A restart stamps every file of every torrent
    /// (527,000 at 100,000 torrents), so the real filesystem walks each path
    /// from the root's folder, opened once, rather than from `/`.
    fn stamps_under(
        &self,
        root: &Path,
        info: &crate::metainfo::Info,
        asked: &[usize],
    ) -> Vec<Option<FileStamp>> {
        let path = |i| crate::disk_uring::io::file_path(root, info, i);
        asked.iter().map(|&i| self.stamp(&path(i))).collect()
    }
}

/// The filesystem operations the storage policy needs. Paths are absolute.
pub trait Files: Stamps {
    /// Whether a regular file is at `path`.
    fn is_file(&self, path: &Path) -> bool;
    /// Whether a folder is at `path`.
    fn is_dir(&self, path: &Path) -> bool;
    /// Makes a file's written data durable (`fdatasync`). A missing file has
    /// nothing to make durable: `Ok`.
    fn sync_data(&mut self, root: &Path, path: &Path) -> io::Result<()>;
    /// Makes sure a file exists and is at least `len` bytes long (extended with
    /// zeros, sparse where the filesystem allows; never shortened).
    fn create_sized(&mut self, root: &Path, path: &Path, len: u64) -> io::Result<()>;
    /// Creates a folder and its parents (`dir` may be `root` itself: a root's
    /// own folder is made as the user named it).
    fn create_dirs(&mut self, root: &Path, dir: &Path) -> io::Result<()>;
    /// Writes a small whole file and makes it, and its entry in its folder, durable.
    fn write_durably(&mut self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Renames a file (an error of kind `CrossesDevices` across filesystems).
    fn rename(
        &mut self,
        from_root: &Path,
        from: &Path,
        to_root: &Path,
        to: &Path,
    ) -> io::Result<()>;
    /// Copies a file and makes the copy durable.
    fn copy_durably(
        &mut self,
        from_root: &Path,
        from: &Path,
        to_root: &Path,
        to: &Path,
    ) -> io::Result<()>;
    /// Deletes a file.
    fn remove_file(&mut self, root: &Path, path: &Path) -> io::Result<()>;
    /// Deletes a folder if it is empty; whether it did.
    fn remove_empty_dir(&mut self, root: &Path, dir: &Path) -> bool;
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_exact_at(
        &self,
        root: &Path,
        path: &Path,
        offset: u64,
        buf: &mut [u8],
    ) -> io::Result<()>;
}
