//! For the tests that seed over real sockets: a multi-file torrent's data
//! written to a folder, and a wait on the wall clock.
#![allow(dead_code)] // each test file uses its own part

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use seedring::metainfo::{CreateLayout, CreateOptions, Metainfo, build_torrent};

/// A torrent made of `files` (path, length) under `dir/name`, their bytes a
/// pattern of `seed`, in pieces of `piece` bytes.
pub struct Data {
    /// The `.torrent` file's bytes.
    pub torrent: Vec<u8>,
    pub meta: Arc<Metainfo>,
    /// Every file's bytes, in order.
    pub stream: Vec<u8>,
}

/// Writes the files and makes their torrent.
pub fn make_data(dir: &Path, name: &str, files: &[(&str, usize)], piece: u32, seed: u8) -> Data {
    let mut stream = Vec::new();
    let mut layout = Vec::new();
    for (i, (path, len)) in files.iter().enumerate() {
        let bytes: Vec<u8> = (0..*len)
            .map(|j| {
                (j * 31 + i * 7).to_le_bytes()[0] ^ seed.wrapping_mul((j / 251).to_le_bytes()[0])
            })
            .collect();
        let full = dir.join(name).join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, &bytes).unwrap();
        stream.extend_from_slice(&bytes);
        layout.push((path.split('/').map(str::to_owned).collect(), *len as u64));
    }
    let pieces: Vec<[u8; 20]> = stream
        .chunks(piece as usize)
        .map(seedring::hash::sha1)
        .collect();
    let layout = CreateLayout {
        name: name.into(),
        files: Some(layout),
        length: 0,
    };
    let (torrent, meta) =
        build_torrent(&layout, piece, &pieces, &CreateOptions::default()).unwrap();
    Data {
        torrent,
        meta: Arc::new(meta),
        stream,
    }
}

/// Polls `done` every 50 ms for up to `secs` seconds; fails the test, naming
/// `what`, if it never holds.
pub fn wait(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}
