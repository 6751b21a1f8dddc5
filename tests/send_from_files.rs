//! Blocks sent straight from the files to a plaintext TCP peer (`sendfile`, see
//! `src/net/writer.rs`), on io_uring and on epoll, over real loopback sockets and
//! real files: a raw peer asks for every block of a multi-file torrent (blocks
//! across file boundaries among them) while the files are in the page cache,
//! then again after the cache let go of them (those blocks are read, then sent),
//! and gets the bytes on disk each time. Under `strace`, the real binary sends
//! the cached blocks with `sendfile`, and a file cut shorter while seeding
//! closes the connection instead of sending made-up bytes.
// Real IO takes real time: these tests wait on the wall clock, with hard timeouts.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use seedring::Engine;
use seedring::core::{AddTorrent, CoreConfig, TorrentSource, TorrentState};
use seedring::metainfo::Metainfo;
use seedring::proto::{BlockRequest, Handshake, Message, MessageDecoder};
use seedring::shard::{IoChoice, ShardConfig};

mod crash_common;
mod data_common;

use crash_common::start_listening;

use data_common::wait;

/// Three files; 64 KiB pieces, so blocks of pieces 3 and 7 cross a file's end.
const FILES: &[(&str, usize)] = &[
    ("a.bin", 200_003),
    ("sub/b.bin", 300_001),
    ("c.bin", 90_000),
];
const PIECE: u32 = 64 * 1024;
const BLOCK: u32 = 16 * 1024;

/// Writes the files under `dir/name`; returns the torrent, its file's bytes and
/// the data's bytes in order.
fn make_data(dir: &Path, name: &str) -> (Arc<Metainfo>, Vec<u8>, Vec<u8>) {
    let d = data_common::make_data(dir, name, FILES, PIECE, 7);
    (d.meta, d.torrent, d.stream)
}

/// Lets the page cache drop every file of the torrent (they were synced).
fn drop_from_cache(dir: &Path) {
    for (path, _) in FILES {
        let f = std::fs::File::open(dir.join(path)).unwrap();
        f.sync_all().unwrap();
        // SAFETY: a valid descriptor; advice only, no memory passed.
        let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(r, 0);
    }
}

/// A plaintext peer that asks for every block, 32 at a time, and returns the
/// torrent's bytes as they came, or where it stopped (the connection closed).
fn fetch_all(port: u16, meta: &Metainfo) -> Result<Vec<u8>, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&Handshake::new(meta.info_hash, [9; 20]).encode())
        .map_err(|e| e.to_string())?;
    let mut hs = [0u8; 68];
    s.read_exact(&mut hs).map_err(|e| e.to_string())?;
    let g = &meta.info.geometry;
    let mut reqs = Vec::new();
    for piece in 0..g.piece_count() {
        let len = g.piece_len(piece);
        for offset in (0..len).step_by(BLOCK as usize) {
            let len = BLOCK.min(len - offset);
            reqs.push(BlockRequest { piece, offset, len });
        }
    }
    let mut out = vec![0u8; usize::try_from(g.total_length()).unwrap()];
    let mut dec = MessageDecoder::new(1 << 20, true, true);
    let mut buf = vec![0u8; 64 * 1024];
    // A refused or reset connection is an answer too (the caller may try
    // again), never a panic.
    let send = |s: &mut TcpStream, m: Message| s.write_all(&m.encode()).map_err(|e| e.to_string());
    send(&mut s, Message::Interested)?;
    let (mut unchoked, mut next, mut got) = (false, 0, 0);
    while got < reqs.len() {
        if unchoked && next < reqs.len() && next < got + 32 {
            let end = reqs.len().min(got + 32);
            for r in &reqs[next..end] {
                send(&mut s, Message::Request(*r))?;
            }
            next = end;
        }
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!("closed after {got} of {} blocks", reqs.len()));
        }
        dec.feed(&buf[..n]);
        while let Some(m) = dec.next_message().map_err(|e| e.to_string())? {
            match m {
                Message::Unchoke => unchoked = true,
                Message::Choke => unchoked = false,
                Message::Piece {
                    piece,
                    offset,
                    data,
                } => {
                    let at = usize::try_from(g.piece_offset(piece)).unwrap() + offset as usize;
                    out[at..at + data.len()].copy_from_slice(&data);
                    got += 1;
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

fn warm_and_cold(io: IoChoice) {
    let dir = tempfile::tempdir().unwrap();
    let (meta, _, stream) = make_data(dir.path(), "t");
    let cfg = ShardConfig::new(CoreConfig::default(), "127.0.0.1:0".parse().unwrap());
    let e = Engine::start(cfg, io).expect("engine starts");
    let root = dir.path().to_str().unwrap();
    let add = AddTorrent::new(TorrentSource::Metainfo(meta.clone()), root);
    e.add_torrent(add).unwrap();
    let ih = meta.info_hash;
    wait("the recheck", 30, || {
        e.stats(ih).is_ok_and(|s| s.state == TorrentState::Seeding)
    });
    let port = e.listen_addr().port();
    let warm = fetch_all(port, &meta).unwrap();
    assert!(warm == stream, "the cached blocks differ from the files");
    drop_from_cache(&dir.path().join("t"));
    let cold = fetch_all(port, &meta).unwrap();
    assert!(
        cold == stream,
        "the blocks read after the cache dropped them differ"
    );
    let up = e.stats(ih).unwrap().uploaded;
    assert_eq!(
        up,
        2 * stream.len() as u64,
        "every block counted once as uploaded"
    );
}

#[test]
fn blocks_from_files_warm_and_cold_on_io_uring() {
    warm_and_cold(IoChoice::Uring);
}

#[test]
fn blocks_from_files_warm_and_cold_on_epoll() {
    warm_and_cold(IoChoice::Epoll);
}

/// `seedring download --seed` under `strace -f`, until the port it listens on
/// is printed.
struct Traced {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
}

impl Traced {
    fn start(torrent: &Path, data: &Path, log: &Path, io: &str) -> Traced {
        let bin = env!("CARGO_BIN_EXE_seedring");
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-qq", "-e", "trace=sendfile", "-o"])
            .arg(log)
            .arg(bin)
            .arg("download")
            .arg(torrent)
            .arg("-o")
            .arg(data)
            .args(["--seed", "--listen-port", "0", "--io", io])
            .stdin(Stdio::null());
        let (child, port) = start_listening(&mut cmd);
        Traced {
            child,
            port,
            log: log.to_owned(),
        }
    }

    /// Bytes the traced process sent with `sendfile` so far.
    fn sendfile_bytes(&self) -> u64 {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains("sendfile"))
            .filter_map(|l| {
                l.rsplit_once("= ")?
                    .1
                    .split_whitespace()
                    .next()?
                    .parse::<i64>()
                    .ok()
            })
            .filter_map(|n| u64::try_from(n).ok())
            .sum()
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn traced_seed(io: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (meta, file, stream) = make_data(dir.path(), "t");
    let torrent = dir.path().join("t.torrent");
    std::fs::write(&torrent, file).unwrap();
    let seed = Traced::start(&torrent, dir.path(), &dir.path().join("strace.log"), io);
    let mut got = None;
    wait("a first full fetch", 60, || {
        got = fetch_all(seed.port, &meta).ok();
        got.is_some()
    });
    assert!(got.unwrap() == stream);
    let sent = seed.sendfile_bytes();
    assert!(
        sent >= stream.len() as u64 * 9 / 10,
        "only {sent} of {} bytes left by sendfile",
        stream.len()
    );
    // A file cut shorter under the seeder: a block past the new end is never
    // sent as made-up bytes; the connection closes.
    let b = dir.path().join("t/sub/b.bin");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&b)
        .unwrap()
        .set_len(1000)
        .unwrap();
    match fetch_all(seed.port, &meta) {
        Err(_) => {}
        Ok(bytes) => panic!(
            "a cut file was served whole ({} bytes, equal: {})",
            bytes.len(),
            bytes == stream
        ),
    }
}

#[test]
fn cached_blocks_leave_by_sendfile_and_a_cut_file_closes_on_io_uring() {
    traced_seed("uring");
}

#[test]
fn cached_blocks_leave_by_sendfile_and_a_cut_file_closes_on_epoll() {
    traced_seed("epoll");
}
