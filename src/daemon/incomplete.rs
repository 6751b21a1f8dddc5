//! The incomplete folder (`new_torrents.incomplete_path`, qBittorrent's "keep
//! incomplete torrents in"): a new torrent downloads there, and its files move
//! to its save path once it has every wanted piece (the core's `finish_in`,
//! see `core::persist`). Only the root's choice is made here.

use super::api::{ApiError, App, blocking};

/// The root (token) a new torrent downloads in, or empty: where it stays.
///
/// `use_it` is the add's say (`None`: on if the setting names a folder);
/// when on, `path` is the folder the add names for it (qBittorrent's
/// `downloadPath`), else the setting's (none: where it stays). A folder the
/// add names that is not in a storage root is refused with why; the
/// setting's, if it no longer resolves (its root was removed), is said and
/// the torrent downloads where it stays.
pub async fn staging_root(
    app: &App,
    use_it: Option<bool>,
    path: Option<&str>,
) -> Result<String, ApiError> {
    let setting = app
        .settings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .incomplete_path
        .clone();
    if !use_it.unwrap_or(!setting.is_empty()) {
        return Ok(String::new());
    }
    let (folder, from_add) = match path.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => (p.to_owned(), true),
        None if setting.is_empty() => return Ok(String::new()),
        None => (setting, false),
    };
    let engine = app.engine.clone();
    let f = folder.clone();
    match blocking(move || engine.root_for_save_path(&f)).await? {
        Ok(token) => Ok(token),
        Err(e) if from_add => Err(ApiError::bad(format!("incomplete folder: {e}"))),
        Err(e) => {
            tracing::warn!(path = %folder, error = %e,
                "the incomplete folder is not usable: the torrent downloads where it stays");
            Ok(String::new())
        }
    }
}

/// Why `path` cannot be the incomplete folder, if it cannot (empty: off).
pub async fn check(app: &App, path: &str) -> Result<(), ApiError> {
    if path.is_empty() {
        return Ok(());
    }
    let engine = app.engine.clone();
    let p = path.to_owned();
    blocking(move || engine.root_for_save_path(&p))
        .await?
        .map(|_| ())
        .map_err(|e| ApiError::bad(format!("incomplete_path: {e}")))
}
