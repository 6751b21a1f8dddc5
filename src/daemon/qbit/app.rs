//! `auth/*`, `app/*` and `transfer/*`.

use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::super::admin::change_settings;
use super::super::api::Shared;
use super::super::schedule::ScheduleDays;
use super::super::settings::SettingsPatch;
use super::login::Login;
use super::paired;
use super::{Params, QbError, done, json as answer, ok, sid, text};
use crate::core::ShareAction;

/// `auth/login`: `Ok.` and the `SID` cookie, `Fails.`, or 403 for a banned
/// address.
pub async fn login(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    p: Params,
) -> Response {
    if app.qbit.is_none() {
        return super::off().await;
    }
    let user = p.get("username").unwrap_or("").to_owned();
    let pass = p.get("password").unwrap_or("").to_owned();
    let app2 = app.clone();
    // PBKDF2 with 100,000 rounds: off the runtime.
    let got = tokio::task::spawn_blocking(move || {
        #[allow(clippy::disallowed_methods)] // bans and sessions age in wall time
        let now = Instant::now();
        let q = app2.qbit.as_ref().expect("checked above");
        q.logins.login(peer.ip(), &user, &pass, now)
    })
    .await;
    match got {
        Ok(Login::Ok(sid)) => {
            let cookie = format!("SID={sid}; HttpOnly; SameSite=Strict; path=/api");
            let mut r = ok();
            if let Ok(v) = cookie.parse() {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Ok(Login::Failed) => text(StatusCode::OK, "Fails."),
        Ok(Login::Banned) => text(
            StatusCode::FORBIDDEN,
            "Your IP address has been banned after too many failed authentication attempts.",
        ),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `auth/logout`.
pub async fn logout(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if let (Some(q), Some(s)) = (&app.qbit, sid(&headers)) {
        q.logins.logout(s);
        q.sync_lock().forget(s);
    }
    done()
}

/// `app/version`.
pub async fn version() -> Response {
    text(StatusCode::OK, super::QBT_VERSION)
}

/// `app/webapiVersion`.
pub async fn webapi_version() -> Response {
    text(StatusCode::OK, super::WEBAPI_VERSION)
}

/// `app/shutdown`: the daemon stops as on SIGTERM (this answer goes out
/// first).
pub async fn shutdown(State(app): State<Shared>) -> Response {
    tracing::info!("stop asked for over the qBittorrent API");
    app.shutdown.notify_one();
    text(StatusCode::OK, "")
}

/// `app/buildInfo`: the engine is seedring, said where qBittorrent names its
/// libtorrent.
pub async fn build_info() -> Response {
    answer(&json!({
        "bitness": 64,
        "boost": "",
        "libtorrent": concat!("seedring ", env!("CARGO_PKG_VERSION")),
        "openssl": "",
        "qt": "",
        "zlib": "",
    }))
}

/// qBittorrent's preferences with the values seedring has no setting for
/// (features it does not have are off; limits it does not enforce are
/// qBittorrent's "none"). Keys with a seedring meaning are filled in by
/// [`preferences`].
const PREFERENCE_DEFAULTS: &str = include_str!("preferences.json");

/// Preferences `setPreferences` changes in seedring's settings.
const MAPPED: &[&str] = &[
    "queueing_enabled",
    "max_active_downloads",
    "max_active_uploads",
    "max_active_torrents",
    "dont_count_slow_torrents",
    "slow_torrent_dl_rate_threshold",
    "slow_torrent_ul_rate_threshold",
    "slow_torrent_inactive_timer",
    "max_ratio_enabled",
    "max_ratio",
    "max_seeding_time_enabled",
    "max_seeding_time",
    "max_ratio_act",
    "dl_limit",
    "up_limit",
    "alt_dl_limit",
    "alt_up_limit",
    "scheduler_enabled",
    "schedule_from_hour",
    "schedule_from_min",
    "schedule_to_hour",
    "schedule_to_min",
    "scheduler_days",
    "max_connec",
    "max_connec_per_torrent",
    "max_uploads_per_torrent",
    "max_active_checking_torrents",
    "temp_path_enabled",
    "temp_path",
    "start_paused_enabled",
    "torrent_content_layout",
    "announce_to_all_tiers",
    "announce_to_all_trackers",
    "auto_tmm_enabled",
];

/// Preferences that say what seedring is or does and cannot be changed here
/// (changing them is accepted and answered with the real value after).
const FIXED: &[&str] = &[
    "save_path",
    "listen_port",
    "web_ui_port",
    "web_ui_username",
    "web_ui_max_auth_fail_count",
    "web_ui_ban_duration",
    "web_ui_session_timeout",
    "bypass_local_auth",
    "bypass_auth_subnet_whitelist",
    "bypass_auth_subnet_whitelist_enabled",
    "dht",
    "pex",
    "lsd",
    "encryption",
    "disk_io_write_mode",
    "upnp",
    "ip_filter_enabled",
    "ip_filter_path",
    "ip_filter_trackers",
    "scan_dirs",
    "autorun_enabled",
    "autorun_program",
    "autorun_on_torrent_added_enabled",
    "autorun_on_torrent_added_program",
    "bittorrent_protocol",
    // A managed torrent always moves with its category and its category's
    // folder (qBittorrent's "relocate" for both).
    "torrent_changed_tmm_enabled",
    "category_changed_tmm_enabled",
];

fn prefs(app: &Shared) -> Map<String, Value> {
    let mut m: Map<String, Value> =
        serde_json::from_str(PREFERENCE_DEFAULTS).expect("preferences.json is JSON");
    let q = app.qbit.as_ref().expect("the layer is on");
    m.extend(q.kept_prefs_lock().clone());
    let s = app
        .settings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let c = &app.qbit_config;
    let mut set = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    set("dl_limit", json!(s.download_limit));
    set("up_limit", json!(s.upload_limit));
    set("alt_dl_limit", json!(s.alt_download_limit));
    set("alt_up_limit", json!(s.alt_upload_limit));
    set("scheduler_enabled", json!(s.schedule_enabled));
    set("schedule_from_hour", json!(s.schedule_from.hour()));
    set("schedule_from_min", json!(s.schedule_from.minute()));
    set("schedule_to_hour", json!(s.schedule_to.hour()));
    set("schedule_to_min", json!(s.schedule_to.minute()));
    set("scheduler_days", json!(s.schedule_days.qbit()));
    set("start_paused_enabled", json!(s.add_paused));
    set("auto_tmm_enabled", json!(s.follow_category));
    set("torrent_content_layout", json!(s.content_layout.as_str()));
    set("temp_path_enabled", json!(!s.incomplete_path.is_empty()));
    set("temp_path", json!(paired::shown_temp_path(app)));
    set("max_connec", json!(s.max_connections));
    set(
        "max_connec_per_torrent",
        json!(s.max_connections_per_torrent),
    );
    set("max_uploads_per_torrent", json!(s.upload_slots));
    set("max_active_checking_torrents", json!(s.checks_at_once));
    set("max_ratio_enabled", json!(s.ratio_limit >= 0.0));
    set("max_ratio", super::view::qt_value(s.ratio_limit.max(-1.0)));
    set(
        "max_seeding_time_enabled",
        json!(s.seeding_time_limit_mins >= 0),
    );
    set("max_seeding_time", json!(s.seeding_time_limit_mins.max(-1)));
    set("max_ratio_act", json!(share_act(s.share_limit_action)));
    set("queueing_enabled", json!(s.queueing_enabled));
    set("max_active_downloads", json!(s.max_active_downloads));
    set("max_active_uploads", json!(s.max_active_uploads));
    set("max_active_torrents", json!(s.max_active_torrents));
    set("dont_count_slow_torrents", json!(s.ignore_slow_torrents));
    set(
        "slow_torrent_dl_rate_threshold",
        json!(s.slow_download_rate / 1024),
    );
    set(
        "slow_torrent_ul_rate_threshold",
        json!(s.slow_upload_rate / 1024),
    );
    set("slow_torrent_inactive_timer", json!(s.slow_inactive_secs));
    set("save_path", json!(default_path(app)));
    set("listen_port", json!(app.engine.listen_addr().port()));
    set("web_ui_port", json!(app.api_addr.port()));
    set("web_ui_username", json!(c.username));
    set("web_ui_max_auth_fail_count", json!(c.max_auth_fail_count));
    set("web_ui_ban_duration", json!(c.ban_duration_secs));
    set("web_ui_session_timeout", json!(c.session_timeout_secs));
    set("bypass_local_auth", json!(c.bypass_local_auth));
    let peers = &app.peers_config;
    set("dht", json!(app.dht.is_some()));
    set("pex", json!(peers.pex));
    set("lsd", json!(peers.lsd));
    // The config's IP filter (trackers are never filtered).
    set(
        "ip_filter_enabled",
        json!(!peers.ip_filter.trim().is_empty()),
    );
    set("ip_filter_path", json!(peers.ip_filter));
    set("ip_filter_trackers", json!(false));
    set("banned_IPs", json!(s.banned_ips.join("\n")));
    // The watch folders: qBittorrent's 1 is "the default save path", a path
    // a folder of its own (here the root's).
    let roots = super::read::root_paths(&app.engine);
    let scan: Map<String, Value> = (app.watch_dirs().iter())
        .map(|w| {
            let to = roots.get(&w.root).map_or(json!(1), |p| json!(p));
            (w.dir.to_string_lossy().into_owned(), to)
        })
        .collect();
    set("scan_dirs", Value::Object(scan));
    // The config's hooks (only the config file sets a program to run).
    let hooks = app.hooks();
    set("autorun_enabled", json!(!hooks.on_finished.is_empty()));
    set("autorun_program", json!(hooks.on_finished));
    set(
        "autorun_on_torrent_added_enabled",
        json!(!hooks.on_added.is_empty()),
    );
    set("autorun_on_torrent_added_program", json!(hooks.on_added));
    // qBittorrent's numbers: 0 encryption allowed, 1 required, 2 off.
    let encryption = match peers.encryption {
        crate::core::Encryption::Disabled => 2,
        crate::core::Encryption::Required => 1,
        _ => 0,
    };
    set("encryption", json!(encryption));
    // qBittorrent's numbers: 0 TCP and uTP, 1 TCP only, 2 uTP only.
    let protocol = match peers.transport {
        crate::core::TransportMode::TcpOnly => 1,
        crate::core::TransportMode::UtpOnly => 2,
        _ => 0,
    };
    set("bittorrent_protocol", json!(protocol));
    let (tiers, trackers) = paired::shown_announce_to(s.announce_to);
    set("announce_to_all_tiers", json!(tiers));
    set("announce_to_all_trackers", json!(trackers));
    // qBittorrent's numbers: 0 around the OS cache, 1 through it.
    let write_mode = match app.write_mode {
        crate::shard::WriteMode::Direct => 0,
        crate::shard::WriteMode::Cached => 1,
    };
    set("disk_io_write_mode", json!(write_mode));
    set(
        "bypass_auth_subnet_whitelist",
        json!(c.bypass_auth_subnets.join("\n")),
    );
    set(
        "bypass_auth_subnet_whitelist_enabled",
        json!(!c.bypass_auth_subnets.is_empty()),
    );
    m
}

/// qBittorrent's number for a share action.
fn share_act(a: ShareAction) -> i64 {
    match a {
        ShareAction::Pause => 0,
        ShareAction::Remove => 1,
        ShareAction::SuperSeed => 2,
        ShareAction::RemoveWithFiles => 3,
    }
}

/// The default root's folder.
pub fn default_path(app: &Shared) -> String {
    (app.engine.default_root())
        .map(|root| root.path.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `app/preferences`.
pub async fn preferences(State(app): State<Shared>) -> Response {
    // roots() stats the disks: off the runtime.
    match tokio::task::spawn_blocking(move || prefs(&app)).await {
        Ok(m) => answer(&m),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `app/setPreferences` (`json`: an object of preferences). Keys with a
/// seedring setting change it (and are kept in the settings file); keys
/// qBittorrent has and seedring does not use are kept and given back; keys
/// neither knows are ignored, as qBittorrent ignores them.
pub async fn set_preferences(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let v: Value =
        serde_json::from_str(p.need("json")?).map_err(|e| QbError::bad(format!("json: {e}")))?;
    let Value::Object(given) = v else {
        return Err(QbError::bad("json: an object of preferences"));
    };
    let known: Map<String, Value> =
        serde_json::from_str(PREFERENCE_DEFAULTS).expect("preferences.json is JSON");
    let mut patch = SettingsPatch::default();
    let num = |v: &Value, k: &str| {
        v.as_u64()
            .or_else(|| v.as_i64().map(|_| 0))
            .ok_or_else(|| QbError::bad(format!("{k}: a number")))
    };
    let flag = |v: &Value, k: &str| {
        v.as_bool()
            .ok_or_else(|| QbError::bad(format!("{k}: true or false")))
    };
    // qBittorrent's "no limit" is any negative number.
    let limit = |v: &Value, k: &str| {
        v.as_i64()
            .map(|n| n.max(-1))
            .ok_or_else(|| QbError::bad(format!("{k}: a number")))
    };
    let count = |v: &Value, k: &str| -> Result<usize, QbError> {
        Ok(usize::try_from(num(v, k)?).unwrap_or(usize::MAX).max(1))
    };
    let q = app.qbit.as_ref().expect("the layer is on");
    let off = |k: &str| given.get(k).and_then(Value::as_bool) == Some(false);
    if off("max_ratio_enabled") {
        patch.ratio_limit = Some(-1.0);
    }
    if off("max_seeding_time_enabled") {
        patch.seeding_time_limit_mins = Some(-1);
    }
    for (k, v) in &given {
        match k.as_str() {
            "max_ratio_enabled" | "max_seeding_time_enabled" => {}
            "max_ratio" if !off("max_ratio_enabled") => {
                let r = v
                    .as_f64()
                    .ok_or_else(|| QbError::bad("max_ratio: a number"))?;
                patch.ratio_limit = Some(if r < 0.0 { -1.0 } else { r });
            }
            "max_seeding_time" if !off("max_seeding_time_enabled") => {
                patch.seeding_time_limit_mins = Some(
                    v.as_i64()
                        .ok_or_else(|| QbError::bad("max_seeding_time: a number"))?
                        .max(-1),
                );
            }
            "queueing_enabled" => patch.queueing_enabled = Some(flag(v, k)?),
            "dont_count_slow_torrents" => patch.ignore_slow_torrents = Some(flag(v, k)?),
            "max_active_downloads" => patch.max_active_downloads = Some(limit(v, k)?),
            "max_active_uploads" => patch.max_active_uploads = Some(limit(v, k)?),
            "max_active_torrents" => patch.max_active_torrents = Some(limit(v, k)?),
            "slow_torrent_dl_rate_threshold" => {
                patch.slow_download_rate = Some(num(v, k)?.saturating_mul(1024));
            }
            "slow_torrent_ul_rate_threshold" => {
                patch.slow_upload_rate = Some(num(v, k)?.saturating_mul(1024));
            }
            "slow_torrent_inactive_timer" => patch.slow_inactive_secs = Some(num(v, k)?),
            "max_ratio_act" => {
                patch.share_limit_action = Some(match v.as_i64() {
                    Some(0) => ShareAction::Pause,
                    Some(1) => ShareAction::Remove,
                    Some(2) => ShareAction::SuperSeed,
                    Some(3) => ShareAction::RemoveWithFiles,
                    _ => {
                        return Err(QbError::bad(
                            "max_ratio_act: 0 (pause), 1 (remove), 2 (super-seeding) or 3 (remove with files)",
                        ));
                    }
                });
            }
            "banned_IPs" => {
                let text = v
                    .as_str()
                    .ok_or_else(|| QbError::bad("banned_IPs: text, one address a line"))?;
                patch.banned_ips = Some(banned_lines(text));
            }
            "temp_path_enabled" | "temp_path" => {} // below, together
            "announce_to_all_tiers" | "announce_to_all_trackers" => {} // below, together
            "start_paused_enabled" => patch.add_paused = Some(flag(v, k)?),
            "auto_tmm_enabled" => patch.follow_category = Some(flag(v, k)?),
            "torrent_content_layout" => {
                let layout = v.as_str().and_then(crate::metainfo::ContentLayout::parse);
                patch.content_layout = Some(layout.ok_or_else(|| {
                    QbError::bad("torrent_content_layout: Original, Subfolder or NoSubfolder")
                })?);
            }
            "dl_limit" => patch.download_limit = Some(num(v, k)?),
            "up_limit" => patch.upload_limit = Some(num(v, k)?),
            "alt_dl_limit" => patch.alt_download_limit = Some(num(v, k)?),
            "alt_up_limit" => patch.alt_upload_limit = Some(num(v, k)?),
            "scheduler_enabled" => patch.schedule_enabled = Some(flag(v, k)?),
            "scheduler_days" => {
                patch.schedule_days = Some(
                    v.as_i64()
                        .and_then(ScheduleDays::from_qbit)
                        .ok_or_else(|| {
                            QbError::bad(
                                "scheduler_days: 0 (every day), 1 (weekdays), 2 (weekends) or 3 to 9 (Monday to Sunday)",
                            )
                        })?,
                );
            }
            "schedule_from_hour" | "schedule_from_min" | "schedule_to_hour" | "schedule_to_min" => {
            } // below, both parts of each time together
            "max_connec" => patch.max_connections = Some(count(v, k)?),
            "max_connec_per_torrent" => patch.max_connections_per_torrent = Some(count(v, k)?),
            "max_uploads_per_torrent" => patch.upload_slots = Some(count(v, k)?),
            "max_active_checking_torrents" => patch.checks_at_once = Some(count(v, k)?),
            k if FIXED.contains(&k) => {
                tracing::info!(
                    key = k,
                    "qBittorrent API: a preference seedring sets elsewhere was left as it is"
                );
            }
            k if known.contains_key(k) && !MAPPED.contains(&k) => {
                q.kept_prefs_lock().insert(k.to_owned(), v.clone());
            }
            _ => {}
        }
    }
    let (from, to) = {
        let s = app
            .settings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (s.schedule_from, s.schedule_to)
    };
    patch.schedule_from = paired::clock(&given, "schedule_from", from)?;
    patch.schedule_to = paired::clock(&given, "schedule_to", to)?;
    patch.incomplete_path = paired::temp_path(&given, &app)?;
    patch.announce_to = paired::announce_to(&given, &app)?;
    if patch != SettingsPatch::default() {
        change_settings(&app, patch)
            .await
            .map_err(|e| QbError::bad(e.detail))?;
    }
    Ok(done())
}

/// `app/defaultSavePath`.
pub async fn default_save_path(State(app): State<Shared>) -> Response {
    match tokio::task::spawn_blocking(move || default_path(&app)).await {
        Ok(p) => text(StatusCode::OK, p),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The numbers `transfer/info` and `sync/maindata`'s `server_state` share.
pub async fn transfer_numbers(app: &Shared) -> Result<Map<String, Value>, QbError> {
    let all = app.engine.all_stats_async().await?;
    let (mut down, mut up, mut peers) = (0u64, 0u64, 0usize);
    for s in &all {
        down += s.download_rate;
        up += s.upload_rate;
        peers += s.peers;
    }
    let s = app
        .settings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let (session_dl, session_ul) = session_bytes(app).await?;
    let mut m = Map::new();
    m.insert(
        "connection_status".into(),
        json!(if peers > 0 { "connected" } else { "firewalled" }),
    );
    m.insert("dht_nodes".into(), json!(dht_nodes(app)));
    m.insert("dl_info_data".into(), json!(session_dl));
    m.insert("dl_info_speed".into(), json!(down));
    let (down_limit, up_limit) = s.limits_in_force();
    m.insert("dl_rate_limit".into(), json!(down_limit));
    m.insert("up_info_data".into(), json!(session_ul));
    m.insert("up_info_speed".into(), json!(up));
    m.insert("up_rate_limit".into(), json!(up_limit));
    m.insert("total_peer_connections".into(), json!(peers));
    Ok(m)
}

/// Payload bytes downloaded and uploaded since the daemon started, over
/// every torrent (those removed since too).
pub async fn session_bytes(app: &Shared) -> Result<(u64, u64), QbError> {
    Ok(app.engine.session_bytes_async().await?)
}

/// The DHT nodes known (both families), 0 with the DHT off.
pub fn dht_nodes(app: &Shared) -> u64 {
    app.dht.as_ref().map_or(0, |d| d.get().nodes as u64)
}

/// `transfer/info`.
pub async fn transfer_info(State(app): State<Shared>) -> Result<Response, QbError> {
    let mut m = transfer_numbers(&app).await?;
    m.remove("total_peer_connections");
    Ok(answer(&m))
}

fn alt_on(app: &Shared) -> bool {
    app.settings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .alt_limits
}

/// `transfer/speedLimitsMode`: `1` while the alternative limits are in force.
pub async fn speed_limits_mode(State(app): State<Shared>) -> Response {
    text(StatusCode::OK, if alt_on(&app) { "1" } else { "0" })
}

async fn set_alt(app: &Shared, on: bool) -> Result<Response, QbError> {
    let patch = SettingsPatch {
        alt_limits: Some(on),
        ..SettingsPatch::default()
    };
    change_settings(app, patch)
        .await
        .map_err(|e| QbError::bad(e.detail))?;
    Ok(done())
}

/// `transfer/toggleSpeedLimitsMode`: the alternative limits on if off, off
/// if on (a schedule switches them again at its next edge).
pub async fn toggle_speed_limits_mode(State(app): State<Shared>) -> Result<Response, QbError> {
    set_alt(&app, !alt_on(&app)).await
}

/// `transfer/setSpeedLimitsMode` (`mode`: 1 the alternative limits, 0 the
/// normal ones).
pub async fn set_speed_limits_mode(
    State(app): State<Shared>,
    p: Params,
) -> Result<Response, QbError> {
    match p.need("mode")? {
        "0" => set_alt(&app, false).await,
        "1" => set_alt(&app, true).await,
        other => Err(QbError::bad(format!("mode: 0 or 1, not {other:?}"))),
    }
}

fn limits(app: &Shared) -> (u64, u64) {
    app.settings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .limits_in_force()
}

/// `transfer/downloadLimit`: bytes per second, 0 for none (the alternative
/// limit while it is in force, as in qBittorrent; so for the three below).
pub async fn download_limit(State(app): State<Shared>) -> Response {
    text(StatusCode::OK, limits(&app).0.to_string())
}

/// `transfer/uploadLimit`: bytes per second, 0 for none.
pub async fn upload_limit(State(app): State<Shared>) -> Response {
    text(StatusCode::OK, limits(&app).1.to_string())
}

async fn set_limit(app: &Shared, p: &Params, download: bool) -> Result<Response, QbError> {
    let limit = p
        .num::<i64>("limit")?
        .ok_or_else(|| QbError::bad("Missing required parameter: limit"))?;
    let limit = Some(limit.max(0) as u64);
    let mut patch = SettingsPatch::default();
    match (download, alt_on(app)) {
        (true, false) => patch.download_limit = limit,
        (false, false) => patch.upload_limit = limit,
        (true, true) => patch.alt_download_limit = limit,
        (false, true) => patch.alt_upload_limit = limit,
    }
    change_settings(app, patch)
        .await
        .map_err(|e| QbError::bad(e.detail))?;
    Ok(done())
}

/// The entries of qBittorrent's `banned_IPs` text, one a line.
fn banned_lines(text: &str) -> Vec<String> {
    (text.lines().map(str::trim))
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `transfer/banPeers` (`peers`: `host:port|host:port`): their addresses join
/// the banned ones (kept, and in force at once).
pub async fn ban_peers(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let mut list = app
        .settings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .banned_ips
        .clone();
    for peer in p.need("peers")?.split('|').map(str::trim) {
        let ip = peer
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip())
            .or_else(|_| peer.parse::<std::net::IpAddr>())
            .map_err(|_| QbError::bad(format!("peers: {peer:?} is not host:port")))?;
        let ip = ip.to_canonical().to_string();
        if !list.contains(&ip) {
            list.push(ip);
        }
    }
    let patch = SettingsPatch {
        banned_ips: Some(list),
        ..SettingsPatch::default()
    };
    change_settings(&app, patch)
        .await
        .map_err(|e| QbError::bad(e.detail))?;
    Ok(done())
}

/// `transfer/setDownloadLimit` (`limit`, bytes per second; 0 or less: none).
pub async fn set_download_limit(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    set_limit(&app, &p, true).await
}

/// `transfer/setUploadLimit` (`limit`, bytes per second; 0 or less: none).
pub async fn set_upload_limit(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    set_limit(&app, &p, false).await
}
