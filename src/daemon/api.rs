//! The HTTP API's frame: the shared state, the router, JSON errors, the guard
//! (host name, token) and the limits every route runs under.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::auth::Guard;
use super::settings::Settings;
use crate::engine::EngineError;
use crate::logring::LogRing;
use crate::roots::RootError;
use crate::{Engine, core::CommandError};

/// Time a request may take, its body included (the streaming of a file's bytes
/// and the live log feed are exempt: they answer at once and stream after).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// Everything the handlers share.
pub struct App {
    /// The engine.
    pub engine: Engine,
    /// The log ring.
    pub logs: LogRing,
    /// Peers refused by the IP filter or banned (qBittorrent's `log/peers`).
    pub peer_log: crate::peerlog::PeerLog,
    /// Token and host checks.
    pub guard: Guard,
    /// Settings as last applied (config, then API changes), and where they go.
    pub settings: Mutex<Settings>,
    /// Where settings changed over the API are saved.
    pub settings_file: PathBuf,
    /// The IP filter file's ranges as last read (joined with the
    /// `banned_ips` setting for the engine; see `daemon::ipfilter`).
    pub ip_file: Mutex<Arc<crate::ipfilter::IpFilter>>,
    /// Changes the log filter of the running daemon.
    pub set_log_filter: super::FilterSetter,
    /// When the daemon started.
    pub started: Instant,
    /// `/metrics` answers loopback clients without the token.
    pub metrics_public: bool,
    /// The qBittorrent layer (`None`: off, no password set).
    pub qbit: Option<super::qbit::Qbit>,
    /// Its configuration.
    pub qbit_config: super::config::QbitConfig,
    /// The peer settings it started with (PEX, LSD, encryption).
    pub peers_config: super::config::PeersConfig,
    /// How pieces reach the disk (`[engine] write_mode`).
    pub write_mode: crate::shard::WriteMode,
    /// Where the API listens.
    pub api_addr: SocketAddr,
    /// The DHT nodes' numbers (`None`: the DHT is off).
    pub dht: Option<crate::net::dht::DhtStatsHandle>,
    /// Told when a client asks the daemon to stop (`POST /shutdown`,
    /// qBittorrent's `app/shutdown`); the signal watcher stops it as on
    /// SIGTERM.
    pub shutdown: tokio::sync::Notify,
    /// The watch folders (the config's; SIGHUP replaces them).
    pub watch: Mutex<Arc<Vec<super::watch::WatchDir>>>,
    /// The programs run at torrents' milestones (the config's; SIGHUP
    /// replaces them).
    pub hooks: super::hooks::HooksSlot,
}

impl App {
    /// The watch folders in force.
    pub fn watch_dirs(&self) -> Arc<Vec<super::watch::WatchDir>> {
        Arc::clone(
            &self
                .watch
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// What a new torrent starts with when its add does not say.
    pub fn new_torrent_defaults(&self) -> NewTorrentDefaults {
        let s = self
            .settings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        NewTorrentDefaults {
            paused: s.add_paused,
            content_layout: s.content_layout,
            follow_category: s.follow_category,
        }
    }

    /// The hooks in force.
    pub fn hooks(&self) -> Arc<super::hooks::HooksConfig> {
        Arc::clone(
            &self
                .hooks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// The IP filter file's ranges as last read.
    pub fn ip_file(&self) -> Arc<crate::ipfilter::IpFilter> {
        Arc::clone(
            &self
                .ip_file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "App({:?})", self.engine)
    }
}

/// What a new torrent starts with when its add does not say (the settings'
/// `add_paused` and `content_layout`).
#[derive(Debug, Clone, Copy)]
pub struct NewTorrentDefaults {
    /// Added paused.
    pub paused: bool,
    /// Where its files go under the save folder.
    pub content_layout: crate::metainfo::ContentLayout,
    /// One added without a root follows its category.
    pub follow_category: bool,
}

/// Shared state of the handlers.
pub type Shared = Arc<App>;

/// An API error: a status and a JSON body `{error, detail}`.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// A short machine-readable kind.
    pub error: &'static str,
    /// What went wrong, for people.
    pub detail: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    detail: &'a str,
}

impl ApiError {
    /// A 400.
    pub fn bad(detail: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "bad_request",
            detail: detail.into(),
        }
    }

    /// A 409: the call does not fit the torrent's state.
    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::CONFLICT,
            error: "conflict",
            detail: detail.into(),
        }
    }

    /// A 404.
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            error: "not_found",
            detail: detail.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.error,
            detail: &self.detail,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Command(c) => c.into(),
            EngineError::ShardFailed { .. } => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                error: "shard_failed",
                detail: e.to_string(),
            },
            EngineError::Catalog(c) => c.into(),
            EngineError::Internal(_) => ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                error: "internal",
                detail: e.to_string(),
            },
        }
    }
}

impl From<RootError> for ApiError {
    fn from(e: RootError) -> Self {
        let (status, error) = match e {
            RootError::Unknown(_) => (StatusCode::NOT_FOUND, "not_found"),
            RootError::Duplicate(_) => (StatusCode::CONFLICT, "duplicate"),
            RootError::InUse { .. } => (StatusCode::CONFLICT, "in_use"),
            RootError::Invalid(_) | RootError::NoDefault | RootError::Prepare { .. } => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            RootError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError {
            status,
            error,
            detail: e.to_string(),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::UnknownTorrent(_) => ApiError::not_found(e.to_string()),
            CommandError::Duplicate(_) => ApiError {
                status: StatusCode::CONFLICT,
                error: "duplicate",
                detail: e.to_string(),
            },
            CommandError::BadArgument(_) => ApiError::bad(e.to_string()),
        }
    }
}

/// Runs blocking work (the engine's blocking calls, files) off the runtime.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        error: "internal",
        detail: format!("the call failed: {e}"),
    })
}

/// A JSON body whose rejections (malformed, unknown fields, wrong type, too
/// large) are [`ApiError`]s.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(r) => Err(rejected(&r)),
        }
    }
}

fn rejected(r: &JsonRejection) -> ApiError {
    ApiError {
        status: r.status(),
        error: match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            _ => "bad_json",
        },
        detail: r.body_text(),
    }
}

/// The router with every route, the guard and the limits.
pub fn router(app: Shared, max_body: usize) -> Router {
    let api = Router::new()
        .route(
            "/torrents",
            get(super::torrents::list).post(super::add::add),
        )
        .route(
            "/torrents/{id}",
            get(super::torrents::one).delete(super::torrents::remove),
        )
        .route("/torrents/{id}/pause", post(super::torrents::pause))
        .route("/torrents/{id}/resume", post(super::torrents::resume))
        .route("/torrents/{id}/recheck", post(super::torrents::recheck))
        .route("/torrents/{id}/move", post(super::torrents::move_to))
        .route("/torrents/{id}/limits", put(super::torrents::limits))
        .route("/torrents/{id}/labels", put(super::torrents::labels))
        .route(
            "/torrents/{id}/share_limits",
            put(super::torrents::share_limits),
        )
        .route("/torrents/{id}/name", put(super::torrents::name))
        .route("/torrents/{id}/category", put(super::catalog::set))
        .route(
            "/torrents/{id}/follow_category",
            put(super::catalog::follow),
        )
        .route(
            "/torrents/{id}/download_root",
            put(super::catalog::download_root),
        )
        .route(
            "/torrents/{id}/super_seeding",
            put(super::torrents::super_seeding),
        )
        .route("/categories", get(super::catalog::list))
        .route(
            "/categories/{name}",
            put(super::catalog::put).delete(super::catalog::remove),
        )
        .route("/tags", get(super::catalog::tags))
        .route(
            "/torrents/{id}/sequential",
            put(super::torrents::sequential),
        )
        .route(
            "/torrents/{id}/files",
            get(super::torrents::files).put(super::torrents::priorities),
        )
        .route(
            "/torrents/{id}/peers",
            get(super::torrents::peers).post(super::torrents::add_peers),
        )
        .route("/torrents/{id}/pieces", get(super::torrents::pieces))
        .route(
            "/torrents/{id}/trackers",
            get(super::details::trackers).put(super::details::set_trackers),
        )
        .route("/torrents/{id}/torrent", get(super::details::torrent_file))
        .route("/torrents/{id}/paths", put(super::rename::rename))
        .route("/torrents/{id}/files/{index}", get(super::stream::file))
        .route(
            "/roots",
            get(super::admin::roots).post(super::admin::add_root),
        )
        .route(
            "/roots/{token}",
            axum::routing::delete(super::admin::remove_root),
        )
        .route("/roots/{token}/default", post(super::admin::default_root))
        .route(
            "/settings",
            get(super::admin::settings).patch(super::admin::patch_settings),
        )
        .route("/stats", get(super::admin::stats))
        .route("/shutdown", post(super::admin::shutdown))
        .route("/logs", get(super::admin::logs))
        .route("/logs/stream", get(super::admin::log_stream))
        .route("/openapi.json", get(openapi));
    let qbit = super::qbit::router().layer(axum::middleware::from_fn_with_state(
        app.clone(),
        super::qbit::guard,
    ));
    Router::new()
        .nest("/api/v1", api)
        .nest("/api/v2", qbit)
        .route("/metrics", get(super::metrics::metrics))
        .route("/", get(super::web::index))
        .route("/app.js", get(super::web::app_js))
        .route("/app.css", get(super::web::app_css))
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(app)
}

/// The OpenAPI 3.1 document of this API (`tests/daemon_openapi.rs` checks the
/// answers against it).
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn unknown_route() -> ApiError {
    ApiError::not_found("no such route")
}

async fn wrong_method() -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        error: "method_not_allowed",
        detail: "this route does not take that method".into(),
    }
}

/// Every request: a host name of ours, then the token (a bad one is answered
/// late, more so each time from one address, and never logged), then the
/// handler within [`REQUEST_DEADLINE`].
async fn guard(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if !app.guard.host_ok(host) {
        return ApiError {
            status: StatusCode::MISDIRECTED_REQUEST,
            error: "wrong_host",
            detail: "this host name is not one the daemon answers to".into(),
        }
        .into_response();
    }
    let auth = headers.get(header::AUTHORIZATION).map(|h| h.as_bytes());
    let open_metrics =
        app.metrics_public && peer.ip().is_loopback() && req.uri().path() == "/metrics";
    let page =
        req.method() == axum::http::Method::GET && super::web::PUBLIC.contains(&req.uri().path());
    // The qBittorrent layer has its own login (see `qbit::guard`).
    let qbit = req.uri().path().starts_with("/api/v2/");
    if !open_metrics && !page && !qbit && !app.guard.token_ok(auth) {
        let wait = app.guard.failed(peer.ip());
        tokio::time::sleep(wait).await;
        let mut r = ApiError {
            status: StatusCode::UNAUTHORIZED,
            error: "unauthorized",
            detail: "send Authorization: Bearer <token> (see admin.token in the data folder)"
                .into(),
        }
        .into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("valid"));
        return r;
    }
    // The live log feed and file bytes answer at once and stream after: no
    // deadline on their bodies (a file's waits have their own).
    let path = req.uri().path();
    let streams = path.ends_with("/logs/stream") || path.contains("/files/");
    if streams {
        return next.run(req).await;
    }
    match tokio::time::timeout(REQUEST_DEADLINE, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError {
            status: StatusCode::REQUEST_TIMEOUT,
            error: "timeout",
            detail: format!("no answer within {} s", REQUEST_DEADLINE.as_secs()),
        }
        .into_response(),
    }
}
