//! The torrent queries: `torrents/info`, `properties`, `trackers`, `webseeds`,
//! `files`, `pieceStates`, `categories`, `tags`.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use super::super::api::Shared;
use super::view::{Context, ETA_INFINITE, Field, NAMES, QbTorrent, RootPaths, qt_value};
use super::{Params, QbError, json as answer};
use crate::Engine;
use crate::core::TorrentStats;

/// Adds these routes.
pub fn routes(r: Router<Shared>) -> Router<Shared> {
    r.route("/torrents/info", any(info))
        .route("/torrents/properties", any(properties))
        .route("/torrents/trackers", any(trackers))
        .route("/torrents/webseeds", any(webseeds))
        .route("/torrents/files", any(files))
        .route("/torrents/pieceStates", any(piece_states))
        .route("/torrents/categories", any(categories))
        .route("/torrents/tags", any(tags))
}

/// Root tokens to their folders (no disk is touched).
pub fn root_paths(engine: &Engine) -> RootPaths {
    engine
        .roots_lock()
        .list()
        .map(|r| (r.token.clone(), r.path.clone()))
        .collect()
}

/// What views of `all` need now.
pub fn context(app: &Shared, all: &[TorrentStats]) -> Context {
    let share = app
        .settings
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .global_share()
        .limits;
    let mut ranks = std::collections::HashMap::new();
    if app.engine.queue_limits().enabled {
        let waiting = all.iter().filter(|s| !s.complete);
        for (i, ih) in crate::engine::queue::in_order(waiting)
            .into_iter()
            .enumerate()
        {
            ranks.insert(ih, i as u64 + 1);
        }
    }
    Context {
        roots: root_paths(&app.engine),
        share,
        now: unix_now(),
        ranks,
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    #[allow(clippy::disallowed_methods)] // wall-clock times for the API, not the engine's
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether a torrent passes `filter` (qBittorrent's names; an unknown filter
/// passes everything, as in qBittorrent).
fn passes(filter: &str, t: &QbTorrent) -> bool {
    let s = t.state;
    let paused = matches!(s, "pausedDL" | "pausedUP");
    let complete = t.total_size > 0 && t.amount_left == 0;
    let active = t.dlspeed > 0 || t.upspeed > 0;
    match filter {
        "downloading" => matches!(
            s,
            "downloading"
                | "metaDL"
                | "stalledDL"
                | "checkingDL"
                | "pausedDL"
                | "queuedDL"
                | "forcedDL"
        ),
        "seeding" => matches!(
            s,
            "uploading" | "stalledUP" | "checkingUP" | "queuedUP" | "forcedUP"
        ),
        "completed" => complete,
        "paused" | "stopped" => paused,
        "resumed" | "running" => !paused,
        "active" => active,
        "inactive" => !active,
        "stalled" => matches!(s, "stalledUP" | "stalledDL"),
        "stalled_uploading" => s == "stalledUP",
        "stalled_downloading" => s == "stalledDL",
        "checking" => matches!(s, "checkingUP" | "checkingDL" | "checkingResumeData"),
        "moving" => s == "moving",
        "errored" => matches!(s, "error" | "missingFiles"),
        _ => true,
    }
}

/// `torrents/info`: `filter`, `category`, `tag`, `hashes`, `sort`, `reverse`,
/// `limit`, `offset`. Without a sort or a page, each torrent's JSON is written
/// as its view is made (no list of 100,000 views is held).
pub async fn info(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let all: Vec<TorrentStats> = app.engine.all_stats_async().await?;
    let cx = context(&app, &all);
    let filter = p.get("filter").unwrap_or("all");
    let hashes = p.get("hashes").map(super::parse_hashes);
    let keep = |s: &TorrentStats, t: &QbTorrent| {
        passes(filter, t)
            && p.get("category").is_none_or(|c| t.category == c)
            && p.get("tag").is_none_or(|tag| {
                if tag.is_empty() {
                    s.settings.labels.is_empty()
                } else {
                    s.settings.labels.iter().any(|x| x == tag)
                }
            })
            && hashes.as_ref().is_none_or(|h| h.contains(&s.info_hash))
    };
    let sort = p
        .get("sort")
        .and_then(|k| NAMES.iter().position(|n| *n == k));
    let reverse = p.flag("reverse")?.unwrap_or(false);
    let offset = p.num::<i64>("offset")?.unwrap_or(0);
    let limit = p.num::<i64>("limit")?.filter(|l| *l > 0);
    let mut out = Vec::new();
    if sort.is_none() && !reverse && offset == 0 && limit.is_none() {
        out.reserve(all.len() * 1200);
        out.push(b'[');
        for s in &all {
            let t = QbTorrent::new(s, &cx);
            if keep(s, &t) {
                if out.len() > 1 {
                    out.push(b',');
                }
                t.write_json(&mut out);
            }
        }
        out.push(b']');
        return Ok(json_bytes(out));
    }
    let mut list: Vec<QbTorrent> = all
        .iter()
        .filter_map(|s| Some(QbTorrent::new(s, &cx)).filter(|t| keep(s, t)))
        .collect();
    if let Some(i) = sort {
        // Each torrent's key worked out once, not at every comparison.
        let mut keyed: Vec<(SortKey, QbTorrent)> = list
            .into_iter()
            .map(|t| (SortKey::of(&t.fields()[i].1), t))
            .collect();
        keyed.sort_by(|a, b| a.0.order(&b.0));
        list = keyed.into_iter().map(|(_, t)| t).collect();
    }
    if reverse {
        list.reverse();
    }
    let len = list.len() as i64;
    let offset = if offset < 0 {
        (len + offset).max(0)
    } else {
        offset
    };
    out.push(b'[');
    let page = list
        .iter()
        .skip(usize::try_from(offset).unwrap_or(0))
        .take(limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)));
    for (n, t) in page.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        t.write_json(&mut out);
    }
    out.push(b']');
    Ok(json_bytes(out))
}

/// A field's value to sort by: numbers by value, text ignoring case.
enum SortKey {
    Number(f64),
    Text(String),
    Flag(bool),
}

impl SortKey {
    fn of(f: &Field<'_>) -> SortKey {
        match f {
            Field::U(v) => SortKey::Number(*v as f64),
            Field::I(v) => SortKey::Number(*v as f64),
            Field::N(v) => SortKey::Number(*v),
            Field::B(v) => SortKey::Flag(*v),
            Field::S(v) => SortKey::Text(v.to_lowercase()),
        }
    }

    fn order(&self, other: &SortKey) -> std::cmp::Ordering {
        match (self, other) {
            (SortKey::Number(a), SortKey::Number(b)) => a.total_cmp(b),
            (SortKey::Text(a), SortKey::Text(b)) => a.cmp(b),
            (SortKey::Flag(a), SortKey::Flag(b)) => a.cmp(b),
            _ => std::cmp::Ordering::Equal,
        }
    }
}

/// JSON already written, as an answer.
fn json_bytes(body: Vec<u8>) -> Response {
    (
        axum::http::StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `torrents/properties?hash=`.
pub async fn properties(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let ih = p.hash()?;
    let s = app.engine.stats_async(ih).await?;
    let info = app.engine.info_async(ih).await?;
    let t = QbTorrent::new(&s, &context(&app, &[]));
    let (piece_size, pieces_num, private) = info.as_ref().map_or((-1, -1, false), |i| {
        (
            i64::from(i.geometry.piece_length()),
            i64::from(i.geometry.piece_count()),
            i.private,
        )
    });
    let when = |t: Option<u64>| t.map_or(-1, |v| i64::try_from(v).unwrap_or(-1));
    Ok(answer(&json!({
        "addition_date": s.added_at,
        "comment": "",
        "completion_date": when(s.completed_at),
        "created_by": "",
        "creation_date": -1,
        "dl_limit": if s.settings.download_limit == 0 { -1 } else { i64::try_from(s.settings.download_limit).unwrap_or(-1) },
        "dl_speed": s.download_rate,
        "dl_speed_avg": s.downloaded / t.time_active.max(1),
        "download_path": "",
        "eta": s.eta_secs.unwrap_or(ETA_INFINITE).min(ETA_INFINITE),
        "hash": t.hash,
        "infohash_v1": t.infohash_v1,
        "infohash_v2": t.infohash_v2,
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
        "total_downloaded_session": s.downloaded,
        "total_size": s.total_bytes,
        "total_uploaded": s.uploaded,
        "total_uploaded_session": s.uploaded,
        "total_wasted": s.wasted,
        "up_limit": if s.settings.upload_limit == 0 { -1 } else { i64::try_from(s.settings.upload_limit).unwrap_or(-1) },
        "up_speed": s.upload_rate,
        "up_speed_avg": s.uploaded / t.time_active.max(1),
    })))
}

/// `torrents/trackers?hash=`: the DHT, PeX and LSD rows qBittorrent puts
/// first (status 0: disabled; seedring has none of them yet), then each
/// tracker with its tier.
pub async fn trackers(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let ih = p.hash()?;
    let r = app.engine.trackers_async(ih).await?;
    let mut rows = Vec::new();
    for name in ["** [DHT] **", "** [PeX] **", "** [LSD] **"] {
        rows.push(
            json!({"msg": "", "num_downloaded": 0, "num_leeches": 0, "num_peers": 0,
            "num_seeds": 0, "status": 0, "tier": -1, "url": name}),
        );
    }
    for (tier, urls) in r.tiers.iter().enumerate() {
        for url in urls {
            let last = r.last.url.as_deref() == Some(url.as_str());
            // 0 disabled, 1 not contacted, 2 working, 3 updating, 4 not working.
            let (status, msg) = match (&r.last.error, last, r.active) {
                (_, _, false) => (0, String::new()),
                (Some(e), true, _) => (4, e.clone()),
                (None, true, _) => (2, r.last.warning.clone().unwrap_or_default()),
                _ => (1, String::new()),
            };
            rows.push(json!({"msg": msg, "num_downloaded": -1, "num_leeches": -1,
                "num_peers": -1, "num_seeds": -1, "status": status, "tier": tier, "url": url}));
        }
    }
    Ok(answer(&rows))
}

/// `torrents/webseeds?hash=`: none yet (web seeds are not used).
pub async fn webseeds(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    app.engine.stats_async(p.hash()?).await?;
    Ok(answer(&Vec::<Value>::new()))
}

/// `torrents/files?hash=` (`indexes`: `a|b` to pick some).
pub async fn files(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let ih = p.hash()?;
    let Some(info) = app.engine.info_async(ih).await? else {
        return Ok(answer(&Vec::<Value>::new()));
    };
    let have = app.engine.have_async(ih).await?;
    let have = have.unwrap_or_else(|| crate::core::Bitfield::new(info.geometry.piece_count()));
    let prio = app.engine.file_priorities_async(ih).await?;
    let pick: Option<Vec<usize>> = p
        .get("indexes")
        .map(|v| v.split('|').filter_map(|i| i.trim().parse().ok()).collect());
    let g = &info.geometry;
    let mut rows = Vec::new();
    for f in super::super::views::files(&info, &have) {
        if pick.as_ref().is_some_and(|p| !p.contains(&f.index)) {
            continue;
        }
        let pieces = g.file_pieces(f.index);
        let last = pieces.end.saturating_sub(1).max(pieces.start);
        let path = info.files[f.index].path.clone();
        rows.push(json!({
            "availability": -1,
            "index": f.index,
            "is_seed": f.progress >= 1.0,
            "name": path.join("/"),
            "piece_range": [pieces.start, last],
            "priority": prio.get(f.index).copied().unwrap_or(1),
            "progress": qt_value(f.progress),
            "size": f.size,
        }));
    }
    Ok(answer(&rows))
}

/// `torrents/pieceStates?hash=`: per piece 0 (not had), 1 (being
/// downloaded; not told apart here, so never given), 2 (had).
pub async fn piece_states(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let ih = p.hash()?;
    let have = app.engine.have_async(ih).await?;
    let states: Vec<u8> = have.map_or_else(Vec::new, |h| {
        (0..h.len()).map(|i| if h.get(i) { 2 } else { 0 }).collect()
    });
    Ok(answer(&states))
}

/// The categories as qBittorrent lists them: name to `{name, savePath}`.
pub fn category_map(app: &Shared) -> serde_json::Map<String, Value> {
    let roots = root_paths(&app.engine);
    app.engine
        .categories()
        .into_iter()
        .map(|(name, path)| {
            // A token stands for its root's folder in qBittorrent's terms.
            let shown = roots
                .get(&path)
                .map_or(path, |p| p.to_string_lossy().into_owned());
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
