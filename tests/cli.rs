//! The `seedring` command line end to end: create a torrent from real files, read it
//! back with `info`, check the data with `verify`, then damage the data and watch
//! `verify` say exactly what is wrong.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn seedring(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seedring"))
        .args(args)
        .output()
        .expect("run seedring")
}

/// Fails the test with seedring's own error output when it did not exit 0.
fn succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "seedring failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Deterministic bytes, different for each seed.
fn data(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// A folder with a file smaller than a block, an empty file, a nested file and files
/// that pieces straddle.
fn make_tree(root: &Path) -> std::path::PathBuf {
    let dir = root.join("My Folder");
    fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    fs::write(dir.join("tiny.txt"), b"hello").unwrap();
    fs::write(dir.join("empty"), b"").unwrap();
    fs::write(dir.join("a.bin"), data(100_000, 1)).unwrap();
    fs::write(dir.join("sub/b.bin"), data(70_000, 2)).unwrap();
    fs::write(dir.join("sub/deeper/c.bin"), data(33_333, 3)).unwrap();
    dir
}

#[test]
fn create_info_verify_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = make_tree(tmp.path());
    let torrent = tmp.path().join("t.torrent");
    let out = seedring(&[
        "create",
        s(&dir),
        "-o",
        s(&torrent),
        "--piece-length",
        "32K",
        "--tracker",
        "http://127.0.0.1:1/announce",
        "--tracker",
        "udp://127.0.0.1:2",
        "--web-seed",
        "http://127.0.0.1:3/files/",
        "--comment",
        "made in a test",
        "--private",
    ]);
    succeeded(&out);
    let created = String::from_utf8_lossy(&out.stdout).to_string();

    let info = json(&seedring(&["info", s(&torrent), "--json"]));
    assert!(created.contains(info["info_hash"].as_str().unwrap()));
    assert_eq!(info["name"], "My Folder");
    assert_eq!(info["piece_length"], 32768);
    let total = 5 + 100_000 + 70_000 + 33_333;
    assert_eq!(info["total_length"], total);
    assert_eq!(info["piece_count"], (total as u64).div_ceil(32768));
    assert_eq!(info["private"], true);
    assert_eq!(info["comment"], "made in a test");
    assert_eq!(
        info["trackers"],
        serde_json::json!(["http://127.0.0.1:1/announce", "udp://127.0.0.1:2"])
    );
    let paths: Vec<&str> = info["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "My Folder/a.bin",
            "My Folder/empty",
            "My Folder/sub/b.bin",
            "My Folder/sub/deeper/c.bin",
            "My Folder/tiny.txt"
        ]
    );
    let text = seedring(&["info", s(&torrent)]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("private:       yes"));

    // Intact data: everything valid, exit 0.
    let ok = seedring(&["verify", s(&torrent), s(tmp.path()), "--json"]);
    assert!(ok.status.success());
    let v = json(&ok);
    assert_eq!(v["complete"], true);
    assert_eq!(v["valid"], v["piece_count"]);
    assert!(
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["complete"] == true)
    );

    // Flip one byte in the middle of a.bin: exactly the piece that holds it fails.
    let a = dir.join("a.bin");
    let mut bytes = fs::read(&a).unwrap();
    bytes[50_000] ^= 0xff;
    fs::write(&a, &bytes).unwrap();
    let bad = seedring(&["verify", s(&torrent), s(tmp.path()), "--json"]);
    assert_eq!(bad.status.code(), Some(1));
    let v = json(&bad);
    assert_eq!(v["complete"], false);
    assert_eq!(v["invalid_pieces"], serde_json::json!([50_000 / 32768]));
    assert_eq!(v["missing"], 0);

    // Remove the nested file: its pieces are missing, the others still valid.
    fs::remove_file(dir.join("sub/deeper/c.bin")).unwrap();
    let v = json(&seedring(&["verify", s(&torrent), s(tmp.path()), "--json"]));
    let c = &v["files"][3];
    assert_eq!(c["state"], "missing");
    assert_eq!(c["have_bytes"], 0);
    let first_c_piece = (100_005 + 70_000) / 32768;
    assert!(
        v["missing_pieces"]
            .as_array()
            .unwrap()
            .contains(&first_c_piece.into())
    );
    assert_eq!(v["files"][0]["complete"], false);

    // A short file: the pieces past its end are missing, not invalid.
    fs::write(dir.join("sub/b.bin"), &data(70_000, 2)[..10_000]).unwrap();
    let v = json(&seedring(&["verify", s(&torrent), s(tmp.path()), "--json"]));
    assert_eq!(v["files"][2]["state"], "short");

    // Human output names the problem and exits 1.
    let human = seedring(&["verify", s(&torrent), s(tmp.path())]);
    assert_eq!(human.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&human.stdout).contains("NOT complete"));
}

#[test]
fn single_file_and_automatic_piece_length() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("movie.mkv");
    fs::write(&f, data(3 << 20, 9)).unwrap();
    let torrent = tmp.path().join("m.torrent");
    let out = seedring(&["create", s(&f), "-o", s(&torrent), "--threads", "3"]);
    succeeded(&out);
    let info = json(&seedring(&["info", s(&torrent), "--json"]));
    assert_eq!(info["name"], "movie.mkv");
    assert_eq!(info["files"][0]["path"], "movie.mkv");
    assert_eq!(info["piece_length"], 16384); // 3 MiB / 1500 is below the 16 KiB floor
    assert_eq!(info["private"], false);
    let v = seedring(&["verify", s(&torrent), s(tmp.path()), "--threads", "1"]);
    assert!(v.status.success());
}

#[test]
fn create_skips_symlinks_and_refuses_empty_input() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("real"), b"data").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("link")).unwrap();
    let torrent = tmp.path().join("d.torrent");
    let out = seedring(&["create", s(&dir), "-o", s(&torrent)]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipping"));
    let info = json(&seedring(&["info", s(&torrent), "--json"]));
    assert_eq!(info["files"].as_array().unwrap().len(), 1);

    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    fs::write(empty.join("zero"), b"").unwrap();
    // An existing output is kept unless --force.
    let before = fs::read(&torrent).unwrap();
    let out = seedring(&["create", s(&dir), "-o", s(&torrent)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists already"));
    assert_eq!(fs::read(&torrent).unwrap(), before);

    let out = seedring(&["create", s(&empty), "-o", s(&torrent), "--force"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to put in a torrent"));

    let out = seedring(&[
        "create",
        s(&dir),
        "-o",
        s(&torrent),
        "--piece-length",
        "1000",
        "--force",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("power of two"));
}

#[test]
fn bad_inputs_get_clear_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.torrent");
    fs::write(&junk, b"d4:infod4:name2:..e").unwrap();
    let out = seedring(&["info", s(&junk)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("junk.torrent") && err.starts_with("seedring: error:"),
        "{err}"
    );

    let out = seedring(&["info", s(&tmp.path().join("nope.torrent"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));

    let out = seedring(&["info", "magnet:?xt=urn:btih:zzz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad info-hash"));

    let out = seedring(&["verify", s(&junk), s(tmp.path())]);
    assert_eq!(out.status.code(), Some(2));

    let traversal = tmp.path().join("evil.torrent");
    fs::write(
        &traversal,
        b"d4:infod5:filesld6:lengthi5e4:pathl2:..6:passwdeee4:name1:t12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee",
    )
    .unwrap();
    let out = seedring(&["info", s(&traversal)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsafe file path"));
}

#[test]
fn magnet_info() {
    let out = seedring(&[
        "info",
        "magnet:?xt=urn:btih:AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQT&dn=Some+Name&tr=udp%3A%2F%2F127.0.0.1%3A6969&x.pe=127.0.0.1:6881",
        "--json",
    ]);
    assert!(out.status.success());
    let v = json(&out);
    assert_eq!(v["info_hash"], "000102030405060708090a0b0c0d0e0f10111213");
    assert_eq!(v["name"], "Some Name");
    assert_eq!(v["trackers"], serde_json::json!(["udp://127.0.0.1:6969"]));
    assert_eq!(v["piece_count"], Value::Null);
}

#[test]
fn help_explains_each_command() {
    let out = seedring(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["info", "create", "verify"] {
        assert!(text.contains(cmd), "{text}");
    }
    let out = seedring(&["create", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--piece-length"));
}

/// `create`, `verify` and the engine's check of a folder of more files than
/// the process may have open: each file is opened, looked at and closed in
/// turn, never all at once (they failed at the limit, and `create` blamed a
/// file that "shrank or vanished").
#[test]
fn more_files_than_the_open_files_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("many");
    for i in 0..600u32 {
        let sub = dir.join(format!("d{}", i % 7));
        fs::create_dir_all(&sub).unwrap();
        fs::write(sub.join(format!("f{i}")), data(500 + i as usize * 13, i)).unwrap();
    }
    // A hard limit of 128 (the soft one cannot be raised past it).
    let limited = |args: &[&str]| {
        let cmd = "ulimit -n 128 && exec \"$0\" \"$@\"";
        Command::new("sh")
            .args(["-c", cmd, env!("CARGO_BIN_EXE_seedring")])
            .args(args)
            .output()
            .expect("run seedring under sh")
    };
    for flag in ["--v1", "--hybrid"] {
        let torrent = tmp.path().join(format!("many{flag}.torrent"));
        let mut args = vec!["create", s(&dir), "-o", s(&torrent)];
        if flag != "--v1" {
            args.push(flag);
        }
        succeeded(&limited(&args));
        let v = limited(&["verify", s(&torrent), s(tmp.path()), "--json"]);
        succeeded(&v);
        let report = json(&v);
        assert_eq!(report["complete"], true, "{flag}: {report}");
    }
    // The engine's check (`download` of data that is all there): it found 27
    // of 161 pieces when each batch opened every file of the torrent.
    let torrent = tmp.path().join("many--v1.torrent");
    let out = limited(&[
        "download",
        s(&torrent),
        "-o",
        s(tmp.path()),
        "--listen-address",
        "127.0.0.1",
        "--listen-port",
        "0",
    ]);
    succeeded(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    let pieces = json(&seedring(&["info", s(&torrent), "--json"]))["piece_count"].clone();
    assert!(
        err.contains(&format!("{pieces} of {pieces} pieces already here")),
        "{err}"
    );
}
