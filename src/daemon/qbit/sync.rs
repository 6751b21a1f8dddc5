//! `sync/maindata`: what changed since the answer a client last got (its
//! `rid`), as qBittorrent sends it; and `sync/torrentPeers`.
//!
//! Per client (its session, or its address when it needs no login) the layer
//! keeps what [`delta::Client`] holds, not the last answer. At most
//! [`MAX_CLIENTS`] clients are followed; a client pushed out gets a full update
//! at its next request, as one with an unknown `rid` does.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::super::api::Shared;
use super::delta::{self, Totals};
use super::read::{category_map, context};
use super::{Params, QbError, json as answer, sid};

/// Most clients whose last answer is remembered; past it, the one that asked
/// longest ago is forgotten (it gets a full update next time).
pub const MAX_CLIENTS: usize = 8;

/// The clients followed.
#[derive(Debug, Default)]
pub struct Clients {
    by_key: HashMap<String, delta::Client>,
}

impl Clients {
    /// Forgets a client (it logged out).
    pub fn forget(&mut self, key: &str) {
        self.by_key.remove(key);
    }

    fn take(&mut self, key: &str) -> delta::Client {
        self.by_key.remove(key).unwrap_or_default()
    }

    fn put(&mut self, key: String, c: delta::Client) {
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

/// `server_state`, from the totals over every torrent.
fn server_state(app: &Shared, t: &Totals, free: u64, session: (u64, u64)) -> Map<String, Value> {
    let [dl, ul, down, up, peers, wasted] = *t;
    let (session_dl, session_ul) = session;
    let (dl_limit, ul_limit, alt) = {
        let s = app
            .settings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (down, up) = s.limits_in_force();
        (down, up, s.alt_limits)
    };
    let ratio = if dl == 0 {
        "-".to_owned()
    } else {
        format!("{:.2}", ul as f64 / dl as f64)
    };
    let v = json!({
        "alltime_dl": dl, "alltime_ul": ul, "average_time_queue": 0,
        "connection_status": if peers > 0 { "connected" } else { "firewalled" },
        "dht_nodes": super::app::dht_nodes(app), "dl_info_data": session_dl,
        "dl_info_speed": down, "dl_rate_limit": dl_limit,
        "free_space_on_disk": free, "global_ratio": ratio, "queued_io_jobs": 0,
        "queueing": app.engine.queue_limits().enabled, "read_cache_hits": "0",
        "read_cache_overload": "0", "refresh_interval": 1500, "total_buffers_size": 0,
        "total_peer_connections": peers, "total_queued_size": 0,
        "total_wasted_session": wasted, "up_info_data": session_ul, "up_info_speed": up,
        "up_rate_limit": ul_limit, "use_alt_speed_limits": alt,
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

/// A hash of what views depend on beside their torrent.
fn context_hash(cx: &super::view::Context, queueing: bool) -> u64 {
    let mut h = DefaultHasher::new();
    // Ordered by token: the same roots hash the same.
    cx.roots.hash(&mut h);
    let s = cx.share;
    (s.ratio_milli, s.seeding_mins, s.inactive_mins, queueing).hash(&mut h);
    h.finish()
}

/// `sync/maindata?rid=`.
pub async fn maindata(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, QbError> {
    let rid: u64 = p.num("rid")?.unwrap_or(0);
    let Some(q) = app.qbit.as_ref() else {
        return Ok(super::off().await);
    };
    let key = client_key(&headers, peer);
    let mut last = q.sync_lock().take(&key);
    let full = rid == 0 || rid != last.rid;
    if full {
        last = delta::Client::default();
    }
    let queueing = app.engine.queue_limits().enabled;
    // Queue ranks depend on every torrent: with the queue on, all are looked at.
    let cx0 = context(&app, false).await?;
    let cx_hash = context_hash(&cx0, queueing);
    let versions = if cx_hash != last.context || queueing {
        Vec::new()
    } else {
        last.versions.clone()
    };
    let cs = app.engine.stats_since_async(&versions).await?;
    let cx = if queueing {
        context(&app, true).await?
    } else {
        cx0
    };
    let d = last.update(&cs, &cx);
    last.versions = cs.versions;
    last.context = cx_hash;

    let engine = app.engine.clone();
    let free = tokio::task::spawn_blocking(move || {
        (engine.default_root_health()).map_or(0, |(_, health)| health.free_bytes)
    })
    .await
    .unwrap_or(0);
    let session = super::app::session_bytes(&app).await?;
    let server = server_state(&app, &last.totals, free, session);
    let categories = category_map(&app);
    let tags: HashSet<String> = app.engine.tags().into_iter().collect();
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
    let trackers = if full {
        last.all_trackers()
    } else {
        d.trackers
    };

    let new_rid = last.rid + 1;
    let mut head = format!("{{\"rid\":{new_rid}").into_bytes();
    if full {
        head.extend_from_slice(b",\"full_update\":true");
    }
    // A full update has every key; a delta only those with something in them.
    // The torrents' members (110 MB for a full update of 100,000) go out as
    // they are, between the head and the rest, not copied into one answer.
    let torrents = if full || !d.torrents.is_empty() {
        head.extend_from_slice(b",\"torrents\":{");
        d.torrents
    } else {
        Vec::new()
    };
    let mut out = Vec::with_capacity(4096);
    if full || !torrents.is_empty() {
        out.push(b'}');
    }
    let mut put = |k: &str, v: &dyn erased::Json, empty: bool| {
        if full || !empty {
            out.extend_from_slice(format!(",\"{k}\":").as_bytes());
            v.write(&mut out);
        }
    };
    if !full {
        put("torrents_removed", &d.removed, d.removed.is_empty());
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
    put("trackers", &trackers, trackers.is_empty());
    if !full {
        let gone = &d.trackers_removed;
        put("trackers_removed", gone, gone.is_empty());
    }
    out.push(b'}');
    #[allow(clippy::disallowed_methods)] // which client asked last, in wall time
    let used = Instant::now();
    last.rid = new_rid;
    last.last_used = Some(used);
    last.categories = categories;
    last.tags = tags;
    last.server = server;
    q.sync_lock().put(key, last);
    let parts = [head, torrents, out].map(|p| Ok::<_, std::convert::Infallible>(Bytes::from(p)));
    Ok((
        axum::http::StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        Body::from_stream(futures_util::stream::iter(parts)),
    )
        .into_response())
}

/// Writing the answer's parts: a serialisable value.
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
}

/// `sync/torrentPeers?hash=&rid=`: the torrent's peers, always as a full
/// update (peers are few; qBittorrent's clients take either).
pub async fn torrent_peers(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let ih = p.torrent(&app.engine).await?;
    let rid: u64 = p.num("rid")?.unwrap_or(0);
    let peers = app.engine.peer_stats_async(ih).await?;
    let pieces = f64::from(app.engine.stats_async(ih).await?.total_pieces.max(1));
    let mut m = Map::new();
    for ps in peers {
        let key = ps.addr.to_string();
        // qBittorrent's names for the two transports.
        let connection = match ps.transport {
            crate::core::Transport::Tcp => "BT",
            crate::core::Transport::Utp => "μTP",
        };
        m.insert(
            key,
            json!({
                "client": ps.client, "connection": connection, "country": "", "country_code": "",
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
