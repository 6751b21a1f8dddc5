//! Where torrents' files go, qBittorrent's way: `setLocation` (placed by
//! hand), `setCategory` (a torrent under automatic management follows it),
//! `setAutoManagement`, `setSavePath` and `setDownloadPath`. The rules are the engine's
//! (`engine::placement`); a torrent under automatic management is one that
//! follows its category.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::any;

use super::super::api::{Shared, blocking};
use super::act::targets;
use super::{Params, QbError, done, parse_hashes};
use crate::engine::{Engine, EngineError};
use crate::types::InfoHash;

pub(super) fn routes(r: Router<Shared>) -> Router<Shared> {
    r.route("/torrents/setLocation", any(set_location))
        .route("/torrents/setCategory", any(set_category))
        .route("/torrents/setAutoManagement", any(set_auto_management))
        .route("/torrents/setSavePath", any(set_save_path))
        .route("/torrents/setDownloadPath", any(set_download_path))
}

/// Runs `each` on every torrent of `ihs` off the async threads, after
/// `shared` works out what they have in common (a root found from a path);
/// the first engine error answers 400 with its detail (what `each` returns
/// otherwise is not needed).
async fn on_each<T: Send + 'static, R>(
    app: &Shared,
    ihs: Vec<InfoHash>,
    shared: impl FnOnce(&Engine) -> Result<T, EngineError> + Send + 'static,
    each: impl Fn(&Engine, InfoHash, &T) -> Result<R, EngineError> + Send + 'static,
) -> Result<Response, QbError> {
    let engine = app.engine.clone();
    blocking(move || -> Result<(), EngineError> {
        let common = shared(&engine)?;
        ihs.into_iter()
            .try_for_each(|ih| each(&engine, ih, &common).map(drop))
    })
    .await
    .map_err(|e| QbError::bad(e.detail))??;
    Ok(done())
}

/// `torrents/setLocation` (`location`: a root's folder or a folder inside one):
/// the files move there, and the torrent leaves automatic management.
async fn set_location(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let location = p.need("location")?.to_owned();
    let ihs = targets(&app, &p).await?;
    let root = move |e: &Engine| e.root_for_save_path(&location);
    on_each(&app, ihs, root, |e, ih, token| e.move_storage(ih, token)).await
}

/// `torrents/setCategory` (`category`; empty: none). qBittorrent answers 409
/// for a category that does not exist. A torrent under automatic management
/// moves to the category's save path.
async fn set_category(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let cat = p.need("category")?.trim().to_owned();
    if !cat.is_empty() && !app.engine.categories().contains_key(&cat) {
        return Err(QbError::conflict("Incorrect category name"));
    }
    let ihs = targets(&app, &p).await?;
    let file = |e: &Engine, ih, cat: &String| e.set_torrent_category(ih, cat);
    on_each(&app, ihs, move |_| Ok(cat), file).await
}

/// `torrents/setAutoManagement` (`hashes`, `enable`; as in qBittorrent, both
/// required and anything but `true` is off). On, the files move to the
/// category's save path; off, they stay.
async fn set_auto_management(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let on = p.need("enable")?.trim().eq_ignore_ascii_case("true");
    let ihs = targets(&app, &p).await?;
    let follow = move |e: &Engine, ih, (): &()| e.set_follows_category(ih, on);
    on_each(&app, ihs, |_| Ok(()), follow).await
}

/// The torrents `id` names (info-hashes separated by `|`, or `all`; unknown
/// ones left out).
async fn ids(app: &Shared, p: &Params) -> Result<Vec<InfoHash>, QbError> {
    let ids = p.need("id")?.trim().to_owned();
    let all = app.engine.torrents_async().await?;
    Ok(if ids.eq_ignore_ascii_case("all") {
        all
    } else {
        (app.engine.resolve_async(parse_hashes(&ids)).await?)
            .into_iter()
            .filter(|ih| all.contains(ih))
            .collect()
    })
}

/// `torrents/setSavePath` (`id`, `path`: a root's folder or a folder inside
/// one). Torrents under automatic management are left alone, as in
/// qBittorrent; one downloading in the incomplete folder moves to the new
/// path when it finishes.
async fn set_save_path(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let path = p.need("path")?.trim().to_owned();
    let ihs = ids(&app, &p).await?;
    let root = move |e: &Engine| e.root_for_save_path(&path);
    on_each(&app, ihs, root, |e, ih, token| e.set_save_root(ih, token)).await
}

/// `torrents/setDownloadPath` (`id`, `path`: a root's folder or a folder
/// inside one; empty: none). A torrent placed by hand that is still
/// downloading moves there, and to its save path once it finishes; torrents
/// under automatic management are left alone, as in qBittorrent, and a
/// finished one stays where it is.
async fn set_download_path(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let path = p.need("path")?.trim().to_owned();
    let ihs = ids(&app, &p).await?;
    let root = move |e: &Engine| match path.as_str() {
        "" => Ok(None),
        path => e.root_for_save_path(path).map(Some),
    };
    let send = |e: &Engine, ih, token: &Option<String>| e.set_download_root(ih, token.as_deref());
    on_each(&app, ihs, root, send).await
}
