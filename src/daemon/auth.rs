//! Who may use the API: a bearer token compared in constant time, answers to bad
//! tokens slowed down per address, and requests for foreign host names refused
//! (a web page elsewhere cannot reach the API through DNS rebinding; no cookie or
//! query-string token exists for it to forge).

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses whose bad tokens are remembered. Full: entries quiet for
/// [`FORGET_AFTER`] go, then the oldest.
const MAX_TRACKED: usize = 4096;
/// A remembered address is forgotten after this long without a bad token.
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// The longest an answer to a bad token is held back.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// The token the daemon accepts: from the config, else from `<data_dir>/admin.token`,
/// else 256 random bits made now and written there with mode 0600. Returns the
/// token and whether it was just made.
pub fn load_or_make_token(configured: &str, file: &Path) -> std::io::Result<(String, bool)> {
    if !configured.is_empty() {
        return Ok((configured.to_owned(), false));
    }
    match std::fs::read_to_string(file) {
        Ok(t) if !t.trim().is_empty() => return Ok((t.trim().to_owned(), false)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut bits = [0u8; 32];
    getrandom::fill(&mut bits).map_err(|e| std::io::Error::other(e.to_string()))?;
    let token: String = bits.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = file.with_extension("token.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(token.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    std::fs::rename(&tmp, file)?;
    Ok((token, true))
}

/// Equal bytes, in a time that depends only on the lengths.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    diff == 0
}

/// The token check and the memory of bad attempts.
#[derive(Debug)]
pub struct Guard {
    token: String,
    allowed_hosts: Vec<String>,
    bound: SocketAddr,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Guard {
    /// A guard for `token`, answering to loopback names, `bound`'s address and
    /// `allowed_hosts`.
    pub fn new(token: String, bound: SocketAddr, allowed_hosts: Vec<String>) -> Guard {
        Guard {
            token,
            allowed_hosts: allowed_hosts
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            bound,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether an `Authorization` header value carries the token.
    pub fn token_ok(&self, header: Option<&[u8]>) -> bool {
        let Some(h) = header else { return false };
        let Some(presented) = h.strip_prefix(b"Bearer ") else {
            return false;
        };
        same_secret(presented.trim_ascii(), self.token.as_bytes())
    }

    /// Whether a `Host` header names this daemon.
    pub fn host_ok(&self, host: Option<&str>) -> bool {
        let Some(host) = host else { return false };
        let name = strip_port(host).to_ascii_lowercase();
        let name = name.trim_start_matches('[').trim_end_matches(']');
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            return ip.is_loopback() || (ip == self.bound.ip() && !ip.is_unspecified());
        }
        self.allowed_hosts.iter().any(|h| h == name)
    }

    /// Records a bad token from `ip`; how long to wait before answering it.
    pub fn failed(&self, ip: IpAddr) -> Duration {
        // The guard's own clock: how recent a failure is.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let mut f = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if f.len() >= MAX_TRACKED && !f.contains_key(&ip) {
            f.retain(|_, (_, at)| now.duration_since(*at) < FORGET_AFTER);
            if f.len() >= MAX_TRACKED
                && let Some(oldest) = f.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| *k)
            {
                f.remove(&oldest);
            }
        }
        let e = f.entry(ip).or_insert((0, now));
        if now.duration_since(e.1) >= FORGET_AFTER {
            e.0 = 0;
        }
        e.0 = e.0.saturating_add(1);
        e.1 = now;
        // 0 for the first, then 100 ms doubling, 5 s at most.
        let n = e.0 - 1;
        if n == 0 {
            Duration::ZERO
        } else {
            (Duration::from_millis(100) * 2u32.saturating_pow(n.min(16) - 1)).min(MAX_DELAY)
        }
    }
}

/// `host:port` → `host` (an IPv6 literal keeps its brackets).
fn strip_port(host: &str) -> &str {
    if let Some(end) = host.strip_prefix('[').and_then(|h| h.find(']')) {
        return &host[..end + 2];
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new(
            "s3cret".into(),
            "192.168.1.5:8080".parse().unwrap(),
            vec!["Seedbox.Example".into()],
        )
    }

    #[test]
    fn the_token_must_match_exactly() {
        let g = guard();
        assert!(g.token_ok(Some(b"Bearer s3cret")));
        assert!(!g.token_ok(Some(b"Bearer s3cre")));
        assert!(!g.token_ok(Some(b"Bearer s3cretx")));
        assert!(!g.token_ok(Some(b"Basic s3cret")));
        assert!(!g.token_ok(None));
    }

    #[test]
    fn only_our_own_host_names_are_answered() {
        let g = guard();
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:8080",
            "127.9.9.9",
            "[::1]:8080",
            "192.168.1.5:8080",
            "seedbox.example",
            "SEEDBOX.example:443",
        ] {
            assert!(g.host_ok(Some(ok)), "{ok}");
        }
        for bad in [
            "evil.example",
            "192.168.1.6",
            "0.0.0.0",
            "",
            "seedbox.example.evil",
        ] {
            assert!(!g.host_ok(Some(bad)), "{bad}");
        }
        assert!(!g.host_ok(None));
    }

    #[test]
    fn repeated_bad_tokens_wait_longer_and_longer() {
        let g = guard();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let waits: Vec<Duration> = (0..8).map(|_| g.failed(ip)).collect();
        assert_eq!(waits[0], Duration::ZERO);
        assert_eq!(waits[1], Duration::from_millis(100));
        assert_eq!(waits[2], Duration::from_millis(200));
        assert_eq!(waits[7], MAX_DELAY);
        assert_eq!(g.failed("10.0.0.2".parse().unwrap()), Duration::ZERO);
    }

    #[test]
    fn a_made_token_is_256_bits_in_a_private_file_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin.token");
        let (t, made) = load_or_make_token("", &file).unwrap();
        assert!(made);
        assert_eq!(t.len(), 64);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_make_token("", &file).unwrap(), (t, false));
        assert_eq!(
            load_or_make_token("mine", &file).unwrap(),
            ("mine".into(), false)
        );
    }
}
