//! The torrent queries: `torrents/info`, `properties`, `files`,
//! `pieceStates`, `pieceHashes`, `categories`, `tags` (`trackers` and `webseeds` are in
//! `trackers`).

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::any;
use serde_json::{Value, json};

use super::super::api::Shared;
use super::view::{Context, ETA_INFINITE, QbTorrent, RootPaths, qt_value};
use super::{Params, QbError, json as answer};
use crate::Engine;

/// Adds these routes.
pub fn routes(r: Router<Shared>) -> Router<Shared> {
    r.route("/torrents/info", any(super::info::info))
        .route("/torrents/properties", any(properties))
        .route("/torrents/files", any(files))
        .route("/torrents/pieceStates", any(piece_states))
        .route("/torrents/pieceHashes", any(piece_hashes))
        .route("/torrents/categories", any(categories))
        .route("/torrents/tags", any(tags))
}

/// Root tokens to their folders (no disk is touched).
pub fn root_paths(engine: &Engine) -> RootPaths {
    engine
        .roots_lock()
        .list()
        .map(|r| (r.token.clone(), r.path.to_string_lossy().into_owned()))
        .collect()
}

/// What views need now; with `ranked` and the queue on, each waiting
/// torrent's place too (one pass over the shards' queue entries).
pub async fn context(app: &Shared, ranked: bool) -> Result<Context, QbError> {
    let share = app
        .settings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .global_share()
        .limits;
    let ranks = if ranked && app.engine.queue_limits().enabled {
        app.engine.queue_ranks_async().await?
    } else {
        std::collections::HashMap::new()
    };
    Ok(Context {
        roots: root_paths(&app.engine),
        share,
        now: unix_now(),
        ranks,
    })
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    #[allow(clippy::disallowed_methods)] // wall-clock times for the API, not the engine's
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `torrents/properties?hash=`.
pub async fn properties(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let ih = p.torrent(&app.engine).await?;
    let s = app.engine.stats_async(ih).await?;
    let info = app.engine.info_async(ih).await?;
    let cx = context(&app, false).await?;
    let t = QbTorrent::new(&s, &cx);
    let (piece_size, pieces_num, private) = info.as_ref().map_or((-1, -1, false), |i| {
        (
            i64::from(i.geometry.piece_length()),
            i64::from(i.geometry.piece_count()),
            i.private,
        )
    });
    let when = |t: Option<u64>| t.map_or(-1, |v| i64::try_from(v).unwrap_or(-1));
    let about = app.engine.about(ih)?;
    Ok(answer(&json!({
        "addition_date": s.added_at,
        "comment": about.comment.unwrap_or_default(),
        "completion_date": when(s.completed_at),
        "created_by": about.created_by.unwrap_or_default(),
        "creation_date": about.creation_date.unwrap_or(-1),
        "dl_limit": if s.settings.download_limit == 0 { -1 } else { i64::try_from(s.settings.download_limit).unwrap_or(-1) },
        "dl_speed": s.download_rate,
        "dl_speed_avg": s.downloaded / t.time_active.max(1),
        "download_path": t.download_path,
        "eta": s.eta_secs.unwrap_or(ETA_INFINITE).min(ETA_INFINITE),
        "hash": t.hash.as_str(),
        "infohash_v1": t.infohash_v1.as_str(),
        "infohash_v2": t.infohash_v2.as_str(),
        "is_private": private,
        "last_seen": when(s.completed_at),
        "name": s.shown_name(),
        "nb_connections": s.connections,
        "nb_connections_limit": app.settings.lock().map_or(0, |x| x.max_connections_per_torrent),
        "peers": t.num_leechs,
        "peers_total": t.num_leechs,
        "piece_size": piece_size,
        "pieces_have": s.have_pieces,
        "pieces_num": pieces_num,
        "reannounce": 0,
        "save_path": t.save_path,
        "seeding_time": t.seeding_time,
        "seeds": t.num_seeds,
        "seeds_total": t.num_seeds,
        "share_ratio": qt_value(t.ratio),
        "time_elapsed": t.time_active,
        "total_downloaded": s.downloaded,
        "total_downloaded_session": s.downloaded_session,
        "total_size": super::view::total_size(&s),
        "total_uploaded": s.uploaded,
        "total_uploaded_session": s.uploaded_session,
        "total_wasted": s.wasted,
        "up_limit": if s.settings.upload_limit == 0 { -1 } else { i64::try_from(s.settings.upload_limit).unwrap_or(-1) },
        "up_speed": s.upload_rate,
        "up_speed_avg": s.uploaded / t.time_active.max(1),
    })))
}

/// `torrents/files?hash=` (`indexes`: `a|b` to pick some).
pub async fn files(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let ih = p.torrent(&app.engine).await?;
    let Some(info) = app.engine.info_async(ih).await? else {
        return Ok(answer(&Vec::<Value>::new()));
    };
    let states = app.engine.piece_states_async(ih).await?;
    let (have, peers_have) = match states {
        Some(s) => (s.have, s.availability),
        None => (
            crate::core::Bitfield::new(info.geometry.piece_count()),
            Vec::new(),
        ),
    };
    let prio = app.engine.file_priorities_async(ih).await?;
    let pick: Option<Vec<usize>> = p
        .get("indexes")
        .map(|v| v.split('|').filter_map(|i| i.trim().parse().ok()).collect());
    let g = &info.geometry;
    let mut rows = Vec::new();
    // qBittorrent's index is the file's place among those it shows (pad
    // files left out, as qBittorrent 4.4 and later number them), not its
    // place in the metadata (`super::native_file`).
    let shown = super::super::views::files(&info, &have, &prio);
    for (index, f) in shown.into_iter().enumerate() {
        if pick.as_ref().is_some_and(|p| !p.contains(&index)) {
            continue;
        }
        let pieces = g.file_pieces(f.index);
        let last = pieces.end.saturating_sub(1).max(pieces.start);
        let path = info.files[f.index].path.clone();
        // qBittorrent's: the share of the file's pieces some connected peer
        // has, while the torrent misses any (else -1, as for a seed).
        let availability = if peers_have.is_empty() || pieces.is_empty() {
            -1.0
        } else {
            let some = pieces
                .clone()
                .filter(|&i| peers_have.get(i as usize).is_some_and(|n| *n > 0));
            some.count() as f64 / pieces.len() as f64
        };
        rows.push(json!({
            "availability": qt_value(availability),
            "index": index,
            "is_seed": f.progress >= 1.0,
            "name": path.as_str(),
            "piece_range": [pieces.start, last],
            "priority": f.priority,
            "progress": qt_value(f.progress),
            "size": f.size,
        }));
    }
    Ok(answer(&rows))
}

/// `torrents/pieceStates?hash=`: per piece 0 (not had), 1 (being
/// downloaded), 2 (had).
pub async fn piece_states(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let ih = p.torrent(&app.engine).await?;
    let states: Vec<u8> = app
        .engine
        .piece_states_async(ih)
        .await?
        .map_or_else(Vec::new, |s| {
            let mut v: Vec<u8> = (0..s.have.len())
                .map(|i| if s.have.get(i) { 2 } else { 0 })
                .collect();
            for i in s.downloading {
                if let Some(x) = v.get_mut(i as usize).filter(|x| **x == 0) {
                    *x = 1;
                }
            }
            v
        });
    Ok(answer(&states))
}

/// `torrents/pieceHashes`: each piece's hash in hex: its SHA-1 (v1 and
/// hybrid torrents), or its merkle root (SHA-256) for a v2-only torrent, which
/// has no SHA-1; `[]` while a magnet's metadata is still to come.
pub async fn piece_hashes(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    use crate::hash::PieceHashes;
    use crate::metainfo::{Metainfo, MetainfoLimits};
    use crate::types::Hex;
    let Some(file) = app
        .engine
        .export_async(p.torrent(&app.engine).await?)
        .await?
    else {
        return Ok(answer(&Vec::<String>::new()));
    };
    let m = Metainfo::from_bytes_with(&file, &MetainfoLimits::default())
        .map_err(|e| QbError::internal(format!("the stored metadata: {e}")))?;
    let hex = |b: &[u8]| Hex::of(b).as_str().to_owned();
    let hashes: Vec<String> = match &m.info.pieces {
        PieceHashes::Sha1(h) | PieceHashes::Hybrid { sha1: h, .. } => {
            h.iter().map(|d| hex(d)).collect()
        }
        PieceHashes::Merkle(h) => h.iter().map(|p| hex(&p.root)).collect(),
    };
    Ok(answer(&hashes))
}

/// The categories as qBittorrent lists them: name to `{name, savePath}`.
pub fn category_map(app: &Shared) -> serde_json::Map<String, Value> {
    let roots = root_paths(&app.engine);
    app.engine
        .categories()
        .into_iter()
        .map(|(name, path)| {
            // A token stands for its root's folder in qBittorrent's terms.
            let shown = roots.get(&path).map_or(path.clone(), str::to_owned);
            (name.clone(), json!({"name": name, "savePath": shown}))
        })
        .collect()
}

/// `torrents/categories`.
pub async fn categories(State(app): State<Shared>) -> Response {
    answer(&category_map(&app))
}

/// `torrents/tags`.
pub async fn tags(State(app): State<Shared>) -> Response {
    answer(&app.engine.tags())
}
