//! A memory filesystem: files are byte vectors keyed by path, with the durability
//! of a real disk modelled: a write is only durable once its file is synced, and a
//! crash keeps, drops or tears each write that was not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::core::{DiskError, Rng};
use crate::resume_lmdb::record::FileStamp;
use crate::storage::{Files, Stamps};

#[derive(Debug, Default, Clone)]
struct MemFile {
    data: Vec<u8>,
    /// The file as last synced, while writes since are pending (copy on write).
    durable: Option<Vec<u8>>,
    /// Writes since the last sync, in order: (offset, bytes).
    unsynced: Vec<(u64, Vec<u8>)>,
    /// Bumped by every change: the file's "mtime".
    version: i64,
}

/// Files in memory. Paths are `root/component/...` strings.
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    files: BTreeMap<String, MemFile>,
    /// Paths under these prefixes are invisible: an unmounted disk.
    unmounted: BTreeMap<String, BTreeMap<String, MemFile>>,
    /// Bumps file versions across the whole filesystem.
    clock: i64,
}

/// What a crash did to the writes that were not synced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrashLoss {
    /// Writes that survived whole.
    pub kept: u64,
    /// Writes lost entirely.
    pub lost: u64,
    /// Writes of which only a prefix reached the disk.
    pub torn: u64,
}

/// `root` joined with sanitised torrent components.
pub(crate) fn join(root: &str, path: &crate::metainfo::FilePath) -> String {
    let mut s = root.trim_end_matches('/').to_owned();
    for c in path.parts() {
        s.push('/');
        s.push_str(c);
    }
    s
}

fn enoent(path: &str) -> DiskError {
    DiskError(format!("{path}: no such file or directory"))
}

impl MemFs {
    fn tick(&mut self) -> i64 {
        self.clock += 1;
        self.clock
    }

    fn hidden(&self, path: &str) -> bool {
        self.unmounted
            .keys()
            .any(|m| path == m || path.starts_with(&format!("{m}/")))
    }

    /// Writes `data` at `offset`, growing the file with zeros as needed. Not durable
    /// until [`MemFs::sync`].
    pub fn write(&mut self, path: &str, offset: u64, data: &[u8]) -> Result<(), DiskError> {
        if self.hidden(path) {
            return Err(enoent(path));
        }
        let v = self.tick();
        let f = self.files.entry(path.to_owned()).or_default();
        let start = usize::try_from(offset).expect("memory files are small");
        if f.durable.is_none() {
            f.durable = Some(f.data.clone());
        }
        f.unsynced.push((offset, data.to_vec()));
        if f.data.len() < start + data.len() {
            f.data.resize(start + data.len(), 0);
        }
        f.data[start..start + data.len()].copy_from_slice(data);
        f.version = v;
        Ok(())
    }

    /// Makes a file's writes durable (`fdatasync`).
    pub fn sync(&mut self, path: &str) -> Result<(), DiskError> {
        if self.hidden(path) {
            return Err(enoent(path));
        }
        if let Some(f) = self.files.get_mut(path) {
            f.durable = None;
            f.unsynced.clear();
        }
        Ok(())
    }

    /// Size and "mtime" of a file, if it is there.
    pub fn stat(&self, path: &str) -> Option<FileStamp> {
        if self.hidden(path) {
            return None;
        }
        self.files.get(path).map(|f| FileStamp {
            size: f.data.len() as u64,
            mtime_ns: f.version,
        })
    }

    /// A crash: every write not synced is kept, lost or torn (a prefix of it
    /// reaches the disk), a third of the time each. Everything is durable after.
    pub fn crash(&mut self, rng: &mut Rng) -> CrashLoss {
        let mut loss = CrashLoss::default();
        for f in self.files.values_mut() {
            let Some(mut disk) = f.durable.take() else {
                continue;
            };
            for (offset, bytes) in std::mem::take(&mut f.unsynced) {
                let keep = match rng.below(3) {
                    0 => {
                        loss.kept += 1;
                        bytes.len()
                    }
                    1 => {
                        loss.lost += 1;
                        continue;
                    }
                    _ => {
                        loss.torn += 1;
                        usize::try_from(rng.below(bytes.len() as u64)).expect("below len")
                    }
                };
                let start = usize::try_from(offset).expect("small");
                if disk.len() < start + keep {
                    disk.resize(start + keep, 0);
                }
                disk[start..start + keep].copy_from_slice(&bytes[..keep]);
            }
            f.data = disk;
        }
        loss
    }

    /// Hides everything under `prefix` (a disk unmounted); [`MemFs::mount`] brings it
    /// back.
    pub fn unmount(&mut self, prefix: &str) {
        let p = prefix.trim_end_matches('/').to_owned();
        let inside: Vec<String> = self
            .files
            .keys()
            .filter(|k| k.starts_with(&format!("{p}/")))
            .cloned()
            .collect();
        let mut stash = BTreeMap::new();
        for k in inside {
            let f = self.files.remove(&k).expect("listed");
            stash.insert(k, f);
        }
        self.unmounted.insert(p, stash);
    }

    /// Brings back what [`MemFs::unmount`] hid.
    pub fn mount(&mut self, prefix: &str) {
        let p = prefix.trim_end_matches('/');
        if let Some(stash) = self.unmounted.remove(p) {
            self.files.extend(stash);
        }
    }

    /// Reads `len` bytes at `offset`: an error if the file is missing or short.
    pub fn read(&self, path: &str, offset: u64, len: usize) -> Result<&[u8], DiskError> {
        let f = self.files.get(path).ok_or_else(|| enoent(path))?;
        let start = usize::try_from(offset).map_err(|_| DiskError("offset".into()))?;
        f.data
            .get(start..start + len)
            .ok_or_else(|| DiskError(format!("{path}: short file")))
    }

    /// A whole file.
    pub fn get(&self, path: &str) -> Option<&Vec<u8>> {
        self.files.get(path).map(|f| &f.data)
    }

    /// Replaces a whole file (durably: test setup).
    pub fn put(&mut self, path: &str, data: Vec<u8>) {
        let version = self.tick();
        self.files.insert(
            path.to_owned(),
            MemFile {
                data,
                durable: None,
                unsynced: Vec::new(),
                version,
            },
        );
    }

    /// Renames a file (durably), replacing any file at `to`.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), DiskError> {
        if self.hidden(from) || self.hidden(to) {
            return Err(enoent(from));
        }
        let f = self.files.remove(from).ok_or_else(|| enoent(from))?;
        self.files.insert(to.to_owned(), f);
        Ok(())
    }

    /// Bytes stored in all files.
    pub fn used(&self) -> u64 {
        self.files.values().map(|f| f.data.len() as u64).sum()
    }

    /// Deletes a file.
    pub fn remove(&mut self, path: &str) {
        self.files.remove(path);
    }

    /// Every path under `prefix`.
    pub fn paths_under(&self, prefix: &str) -> BTreeSet<String> {
        let p = format!("{}/", prefix.trim_end_matches('/'));
        self.files
            .keys()
            .filter(|k| k.starts_with(&p))
            .cloned()
            .collect()
    }
}

/// A memory path as the [`Files`] port names it.
fn key(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn io_err(e: DiskError) -> std::io::Error {
    std::io::Error::other(e.0)
}

impl Stamps for MemFs {
    fn stamp(&self, path: &Path) -> Option<FileStamp> {
        self.stat(&key(path))
    }
}

impl Files for MemFs {
    fn is_file(&self, path: &Path) -> bool {
        // What an unmount hides is moved out of `files`; what is written there
        // after (another disk at the mount point) is what is seen.
        self.files.contains_key(&key(path))
    }

    fn sync_data(&mut self, _root: &Path, path: &Path) -> std::io::Result<()> {
        self.sync(&key(path)).map_err(io_err)
    }

    fn is_dir(&self, path: &Path) -> bool {
        // Folders are implicit in memory: one is there unless its disk is
        // unmounted.
        !self.hidden(&key(path))
    }

    fn create_sized(&mut self, _root: &Path, path: &Path, _len: u64) -> std::io::Result<()> {
        // Memory files are sparse: they hold what was written, nothing more (a
        // read past that fails as a short read would), so the sim's disk use is
        // what the torrents wrote.
        let k = key(path);
        if self.hidden(&k) {
            return Err(io_err(enoent(&k)));
        }
        if self.get(&k).is_none() {
            self.put(&k, Vec::new());
        }
        Ok(())
    }

    fn create_dirs(&mut self, _root: &Path, dir: &Path) -> std::io::Result<()> {
        // Folders are implicit in memory; an unmounted disk has none.
        if self.hidden(&key(dir)) {
            return Err(io_err(enoent(&key(dir))));
        }
        Ok(())
    }

    fn write_durably(&mut self, path: &Path, data: &[u8]) -> std::io::Result<()> {
        if self.hidden(&key(path)) {
            return Err(io_err(enoent(&key(path))));
        }
        self.put(&key(path), data.to_vec());
        Ok(())
    }

    fn rename(&mut self, _: &Path, from: &Path, _: &Path, to: &Path) -> std::io::Result<()> {
        MemFs::rename(self, &key(from), &key(to)).map_err(io_err)
    }

    fn copy_durably(&mut self, _: &Path, from: &Path, _: &Path, to: &Path) -> std::io::Result<()> {
        let data = self
            .get(&key(from))
            .cloned()
            .ok_or_else(|| io_err(enoent(&key(from))))?;
        self.write_durably(to, &data)
    }

    fn remove_file(&mut self, _root: &Path, path: &Path) -> std::io::Result<()> {
        match self.files.remove(&key(path)) {
            Some(_) => Ok(()),
            None => Err(io_err(enoent(&key(path)))),
        }
    }

    fn remove_empty_dir(&mut self, _root: &Path, dir: &Path) -> bool {
        // A memory folder exists while files are under it.
        self.paths_under(&key(dir)).is_empty()
    }

    fn read_exact_at(
        &self,
        _root: &Path,
        path: &Path,
        offset: u64,
        buf: &mut [u8],
    ) -> std::io::Result<()> {
        let got = self.read(&key(path), offset, buf.len()).map_err(io_err)?;
        buf.copy_from_slice(got);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synced_writes_survive_a_crash_and_unsynced_ones_may_not() {
        let mut fs = MemFs::default();
        fs.write("/r/a", 0, &[1; 100]).unwrap();
        fs.sync("/r/a").unwrap();
        let stamp = fs.stat("/r/a").unwrap();
        fs.write("/r/a", 50, &[2; 100]).unwrap();
        assert_ne!(fs.stat("/r/a").unwrap(), stamp);
        let mut kinds = CrashLoss::default();
        for seed in 0..30 {
            let mut c = fs.clone();
            let l = c.crash(&mut Rng::new(seed));
            kinds.kept += l.kept;
            kinds.lost += l.lost;
            kinds.torn += l.torn;
            let got = c.get("/r/a").unwrap();
            // The synced part is always there.
            assert_eq!(&got[..50], &[1; 50]);
            // Whatever survived of the second write is a prefix of it.
            let n = got[50..].iter().take_while(|&&b| b == 2).count();
            assert!(got[50 + n..].iter().all(|&b| b == 1 || b == 0));
        }
        assert!(kinds.kept > 0 && kinds.lost > 0 && kinds.torn > 0);
    }

    #[test]
    fn unmounted_paths_are_gone_until_mounted() {
        let mut fs = MemFs::default();
        fs.put("/disk/x", vec![1]);
        fs.unmount("/disk");
        assert!(fs.get("/disk/x").is_none());
        assert!(fs.write("/disk/y", 0, &[1]).is_err());
        assert!(fs.stat("/disk/x").is_none());
        fs.mount("/disk");
        assert_eq!(fs.get("/disk/x"), Some(&vec![1]));
    }
}
