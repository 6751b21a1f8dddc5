//! `POST /api/v1/torrents`: a `.torrent` as the body (its options in the
//! query), or a JSON body with a magnet link or a base64 `.torrent` and every
//! option, the files' own names among them (`paths`: what a torrent moved
//! from another client, `seedring remote import-qbittorrent`, needs so that
//! the check at add finds its data where that client left it).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use serde::Deserialize;

use super::api::{ApiError, Shared, blocking};
use super::torrents::query;
use super::views::TorrentView;
use crate::core::{
    AddTorrent, History, ShareAction, ShareLimits, TorrentSettings, TorrentSource, share,
};
use crate::metainfo::{ContentLayout, Info, Magnet, Metainfo, MetainfoLimits};

/// `POST /torrents` options (in the query for a `.torrent` upload, in the body
/// with a magnet or a base64 `.torrent`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddOptions {
    /// A magnet link (JSON body only).
    magnet: Option<String>,
    /// A `.torrent` file, base64 (JSON body only).
    torrent: Option<String>,
    /// Root token (or empty: the default root).
    #[serde(default)]
    root: String,
    /// A folder inside a storage root to save it in (instead of `root`): it
    /// becomes a root of its own the first time, as qBittorrent's `savepath`.
    save_path: Option<String>,
    /// Added paused (absent: as the `add_paused` setting says).
    #[serde(default)]
    paused: Option<bool>,
    /// Where its files go under the save folder (absent: as the
    /// `content_layout` setting says).
    #[serde(default)]
    content_layout: Option<ContentLayout>,
    #[serde(default)]
    sequential: bool,
    /// Every wanted file's first and last piece first.
    #[serde(default)]
    first_last: bool,
    /// Labels: a JSON array, or comma-separated in the query.
    #[serde(default)]
    labels: Option<LabelList>,
    /// Category. Added without a `root`, the torrent follows it (its save
    /// path is the root) unless the `follow_category` setting is off; with a
    /// `root`, it is placed there by hand.
    #[serde(default)]
    category: String,
    /// The name it is shown under (its files keep theirs).
    #[serde(default)]
    name: String,
    /// Download cap, bytes/s (0: none).
    #[serde(default)]
    download_limit: u64,
    /// Upload cap, bytes/s (0: none).
    #[serde(default)]
    upload_limit: u64,
    /// Its own share limits (absent: the global ones; negative: none).
    ratio_limit: Option<f64>,
    seeding_time_limit_mins: Option<i64>,
    inactive_seeding_time_limit_mins: Option<i64>,
    /// What reaching one does (absent: the global action).
    share_limit_action: Option<ShareAction>,
    /// Download in the incomplete folder first (`new_torrents.incomplete_path`;
    /// absent: as the setting says, `false`: where it stays).
    #[serde(default)]
    incomplete: Option<bool>,
    /// A folder inside a storage root to download in (its files move to
    /// the save folder when it finishes), as qBittorrent's `downloadPath`.
    download_path: Option<String>,
    /// Files under other names than the torrent gives them (JSON body only).
    paths: Option<Vec<NewPath>>,
    /// Its past in another client (an import): payload bytes downloaded and
    /// uploaded there, when it was added and completed there (unix seconds),
    /// seconds it seeded and ran (paused time left out) there; its totals
    /// and clocks go on from these.
    downloaded: Option<u64>,
    uploaded: Option<u64>,
    added_at: Option<u64>,
    completed_at: Option<u64>,
    seeding_time_secs: Option<u64>,
    active_time_secs: Option<u64>,
}

impl AddOptions {
    /// The past it is given (`None`: none of it), refused when a time is
    /// in the future.
    fn history(&self) -> Result<Option<History>, ApiError> {
        let now = super::qbit::unix_now();
        for (key, at) in [
            ("added_at", self.added_at),
            ("completed_at", self.completed_at),
        ] {
            if at.is_some_and(|t| t > now + 86_400) {
                return Err(ApiError::bad(format!("{key}: a time in the future")));
            }
        }
        let given = [
            self.downloaded,
            self.uploaded,
            self.added_at,
            self.completed_at,
            self.seeding_time_secs,
            self.active_time_secs,
        ];
        Ok(given.iter().any(Option::is_some).then(|| History {
            downloaded: self.downloaded.unwrap_or(0),
            uploaded: self.uploaded.unwrap_or(0),
            added_at: self.added_at,
            completed_at: self.completed_at,
            seeding_secs: self.seeding_time_secs.unwrap_or(0),
            running_secs: self.active_time_secs.unwrap_or(0),
        }))
    }
}

/// A file's name at add: its index and path as `GET /torrents/{id}/files`
/// gives them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPath {
    index: usize,
    path: String,
}

/// Labels as JSON gives them (an array) or a query does (`a,b`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum LabelList {
    /// `["a", "b"]`.
    List(Vec<String>),
    /// `a,b`.
    Csv(String),
}

impl LabelList {
    fn into_vec(self) -> Vec<String> {
        match self {
            LabelList::List(v) => v,
            LabelList::Csv(s) => s
                .split(',')
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

fn metainfo(bytes: &[u8]) -> Result<TorrentSource, ApiError> {
    let meta = Metainfo::from_bytes_with(bytes, &MetainfoLimits::default())
        .map_err(|e| ApiError::bad(format!("torrent file: {e}")))?;
    Ok(TorrentSource::Metainfo(Arc::new(meta)))
}

/// What a request's body and query say: the torrent and its options.
fn source(
    headers: &HeaderMap,
    q: Result<Query<AddOptions>, QueryRejection>,
    body: &[u8],
) -> Result<(TorrentSource, AddOptions), ApiError> {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match kind.as_str() {
        "application/x-bittorrent" => {
            let opts = query(q)?;
            if opts.magnet.is_some() || opts.torrent.is_some() || opts.paths.is_some() {
                return Err(ApiError::bad(
                    "magnet, torrent and paths go in a JSON body, not the query",
                ));
            }
            Ok((metainfo(body)?, opts))
        }
        "application/json" => {
            let opts: AddOptions = serde_json::from_slice(body).map_err(|e| ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                error: "bad_json",
                detail: e.to_string(),
            })?;
            let source = match (&opts.magnet, &opts.torrent) {
                (Some(link), None) => TorrentSource::Magnet(
                    Magnet::parse(link).map_err(|e| ApiError::bad(format!("magnet: {e}")))?,
                ),
                (None, Some(b64)) => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64.trim())
                        .map_err(|e| ApiError::bad(format!("torrent: not base64: {e}")))?;
                    metainfo(&bytes)?
                }
                (Some(_), Some(_)) => {
                    return Err(ApiError::bad("a magnet or a torrent, not both"));
                }
                (None, None) => return Err(ApiError::bad("no magnet or torrent in the body")),
            };
            Ok((source, opts))
        }
        other => Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            error: "unsupported_media_type",
            detail: format!(
                "{other:?}: send application/x-bittorrent (a .torrent) or application/json (a magnet or a base64 .torrent)"
            ),
        }),
    }
}

/// The renames `paths` asks of a torrent laid out as `layout` says, checked
/// together as its record would be (`400` with why).
fn renames(
    source: &TorrentSource,
    layout: ContentLayout,
    paths: &[NewPath],
) -> Result<Vec<(usize, Vec<String>)>, ApiError> {
    let TorrentSource::Metainfo(m) = source else {
        return Err(ApiError::bad(
            "paths need the torrent's metadata: add a .torrent, not a magnet",
        ));
    };
    let mut info: Info = m.info.clone();
    info.lay_out(layout);
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        let parts: Vec<String> = p
            .path
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        if p.path.starts_with('/') || parts.is_empty() {
            return Err(ApiError::bad(format!(
                "paths: file {}: {:?} is not a relative path",
                p.index, p.path
            )));
        }
        if info.files.get(p.index).is_some_and(|f| f.path.is(&parts)) {
            continue;
        }
        out.push((p.index, parts));
    }
    out.sort_unstable();
    if out.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(ApiError::bad("paths: a file is named twice"));
    }
    crate::core::rename::saved_layout(&info, &out)
        .map_err(|e| ApiError::bad(format!("paths: {e}")))?;
    Ok(out)
}

/// A torrent's own share limits as the engine keeps them, from the API's:
/// each absent is the global one, negative none.
pub fn own_limits(ratio: Option<f64>, seeding: Option<i64>, inactive: Option<i64>) -> ShareLimits {
    let limit = |v: Option<i64>| v.map_or(share::USE_GLOBAL, |m| m.max(-1));
    ShareLimits {
        ratio_milli: ratio.map_or(share::USE_GLOBAL, super::settings::ratio_milli),
        seeding_mins: limit(seeding),
        inactive_mins: limit(inactive),
    }
}

/// `POST /torrents`: a `.torrent` as the body (`Content-Type:
/// application/x-bittorrent`, options in the query), or a JSON body with
/// `magnet` or `torrent` (base64) and the options.
pub async fn add(
    State(app): State<Shared>,
    headers: HeaderMap,
    q: Result<Query<AddOptions>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<TorrentView>), ApiError> {
    let body = body.map_err(|r| ApiError {
        status: r.status(),
        error: if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_body"
        },
        detail: r.body_text(),
    })?;
    let (source, opts) = source(&headers, q, &body)?;
    let history = opts.history()?;
    let defaults = app.new_torrent_defaults();
    let layout = opts.content_layout.unwrap_or(defaults.content_layout);
    let renames = match &opts.paths {
        Some(p) if !p.is_empty() => renames(&source, layout, p)?,
        _ => Vec::new(),
    };
    let root = match opts.save_path.as_deref().map(str::trim) {
        None | Some("") => opts.root,
        Some(_) if !opts.root.is_empty() => {
            return Err(ApiError::bad("a root or a save_path, not both"));
        }
        Some(path) => {
            let engine = app.engine.clone();
            let path = path.to_owned();
            blocking(move || engine.root_for_save_path(&path)).await??
        }
    };
    let mut add = AddTorrent::new(source, root);
    add.history = history;
    add.incomplete = match opts.download_path.as_deref().map(str::trim) {
        Some(p) if !p.is_empty() => {
            super::incomplete::staging_root(&app, Some(true), Some(p)).await?
        }
        _ => super::incomplete::staging_root(&app, opts.incomplete, None).await?,
    };
    add.paused = opts.paused.unwrap_or(defaults.paused);
    add.settings = TorrentSettings {
        content_layout: layout,
        sequential: opts.sequential,
        first_last: opts.first_last,
        download_limit: opts.download_limit,
        upload_limit: opts.upload_limit,
        labels: opts.labels.map(LabelList::into_vec).unwrap_or_default(),
        category: opts.category,
        display_name: opts.name,
        share: own_limits(
            opts.ratio_limit,
            opts.seeding_time_limit_mins,
            opts.inactive_seeding_time_limit_mins,
        ),
        share_action: opts.share_limit_action,
        renames,
        // A root given places it by hand (the engine's rule) whatever this says.
        manual: !defaults.follow_category,
        ..TorrentSettings::default()
    };
    let ih = app.engine.add_torrent_async(add).await?;
    let st = app.engine.stats_async(ih).await?;
    Ok((StatusCode::CREATED, Json(st.into())))
}
