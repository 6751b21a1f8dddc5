//! `sync/maindata`: what changed since the answer a client last got (its
//! `rid`), as qBittorrent sends it; and `sync/torrentPeers`.
//!
//! Per client (its session, or its address when it needs no login) the layer
//! keeps, instead of the last answer, a 64-bit hash of every field of every
//! torrent it was sent (about 450 bytes a torrent), so a delta carries only the
//! fields whose values changed. At most [`MAX_CLIENTS`] clients are followed; a
//! client pushed out gets a full update at its next request, as one with an
//! unknown `rid` does.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::Hasher;
use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::super::api::Shared;
use super::read::{category_map, context};
use super::view::QbTorrent;
use super::{Params, QbError, json as answer, sid};
use crate::core::TorrentStats;
use crate::types::InfoHash;

/// Most clients whose last answer is remembered; past it, the one that asked
/// longest ago is forgotten (it gets a full update next time).
pub const MAX_CLIENTS: usize = 8;

/// What one client was sent last.
#[derive(Debug, Default)]
struct Client {
    rid: u64,
    last_used: Option<Instant>,
    /// Torrent to the hashes of its fields, in the view's field order.
    torrents: HashMap<InfoHash, Box<[u64]>>,
    categories: Map<String, Value>,
    tags: HashSet<String>,
    server: Map<String, Value>,
    trackers: Map<String, Value>,
}

/// The clients followed.
#[derive(Debug, Default)]
pub struct Clients {
    by_key: HashMap<String, Client>,
}

impl Clients {
    /// Forgets a client (it logged out).
    pub fn forget(&mut self, key: &str) {
        self.by_key.remove(key);
    }

    fn take(&mut self, key: &str) -> Client {
        self.by_key.remove(key).unwrap_or_default()
    }

    fn put(&mut self, key: String, c: Client) {
        if self.by_key.len() >= MAX_CLIENTS {
            let oldest = self
                .by_key
                .iter()
                .min_by_key(|(_, c)| c.last_used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.by_key.remove(&k);
            }
        }
        self.by_key.insert(key, c);
    }
}

fn field_hash(f: &super::view::Field<'_>) -> u64 {
    let mut h = DefaultHasher::new();
    f.hash_into(&mut h);
    h.finish()
}

/// `server_state`, from the same numbers as the torrents.
fn server_state(app: &Shared, all: &[TorrentStats], free: u64) -> Map<String, Value> {
    let (mut down, mut up, mut dl, mut ul, mut peers, mut wasted) = (0u64, 0u64, 0u64, 0u64, 0, 0);
    for s in all {
        down += s.download_rate;
        up += s.upload_rate;
        dl += s.downloaded;
        ul += s.uploaded;
        peers += s.peers;
        wasted += s.wasted;
    }
    let (dl_limit, ul_limit) = {
        let s = app
            .settings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (s.download_limit, s.upload_limit)
    };
    let ratio = if dl == 0 {
        "-".to_owned()
    } else {
        format!("{:.2}", ul as f64 / dl as f64)
    };
    let v = json!({
        "alltime_dl": dl, "alltime_ul": ul, "average_time_queue": 0,
        "connection_status": if peers > 0 { "connected" } else { "firewalled" },
        "dht_nodes": 0, "dl_info_data": dl, "dl_info_speed": down, "dl_rate_limit": dl_limit,
        "free_space_on_disk": free, "global_ratio": ratio, "queued_io_jobs": 0,
        "queueing": false, "read_cache_hits": "0", "read_cache_overload": "0",
        "refresh_interval": 1500, "total_buffers_size": 0, "total_peer_connections": peers,
        "total_queued_size": 0, "total_wasted_session": wasted, "up_info_data": ul,
        "up_info_speed": up, "up_rate_limit": ul_limit, "use_alt_speed_limits": false,
        "write_cache_overload": "0",
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The client's key: its session, or its address when it has none.
fn client_key(headers: &HeaderMap, peer: SocketAddr) -> String {
    sid(headers).map_or_else(|| format!("addr:{}", peer.ip()), str::to_owned)
}

/// Keys of `now` whose values differ from `before` (all of them if `full`).
fn changed(
    before: &Map<String, Value>,
    now: &Map<String, Value>,
    full: bool,
) -> Map<String, Value> {
    now.iter()
        .filter(|(k, v)| full || before.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `sync/maindata?rid=`.
pub async fn maindata(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, QbError> {
    let rid: u64 = p.num("rid")?.unwrap_or(0);
    let all = app.engine.all_stats_async().await?;
    let cx = context(&app, &all);
    let engine = app.engine.clone();
    let free = tokio::task::spawn_blocking(move || {
        engine
            .roots()
            .into_iter()
            .find(|r| r.is_default)
            .map_or(0, |r| r.health.free_bytes)
    })
    .await
    .unwrap_or(0);
    let server = server_state(&app, &all, free);
    let categories = category_map(&app);
    let tags: HashSet<String> = app.engine.tags().into_iter().collect();
    let mut trackers: HashMap<String, Vec<Value>> = HashMap::new();
    for s in &all {
        if let Some(url) = &s.tracker_url {
            trackers
                .entry(url.clone())
                .or_default()
                .push(s.info_hash.to_hex().into());
        }
    }
    let trackers: Map<String, Value> = trackers
        .into_iter()
        .map(|(k, v)| (k, Value::Array(v)))
        .collect();

    let key = client_key(&headers, peer);
    let Some(q) = app.qbit.as_ref() else {
        return Ok(super::off().await);
    };
    let mut last = q.sync_lock().take(&key);
    let full = rid == 0 || rid != last.rid;
    if full {
        last = Client::default();
    }
    // The torrents' part is written as it is worked out: no JSON tree of
    // 100,000 torrents is ever built.
    let mut torrents: Vec<u8> = Vec::new();
    let mut seen = HashMap::with_capacity(all.len());
    for s in &all {
        let view = QbTorrent::new(s, &cx);
        let fields = view.fields();
        let hashes: Box<[u64]> = fields.iter().map(|(_, f)| field_hash(f)).collect();
        let before = last
            .torrents
            .get(&s.info_hash)
            .filter(|b| b.len() == hashes.len());
        let mut first = true;
        for (i, (name, value)) in fields.iter().enumerate() {
            if *name == "hash" || before.is_some_and(|b| b[i] == hashes[i]) {
                continue;
            }
            if first {
                if !torrents.is_empty() {
                    torrents.push(b',');
                }
                torrents.extend_from_slice(b"\"");
                torrents.extend_from_slice(view.hash.as_bytes());
                torrents.extend_from_slice(b"\":{");
                first = false;
            } else {
                torrents.push(b',');
            }
            torrents.push(b'"');
            torrents.extend_from_slice(name.as_bytes());
            torrents.extend_from_slice(b"\":");
            value.write_json(&mut torrents);
        }
        if !first {
            torrents.push(b'}');
        }
        seen.insert(s.info_hash, hashes);
    }
    let removed: Vec<String> = last
        .torrents
        .keys()
        .filter(|h| !seen.contains_key(*h))
        .map(InfoHash::to_hex)
        .collect();
    let cats = changed(&last.categories, &categories, full);
    let cats_removed: Vec<&String> = last
        .categories
        .keys()
        .filter(|k| !categories.contains_key(*k))
        .collect();
    let mut tags_added: Vec<&String> = tags
        .iter()
        .filter(|t| full || !last.tags.contains(*t))
        .collect();
    tags_added.sort();
    let mut tags_removed: Vec<&String> = last.tags.iter().filter(|t| !tags.contains(*t)).collect();
    tags_removed.sort();
    let server_diff = changed(&last.server, &server, full);
    let trk = changed(&last.trackers, &trackers, full);
    let trk_removed: Vec<&String> = last
        .trackers
        .keys()
        .filter(|k| !trackers.contains_key(*k))
        .collect();

    let new_rid = last.rid + 1;
    let mut out = Vec::with_capacity(torrents.len() + 4096);
    out.extend_from_slice(format!("{{\"rid\":{new_rid}").as_bytes());
    if full {
        out.extend_from_slice(b",\"full_update\":true");
    }
    // A full update has every key; a delta only those with something in them.
    let mut put = |k: &str, v: &dyn erased::Json, empty: bool| {
        if full || !empty {
            out.extend_from_slice(format!(",\"{k}\":").as_bytes());
            v.write(&mut out);
        }
    };
    put("torrents", &erased::Raw(&torrents), torrents.is_empty());
    if !full {
        put("torrents_removed", &removed, removed.is_empty());
    }
    put("categories", &cats, cats.is_empty());
    if !full {
        put("categories_removed", &cats_removed, cats_removed.is_empty());
    }
    put("tags", &tags_added, tags_added.is_empty());
    if !full {
        put("tags_removed", &tags_removed, tags_removed.is_empty());
    }
    put("server_state", &server_diff, server_diff.is_empty());
    put("trackers", &trk, trk.is_empty());
    if !full {
        put("trackers_removed", &trk_removed, trk_removed.is_empty());
    }
    out.push(b'}');
    #[allow(clippy::disallowed_methods)] // which client asked last, in wall time
    let used = Instant::now();
    q.sync_lock().put(
        key,
        Client {
            rid: new_rid,
            last_used: Some(used),
            torrents: seen,
            categories,
            tags,
            server,
            trackers,
        },
    );
    Ok((
        axum::http::StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response())
}

/// Writing the answer's parts: a serialisable value, or JSON already written.
mod erased {
    /// Something written as JSON into the answer.
    pub trait Json {
        fn write(&self, out: &mut Vec<u8>);
    }

    impl<T: serde::Serialize> Json for T {
        fn write(&self, out: &mut Vec<u8>) {
            // Serialising maps of strings and numbers into a Vec cannot fail.
            if serde_json::to_writer(&mut *out, self).is_err() {
                out.extend_from_slice(b"null");
            }
        }
    }

    /// An object's members already written (`"a":1,"b":2`), wrapped in braces.
    pub struct Raw<'a>(pub &'a [u8]);

    impl Json for Raw<'_> {
        fn write(&self, out: &mut Vec<u8>) {
            out.push(b'{');
            out.extend_from_slice(self.0);
            out.push(b'}');
        }
    }
}

/// `sync/torrentPeers?hash=&rid=`: the torrent's peers, always as a full
/// update (peers are few; qBittorrent's clients take either).
pub async fn torrent_peers(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let ih = p.hash()?;
    let rid: u64 = p.num("rid")?.unwrap_or(0);
    let peers = app.engine.peer_stats_async(ih).await?;
    let pieces = f64::from(app.engine.stats_async(ih).await?.total_pieces.max(1));
    let mut m = Map::new();
    for ps in peers {
        let key = ps.addr.to_string();
        m.insert(
            key,
            json!({
                "client": ps.client, "connection": "BT", "country": "", "country_code": "",
                "dl_speed": ps.download_rate, "downloaded": 0, "files": "",
                "flags": ps.flags, "flags_desc": "", "ip": ps.addr.ip().to_string(),
                "port": ps.addr.port(), "progress": super::view::qt_value(f64::from(ps.pieces) / pieces), "relevance": 0,
                "up_speed": ps.upload_rate, "uploaded": 0,
            }),
        );
    }
    Ok(answer(&json!({
        "full_update": true,
        "peers": m,
        "rid": rid + 1,
        "show_flags": true,
    })))
}
