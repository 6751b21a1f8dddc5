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
use crate::core::TorrentStats;
use crate::core::versions::QuickBuild;
use crate::engine::EngineError;
use crate::types::InfoHash;
use futures_util::StreamExt;

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

/// What the end of a `sync/maindata` answer is made of, read before its
/// torrents are walked.
struct Ending {
    full: bool,
    free: u64,
    session: (u64, u64),
    categories: Map<String, Value>,
    tags: HashSet<String>,
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
    let walk_all = full || cx_hash != last.context || queueing || last.versions.is_empty();
    let changed = if walk_all {
        last.versions = app.engine.stats_versions_async().await?;
        None
    } else {
        let cs = app.engine.stats_since_async(&last.versions).await?;
        last.versions.clone_from(&cs.versions);
        Some(cs)
    };
    let cx = if queueing {
        context(&app, true).await?
    } else {
        cx0
    };
    last.context = cx_hash;

    let engine = app.engine.clone();
    let free = tokio::task::spawn_blocking(move || {
        (engine.default_root_health()).map_or(0, |(_, health)| health.free_bytes)
    })
    .await
    .unwrap_or(0);
    let ending = Ending {
        full,
        free,
        session: super::app::session_bytes(&app).await?,
        categories: category_map(&app),
        tags: app.engine.tags().into_iter().collect(),
    };
    let new_rid = last.rid + 1;
    let mut head = format!("{{\"rid\":{new_rid}").into_bytes();
    if full {
        head.extend_from_slice(b",\"full_update\":true");
    }
    let Some(cs) = changed else {
        return Ok(walked(app, key, last, cx, ending, head));
    };
    let mut d = last.update(&cs, &cx);
    // A delta has only the keys with something in them.
    let mut torrents = std::mem::take(&mut d.torrents);
    if !torrents.is_empty() {
        head.extend_from_slice(b",\"torrents\":{");
        torrents.push(b'}');
    }
    let rest = finish(&app, &key, last, ending, d);
    Ok(json_parts([head, torrents, rest]))
}

/// The answer's parts, as they are (the torrents' members of a delta are
/// not copied into one answer).
fn json_parts<const N: usize>(parts: [Vec<u8>; N]) -> Response {
    let parts = parts.map(|p| Ok::<_, std::io::Error>(Bytes::from(p)));
    json_body(Body::from_stream(futures_util::stream::iter(parts)))
}

fn json_body(body: Body) -> Response {
    (
        axum::http::StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The answer of a walk over every torrent (a full update, or a delta after
/// the context moved or with the queue on), sent while it is made: each
/// shard's torrents come a piece at a time, and each piece's members go to
/// the client before the next is taken, so the answer for 100,000 torrents
/// (about 110 MB) and their numbers are never held whole: a client that
/// reads slowly holds the pieces taken ahead of it (`info::read_ahead`: a
/// few, of 1,024 torrents' numbers each) and the part being sent. The end
/// (`server_state`, trackers, removals) follows the last piece, and the
/// client's state is kept only once it is sent; a shard that fails cuts the
/// answer short (the client sees a broken transfer, and the reason is
/// logged), and the client's next request is a full update.
fn walked(
    app: Shared,
    key: String,
    last: delta::Client,
    cx: super::view::Context,
    ending: Ending,
    head: Vec<u8>,
) -> Response {
    let pieces = Box::pin(super::info::read_ahead(app.engine.stats_pieces(|p| p)));
    let full = ending.full;
    let walk = Walking {
        app,
        key,
        last,
        cx,
        ending: Some(ending),
        head: Some(head),
        pieces,
        walk: delta::Walk::default(),
        // A full update's client had no torrents: none can be gone.
        met: (!full).then(HashSet::default),
        opened: false,
    };
    let parts = futures_util::stream::unfold(walk, |mut w| async move {
        let part = w.next_part().await?;
        Some((part, w))
    });
    json_body(Body::from_stream(parts))
}

/// Every torrent's numbers, a piece at a time (`Engine::stats_pieces`).
type Pieces = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<Vec<TorrentStats>, EngineError>> + Send>,
>;

/// A walk's state between the parts of its answer.
struct Walking {
    app: Shared,
    key: String,
    last: delta::Client,
    cx: super::view::Context,
    /// Taken when the end is sent, or when the walk fails.
    ending: Option<Ending>,
    head: Option<Vec<u8>>,
    pieces: Pieces,
    walk: delta::Walk,
    /// Every torrent met: the client's others are gone (`None` for a full
    /// update, whose client held none before it).
    met: Option<HashSet<InfoHash, QuickBuild>>,
    /// `"torrents":{` was sent.
    opened: bool,
}

impl Walking {
    /// The answer's next part; `None` after the last (or a failure).
    async fn next_part(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        if let Some(mut head) = self.head.take() {
            if self.ending.as_ref().is_some_and(|e| e.full) {
                head.extend_from_slice(b",\"torrents\":{");
                self.opened = true;
            }
            return Some(Ok(Bytes::from(head)));
        }
        self.ending.as_ref()?;
        while let Some(piece) = self.pieces.next().await {
            let piece = match piece {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!("sync/maindata: the answer was cut short: {e}");
                    self.ending = None;
                    return Some(Err(std::io::Error::other(e.to_string())));
                }
            };
            if let Some(met) = &mut self.met {
                met.extend(piece.iter().map(|s| s.info_hash));
            }
            let mut part = Vec::new();
            if !self.opened {
                part.extend_from_slice(b",\"torrents\":{");
            }
            let opening = part.len();
            (self.last).take_in(&piece, &self.cx, &mut self.walk, &mut part);
            if part.len() > opening {
                self.opened = true;
                return Some(Ok(Bytes::from(part)));
            }
        }
        let ending = self.ending.take()?;
        let walk = std::mem::take(&mut self.walk);
        let gone = match &self.met {
            Some(met) => delta::Gone::NotIn(met),
            None => delta::Gone::These(&[]),
        };
        let d = (self.last).end(gone, walk, &self.cx);
        let last = std::mem::take(&mut self.last);
        let mut part = Vec::new();
        if self.opened {
            part.push(b'}');
        }
        let rest = finish(&self.app, &self.key, last, ending, d);
        part.extend_from_slice(&rest);
        Some(Ok(Bytes::from(part)))
    }
}

/// Everything after the torrents' members (`d`'s own are sent already):
/// removals, categories, tags, `server_state` (from the totals after the
/// walk) and trackers; the client's state is kept as this answer leaves it.
fn finish(app: &Shared, key: &str, mut last: delta::Client, e: Ending, d: delta::Delta) -> Vec<u8> {
    let (removed, trackers_removed) = (d.removed, d.trackers_removed);
    let full = e.full;
    let server = server_state(app, &last.totals, e.free, e.session);
    let (categories, tags) = (e.categories, e.tags);
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
    let mut out = Vec::with_capacity(4096);
    // A full update has every key; a delta only those with something in them.
    let mut put = |k: &str, v: &dyn erased::Json, empty: bool| {
        if full || !empty {
            out.extend_from_slice(format!(",\"{k}\":").as_bytes());
            v.write(&mut out);
        }
    };
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
    put("trackers", &trackers, trackers.is_empty());
    if !full {
        put(
            "trackers_removed",
            &trackers_removed,
            trackers_removed.is_empty(),
        );
    }
    out.push(b'}');
    #[allow(clippy::disallowed_methods)] // which client asked last, in wall time
    let used = Instant::now();
    last.rid += 1;
    last.last_used = Some(used);
    last.categories = categories;
    last.tags = tags;
    last.server = server;
    if let Some(q) = app.qbit.as_ref() {
        q.sync_lock().put(key.to_owned(), last);
    }
    out
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
