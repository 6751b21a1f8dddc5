//! What the crash tests share: the seedring binary, a three-file torrent of
//! about 40 MiB, a process started until it says its port, and the resume
//! record read straight from a session store.
#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use seedring::core::Rng;
use seedring::metainfo::{CreateLayout, CreateOptions, Metainfo, build_torrent};
use seedring::resume_lmdb::record::StateRecord;
use seedring::resume_lmdb::{LmdbSessionStore, SessionStore, state_key};

pub const PIECE: u32 = 64 * 1024;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_seedring"))
}

/// A three-file torrent of about 40 MiB, written under `dir/src`.
pub fn make_torrent(dir: &Path) -> (Metainfo, std::path::PathBuf) {
    let mut rng = Rng::new(42);
    let sizes = [
        (vec!["a.bin".to_string()], 23_000_000u64),
        (vec!["sub".into(), "b.bin".into()], 17_000_000),
        (vec!["c.txt".into()], 12_345),
    ];
    let mut stream = Vec::new();
    let src = dir.join("src/t");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    for (path, len) in &sizes {
        let bytes: Vec<u8> = (0..*len).map(|_| rng.next_u64().to_le_bytes()[3]).collect();
        std::fs::write(src.join(path.join("/")), &bytes).unwrap();
        stream.extend_from_slice(&bytes);
    }
    let pieces: Vec<[u8; 20]> = stream
        .chunks(PIECE as usize)
        .map(seedring::hash::sha1)
        .collect();
    let layout = CreateLayout {
        name: "t".into(),
        files: Some(sizes.to_vec()),
        length: 0,
    };
    let (bytes, meta) = build_torrent(&layout, PIECE, &pieces, &CreateOptions::default()).unwrap();
    let path = dir.join("t.torrent");
    std::fs::write(&path, bytes).unwrap();
    (meta, path)
}

/// Starts a process and reads its stderr until it says which port it listens on.
pub fn start_listening(cmd: &mut Command) -> (Child, u16) {
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("it reports its port").unwrap();
        if let Some(p) = line.strip_prefix("seedring: listening on port ") {
            break p.trim().parse().unwrap();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, port)
}

pub fn record(state: &Path, meta: &Metainfo) -> Option<StateRecord> {
    let store = LmdbSessionStore::open(state).unwrap();
    let bytes = store.get(&state_key(meta.info_hash)).unwrap()?;
    Some(StateRecord::decode(&bytes).expect("records are readable after a kill"))
}
