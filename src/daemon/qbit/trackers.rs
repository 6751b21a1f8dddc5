//! A torrent's trackers over qBittorrent's WebAPI: `torrents/trackers` (with
//! the DHT, PeX and LSD rows), `webseeds`, and the edits `addTrackers`,
//! `editTracker`, `removeTrackers` (each a new list for
//! [`crate::engine::Engine::set_trackers_async`]).

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::any;
use serde_json::{Value, json};

use super::super::api::Shared;
use super::{Params, QbError, done, json as answer};

/// Adds these routes.
pub fn routes(r: Router<Shared>) -> Router<Shared> {
    r.route("/torrents/trackers", any(trackers))
        .route("/torrents/webseeds", any(webseeds))
        .route("/torrents/addTrackers", any(add_trackers))
        .route("/torrents/editTracker", any(edit_tracker))
        .route("/torrents/removeTrackers", any(remove_trackers))
}

/// `torrents/trackers?hash=`: the DHT, PeX and LSD rows qBittorrent puts
/// first (status 2 where that source runs for this torrent, 0 where it is off
/// or the torrent is private; the connected peers learned from it), then each
/// tracker with its tier. Each tracker a lane announced to last (one, or one
/// per tier or per tracker: `peers.announce_to`) carries its answer's counts;
/// the others, not asked, carry qBittorrent's "unknown" (-1).
pub async fn trackers(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    use crate::core::PeerSource;
    let ih = p.torrent(&app.engine).await?;
    let r = app.engine.trackers_async(ih).await?;
    let private = app.engine.info_async(ih).await?.is_some_and(|i| i.private);
    let peers = app.engine.peer_stats_async(ih).await?;
    let pieces = app.engine.stats_async(ih).await?.total_pieces;
    let cfg = &app.peers_config;
    let mut rows = Vec::new();
    for (name, source, on) in [
        ("** [DHT] **", PeerSource::Dht, app.dht.is_some()),
        ("** [PeX] **", PeerSource::Pex, cfg.pex),
        ("** [LSD] **", PeerSource::Lsd, cfg.lsd),
    ] {
        let from: Vec<_> = peers
            .iter()
            .filter(|x| x.sources.contains(&source))
            .collect();
        let seeds = from
            .iter()
            .filter(|x| pieces > 0 && x.pieces == pieces)
            .count();
        rows.push(json!({
            "msg": if private { "This torrent is private" } else { "" },
            "num_downloaded": 0,
            "num_leeches": from.len() - seeds,
            "num_peers": from.len(),
            "num_seeds": seeds,
            "status": if on && !private { 2 } else { 0 },
            "tier": -1,
            "url": name,
        }));
    }
    let count = |n: Option<u32>| n.map_or(-1, i64::from);
    for (tier, urls) in r.tiers.iter().enumerate() {
        for url in urls {
            // The lane whose last announce went to this tracker, if any.
            let asked = (r.lanes.iter()).find(|l| l.url.as_deref() == Some(url.as_str()));
            // 0 disabled, 1 not contacted, 2 working, 3 updating, 4 not working.
            let (status, msg) = match (asked, r.active) {
                (_, false) => (0, String::new()),
                (Some(l), _) => match &l.error {
                    Some(e) => (4, e.clone()),
                    None => (2, l.warning.clone().unwrap_or_default()),
                },
                (None, _) => (1, String::new()),
            };
            let (swarm, got) = asked.map_or_else(Default::default, |l| (l.swarm, l.last_peers));
            rows.push(json!({
                "msg": msg,
                "num_downloaded": count(swarm.downloaded),
                "num_leeches": count(swarm.leechers),
                "num_peers": count(got),
                "num_seeds": count(swarm.seeders),
                "status": status,
                "tier": tier,
                "url": url,
            }));
        }
    }
    Ok(answer(&rows))
}

/// `torrents/webseeds?hash=`: the torrent's web seeds (BEP 19 `url-list`),
/// as qBittorrent lists them.
pub async fn webseeds(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let urls = app
        .engine
        .trackers_async(p.torrent(&app.engine).await?)
        .await?
        .web_seeds;
    let rows: Vec<Value> = urls.into_iter().map(|url| json!({ "url": url })).collect();
    Ok(answer(&rows))
}

/// `torrents/addTrackers?hash=&urls=`: URLs one per line, each not already
/// there added in a tier after the last.
async fn add_trackers(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let ih = p.torrent(&app.engine).await?;
    let mut tiers = app.engine.trackers_async(ih).await?.tiers;
    let new: Vec<String> = p
        .need("urls")?
        .lines()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    tiers.push(new);
    app.engine.set_trackers_async(ih, tiers).await?;
    Ok(done())
}

/// `torrents/editTracker?hash=&origUrl=&newUrl=`: one URL changed in place;
/// `409` when `origUrl` is not there or `newUrl` already is (as qBittorrent).
async fn edit_tracker(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let ih = p.torrent(&app.engine).await?;
    let (from, to) = (p.need("origUrl")?.trim(), p.need("newUrl")?.trim());
    let mut tiers = app.engine.trackers_async(ih).await?.tiers;
    if to.is_empty() {
        return Err(QbError::bad("newUrl is not a valid URL"));
    }
    if tiers.iter().flatten().any(|u| u == to) {
        return Err(QbError::conflict("newUrl already exists for the torrent"));
    }
    let slot = tiers.iter_mut().flatten().find(|u| *u == from);
    let Some(slot) = slot else {
        return Err(QbError::conflict("origUrl was not found"));
    };
    to.clone_into(slot);
    app.engine.set_trackers_async(ih, tiers).await?;
    Ok(done())
}

/// `torrents/removeTrackers?hash=&urls=`: URLs separated by `|`. None of
/// them there: `200` and nothing changes (qBittorrent 4.5 does so, where its
/// documentation says `409`).
async fn remove_trackers(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let ih = p.torrent(&app.engine).await?;
    let gone: Vec<&str> = p.need("urls")?.split('|').map(str::trim).collect();
    let tiers = app.engine.trackers_async(ih).await?.tiers;
    let tiers: Vec<Vec<String>> = tiers
        .into_iter()
        .map(|t| {
            t.into_iter()
                .filter(|u| !gone.contains(&u.as_str()))
                .collect()
        })
        .collect();
    app.engine.set_trackers_async(ih, tiers).await?;
    Ok(done())
}
