//! qBittorrent's WebAPI v2 under `/api/v2`, for the tools that speak it
//! (Sonarr, Radarr, Prowlarr, autobrr, cross-seed, dashboards).
//!
//! It answers as qBittorrent 4.5 does (the version Debian ships and the tests
//! compare against): plain-text answers and errors (`Ok.`, `Fails.`,
//! `Forbidden`), form-encoded parameters in the query or the body, the `SID`
//! cookie. What seedring does differently is listed in
//! `docs/qbittorrent-api.md`. The layer has its own login (see [`login`]) and is
//! off until `qbittorrent.password_hash` is set.
//!
//! Files: `login` (credentials, sessions, bans), `view` (a torrent's JSON),
//! `app` (`app/*`, `transfer/*`), `info` (`torrents/info`), `read` (the other
//! torrent queries), `act` (torrent changes and adds), `fetch` (`.torrent`
//! files by URL), `sync` (`sync/maindata` deltas, `sync/torrentPeers`).

mod act;
mod app;
mod delta;
mod fetch;
mod info;
mod log;
pub mod login;
mod paired;
mod place;
mod read;
pub use read::{context as read_context, root_paths, unix_now};
mod sync;
mod trackers;
pub mod view;
#[cfg(test)]
mod view_tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use super::api::Shared;
use crate::engine::EngineError;
use crate::engine::catalog::CatalogError;
use crate::types::InfoHash;

/// The qBittorrent version answered by `app/version`: the one the layer is
/// compared with in the tests.
pub const QBT_VERSION: &str = "v4.5.2";
/// Its WebAPI version.
pub const WEBAPI_VERSION: &str = "2.8.19";

/// The layer's state.
#[derive(Debug)]
pub struct Qbit {
    /// Credentials, sessions, bans.
    pub logins: login::Logins,
    /// What each `sync/maindata` client was sent last.
    pub sync: Mutex<sync::Clients>,
    /// The ones qBittorrent has that seedring keeps only to give back
    /// (`app/setPreferences` keys with no seedring meaning).
    pub kept_prefs: Mutex<serde_json::Map<String, serde_json::Value>>,
}

impl Qbit {
    /// The layer, or why it is off.
    pub fn new(c: &super::config::QbitConfig) -> Result<Qbit, String> {
        Ok(Qbit {
            logins: login::Logins::from_config(c)?,
            sync: Mutex::new(sync::Clients::default()),
            kept_prefs: Mutex::new(serde_json::Map::new()),
        })
    }
}

impl Qbit {
    /// The sync clients (plain data every method leaves consistent).
    pub fn sync_lock(&self) -> std::sync::MutexGuard<'_, sync::Clients> {
        self.sync
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The preferences kept to give back.
    pub fn kept_prefs_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, serde_json::Map<String, serde_json::Value>> {
        self.kept_prefs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An answer in qBittorrent's style: a status and a line of text.
#[derive(Debug)]
pub struct QbError {
    status: StatusCode,
    text: String,
}

impl QbError {
    fn new(status: StatusCode, text: impl Into<String>) -> QbError {
        QbError {
            status,
            text: text.into(),
        }
    }

    /// A 400 with a reason.
    pub fn bad(text: impl Into<String>) -> QbError {
        QbError::new(StatusCode::BAD_REQUEST, text)
    }

    /// qBittorrent's 404 for an unknown torrent.
    pub fn not_found() -> QbError {
        QbError::new(StatusCode::NOT_FOUND, "Not Found")
    }

    /// A 500 with a reason.
    pub fn internal(text: impl Into<String>) -> QbError {
        QbError::new(StatusCode::INTERNAL_SERVER_ERROR, text)
    }

    /// A 409 with a reason.
    pub fn conflict(text: impl Into<String>) -> QbError {
        QbError::new(StatusCode::CONFLICT, text)
    }
}

impl IntoResponse for QbError {
    fn into_response(self) -> Response {
        text(self.status, self.text)
    }
}

impl From<EngineError> for QbError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Command(crate::core::CommandError::UnknownTorrent(_)) => {
                QbError::not_found()
            }
            EngineError::Command(c) => QbError::bad(c.to_string()),
            EngineError::Catalog(c) => c.into(),
            EngineError::ShardFailed { .. } | EngineError::Internal(_) => {
                QbError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }
}

impl From<CatalogError> for QbError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Store(_) => {
                QbError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
            _ => QbError::conflict(e.to_string()),
        }
    }
}

/// A plain-text answer.
pub fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        body.into(),
    )
        .into_response()
}

/// `Ok.` as qBittorrent says it.
pub fn ok() -> Response {
    text(StatusCode::OK, "Ok.")
}

/// An empty 200, as qBittorrent answers most changes.
pub fn done() -> Response {
    StatusCode::OK.into_response()
}

/// JSON with qBittorrent's content type.
pub fn json<T: serde::Serialize>(v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The request's parameters: the query's and a form body's, as qBittorrent
/// takes them (a key in both: the body's wins).
#[derive(Debug, Default)]
pub struct Params(pub HashMap<String, String>);

impl Params {
    /// A parameter, if given.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// A parameter that must be there.
    pub fn need(&self, k: &str) -> Result<&str, QbError> {
        self.get(k)
            .ok_or_else(|| QbError::bad(format!("Missing required parameter: {k}")))
    }

    /// `true`/`false`, if given.
    pub fn flag(&self, k: &str) -> Result<Option<bool>, QbError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(QbError::bad(format!("{k}: {v:?} is not true or false"))),
        }
    }

    /// A number, if given.
    pub fn num<T: std::str::FromStr>(&self, k: &str) -> Result<Option<T>, QbError> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| QbError::bad(format!("{k}: {v:?} is not a number"))),
        }
    }

    /// `shareLimitAction` (qBittorrent 5's WebAPI 2.12), if given: `Default`
    /// (`Some(None)`: the global action), `Stop`, `Remove`,
    /// `RemoveWithContent` or `EnableSuperSeeding`. Another name is refused
    /// (qBittorrent takes it for `Default`).
    pub fn share_action(&self) -> Result<Option<Option<crate::core::ShareAction>>, QbError> {
        match self.get("shareLimitAction").map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => crate::core::ShareAction::from_qbittorrent(v)
                .map(Some)
                .ok_or_else(|| {
                    QbError::bad(format!(
                        "shareLimitAction: {v:?} is not Default, Stop, Remove, \
                         RemoveWithContent or EnableSuperSeeding"
                    ))
                }),
        }
    }

    /// `hashes`: `all`, or info-hashes separated by `|` (unknown ones are
    /// skipped, as qBittorrent does). `None` means all.
    pub fn hashes(&self) -> Result<Option<Vec<InfoHash>>, QbError> {
        let v = self.need("hashes")?;
        if v.trim().eq_ignore_ascii_case("all") {
            return Ok(None);
        }
        Ok(Some(parse_hashes(v)))
    }

    /// `hash`: one info-hash.
    fn hash(&self) -> Result<InfoHash, QbError> {
        InfoHash::parse(self.need("hash")?.trim()).map_err(|_| QbError::not_found())
    }

    /// `hash`: one torrent, by its id or, as qBittorrent finds a hybrid, by
    /// its other info-hash (`Engine::resolve_async`).
    pub async fn torrent(&self, engine: &crate::Engine) -> Result<InfoHash, QbError> {
        let ih = self.hash()?;
        Ok(engine.resolve_async(vec![ih]).await?[0])
    }

    /// `hashes` as [`Params::hashes`], each a hybrid's either id.
    pub async fn torrents(&self, engine: &crate::Engine) -> Result<Option<Vec<InfoHash>>, QbError> {
        match self.hashes()? {
            None => Ok(None),
            Some(ids) => Ok(Some(engine.resolve_async(ids).await?)),
        }
    }
}

/// `a|b|c` info-hashes; ones that do not parse are left out.
pub fn parse_hashes(v: &str) -> Vec<InfoHash> {
    v.split('|')
        .filter_map(|h| InfoHash::parse(h.trim()).ok())
        .collect()
}

fn parse_form(bytes: &[u8], into: &mut HashMap<String, String>) {
    for pair in bytes.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let dec = |s: &[u8]| {
            let plus: Vec<u8> = s
                .iter()
                .map(|b| if *b == b'+' { b' ' } else { *b })
                .collect();
            percent_encoding::percent_decode(&plus)
                .decode_utf8_lossy()
                .into_owned()
        };
        into.insert(dec(k), dec(v));
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut p = HashMap::new();
        if let Some(q) = req.uri().query() {
            parse_form(q.as_bytes(), &mut p);
        }
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if form {
            parse_form(&body, &mut p);
        }
        Ok(Params(p))
    }
}

/// The `/api/v2` routes (every method is taken, as qBittorrent 4.5 takes GET
/// and POST alike; the routes that change something want POST).
pub fn router() -> Router<Shared> {
    let r = Router::new()
        .route("/auth/login", any(app::login))
        .route("/auth/logout", any(app::logout))
        .route("/app/version", any(app::version))
        .route("/app/webapiVersion", any(app::webapi_version))
        .route("/app/buildInfo", any(app::build_info))
        .route("/app/shutdown", any(app::shutdown))
        .route("/log/main", any(log::main_log))
        .route("/log/peers", any(log::peer_log))
        .route("/app/preferences", any(app::preferences))
        .route("/app/setPreferences", any(app::set_preferences))
        .route("/app/defaultSavePath", any(app::default_save_path))
        .route("/transfer/info", any(app::transfer_info))
        .route("/transfer/speedLimitsMode", any(app::speed_limits_mode))
        .route(
            "/transfer/toggleSpeedLimitsMode",
            any(app::toggle_speed_limits_mode),
        )
        .route(
            "/transfer/setSpeedLimitsMode",
            any(app::set_speed_limits_mode),
        )
        .route("/transfer/downloadLimit", any(app::download_limit))
        .route("/transfer/uploadLimit", any(app::upload_limit))
        .route("/transfer/setDownloadLimit", any(app::set_download_limit))
        .route("/transfer/setUploadLimit", any(app::set_upload_limit))
        .route("/transfer/banPeers", any(app::ban_peers))
        .route("/sync/maindata", any(sync::maindata))
        .route("/sync/torrentPeers", any(sync::torrent_peers));
    // A fallback of its own, so the guard (a layer, which covers only what the
    // router has) answers an unknown route too: without a session it is a 403,
    // as in qBittorrent, which checks the session before it looks the route up.
    place::routes(trackers::routes(read::routes(act::routes(r)))).fallback(unknown)
}

/// An `/api/v2` route that does not exist (for a client with a session).
async fn unknown() -> Response {
    text(StatusCode::NOT_FOUND, "Not Found")
}

/// The 404 for `/api/v2` while the layer is off, saying how to turn it on.
pub async fn off() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "The qBittorrent API is off: set qbittorrent.password_hash in the config \
         (make one with `seedring hash-password`).",
    )
}

/// Every `/api/v2` request: the layer on, a session (or an address that needs
/// none), and the page that sent it, if it says, ours (qBittorrent's CSRF rule).
pub async fn guard(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let Some(q) = &app.qbit else {
        return off().await;
    };
    if !same_origin(&headers) {
        return text(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let path = req.uri().path();
    if path.ends_with("/auth/login") {
        return next.run(req).await;
    }
    #[allow(clippy::disallowed_methods)] // session ages, not the engine's time
    let now = Instant::now();
    let session = sid(&headers).is_some_and(|s| q.logins.session_ok(s, now));
    if session || q.logins.bypassed(peer.ip()) {
        return next.run(req).await;
    }
    text(StatusCode::FORBIDDEN, "Forbidden")
}

/// The `SID` cookie's value.
pub fn sid(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("SID="))
}

/// The metadata's index of the file qBittorrent numbers `n`: qBittorrent (4.4
/// and later) numbers a torrent's files as it shows them, pad files (BEP 47)
/// left out, so a hybrid's second file is `1` there whatever pad comes before
/// it. `None` past the last.
pub(super) fn native_file(info: &crate::metainfo::Info, n: usize) -> Option<usize> {
    (info.files.iter().enumerate())
        .filter(|(_, f)| f.is_stored())
        .nth(n)
        .map(|(i, _)| i)
}

/// An `Origin` or `Referer`, when sent, names the host the request went to.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let Some(host) = host else {
        return true;
    };
    [header::ORIGIN, header::REFERER].iter().all(|h| {
        let Some(v) = headers.get(h).and_then(|v| v.to_str().ok()) else {
            return true;
        };
        let rest = v.split_once("://").map_or(v, |(_, r)| r);
        let origin_host = rest.split('/').next().unwrap_or("");
        origin_host.eq_ignore_ascii_case(host)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_plus_and_percent_escapes() {
        let mut p = HashMap::new();
        parse_form(b"a=1+2&b=%2Fx%7Cy&c&=z", &mut p);
        assert_eq!(p["a"], "1 2");
        assert_eq!(p["b"], "/x|y");
        assert_eq!(p["c"], "");
        assert_eq!(p[""], "z");
    }

    #[test]
    fn a_page_from_elsewhere_is_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::REFERER, "http://evil.example/x".parse().unwrap());
        assert!(!same_origin(&h));
    }
}
