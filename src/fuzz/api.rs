//! The admin REST API and the qBittorrent WebAPI, fed arbitrary requests
//! through the daemon's own router over a real engine (one per process, in a
//! temporary folder, a storage root inside it).
//!
//! The input: a flags byte, then the request line's target up to the first
//! `\n`, header lines up to an empty line, and the body. Flags: bit 0 sends the
//! admin token, bit 1 the `SID` of a logged-in qBittorrent session, bit 2 a
//! foreign `Host`, bit 3 a foreign `Origin`, bits 4 to 6 the method.
//!
//! What must hold: no panic and no 500; every `/api/v1` answer without the
//! token is a 401 (or a 421 for a foreign host); every `/api/v2` answer
//! without a session, other than the login's, is a 401, 403 or 404 (or a 421).
//!
//! Network: the engine may be told of trackers and peers anywhere, so run this
//! target only inside a network namespace of its own (`scripts/fuzz` and
//! `tests/fuzz_corpus.rs` do). Adding a storage root is skipped: a root may be
//! any folder of the machine, and the fuzzer would then write there.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use tower::ServiceExt as _;

use crate::daemon::config::{Config, RootConfig};
use crate::daemon::qbit::login::PasswordHash;
use crate::daemon::{Local, local};

/// The qBittorrent layer's password in the fuzzed daemon.
pub const PASSWORD: &str = "fuzz-password";

/// How long an answer is waited for, and then its body (a log stream never
/// ends; a file's bytes wait for pieces that never come here).
const WAIT: Duration = Duration::from_secs(1);

struct Harness {
    rt: tokio::runtime::Runtime,
    local: Local,
    sid: String,
    /// Each request comes from an address of its own in 127/8, so the bad-token
    /// delay and the login ban (per address) never hold the fuzzer up.
    next_ip: AtomicU32,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("seedring-fuzz-api-{}", std::process::id()));
        let _fresh = std::fs::remove_dir_all(&dir);
        let root = dir.join("root");
        std::fs::create_dir_all(&root).expect("a temporary folder");
        let cfg = config(dir, root);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let api_addr: SocketAddr = "127.0.0.1:8080".parse().expect("an address");
        let local = local(&cfg, api_addr, &rt).expect("the daemon starts");
        let mut h = Harness {
            rt,
            local,
            sid: String::new(),
            next_ip: AtomicU32::new(1),
        };
        h.sid = h.login();
        h
    })
}

fn config(data_dir: PathBuf, root: PathBuf) -> Config {
    let mut cfg = Config {
        data_dir,
        roots: vec![RootConfig {
            token: "fuzz".into(),
            label: String::new(),
            path: root,
            default: true,
        }],
        ..Config::default()
    };
    cfg.engine.shards = 1;
    cfg.peers.listen = "127.0.0.1:0".parse().expect("an address");
    cfg.qbittorrent.password_hash = PasswordHash::make(PASSWORD).to_string();
    cfg.log.ring_size = 64;
    cfg
}

impl Harness {
    fn login(&self) -> String {
        let body = format!("username=admin&password={PASSWORD}");
        let req = Request::post("/api/v2/auth/login")
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("a request");
        // PBKDF2 at qBittorrent's 100,000 rounds outside cargo-fuzz: not quick.
        let (status, headers, _) = self
            .send(req, Duration::from_secs(120))
            .expect("a login answers");
        assert_eq!(status, StatusCode::OK);
        let cookie = headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("a session cookie");
        cookie.split(';').next().unwrap_or_default().to_owned()
    }

    /// The answer's status, headers and body (`None`: no answer within `wait`).
    fn send(
        &self,
        mut req: Request<Body>,
        wait: Duration,
    ) -> Option<(StatusCode, axum::http::HeaderMap, Vec<u8>)> {
        let n = self.next_ip.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
        let ip = Ipv4Addr::from(0x7f00_0000 | n.max(1));
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(IpAddr::V4(ip), 40000)));
        let router = self.local.router.clone();
        self.rt.block_on(async move {
            // A file's bytes wait for its pieces: the client gives up first.
            let Ok(r) = tokio::time::timeout(wait, router.oneshot(req)).await else {
                return None;
            };
            let (parts, body) = r.expect("infallible").into_parts();
            let bytes = tokio::time::timeout(wait, axum::body::to_bytes(body, 64 << 20))
                .await
                .ok()
                .and_then(Result::ok)
                .map(|b| b.to_vec())
                .unwrap_or_default();
            Some((parts.status, parts.headers, bytes))
        })
    }
}

const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "FUZZ",
];

/// One request; see the module's notes.
pub fn api(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (target, rest) = split_at_byte(rest, b'\n');
    let Ok(target) = std::str::from_utf8(target) else {
        return;
    };
    let (head, body) = split_headers(rest);
    let method = METHODS[usize::from(flags >> 4) & 7];
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let adds_root = target.contains("roots") && method != Method::GET;
    let h = harness();
    let mut b = Request::builder().method(method).uri(target);
    b = b.header(
        header::HOST,
        if flags & 4 != 0 {
            "evil.example:8080"
        } else {
            "127.0.0.1:8080"
        },
    );
    if flags & 1 != 0 {
        b = b.header(header::AUTHORIZATION, format!("Bearer {}", h.local.token));
    }
    if flags & 2 != 0 {
        b = b.header(header::COOKIE, h.sid.as_str());
    }
    if flags & 8 != 0 {
        b = b.header(header::ORIGIN, "http://evil.example");
    }
    for line in head.split(|&c| c == b'\n') {
        if let Some(i) = line.iter().position(|&c| c == b':') {
            let (k, v) = (&line[..i], line[i + 1..].trim_ascii());
            b = b.header(k, v);
        }
    }
    let Ok(req) = b.body(Body::from(body.to_vec())) else {
        return;
    };
    if adds_root {
        return;
    }
    let path = req.uri().path().to_owned();
    let foreign = flags & 4 != 0;
    #[allow(clippy::disallowed_methods)] // how long a request took, when told
    let started = std::time::Instant::now();
    let Some((status, _, body)) = h.send(req, WAIT) else {
        return;
    };
    if std::env::var_os("SEEDRING_FUZZ_VERBOSE").is_some() {
        let shown = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        eprintln!("{path} -> {status} in {:?}: {shown}", started.elapsed());
    }
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
    let allowed_without = |ok: &[StatusCode]| {
        ok.contains(&status) || (foreign && status == StatusCode::MISDIRECTED_REQUEST)
    };
    if flags & 1 == 0 && path.starts_with("/api/v1") {
        assert!(
            allowed_without(&[StatusCode::UNAUTHORIZED]),
            "{path}: {status}"
        );
    }
    // qBittorrent checks the session before the route for any path shaped like
    // `/api/v2/<scope>/<action>`, and answers others (`/api/v2/`) as missing web
    // files: without a session, nothing but a refusal or a 404.
    if flags & 2 == 0 && path.starts_with("/api/v2/") && !path.ends_with("/auth/login") {
        let refused = [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN];
        let ok: &[StatusCode] = if api_shaped(&path) {
            &refused
        } else {
            &[refused[0], refused[1], StatusCode::NOT_FOUND]
        };
        assert!(allowed_without(ok), "{path}: {status}");
    }
}

/// `/api/v2/<scope>/<action>`, each a name as qBittorrent's pattern takes it.
fn api_shaped(path: &str) -> bool {
    let name = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let mut parts = path.trim_start_matches("/api/v2/").split('/');
    matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None) if name(a) && name(b))
}

fn split_at_byte(b: &[u8], at: u8) -> (&[u8], &[u8]) {
    match b.iter().position(|&c| c == at) {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &[]),
    }
}

/// Header lines up to the first empty line; the rest is the body.
fn split_headers(b: &[u8]) -> (&[u8], &[u8]) {
    match b.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&b[..i], &b[i + 2..]),
        None => (b, &[]),
    }
}
