//! The real `seedring daemon` the scale bench measures: started on a store,
//! asked over HTTP (its own API and the qBittorrent layer), its memory and CPU
//! read from `/proc`, stopped with SIGTERM.

use std::cell::{Ref, RefCell};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn daemon_bin() -> PathBuf {
    std::env::var_os("SEEDRING_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/seedring"),
        PathBuf::from,
    )
}

pub struct Daemon {
    pub child: Child,
    pub api: String,
    /// The peer listener.
    pub peers: std::net::SocketAddr,
    pub token: String,
    /// One HTTP client for every call, as an API client keeps its
    /// connections: a client built per call cost the list's figure up to
    /// 170 ms of its own (its runtime thread, a new connection).
    http: reqwest::blocking::Client,
    /// The last answer's bytes, in one buffer kept across calls. Gathered by
    /// reqwest's `bytes()` (its chunks copied into a buffer grown as they
    /// come), a 110 MB list cost the client 160–170 ms more than the same
    /// answer read to nowhere, close to half of the figure the bench put on the
    /// daemon (`docs/performance-scale.md`).
    answer: RefCell<Vec<u8>>,
}

/// An answer's bytes (see `Daemon::answer`), until the next call.
pub type Answer<'a> = Ref<'a, Vec<u8>>;

impl Daemon {
    /// Starts the daemon on `dir` and waits for its API; returns it and the time to
    /// the first answer.
    pub fn start(dir: &Path, root: &Path) -> (Daemon, Duration) {
        Daemon::start_with(dir, root, "")
    }

    /// `peers`: more lines for the `[peers]` section.
    pub fn start_with(dir: &Path, root: &Path, peers: &str) -> (Daemon, Duration) {
        let cfg = dir.join("seedring.toml");
        std::fs::write(
            &cfg,
            format!(
                "data_dir = \"{}\"\n[peers]\nlisten = \"127.0.0.1:0\"\n{peers}[dht]\nenabled = false\n[api]\nlisten = \"127.0.0.1:0\"\n\
                 [qbittorrent]\npassword_hash = \"{}\"\n\
                 [[roots]]\ntoken = \"default\"\npath = \"{}\"\ndefault = true\n",
                dir.join("data").display(),
                seedring::daemon::qbit::login::PasswordHash::make(QB_PASSWORD),
                root.display()
            ),
        )
        .unwrap();
        let addr_file = dir.join("data/admin.addr");
        let _ = std::fs::remove_file(&addr_file);
        let t = Instant::now();
        let child = Command::new(daemon_bin())
            .args(["daemon", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("daemon.log")).unwrap())
            .spawn()
            .expect("the seedring binary (build it with cargo build --release)");
        let (api, peers) = loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file)
                && let Some(a) = text.split_whitespace().find_map(|l| l.strip_prefix("api="))
                && let Some(p) = text
                    .split_whitespace()
                    .find_map(|l| l.strip_prefix("peers="))
            {
                break (format!("http://{a}/api/v1"), p.parse().unwrap());
            }
            assert!(
                t.elapsed() < Duration::from_secs(300),
                "the daemon never started"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let token = std::fs::read_to_string(dir.join("data/admin.token")).unwrap();
        let d = Daemon {
            child,
            api,
            peers,
            token: token.trim().to_owned(),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
            answer: RefCell::new(Vec::new()),
        };
        while d.get("/torrents?limit=1").is_err() {
            std::thread::sleep(Duration::from_millis(5));
        }
        (d, t.elapsed())
    }

    pub fn get(&self, path: &str) -> Result<Answer<'_>, String> {
        let r = (self.http)
            .get(format!("{}{path}", self.api))
            .bearer_auth(&self.token)
            .send()
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(r.status().to_string());
        }
        self.read_answer(r)
    }

    /// Reads `r`'s body into the kept buffer.
    fn read_answer(&self, mut r: reqwest::blocking::Response) -> Result<Answer<'_>, String> {
        let mut buf = self.answer.borrow_mut();
        buf.clear();
        r.read_to_end(&mut buf).map_err(|e| e.to_string())?;
        drop(buf);
        Ok(self.answer.borrow())
    }

    /// (VmHWM, VmRSS) in KiB.
    pub fn memory(&self) -> (u64, u64) {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            s.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    /// A qBittorrent-layer session: its cookie.
    pub fn qb_login(&self) -> String {
        let base = self.api.trim_end_matches("/api/v1");
        let r = (self.http)
            .post(format!("{base}/api/v2/auth/login"))
            .form(&[("username", "admin"), ("password", QB_PASSWORD)])
            .send()
            .unwrap();
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        cookie.split(';').next().unwrap().to_owned()
    }

    /// A qBittorrent-layer GET with the session's cookie: the body.
    pub fn qb_get(&self, cookie: &str, path: &str) -> Answer<'_> {
        let base = self.api.trim_end_matches("/api/v1");
        let r = (self.http)
            .get(format!("{base}/api/v2/{path}"))
            .header("cookie", cookie)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        self.read_answer(r).unwrap()
    }

    /// User + system CPU seconds so far.
    pub fn cpu(&self) -> f64 {
        let mut s = String::new();
        std::fs::File::open(format!("/proc/{}/stat", self.child.id()))
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        let after = &s[s.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        ticks as f64 / 100.0
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The qBittorrent layer's password in the bench.
pub const QB_PASSWORD: &str = "bench";
