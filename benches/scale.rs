//! One daemon with many torrents (100,000 by default) seeding idle: what a large
//! seedbox costs to start and to keep.
//!
//! The torrents are a mix like a real seedbox's: 55% single files of 100 MiB to
//! 8 GiB, 45% folders of 3 to 16 files (200 MiB to 40 GiB), each with the piece
//! length `seedring create` would pick (1,000 to 2,000 pieces), all complete, all
//! announcing to one tracker. Their data are sparse files (nothing is read while
//! idle), their piece hashes random (nothing is checked: the records say complete).
//!
//! Measured on the real `seedring daemon` process:
//! - start: from spawning the process to the first answer of `GET /api/v1/torrents`
//!   (the engine restores every torrent before the API listens);
//! - list: `GET /api/v1/torrents` with every torrent, median of 5 (each
//!   call timed to its answer's last byte, read into one buffer kept across
//!   calls, as an API client that polls would read it; see `Daemon::answer`);
//! - the qBittorrent layer: `GET /api/v2/torrents/info` (median of 5), a full
//!   `sync/maindata` and a delta (median of 5), with their sizes, and the peak
//!   RSS after them (measured after the figures above);
//! - peak RSS (VmHWM) and RSS after the list calls;
//! - announces: the counting tracker's busiest second in the first 20 s (the
//!   engine's announce budget is what keeps this a trickle, not a storm);
//! - idle CPU: user + system seconds the daemon spends over those 20 s.
//!
//! Baseline in the same run: the same daemon on an empty store.
//!
//! From [`LIGHT_FROM`] torrents (a million: the issue's 1,000,000 "with idle
//! fake data") the run is light: fewer, larger pieces per torrent, one page of
//! the list, no qBittorrent calls, a table against the million's goals.
//! `scale/daemon.rs`: the daemon process and its HTTP calls.
//!
//! Run: `scripts/bench-scale [count]`, or `cargo bench --bench scale -- [count]`
//! (needs `target/release/seedring`, or `SEEDRING_BIN`).
//!
//! `scripts/bench-scale connections [count]`: memory per idle peer connection
//! instead (5,000 by default; see [`connections`]).
#![allow(clippy::disallowed_methods)]
// a bench measures wall time and sleeps between polls
// Figures and sizes of a 64-bit bench run: the casts cannot truncate there.
#![allow(clippy::cast_possible_truncation)]

#[path = "scale/daemon.rs"]
mod daemon;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use seedring::core::Bitfield;
use seedring::disk_uring::RealFiles;
use seedring::metainfo::{CreateLayout, CreateOptions, auto_piece_length, build_torrent};
use seedring::resume_lmdb::record::StateRecord;
use seedring::resume_lmdb::{LmdbSessionStore, SessionStore, StoreOp, meta_ops, state_key};
use seedring::roots::StorageRootManager;
use seedring::storage::{init_root, stat_files};

use daemon::Daemon;

const MIB: u64 = 1 << 20;

/// xorshift64*: the same mix on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Log-uniform between `lo` and `hi`.
    fn size(&mut self, lo: u64, hi: u64) -> u64 {
        let f = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((lo as f64).ln() + f * ((hi as f64).ln() - (lo as f64).ln())).exp() as u64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One torrent's layout: a single file, or a folder of episodes and a small note.
fn layout(i: usize, rng: &mut Rng) -> CreateLayout {
    if rng.below(100) < 55 {
        CreateLayout {
            name: format!("Feature.{i:07}.1080p.mkv"),
            files: None,
            length: rng.size(100 * MIB, 8 << 30),
        }
    } else {
        let count = 3 + rng.below(14);
        let total = rng.size(200 * MIB, 40 << 30);
        let mut files: Vec<(Vec<String>, u64)> = (0..count)
            .map(|e| (vec![format!("Show.S01E{e:02}.mkv")], total / count))
            .collect();
        files.push((vec!["release.nfo".into()], 1 + rng.below(8192)));
        CreateLayout {
            name: format!("Show.{i:07}.S01"),
            files: Some(files),
            length: 0,
        }
    }
}

/// Sparse files of the right length.
fn write_sparse(root: &Path, l: &CreateLayout) {
    let make = |path: PathBuf, len: u64| {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::File::create(&path).unwrap().set_len(len).unwrap();
    };
    match &l.files {
        None => make(root.join(&l.name), l.length),
        Some(files) => {
            for (p, len) in files {
                make(root.join(&l.name).join(p.join("/")), *len);
            }
        }
    }
}

/// Most pieces a torrent has in a run of [`LIGHT_FROM`] torrents or more
/// (but for the largest, whose pieces stop at the 256 MiB maximum): the
/// same sizes cut in fewer, larger pieces ("idle fake data"), so the store of
/// a million torrents fits a test machine's disk (at 1,100 pieces each their
/// hashes alone would be 22 GB). Pieces cost nothing while a torrent is idle
/// (its hashes are not held), so the figures are the torrents' own.
const LIGHT_MAX_PIECES: u64 = 128;

/// From this many torrents the run is light: fewer pieces per torrent (see
/// [`LIGHT_MAX_PIECES`]), the list asked for one page of 10 (every torrent's
/// row is still made and ordered), no qBittorrent calls (their full answers
/// would be a gigabyte).
const LIGHT_FROM: usize = 500_000;

/// Writes `n` complete torrents and their records; returns the payload's total bytes
/// and pieces.
fn populate(n: usize, data_dir: &Path, root: &Path, tracker: &str) -> (u64, u64) {
    init_root(&mut RealFiles, root, "default").unwrap();
    let store = LmdbSessionStore::open(&data_dir.join("state")).unwrap();
    let mut roots = StorageRootManager::default();
    roots.add("default", "default", root).unwrap();
    roots.save(&store).unwrap();
    let opts = CreateOptions {
        trackers: vec![tracker.to_owned()],
        ..CreateOptions::default()
    };
    let mut rng = Rng(0x5eed_0000_0000_0001);
    let (mut bytes, mut pieces) = (0u64, 0u64);
    let mut ops = Vec::new();
    for i in 0..n {
        let l = layout(i, &mut rng);
        let total = l
            .files
            .as_ref()
            .map_or(l.length, |f| f.iter().map(|x| x.1).sum());
        let mut plen = auto_piece_length(total);
        while n >= LIGHT_FROM
            && total.div_ceil(u64::from(plen)) > LIGHT_MAX_PIECES
            && plen < seedring::metainfo::MAX_PIECE_LENGTH
        {
            plen *= 2;
        }
        let count = total.div_ceil(u64::from(plen)) as usize;
        let hashes: Vec<[u8; 20]> = (0..count)
            .map(|_| {
                let mut h = [0u8; 20];
                for c in h.chunks_mut(8) {
                    c.copy_from_slice(&rng.next().to_le_bytes()[..c.len()]);
                }
                h
            })
            .collect();
        let (_, meta) = build_torrent(&l, plen, &hashes, &opts).unwrap();
        write_sparse(root, &l);
        let rec = StateRecord {
            have: Bitfield::full(count as u32),
            downloaded: total,
            uploaded: 0,
            added_at: 1_700_000_000,
            completed_at: Some(1_700_000_001),
            root: "default".into(),
            paused: false,
            sequential: false,
            file_priorities: vec![1; meta.info.files.len()],
            download_limit: 0,
            upload_limit: 0,
            files: stat_files(&RealFiles, root, &meta.info),
            name: meta.info.name.clone(),
            trackers: meta.tracker_tiers.clone(),
            web_seeds: Vec::new(),
            labels: Vec::new(),
            category: String::new(),
            share: seedring::core::ShareLimits::default(),
            share_action: None,
            seeding_secs: 0,
            running_secs: 0,
            seen_complete: None,
            active_at: None,
            queue_pos: 0,
            forced: false,
            display_name: String::new(),
            first_last: false,
            manual: false,
            super_seeding: false,
            content_layout: seedring::metainfo::ContentLayout::Original,
            renames: Vec::new(),
            finish_in: None,
            checking: false,
        };
        bytes += total;
        pieces += count as u64;
        // What a daemon writes when a torrent is added: the info dictionary and
        // its layout record.
        ops.extend(meta_ops(
            meta.info_hash,
            &meta.info,
            &meta.info_bytes,
            meta.info_bytes.len() as u64,
        ));
        ops.push(StoreOp::Set(state_key(meta.info_hash), rec.encode()));
        if ops.len() >= 4096 {
            store.apply(std::mem::take(&mut ops)).unwrap();
        }
    }
    store.apply(ops).unwrap();
    (bytes, pieces)
}

/// A tracker that answers every announce with no peers and counts them per second
/// since it started.
fn counting_tracker(port: u16) -> (String, Arc<Vec<AtomicU64>>, Instant) {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .or_else(|_| TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/announce", listener.local_addr().unwrap());
    // One counter per second for the first ten minutes; later announces are not counted.
    let seconds: Arc<Vec<AtomicU64>> = Arc::new((0..600).map(|_| AtomicU64::new(0)).collect());
    let start = Instant::now();
    let counts = Arc::clone(&seconds);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let counts = Arc::clone(&counts);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    let mut asked = false;
                    while reader.read_line(&mut line).unwrap_or(0) > 0 {
                        if line.starts_with("GET ") {
                            asked = true;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        line.clear();
                    }
                    if !asked {
                        return;
                    }
                    let s = start.elapsed().as_secs() as usize;
                    if let Some(c) = counts.get(s) {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                    let body = b"d8:intervali1800e5:peers0:e";
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                    if conn.write_all(head.as_bytes()).is_err() || conn.write_all(body).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, seconds, start)
}

/// A timed call: median time and answer size.
#[derive(Default, Clone, Copy)]
struct Call {
    time: Duration,
    bytes: usize,
}

/// Five calls of `f`: the median time and the last answer's size.
fn median_of_5(mut f: impl FnMut() -> usize) -> Call {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..5 {
        let t = Instant::now();
        bytes = f();
        times.push(t.elapsed());
    }
    times.sort();
    Call {
        time: times[2],
        bytes,
    }
}

struct Figures {
    start: Duration,
    list: Duration,
    /// The five list calls' times, in the order they were made.
    lists: Vec<Duration>,
    /// `GET /api/v2/torrents/info`.
    qb_info: Call,
    /// `sync/maindata?rid=0`.
    qb_full: Call,
    /// `sync/maindata` with the last `rid`.
    qb_delta: Call,
    /// Peak RSS after the qBittorrent calls.
    peak_after_qb_kib: u64,
    listed: usize,
    peak_kib: u64,
    rss_kib: u64,
    busiest_second: u64,
    announces: u64,
    idle_cpu: f64,
}

/// Starts a daemon on `dir`, measures it, stops it.
fn measure(dir: &Path, root: &Path, counts: &[AtomicU64], since: Instant, light: bool) -> Figures {
    let (d, start) = Daemon::start(dir, root);
    let list = if light {
        "/torrents?limit=10"
    } else {
        "/torrents"
    };
    let t0 = since.elapsed().as_secs() as usize;
    let cpu0 = d.cpu();
    let mut times = Vec::new();
    let mut listed = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let body = d.get(list).unwrap();
        times.push(t.elapsed());
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        listed = if light {
            v["total"].as_u64().unwrap_or(0) as usize
        } else {
            v["torrents"].as_array().map_or(0, Vec::len)
        };
    }
    let lists = times.clone();
    times.sort();
    let window = Duration::from_secs(20);
    std::thread::sleep(window.saturating_sub(times.iter().sum()));
    let idle_cpu = d.cpu() - cpu0;
    let (peak_kib, rss_kib) = d.memory();
    let t1 = (since.elapsed().as_secs() as usize).min(counts.len());
    // The qBittorrent layer, after the memory is read (its full answers are
    // the largest a client can ask for).
    let (qb_info, qb_full, qb_delta) = if light {
        Default::default()
    } else {
        qb_calls(&d)
    };
    let peak_after_qb_kib = d.memory().0;
    let window_counts: Vec<u64> = counts[t0.min(t1)..t1]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    Figures {
        start,
        list: times[2],
        lists,
        qb_info,
        qb_full,
        qb_delta,
        peak_after_qb_kib,
        listed,
        peak_kib,
        rss_kib,
        busiest_second: window_counts.iter().copied().max().unwrap_or(0),
        announces: window_counts.iter().sum(),
        idle_cpu,
    }
}

/// `torrents/info` (median of 5), a full `sync/maindata`, then deltas (median of 5).
fn qb_calls(d: &Daemon) -> (Call, Call, Call) {
    let cookie = d.qb_login();
    let qb_info = median_of_5(|| d.qb_get(&cookie, "torrents/info").len());
    let mut rid = 0u64;
    let sync = |rid: &mut u64| {
        let body = d.qb_get(&cookie, &format!("sync/maindata?rid={rid}"));
        // The answer starts with its `rid`: read from there, not by parsing
        // the whole answer (110 MB at 100,000 torrents) inside the timing.
        let digits = body
            .strip_prefix(b"{\"rid\":")
            .expect("sync/maindata starts with its rid");
        let end = digits.iter().position(|c| !c.is_ascii_digit()).unwrap();
        *rid = std::str::from_utf8(&digits[..end])
            .unwrap()
            .parse()
            .unwrap();
        body.len()
    };
    let qb_full = median_of_5(|| {
        let mut zero = 0;
        let n = sync(&mut zero);
        rid = zero;
        n
    });
    let qb_delta = median_of_5(|| sync(&mut rid));
    (qb_info, qb_full, qb_delta)
}

/// Memory per idle peer connection: one seeding torrent, `n` connections on
/// loopback that complete the BitTorrent handshake and then say nothing; the
/// daemon's RSS before and after, against the same daemon with none.
fn connections(n: usize) {
    let (tracker, _, _) = counting_tracker(0);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("downloads");
    populate(1, &dir.path().join("data"), &root, &tracker);
    // The engine shares the cap between its shards; the torrent lives on one.
    let caps = format!(
        "max_connections = {}\nmax_connections_per_torrent = {}\n",
        16 * (n + 100),
        n + 100
    );
    let (d, _) = Daemon::start_with(dir.path(), &root, &caps);
    let body: serde_json::Value = serde_json::from_slice(&d.get("/torrents").unwrap()).unwrap();
    let id = body["torrents"][0]["id"].as_str().unwrap().to_owned();
    let mut ih = [0u8; 20];
    for (i, b) in ih.iter_mut().enumerate() {
        *b = u8::from_str_radix(&id[2 * i..2 * i + 2], 16).unwrap();
    }
    std::thread::sleep(Duration::from_secs(2));
    let (_, before) = d.memory();
    let mut hello = vec![19u8];
    hello.extend_from_slice(b"BitTorrent protocol");
    hello.extend_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0x04]); // extension protocol, fast
    hello.extend_from_slice(&ih);
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = std::net::TcpStream::connect(d.peers).unwrap();
        let mut me = hello.clone();
        me.extend_from_slice(format!("-XX0000-{i:012}").as_bytes());
        s.write_all(&me).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut theirs = [0u8; 68];
        if let Err(e) = s.read_exact(&mut theirs) {
            let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            panic!("connection {i} refused ({e}); the daemon's log ends: {tail:#?}");
        }
        assert_eq!(&theirs[28..48], &ih, "the daemon answers for its torrent");
        held.push(s);
    }
    std::thread::sleep(Duration::from_secs(5));
    let (peak, after) = d.memory();
    let body: serde_json::Value = serde_json::from_slice(&d.get("/torrents").unwrap()).unwrap();
    let peers = body["torrents"][0]["peers"].as_u64().unwrap_or(0);
    let per = after.saturating_sub(before) as f64 / n as f64;
    println!("| idle peer connections | {n} (the daemon counts {peers} peers) |");
    println!("| --- | --- |");
    println!(
        "| RSS before / after | {:.1} MiB / {:.1} MiB (peak {:.1} MiB) |",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!(
        "| per connection | {per:.2} KiB (target 16 KiB: {:.2} of it) |",
        per / 16.0
    );
    record(&serde_json::json!({
        "bench": "connections", "connections": n, "peers_seen": peers,
        "rss_before_kib": before, "rss_after_kib": after, "per_connection_kib": per,
    }));
    drop(held);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = args.iter().find_map(|a| a.parse().ok());
    if args.iter().any(|a| a == "connections") {
        return connections(count.unwrap_or(5_000));
    }
    let n: usize = count.unwrap_or(100_000);
    // SEEDRING_SCALE_DIR keeps the populated store between runs (for profiling);
    // its tracker address is then the first run's, so announces are not counted.
    let temp = tempfile::tempdir().unwrap();
    let kept = std::env::var_os("SEEDRING_SCALE_DIR").map(PathBuf::from);
    let dir = kept.as_deref().unwrap_or(temp.path());
    let (empty, full) = (dir.join("empty"), dir.join("full"));
    let root = dir.join("downloads");

    let t = Instant::now();
    // A kept store names the tracker port of the run that wrote it: the same port
    // again if it is free.
    let sizes = dir.join("populated");
    let saved: Option<Vec<u64>> = std::fs::read_to_string(&sizes)
        .ok()
        .filter(|_| kept.is_some())
        .map(|s| s.split_whitespace().map(|x| x.parse().unwrap()).collect());
    let port = saved.as_ref().map_or(0, |v| v[2] as u16);
    let (tracker, counts, since) = counting_tracker(port);
    let (bytes, pieces) = match saved {
        Some(v) => (v[0], v[1]),
        None => {
            let (b, p) = populate(n, &full.join("data"), &root, &tracker);
            let port = tracker
                .split(':')
                .nth(2)
                .and_then(|p| p.split('/').next())
                .unwrap();
            std::fs::write(&sizes, format!("{b} {p} {port}")).unwrap();
            (b, p)
        }
    };
    println!(
        "scale: {n} torrents ({:.1} TiB, {pieces} pieces, sparse), written in {:.1} s",
        bytes as f64 / (1u64 << 40) as f64,
        t.elapsed().as_secs_f64()
    );
    std::fs::create_dir_all(empty.join("data")).unwrap();
    if std::env::var_os("SEEDRING_SCALE_ONLY").is_some() {
        let f = measure(&full, &root, &counts, since, n >= LIGHT_FROM);
        println!(
            "start {:.0} ms, list {:.0} ms, peak {} MiB, rss {} MiB, idle cpu {:.2} s, \
             qb info {:.0} ms ({} B), maindata full {:.0} ms ({} B), delta {:.0} ms ({} B), \
             peak after qb {} MiB",
            f.start.as_secs_f64() * 1e3,
            f.list.as_secs_f64() * 1e3,
            f.peak_kib / 1024,
            f.rss_kib / 1024,
            f.idle_cpu,
            f.qb_info.time.as_secs_f64() * 1e3,
            f.qb_info.bytes,
            f.qb_full.time.as_secs_f64() * 1e3,
            f.qb_full.bytes,
            f.qb_delta.time.as_secs_f64() * 1e3,
            f.qb_delta.bytes,
            f.peak_after_qb_kib / 1024
        );
        return;
    }
    let light = n >= LIGHT_FROM;
    let base = measure(&empty, &root, &counts, since, light);
    let f = measure(&full, &root, &counts, since, light);
    assert_eq!(f.listed, n, "the list shows every torrent");
    if light {
        return light_table(n, &base, &f, pieces, bytes);
    }

    let mib = |k: u64| k as f64 / 1024.0;
    println!("| | empty daemon (baseline) | {n} torrents | target |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| start to answering API | {:.0} ms | {:.0} ms | 2000 ms at 100k: {:.2} of it |",
        base.start.as_secs_f64() * 1e3,
        f.start.as_secs_f64() * 1e3,
        f.start.as_secs_f64() / 2.0
    );
    let each: Vec<String> = (f.lists.iter())
        .map(|t| format!("{:.0}", t.as_secs_f64() * 1e3))
        .collect();
    println!(
        "| GET /api/v1/torrents (median of 5) | {:.1} ms | {:.0} ms (in call order: {}) | 300 ms: {:.2} of it |",
        base.list.as_secs_f64() * 1e3,
        f.list.as_secs_f64() * 1e3,
        each.join(", "),
        f.list.as_secs_f64() / 0.3
    );
    let kib = |b: usize| b as f64 / 1024.0;
    println!(
        "| GET /api/v2/torrents/info (median of 5) | {:.1} ms, {:.1} KiB | {:.0} ms, {:.0} KiB | 300 ms: {:.2} of it |",
        base.qb_info.time.as_secs_f64() * 1e3,
        kib(base.qb_info.bytes),
        f.qb_info.time.as_secs_f64() * 1e3,
        kib(f.qb_info.bytes),
        f.qb_info.time.as_secs_f64() / 0.3
    );
    println!(
        "| sync/maindata, full (rid=0) | {:.1} ms, {:.1} KiB | {:.0} ms, {:.0} KiB | |",
        base.qb_full.time.as_secs_f64() * 1e3,
        kib(base.qb_full.bytes),
        f.qb_full.time.as_secs_f64() * 1e3,
        kib(f.qb_full.bytes)
    );
    println!(
        "| sync/maindata, delta (median of 5) | {:.1} ms, {:.1} KiB | {:.0} ms, {:.0} KiB | 50 ms: {:.2} of it |",
        base.qb_delta.time.as_secs_f64() * 1e3,
        kib(base.qb_delta.bytes),
        f.qb_delta.time.as_secs_f64() * 1e3,
        kib(f.qb_delta.bytes),
        f.qb_delta.time.as_secs_f64() / 0.05
    );
    println!(
        "| peak RSS after the qBittorrent calls | {:.0} MiB | {:.0} MiB | |",
        mib(base.peak_after_qb_kib),
        mib(f.peak_after_qb_kib)
    );
    println!(
        "| peak RSS | {:.0} MiB | {:.0} MiB ({:.2} KiB per torrent over the baseline) | 512 MiB: {:.2} of it |",
        mib(base.peak_kib),
        mib(f.peak_kib),
        f.peak_kib.saturating_sub(base.peak_kib) as f64 / n as f64,
        mib(f.peak_kib) / 512.0
    );
    idle_rows(&base, &f);
    let line = serde_json::json!({
        "bench": "scale", "torrents": n, "pieces": pieces, "bytes": bytes,
        "start_ms": f.start.as_secs_f64() * 1e3, "list_ms": f.list.as_secs_f64() * 1e3,
        "peak_mib": mib(f.peak_kib), "rss_mib": mib(f.rss_kib),
        "announces_20s": f.announces, "busiest_second": f.busiest_second,
        "idle_cpu_s": f.idle_cpu,
        "qb_info_ms": f.qb_info.time.as_secs_f64() * 1e3, "qb_info_bytes": f.qb_info.bytes,
        "qb_full_ms": f.qb_full.time.as_secs_f64() * 1e3, "qb_full_bytes": f.qb_full.bytes,
        "qb_delta_ms": f.qb_delta.time.as_secs_f64() * 1e3, "qb_delta_bytes": f.qb_delta.bytes,
        "peak_after_qb_mib": mib(f.peak_after_qb_kib),
        "baseline": {"start_ms": base.start.as_secs_f64() * 1e3,
                     "peak_mib": mib(base.peak_kib), "idle_cpu_s": base.idle_cpu},
    });
    record(&line);
}

/// The rows both tables end with: memory after the lists, announces, idle CPU.
fn idle_rows(base: &Figures, f: &Figures) {
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "| RSS after the lists | {:.0} MiB | {:.0} MiB | |",
        mib(base.rss_kib),
        mib(f.rss_kib)
    );
    println!(
        "| announces in the first 20 s (busiest second) | {} ({}) | {} ({}) | spread, no storm |",
        base.announces, base.busiest_second, f.announces, f.busiest_second
    );
    println!(
        "| idle CPU over 20 s | {:.2} s | {:.2} s | |",
        base.idle_cpu, f.idle_cpu
    );
}

/// A light run's table (see [`LIGHT_FROM`]): against the goals for a million
/// torrents.
fn light_table(n: usize, base: &Figures, f: &Figures, pieces: u64, bytes: u64) {
    let mib = |k: u64| k as f64 / 1024.0;
    println!("| | empty daemon (baseline) | {n} torrents | goal at 1,000,000 |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| start to answering API | {:.0} ms | {:.0} ms | 20 s: {:.2} of it |",
        base.start.as_secs_f64() * 1e3,
        f.start.as_secs_f64() * 1e3,
        f.start.as_secs_f64() / 20.0
    );
    println!(
        "| peak RSS | {:.0} MiB | {:.0} MiB ({:.2} KiB per torrent over the baseline) | 4 GiB: {:.2} of it |",
        mib(base.peak_kib),
        mib(f.peak_kib),
        f.peak_kib.saturating_sub(base.peak_kib) as f64 / n as f64,
        mib(f.peak_kib) / 4096.0
    );
    println!(
        "| `GET /api/v1/torrents?limit=10` (every torrent's stats and key made, the first 10 of each piece written, ordered; median of 5) | {:.1} ms | {:.0} ms | |",
        base.list.as_secs_f64() * 1e3,
        f.list.as_secs_f64() * 1e3
    );
    idle_rows(base, f);
    record(&serde_json::json!({
        "bench": "scale", "light": true, "torrents": n, "pieces": pieces, "bytes": bytes,
        "start_ms": f.start.as_secs_f64() * 1e3, "page_ms": f.list.as_secs_f64() * 1e3,
        "peak_mib": mib(f.peak_kib), "rss_mib": mib(f.rss_kib),
        "announces_20s": f.announces, "busiest_second": f.busiest_second,
        "idle_cpu_s": f.idle_cpu,
        "baseline": {"start_ms": base.start.as_secs_f64() * 1e3,
                     "peak_mib": mib(base.peak_kib), "idle_cpu_s": base.idle_cpu},
    }));
}

/// Appends one result line to `target/bench/scale.jsonl`.
fn record(line: &serde_json::Value) {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out.join("scale.jsonl"))
        .unwrap();
    writeln!(file, "{line}").unwrap();
}
