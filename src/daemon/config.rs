//! The daemon's configuration: TOML, every key optional, defaults embedded.
//!
//! `seedring daemon --print-config` prints [`DEFAULT_CONFIG`], the defaults with a
//! comment on every key; a test parses it back and finds [`Config::default`]. An
//! unknown key or a bad value is an error naming the key and the line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::hooks::HooksConfig;
use super::schedule::{ClockTime, ScheduleDays};
use super::watch::WatchDir;
use crate::core::announce::Reach;
use crate::core::{Encryption, ShareAction, SlotMode, TransportMode};
use crate::shard::WriteMode;
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the daemon keeps its state: the resume store, the API token, the
    /// bound addresses, the settings changed over the API.
    pub data_dir: PathBuf,
    /// Peer connections.
    pub peers: PeersConfig,
    /// Engine threads and IO.
    pub engine: EngineConfig,
    /// Global rate caps and share limits.
    pub limits: LimitsConfig,
    /// The queue: how many torrents run at once.
    pub queue: QueueConfig,
    /// The DHT (finding peers without a tracker).
    pub dht: DhtSection,
    /// The admin API (and the web page).
    pub api: ApiConfig,
    /// The qBittorrent-compatible API (`/api/v2`) for the *arr tools.
    pub qbittorrent: QbitConfig,
    /// Logs.
    pub log: LogConfig,
    /// What new torrents start with.
    pub new_torrents: NewTorrentsConfig,
    /// Programs run when a torrent is added or finishes.
    pub hooks: HooksConfig,
    /// Storage roots configured at start (more can be added over the API).
    pub roots: Vec<RootConfig>,
    /// Watch folders: `.torrent` and `.magnet` files dropped there are added.
    pub watch: Vec<WatchDir>,
}

/// Peer connections.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PeersConfig {
    /// Address and port peers connect to (port 0: any free port); `[::]` is
    /// dual-stack.
    pub listen: SocketAddr,
    /// Most peer connections in all.
    pub max_connections: usize,
    /// Most peer connections per torrent. At the cap, a peer that dials us
    /// takes the place of one that has been of no use for a minute, or is
    /// refused.
    pub max_connections_per_torrent: usize,
    /// Most outgoing connections being set up at once.
    pub max_half_open: usize,
    /// Peers uploaded to at once per torrent (besides one optimistic slot):
    /// always (`fixed`), or at least (`fill_uplink`).
    pub upload_slots: usize,
    /// Most peers uploaded to at once per torrent (`fill_uplink`).
    pub max_upload_slots: usize,
    /// `fill_uplink`: open upload slots while the upload feeds them all well;
    /// `fixed`: `upload_slots` always.
    pub upload_slot_mode: SlotMode,
    /// Peer exchange (BEP 11) with peers of torrents that are not private.
    pub pex: bool,
    /// Local service discovery (BEP 14) on the local network's multicast group.
    pub lsd: bool,
    /// Which of a torrent's trackers are announced to at once: `one_tracker`
    /// (BEP 12: the first that answers, tier after tier), `every_tier` (the
    /// first that answers in each tier) or `every_tracker`.
    pub announce_to: Reach,
    /// Message stream encryption: `disabled`, `prefer_plaintext` (also
    /// `enabled`), `prefer_encrypted` or `required`.
    pub encryption: Encryption,
    /// Transports we dial: `prefer_tcp`, `prefer_utp`, `tcp_only` or
    /// `utp_only` (both are always accepted).
    pub transport: TransportMode,
    /// An IP filter file (a blocklist: eMule `.dat`, PeerGuardian `.p2p`, or
    /// addresses, ranges and CIDR blocks, one a line; empty: none), read at
    /// start and on SIGHUP: peers in it are never dialled nor taken.
    pub ip_filter: String,
    /// Addresses, ranges (`a-b`) or CIDR blocks banned besides the file.
    pub banned_ips: Vec<String>,
}

/// Engine threads and IO.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Engine threads, each owning some torrents (0: one per core).
    pub shards: usize,
    /// IO backend: "auto" (io_uring, else epoll), "uring" or "epoll".
    pub io: IoKind,
    /// Milliseconds between resume saves (about the most a crash can cost again).
    pub save_interval_ms: u64,
    /// How downloaded pieces reach the disk: "cached" (through the page
    /// cache) or "direct" (around it where the filesystem allows it).
    pub write_mode: WriteMode,
    /// Torrents checked at once over every engine thread (the others wait
    /// their turn, shown as checking); at least 1.
    pub checks_at_once: usize,
}

/// What a new torrent starts with when its add does not say.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewTorrentsConfig {
    /// Where new torrents download before their files move to their save
    /// path (a storage root's token or a folder inside one; empty: off).
    pub incomplete_path: String,
    /// Added paused.
    pub paused: bool,
    /// Where their files go under the save folder.
    pub content_layout: crate::metainfo::ContentLayout,
    /// One added without a root or folder follows its category (its files go
    /// to the category's save path and move with it); `false`: it is placed
    /// by hand in the default root.
    pub follow_category: bool,
}

impl Default for NewTorrentsConfig {
    fn default() -> NewTorrentsConfig {
        NewTorrentsConfig {
            incomplete_path: String::new(),
            paused: false,
            content_layout: crate::metainfo::ContentLayout::default(),
            follow_category: true,
        }
    }
}

/// The IO backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IoKind {
    /// io_uring where the kernel allows it, else epoll.
    Auto,
    /// io_uring only.
    Uring,
    /// epoll only.
    Epoll,
}

/// Global rate caps and share limits.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Download cap in bytes per second (0: none).
    pub download: u64,
    /// Upload cap in bytes per second (0: none).
    pub upload: u64,
    /// The alternative download cap, bytes per second (0: none).
    pub alt_download: u64,
    /// The alternative upload cap, bytes per second (0: none).
    pub alt_upload: u64,
    /// The schedule switches the alternative caps on in its window.
    pub schedule_enabled: bool,
    /// The window opens (local time).
    pub schedule_from: ClockTime,
    /// The window closes.
    pub schedule_to: ClockTime,
    /// The days it opens on.
    pub schedule_days: ScheduleDays,
    /// Seeding torrents stop at this ratio (-1: none).
    pub ratio: f64,
    /// ... or after this many minutes of seeding (-1: none).
    pub seeding_time_mins: i64,
    /// ... or after this many minutes without uploading (-1: none).
    pub inactive_seeding_time_mins: i64,
    /// What reaching a limit does.
    pub share_action: ShareAction,
}

/// The alternative caps' default, bytes per second (qBittorrent's).
const ALT_LIMIT: u64 = 10 * 1024;

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            download: 0,
            upload: 0,
            alt_download: ALT_LIMIT,
            alt_upload: ALT_LIMIT,
            schedule_enabled: false,
            schedule_from: ClockTime::new(8, 0).expect("on the clock"),
            schedule_to: ClockTime::new(20, 0).expect("on the clock"),
            schedule_days: ScheduleDays::EveryDay,
            ratio: -1.0,
            seeding_time_mins: -1,
            inactive_seeding_time_mins: -1,
            share_action: ShareAction::Pause,
        }
    }
}

/// The DHT: one node per address family for the whole daemon.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DhtSection {
    /// Run the DHT (never for private torrents).
    pub enabled: bool,
    /// The IPv4 node's UDP address (empty: no IPv4 node).
    pub listen: String,
    /// The IPv6 node's UDP address (empty: no IPv6 node).
    pub listen6: String,
    /// Nodes to join the DHT through, `host:port` (used while the saved table
    /// is too small).
    pub bootstrap: Vec<String>,
    /// Queries sent per second per node at most: announces of many torrents
    /// are spread over time under it.
    pub queries_per_sec: u32,
}

impl Default for DhtSection {
    fn default() -> Self {
        DhtSection {
            enabled: true,
            listen: "0.0.0.0:6882".into(),
            listen6: "[::]:6882".into(),
            bootstrap: [
                "router.bittorrent.com:6881",
                "dht.transmissionbt.com:6881",
                "router.utorrent.com:6881",
                "dht.libtorrent.org:25401",
            ]
            .map(String::from)
            .to_vec(),
            queries_per_sec: 50,
        }
    }
}

impl DhtSection {
    /// The node addresses, parsed (`None`: that family is off).
    pub fn addrs(&self) -> Result<(Option<SocketAddr>, Option<SocketAddr>), String> {
        let parse = |s: &str, key: &str, v6: bool| -> Result<Option<SocketAddr>, String> {
            if s.trim().is_empty() {
                return Ok(None);
            }
            let a: SocketAddr = s
                .trim()
                .parse()
                .map_err(|_| format!("dht.{key}: {s:?} is not an address:port"))?;
            if a.is_ipv6() != v6 {
                return Err(format!("dht.{key}: {s:?} is of the other address family"));
            }
            Ok(Some(a))
        };
        Ok((
            parse(&self.listen, "listen", false)?,
            parse(&self.listen6, "listen6", true)?,
        ))
    }
}

/// The queue (off by default: a seedbox seeds everything it holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Queue torrents beyond the limits.
    pub enabled: bool,
    /// Most torrents downloading at once (-1: no limit).
    pub max_active_downloads: i64,
    /// Most complete torrents seeding at once (-1: no limit).
    pub max_active_uploads: i64,
    /// Most torrents running at once (-1: no limit).
    pub max_active_torrents: i64,
    /// Torrents slower than the rates below do not count as active.
    pub ignore_slow_torrents: bool,
    /// Download rate (bytes/s) under which a torrent is slow.
    pub slow_download_rate: u64,
    /// Upload rate (bytes/s) under which a torrent is slow.
    pub slow_upload_rate: u64,
    /// Seconds under both rates before it counts as slow.
    pub slow_inactive_secs: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            enabled: false,
            max_active_downloads: 3,
            max_active_uploads: 3,
            max_active_torrents: 5,
            ignore_slow_torrents: false,
            slow_download_rate: 2048,
            slow_upload_rate: 2048,
            slow_inactive_secs: 60,
        }
    }
}

/// Why these share limits cannot be used, if they cannot (the config's check
/// and the settings' patch both ask).
pub fn share_error(ratio: f64, seeding_mins: i64, inactive_mins: i64) -> Option<String> {
    if !ratio.is_finite() || (ratio < 0.0 && ratio != -1.0) {
        return Some(format!("ratio limit {ratio}: -1 (none) or 0 and more"));
    }
    if seeding_mins < -1 || inactive_mins < -1 {
        return Some("seeding time limits: -1 (none) or 0 and more minutes".into());
    }
    None
}

/// The admin API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address and port of the API and web page (port 0: any free port).
    pub listen: SocketAddr,
    /// Host names the API answers to besides loopback names and its own address
    /// (requests naming any other host are refused: DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// The bearer token; empty: one is made at first start and kept in
    /// `<data_dir>/admin.token` (mode 0600).
    pub token: String,
    /// Seconds a stop (SIGTERM, Ctrl-C) may take: trackers told, data saved.
    pub shutdown_timeout_secs: u64,
    /// Largest request body in bytes (a .torrent upload).
    pub max_body_bytes: usize,
    /// Serve `/metrics` without the token to clients on loopback (a local
    /// Prometheus); from anywhere else it still needs the token.
    pub metrics_without_token: bool,
}

/// The qBittorrent WebAPI v2 layer, on the admin listener under `/api/v2`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct QbitConfig {
    /// The user name clients log in with.
    pub username: String,
    /// The password's PBKDF2 hash in qBittorrent's form
    /// (`@ByteArray(salt:hash)`, as `seedring hash-password` prints it or as
    /// qBittorrent.conf holds it). Empty: the layer is off.
    pub password_hash: String,
    /// Failed logins from one address before it is banned.
    pub max_auth_fail_count: u32,
    /// Seconds a banned address stays banned.
    pub ban_duration_secs: u64,
    /// Seconds a session lasts without requests.
    pub session_timeout_secs: u64,
    /// Clients on loopback need no login.
    pub bypass_local_auth: bool,
    /// Clients in these subnets (`192.168.1.0/24`, `fd00::/8`) need no login.
    pub bypass_auth_subnets: Vec<String>,
}

/// Logs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// What is logged, as a tracing filter ("info", "seedring=debug", ...).
    pub filter: String,
    /// Entries kept in memory for the API's log queries.
    pub ring_size: usize,
}

/// A storage root.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RootConfig {
    /// Its name in the API.
    pub token: String,
    /// What people see.
    #[serde(default)]
    pub label: String,
    /// The folder (relative paths are taken from the daemon's working folder).
    pub path: PathBuf,
    /// Torrents added without a root go here (the first root is the default
    /// unless another says so).
    #[serde(default)]
    pub default: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./seedring-data"),
            peers: PeersConfig::default(),
            engine: EngineConfig::default(),
            limits: LimitsConfig::default(),
            queue: QueueConfig::default(),
            dht: DhtSection::default(),
            api: ApiConfig::default(),
            qbittorrent: QbitConfig::default(),
            log: LogConfig::default(),
            new_torrents: NewTorrentsConfig::default(),
            hooks: HooksConfig::default(),
            roots: vec![RootConfig {
                token: "default".into(),
                label: "Downloads".into(),
                path: PathBuf::from("./downloads"),
                default: true,
            }],
            watch: Vec::new(),
        }
    }
}

impl Default for PeersConfig {
    fn default() -> Self {
        PeersConfig {
            listen: SocketAddr::from((core::net::Ipv6Addr::UNSPECIFIED, 6881)),
            max_connections: 500,
            max_connections_per_torrent: 60,
            max_half_open: 50,
            upload_slots: 4,
            max_upload_slots: 64,
            upload_slot_mode: SlotMode::FillUplink,
            pex: true,
            lsd: false,
            announce_to: Reach::EveryTier,
            encryption: Encryption::PreferPlaintext,
            transport: TransportMode::PreferTcp,
            ip_filter: String::new(),
            banned_ips: Vec::new(),
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            shards: 0,
            io: IoKind::Auto,
            save_interval_ms: 5000,
            write_mode: WriteMode::Cached,
            checks_at_once: 1,
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            allowed_hosts: Vec::new(),
            token: String::new(),
            shutdown_timeout_secs: 10,
            max_body_bytes: 16 << 20,
            metrics_without_token: false,
        }
    }
}

impl Default for QbitConfig {
    fn default() -> Self {
        QbitConfig {
            username: "admin".into(),
            password_hash: String::new(),
            max_auth_fail_count: 5,
            ban_duration_secs: 3600,
            session_timeout_secs: 3600,
            bypass_local_auth: false,
            bypass_auth_subnets: Vec::new(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info".into(),
            ring_size: 10_000,
        }
    }
}

/// The defaults, with a comment on every key: what `--print-config` prints.
pub const DEFAULT_CONFIG: &str = include_str!("default_config.toml");

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a bad key or value.
    #[error("{path}, line {line}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Its 1-based line.
        line: usize,
        /// What is wrong, with the key.
        message: String,
    },
    /// The values parse but do not fit together.
    #[error("{0}")]
    Inconsistent(String),
}

impl Config {
    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses configuration text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| {
                text[..s.start.min(text.len())].matches('\n').count() + 1
            });
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                message: e.message().trim().to_owned(),
            }
        })?;
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Inconsistent(m));
        let mut tokens = std::collections::BTreeSet::new();
        for r in &self.roots {
            if r.token.is_empty() {
                return bad("roots: a root has an empty token".into());
            }
            if !tokens.insert(&r.token) {
                return bad(format!("roots: token {:?} is used twice", r.token));
            }
        }
        let mut watched = std::collections::BTreeSet::new();
        for w in &self.watch {
            if w.dir.as_os_str().is_empty() {
                return bad("watch: a watch folder has an empty dir".into());
            }
            if !watched.insert(&w.dir) {
                return bad(format!("watch: {} is watched twice", w.dir.display()));
            }
        }
        if self.roots.iter().filter(|r| r.default).count() > 1 {
            return bad("roots: more than one root says default = true".into());
        }
        if let Some(e) = super::ipfilter::bad_entry(&self.peers.banned_ips) {
            return bad(format!(
                "peers.banned_ips: {e:?} is not an address, a range or a CIDR block"
            ));
        }
        if let Some(why) = self.hooks.error() {
            return bad(why);
        }
        if self.log.ring_size == 0 {
            return bad("log.ring_size: must be at least 1".into());
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.filter).is_err() {
            return bad(format!("log.filter: {:?} is not a filter", self.log.filter));
        }
        match self.dht.addrs() {
            Err(why) => return bad(why),
            // uTP listens on the peer port's number over UDP, whatever the
            // transport mode (incoming uTP is always accepted).
            Ok((v4, v6)) if self.dht.enabled => {
                let port = self.peers.listen.port();
                if let Some(a) = [v4, v6]
                    .into_iter()
                    .flatten()
                    .find(|a| port != 0 && a.port() == port)
                {
                    return bad(format!(
                        "dht: {a} is on the peer port {port}, where uTP listens over UDP: give the DHT another port"
                    ));
                }
            }
            Ok(_) => {}
        }
        if self.dht.queries_per_sec == 0 {
            return bad("dht.queries_per_sec: must be at least 1".into());
        }
        if self.engine.checks_at_once == 0 {
            return bad("engine.checks_at_once: must be at least 1".into());
        }
        if self.peers.max_connections == 0 || self.peers.max_connections_per_torrent == 0 {
            return bad("peers: connection caps must be at least 1".into());
        }
        if let Some(why) = slots_error(self.peers.upload_slots, self.peers.max_upload_slots) {
            return bad(format!("peers: {why}"));
        }
        let l = &self.limits;
        if let Some(why) = share_error(l.ratio, l.seeding_time_mins, l.inactive_seeding_time_mins) {
            return bad(format!("limits: {why}"));
        }
        if !self.qbittorrent.password_hash.trim().is_empty()
            && let Err(why) = super::qbit::login::Logins::from_config(&self.qbittorrent)
        {
            return bad(why);
        }
        Ok(())
    }
}

/// Why these upload slot counts cannot be used, if they cannot (the config's
/// check and the settings' patch both ask).
pub fn slots_error(upload_slots: usize, max_upload_slots: usize) -> Option<&'static str> {
    (upload_slots == 0 || max_upload_slots < upload_slots)
        .then_some("upload_slots must be at least 1, and max_upload_slots at least upload_slots")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_defaults_parse_back_unchanged() {
        let cfg = Config::parse(DEFAULT_CONFIG, Path::new("defaults")).unwrap();
        assert_eq!(cfg, Config::default());
        // Every key carries a comment on the line above it.
        let lines: Vec<&str> = DEFAULT_CONFIG.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let key = l.contains(" = ") && !l.starts_with('#');
            let in_roots =
                lines[..i].iter().rev().find(|x| x.starts_with('[')) == Some(&"[[roots]]");
            if key && !in_roots {
                assert!(lines[i - 1].starts_with('#'), "no comment above {l:?}");
            }
        }
    }

    #[test]
    fn write_mode_takes_direct_or_cached_and_names_a_bad_one() {
        let cfg = Config::parse("[engine]\nwrite_mode = \"direct\"\n", Path::new("c")).unwrap();
        assert_eq!(cfg.engine.write_mode, WriteMode::Direct);
        assert_eq!(Config::default().engine.write_mode, WriteMode::Cached);
        let e = Config::parse("[engine]\nwrite_mode = \"fast\"\n", Path::new("c")).unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("line 2") && e.contains("`cached` or `direct`"),
            "{e}"
        );
    }

    #[test]
    fn checks_at_once_is_at_least_one() {
        let cfg = Config::parse("[engine]\nchecks_at_once = 3\n", Path::new("c")).unwrap();
        assert_eq!(cfg.engine.checks_at_once, 3);
        let e = Config::parse("[engine]\nchecks_at_once = 0\n", Path::new("c")).unwrap_err();
        assert!(
            e.to_string()
                .contains("engine.checks_at_once: must be at least 1"),
            "{e}"
        );
    }

    #[test]
    fn the_deploy_sample_parses() {
        let text = include_str!("../../deploy/seedring.toml");
        let cfg = Config::parse(text, Path::new("deploy/seedring.toml")).unwrap();
        assert_eq!(cfg.roots.len(), 2);
        assert_eq!(cfg.data_dir, PathBuf::from("/var/lib/seedring"));
    }

    #[test]
    fn the_dht_keeps_off_the_peer_port_that_utp_listens_on() {
        let e = Config::parse("[dht]\nlisten6 = \"[::]:6881\"\n", Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("where uTP listens"), "{e}");
        // Off, or on any free port, it is no clash.
        Config::parse(
            "[dht]\nenabled = false\nlisten = \"0.0.0.0:6881\"\n",
            Path::new("c"),
        )
        .unwrap();
        Config::parse(
            "[peers]\nlisten = \"[::]:0\"\n[dht]\nlisten = \"0.0.0.0:0\"\n",
            Path::new("c"),
        )
        .unwrap();
        let d = Config::default();
        let (v4, v6) = d.dht.addrs().unwrap();
        assert!(
            [v4, v6]
                .iter()
                .flatten()
                .all(|a| a.port() != d.peers.listen.port())
        );
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        assert_eq!(
            Config::parse("", Path::new("x")).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key_and_line() {
        let e = Config::parse("[peers]\nmax_conections = 5\n", Path::new("c.toml")).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("c.toml, line 2") && m.contains("max_conections"),
            "{m}"
        );
        let e = Config::parse("\n\n[engine]\nio = \"kqueue\"\n", Path::new("c.toml")).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("line 4") && m.contains("kqueue"), "{m}");
        let e = Config::parse("[peers]\nlisten = \"nowhere\"\n", Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = Config::parse("[log]\nring_size = 0\n", Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("ring_size"), "{e}");
    }
}
