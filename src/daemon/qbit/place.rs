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
use crate::engine::EngineError;
use crate::types::InfoHash;

pub(super) fn routes(r: Router<Shared>) -> Router<Shared> {
    r.route("/torrents/setLocation", any(set_location))
        .route("/torrents/setCategory", any(set_category))
        .route("/torrents/setAutoManagement", any(set_auto_management))
        .route("/torrents/setSavePath", any(set_save_path))
        .route("/torrents/setDownloadPath", any(set_download_path))
}

/// `torrents/setLocation` (`location`: a root's folder or a folder inside one):
/// the files move there, and the torrent leaves automatic management.
async fn set_location(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let location = p.need("location")?.to_owned();
    let ihs = targets(&app, &p).await?;
    let engine = app.engine.clone();
    blocking(move || -> Result<(), EngineError> {
        let token = engine.root_for_save_path(&location)?;
        for ih in ihs {
            engine.move_storage(ih, &token)?;
        }
        Ok(())
    })
    .await
    .map_err(|e| QbError::bad(e.detail))??;
    Ok(done())
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
    let engine = app.engine.clone();
    blocking(move || -> Result<(), EngineError> {
        for ih in ihs {
            engine.set_torrent_category(ih, &cat)?;
        }
        Ok(())
    })
    .await
    .map_err(|e| QbError::bad(e.detail))??;
    Ok(done())
}

/// `torrents/setAutoManagement` (`hashes`, `enable`; as in qBittorrent, both
/// required and anything but `true` is off). On, the files move to the
/// category's save path; off, they stay.
async fn set_auto_management(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let on = p.need("enable")?.trim().eq_ignore_ascii_case("true");
    let ihs = targets(&app, &p).await?;
    let engine = app.engine.clone();
    blocking(move || -> Result<(), EngineError> {
        for ih in ihs {
            engine.set_follows_category(ih, on)?;
        }
        Ok(())
    })
    .await
    .map_err(|e| QbError::bad(e.detail))??;
    Ok(done())
}

/// The torrents `id` names (info-hashes separated by `|`, or `all`; unknown
/// ones left out).
async fn ids(app: &Shared, p: &Params) -> Result<Vec<InfoHash>, QbError> {
    let ids = p.need("id")?.trim().to_owned();
    let all = app.engine.torrents_async().await?;
    Ok(if ids.eq_ignore_ascii_case("all") {
        all
    } else {
        parse_hashes(&ids)
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
    let engine = app.engine.clone();
    blocking(move || -> Result<(), EngineError> {
        let token = engine.root_for_save_path(&path)?;
        for ih in ihs {
            engine.set_save_root(ih, &token)?;
        }
        Ok(())
    })
    .await
    .map_err(|e| QbError::bad(e.detail))??;
    Ok(done())
}

/// `torrents/setDownloadPath` (`id`, `path`: a root's folder or a folder
/// inside one; empty: none). A torrent placed by hand that is still
/// downloading moves there, and to its save path once it finishes; torrents
/// under automatic management are left alone, as in qBittorrent, and a
/// finished one stays where it is.
async fn set_download_path(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let path = p.need("path")?.trim().to_owned();
    let ihs = ids(&app, &p).await?;
    let engine = app.engine.clone();
    blocking(move || -> Result<(), EngineError> {
        let token = if path.is_empty() {
            None
        } else {
            Some(engine.root_for_save_path(&path)?)
        };
        for ih in ihs {
            engine.set_download_root(ih, token.as_deref())?;
        }
        Ok(())
    })
    .await
    .map_err(|e| QbError::bad(e.detail))??;
    Ok(done())
}
