//! `log/main`: the daemon's log ring (the one `/api/v1/logs` reads) as
//! qBittorrent's execution log; `log/peers`: the peer log (peers the IP
//! filter refused, peers banned for bad data).

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::super::api::Shared;
use super::{Params, QbError, json as answer};
use crate::logring::{Entry, Query};

/// qBittorrent's message types.
const NORMAL: u8 = 1;
const INFO: u8 = 2;
const WARNING: u8 = 4;
const CRITICAL: u8 = 8;

/// qBittorrent's type for a level: errors are critical, warnings warnings,
/// the info level is qBittorrent's "normal" (what it says of torrents and
/// the session), and the chattier levels its "info".
fn kind(level: &str) -> u8 {
    match level {
        "ERROR" => CRITICAL,
        "WARN" => WARNING,
        "INFO" => NORMAL,
        _ => INFO,
    }
}

/// An entry's text: its message, the torrent it names, its fields.
fn text(e: &Entry) -> String {
    let mut s = e.message.clone();
    if let Some(ih) = &e.info_hash {
        s.push_str(&format!(" [{ih}]"));
    }
    for (k, v) in &e.fields {
        s.push_str(&format!(" {k}={v}"));
    }
    s
}

/// `log/main` (`normal`, `info`, `warning`, `critical`: `true` unless said
/// otherwise; `last_known_id`: only the entries after it). Each entry is
/// `{id, message, timestamp (Unix seconds), type}`, oldest first; the ring
/// holds the latest entries only.
pub async fn main_log(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let mut wanted = 0u8;
    for (key, bit) in [
        ("normal", NORMAL),
        ("info", INFO),
        ("warning", WARNING),
        ("critical", CRITICAL),
    ] {
        if p.flag(key)?.unwrap_or(true) {
            wanted |= bit;
        }
    }
    let last: i64 = p.num("last_known_id")?.unwrap_or(-1);
    let q = Query {
        since: u64::try_from(last).ok(),
        limit: usize::MAX,
        ..Query::default()
    };
    let rows: Vec<Value> = (app.logs.query(&q).iter())
        .filter(|e| kind(&e.level) & wanted != 0)
        .map(|e| {
            json!({
                "id": e.id,
                "message": text(e),
                "timestamp": e.time_ms / 1000,
                "type": kind(&e.level),
            })
        })
        .collect();
    Ok(answer(&rows))
}

/// `log/peers` (`last_known_id`: only the entries after it): each entry is
/// `{id, ip, timestamp (Unix seconds), blocked, reason}`, oldest first:
/// `blocked` for a connection the IP filter refused or closed (reason "IP
/// filter"), not for a peer banned for the data it sent (reason: what it
/// did). The log holds the latest entries only.
pub async fn peer_log(State(app): State<Shared>, p: Params) -> Result<Response, QbError> {
    let last: i64 = p.num("last_known_id")?.unwrap_or(-1);
    let rows: Vec<Value> = (app.peer_log.since(u64::try_from(last).ok()).iter())
        .map(|e| {
            json!({
                "id": e.id,
                "ip": e.note.ip.to_string(),
                "timestamp": e.note.unix_ms / 1000,
                "blocked": e.note.blocked,
                "reason": e.note.reason,
            })
        })
        .collect();
    Ok(answer(&rows))
}
