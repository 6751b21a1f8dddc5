//! `/api/v1/torrents`: list, one, remove, pause, resume, recheck, move,
//! limits, sequential, files and priorities, peers, pieces.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};

use super::api::{ApiError, Body, Shared};
use super::rows;
use super::views::{self, FileView, PeerView, TorrentView};
use crate::core::share::OwnAction;
use crate::types::InfoHash;

/// The info-hash a route's `{id}` spells.
pub fn parse_id(id: &str) -> Result<InfoHash, ApiError> {
    InfoHash::parse(id).map_err(|e| ApiError::bad(format!("torrent id {id:?}: {e}")))
}

/// The torrent a route's `{id}` names: its id, or a hybrid's other
/// info-hash (as qBittorrent finds a hybrid by either; see
/// `Engine::resolve_async`).
pub async fn torrent_id(app: &Shared, id: &str) -> Result<InfoHash, ApiError> {
    let ih = parse_id(id)?;
    Ok(app.engine.resolve_async(vec![ih]).await?[0])
}

/// Query parameters, or a 400 naming what is wrong with them.
pub fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|r| ApiError::bad(r.body_text()))
}

/// `GET /torrents` filters, order and page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    root: Option<String>,
    /// Torrents with this label.
    label: Option<String>,
    /// Torrents in this category (empty: without one).
    category: Option<String>,
    /// Torrents whose name contains this (case-insensitive).
    name: Option<String>,
    /// name, size, progress, added, download_rate, upload_rate, ratio; `-` first
    /// for descending.
    sort: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

/// `GET /torrents`. Each shard writes its rows that pass the filters, with
/// their sort keys (`daemon::rows`); this thread orders the keys, and the
/// page's rows are copied out a chunk at a time as the client takes them.
pub async fn list(
    State(app): State<Shared>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let mut q = query(q)?;
    q.name = q.name.map(|n| n.to_lowercase());
    let sort = q.sort.take().unwrap_or_else(|| "added".into());
    let (desc, key) = match sort.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, sort.as_str()),
    };
    let key =
        ListKey::named(key).ok_or_else(|| ApiError::bad(format!("sort: unknown key {key:?}")))?;
    let paging = rows::Paging {
        reverse: desc,
        offset: q.offset,
        take: q.limit,
    };
    let q = Arc::new(q);
    let parts = app
        .engine
        .all_stats_then(move |all| {
            let kept = (all.into_iter())
                .map(|s| (s.info_hash, TorrentView::from(s)))
                .filter(|(_, t)| q.keeps(t))
                .map(|(id, t)| ((key.of(&t), id), t));
            let write = |t: &TorrentView, out: &mut Vec<u8>| t.write_json(out);
            rows::Part::best(kept, &by, paging, VIEW_BYTES, write)
        })
        .await?;
    let page = rows::page(&parts, &by, paging);
    let mut head = Vec::new();
    head.extend_from_slice(b"{\"total\":");
    super::json_text::write_int(&mut head, page.total);
    head.extend_from_slice(b",\"torrents\":[");
    let chunks = rows::Chunks::new(parts, page, head, b"]}");
    let body = futures_util::stream::iter(chunks.map(|c| Ok::<_, Infallible>(Bytes::from(c))));
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(body),
    ))
}

impl ListQuery {
    /// Whether a torrent passes the filters (`name` already lower case).
    fn keeps(&self, t: &TorrentView) -> bool {
        self.state.as_ref().is_none_or(|s| t.state == s.as_str())
            && self.root.as_ref().is_none_or(|r| *t.root == **r)
            && self.label.as_ref().is_none_or(|l| t.labels.contains(l))
            && self.category.as_ref().is_none_or(|c| &t.category == c)
            && (self.name.as_ref()).is_none_or(|n| t.name.to_lowercase().contains(n))
    }
}

/// What `GET /torrents` can be sorted by.
#[derive(Debug, Clone, Copy)]
enum ListKey {
    Name,
    Size,
    Progress,
    Added,
    DownloadRate,
    UploadRate,
    Ratio,
}

/// The list's order: ascending, ties by id (as its hex sorts); a descending
/// list is the same reversed.
fn by(a: &(Sort, InfoHash), b: &(Sort, InfoHash)) -> std::cmp::Ordering {
    a.0.cmp(&b.0).then(a.1.cmp(&b.1))
}

/// A torrent's place in a sorted list: the key's value, then its id.
#[derive(Debug)]
enum Sort {
    Int(u64),
    Real(f64),
    Text(String),
}

impl Ord for Sort {
    fn cmp(&self, other: &Sort) -> std::cmp::Ordering {
        match (self, other) {
            (Sort::Int(a), Sort::Int(b)) => a.cmp(b),
            (Sort::Real(a), Sort::Real(b)) => a.total_cmp(b),
            (Sort::Text(a), Sort::Text(b)) => a.cmp(b),
            // One list sorts by one key: never mixed.
            _ => std::cmp::Ordering::Equal,
        }
    }
}

impl PartialOrd for Sort {
    fn partial_cmp(&self, other: &Sort) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Sort {
    fn eq(&self, other: &Sort) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Sort {}

impl ListKey {
    fn named(key: &str) -> Option<ListKey> {
        Some(match key {
            "name" => ListKey::Name,
            "size" => ListKey::Size,
            "progress" => ListKey::Progress,
            "added" => ListKey::Added,
            "download_rate" => ListKey::DownloadRate,
            "upload_rate" => ListKey::UploadRate,
            "ratio" => ListKey::Ratio,
            _ => return None,
        })
    }

    fn of(self, t: &TorrentView) -> Sort {
        match self {
            ListKey::Name => Sort::Text(t.name.to_string()),
            ListKey::Size => Sort::Int(t.size),
            ListKey::Progress => Sort::Real(t.progress),
            ListKey::Added => Sort::Int(t.added_at),
            ListKey::DownloadRate => Sort::Int(t.download_rate),
            ListKey::UploadRate => Sort::Int(t.upload_rate),
            ListKey::Ratio => Sort::Real(t.ratio),
        }
    }
}

/// About what one torrent takes in the list's JSON (its size estimate).
const VIEW_BYTES: usize = 640;

/// `GET /torrents/{id}`.
pub async fn one(
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<TorrentView>, ApiError> {
    let ih = torrent_id(&app, &id).await?;
    Ok(Json(app.engine.stats_async(ih).await?.into()))
}

/// `DELETE /torrents/{id}` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveQuery {
    #[serde(default)]
    delete_files: bool,
}

/// `DELETE /torrents/{id}?delete_files=true|false`.
pub async fn remove(
    State(app): State<Shared>,
    Path(id): Path<String>,
    q: Result<Query<RemoveQuery>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let ih = torrent_id(&app, &id).await?;
    let q = query(q)?;
    app.engine.remove_async(ih, q.delete_files).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /torrents/{id}/pause`.
pub async fn pause(
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.engine.pause_async(torrent_id(&app, &id).await?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /torrents/{id}/resume`.
pub async fn resume(
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.engine
        .resume_async(torrent_id(&app, &id).await?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /torrents/{id}/recheck`.
pub async fn recheck(
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.engine
        .force_recheck_async(torrent_id(&app, &id).await?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /torrents/{id}/move` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    root: String,
}

/// `POST /torrents/{id}/move`: the move runs after the answer (state "moving").
pub async fn move_to(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Body(b): Body<MoveBody>,
) -> Result<StatusCode, ApiError> {
    let ih = torrent_id(&app, &id).await?;
    let engine = app.engine.clone();
    tokio::task::spawn_blocking(move || engine.move_storage(ih, &b.root))
        .await
        .map_err(|e| ApiError::bad(e.to_string()))??;
    Ok(StatusCode::ACCEPTED)
}

/// `PUT /torrents/{id}/limits` body: bytes per second, 0 for none; a cap
/// left out stays as it is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsBody {
    download: Option<u64>,
    upload: Option<u64>,
}

/// `PUT /torrents/{id}/limits`.
pub async fn limits(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Body(b): Body<LimitsBody>,
) -> Result<StatusCode, ApiError> {
    let ih = torrent_id(&app, &id).await?;
    app.engine
        .set_torrent_limits_async(ih, b.download, b.upload)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /torrents/{id}/share_limits` body: each absent follows the global
/// one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareLimitsBody {
    /// Negative: none.
    ratio_limit: Option<f64>,
    /// Minutes; negative: none.
    seeding_time_limit_mins: Option<i64>,
    /// Minutes; negative: none.
    inactive_seeding_time_limit_mins: Option<i64>,
    /// What reaching one does.
    share_limit_action: Option<crate::core::ShareAction>,
}

/// `PUT /torrents/{id}/share_limits`: replaces the torrent's own share limits
/// and action.
pub async fn share_limits(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Body(b): Body<ShareLimitsBody>,
) -> Result<StatusCode, ApiError> {
    let limits = super::add::own_limits(
        b.ratio_limit,
        b.seeding_time_limit_mins,
        b.inactive_seeding_time_limit_mins,
    );
    app.engine
        .set_share_limits_async(
            torrent_id(&app, &id).await?,
            limits,
            OwnAction::Set(b.share_limit_action),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /torrents/{id}/labels` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelsBody {
    labels: Vec<String>,
}

/// `PUT /torrents/{id}/labels`: replaces the torrent's labels.
pub async fn labels(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Body(b): Body<LabelsBody>,
) -> Result<StatusCode, ApiError> {
    app.engine
        .set_labels_async(torrent_id(&app, &id).await?, b.labels)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /torrents/{id}/name` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameBody {
    name: String,
}

/// `PUT /torrents/{id}/name`: what the torrent is called (empty: its own name
/// again); its files keep theirs.
pub async fn name(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Body(b): Body<NameBody>,
) -> Result<StatusCode, ApiError> {
    app.engine
        .set_display_name_async(torrent_id(&app, &id).await?, b.name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /torrents/{id}/sequential` (and `/super_seeding`) body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequentialBody {
    on: bool,
}

/// `PUT /torrents/{id}/sequential`.
pub async fn sequential(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Body(b): Body<SequentialBody>,
) -> Result<StatusCode, ApiError> {
    app.engine
        .set_sequential_async(torrent_id(&app, &id).await?, b.on)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /torrents/{id}/super_seeding`: on, peers that connect while it is
/// whole are shown a piece at a time; off, every peer is told the rest.
pub async fn super_seeding(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Body(b): Body<SequentialBody>,
) -> Result<StatusCode, ApiError> {
    app.engine
        .set_super_seeding_async(torrent_id(&app, &id).await?, b.on)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /torrents/{id}/files`: every file with its progress (empty until a
/// magnet's metadata arrives).
pub async fn files(
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Vec<FileView>>, ApiError> {
    let ih = torrent_id(&app, &id).await?;
    let Some(info) = app.engine.info_async(ih).await? else {
        return Ok(Json(Vec::new()));
    };
    let have = app.engine.have_async(ih).await?;
    let have = have.unwrap_or_else(|| crate::core::Bitfield::new(info.geometry.piece_count()));
    let priorities = app.engine.file_priorities_async(ih).await?;
    Ok(Json(views::files(&info, &have, &priorities)))
}

/// `PUT /torrents/{id}/files` body: one priority per file (0 = skip, 1..=7),
/// or one priority for the files at `indexes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrioritiesBody {
    priorities: Option<Vec<u8>>,
    indexes: Option<Vec<usize>>,
    priority: Option<u8>,
}

/// `PUT /torrents/{id}/files`.
pub async fn priorities(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Body(b): Body<PrioritiesBody>,
) -> Result<StatusCode, ApiError> {
    let ih = torrent_id(&app, &id).await?;
    match b {
        PrioritiesBody {
            priorities: Some(all),
            indexes: None,
            priority: None,
        } => app.engine.set_file_priorities_async(ih, &all).await?,
        PrioritiesBody {
            priorities: None,
            indexes: Some(files),
            priority: Some(p),
        } => {
            app.engine
                .set_some_file_priorities_async(ih, files, p)
                .await?
        }
        _ => {
            return Err(ApiError::bad(
                "give either priorities (one per file) or indexes and priority",
            ));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /torrents/{id}/peers`.
pub async fn peers(
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Vec<PeerView>>, ApiError> {
    let ih = torrent_id(&app, &id).await?;
    let peers = app.engine.peer_stats_async(ih).await?;
    Ok(Json(peers.into_iter().map(PeerView::from).collect()))
}

/// `POST /torrents/{id}/peers` body: `ip:port` addresses to try.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeersBody {
    peers: Vec<String>,
}

/// `POST /torrents/{id}/peers`: peers to connect to (at most 200 per call).
pub async fn add_peers(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Body(b): Body<PeersBody>,
) -> Result<StatusCode, ApiError> {
    let ih = torrent_id(&app, &id).await?;
    if b.peers.len() > 200 {
        return Err(ApiError::bad("at most 200 peers per call"));
    }
    let addrs = b
        .peers
        .iter()
        .map(|p| {
            p.parse::<std::net::SocketAddr>()
                .map_err(|_| ApiError::bad(format!("peer {p:?}: not an ip:port address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    app.engine.add_peers_async(ih, &addrs).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /torrents/{id}/pieces` answer.
#[derive(Debug, Serialize)]
pub struct PiecesView {
    /// Pieces in all (0 until a magnet's metadata arrives).
    pub pieces: u32,
    /// Pieces had.
    pub have: u32,
    /// The bitfield as on the wire (first piece in the high bit), in hex.
    pub bitfield: String,
    /// Pieces being downloaded (some of their blocks asked for or in), in order.
    pub downloading: Vec<u32>,
}

/// `GET /torrents/{id}/pieces`.
pub async fn pieces(
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<PiecesView>, ApiError> {
    let ih = torrent_id(&app, &id).await?;
    let states = app.engine.piece_states_async(ih).await?;
    Ok(Json(match states {
        Some(s) => {
            let mut downloading = s.downloading;
            downloading.sort_unstable();
            PiecesView {
                pieces: s.have.len(),
                have: s.have.count(),
                bitfield: s
                    .have
                    .as_wire()
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect(),
                downloading,
            }
        }
        None => PiecesView {
            pieces: 0,
            have: 0,
            bitfield: String::new(),
            downloading: Vec::new(),
        },
    }))
}
