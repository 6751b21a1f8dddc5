//! The storage policy, over the [`Files`] port: making written pieces durable
//! before their bits are recorded, stamping files (size, mtime), the root marker,
//! and moving a torrent between roots.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Files, Stamps};
use crate::core::{Bitfield, DiskError, ResumeSave};
use crate::disk_uring::io::file_path;
use crate::metainfo::Info;
use crate::resume_lmdb::record::{FileStamp, StateRecord};
use crate::resume_lmdb::{SessionStore, clock_op, resume_ops, state_key};
use crate::roots::ROOT_MARKER;
use crate::types::InfoHash;

/// Whether a root is there. A marked root (a configured storage root) is there
/// while its marker file is: an unmounted disk's mount point, or a deleted
/// folder, has none. A plain folder given at add is there while the folder is.
pub fn root_available<F: Files + ?Sized>(fs: &F, root: &Path, marked: bool) -> bool {
    if marked {
        fs.is_file(&root.join(ROOT_MARKER))
    } else {
        fs.is_dir(root)
    }
}

/// Makes `root` a storage root: creates it and its marker file if needed.
pub fn init_root<F: Files + ?Sized>(fs: &mut F, root: &Path, token: &str) -> std::io::Result<()> {
    fs.create_dirs(root, root)?;
    let marker = root.join(ROOT_MARKER);
    if !fs.is_file(&marker) {
        fs.write_durably(
            &marker,
            format!("seedring storage root {token}\n").as_bytes(),
        )?;
    }
    Ok(())
}

/// Each file's size and mtime, `None` where it does not exist (or is not stored).
pub fn stat_files<F: Stamps + ?Sized>(fs: &F, root: &Path, info: &Info) -> Vec<Option<FileStamp>> {
    let stored = |i: &usize| info.files[*i].is_stored();
    let asked: Vec<usize> = (0..info.files.len()).filter(stored).collect();
    let mut stamps = fs.stamps_under(root, info, &asked).into_iter();
    (0..info.files.len())
        .map(|i| if stored(&i) { stamps.next()? } else { None })
        .collect()
}

/// `fdatasync` on the listed files (missing ones have nothing to make durable).
pub fn sync_files<F: Files + ?Sized>(
    fs: &mut F,
    root: &Path,
    info: &Info,
    files: &[usize],
) -> Result<(), DiskError> {
    for &i in files {
        let path = file_path(root, info, i);
        fs.sync_data(root, &path)
            .map_err(|e| DiskError(format!("{}: fdatasync: {e}", path.display())))?;
    }
    Ok(())
}

/// The file stamps of a torrent's resume record in `store`; empty when there
/// is none or it cannot be read (every file then counts as changed).
pub fn recorded_stamps(store: &dyn SessionStore, ih: InfoHash) -> Vec<Option<FileStamp>> {
    let read = store.get(&state_key(ih)).map_err(|e| e.to_string());
    match read.and_then(|b| {
        b.map(|b| StateRecord::decode(&b).map_err(|e| e.to_string()))
            .transpose()
    }) {
        Ok(Some(r)) => r.files,
        Ok(None) => Vec::new(),
        Err(e) => {
            tracing::warn!(info_hash = %ih, error = %e,
                "its resume record could not be read: every file counts as changed");
            Vec::new()
        }
    }
}

/// Stamps as a driver answers [`Action::StatFiles`](crate::core::Action::StatFiles):
/// the files' now, and the stored record's when asked for (`with_record`).
pub type Stated = (Vec<Option<FileStamp>>, Option<Vec<Option<FileStamp>>>);

/// Carries out an [`Action::StatFiles`](crate::core::Action::StatFiles) (both
/// drivers call this).
pub fn files_stated<F: Stamps + ?Sized>(
    fs: &F,
    store: &dyn SessionStore,
    ih: InfoHash,
    root: &Path,
    info: &Info,
    with_record: bool,
) -> Stated {
    let recorded = with_record.then(|| recorded_stamps(store, ih));
    (stat_files(fs, root, info), recorded)
}

/// One resume save under the durability rule: sync each torrent's written files,
/// stamp its files (a restored torrent whose files are not yet compared with
/// its record keeps that record's stamps, true of the record's bitfield it
/// still holds), then commit every record, and the clocks of `clocks`
/// (torrent, seconds seeded and run), in one transaction. (Into a store that
/// does not outlive the process, the sync is skipped: nothing could claim the
/// data after a crash.)
pub fn save_resume<F: Files + ?Sized>(
    fs: &mut F,
    store: &dyn SessionStore,
    saves: Vec<ResumeSave>,
    clocks: &[(InfoHash, crate::core::ClockSecs)],
) -> Result<(), DiskError> {
    let mut ops = Vec::with_capacity(saves.len() * 3 + clocks.len());
    ops.extend(clocks.iter().map(|&(ih, secs)| clock_op(ih, secs)));
    for mut s in saves {
        if let Some(info) = &s.info {
            let root = PathBuf::from(&s.root);
            if store.is_durable() {
                sync_files(fs, &root, info, &s.sync_files)?;
            }
            s.record.files = if s.keep_stamps {
                recorded_stamps(store, s.info_hash)
            } else {
                stat_files(fs, &root, info)
            };
        }
        ops.extend(resume_ops(&s));
    }
    store.apply(ops).map_err(|e| DiskError(e.to_string()))
}

/// How a move went about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveMethod {
    /// Renamed within one filesystem.
    Rename,
    /// Copied, made durable, verified, then the old files deleted.
    Copy,
}

/// Carries out an [`Action::MoveStorage`](crate::core::Action::MoveStorage) (both
/// drivers call this): to another root, or within its root to other names.
pub fn carry_out_move<F: Files + ?Sized>(
    fs: &mut F,
    m: &crate::core::MoveStorage,
) -> Result<(), DiskError> {
    let (from, to) = (Path::new(&m.from), Path::new(&m.to));
    // The layouts with their hashes, for the copy's verification (a move is
    // rare; the copies live as long as the move).
    let mut info = (*m.info).clone();
    info.pieces = (*m.hashes).clone();
    if Arc::ptr_eq(&m.info, &m.to_info) {
        return move_torrent(fs, &info, &m.have, from, to, m.to_marked, false).map(drop);
    }
    let mut dest = (*m.to_info).clone();
    dest.pieces = (*m.hashes).clone();
    let at = Places {
        from,
        to,
        to_marked: m.to_marked,
    };
    move_files(fs, (&info, &dest), &m.have, &at, false).map(drop)
}

/// Where a move takes a torrent's files.
struct Places<'a> {
    from: &'a Path,
    to: &'a Path,
    to_marked: bool,
}

/// Moves a torrent's files from root `from` to root `to`: renames when both are on
/// one filesystem, otherwise (or when `force_copy`) copies, syncs, verifies every
/// piece in `have` at the new place and only then deletes the old files. On any
/// failure the old files are all still there (renames are undone, copies deleted).
pub fn move_torrent<F: Files + ?Sized>(
    fs: &mut F,
    info: &Info,
    have: &Bitfield,
    from: &Path,
    to: &Path,
    to_marked: bool,
    force_copy: bool,
) -> Result<MoveMethod, DiskError> {
    let at = Places {
        from,
        to,
        to_marked,
    };
    move_files(fs, (info, info), have, &at, force_copy)
}

/// [`move_torrent`] from the paths of `info` to those of `dest` (the same
/// files, some with other names). Within one root, a new name where something
/// already is fails the move before anything is renamed: nothing is
/// overwritten.
fn move_files<F: Files + ?Sized>(
    fs: &mut F,
    (info, dest): (&Info, &Info),
    have: &Bitfield,
    at: &Places<'_>,
    force_copy: bool,
) -> Result<MoveMethod, DiskError> {
    let (from, to) = (at.from, at.to);
    if !root_available(fs, to, at.to_marked) {
        return Err(DiskError(format!(
            "storage root {} is unavailable",
            to.display()
        )));
    }
    let files: Vec<(PathBuf, PathBuf)> = (0..info.files.len())
        .filter(|&i| info.files[i].is_stored())
        .map(|i| (file_path(from, info, i), file_path(to, dest, i)))
        .filter(|(src, dst)| src != dst && fs.is_file(src))
        .collect();
    // Within one root, a new name is never one of the torrent's present
    // names (the core refuses that), so a file there is someone else's, and a
    // rename would replace it. (A folder there makes the rename fail.)
    if from == to
        && let Some((_, dst)) = (files.iter()).find(|(_, d)| fs.is_file(d))
    {
        return Err(DiskError(format!(
            "{} is already there (not one of the torrent's files)",
            dst.display()
        )));
    }
    let io = |p: &Path, e: std::io::Error| DiskError(format!("{}: {e}", p.display()));
    if !force_copy {
        let mut done: Vec<&(PathBuf, PathBuf)> = Vec::new();
        let mut cross_device = false;
        for pair in &files {
            let (src, dst) = pair;
            if let Some(parent) = dst.parent() {
                fs.create_dirs(to, parent).map_err(|e| io(parent, e))?;
            }
            match fs.rename(from, src, to, dst) {
                Ok(()) => done.push(pair),
                Err(e) => {
                    for (s, d) in done.iter().rev() {
                        if let Err(undo) = fs.rename(to, d, from, s) {
                            tracing::error!(
                                from = %d.display(), to = %s.display(), error = %undo,
                                "cannot undo a rename of a failed move"
                            );
                        }
                    }
                    if e.kind() == ErrorKind::CrossesDevices {
                        cross_device = true;
                        break;
                    }
                    return Err(io(src, e));
                }
            }
        }
        if !cross_device {
            remove_empty_dirs(fs, from, &files);
            return Ok(MoveMethod::Rename);
        }
    }
    let copied = copy_all(fs, from, to, &files).and_then(|()| verify_at(fs, to, dest, have));
    if let Err(e) = copied {
        for (_, dst) in &files {
            match fs.remove_file(to, dst) {
                // A copy that was never made has nothing to remove.
                Err(r) if r.kind() != ErrorKind::NotFound => tracing::warn!(
                    path = %dst.display(), error = %r,
                    "a partial copy of a failed move is left behind"
                ),
                _ => {}
            }
        }
        return Err(e);
    }
    for (src, _) in &files {
        fs.remove_file(from, src).map_err(|e| io(src, e))?;
    }
    remove_empty_dirs(fs, from, &files);
    Ok(MoveMethod::Copy)
}

fn copy_all<F: Files + ?Sized>(
    fs: &mut F,
    from: &Path,
    to: &Path,
    files: &[(PathBuf, PathBuf)],
) -> Result<(), DiskError> {
    for (src, dst) in files {
        let err = |p: &Path, e: std::io::Error| DiskError(format!("{}: {e}", p.display()));
        if let Some(parent) = dst.parent() {
            fs.create_dirs(to, parent).map_err(|e| err(parent, e))?;
        }
        fs.copy_durably(from, src, to, dst)
            .map_err(|e| err(dst, e))?;
    }
    Ok(())
}

/// Every piece of `have` reads back at `root` with its hash.
fn verify_at<F: Files + ?Sized>(
    fs: &F,
    root: &Path,
    info: &Info,
    have: &Bitfield,
) -> Result<(), DiskError> {
    let mut buf = Vec::new();
    for piece in have.ones() {
        buf.clear();
        for span in info.geometry.piece_spans(piece) {
            let n = span.len as usize;
            let start = buf.len();
            buf.resize(start + n, 0);
            if info.files[span.file].attr.pad {
                continue;
            }
            let path = file_path(root, info, span.file);
            fs.read_exact_at(root, &path, span.file_offset, &mut buf[start..])
                .map_err(|e| DiskError(format!("{}: {e}", path.display())))?;
        }
        if info.pieces.check(piece, &buf) != Some(true) {
            return Err(DiskError(format!(
                "piece {piece} does not verify after the copy"
            )));
        }
    }
    Ok(())
}

/// Removes the folders the moved files leave empty, up to (not including) `root`.
fn remove_empty_dirs<F: Files + ?Sized>(fs: &mut F, root: &Path, files: &[(PathBuf, PathBuf)]) {
    for (src, _) in files {
        super::layout::remove_empty_parents(fs, root, src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk_uring::{RealFiles, RootStamps};
    use std::os::unix::fs::FileExt;

    fn torrent_on_disk(root: &Path) -> (Info, Vec<u8>) {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let info = crate::disk_uring::fixture::two_files(&data);
        std::fs::create_dir_all(root.join("t/sub")).unwrap();
        std::fs::write(root.join("t/a"), &data[..40_000]).unwrap();
        std::fs::write(root.join("t/sub/b"), &data[40_000..]).unwrap();
        (info, data)
    }

    fn roots() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        init_root(&mut RealFiles, &a, "a").unwrap();
        init_root(&mut RealFiles, &b, "b").unwrap();
        (dir, a, b)
    }

    fn contents(root: &Path) -> Vec<u8> {
        let mut v = std::fs::read(root.join("t/a")).unwrap();
        v.extend(std::fs::read(root.join("t/sub/b")).unwrap());
        v
    }

    #[test]
    fn a_batch_stamps_files_from_the_root_as_each_path_alone_does() {
        let (d, a, b) = roots();
        let (info, _) = torrent_on_disk(&a);
        torrent_on_disk(&b);
        std::fs::write(b.join("t/a"), b"shorter").unwrap();
        let via_link = d.path().join("link");
        std::os::unix::fs::symlink(&b, &via_link).unwrap();
        let gone = d.path().join("gone");
        let batch = RootStamps::default();
        let same = |root: &Path| {
            let plain = stat_files(&RealFiles, root, &info);
            assert_eq!(stat_files(&batch, root, &info), plain, "{}", root.display());
            plain
        };
        // Roots in turn, one of them twice, one through a symlink, one missing.
        for root in [&a, &b, &a, &via_link, &gone] {
            let plain = same(root);
            assert_eq!(plain.iter().all(Option::is_some), root != &gone);
        }
        assert_ne!(same(&a)[0], same(&b)[0]);
        std::fs::remove_file(b.join("t/sub/b")).unwrap();
        assert!(matches!(same(&b)[..], [Some(_), None]));
        std::fs::remove_dir_all(b.join("t")).unwrap();
        assert_eq!(same(&b), [None, None]);
        // A folder where a file was stamps as std stamps it.
        std::fs::create_dir_all(b.join("t/a")).unwrap();
        assert!(same(&b)[0].is_some());
    }

    #[test]
    fn rename_and_copy_both_move_everything_and_leave_nothing_behind() {
        for force_copy in [false, true] {
            let (_d, a, b) = roots();
            let (info, data) = torrent_on_disk(&a);
            let have = Bitfield::full(info.geometry.piece_count());
            let how = move_torrent(&mut RealFiles, &info, &have, &a, &b, true, force_copy).unwrap();
            assert_eq!(how == MoveMethod::Copy, force_copy);
            assert!(contents(&b) == data);
            assert!(!a.join("t").exists(), "the old folder is gone");
            assert!(
                root_available(&RealFiles, &a, true),
                "the root itself stays"
            );
        }
    }

    #[test]
    fn a_copy_that_does_not_verify_keeps_the_old_files() {
        let (_d, a, b) = roots();
        let (info, data) = torrent_on_disk(&a);
        // Piece 2 on disk is wrong, but claimed: the verify after the copy fails.
        let damage = [0xA5u8; 4];
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(a.join("t/sub/b"))
            .unwrap();
        f.write_all_at(&damage, 30_000).unwrap();
        let have = Bitfield::full(info.geometry.piece_count());
        let e = move_torrent(&mut RealFiles, &info, &have, &a, &b, true, true).unwrap_err();
        assert!(e.0.contains("does not verify"), "{e}");
        assert!(!b.join("t/a").exists() && !b.join("t/sub/b").exists());
        let mut now = contents(&a);
        now[70_000..70_004].copy_from_slice(&data[70_000..70_004]);
        assert!(now == data, "the old files are untouched");
    }

    #[test]
    fn an_unavailable_target_is_refused_and_nothing_moves() {
        let (_d, a, b) = roots();
        let (info, data) = torrent_on_disk(&a);
        std::fs::remove_file(b.join(ROOT_MARKER)).unwrap();
        let have = Bitfield::full(info.geometry.piece_count());
        assert!(move_torrent(&mut RealFiles, &info, &have, &a, &b, true, false).is_err());
        assert!(contents(&a) == data);
    }

    #[test]
    fn stamps_change_when_a_file_is_written() {
        let (_d, a, _) = roots();
        let (info, _) = torrent_on_disk(&a);
        let before = stat_files(&RealFiles, &a, &info);
        assert!(before.iter().all(Option::is_some));
        #[allow(clippy::disallowed_methods)] // a test, waiting for the mtime to move
        std::thread::sleep(std::time::Duration::from_millis(20));
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(a.join("t/a"))
            .unwrap();
        f.write_all_at(b"z", 0).unwrap();
        sync_files(&mut RealFiles, &a, &info, &[0, 1]).unwrap();
        let after = stat_files(&RealFiles, &a, &info);
        assert_ne!(before[0], after[0]);
        assert_eq!(before[1], after[1]);
        std::fs::remove_file(a.join("t/a")).unwrap();
        assert_eq!(stat_files(&RealFiles, &a, &info)[0], None);
    }
}
