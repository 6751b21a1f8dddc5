//! Collecting the files under a path for `seedring create`.

use std::path::{Path, PathBuf};

use crate::metainfo::CreateLayout;

/// The files found, in torrent order.
#[derive(Debug, Clone)]
pub struct Walked {
    /// Name, file paths and lengths as they go into the torrent.
    pub layout: CreateLayout,
    /// The file on disk behind each entry, in the same order.
    pub paths: Vec<PathBuf>,
    /// Entries left out: symlinks (never followed) and special files.
    pub skipped: Vec<PathBuf>,
}

/// Why the files could not be collected.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// Reading a folder or a file's metadata failed.
    #[error("{path}: {error}")]
    Io {
        /// Where.
        path: PathBuf,
        /// What the OS said (shown in the message, so not a `source`).
        error: std::io::Error,
    },
    /// The path has no usable final name (`/`, `..`).
    #[error("{0}: cannot name a torrent after this path")]
    NoName(PathBuf),
    /// A name is not valid UTF-8, which a torrent cannot carry faithfully.
    #[error("{0}: file name is not valid UTF-8")]
    NotUtf8(PathBuf),
    /// The path is a symlink or special file, or the folder holds no data.
    #[error("{0}: nothing to put in a torrent (no regular files with data)")]
    NothingToShare(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WalkError + '_ {
    move |error| WalkError::Io {
        path: path.to_path_buf(),
        error,
    }
}

fn utf8_name(path: &Path) -> Result<String, WalkError> {
    let name = path
        .file_name()
        .ok_or_else(|| WalkError::NoName(path.to_path_buf()))?;
    name.to_str()
        .map(str::to_owned)
        .ok_or_else(|| WalkError::NotUtf8(path.to_path_buf()))
}

/// Collects a single file, or every regular file under a folder, sorted by path so the
/// same tree always gives the same torrent. Symlinks are never followed.
pub fn walk(root: &Path) -> Result<Walked, WalkError> {
    let canonical = std::fs::canonicalize(root).map_err(io_err(root))?;
    let name = utf8_name(&canonical)?;
    let meta = std::fs::symlink_metadata(root).map_err(io_err(root))?;
    let mut skipped = Vec::new();
    if meta.is_file() {
        if meta.len() == 0 {
            return Err(WalkError::NothingToShare(root.to_path_buf()));
        }
        return Ok(Walked {
            layout: CreateLayout {
                name,
                files: None,
                length: meta.len(),
            },
            paths: vec![root.to_path_buf()],
            skipped,
        });
    }
    if !meta.is_dir() {
        return Err(WalkError::NothingToShare(root.to_path_buf()));
    }
    let mut found: Vec<(Vec<String>, u64, PathBuf)> = Vec::new();
    let mut stack = vec![(root.to_path_buf(), Vec::<String>::new())];
    while let Some((dir, rel)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(io_err(&path))?;
            let mut child = rel.clone();
            child.push(utf8_name(&path)?);
            if kind.is_dir() {
                stack.push((path, child));
            } else if kind.is_file() {
                let len = entry.metadata().map_err(io_err(&path))?.len();
                found.push((child, len, path));
            } else {
                skipped.push(path);
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    if found.iter().all(|f| f.1 == 0) {
        return Err(WalkError::NothingToShare(root.to_path_buf()));
    }
    skipped.sort();
    let paths = found.iter().map(|f| f.2.clone()).collect();
    let files = found.into_iter().map(|(p, len, _)| (p, len)).collect();
    Ok(Walked {
        layout: CreateLayout {
            name,
            files: Some(files),
            length: 0,
        },
        paths,
        skipped,
    })
}
