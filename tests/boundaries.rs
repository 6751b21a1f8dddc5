//! The pure modules stay pure: no IO, no runtime, no driver imports. Crude text
//! matching, but it fails loudly the day someone reaches for a socket or a file
//! from the protocol side, which is when it matters.

use std::path::Path;

/// Modules that must do no IO (the ones that exist; more join as they land).
const PURE: &[&str] = &[
    "bencode",
    "metainfo",
    "proto",
    "core",
    "ratelimit",
    "dht",
    "lsd",
    "migrate",
];

/// What they must not name.
const FORBIDDEN: &[&str] = &[
    "compio",
    "io_uring",
    "heed",
    "tokio",
    "memmap2",
    "std::net",
    "std::fs",
    "std::thread",
    "std::time::Instant",
    "SystemTime",
    "crate::net",
    "crate::disk_uring",
    "crate::resume_lmdb",
    "crate::shard",
    "crate::admin",
    "crate::sim",
    "crate::engine",
    "crate::roots",
    "crate::storage",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn pure_modules_import_no_io_or_drivers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    let mut offences = Vec::new();
    for module in PURE {
        let dir = src.join(module);
        if !dir.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        for file in files {
            checked += 1;
            let text = std::fs::read_to_string(&file).unwrap();
            // Tests at the bottom of a file may use anything.
            let body = text.split("#[cfg(test)]").next().unwrap_or("");
            for (n, line) in body.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for bad in FORBIDDEN {
                    if code.contains(bad) {
                        offences.push(format!("{}:{}: {bad}", file.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(
        checked >= 5,
        "found only {checked} files: is the layout still src/<module>/?"
    );
    assert!(
        offences.is_empty(),
        "IO in pure modules:\n{}",
        offences.join("\n")
    );
}

/// The storage policy is driver-neutral: it reaches files only through its port.
#[test]
fn the_storage_policy_knows_no_driver() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/storage");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    assert!(!files.is_empty());
    let mut offences = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let body = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in body.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for bad in [
                "std::fs",
                "compio",
                "crate::sim",
                "crate::shard",
                "crate::engine",
                "RealFiles",
            ] {
                if code.contains(bad) {
                    offences.push(format!("{}:{}: {bad}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}
