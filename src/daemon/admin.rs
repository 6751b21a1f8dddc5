//! `/api/v1/roots`, `/settings`, `/stats`, `/logs` and `/logs/stream`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};

use super::api::{ApiError, App, Body, Shared, blocking};
use super::settings::{Settings, SettingsPatch};
use super::torrents::query;
use super::views::{RootView, state_name};
use crate::logring::{self, Entry};

/// `GET /roots`.
pub async fn roots(State(app): State<Shared>) -> Result<Json<Vec<RootView>>, ApiError> {
    let engine = app.engine.clone();
    let roots = blocking(move || engine.roots()).await?;
    Ok(Json(roots.into_iter().map(RootView::from).collect()))
}

/// `POST /roots` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddRoot {
    token: String,
    #[serde(default)]
    label: String,
    path: String,
}

/// `POST /roots`: makes the folder a storage root (with its marker).
pub async fn add_root(
    State(app): State<Shared>,
    Body(b): Body<AddRoot>,
) -> Result<(StatusCode, Json<RootView>), ApiError> {
    let engine = app.engine.clone();
    let token = b.token.clone();
    let label = if b.label.is_empty() {
        b.token.clone()
    } else {
        b.label
    };
    let path = std::path::PathBuf::from(b.path);
    blocking(move || engine.add_root(&token, &label, &path)).await??;
    let engine = app.engine.clone();
    let all = blocking(move || engine.roots()).await?;
    let view = all
        .into_iter()
        .find(|r| r.root.token == b.token)
        .ok_or_else(|| ApiError::not_found("the root went away"))?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// `DELETE /roots/{token}`: refused while torrents are in it (409).
pub async fn remove_root(
    State(app): State<Shared>,
    Path(token): Path<String>,
) -> Result<StatusCode, ApiError> {
    let engine = app.engine.clone();
    blocking(move || engine.remove_root(&token)).await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /roots/{token}/default`.
pub async fn default_root(
    State(app): State<Shared>,
    Path(token): Path<String>,
) -> Result<StatusCode, ApiError> {
    let engine = app.engine.clone();
    blocking(move || engine.set_default_root(&token)).await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /settings`.
pub async fn settings(State(app): State<Shared>) -> Json<Settings> {
    Json(
        app.settings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone(),
    )
}

/// `PATCH /settings`: applies and keeps the change (it outlives restarts).
pub async fn patch_settings(
    State(app): State<Shared>,
    Body(patch): Body<SettingsPatch>,
) -> Result<Json<Settings>, ApiError> {
    Ok(Json(change_settings(&app, patch).await?))
}

/// Applies a change of settings, keeps it in the settings file and logs it
/// (the admin API and the qBittorrent layer's preferences both come here).
pub async fn change_settings(app: &App, patch: SettingsPatch) -> Result<Settings, ApiError> {
    change_settings_by(app, patch, "the API").await
}

/// [`change_settings`], logged as made by `by` (the API, the schedule).
pub async fn change_settings_by(
    app: &App,
    patch: SettingsPatch,
    by: &str,
) -> Result<Settings, ApiError> {
    let before = app
        .settings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let after = before.patched(&patch).map_err(ApiError::bad)?;
    if after.incomplete_path != before.incomplete_path {
        super::incomplete::check(app, &after.incomplete_path).await?;
    }
    after.apply(&app.engine).await?;
    if after.banned_ips != before.banned_ips {
        super::ipfilter::apply(&app.engine, &app.ip_file(), &after.banned_ips).await?;
    }
    if after.log_filter != before.log_filter {
        (app.set_log_filter)(&after.log_filter).map_err(ApiError::bad)?;
    }
    let file = app.settings_file.clone();
    let saved = blocking(move || {
        let mut kept = SettingsPatch::load(&file).unwrap_or_default();
        kept.merge(&patch);
        kept.save(&file)
    })
    .await?;
    if let Err(e) = saved {
        tracing::error!(error = %e, "settings changed but not saved: they last until a restart");
    }
    for c in after.changes_from(&before) {
        tracing::info!(change = %c, by, "setting changed");
    }
    *app.settings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = after.clone();
    Ok(after)
}

/// `POST /shutdown`: the daemon stops as on SIGTERM (this answer goes out
/// first).
pub async fn shutdown(State(app): State<Shared>) -> StatusCode {
    tracing::info!("stop asked for over the API");
    app.shutdown.notify_one();
    StatusCode::ACCEPTED
}

/// `GET /stats` answer.
#[derive(Debug, Serialize)]
pub struct GlobalStats {
    /// Seconds since the daemon started.
    pub uptime_secs: u64,
    /// Bytes per second, all torrents.
    pub download_rate: u64,
    /// Bytes per second, all torrents.
    pub upload_rate: u64,
    /// The global download cap in force, bytes per second (0: none).
    pub download_limit: u64,
    /// The global upload cap in force, bytes per second (0: none).
    pub upload_limit: u64,
    /// The alternative caps are the ones in force.
    pub alt_limits: bool,
    /// Payload bytes, all torrents, since added.
    pub downloaded: u64,
    /// Payload bytes, all torrents, since added.
    pub uploaded: u64,
    /// Bytes thrown away.
    pub wasted: u64,
    /// Torrents in all.
    pub torrents: usize,
    /// Torrents by state.
    pub by_state: BTreeMap<&'static str, usize>,
    /// Connected peers, all torrents.
    pub peers: usize,
    /// Connections, half-open ones included.
    pub connections: usize,
    /// Outgoing connections being set up.
    pub half_open: usize,
    /// Engine threads.
    pub shards: usize,
    /// Torrents each engine thread holds.
    pub shard_torrents: Vec<usize>,
    /// Bytes hashed since start (downloaded pieces and checks), all threads.
    pub hashed_bytes: u64,
    /// Pieces waiting for the disk (verified pieces being written, check reads),
    /// all threads.
    pub disk_queue: usize,
    /// Torrents whose checks read their files now, all threads.
    pub checks_reading: usize,
    /// Torrents whose checks wait for a turn, all threads.
    pub checks_waiting: usize,
    /// "io_uring", "epoll" or "memory".
    pub io: &'static str,
    /// Why epoll, when io_uring was wanted.
    pub io_fallback: Option<String>,
    /// Shards that failed, with why.
    pub failed_shards: Vec<String>,
    /// Where peers connect.
    pub peer_listen: String,
    /// The DHT nodes (both families added up); `null` when the DHT is off.
    pub dht: Option<DhtView>,
}

/// The DHT's numbers in `GET /stats`.
#[derive(Debug, Serialize)]
pub struct DhtView {
    /// Nodes in the routing tables.
    pub nodes: usize,
    /// Queries answered.
    pub queries_in: u64,
    /// Queries sent.
    pub queries_out: u64,
    /// Answers to our queries.
    pub responses: u64,
    /// Our queries that timed out.
    pub timeouts: u64,
    /// Packets dropped (unparsable, over a rate, unasked answers).
    pub dropped: u64,
    /// Torrents announced.
    pub torrents: usize,
    /// Info-hashes other nodes announced to us that we hold peers for.
    pub torrents_held: usize,
    /// Lookups running.
    pub lookups: usize,
    /// Nodes ignored for an hour for naming peers no other node knew.
    pub ignored: usize,
}

/// `GET /stats`.
pub async fn stats(State(app): State<Shared>) -> Result<Json<GlobalStats>, ApiError> {
    let all = app.engine.all_stats_async().await?;
    let conns = app.engine.connections_async().await?;
    let counters = app.engine.counters_async().await?;
    let mut by_state = BTreeMap::new();
    for t in &all {
        *by_state.entry(state_name(&t.state)).or_insert(0) += 1;
    }
    let e = &app.engine;
    let ((download_limit, upload_limit), alt_limits) = {
        let s = app
            .settings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (s.limits_in_force(), s.alt_limits)
    };
    Ok(Json(GlobalStats {
        uptime_secs: app.started.elapsed().as_secs(),
        download_rate: all.iter().map(|t| t.download_rate).sum(),
        upload_rate: all.iter().map(|t| t.upload_rate).sum(),
        download_limit,
        upload_limit,
        alt_limits,
        downloaded: all.iter().map(|t| t.downloaded).sum(),
        uploaded: all.iter().map(|t| t.uploaded).sum(),
        wasted: all.iter().map(|t| t.wasted).sum(),
        torrents: all.len(),
        by_state,
        peers: all.iter().map(|t| t.peers).sum(),
        connections: conns.total,
        half_open: conns.half_open,
        shards: e.shards(),
        shard_torrents: e.torrents_per_shard(),
        hashed_bytes: counters.iter().map(|c| c.hashed_bytes).sum(),
        disk_queue: counters.iter().map(|c| c.disk_queue).sum(),
        checks_reading: counters.iter().map(|c| c.checks_reading).sum(),
        checks_waiting: counters.iter().map(|c| c.checks_waiting).sum(),
        io: e.io_backend(),
        io_fallback: e.io_fallback_reason().map(str::to_owned),
        failed_shards: e
            .failed_shards()
            .into_iter()
            .map(|f| format!("shard {}: {}", f.shard, f.reason))
            .collect(),
        peer_listen: e.listen_addr().to_string(),
        dht: app.dht.as_ref().map(|h| {
            let d = h.get();
            DhtView {
                nodes: d.nodes,
                queries_in: d.queries_in,
                queries_out: d.queries_out,
                responses: d.responses,
                timeouts: d.timeouts,
                dropped: d.dropped,
                torrents: d.torrents,
                torrents_held: d.torrents_held,
                lookups: d.lookups,
                ignored: d.ignored,
            }
        }),
    }))
}

/// `GET /logs` query (also `/logs/stream`, without `since` and `limit`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// error, warn, info, debug or trace: that level and the more severe.
    level: Option<String>,
    /// Targets starting with this.
    target: Option<String>,
    /// Entries naming this torrent.
    torrent: Option<String>,
    /// Entries after this id.
    since: Option<u64>,
    /// At most this many, the latest (default 200, at most 10,000).
    limit: Option<usize>,
}

fn to_query(q: LogQuery) -> Result<logring::Query, ApiError> {
    let level = match q.level.as_deref() {
        None => None,
        Some(l) => Some(
            l.parse::<tracing::Level>()
                .map_err(|_| ApiError::bad(format!("level: {l:?} is not a level")))?,
        ),
    };
    let torrent = match q.torrent {
        None => None,
        Some(t) => Some(super::torrents::parse_id(&t)?.to_hex()),
    };
    Ok(logring::Query {
        level,
        target: q.target,
        info_hash: torrent,
        since: q.since,
        limit: q.limit.unwrap_or(200).min(10_000),
    })
}

/// `GET /logs`: the ring's entries that match, oldest first.
pub async fn logs(
    State(app): State<Shared>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Json<Vec<Arc<Entry>>>, ApiError> {
    let q = to_query(query(q)?)?;
    Ok(Json(app.logs.query(&q)))
}

/// `GET /logs/stream`: new entries as Server-Sent Events (`event: log`, the entry
/// as JSON; `event: lagged`, how many this client missed by reading too slowly).
pub async fn log_stream(
    State(app): State<Shared>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let q = to_query(query(q)?)?;
    let rx = app.logs.subscribe();
    let stream = futures_util::stream::unfold((rx, q), |(mut rx, q)| async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match rx.recv().await {
                Ok(e) if logring::matches(&e, &q) => {
                    let ev = Event::default()
                        .event("log")
                        .id(e.id.to_string())
                        .json_data(&*e)
                        .unwrap_or_else(|_| Event::default().event("log"));
                    return Some((Ok(ev), (rx, q)));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    let ev = Event::default().event("lagged").data(n.to_string());
                    return Some((Ok(ev), (rx, q)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
