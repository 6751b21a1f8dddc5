//! `GET /metrics`: the daemon's numbers in the Prometheus text format, taken from
//! the engine at each scrape (nothing is kept between scrapes).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::api::{ApiError, Shared};
use super::views::state_name;
use crate::core::CoreCounters;

/// Torrents given series of their own (the fastest by download plus upload rate):
/// beyond this, per-torrent series would swamp the scraper.
pub const PER_TORRENT_SERIES: usize = 100;

type G = Gauge<f64, AtomicU64>;

fn gauge(reg: &mut Registry, name: &str, help: &str, v: f64) {
    let g = G::default();
    g.set(v);
    reg.register(name, help, g);
}

/// `GET /metrics`.
pub async fn metrics(State(app): State<Shared>) -> Result<impl IntoResponse, ApiError> {
    let all = app.engine.all_stats_async().await?;
    let conns = app.engine.connections_async().await?;
    let mut reg = Registry::with_prefix("seedring");
    let sum = |f: fn(&crate::core::TorrentStats) -> u64| all.iter().map(f).sum::<u64>() as f64;
    gauge(
        &mut reg,
        "uptime_seconds",
        "Seconds since the daemon started",
        app.started.elapsed().as_secs_f64(),
    );
    gauge(
        &mut reg,
        "download_rate_bytes",
        "Download rate of all torrents, bytes per second",
        sum(|t| t.download_rate),
    );
    gauge(
        &mut reg,
        "upload_rate_bytes",
        "Upload rate of all torrents, bytes per second",
        sum(|t| t.upload_rate),
    );
    gauge(
        &mut reg,
        "downloaded_bytes",
        "Payload bytes downloaded by the torrents there now, since each was added",
        sum(|t| t.downloaded),
    );
    gauge(
        &mut reg,
        "uploaded_bytes",
        "Payload bytes uploaded by the torrents there now, since each was added",
        sum(|t| t.uploaded),
    );
    gauge(
        &mut reg,
        "wasted_bytes",
        "Bytes received and thrown away (hash failures, duplicates)",
        sum(|t| t.wasted),
    );
    gauge(
        &mut reg,
        "hash_failures",
        "Pieces that failed their hash check",
        sum(|t| t.hash_failures),
    );
    gauge(
        &mut reg,
        "peers",
        "Connected peers, all torrents",
        all.iter().map(|t| t.peers).sum::<usize>() as f64,
    );
    gauge(
        &mut reg,
        "connections",
        "Peer connections, half-open ones included",
        conns.total as f64,
    );
    gauge(
        &mut reg,
        "half_open_connections",
        "Outgoing connections being set up",
        conns.half_open as f64,
    );
    gauge(
        &mut reg,
        "shards",
        "Engine threads",
        app.engine.shards() as f64,
    );
    if let Some(d) = app.dht.as_ref().map(crate::net::dht::DhtStatsHandle::get) {
        gauge(
            &mut reg,
            "dht_nodes",
            "Nodes in the DHT routing tables",
            d.nodes as f64,
        );
        gauge(
            &mut reg,
            "dht_queries_in",
            "DHT queries answered since start",
            d.queries_in as f64,
        );
        gauge(
            &mut reg,
            "dht_queries_out",
            "DHT queries sent since start",
            d.queries_out as f64,
        );
        gauge(
            &mut reg,
            "dht_dropped",
            "DHT packets dropped since start",
            d.dropped as f64,
        );
    }
    let counters = app.engine.counters_async().await?;
    let per_shard = |reg: &mut Registry, name: &str, help: &str, f: fn(&CoreCounters) -> f64| {
        let fam = Family::<Vec<(String, String)>, G>::default();
        for (i, c) in counters.iter().enumerate() {
            fam.get_or_create(&vec![("shard".to_owned(), i.to_string())])
                .set(f(c));
        }
        reg.register(name, help, fam);
    };
    let (down, up) =
        (counters.iter()).fold((0u64, 0u64), |(d, u), c| (d + c.downloaded, u + c.uploaded));
    gauge(
        &mut reg,
        "session_downloaded_bytes",
        "Payload bytes downloaded since the daemon started (torrents removed since included)",
        down as f64,
    );
    gauge(
        &mut reg,
        "session_uploaded_bytes",
        "Payload bytes uploaded since the daemon started (torrents removed since included)",
        up as f64,
    );
    per_shard(
        &mut reg,
        "shard_hashed_bytes",
        "Bytes hashed since start, per engine thread",
        |c| c.hashed_bytes as f64,
    );
    per_shard(
        &mut reg,
        "shard_resident_metadata",
        "Torrents whose piece hashes are in memory, per engine thread",
        |c| c.resident_metadata as f64,
    );
    per_shard(
        &mut reg,
        "shard_metadata_loads",
        "Times metadata was read back from the session store, per engine thread",
        |c| c.metadata_loads as f64,
    );
    per_shard(
        &mut reg,
        "shard_disk_queue",
        "Pieces waiting for the disk, per engine thread",
        |c| c.disk_queue as f64,
    );
    per_shard(
        &mut reg,
        "shard_checks_reading",
        "Torrents whose checks read their files now, per engine thread",
        |c| c.checks_reading as f64,
    );
    per_shard(
        &mut reg,
        "shard_checks_waiting",
        "Torrents whose checks wait for a turn, per engine thread",
        |c| c.checks_waiting as f64,
    );
    per_shard(
        &mut reg,
        "shard_piece_buffer_bytes",
        "Bytes held for pieces being downloaded, per engine thread",
        |c| c.piece_buffer_bytes as f64,
    );
    per_shard(
        &mut reg,
        "shard_ip_filter_refused",
        "Connections refused by the IP filter since start, per engine thread",
        |c| c.filtered as f64,
    );
    per_shard(
        &mut reg,
        "shard_torrents",
        "Torrents per engine thread",
        |c| c.torrents as f64,
    );
    gauge(
        &mut reg,
        "failed_shards",
        "Engine threads that failed",
        app.engine.failed_shards().len() as f64,
    );
    gauge(
        &mut reg,
        "tracker_errors",
        "Torrents whose last tracker announce failed",
        all.iter().filter(|t| t.tracker_error.is_some()).count() as f64,
    );

    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &all {
        *by_state.entry(state_name(&t.state)).or_default() += 1;
    }
    let states = Family::<Vec<(String, String)>, G>::default();
    for s in [
        "fetching_metadata",
        "checking",
        "downloading",
        "seeding",
        "paused",
        "queued",
        "moving",
        "error",
    ] {
        let n = by_state.get(s).copied().unwrap_or(0);
        states
            .get_or_create(&vec![("state".to_owned(), s.to_owned())])
            .set(n as f64);
    }
    reg.register("torrents", "Torrents by state", states);

    let mut busiest: Vec<&crate::core::TorrentStats> = all.iter().collect();
    busiest.sort_by_key(|t| std::cmp::Reverse(t.download_rate + t.upload_rate));
    let down = Family::<Vec<(String, String)>, G>::default();
    let up = Family::<Vec<(String, String)>, G>::default();
    for t in busiest.into_iter().take(PER_TORRENT_SERIES) {
        let labels = vec![("id".to_owned(), t.info_hash.to_hex())];
        down.get_or_create(&labels).set(t.download_rate as f64);
        up.get_or_create(&labels).set(t.upload_rate as f64);
    }
    reg.register(
        "torrent_download_rate_bytes",
        "Download rate per torrent (the 100 busiest), bytes per second",
        down,
    );
    reg.register(
        "torrent_upload_rate_bytes",
        "Upload rate per torrent (the 100 busiest), bytes per second",
        up,
    );

    let mut body = String::new();
    encode(&mut body, &reg).map_err(|e| ApiError::bad(e.to_string()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    ))
}
