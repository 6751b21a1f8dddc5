//! Helpers for the tests that run the `seedring` binary itself.
#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `seedring` binary of this build.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_seedring"))
}

/// `seedring create SRC -o OUT EXTRA...`, which must succeed.
pub fn create(src: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let got = bin()
        .arg("create")
        .arg(src)
        .arg("-o")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    out.to_path_buf()
}

/// `seedring verify TORRENT DIR --json`: its exit code and its report.
pub fn verify(torrent: &Path, dir: &Path) -> (Option<i32>, serde_json::Value) {
    let v = bin()
        .arg("verify")
        .arg(torrent)
        .arg(dir)
        .arg("--json")
        .output()
        .unwrap();
    let report = serde_json::from_slice(&v.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&v.stderr)));
    (v.status.code(), report)
}
