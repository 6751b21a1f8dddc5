//! Renaming a torrent's files: new names for some of its files, checked here,
//! then carried out as a move within its own root (the same state machine as
//! a move to another root: the torrent stops, its writes drain, the driver
//! renames the files (`storage::carry_out_move`), and it runs again with the
//! new layout, which its layout record keeps).
//!
//! A new name is a path under the download folder (for a multi-file torrent,
//! starting with its folder, which may be renamed too). It is sanitised as
//! paths from a `.torrent` are (`metainfo::sanitize_path`: `..` and NUL are
//! refused); it must not be the present name of another of the torrent's
//! files, nor a folder of one or a file inside one, and no two files may end
//! with one name.

use std::collections::HashSet;
use std::sync::Arc;

use super::torrent::StampsDue;
use super::{Action, Core};
use crate::metainfo::path::sanitize_file_path;
use crate::metainfo::{FilePath, Info};
use crate::types::InfoHash;

/// Why a rename is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenameError {
    /// No such file index.
    #[error("no file {0}")]
    NoSuchFile(usize),
    /// A pad file (never on disk) cannot be named.
    #[error("file {0} is padding, not stored")]
    Padding(usize),
    /// The new path cannot be used.
    #[error("the new path {0:?} is invalid: {1}")]
    Invalid(String, String),
    /// The new path is (or is inside, or holds) one of the torrent's files.
    #[error("{0:?} is already one of the torrent's files or folders")]
    Taken(String),
}

/// `info` with the files of `renames` (index, new path components) under
/// their new names, unchecked against each other; and which files changed.
fn apply(
    info: &Info,
    renames: &[(usize, Vec<String>)],
) -> Result<(Info, HashSet<usize>), RenameError> {
    let mut next = info.clone();
    let mut changed = HashSet::new();
    for (i, path) in renames {
        let f = next.files.get_mut(*i).ok_or(RenameError::NoSuchFile(*i))?;
        if f.attr.pad {
            return Err(RenameError::Padding(*i));
        }
        let shown = path.join("/");
        let clean = sanitize_file_path(path.iter().map(String::as_str))
            .map_err(|e| RenameError::Invalid(shown.clone(), e.to_string()))?;
        if clean != f.path {
            f.path = clean;
            changed.insert(*i);
        }
    }
    Ok((next, changed))
}

/// Each stored file's index and path.
fn stored(info: &Info) -> Vec<(usize, &FilePath)> {
    (info.files.iter().enumerate())
        .filter(|(_, f)| f.is_stored())
        .map(|(i, f)| (i, &f.path))
        .collect()
}

/// `info` with the files of `renames` (index, new path components) under
/// their new names, for a rename to be carried out now; `Ok(None)` when no
/// name changes.
pub fn renamed_layout(
    info: &Info,
    renames: &[(usize, Vec<String>)],
) -> Result<Option<Info>, RenameError> {
    let (next, changed) = apply(info, renames)?;
    if changed.is_empty() {
        return Ok(None);
    }
    // Every stored file's name, and every folder on the way to one, old and
    // new: a renamed file may take none of the others' (a name freed by
    // another rename of this call included: renames run one after another).
    let (old, new) = (stored(info), stored(&next));
    let mut files: HashSet<&str> = HashSet::new();
    let mut folders: HashSet<&str> = HashSet::new();
    for (_, p) in old.iter().chain(&new) {
        folders.extend(p.folders());
    }
    for (i, p) in &old {
        if !changed.contains(i) {
            files.insert(p.as_str());
        }
    }
    for (i, p) in &new {
        if !changed.contains(i) {
            continue;
        }
        let taken = files.contains(p.as_str())
            || folders.contains(p.as_str())
            || old.iter().any(|(j, q)| j != i && q == p)
            || p.folders().any(|k| files.contains(k));
        if taken || !files.insert(p.as_str()) {
            return Err(RenameError::Taken(p.as_str().to_owned()));
        }
    }
    Ok(Some(next))
}

/// `info` with the names its record keeps (every rename since it was
/// added, in one go): only the end state must hold together (no two files
/// at one path, no file where another's folder is), since each rename on
/// the way was checked when it was made.
pub fn saved_layout(info: &Info, renames: &[(usize, Vec<String>)]) -> Result<Info, RenameError> {
    let (next, _) = apply(info, renames)?;
    let new = stored(&next);
    let files: HashSet<&str> = new.iter().map(|(_, p)| p.as_str()).collect();
    for (_, p) in &new {
        if p.folders().any(|k| files.contains(k)) {
            return Err(RenameError::Taken(p.as_str().to_owned()));
        }
    }
    if files.len() != new.len() {
        return Err(RenameError::Taken("two files at one path".into()));
    }
    Ok(next)
}

impl Core {
    /// Gives the files of `renames` (index, new path components) their new
    /// names: checked now, carried out as a move within the torrent's root.
    pub(crate) fn rename_files(
        &mut self,
        info_hash: InfoHash,
        renames: &[(usize, Vec<String>)],
        out: &mut Vec<Action>,
    ) -> Result<(), super::CommandError> {
        use super::CommandError::BadArgument;
        let t = self.torrent_mut(info_hash)?;
        if t.moving.is_some() {
            return Err(BadArgument("a move is already under way".into()));
        }
        if t.root_lost {
            return Err(BadArgument(
                "its storage root is unavailable; its files cannot be renamed now".into(),
            ));
        }
        let Some(info) = t.info.clone() else {
            return Err(BadArgument(
                "its metadata is not known yet: it has no files to rename".into(),
            ));
        };
        let Some(next) = renamed_layout(&info, renames).map_err(|e| BadArgument(e.to_string()))?
        else {
            return Ok(());
        };
        self.stop_peers(info_hash, out)?;
        let t = self.torrent_mut(info_hash)?;
        t.stamps_due = StampsDue::No;
        t.paused_before_move = t.paused;
        t.moving = Some(Box::new((
            t.root.to_string(),
            t.root_token.to_string(),
            t.root_marked,
        )));
        t.renamed = Some(Arc::new(next));
        t.move_started = false;
        t.picker.drop_all();
        self.drive_move(info_hash, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::{FileAttr, FileEntry};

    fn info(paths: &[&str]) -> Info {
        let mut i = crate::disk_uring::fixture::two_files(&[0u8; 100_000]);
        i.files = paths
            .iter()
            .map(|p| FileEntry {
                path: p.split('/').map(str::to_owned).collect(),
                length: 1,
                attr: FileAttr {
                    pad: p.contains(".pad"),
                    ..FileAttr::default()
                },
            })
            .collect();
        i
    }

    fn to(p: &str) -> Vec<String> {
        p.split('/').map(str::to_owned).collect()
    }

    fn names(i: &Info) -> Vec<String> {
        i.files.iter().map(|f| f.path.as_str().to_owned()).collect()
    }

    #[test]
    fn files_and_folders_take_new_names() {
        let i = info(&["t/a.bin", "t/d/b.bin", "t/d/e/c.bin"]);
        let n = renamed_layout(&i, &[(0, to("t/z/a2.bin"))])
            .unwrap()
            .unwrap();
        assert_eq!(names(&n), ["t/z/a2.bin", "t/d/b.bin", "t/d/e/c.bin"]);
        // A folder: every file under it.
        let n = renamed_layout(&i, &[(1, to("u/dd/b.bin")), (2, to("u/dd/e/c.bin"))])
            .unwrap()
            .unwrap();
        assert_eq!(names(&n), ["t/a.bin", "u/dd/b.bin", "u/dd/e/c.bin"]);
        // The same names: nothing to do.
        assert!(renamed_layout(&i, &[(0, to("t/a.bin"))]).unwrap().is_none());
        // Separators inside a component become '_'; '.' components go.
        let n = renamed_layout(&i, &[(0, to("t/./x\\y"))]).unwrap().unwrap();
        assert_eq!(names(&n)[0], "t/x_y");
    }

    #[test]
    fn saved_names_are_taken_as_a_whole() {
        let i = info(&["t/a.bin", "t/d/b.bin", "t/d/e/c.bin"]);
        // a.bin went to x.bin, then c.bin took the name a.bin had: checked
        // one by one that was right; at a start the two come in one go.
        let n = saved_layout(&i, &[(0, to("t/x.bin")), (2, to("t/a.bin"))]).unwrap();
        assert_eq!(names(&n), ["t/x.bin", "t/d/b.bin", "t/a.bin"]);
        // The folder d became a file's name after its files moved away.
        let n = saved_layout(
            &i,
            &[(1, to("u/b.bin")), (2, to("u/c.bin")), (0, to("t/d"))],
        )
        .unwrap();
        assert_eq!(names(&n), ["t/d", "u/b.bin", "u/c.bin"]);
        // A damaged record: two files at one path, or a file where a
        // folder is.
        assert!(saved_layout(&i, &[(0, to("t/d/b.bin"))]).is_err());
        assert!(saved_layout(&i, &[(0, to("t/d/e"))]).is_err());
        assert!(saved_layout(&i, &[(0, to("../x"))]).is_err());
    }

    #[test]
    fn a_name_that_is_taken_or_unsafe_is_refused() {
        let i = info(&["t/a.bin", "t/d/b.bin", "t/.pad/1", "t/d/e/c.bin"]);
        let err = |r: &[(usize, Vec<String>)]| renamed_layout(&i, r).unwrap_err();
        assert_eq!(
            err(&[(0, to("t/d/b.bin"))]),
            RenameError::Taken("t/d/b.bin".into())
        );
        // A folder of another file, or a name inside another file.
        assert!(matches!(err(&[(0, to("t/d"))]), RenameError::Taken(_)));
        assert!(matches!(
            err(&[(1, to("t/a.bin/x"))]),
            RenameError::Taken(_)
        ));
        // Two files to one name.
        assert!(matches!(
            err(&[(0, to("t/x")), (1, to("t/x"))]),
            RenameError::Taken(_)
        ));
        // A swap: each takes the other's present name.
        assert!(matches!(
            err(&[(0, to("t/d/b.bin")), (1, to("t/a.bin"))]),
            RenameError::Taken(_)
        ));
        assert!(matches!(
            err(&[(0, to("../x.bin"))]),
            RenameError::Invalid(..)
        ));
        assert!(matches!(err(&[(0, to(""))]), RenameError::Invalid(..)));
        assert!(matches!(err(&[(0, to("t/a\0"))]), RenameError::Invalid(..)));
        assert_eq!(err(&[(9, to("x"))]), RenameError::NoSuchFile(9));
        assert_eq!(err(&[(2, to("x"))]), RenameError::Padding(2));
    }
}
