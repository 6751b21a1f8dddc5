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
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::super::api::Shared;
use super::read::{category_map, context};
use super::view::QbTorrent;
use super::{Params, QbError, json as answer, sid};
use crate::core::TorrentStats;

/// Most clients whose last answer is remembered; past it, the one that asked
/// longest ago is forgotten (it gets a full update next time).
pub const MAX_CLIENTS: usize = 8;

/// What one client was sent last.
#[derive(Debug, Default)]
struct Client {
    rid: u64,
    last_used: Option<Instant>,
    /// Torrent hash to the hashes of its fields, in the view's field order.
    torrents: HashMap<String, Vec<u64>>,
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

fn hash_value(v: &Value, h: &mut DefaultHasher) {
    match v {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => b.hash(h),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.hash(h),
            (None, Some(i), _) => i.hash(h),
            (None, None, f) => f.unwrap_or(0.0).to_bits().hash(h),
        },
        Value::String(s) => s.hash(h),
        Value::Array(a) => a.iter().for_each(|x| hash_value(x, h)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            k.hash(h);
            hash_value(x, h);
        }),
    }
}

fn field_hash(v: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    hash_value(v, &mut h);
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
    let mut out = Map::new();
    let mut torrents = Map::new();
    let mut seen = HashMap::with_capacity(all.len());
    for s in &all {
        let mut view = QbTorrent::new(s, &cx);
        let hex = std::mem::take(&mut view.hash);
        let Ok(Value::Object(fields)) = serde_json::to_value(&view) else {
            continue;
        };
        let hashes: Vec<u64> = fields.values().map(field_hash).collect();
        match last.torrents.get(&hex) {
            Some(before) if before.len() == hashes.len() => {
                let diff: Map<String, Value> = fields
                    .into_iter()
                    .zip(hashes.iter().zip(before))
                    .filter(|(_, (a, b))| a != b)
                    .map(|(kv, _)| kv)
                    .collect();
                if !diff.is_empty() {
                    torrents.insert(hex.clone(), Value::Object(diff));
                }
            }
            _ => {
                torrents.insert(hex.clone(), Value::Object(fields));
            }
        }
        seen.insert(hex, hashes);
    }
    let removed: Vec<Value> = last
        .torrents
        .keys()
        .filter(|h| !seen.contains_key(*h))
        .map(|h| h.clone().into())
        .collect();
    let cats = changed(&last.categories, &categories, full);
    let cats_removed: Vec<Value> = last
        .categories
        .keys()
        .filter(|k| !categories.contains_key(*k))
        .map(|k| k.clone().into())
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
    let trk_removed: Vec<Value> = last
        .trackers
        .keys()
        .filter(|k| !trackers.contains_key(*k))
        .map(|k| k.clone().into())
        .collect();

    let new_rid = last.rid + 1;
    out.insert("rid".into(), new_rid.into());
    if full {
        out.insert("full_update".into(), true.into());
        out.insert("torrents".into(), Value::Object(torrents));
        out.insert("categories".into(), Value::Object(cats));
        out.insert("tags".into(), tags_added.into_iter().cloned().collect());
        out.insert("server_state".into(), Value::Object(server_diff));
        out.insert("trackers".into(), Value::Object(trk));
    } else {
        let mut put = |k: &str, v: Value, empty: bool| {
            if !empty {
                out.insert(k.into(), v);
            }
        };
        put(
            "torrents",
            Value::Object(torrents.clone()),
            torrents.is_empty(),
        );
        put(
            "torrents_removed",
            removed.clone().into(),
            removed.is_empty(),
        );
        put("categories", Value::Object(cats.clone()), cats.is_empty());
        put(
            "categories_removed",
            cats_removed.clone().into(),
            cats_removed.is_empty(),
        );
        put(
            "tags",
            tags_added.iter().map(|t| Value::from(t.as_str())).collect(),
            tags_added.is_empty(),
        );
        put(
            "tags_removed",
            tags_removed
                .iter()
                .map(|t| Value::from(t.as_str()))
                .collect(),
            tags_removed.is_empty(),
        );
        put(
            "server_state",
            Value::Object(server_diff.clone()),
            server_diff.is_empty(),
        );
        put("trackers", Value::Object(trk.clone()), trk.is_empty());
        put(
            "trackers_removed",
            trk_removed.clone().into(),
            trk_removed.is_empty(),
        );
    }
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
    Ok(answer(&out))
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
