//! `torrents/info`: every torrent as qBittorrent lists it, filtered, and
//! sorted or paged when asked.
//!
//! The plain list (no sort, no page: what Sonarr, Radarr and cross-seed ask
//! for, often with a category) is streamed. Each shard makes its torrents'
//! rows on its own thread, a piece of 1,024 torrents at a time
//! (`Engine::stats_pieces`), and each piece goes to the client as soon as it
//! is made, the shards' pieces in the order they come, a few taken ahead of
//! the client. The answer for 100,000 torrents (about 110 MB) is never held
//! whole, no view outlives its piece, and the stats' strings are freed by
//! the thread that made them. A sorted or paged list needs every row before
//! the first is sent: it is made here, from every torrent's stats at once.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::super::api::Shared;
use super::read::context;
use super::view::{Context, Field, NAMES, QbTorrent};
use super::{Params, QbError};
use crate::Engine;
use crate::core::TorrentStats;
use crate::types::InfoHash;

/// Pieces taken from the shards ahead of the client. Full: the shards wait
/// until the client reads more (back pressure), so a client that reads
/// slowly or stops holds this many pieces (about a megabyte each) and the one
/// each shard is making, no more.
const PIECES_AHEAD: usize = 4;

/// `pieces` taken ahead of their reader by a task of their own, into a
/// channel of [`PIECES_AHEAD`], so the shards make their next pieces while
/// the client reads the last. (A shard asks for its next piece only once
/// the one before was taken: read straight by the client, the shards would
/// sit idle while it reads.) The task ends with the pieces, or once the
/// reader is gone.
pub(super) fn read_ahead<T: Send + 'static>(
    pieces: impl futures_util::Stream<Item = T> + Send + 'static,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    // Bounded: see PIECES_AHEAD.
    let (tx, rx) = tokio::sync::mpsc::channel(PIECES_AHEAD);
    tokio::spawn(async move {
        let mut pieces = std::pin::pin!(pieces);
        while let Some(piece) = pieces.next().await {
            if tx.send(piece).await.is_err() {
                tracing::debug!("a list's reader left before its end");
                return;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|p| (p, rx)) })
}

/// About how long a torrent's row is (110 MB for 100,000 torrents).
const ROW_BYTES: usize = 1_200;

/// qBittorrent's `filter`, `category`, `tag` and `hashes`: which torrents
/// the list keeps.
#[derive(Debug)]
struct Filters {
    filter: String,
    category: Option<String>,
    tag: Option<String>,
    hashes: Option<Vec<InfoHash>>,
}

impl Filters {
    fn of(p: &Params) -> Filters {
        Filters {
            filter: p.get("filter").unwrap_or("all").to_owned(),
            category: p.get("category").map(str::to_owned),
            tag: p.get("tag").map(str::to_owned),
            hashes: p.get("hashes").map(super::parse_hashes),
        }
    }

    fn keep(&self, s: &TorrentStats, t: &QbTorrent<'_>) -> bool {
        passes(&self.filter, t)
            && self.category.as_ref().is_none_or(|c| t.category == c)
            && self.tag.as_ref().is_none_or(|tag| {
                if tag.is_empty() {
                    s.settings.labels.is_empty()
                } else {
                    s.settings.labels.iter().any(|x| x == tag)
                }
            })
            && self
                .hashes
                .as_ref()
                .is_none_or(|h| h.contains(&s.info_hash))
    }
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
/// `limit`, `offset`.
pub async fn info(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let mut filters = Filters::of(&p);
    // A hybrid by either of its ids, as qBittorrent finds it.
    if let Some(h) = filters.hashes.take() {
        filters.hashes = Some(app.engine.resolve_async(h).await?);
    }
    let sort = p
        .get("sort")
        .and_then(|k| NAMES.iter().position(|n| *n == k));
    let reverse = p.flag("reverse")?.unwrap_or(false);
    let offset = p.num::<i64>("offset")?.unwrap_or(0);
    let limit = p.num::<i64>("limit")?.filter(|l| *l > 0);
    let cx = context(&app, true).await?;
    if sort.is_none() && !reverse && offset == 0 && limit.is_none() {
        return Ok(streamed(&app.engine, Arc::new(cx), Arc::new(filters)));
    }
    let all: Vec<TorrentStats> = app.engine.all_stats_async().await?;
    // Kept torrents by index, with their sort keys: views are made again for
    // the page only, so a page of ten out of 100,000 holds ten views.
    let mut kept: Vec<(usize, Option<SortKey>)> = (all.iter().enumerate())
        .filter_map(|(n, s)| {
            let t = QbTorrent::new(s, &cx);
            // The key (a lowercased copy for text) only for torrents kept.
            (filters.keep(s, &t)).then(|| (n, sort.map(|i| SortKey::of(&t.fields()[i].1))))
        })
        .collect();
    if sort.is_some() {
        // Stable: torrents equal by key stay in the engine's order.
        kept.sort_by(|a, b| match (&a.1, &b.1) {
            (Some(x), Some(y)) => x.order(y),
            _ => std::cmp::Ordering::Equal,
        });
    }
    if reverse {
        kept.reverse();
    }
    let len = kept.len() as i64;
    let offset = if offset < 0 {
        (len + offset).max(0)
    } else {
        offset
    };
    let mut out = vec![b'['];
    let page = kept
        .iter()
        .skip(usize::try_from(offset).unwrap_or(0))
        .take(limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)));
    for (n, (i, _)) in page.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        QbTorrent::new(&all[*i], &cx).write_json(&mut out);
    }
    out.push(b']');
    Ok(json_answer(Body::from(out)))
}

/// The rows of a piece's torrents that `f` keeps, each after a comma; made on
/// the shard that holds them.
fn rows(piece: &[TorrentStats], cx: &Context, f: &Filters) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, s) in piece.iter().enumerate() {
        let t = QbTorrent::new(s, cx);
        if f.keep(s, &t) {
            if out.is_empty() {
                // Room for the rest of the piece at once: most lists keep
                // most rows, and a list that keeps none takes none.
                out.reserve((piece.len() - i) * ROW_BYTES);
            }
            out.push(b',');
            t.write_json(&mut out);
        }
    }
    out
}

/// The plain list, sent as the shards make it.
fn streamed(engine: &Engine, cx: Arc<Context>, f: Arc<Filters>) -> Response {
    let pieces =
        read_ahead(engine.stats_pieces(move |piece: Vec<TorrentStats>| rows(&piece, &cx, &f)));
    // A piece that kept no row is skipped; a shard that fails cuts the
    // answer short (the client sees a broken transfer), with why logged.
    let pieces = pieces.filter_map(|piece| async move {
        match piece {
            Ok(rows) if rows.is_empty() => None,
            Ok(rows) => Some(Ok(Bytes::from(rows))),
            Err(e) => {
                tracing::warn!("torrents/info: the list was cut short: {e}");
                Some(Err(std::io::Error::other(e.to_string())))
            }
        }
    });
    // Every row comes after a comma: the list's first loses it.
    let mut first = true;
    let pieces = pieces.map(move |piece| {
        piece.map(|b| {
            if std::mem::take(&mut first) {
                b.slice(1..)
            } else {
                b
            }
        })
    });
    let open = futures_util::stream::iter([Ok(Bytes::from_static(b"["))]);
    let close = futures_util::stream::iter([Ok(Bytes::from_static(b"]"))]);
    json_answer(Body::from_stream(open.chain(pieces).chain(close)))
}

/// JSON already written, as an answer.
fn json_answer(body: Body) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
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
            Field::M(t) => SortKey::Text(t.magnet_uri().to_lowercase()),
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
