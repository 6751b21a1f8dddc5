//! A torrent's files in its root: made ready before the first write (zero-length
//! files get no piece writes, so they are created here), and deleted when the
//! torrent is removed with its data.

use std::io::ErrorKind;
use std::path::Path;

use super::{Files, root_available};
use crate::core::DiskError;
use crate::disk_uring::io::file_path;
use crate::metainfo::Info;

/// Creates every stored file of `info` under `root` at its full length (sparse
/// where the filesystem allows), never into a root that is not there. Returns
/// whether any of them held data before (if none did, no piece can be there).
pub fn prepare_files<F: Files + ?Sized>(
    fs: &mut F,
    root: &Path,
    marked: bool,
    info: &Info,
) -> Result<bool, DiskError> {
    let mut had_data = false;
    if !root_available(fs, root, marked) {
        return Err(DiskError(format!(
            "storage root {} is unavailable",
            root.display()
        )));
    }
    for (i, f) in info.files.iter().enumerate() {
        if !f.is_stored() {
            continue;
        }
        let path = file_path(root, info, i);
        let err = |e: std::io::Error| DiskError(format!("{}: {e}", path.display()));
        had_data |= fs.stamp(&path).is_some_and(|s| s.size > 0);
        if let Some(parent) = path.parent() {
            fs.create_dirs(root, parent).map_err(err)?;
        }
        fs.create_sized(root, &path, f.length).map_err(err)?;
    }
    Ok(had_data)
}

/// Deletes every stored file of `info` under `root`, then the folders that leaves
/// empty (never `root` itself). A file already gone is fine; any other failure is
/// logged and the rest are still deleted. Returns the files that could not be.
pub fn delete_files<F: Files + ?Sized>(fs: &mut F, root: &Path, info: &Info) -> usize {
    let mut failed = 0;
    for i in 0..info.files.len() {
        if !info.files[i].is_stored() {
            continue;
        }
        let path = file_path(root, info, i);
        match fs.remove_file(root, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                failed += 1;
                tracing::warn!(path = %path.display(), error = %e, "could not delete a removed torrent's file");
            }
        }
        remove_empty_parents(fs, root, &path);
    }
    failed
}

/// Removes the folders above `path` that are empty, up to (not including) `root`.
pub(super) fn remove_empty_parents<F: Files + ?Sized>(fs: &mut F, root: &Path, path: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || !fs.remove_empty_dir(root, d) {
            break;
        }
        dir = d.parent();
    }
}
