//! The durability rule, watched at the system-call level: a real `seedring
//! download --state-dir` runs under `strace`, and every torrent file written is
//! `fdatasync`ed before the LMDB commit that can record its pieces.
//!
//! Why strace: a SIGKILL keeps the page cache, so no crash test on a real machine
//! can see a missing `fdatasync`; the sim's crash tests see the policy's, this sees
//! the real files'. `--io epoll`: on io_uring the piece writes are ring operations,
//! not system calls strace can show.
// Real processes, real time.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

mod cli_common;

use cli_common::{bin, create};

#[derive(Debug, PartialEq)]
enum Ev {
    /// A write to a torrent file completed.
    Write(String),
    /// An fdatasync of a torrent file completed.
    Sync(String),
    /// An LMDB commit: its meta page written (through LMDB's O_DSYNC descriptor).
    Commit,
}

/// The events of an `strace -f -y` log, in completion order. Calls split into
/// `<unfinished ...>` and `<... resumed>` count where they resume.
fn events(log: &str, data_dir: &str) -> Vec<Ev> {
    let mut pending: BTreeMap<&str, String> = BTreeMap::new();
    let mut out = Vec::new();
    for line in log.lines() {
        let Some((pid, rest)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let rest = rest.trim_start();
        let call = if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(pid, head.to_owned());
            continue;
        } else if rest.starts_with("<... ") {
            match pending.remove(pid) {
                Some(head) => head,
                None => continue,
            }
        } else {
            rest.to_owned()
        };
        let Some((name, args)) = call.split_once('(') else {
            continue;
        };
        // The descriptor's path, as -y shows it: `7</path/to/file>`.
        let path = args
            .split_once('<')
            .and_then(|(_, p)| p.split_once('>'))
            .map(|(p, _)| p.to_owned())
            .unwrap_or_default();
        let in_data = path.starts_with(data_dir);
        match name {
            "pwrite64" | "pwritev" | "write" if in_data => out.push(Ev::Write(path)),
            "fdatasync" | "fsync" if in_data => out.push(Ev::Sync(path)),
            "pwrite64" if path.ends_with("data.mdb") => {
                // LMDB's meta pages are the first two pages; a commit ends with one.
                let inner = args.rsplit_once(')').map_or(args, |(a, _)| a);
                let offset: u64 = inner
                    .rsplit(',')
                    .next()
                    .and_then(|o| o.trim().parse().ok())
                    .unwrap_or(u64::MAX);
                if offset < 8192 {
                    out.push(Ev::Commit);
                }
            }
            _ => {}
        }
    }
    out
}

/// Every write is followed by an fdatasync of its file before the commit after
/// next (saves run one at a time: a write before commit k-1 is recorded by
/// commit k at the latest, after a sync), and before the last commit.
fn check(events: &[Ev]) -> Result<(), String> {
    let commits: Vec<usize> = (0..events.len())
        .filter(|&i| events[i] == Ev::Commit)
        .collect();
    let last_commit = *commits.last().ok_or("no LMDB commit seen")?;
    let synced_between = |file: &str, from: usize, to: usize| {
        events[from..to]
            .iter()
            .any(|e| matches!(e, Ev::Sync(f) if f == file))
    };
    let mut writes = 0;
    for (i, e) in events.iter().enumerate() {
        let Ev::Write(file) = e else { continue };
        writes += 1;
        let later: Vec<usize> = commits.iter().copied().filter(|&c| c > i).collect();
        if let Some(&second) = later.get(1)
            && !synced_between(file, i, second)
        {
            return Err(format!(
                "{file}: written at event {i}, not synced before the commit at event {second}"
            ));
        }
        if i < last_commit && !synced_between(file, i, last_commit) {
            return Err(format!(
                "{file}: written at event {i}, not synced before the last commit"
            ));
        }
    }
    if writes == 0 {
        return Err("no piece write seen".into());
    }
    Ok(())
}

fn torrent(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("src").join("t");
    std::fs::create_dir_all(&src).unwrap();
    for (name, len) in [("a.bin", 1_500_000usize), ("b.bin", 1_200_000)] {
        let body: Vec<u8> = (0..len).map(|i| (i * 31 % 253).to_le_bytes()[0]).collect();
        std::fs::write(src.join(name), body).unwrap();
    }
    create(&src, &dir.join("t.torrent"), &["--piece-length", "65536"])
}

#[test]
fn every_written_file_is_synced_before_the_commit_that_records_it() {
    assert!(
        Command::new("strace").arg("-V").output().is_ok(),
        "strace is not installed (./scripts/test installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let t = torrent(dir.path());
    let mut seeder = bin()
        .args(["download", t.to_str().unwrap(), "-o"])
        .arg(dir.path().join("src"))
        .args(["--seed", "--listen-port", "0", "--io", "epoll"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let port = {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(seeder.stderr.take().unwrap()).lines();
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("seedring: listening on port ")
                    .map(|p| p.trim().to_owned())
            })
            .expect("the seeder listens");
        // Keep reading: a seeder whose standard error is closed cannot log.
        std::thread::spawn(move || lines.for_each(drop));
        port
    };
    let dst = dir.path().join("dst");
    let log = dir.path().join("strace.log");
    // 2.7 MB at 1 MB/s with a save every 300 ms: about ten saves while pieces land.
    let out = Command::new("strace")
        .args([
            "-f",
            "-y",
            "-qq",
            "-e",
            "trace=pwrite64,pwritev,write,fdatasync,fsync",
            "-o",
        ])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_seedring"))
        .args(["download", t.to_str().unwrap(), "-o", dst.to_str().unwrap()])
        .args(["--state-dir"])
        .arg(dir.path().join("state"))
        .args([
            "--io",
            "epoll",
            "--listen-port",
            "0",
            "--save-interval-ms",
            "300",
        ])
        .args([
            "--download-limit",
            "1000000",
            "--peer",
            &format!("127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    seeder.kill().unwrap();
    seeder.wait().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(&log).unwrap();
    let ev = events(&log, dst.to_str().unwrap());
    let commits = ev.iter().filter(|e| **e == Ev::Commit).count();
    assert!(commits >= 4, "only {commits} commits seen: {ev:?}");
    check(&ev).unwrap();
}

#[test]
fn the_checker_catches_a_commit_before_the_sync() {
    use Ev::*;
    let f = || "f".to_owned();
    let ok = [Write(f()), Commit, Sync(f()), Commit];
    assert!(check(&ok).is_ok());
    let late = [Write(f()), Commit, Commit, Sync(f()), Commit];
    assert!(check(&late).is_err());
    let never = [Commit, Write(f()), Commit];
    assert!(check(&never).is_err());
}
