//! The routes of categories and tags (`/api/v1/categories`, `/tags`, a
//! torrent's category), and of where a torrent's files go (whether it follows
//! its category, a download root). The engine's catalog keeps categories and
//! tags, see [`crate::engine::catalog`]; placement is `engine::placement`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::api::{ApiError, Body, Shared, blocking};
use super::torrents::torrent_id;
use crate::engine::DownloadRoot;
use crate::engine::catalog::CatalogError;

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        let (status, error) = match e {
            CatalogError::Invalid(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            CatalogError::Exists(_) => (StatusCode::CONFLICT, "duplicate"),
            CatalogError::Unknown(_) => (StatusCode::NOT_FOUND, "not_found"),
            CatalogError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError {
            status,
            error,
            detail: e.to_string(),
        }
    }
}

/// A category in answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryBody {
    /// Where its torrents go: empty (the default root), a root token, or a folder
    /// inside a root.
    #[serde(default)]
    save_path: String,
}

/// `GET /categories`: name to `{save_path}`.
pub async fn list(State(app): State<Shared>) -> Json<BTreeMap<String, CategoryBody>> {
    let all = app.engine.categories().into_iter();
    Json(
        all.map(|(n, save_path)| (n, CategoryBody { save_path }))
            .collect(),
    )
}

/// `PUT /categories/{name}`: creates it, or changes its save path (its
/// torrents stored elsewhere move there). `name` may hold slashes when
/// percent-encoded.
pub async fn put(
    State(app): State<Shared>,
    Path(name): Path<String>,
    Body(b): Body<CategoryBody>,
) -> Result<StatusCode, ApiError> {
    let engine = app.engine.clone();
    blocking(move || -> Result<StatusCode, ApiError> {
        if engine.categories().contains_key(name.trim()) {
            engine.edit_category(name.trim(), &b.save_path)?;
            Ok(StatusCode::NO_CONTENT)
        } else {
            engine.create_category(&name, &b.save_path)?;
            Ok(StatusCode::CREATED)
        }
    })
    .await?
}

/// `DELETE /categories/{name}`: its torrents are left without a category.
pub async fn remove(
    State(app): State<Shared>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !app.engine.categories().contains_key(&name) {
        return Err(CatalogError::Unknown(name).into());
    }
    let engine = app.engine.clone();
    blocking(move || engine.remove_categories(&[name])).await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /tags`: every tag clients list.
pub async fn tags(State(app): State<Shared>) -> Json<Vec<String>> {
    Json(app.engine.tags())
}

/// `PUT /torrents/{id}/follow_category` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowCategory {
    on: bool,
}

/// `PUT /torrents/{id}/follow_category`: on, its files go to its category's
/// save path (the default root without one) now and when it changes; off, it
/// stays where it is.
pub async fn follow(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Body(b): Body<FollowCategory>,
) -> Result<StatusCode, ApiError> {
    let ih = torrent_id(&app, &id).await?;
    let engine = app.engine.clone();
    blocking(move || engine.set_follows_category(ih, b.on)).await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /torrents/{id}/download_root` body: a root's token, `null` for none.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetDownloadRoot {
    root: Option<String>,
}

/// `PUT /torrents/{id}/download_root`: a torrent placed by hand that is still
/// downloading downloads in root `root` and moves to where it was (its save
/// root) when it finishes; `null`: back to its save root now. `409` for one
/// that follows its category or has finished, where it would do nothing.
pub async fn download_root(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Body(b): Body<SetDownloadRoot>,
) -> Result<StatusCode, ApiError> {
    let ih = torrent_id(&app, &id).await?;
    let engine = app.engine.clone();
    let done = blocking(move || engine.set_download_root(ih, b.root.as_deref())).await??;
    match done {
        DownloadRoot::Set => Ok(StatusCode::ACCEPTED),
        DownloadRoot::FollowsCategory => Err(ApiError::conflict(
            "it follows its category, which says where its files go: turn that off first (follow_category)",
        )),
        DownloadRoot::Finished => Err(ApiError::conflict(
            "it has finished: its files are in its save root (move it instead)",
        )),
    }
}

/// `PUT /torrents/{id}/category` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetCategory {
    category: String,
}

/// `PUT /torrents/{id}/category`: files it under a category (`""`: none); the
/// data of a torrent that follows its category moves to the category's save
/// path (the default root for none).
pub async fn set(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Body(b): Body<SetCategory>,
) -> Result<StatusCode, ApiError> {
    let ih = torrent_id(&app, &id).await?;
    let engine = app.engine.clone();
    blocking(move || engine.set_torrent_category(ih, &b.category)).await??;
    Ok(StatusCode::NO_CONTENT)
}
