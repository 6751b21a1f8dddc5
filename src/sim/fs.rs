//! A memory filesystem: files are byte vectors keyed by path.

use std::collections::BTreeMap;

use crate::core::DiskError;

/// Files in memory. Paths are `root/component/...` strings.
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    files: BTreeMap<String, Vec<u8>>,
}

/// `root` joined with sanitised torrent components.
pub(crate) fn join(root: &str, path: &[String]) -> String {
    let mut s = root.trim_end_matches('/').to_owned();
    for c in path {
        s.push('/');
        s.push_str(c);
    }
    s
}

impl MemFs {
    /// Writes `data` at `offset`, growing the file with zeros as needed.
    pub fn write(&mut self, path: &str, offset: u64, data: &[u8]) {
        let f = self.files.entry(path.to_owned()).or_default();
        let start = usize::try_from(offset).expect("memory files are small");
        if f.len() < start + data.len() {
            f.resize(start + data.len(), 0);
        }
        f[start..start + data.len()].copy_from_slice(data);
    }

    /// Reads `len` bytes at `offset`: an error if the file is missing or short.
    pub fn read(&self, path: &str, offset: u64, len: usize) -> Result<&[u8], DiskError> {
        let f = self
            .files
            .get(path)
            .ok_or_else(|| DiskError(format!("{path}: no such file")))?;
        let start = usize::try_from(offset).map_err(|_| DiskError("offset".into()))?;
        f.get(start..start + len)
            .ok_or_else(|| DiskError(format!("{path}: short file")))
    }

    /// A whole file.
    pub fn get(&self, path: &str) -> Option<&Vec<u8>> {
        self.files.get(path)
    }

    /// Replaces a whole file.
    pub fn put(&mut self, path: &str, data: Vec<u8>) {
        self.files.insert(path.to_owned(), data);
    }

    /// Bytes stored in all files.
    pub fn used(&self) -> u64 {
        self.files.values().map(|f| f.len() as u64).sum()
    }

    /// Deletes a file.
    pub fn remove(&mut self, path: &str) {
        self.files.remove(path);
    }
}
