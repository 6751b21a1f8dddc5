//! The qBittorrent layer's login: the password hash qBittorrent itself writes
//! (PBKDF2-HMAC-SHA512, 100,000 rounds, 16 bytes of salt, kept as
//! `@ByteArray(salt:hash)` in base64), `SID` sessions that end after a quiet
//! while, and qBittorrent's ban of an address after repeated failures.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::super::auth::same_secret;
use super::super::config::QbitConfig;

/// PBKDF2 rounds qBittorrent uses.
#[cfg(not(fuzzing))]
pub const ROUNDS: u32 = 100_000;
/// Under cargo-fuzz (`--cfg fuzzing`) one round: a login then costs the fuzzer
/// microseconds, not half a second (hashes made there are only for the run).
#[cfg(fuzzing)]
pub const ROUNDS: u32 = 1;

/// Most sessions held at once; a login past it ends the one idle longest.
pub const MAX_SESSIONS: usize = 1024;
/// Most addresses whose failures are remembered; past it, the entry seen
/// longest ago is forgotten (a ban still running is kept over a count).
pub const MAX_TRACKED: usize = 4096;

/// A password hash as qBittorrent keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash {
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl PasswordHash {
    /// Reads `@ByteArray(salt:hash)` (the wrapper may be left out).
    pub fn parse(s: &str) -> Result<PasswordHash, String> {
        let s = s.trim();
        let inner = s
            .strip_prefix("@ByteArray(")
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or(s);
        let (salt, hash) = inner
            .split_once(':')
            .ok_or("a password hash is @ByteArray(salt:hash), both base64")?;
        let salt = B64.decode(salt).map_err(|e| format!("its salt: {e}"))?;
        let hash = B64.decode(hash).map_err(|e| format!("its hash: {e}"))?;
        if salt.is_empty() || hash.len() != 64 {
            return Err("a password hash has a salt and 64 bytes of PBKDF2-SHA512".into());
        }
        Ok(PasswordHash { salt, hash })
    }

    /// The hash of `password` with a fresh random salt.
    pub fn make(password: &str) -> PasswordHash {
        let mut salt = vec![0u8; 16];
        getrandom::fill(&mut salt).expect("the OS gives random bytes");
        let hash = derive(password, &salt);
        PasswordHash { salt, hash }
    }

    /// Whether `password` is the one hashed (compared in constant time).
    pub fn matches(&self, password: &str) -> bool {
        same_secret(&derive(password, &self.salt), &self.hash)
    }
}

impl std::fmt::Display for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "@ByteArray({}:{})",
            B64.encode(&self.salt),
            B64.encode(&self.hash)
        )
    }
}

fn derive(password: &str, salt: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 64];
    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password.as_bytes(), salt, ROUNDS, &mut out);
    out
}

/// An address range that needs no login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    base: IpAddr,
    bits: u8,
}

impl Subnet {
    /// `192.168.1.0/24`, `fd00::/8`, or one address.
    pub fn parse(s: &str) -> Result<Subnet, String> {
        let (ip, bits) = match s.trim().split_once('/') {
            Some((ip, b)) => (ip, Some(b)),
            None => (s.trim(), None),
        };
        let base: IpAddr = ip
            .parse()
            .map_err(|_| format!("subnet {s:?}: bad address"))?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("subnet {s:?}: prefix length 0 to {max}"))?,
        };
        Ok(Subnet { base, bits })
    }

    /// Whether `ip` is in it.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let prefix = |a: u128, b: u128, width: u8| {
            let shift = width - self.bits;
            self.bits == 0 || (a >> shift) == (b >> shift)
        };
        match (self.base, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                prefix(u128::from(a.to_bits()), u128::from(b.to_bits()), 32)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => prefix(a.to_bits(), b.to_bits(), 128),
            _ => false,
        }
    }
}

/// What a login attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// A new session id.
    Ok(String),
    /// Wrong user or password.
    Failed,
    /// The address is banned.
    Banned,
}

#[derive(Debug, Default)]
struct State {
    /// Session id to its last use.
    sessions: HashMap<String, Instant>,
    /// Per address: failures in a row, and until when it is banned.
    failures: HashMap<IpAddr, (u32, Option<Instant>, Instant)>,
}

/// Credentials, sessions and bans.
#[derive(Debug)]
pub struct Logins {
    username: String,
    hash: PasswordHash,
    max_fails: u32,
    ban: Duration,
    timeout: Duration,
    bypass_local: bool,
    bypass: Vec<Subnet>,
    state: Mutex<State>,
}

impl Logins {
    /// From the config: `Err` says why the layer cannot start (no password set,
    /// a bad hash or subnet).
    pub fn from_config(c: &QbitConfig) -> Result<Logins, String> {
        if c.password_hash.trim().is_empty() {
            return Err("qbittorrent.password_hash is not set".into());
        }
        if c.username.trim().is_empty() {
            return Err("qbittorrent.username is empty".into());
        }
        let hash = PasswordHash::parse(&c.password_hash)
            .map_err(|e| format!("qbittorrent.password_hash: {e}"))?;
        let bypass = c
            .bypass_auth_subnets
            .iter()
            .map(|s| Subnet::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("qbittorrent.bypass_auth_subnets: {e}"))?;
        Ok(Logins {
            username: c.username.clone(),
            hash,
            max_fails: c.max_auth_fail_count.max(1),
            ban: Duration::from_secs(c.ban_duration_secs),
            timeout: Duration::from_secs(c.session_timeout_secs.max(1)),
            bypass_local: c.bypass_local_auth,
            bypass,
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `ip` is banned now.
    pub fn banned(&self, ip: IpAddr, now: Instant) -> bool {
        let st = self.state();
        st.failures
            .get(&ip)
            .and_then(|f| f.1)
            .is_some_and(|until| now < until)
    }

    /// Checks a login from `ip`.
    pub fn login(&self, ip: IpAddr, user: &str, password: &str, now: Instant) -> Login {
        if self.banned(ip, now) {
            return Login::Banned;
        }
        // The hash is worked out outside the lock: it takes tens of milliseconds.
        let ok =
            same_secret(user.as_bytes(), self.username.as_bytes()) & self.hash.matches(password);
        let mut st = self.state();
        if !ok {
            let max = self.max_fails;
            let ban = self.ban;
            if st.failures.len() >= MAX_TRACKED && !st.failures.contains_key(&ip) {
                forget_oldest(&mut st.failures, now);
            }
            let f = st.failures.entry(ip).or_insert((0, None, now));
            // A ban that ran out starts the count again.
            if f.1.is_some_and(|until| now >= until) {
                *f = (0, None, now);
            }
            f.0 += 1;
            f.2 = now;
            if f.0 >= max {
                f.1 = Some(now + ban);
                tracing::warn!(%ip, failures = f.0, ban_secs = ban.as_secs(), "qBittorrent API: address banned after failed logins");
            }
            return Login::Failed;
        }
        st.failures.remove(&ip);
        let timeout = self.timeout;
        st.sessions
            .retain(|_, last| now.duration_since(*last) < timeout);
        if st.sessions.len() >= MAX_SESSIONS {
            let oldest = st
                .sessions
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                st.sessions.remove(&k);
            }
        }
        let sid = new_sid();
        st.sessions.insert(sid.clone(), now);
        Login::Ok(sid)
    }

    /// Whether `sid` is a live session (its clock restarts if so).
    pub fn session_ok(&self, sid: &str, now: Instant) -> bool {
        let timeout = self.timeout;
        let mut st = self.state();
        match st.sessions.get_mut(sid) {
            Some(last) if now.duration_since(*last) < timeout => {
                *last = now;
                true
            }
            Some(_) => {
                st.sessions.remove(sid);
                false
            }
            None => false,
        }
    }

    /// Ends a session.
    pub fn logout(&self, sid: &str) {
        self.state().sessions.remove(sid);
    }

    /// Whether `ip` needs no login.
    pub fn bypassed(&self, ip: IpAddr) -> bool {
        let local = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4).is_loopback(),
            v4 => v4.is_loopback(),
        };
        (self.bypass_local && local) || self.bypass.iter().any(|s| s.contains(ip))
    }
}

fn forget_oldest(map: &mut HashMap<IpAddr, (u32, Option<Instant>, Instant)>, now: Instant) {
    let victim = map
        .iter()
        .min_by_key(|(_, (_, until, seen))| (until.is_some_and(|u| now < u), *seen))
        .map(|(ip, _)| *ip);
    if let Some(ip) = victim {
        map.remove(&ip);
    }
}

/// 32 random characters, as qBittorrent's session ids are.
fn new_sid() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).expect("the OS gives random bytes");
    raw.iter()
        .map(|b| char::from(CHARS[usize::from(*b) % CHARS.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logins(hash: &PasswordHash) -> Logins {
        let c = QbitConfig {
            password_hash: hash.to_string(),
            max_auth_fail_count: 3,
            ban_duration_secs: 60,
            bypass_auth_subnets: vec!["10.1.0.0/16".into()],
            ..QbitConfig::default()
        };
        Logins::from_config(&c).unwrap()
    }

    #[test]
    fn a_hash_made_here_reads_back_and_checks() {
        let h = PasswordHash::make("secret pass");
        let again = PasswordHash::parse(&h.to_string()).unwrap();
        assert_eq!(again, h);
        assert!(again.matches("secret pass"));
        assert!(!again.matches("secret pas"));
        assert!(PasswordHash::parse("@ByteArray(abc)").is_err());
        assert!(PasswordHash::parse("@ByteArray(YWJj:YWJj)").is_err());
    }

    #[test]
    fn repeated_failures_ban_the_address_until_the_ban_runs_out() {
        let h = PasswordHash::make("pw");
        let l = logins(&h);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        #[allow(clippy::disallowed_methods)] // a starting point; the test moves it
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.login(ip, "admin", "no", t0), Login::Failed);
        }
        assert_eq!(l.login(ip, "admin", "pw", t0), Login::Banned);
        assert!(matches!(l.login(other, "admin", "pw", t0), Login::Ok(_)));
        let later = t0 + Duration::from_secs(61);
        let Login::Ok(sid) = l.login(ip, "admin", "pw", later) else {
            panic!("the ban ran out");
        };
        assert!(l.session_ok(&sid, later));
        assert!(!l.session_ok(&sid, later + Duration::from_secs(3601)));
        assert_eq!(l.login(ip, "root", "pw", later), Login::Failed);
    }

    #[test]
    fn subnets_and_loopback_bypass_only_when_configured() {
        let l = logins(&PasswordHash::make("pw"));
        assert!(l.bypassed("10.1.200.3".parse().unwrap()));
        assert!(l.bypassed("::ffff:10.1.0.9".parse().unwrap()));
        assert!(!l.bypassed("10.2.0.1".parse().unwrap()));
        assert!(!l.bypassed("127.0.0.1".parse().unwrap()));
        assert!(Subnet::parse("10.0.0.0/33").is_err());
        assert!(
            Subnet::parse("::/0")
                .unwrap()
                .contains("2001:db8::1".parse().unwrap())
        );
    }
}
