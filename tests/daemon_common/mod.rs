//! A real `seedring daemon` on OS-chosen loopback ports, in a temp folder, and a
//! client for its API.
#![allow(dead_code)] // each test file uses its own part
#![allow(clippy::disallowed_methods)] // tests wait on a real daemon with the wall clock

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};

#[path = "../cli_common/mod.rs"]
pub mod cli_common;
use serde_json::Value;

/// A running daemon.
pub struct Daemon {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub child: Child,
    pub base: String,
    pub token: String,
    pub http: Client,
    pub log: PathBuf,
}

/// The config of a test daemon: everything under `dir`, loopback, any ports.
pub fn config_text(dir: &Path, extra: &str) -> String {
    format!(
        r#"data_dir = "{d}/data"
[peers]
listen = "127.0.0.1:0"
[engine]
shards = 2
save_interval_ms = 500
[dht]
listen = "127.0.0.1:0"
listen6 = ""
bootstrap = []
[api]
listen = "127.0.0.1:0"
shutdown_timeout_secs = 10
max_body_bytes = 1048576
[log]
filter = "info"
[[roots]]
token = "default"
label = "Downloads"
path = "{d}/downloads"
default = true
{extra}"#,
        d = dir.display()
    )
}

impl Daemon {
    /// Starts a daemon in `dir` with `extra` config lines appended.
    pub fn start(dir: &Path, extra: &str) -> Daemon {
        let config = dir.join("seedring.toml");
        if !config.exists() {
            std::fs::write(&config, config_text(dir, extra)).unwrap();
        }
        Daemon::start_with(dir, &config)
    }

    /// Starts a daemon on an existing config file.
    pub fn start_with(dir: &Path, config: &Path) -> Daemon {
        Daemon::start_with_env(dir, config, &[])
    }

    /// Starts a daemon on an existing config file, with `env` set for it.
    pub fn start_with_env(dir: &Path, config: &Path, env: &[(&str, &str)]) -> Daemon {
        let addr_file = dir.join("data/admin.addr");
        let _ = std::fs::remove_file(&addr_file);
        let log = dir.join(format!("daemon-{}.log", std::process::id()));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_seedring"))
            .arg("daemon")
            .arg("--config")
            .arg(config)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let start = Instant::now();
        let addr = loop {
            if let Ok(t) = std::fs::read_to_string(&addr_file)
                && let Some(a) = t.lines().find_map(|l| l.strip_prefix("api="))
            {
                break a.to_owned();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "daemon did not start:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let token = std::fs::read_to_string(dir.join("data/admin.token"))
            .unwrap()
            .trim()
            .to_owned();
        Daemon {
            dir: dir.to_path_buf(),
            config: config.to_path_buf(),
            child,
            base: format!("http://{addr}"),
            token,
            http: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// A request with the token.
    pub fn authed(&self, r: RequestBuilder) -> RequestBuilder {
        r.bearer_auth(&self.token)
    }

    pub fn get(&self, path: &str) -> Response {
        self.authed(self.http.get(self.url(path))).send().unwrap()
    }

    pub fn get_json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().unwrap()
    }

    pub fn post(&self, path: &str) -> Response {
        self.authed(self.http.post(self.url(path))).send().unwrap()
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Response {
        self.authed(self.http.post(self.url(path)))
            .json(body)
            .send()
            .unwrap()
    }

    pub fn delete(&self, path: &str) -> Response {
        self.authed(self.http.delete(self.url(path)))
            .send()
            .unwrap()
    }

    /// Adds a .torrent file's bytes.
    pub fn add_torrent(&self, bytes: &[u8], query: &str) -> Response {
        self.authed(self.http.post(self.url(&format!("/torrents{query}"))))
            .header("content-type", "application/x-bittorrent")
            .body(bytes.to_vec())
            .send()
            .unwrap()
    }

    /// Waits until `f` of the torrent's JSON holds (30 s at most).
    pub fn wait_for(&self, id: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let t = self.get_json(&format!("/torrents/{id}"));
            if f(&t) {
                return t;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "{what}: {t}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Tells it of a peer of torrent `id` (`ip:port`).
    pub fn add_peer(&self, id: &str, peer: &str) {
        let r = self.post_json(
            &format!("/torrents/{id}/peers"),
            &serde_json::json!({"peers": [peer]}),
        );
        assert!(r.status().is_success(), "{:?}", r.text());
    }

    /// The address its peers reach it at.
    pub fn peer_addr(&self) -> String {
        let addr = std::fs::read_to_string(self.dir.join("data/admin.addr")).unwrap();
        let peer = addr.lines().find_map(|l| l.strip_prefix("peers="));
        peer.unwrap().to_owned()
    }

    /// Waits until `f` holds (30 s at most; then fails with `what` and the
    /// daemon's log).
    pub fn until(&self, what: &str, f: impl Fn() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{what}\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The daemon's standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `seedring daemon` on `config`, which it must refuse: its standard
/// error, where the reason is.
pub fn refused_start(config: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_seedring"))
        .args(["daemon", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the daemon started on {}",
        config.display()
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Data of `len` bytes and a .torrent for it (`name` in `dir/src`), made by the
/// `seedring create` of this build.
pub fn make_torrent(dir: &Path, name: &str, len: usize) -> (PathBuf, Vec<u8>) {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let data: Vec<u8> = (0..len)
        .map(|i| (i as u64).wrapping_mul(2_654_435_761).to_le_bytes()[2])
        .collect();
    std::fs::write(src.join(name), &data).unwrap();
    let t = cli_common::create(&src.join(name), &dir.join(format!("{name}.torrent")), &[]);
    (t, data)
}

/// The id of the torrent an add answered `201` with.
pub fn created_id(r: Response) -> String {
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let v: Value = r.json().unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// A daemon in `dir` seeding an album (`album/cover.jpg`, 70,000 bytes of 1,
/// and `album/cd1/01.flac`, `flac` bytes of 2, in 32 KiB pieces): the daemon
/// and the `.torrent`.
pub fn album_seeder(dir: &Path, flac: usize) -> (Daemon, Vec<u8>) {
    let src = dir.join("downloads/album");
    std::fs::create_dir_all(src.join("cd1")).unwrap();
    std::fs::write(src.join("cover.jpg"), vec![1u8; 70_000]).unwrap();
    std::fs::write(src.join("cd1/01.flac"), vec![2u8; flac]).unwrap();
    let album = dir.join("album.torrent");
    cli_common::create(&src, &album, &["--piece-length", "32K"]);
    let seeder = Daemon::start(dir, "");
    let bytes = std::fs::read(&album).unwrap();
    let id = created_id(seeder.add_torrent(&bytes, ""));
    seeder.wait_for(&id, "seeding", |t| t["state"] == "seeding");
    (seeder, bytes)
}

/// The files under `dir` (its sub-folders' too), as paths relative to it,
/// sorted; a root's marker file left out, and a folder that is not there
/// holds none.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() != ".seedring-root" {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}
