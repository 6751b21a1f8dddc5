//! The v2 merkle trees of files on disk, for `seedring create --v2/--hybrid`:
//! each file read in piece-sized runs and hashed on one of several threads.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::hash::merkle::{FileMerkle, merkle_file};

/// Why a file's tree could not be made.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {error}")]
pub struct MerkleError {
    /// The file.
    pub path: PathBuf,
    /// What the OS said (a file that shrank while it was read: `UnexpectedEof`).
    pub error: std::io::Error,
}

/// A reader that adds what it reads to a progress counter.
struct Counted<'a, R> {
    inner: R,
    done: Option<&'a AtomicU64>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(d) = self.done {
            d.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

fn one(
    path: &Path,
    length: u64,
    piece_length: u64,
    done: Option<&AtomicU64>,
) -> Result<FileMerkle, MerkleError> {
    let err = |error| MerkleError {
        path: path.to_path_buf(),
        error,
    };
    if length == 0 {
        return Ok(FileMerkle::default());
    }
    let file = std::fs::File::open(path).map_err(err)?;
    merkle_file(Counted { inner: file, done }, length, piece_length).map_err(err)
}

/// The tree of each file (`files`: path and the length the torrent gives it),
/// in order, on up to `threads` threads, a file at a time each; `done` grows by
/// the bytes read.
pub fn merkle_files(
    files: &[(PathBuf, u64)],
    piece_length: u64,
    threads: usize,
    done: Option<&AtomicU64>,
) -> Result<Vec<FileMerkle>, MerkleError> {
    let next = AtomicUsize::new(0);
    let work = || {
        let mut out = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some((path, len)) = files.get(i) else {
                return Ok(out);
            };
            match one(path, *len, piece_length, done) {
                Ok(t) => out.push((i, t)),
                Err(e) => {
                    // The others stop at their next file.
                    next.store(files.len(), Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
    };
    let threads = threads.clamp(1, files.len().max(1));
    let parts = crate::hash::on_threads(threads, "sr-merkle", work);
    let mut out = vec![FileMerkle::default(); files.len()];
    for part in parts {
        for (i, t) in part? {
            out[i] = t;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_come_back_in_file_order_and_a_short_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for (len, i) in [70_000u64, 0, 5, 16_384, 1].into_iter().zip(0u8..) {
            let p = dir.path().join(format!("f{i}"));
            let data: Vec<u8> = (0..len).map(|b| b.to_le_bytes()[0] ^ i).collect();
            std::fs::write(&p, &data).unwrap();
            files.push((p, len));
        }
        let done = AtomicU64::new(0);
        let got = merkle_files(&files, 16_384, 3, Some(&done)).unwrap();
        for ((p, len), t) in files.iter().zip(&got) {
            let data = std::fs::read(p).unwrap();
            assert_eq!(*t, merkle_file(&data[..], *len, 16_384).unwrap());
        }
        assert_eq!(done.load(Ordering::Relaxed), 70_000 + 5 + 16_384 + 1);
        files[2].1 = 6;
        let e = merkle_files(&files, 16_384, 2, None).unwrap_err();
        assert!(e.path.ends_with("f2") && e.error.kind() == std::io::ErrorKind::UnexpectedEof);
    }
}
