//! The piece write path: io_uring (compio) against plain `pwrite` on a thread, as
//! the issue asks, all writing the same data, to the page cache (buffered IO)
//! but for the `_direct` row.
//!
//! - `uring`: compio runtime on io_uring, `write_all_at` of whole 1 MiB pieces, up to
//!   16 in flight (the shard's pattern: one spawned write per verified piece);
//! - `epoll_pool`: the same code on compio's epoll driver, where file IO goes to its
//!   blocking thread pool;
//! - `uring_runtime_pwrite_pool`: what the shard did until stop 42: `pwrite` on
//!   compio's blocking pool from an io_uring runtime, one job a piece (the file
//!   opened in each), sixteen at a time;
//! - `uring_runtime_batches`: what the shard does now
//!   (`seedring::disk_uring::write::write_pieces`): one job writes sixteen
//!   pieces in order, one job in flight (a torrent's write lane), through the
//!   page cache (`WriteMode::Cached`, the default);
//! - `uring_runtime_batches_direct`: the same around the page cache
//!   (`WriteMode::Direct`): these bytes go to the disk itself;
//! - `pwrite`: `std` `write_all_at` on the calling thread, one piece after another.
//!
//! Run: `cargo bench --bench disk_uring`. Throughput is bytes written per second.

use std::os::unix::fs::FileExt;
use std::rc::Rc;

use compio::buf::BufResult;
use compio::driver::{DriverType, ProactorBuilder};
use compio::io::AsyncWriteAtExt;
use compio::runtime::RuntimeBuilder;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use seedring::disk_uring::write::{PieceWrite, WriteMode, write_pieces};

const PIECE: usize = 1 << 20;
const PIECES: usize = 64;

fn runtime(d: DriverType) -> Option<compio::runtime::Runtime> {
    let mut p = ProactorBuilder::new();
    p.driver_type(d);
    RuntimeBuilder::new().with_proactor(p).build().ok()
}

fn compio_writes(rt: &compio::runtime::Runtime, path: &std::path::Path, data: &Rc<Vec<Vec<u8>>>) {
    rt.block_on(async {
        let file = Rc::new(
            compio::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .open(path)
                .await
                .unwrap(),
        );
        // Up to 16 pieces in flight, in waves.
        for wave in data.chunks(16).enumerate() {
            let (w, pieces) = wave;
            let mut tasks = Vec::new();
            for (i, p) in pieces.iter().enumerate() {
                let f = file.clone();
                let buf = p.clone();
                let at = ((w * 16 + i) * PIECE) as u64;
                tasks.push(compio::runtime::spawn(async move {
                    let BufResult(r, _) = (&*f).write_all_at(buf, at).await;
                    r.unwrap();
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
    });
}

/// A one-file torrent of `PIECES` pieces under `root` (the hashes are not
/// checked on this path), its file made.
fn lane_torrent(root: &std::path::Path) -> std::sync::Arc<seedring::metainfo::Info> {
    use seedring::metainfo::{CreateLayout, CreateOptions, build_torrent};
    let layout = CreateLayout {
        name: "t.bin".into(),
        files: None,
        length: (PIECE * PIECES) as u64,
    };
    let pieces = vec![[0u8; 20]; PIECES];
    let info = build_torrent(
        &layout,
        PIECE.try_into().unwrap(),
        &pieces,
        &CreateOptions::default(),
    )
    .unwrap()
    .1
    .info;
    std::fs::create_dir_all(root).unwrap();
    std::sync::Arc::new(info)
}

/// The shard's write lane: `data` in batches of sixteen pieces, one batch at a
/// time.
async fn lane_writes(
    root: &std::sync::Arc<std::path::Path>,
    info: &std::sync::Arc<seedring::metainfo::Info>,
    data: &[Vec<u8>],
    mode: WriteMode,
) {
    for (w, wave) in data.chunks(16).enumerate() {
        let batch = wave.iter().enumerate().map(|(i, p)| PieceWrite {
            root: root.clone(),
            marked: false,
            info: info.clone(),
            piece: (w * 16 + i).try_into().unwrap(),
            data: p.clone(),
        });
        for (_, r) in write_pieces(batch.collect(), mode).await {
            r.unwrap();
        }
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let data: Rc<Vec<Vec<u8>>> = Rc::new(
        (0..PIECES)
            .map(|i| vec![i.to_le_bytes()[0]; PIECE])
            .collect(),
    );
    let mut g = c.benchmark_group("piece_writes_64MiB");
    g.throughput(Throughput::Bytes((PIECE * PIECES) as u64));
    g.sample_size(20);
    if let Some(rt) = runtime(DriverType::IoUring) {
        let path = dir.path().join("uring.bin");
        g.bench_function("uring", |b| b.iter(|| compio_writes(&rt, &path, &data)));
        // What the shard does: pwrite on compio's blocking pool, from an io_uring runtime.
        let path = dir.path().join("uring_pool.bin");
        g.bench_function("uring_runtime_pwrite_pool", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut tasks = Vec::new();
                    for (i, p) in data.iter().enumerate() {
                        let (p, path) = (p.clone(), path.clone());
                        tasks.push(compio::runtime::spawn_blocking(move || {
                            let f = std::fs::OpenOptions::new()
                                .write(true)
                                .create(true)
                                .truncate(false)
                                .open(&path)
                                .unwrap();
                            f.write_all_at(&p, (i * PIECE) as u64).unwrap();
                        }));
                        if tasks.len() == 16 {
                            for t in tasks.drain(..) {
                                t.await.unwrap();
                            }
                        }
                    }
                    for t in tasks {
                        t.await.unwrap();
                    }
                })
            })
        });
        let root: std::sync::Arc<std::path::Path> = dir.path().join("lane").into();
        let info = lane_torrent(&root);
        for (name, mode) in [
            ("uring_runtime_batches", WriteMode::Cached),
            ("uring_runtime_batches_direct", WriteMode::Direct),
        ] {
            g.bench_function(name, |b| {
                b.iter(|| rt.block_on(lane_writes(&root, &info, &data, mode)))
            });
        }
    } else {
        eprintln!("io_uring unavailable here: uring rows skipped");
    }
    let rt = runtime(DriverType::Poll).expect("the epoll driver always starts");
    let path = dir.path().join("pool.bin");
    g.bench_function("epoll_pool", |b| {
        b.iter(|| compio_writes(&rt, &path, &data))
    });
    let path = dir.path().join("pwrite.bin");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .unwrap();
    g.bench_function("pwrite", |b| {
        b.iter(|| {
            for (i, p) in data.iter().enumerate() {
                file.write_all_at(p, (i * PIECE) as u64).unwrap();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
