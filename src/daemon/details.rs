//! A torrent's details over `/api/v1` beyond its numbers: its trackers (read
//! and replaced) and its `.torrent`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use super::api::{ApiError, Body, Shared};
use super::torrents::torrent_id;

/// `GET /torrents/{id}/trackers` answer.
#[derive(Debug, Serialize)]
pub struct TrackersView {
    /// Announce URLs by tier, in the order they are tried now.
    pub tiers: Vec<Vec<String>>,
    /// Whether the torrent announces (running, or owing `stopped`).
    pub announcing: bool,
    /// Seconds to the next announce (0: due or under way; null: not announcing).
    pub next_announce_secs: Option<u64>,
    /// The tracker announced to last (the first working one, where several
    /// are announced to at once; the swarm counts below are the largest any
    /// working tracker gave).
    pub last_url: Option<String>,
    /// Its error, if the last announce failed.
    pub last_error: Option<String>,
    /// Its last warning.
    pub last_warning: Option<String>,
    /// Successful announces.
    pub announces: u64,
    /// Peers received from trackers in all.
    pub peers_received: u64,
    /// Peers the last answer gave (null: that announce failed, or none yet).
    pub last_peers: Option<u32>,
    /// The swarm as the last answer counted it: peers with every piece
    /// (null: not told, or that announce failed).
    pub seeders: Option<u32>,
    /// Peers still downloading, as counted there.
    pub leechers: Option<u32>,
    /// Downloads completed, where the tracker says.
    pub downloaded: Option<u32>,
    /// The torrent's web seeds (BEP 19 `url-list`).
    pub web_seeds: Vec<String>,
    /// Each tracker announced to last by one of the torrent's lanes (one
    /// lane, or one per tier or per tracker, as `peers.announce_to` says),
    /// with what it said.
    pub asked: Vec<TrackerAnswer>,
}

/// What one tracker said to its last announce.
#[derive(Debug, Serialize)]
pub struct TrackerAnswer {
    /// The tracker.
    pub url: String,
    /// Its error, if that announce failed.
    pub error: Option<String>,
    /// Its last warning.
    pub warning: Option<String>,
    /// Successful announces of its lane.
    pub announces: u64,
    /// Peers its last answer gave (null: that announce failed).
    pub last_peers: Option<u32>,
    /// Peers with every piece, as it counted them (null: not told).
    pub seeders: Option<u32>,
    /// Peers still downloading, as it counted them.
    pub leechers: Option<u32>,
    /// Downloads completed, where it says.
    pub downloaded: Option<u32>,
}

/// `GET /torrents/{id}/trackers`.
pub async fn trackers(
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<TrackersView>, ApiError> {
    let r = app
        .engine
        .trackers_async(torrent_id(&app, &id).await?)
        .await?;
    Ok(Json(TrackersView {
        tiers: r.tiers,
        announcing: r.active,
        next_announce_secs: r.next_in.map(|d| d.as_secs()),
        last_url: r.last.url,
        last_error: r.last.error,
        last_warning: r.last.warning,
        announces: r.last.announces,
        peers_received: r.last.peers_received,
        last_peers: r.last.last_peers,
        seeders: r.last.swarm.seeders,
        leechers: r.last.swarm.leechers,
        downloaded: r.last.swarm.downloaded,
        web_seeds: r.web_seeds,
        asked: (r.lanes.into_iter())
            .filter_map(|l| {
                Some(TrackerAnswer {
                    url: l.url?,
                    error: l.error,
                    warning: l.warning,
                    announces: l.announces,
                    last_peers: l.last_peers,
                    seeders: l.swarm.seeders,
                    leechers: l.swarm.leechers,
                    downloaded: l.swarm.downloaded,
                })
            })
            .collect(),
    }))
}

/// `GET /torrents/{id}/torrent`: the `.torrent` (see
/// [`crate::engine::Engine::export_async`]); `404` while a magnet's metadata
/// is still to come.
pub async fn torrent_file(
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let ih = torrent_id(&app, &id).await?;
    let file = (app.engine.export_async(ih).await?)
        .ok_or_else(|| ApiError::not_found("its metadata is not known yet"))?;
    let name = format!("attachment; filename=\"{}.torrent\"", ih.to_hex());
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-bittorrent".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        file,
    )
        .into_response())
}

/// `PUT /torrents/{id}/trackers` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TiersBody {
    tiers: Vec<Vec<String>>,
}

/// `PUT /torrents/{id}/trackers`: replaces the torrent's trackers (see
/// [`crate::core::Core::set_trackers`]).
pub async fn set_trackers(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Body(b): Body<TiersBody>,
) -> Result<StatusCode, ApiError> {
    app.engine
        .set_trackers_async(torrent_id(&app, &id).await?, b.tiers)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
