//! `seedring download` as a user runs it: restarts right after a crash, a port
//! that is taken, what it leaves in the output folder.
// Real processes on real ports: these tests wait on the wall clock, with bounds.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

mod cli_common;

use cli_common::{bin, create, verify};

/// A one-file torrent of `len` bytes and its data under `dir/data/f.bin`.
fn torrent(dir: &Path, len: usize) -> std::path::PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251).to_le_bytes()[0]).collect();
    std::fs::write(data.join("f.bin"), bytes).unwrap();
    create(&data.join("f.bin"), &dir.join("f.torrent"), &[])
}

/// A TCP port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `download TORRENT -o OUT EXTRA...` and waits (30 s at most) for the
/// first line of its standard error that contains `needle`; returns the child and
/// that line, or everything it said if it exited first.
fn watch(
    t: &Path,
    out: &Path,
    extra: &[&str],
    needle: &'static str,
) -> (Child, Result<String, String>) {
    let mut child = bin()
        .args(["download", t.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut said = String::new();
        // Read to the end: a child whose standard error is closed cannot log.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(needle) {
                // The test may have its answer already; later lines are not needed.
                tx.send(Ok(line.clone())).ok();
            }
            said.push_str(&line);
            said.push('\n');
        }
        tx.send(Err(said)).ok();
    });
    let r = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| Err("no answer in 30 s".into()));
    (child, r)
}

/// Starts a seeding `download` and waits for its "listening on port" line (or its
/// exit); returns the child and its port.
fn seed(t: &Path, out: &Path, extra: &[&str]) -> (Child, Result<u16, String>) {
    let mut args = vec!["--seed"];
    args.extend_from_slice(extra);
    let (child, line) = watch(t, out, &args, "seedring: listening on port ");
    let port = line.map(|l| {
        let p = l.rsplit(' ').next().unwrap_or_default();
        p.trim().parse::<u16>().unwrap()
    });
    (child, port)
}

#[test]
fn twenty_kill_and_restart_cycles_on_io_uring_come_up_on_the_same_port() {
    let dir = tempfile::tempdir().unwrap();
    let t = torrent(dir.path(), 200_000);
    let port = free_port().to_string();
    let args = ["--io", "uring", "--listen-port", port.as_str()];
    let start = Instant::now();
    for cycle in 0..20 {
        let (mut child, r) = seed(&t, &dir.path().join("data"), &args);
        let got = r.unwrap_or_else(|e| panic!("cycle {cycle} did not come up:\n{e}"));
        assert_eq!(got.to_string(), port, "cycle {cycle}");
        // A crash, and systemd starting it again at once.
        child.kill().unwrap();
        child.wait().unwrap();
    }
    eprintln!("20 cycles in {:?}", start.elapsed());
}

#[test]
fn a_taken_port_is_one_clear_error_with_a_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let t = torrent(dir.path(), 50_000);
    let holder = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let out = bin()
        .args(["download", t.to_str().unwrap(), "-o"])
        .arg(dir.path().join("data"))
        .args(["--io", "epoll", "--listen-port", port.as_str()])
        .env("SEEDRING_LOG", "off")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("Address already in use").count(), 1, "{err}");
    assert!(err.contains("--listen-port 0"), "{err}");
}

#[test]
fn a_hundred_thousand_files_mostly_empty_all_arrive_and_verify_counts_each() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src").join("many");
    // 100 files with data and 99,900 empty ones, 1,000 to a folder.
    for i in 0..100_000u32 {
        let folder = src.join(format!("d{:03}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&folder).unwrap();
        }
        let body: Vec<u8> = if i % 1000 == 0 {
            (0..5000u32).map(|j| (j ^ i).to_le_bytes()[0]).collect()
        } else {
            Vec::new()
        };
        std::fs::write(folder.join(format!("f{i:06}")), body).unwrap();
    }
    let t = create(&src, &dir.path().join("many.torrent"), &[]);
    let (mut seeder, port) = seed(
        &t,
        &dir.path().join("src"),
        &["--listen-port", "0", "--io", "epoll"],
    );
    let port = port.unwrap_or_else(|e| panic!("seeder did not start:\n{e}"));
    let dst = dir.path().join("dst");
    let got = bin()
        .args(["download", t.to_str().unwrap(), "-o", dst.to_str().unwrap()])
        .args(["--listen-port", "0", "--peer", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    seeder.kill().unwrap();
    seeder.wait().unwrap();
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    let files = walk_count(&dst.join("many"));
    assert_eq!(files, 100_000, "files on disk when download said complete");
    // A one-shot folder is not a configured storage root: no marker left in it.
    for folder in [&dst, &dir.path().join("src")] {
        assert!(
            !folder.join(".seedring-root").exists(),
            "{}",
            folder.display()
        );
    }

    let check = |expect: i32| {
        let (code, report) = verify(&t, &dst);
        assert_eq!(code, Some(expect), "{report}");
        report
    };
    assert_eq!(check(0)["complete"], true);
    // One empty file goes missing: no piece covers it, but it is not there.
    std::fs::remove_file(dst.join("many/d050/f050007")).unwrap();
    let v = check(1);
    assert_eq!(v["complete"], false);
    let missing: Vec<_> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["state"] == "missing")
        .collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0]["complete"], false);
}

fn walk_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk_count(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn verify_calls_unwritten_pieces_missing_and_damaged_ones_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let t = torrent(dir.path(), 1 << 20);
    let good = std::fs::read(dir.path().join("data/f.bin")).unwrap();
    // An unfinished download: the file preallocated, its first half written, one
    // byte of that damaged.
    let dst = dir.path().join("dst");
    std::fs::create_dir_all(&dst).unwrap();
    let f = std::fs::File::create(dst.join("f.bin")).unwrap();
    f.set_len(good.len() as u64).unwrap();
    let mut half = good[..good.len() / 2].to_vec();
    half[100] ^= 1;
    std::os::unix::fs::FileExt::write_all_at(&f, &half, 0).unwrap();
    let (code, v) = verify(&t, &dst);
    assert_eq!(code, Some(1));
    let pieces = v["piece_count"].as_u64().unwrap();
    assert_eq!(v["invalid"], 1, "{v}");
    assert_eq!(v["missing"].as_u64().unwrap(), pieces / 2, "{v}");
    assert_eq!(v["valid"].as_u64().unwrap(), pieces / 2 - 1, "{v}");
}

#[test]
fn a_download_with_no_way_to_find_peers_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let t = torrent(dir.path(), 100_000);
    let extra = ["--listen-port", "0", "--no-peer-hint-secs", "1"];
    let (mut child, hint) = watch(&t, &dir.path().join("empty"), &extra, "no peers after");
    child.kill().unwrap();
    child.wait().unwrap();
    let hint = hint.unwrap_or_else(|e| panic!("no hint:\n{e}"));
    assert!(hint.contains("no tracker and no --peer"), "{hint}");
}

/// `--write-mode direct`: a multi-file torrent whose files start and end
/// inside 4 KiB blocks arrives whole, and the downloaded files' whole blocks
/// were written around the page cache (none of the first file's first 64 KiB
/// is cached before anything reads it); the same download with the default
/// leaves them cached.
#[test]
fn direct_writes_arrive_whole_around_the_page_cache() {
    use std::os::fd::AsFd;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src").join("odd");
    std::fs::create_dir_all(&src).unwrap();
    for (name, len) in [("a", 300_001usize), ("b", 100_000), ("c", (2 << 20) + 123)] {
        let body: Vec<u8> = (0..len).map(|i| (i * 13 % 253).to_le_bytes()[0]).collect();
        std::fs::write(src.join(name), body).unwrap();
    }
    let t = create(&src, &dir.path().join("odd.torrent"), &[]);
    let (mut seeder, port) = seed(
        &t,
        &dir.path().join("src"),
        &["--listen-port", "0", "--io", "epoll"],
    );
    let port = port.unwrap_or_else(|e| panic!("seeder did not start:\n{e}"));
    for (mode, cached) in [("direct", false), ("cached", true)] {
        let dst = dir.path().join(mode);
        let got = bin()
            .args(["download", t.to_str().unwrap(), "-o", dst.to_str().unwrap()])
            .args(["--listen-port", "0", "--peer", &format!("127.0.0.1:{port}")])
            .args(["--write-mode", mode])
            .output()
            .unwrap();
        assert!(
            got.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&got.stderr)
        );
        if seedring::disk_uring::page_cache::supported() {
            let a = std::fs::File::open(dst.join("odd/a")).unwrap();
            let resident = seedring::disk_uring::page_cache::resident(a.as_fd(), 0, 65536);
            assert_eq!(resident, cached, "{mode}: first 64 KiB in the page cache");
        } else {
            eprintln!("no cachestat(2) on this kernel: page cache residency not checked");
        }
        for name in ["a", "b", "c"] {
            let want = std::fs::read(src.join(name)).unwrap();
            let have = std::fs::read(dst.join("odd").join(name)).unwrap();
            assert!(want == have, "{mode}: {name} differs");
        }
        let (code, report) = verify(&t, &dst);
        assert_eq!(code, Some(0), "{mode}: {report}");
    }
    seeder.kill().unwrap();
    seeder.wait().unwrap();
}
