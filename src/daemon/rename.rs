//! Renaming a torrent's files and folders by their names as the APIs show
//! them (`a/b.bin`: for a multi-file torrent its folder first):
//! `PUT /api/v1/torrents/{id}/paths` and qBittorrent's `renameFile` and
//! `renameFolder` turn a name and a new one into new paths for file indexes,
//! which the engine checks and carries out (`core::rename`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::api::{ApiError, Body, Shared};
use super::torrents::torrent_id;
use crate::metainfo::{FilePath, Info};

/// What a rename names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One file.
    File,
    /// A folder: every file under it.
    Folder,
    /// A file of that name, else a folder.
    Either,
}

/// Why a rename cannot be resolved to files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// No file of that name.
    #[error("No such file: '{0}'.")]
    NoFile(String),
    /// No folder of that name.
    #[error("No such folder: '{0}'.")]
    NoFolder(String),
    /// An absolute new path.
    #[error("Absolute path isn't allowed: '{0}'.")]
    Absolute(String),
    /// An empty new path.
    #[error("The new path is invalid: '{0}'.")]
    Empty(String),
    /// Another file has the new name.
    #[error("The file already exists: '{0}'.")]
    Exists(String),
    /// A folder of that name holds other files.
    #[error("The folder already exists: '{0}'.")]
    FolderExists(String),
}

fn parts(p: &str) -> Vec<String> {
    p.split(['/', '\\'])
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The files `from` names in `info` and their new paths once `from` is `to`.
pub fn renames(
    info: &Info,
    from: &str,
    to: &str,
    target: Target,
) -> Result<Vec<(usize, Vec<String>)>, PathError> {
    if to.starts_with('/') {
        return Err(PathError::Absolute(to.to_owned()));
    }
    let (old, new) = (parts(from), parts(to));
    if new.is_empty() {
        return Err(PathError::Empty(to.to_owned()));
    }
    let stored = || (info.files.iter().enumerate()).filter(|(_, f)| f.is_stored());
    if target != Target::Folder
        && let Some((i, _)) = stored().find(|(_, f)| f.path.is(&old))
    {
        if stored().any(|(j, f)| j != i && f.path.is(&new)) {
            return Err(PathError::Exists(to.to_owned()));
        }
        return Ok(vec![(i, new)]);
    }
    if target == Target::File || old.is_empty() {
        return Err(PathError::NoFile(from.to_owned()));
    }
    let inside = |p: &FilePath, dir: &[String]| p.len() > dir.len() && p.starts_with(dir);
    if stored().any(|(_, f)| inside(&f.path, &new) && !inside(&f.path, &old)) {
        return Err(PathError::FolderExists(to.to_owned()));
    }
    let under: Vec<(usize, Vec<String>)> = stored()
        .filter(|(_, f)| inside(&f.path, &old))
        .map(|(i, f)| {
            let mut p = new.clone();
            p.extend(f.path.parts().skip(old.len()).map(str::to_owned));
            (i, p)
        })
        .collect();
    if under.is_empty() {
        return Err(match target {
            Target::Folder => PathError::NoFolder(from.to_owned()),
            _ => PathError::NoFile(from.to_owned()),
        });
    }
    Ok(under)
}

/// `PUT /torrents/{id}/paths` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameBody {
    /// A file's name as `GET /torrents/{id}/files` shows it, or a folder's.
    pub from: String,
    /// Its new name.
    pub to: String,
}

/// `PUT /torrents/{id}/paths`: a file, or a folder (every file under it),
/// takes a new name; `204` once the rename is under way (the torrent stops
/// while its files are renamed, then runs again); `400` with why for a name
/// that is not there, or a new one that is unsafe or taken.
pub async fn rename(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Body(b): Body<RenameBody>,
) -> Result<StatusCode, ApiError> {
    let ih = torrent_id(&app, &id).await?;
    let info = (app.engine.info_async(ih).await?)
        .ok_or_else(|| ApiError::bad("its metadata is not known yet: it has no files to rename"))?;
    let list =
        renames(&info, &b.from, &b.to, Target::Either).map_err(|e| ApiError::bad(e.to_string()))?;
    app.engine.rename_files_async(ih, list).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> Info {
        let mut i = crate::disk_uring::fixture::two_files(&[0u8; 100_000]);
        for (f, p) in i.files.iter_mut().zip(["t/a.bin", "t/d/b.bin"]) {
            f.path = FilePath::from_parts(parts(p));
        }
        i
    }

    #[test]
    fn names_resolve_to_files_and_folders() {
        let i = info();
        assert_eq!(
            renames(&i, "t/a.bin", "t/z.bin", Target::File).unwrap(),
            [(0, parts("t/z.bin"))]
        );
        assert_eq!(
            renames(&i, "t/d", "t/e", Target::Folder).unwrap(),
            [(1, parts("t/e/b.bin"))]
        );
        assert_eq!(
            renames(&i, "t", "u", Target::Either).unwrap(),
            [(0, parts("u/a.bin")), (1, parts("u/d/b.bin"))]
        );
        let e = |from, to, t| renames(&i, from, to, t).unwrap_err().to_string();
        assert_eq!(e("t/x", "t/y", Target::File), "No such file: 't/x'.");
        assert_eq!(e("t/x", "t/y", Target::Folder), "No such folder: 't/x'.");
        assert_eq!(e("t/d", "t/y", Target::File), "No such file: 't/d'.");
        assert_eq!(
            e("t/a.bin", "/etc/x", Target::File),
            "Absolute path isn't allowed: '/etc/x'."
        );
        assert_eq!(
            e("t/a.bin", "", Target::File),
            "The new path is invalid: ''."
        );
        assert_eq!(
            e("t/a.bin", "t/d/b.bin", Target::File),
            "The file already exists: 't/d/b.bin'."
        );
        assert_eq!(
            e("t/d", "t", Target::Folder),
            "The folder already exists: 't'."
        );
    }
}
