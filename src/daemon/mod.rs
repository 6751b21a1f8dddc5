//! `seedring daemon`: the engine as a service, driven over an authenticated HTTP
//! API.
//!
//! What it owns: the configuration ([`config`]), the token and host checks
//! ([`auth`]), the run-time settings ([`settings`]), the API ([`api`], with the
//! routes in [`torrents`] and [`admin`]), and the life of the process: start, the
//! bound addresses written to `<data_dir>/admin.addr`, SIGHUP reloads, and a stop
//! (SIGTERM, SIGINT) that tells the trackers and saves everything within
//! `api.shutdown_timeout_secs`.
//!
//! The HTTP server runs on its own small tokio runtime (the control plane); the
//! engine's shards are untouched by it: every call is an async engine call.

pub mod add;
pub mod admin;
pub mod api;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod details;
pub mod hooks;
pub mod incomplete;
pub mod ipfilter;
pub mod json_text;
pub mod metrics;
pub mod notify;
pub mod qbit;
pub mod rename;
pub mod rows;
pub mod schedule;
pub mod serve;
pub mod settings;
pub mod stream;
pub mod torrents;
pub mod views;
pub mod watch;
pub mod web;

#[cfg(test)]
mod start_tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Engine;
use crate::core::CoreConfig;
use crate::logring::LogRing;
use crate::shard::{IoChoice, ShardConfig};
use config::{Config, IoKind};
use settings::{Settings, SettingsPatch};

/// Why the daemon could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A file or folder of the daemon's could not be made or read.
    #[error("{what}: {source}")]
    Io {
        /// Which.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// The engine did not start.
    #[error("the engine did not start: {0}")]
    Engine(String),
    /// A configured storage root could not be set up.
    #[error("storage root {token:?}: {why}")]
    Root {
        /// The root.
        token: String,
        /// Why.
        why: String,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

/// How the log filter of the running process is changed (the binary owns the
/// subscriber; the daemon only asks).
pub type FilterSetter = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Runs the daemon until SIGTERM or SIGINT. `config_file` is read again on
/// SIGHUP (`None`: the embedded defaults, nothing to reload).
///
/// The process's main loop, called once per process: after a stop that saved
/// everything, the engine's memory and threads are left for the process's
/// exit to end, not freed (see the stop in `serve`).
pub fn run(
    cfg: Config,
    config_file: Option<PathBuf>,
    logs: LogRing,
    set_log_filter: FilterSetter,
) -> Result<(), DaemonError> {
    let (engine, served) = prepare(&cfg)?;
    // The control plane: two threads are plenty for the API.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sr-api")
        .enable_all()
        .build()
        .map_err(io_err("cannot start the API runtime"))?;
    rt.block_on(serve(
        cfg,
        config_file,
        engine,
        logs,
        set_log_filter,
        served,
    ))
}

/// The daemon's API without a listener or signals, for driving its router in
/// process (the API fuzz target): the engine started with the config's roots
/// and saved settings, and the router as it would answer at `api_addr`.
#[derive(Debug)]
pub struct Local {
    /// The engine.
    pub engine: Engine,
    /// Every route, behind the same guards as when served.
    pub router: axum::Router,
    /// The admin API's token.
    pub token: String,
}

/// Starts [`Local`]: `rt` is the runtime the router's futures will run on.
pub fn local(
    cfg: &Config,
    api_addr: SocketAddr,
    rt: &tokio::runtime::Runtime,
) -> Result<Local, DaemonError> {
    let (engine, served) = prepare(cfg)?;
    let token = served.token.clone();
    let set_log_filter: FilterSetter = Box::new(|_| Ok(()));
    let app = rt.block_on(make_app(
        cfg,
        &engine,
        LogRing::new(cfg.log.ring_size),
        set_log_filter,
        served,
        api_addr,
        None,
    ))?;
    let router = api::router(app, cfg.api.max_body_bytes);
    Ok(Local {
        engine,
        router,
        token,
    })
}

/// Before serving: the data folder, the token, the engine with its roots, and
/// the settings (the config's, patched by those saved over the API).
fn prepare(cfg: &Config) -> Result<(Engine, Served), DaemonError> {
    let data_dir = absolute(&cfg.data_dir)?;
    std::fs::create_dir_all(&data_dir).map_err(io_err(format!(
        "cannot create the data folder {}",
        data_dir.display()
    )))?;
    let token_file = data_dir.join("admin.token");
    let (token, made) = auth::load_or_make_token(&cfg.api.token, &token_file)
        .map_err(io_err(format!("token file {}", token_file.display())))?;
    if made {
        tracing::info!(path = %token_file.display(), "made a new API token (mode 0600)");
    } else if cfg.api.token.is_empty() {
        tracing::info!(path = %token_file.display(), "API token read from its file");
    }

    let settings_file = data_dir.join("settings.json");
    let saved = SettingsPatch::load(&settings_file).map_err(|e| DaemonError::Io {
        what: "saved settings".into(),
        source: std::io::Error::other(e),
    })?;
    let settings = Settings::from_config(cfg)
        .patched(&saved)
        .map_err(|e| DaemonError::Io {
            what: format!("saved settings {}", settings_file.display()),
            source: std::io::Error::other(e),
        })?;
    let ip_file =
        ipfilter::read_file(&cfg.peers.ip_filter).map_err(config::ConfigError::Inconsistent)?;
    // In force before the first torrent is restored.
    let ip_filter = ipfilter::joined(&ip_file, &settings.banned_ips);
    if !ip_filter.is_empty() {
        tracing::info!(ranges = ip_filter.len(), "IP filter loaded");
    }
    // Bounded at the shards (`MILESTONE_QUEUE`): full, a milestone is
    // dropped and said so.
    let (milestones_tx, milestones) = flume::bounded(crate::shard::MILESTONE_QUEUE);
    // Bounded: the last `PEER_LOG_ENTRIES` notes, the oldest dropped.
    let peer_log = crate::peerlog::PeerLog::new();
    let engine = start_engine(
        cfg,
        &settings,
        &data_dir,
        ip_filter,
        milestones_tx,
        peer_log.clone(),
    )?;
    set_up_roots(&engine, cfg)?;
    let mut settings = settings;
    if !settings.incomplete_path.is_empty()
        && let Err(e) = engine.root_for_save_path(&settings.incomplete_path)
    {
        if settings.incomplete_path == cfg.new_torrents.incomplete_path.trim() {
            return Err(config::ConfigError::Inconsistent(format!(
                "new_torrents.incomplete_path: {e}"
            ))
            .into());
        }
        tracing::error!(path = %settings.incomplete_path, error = %e,
            "the incomplete folder set over the API is not usable: off until set again");
        settings.incomplete_path.clear();
    }
    Ok((
        engine,
        Served {
            token,
            data_dir,
            settings,
            settings_file,
            ip_file,
            milestones,
            peer_log,
        },
    ))
}

struct Served {
    token: String,
    data_dir: PathBuf,
    settings: Settings,
    settings_file: PathBuf,
    /// The IP filter file's ranges (see `ipfilter`).
    ip_file: crate::ipfilter::IpFilter,
    /// The torrents' milestones, for the hooks.
    milestones: flume::Receiver<(crate::types::InfoHash, crate::core::Milestone)>,
    /// Peers refused or banned, for `log/peers`.
    peer_log: crate::peerlog::PeerLog,
}

async fn serve(
    cfg: Config,
    config_file: Option<PathBuf>,
    engine: Engine,
    logs: LogRing,
    set_log_filter: FilterSetter,
    s: Served,
) -> Result<(), DaemonError> {
    let listener = tokio::net::TcpListener::bind(cfg.api.listen)
        .await
        .map_err(io_err(format!("cannot listen on {}", cfg.api.listen)))?;
    let api_addr = listener.local_addr().map_err(io_err("the API's address"))?;
    let peer_addr = engine.listen_addr();
    let dht = start_dht(&cfg, &engine);
    let lsd = if cfg.peers.lsd {
        crate::net::lsd::LsdService::start(engine.clone(), peer_addr.port())
            .inspect_err(|e| tracing::error!(error = %e, "lsd: cannot start; running without it"))
            .ok()
    } else {
        None
    };
    let dht_addrs = dht.as_ref().map(|d| d.addrs.clone()).unwrap_or_default();
    write_addr_file(&s.data_dir, api_addr, peer_addr, &dht_addrs)?;
    let dht_stats = dht.as_ref().map(crate::net::dht::DhtService::stats_handle);
    let milestones = s.milestones.clone();
    let app = make_app(&cfg, &engine, logs, set_log_filter, s, api_addr, dht_stats).await?;
    tracing::info!(api = %api_addr, peers = %peer_addr, web = %format!("http://{api_addr}/"), "seedring daemon ready");
    let router = api::router(app.clone(), cfg.api.max_body_bytes);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signals = tokio::spawn(watch_signals(app.clone(), config_file, stop_tx));
    let books = tokio::spawn(keep_books(engine.clone()));
    let timetable = tokio::spawn(schedule::follow(app.clone()));
    let watcher = tokio::spawn(watch::follow(app.clone()));
    // Not stopped with the rest: programs running at a stop run on.
    tokio::spawn(hooks::follow(app.clone(), milestones));
    // The API is bound and routed: systemd may start what depends on us.
    notify::tell("READY=1");
    let watchdog = notify::watchdog_interval()
        .map(|every| tokio::spawn(notify::watchdog(engine.clone(), every)));
    let grace = Duration::from_secs(cfg.api.shutdown_timeout_secs.max(1)).mul_f32(0.3);
    serve::serve(listener, router, stop_rx, grace).await;
    signals.abort();
    books.abort();
    timetable.abort();
    watcher.abort();
    notify::tell("STOPPING=1");
    if let Some(w) = watchdog {
        w.abort();
    }
    // Stopping: no new request is taken; the trackers hear `stopped` and every
    // torrent is saved, within the bound.
    let bound = Duration::from_secs(cfg.api.shutdown_timeout_secs.max(1));
    let stop = tokio::task::spawn_blocking(move || {
        if let Some(d) = dht {
            d.stop();
        }
        if let Some(l) = lsd {
            l.stop();
        }
        let wait = bound.mul_f32(0.6);
        let saved = match engine.shut_down(wait) {
            Ok(0) => {
                tracing::info!("stopped: trackers told, resume data saved");
                true
            }
            Ok(n) => {
                tracing::warn!(
                    unanswered = n,
                    "stopped: resume data saved; some trackers did not answer"
                );
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "stopping: not everything was saved");
                false
            }
        };
        if saved {
            // Everything is committed and synced: what is left of the engine
            // is memory, which the process's exit hands back at once, and
            // threads, which end with it. Dropping it freed every torrent an
            // allocation at a time (11 s of a stop at a million torrents).
            std::mem::forget(engine);
        } else {
            drop(engine);
        }
    });
    if tokio::time::timeout(bound, stop).await.is_err() {
        // The process still waits for the save (the runtime's end waits for
        // its blocking task): said so, since a service manager may kill it
        // now. Killed, the store stays as of its last commit.
        tracing::error!(
            secs = bound.as_secs(),
            "the stop is taking longer than api.shutdown_timeout_secs: still saving"
        );
    }
    Ok(())
}

/// The API's state: the saved settings applied to the engine, the qBittorrent
/// layer if its credentials are set, the guard answering at `api_addr`.
async fn make_app(
    cfg: &Config,
    engine: &Engine,
    logs: LogRing,
    set_log_filter: FilterSetter,
    s: Served,
    api_addr: SocketAddr,
    dht: Option<crate::net::dht::DhtStatsHandle>,
) -> Result<api::Shared, DaemonError> {
    if let Err(e) = s.settings.apply(engine).await {
        tracing::error!(error = %e, "settings not applied");
    }
    if s.settings.log_filter != cfg.log.filter
        && let Err(e) = set_log_filter(&s.settings.log_filter)
    {
        tracing::error!(error = %e, "saved log filter not applied");
    }
    let qbit = if cfg.qbittorrent.password_hash.trim().is_empty() {
        tracing::info!(
            "the qBittorrent API (/api/v2) is off: set qbittorrent.password_hash in the config (make one with `seedring hash-password`)"
        );
        None
    } else {
        let q = qbit::Qbit::new(&cfg.qbittorrent).map_err(config::ConfigError::Inconsistent)?;
        tracing::info!(url = %format!("http://{api_addr}/api/v2"), user = %cfg.qbittorrent.username, "qBittorrent API on");
        Some(q)
    };
    let watched = watch_dirs(cfg)?;
    say_watched(&watched);
    Ok(Arc::new(api::App {
        engine: engine.clone(),
        logs,
        peer_log: s.peer_log,
        guard: auth::Guard::new(s.token, api_addr, cfg.api.allowed_hosts.clone()),
        settings: Mutex::new(s.settings),
        settings_file: s.settings_file,
        ip_file: Mutex::new(Arc::new(s.ip_file)),
        set_log_filter,
        // The daemon's uptime clock.
        #[allow(clippy::disallowed_methods)]
        started: Instant::now(),
        metrics_public: cfg.api.metrics_without_token,
        qbit,
        qbit_config: cfg.qbittorrent.clone(),
        peers_config: cfg.peers.clone(),
        write_mode: cfg.engine.write_mode,
        api_addr,
        dht,
        shutdown: tokio::sync::Notify::new(),
        watch: Mutex::new(Arc::new(watched)),
        hooks: Mutex::new(Arc::new(cfg.hooks.clone())),
    }))
}

/// The DHT nodes, if the config turns them on (a failure to bind is said and
/// the daemon runs without).
fn start_dht(cfg: &Config, engine: &Engine) -> Option<crate::net::dht::DhtService> {
    if !cfg.dht.enabled {
        tracing::info!("dht: off (dht.enabled = false)");
        return None;
    }
    let (listen, listen6) = cfg.dht.addrs().ok()?;
    let svc = crate::net::dht::DhtServiceConfig {
        listen,
        listen6,
        bootstrap: cfg.dht.bootstrap.clone(),
        queries_per_sec: cfg.dht.queries_per_sec,
        peer_port: engine.listen_addr().port(),
    };
    match crate::net::dht::DhtService::start(engine.clone(), svc) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::error!(error = %e, "dht: cannot start; running without it");
            None
        }
    }
}

/// Every 2 s: the queue balanced (torrents queued and started as its limits
/// say), two shards' links to one hybrid merged, and the torrents a core
/// removed by itself forgotten in the engine's books (their root, the shard's
/// count).
async fn keep_books(engine: Engine) {
    let mut every = tokio::time::interval(Duration::from_secs(2));
    loop {
        every.tick().await;
        if engine.queue_limits().enabled
            && let Err(e) = engine.balance_queue_async().await
        {
            tracing::warn!(error = %e, "queue not balanced");
        }
        match engine.reconcile_async().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(removed = n, "torrents removed by their core forgotten"),
            Err(e) => tracing::warn!(error = %e, "removals by the cores not reconciled"),
        }
    }
}

/// SIGTERM and SIGINT stop; SIGHUP reloads the config's run-time settings.
async fn watch_signals(
    app: api::Shared,
    config_file: Option<PathBuf>,
    stop: tokio::sync::watch::Sender<bool>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot watch signals: stop the daemon with SIGKILL");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reload(&app, config_file.as_deref()).await,
            () = app.shutdown.notified() => break,
        }
    }
    tracing::info!("stopping");
    let _receiver_gone_means_stopped = stop.send(true);
}

/// SIGHUP: the config file again; what can change at run time is applied (API
/// changes saved in settings.json still win), and each change is logged.
async fn reload(app: &api::Shared, config_file: Option<&Path>) {
    let Some(path) = config_file else {
        tracing::info!("SIGHUP: no config file to reload (running on the defaults)");
        return;
    };
    let cfg = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "SIGHUP: config not reloaded");
            return;
        }
    };
    let saved = SettingsPatch::load(&app.settings_file).unwrap_or_default();
    let after = match Settings::from_config(&cfg).patched(&saved) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "SIGHUP: config not reloaded");
            return;
        }
    };
    let before = app
        .settings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if let Err(e) = after.apply(&app.engine).await {
        tracing::error!(error = %e, "SIGHUP: settings not applied");
        return;
    }
    if after.log_filter != before.log_filter
        && let Err(e) = (app.set_log_filter)(&after.log_filter)
    {
        tracing::error!(error = %e, "SIGHUP: log filter not changed");
    }
    // The file again (a blocklist updater replaces it, then sends SIGHUP).
    let file = match ipfilter::read_file(&cfg.peers.ip_filter) {
        Ok(f) => {
            let f = Arc::new(f);
            *app.ip_file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::clone(&f);
            Some(f)
        }
        Err(e) => {
            tracing::error!(error = %e, "SIGHUP: IP filter file not read; the one in force stays");
            None
        }
    };
    let file = file.unwrap_or_else(|| app.ip_file());
    match ipfilter::apply(&app.engine, &file, &after.banned_ips).await {
        Ok(ranges) => tracing::info!(ranges, "SIGHUP: IP filter read again"),
        Err(e) => tracing::error!(error = %e, "SIGHUP: IP filter not changed"),
    }
    match watch_dirs(&cfg) {
        Ok(dirs) if *app.watch_dirs() != dirs => {
            say_watched(&dirs);
            *app.watch
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(dirs);
            tracing::info!("SIGHUP: watch folders read again");
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "SIGHUP: watch folders not changed"),
    }
    if let Some(why) = cfg.hooks.error() {
        tracing::error!(error = %why, "SIGHUP: hooks not changed");
    } else if *app.hooks() != cfg.hooks {
        *app.hooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(cfg.hooks.clone());
        tracing::info!(on_added = %cfg.hooks.on_added, on_finished = %cfg.hooks.on_finished, "SIGHUP: hooks read again");
    }
    let changes = after.changes_from(&before);
    if changes.is_empty() {
        tracing::info!("SIGHUP: config reloaded, nothing changed");
    }
    for c in changes {
        tracing::info!(change = %c, "SIGHUP: setting changed");
    }
    *app.settings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = after;
}

/// The config's watch folders, their paths made absolute.
fn watch_dirs(cfg: &Config) -> Result<Vec<watch::WatchDir>, DaemonError> {
    let mut out = Vec::with_capacity(cfg.watch.len());
    for w in &cfg.watch {
        let mut w = w.clone();
        w.dir = absolute(&w.dir)?;
        out.push(w);
    }
    Ok(out)
}

/// Says which folders are watched.
fn say_watched(dirs: &[watch::WatchDir]) {
    for w in dirs {
        tracing::info!(dir = %w.dir.display(), category = %w.category, "watching for .torrent and .magnet files");
    }
}

fn absolute(p: &Path) -> Result<PathBuf, DaemonError> {
    std::path::absolute(p).map_err(io_err(format!("path {}", p.display())))
}

/// The engine, with the settings in force (the config's, patched by those
/// saved over the API) before its first torrent is restored: started without
/// them, restored torrents dialled their peers uncapped until the API came
/// up and applied them.
fn start_engine(
    cfg: &Config,
    settings: &Settings,
    data_dir: &Path,
    ip_filter: crate::ipfilter::IpFilter,
    milestones: crate::shard::MilestoneSender,
    peer_log: crate::peerlog::PeerLog,
) -> Result<Engine, DaemonError> {
    let (download, upload) = settings.limits_in_force();
    let core = CoreConfig {
        ip_filter: std::sync::Arc::new(ip_filter),
        download_rate_limit: download,
        upload_rate_limit: upload,
        max_connections: settings.max_connections,
        max_connections_per_torrent: settings.max_connections_per_torrent,
        max_half_open: settings.max_half_open,
        unchoke_slots: settings.upload_slots,
        max_unchoke_slots: settings.max_upload_slots,
        slot_mode: settings.upload_slot_mode,
        pex: cfg.peers.pex,
        tracker_reach: settings.announce_to,
        encryption: cfg.peers.encryption,
        transport: cfg.peers.transport,
        save_interval: Duration::from_millis(cfg.engine.save_interval_ms.max(100)),
        checks_at_once: settings.checks_at_once.max(1),
        share: settings.global_share(),
        ..CoreConfig::default()
    };
    let shard_cfg = ShardConfig {
        shards: cfg.engine.shards,
        state_dir: Some(data_dir.join("state")),
        write_mode: cfg.engine.write_mode,
        milestones: Some(milestones),
        peer_log: Some(peer_log),
        queue: settings.queue_limits(),
        ..ShardConfig::new(core, cfg.peers.listen)
    };
    let io = match cfg.engine.io {
        IoKind::Auto => IoChoice::Auto,
        IoKind::Uring => IoChoice::Uring,
        IoKind::Epoll => IoChoice::Epoll,
    };
    let engine = Engine::start(shard_cfg, io).map_err(|e| DaemonError::Engine(e.to_string()))?;
    match engine.io_fallback_reason() {
        Some(why) => tracing::warn!(reason = why, "io: epoll"),
        None => tracing::info!(
            io = engine.io_backend(),
            shards = engine.shards(),
            "engine started"
        ),
    }
    let report = engine.restore_report();
    tracing::info!(
        torrents = report.restored,
        "torrents restored from the store"
    );
    for (what, why) in &report.failed {
        tracing::error!(what = %what, reason = %why, "cannot restore");
    }
    Ok(engine)
}

/// The configured roots: added (with their marker) if new; a token already known
/// with another folder is an error (the store says where its torrents are).
fn set_up_roots(engine: &Engine, cfg: &Config) -> Result<(), DaemonError> {
    // The roots only: counting their torrents would ask every shard for
    // its whole list before the API is up.
    let known = engine.root_list();
    for r in &cfg.roots {
        let path = absolute(&r.path)?;
        let label = if r.label.is_empty() {
            &r.token
        } else {
            &r.label
        };
        match known.iter().find(|k| k.token == r.token) {
            Some(k) if k.path == path => {}
            Some(k) => {
                return Err(DaemonError::Root {
                    token: r.token.clone(),
                    why: format!(
                        "the config says {} but its torrents are in {}; move them over the API first",
                        path.display(),
                        k.path.display()
                    ),
                });
            }
            None => {
                engine
                    .add_root(&r.token, label, &path)
                    .map_err(|e| DaemonError::Root {
                        token: r.token.clone(),
                        why: e.to_string(),
                    })?;
                tracing::info!(token = %r.token, path = %path.display(), "storage root added");
            }
        }
    }
    if let Some(d) = cfg.roots.iter().find(|r| r.default) {
        engine
            .set_default_root(&d.token)
            .map_err(|e| DaemonError::Root {
                token: d.token.clone(),
                why: e.to_string(),
            })?;
    }
    Ok(())
}

/// `<data_dir>/admin.addr`: `api=ADDR` and `peers=ADDR` lines, for clients.
fn write_addr_file(
    dir: &Path,
    api: SocketAddr,
    peers: SocketAddr,
    dht: &[SocketAddr],
) -> Result<(), DaemonError> {
    let file = dir.join("admin.addr");
    let tmp = dir.join("admin.addr.tmp");
    let mut text = format!("api={api}\npeers={peers}\n");
    for a in dht {
        let key = if a.is_ipv6() { "dht6" } else { "dht" };
        text.push_str(&format!("{key}={a}\n"));
    }
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &file))
        .map_err(io_err(format!("cannot write {}", file.display())))
}
