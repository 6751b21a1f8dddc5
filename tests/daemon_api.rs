//! The daemon over real HTTP on loopback: guard, every route's success and error
//! cases, settings, logs, and the daemon's life (SIGHUP, SIGTERM, SIGKILL and
//! restart).
// Tests wait on a real daemon with the wall clock.
#![allow(clippy::disallowed_methods)]

mod daemon_common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use daemon_common::{Daemon, make_torrent};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn error_of(r: reqwest::blocking::Response) -> (StatusCode, Value) {
    let status = r.status();
    let body: Value = r.json().expect("error bodies are JSON");
    assert!(
        body["error"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    (status, body)
}

#[test]
fn the_guard_wants_the_token_and_our_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    // No token, a wrong one, another scheme: 401 with a JSON body.
    let r = d.http.get(d.url("/torrents")).send().unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_eq!(error_of(r).0, StatusCode::UNAUTHORIZED);
    for bad in ["Bearer nope", "Basic abc", &format!("Bearer {}x", d.token)] {
        let r = d
            .http
            .get(d.url("/torrents"))
            .header("authorization", bad)
            .send()
            .unwrap();
        assert_eq!(error_of(r).0, StatusCode::UNAUTHORIZED, "{bad}");
    }
    // The right token through a foreign host name (DNS rebinding): refused.
    let r = d
        .authed(d.http.get(d.url("/torrents")))
        .header("host", "evil.example")
        .send()
        .unwrap();
    assert_eq!(error_of(r).0, StatusCode::MISDIRECTED_REQUEST);
    let r = d
        .authed(d.http.get(d.url("/torrents")))
        .header("host", "localhost")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The web page's files need no token (they hold no data), but our host name.
    for (path, kind) in [
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/app.css", "text/css"),
    ] {
        let r = d.http.get(format!("{}{path}", d.base)).send().unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        assert!(
            r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
    }
    let r = d
        .http
        .get(format!("{}/", d.base))
        .header("host", "evil.example")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
    // The token is never in the log.
    assert!(!d.stderr().contains(&d.token));
    // Repeated bad tokens are answered later and later.
    let t0 = Instant::now();
    for _ in 0..4 {
        d.http.get(d.url("/stats")).send().unwrap();
    }
    assert!(t0.elapsed() >= Duration::from_millis(100 + 200 + 400 - 50));
}

#[test]
fn bad_requests_get_json_errors_and_the_daemon_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let cases: Vec<(reqwest::blocking::RequestBuilder, StatusCode)> = vec![
        (d.http.get(d.url("/nope")), StatusCode::NOT_FOUND),
        (d.http.put(d.url("/stats")), StatusCode::METHOD_NOT_ALLOWED),
        (d.http.get(d.url("/torrents/xyz")), StatusCode::BAD_REQUEST),
        (
            d.http.get(d.url(&format!("/torrents/{}", "ab".repeat(20)))),
            StatusCode::NOT_FOUND,
        ),
        (
            d.http.get(d.url("/torrents?sort=colour")),
            StatusCode::BAD_REQUEST,
        ),
        (
            d.http.get(d.url("/torrents?unknown=1")),
            StatusCode::BAD_REQUEST,
        ),
        (
            d.http
                .post(d.url("/torrents"))
                .header("content-type", "application/json")
                .body("{not json"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            d.http
                .post(d.url("/torrents"))
                .json(&json!({"magnet": "magnet:?xt=urn:btih:zz"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            d.http
                .post(d.url("/torrents"))
                .json(&json!({"magnet": "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567", "colour": 1})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            d.http
                .post(d.url("/torrents"))
                .header("content-type", "application/x-bittorrent")
                .body("d4:infoi1ee"),
            StatusCode::BAD_REQUEST,
        ),
        (
            d.http.post(d.url("/torrents")).body("x"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            d.http
                .post(d.url("/torrents"))
                .header("content-type", "application/x-bittorrent")
                .body(vec![b'x'; 2 << 20]),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            d.http
                .patch(d.url("/settings"))
                .json(&json!({"download_limit": "fast"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            d.http
                .patch(d.url("/settings"))
                .json(&json!({"max_connections": 0})),
            StatusCode::BAD_REQUEST,
        ),
        (
            d.http
                .patch(d.url("/settings"))
                .json(&json!({"checks_at_once": 0})),
            StatusCode::BAD_REQUEST,
        ),
        (
            d.http
                .post(d.url(&format!("/torrents/{}/peers", "ab".repeat(20))))
                .json(&json!({"peers": ["not an address"]})),
            StatusCode::BAD_REQUEST,
        ),
        (
            d.http
                .post(d.url(&format!("/torrents/{}/peers", "ab".repeat(20))))
                .json(&json!({"peers": ["127.0.0.1:1"]})),
            StatusCode::NOT_FOUND,
        ),
        (
            d.http.get(d.url("/logs?level=loud")),
            StatusCode::BAD_REQUEST,
        ),
        (
            d.http.delete(d.url("/roots/nope")),
            StatusCode::NOT_FOUND,
        ),
        (
            d.http
                .post(d.url("/roots"))
                .json(&json!({"token": "rel", "path": "relative/path"})),
            StatusCode::BAD_REQUEST,
        ),
    ];
    // A fresh connection each: the daemon answers an oversized body at once and
    // closes that connection without reading the rest.
    let fresh = reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for (req, want) in cases {
        let req = d.authed(req).build().unwrap();
        let what = format!("{} {}", req.method(), req.url());
        let r = fresh.execute(req).unwrap();
        let (got, body) = error_of(r);
        assert_eq!(got, want, "{what}: {body}");
    }
    // Still answering.
    assert_eq!(d.get("/stats").status(), StatusCode::OK);
}

#[test]
fn torrents_roots_settings_stats_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let (t, data) = make_torrent(dir.path(), "movie.mkv", 3 << 20);
    // The data is already in the default root: the add checks it and seeds.
    std::fs::write(dir.path().join("downloads/movie.mkv"), &data).unwrap();
    let r = d.add_torrent(
        &std::fs::read(&t).unwrap(),
        "?sequential=true&labels=tv,hd,tv&download_limit=5000000",
    );
    assert_eq!(r.status(), StatusCode::CREATED);
    let added: Value = r.json().unwrap();
    let id = added["id"].as_str().unwrap().to_owned();
    assert_eq!(added["name"], "movie.mkv");
    assert_eq!(added["root"], "default");
    assert_eq!(added["labels"], json!(["hd", "tv"]));
    assert_eq!(added["sequential"], true);
    assert_eq!(added["download_limit"], 5_000_000);
    assert_eq!(added["upload_limit"], 0);
    let again = d.add_torrent(&std::fs::read(&t).unwrap(), "");
    assert_eq!(error_of(again).0, StatusCode::CONFLICT);
    let t1 = d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
    assert_eq!(t1["progress"], 1.0);
    assert_eq!(t1["size"], 3 << 20);

    let list = d.get_json("/torrents?state=seeding&sort=-name");
    assert_eq!(list["total"], 1);
    assert_eq!(list["torrents"][0]["id"], id.as_str());
    assert_eq!(d.get_json("/torrents?state=paused")["total"], 0);
    assert_eq!(d.get_json("/torrents?name=MOVIE")["total"], 1);
    assert_eq!(d.get_json("/torrents?label=hd")["total"], 1);
    assert_eq!(d.get_json("/torrents?label=movies")["total"], 0);
    assert_eq!(d.get_json("/torrents?limit=0")["torrents"], json!([]));

    let files = d.get_json(&format!("/torrents/{id}/files"));
    assert_eq!(files[0]["path"], "movie.mkv");
    assert_eq!(files[0]["progress"], 1.0);
    let pieces = d.get_json(&format!("/torrents/{id}/pieces"));
    assert_eq!(pieces["have"], pieces["pieces"]);
    assert_eq!(d.get_json(&format!("/torrents/{id}/peers")), json!([]));
    let tr = d.get_json(&format!("/torrents/{id}/trackers"));
    assert_eq!(tr["tiers"], json!([]), "{tr}");
    assert_eq!(tr["announces"], 0);

    // Pause, resume, recheck, limits, priorities, sequential.
    assert_eq!(
        d.post(&format!("/torrents/{id}/pause")).status(),
        StatusCode::NO_CONTENT
    );
    d.wait_for(&id, "paused", |t| t["state"] == "paused");
    assert_eq!(
        d.post(&format!("/torrents/{id}/resume")).status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        d.post(&format!("/torrents/{id}/recheck")).status(),
        StatusCode::NO_CONTENT
    );
    d.wait_for(&id, "seeding after the recheck", |t| {
        t["state"] == "seeding"
    });
    let put = |path: &str, body: Value| {
        d.authed(d.http.put(d.url(&format!("/torrents/{id}/{path}"))))
            .json(&body)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(
        put("limits", json!({"download": 1000, "upload": 2000})),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put("sequential", json!({"on": false})),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put("labels", json!({"labels": ["movies"]})),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put("labels", json!({"labels": ["a\u{7}b"]})),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        put("name", json!({"name": "  Shown As  "})),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put("name", json!({"name": "a\u{7}b"})),
        StatusCode::BAD_REQUEST
    );
    let now = d.get_json(&format!("/torrents/{id}"));
    assert_eq!(now["name"], "Shown As");
    assert_eq!(d.get_json("/torrents?name=shown")["total"], 1);
    assert_eq!(put("name", json!({"name": ""})), StatusCode::NO_CONTENT);
    assert_ne!(d.get_json(&format!("/torrents/{id}"))["name"], "Shown As");
    let now = d.get_json(&format!("/torrents/{id}"));
    assert_eq!(now["labels"], json!(["movies"]));
    assert_eq!(now["download_limit"], 1000);
    assert_eq!(now["upload_limit"], 2000);
    // One cap alone: the other stays.
    assert_eq!(
        put("limits", json!({"upload": 3000})),
        StatusCode::NO_CONTENT
    );
    let now = d.get_json(&format!("/torrents/{id}"));
    assert_eq!(
        (&now["download_limit"], &now["upload_limit"]),
        (&json!(1000), &json!(3000))
    );
    assert_eq!(
        put("limits", json!({"download": 1000, "upload": 2000})),
        StatusCode::NO_CONTENT
    );
    assert_eq!(now["sequential"], false);
    assert_eq!(d.get_json("/torrents?label=hd")["total"], 0);
    assert_eq!(
        put("files", json!({"priorities": [7]})),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put("files", json!({"priorities": [1, 1]})),
        StatusCode::BAD_REQUEST
    );
    let prio = |d: &Daemon| d.get_json(&format!("/torrents/{id}/files"))[0]["priority"].clone();
    assert_eq!(prio(&d), 7);
    assert_eq!(
        put("files", json!({"indexes": [0], "priority": 0})),
        StatusCode::NO_CONTENT
    );
    assert_eq!(prio(&d), 0);
    for bad in [
        json!({"indexes": [1], "priority": 1}),
        json!({"indexes": [0]}),
        json!({"priorities": [1], "priority": 1}),
    ] {
        assert_eq!(put("files", bad.clone()), StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(
        put("files", json!({"indexes": [0], "priority": 1})),
        StatusCode::NO_CONTENT
    );
    assert_eq!(prio(&d), 1);

    // Roots: a second one, made the default, refused removal while in use.
    let disk2 = dir.path().join("disk2");
    let r = d.post_json(
        "/roots",
        &json!({"token": "disk2", "label": "Disk 2", "path": disk2}),
    );
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(disk2.join(".seedring-root").exists());
    let roots = d.get_json("/roots");
    assert_eq!(roots.as_array().unwrap().len(), 2);
    assert_eq!(
        d.post("/roots/disk2/default").status(),
        StatusCode::NO_CONTENT
    );
    let r = d
        .authed(d.http.delete(d.url("/roots/default")))
        .send()
        .unwrap();
    assert_eq!(error_of(r).0, StatusCode::CONFLICT);
    // Moving the torrent to it.
    let r = d.post_json(&format!("/torrents/{id}/move"), &json!({"root": "disk2"}));
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    d.wait_for(&id, "moved", |t| {
        t["root"] == "disk2" && t["state"] == "seeding"
    });
    assert_eq!(std::fs::read(disk2.join("movie.mkv")).unwrap(), data);

    // Settings: patched and read back.
    let r = d
        .authed(d.http.patch(d.url("/settings")))
        .json(&json!({"download_limit": 5_000_000, "log_filter": "debug", "checks_at_once": 2}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let s = d.get_json("/settings");
    assert_eq!(s["download_limit"], 5_000_000);
    assert_eq!(s["log_filter"], "debug");
    assert_eq!(s["checks_at_once"], 2);

    // Metrics, in the Prometheus text format, with the token only.
    let m = d
        .authed(d.http.get(format!("{}/metrics", d.base)))
        .send()
        .unwrap();
    assert_eq!(m.status(), StatusCode::OK);
    let text = m.text().unwrap();
    assert!(
        text.contains("seedring_torrents{state=\"seeding\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "seedring_torrent_upload_rate_bytes{{id=\"{id}\"}}"
        )),
        "{text}"
    );
    assert!(text.contains("seedring_uptime_seconds"), "{text}");
    assert!(
        text.contains("seedring_session_downloaded_bytes 0"),
        "{text}"
    );
    let m = d.http.get(format!("{}/metrics", d.base)).send().unwrap();
    assert_eq!(m.status(), StatusCode::UNAUTHORIZED);

    // Stats.
    let st = d.get_json("/stats");
    assert_eq!(st["torrents"], 1);
    assert_eq!(st["by_state"]["seeding"], 1);
    assert_eq!(st["shards"], 2);
    assert_eq!(
        (&st["checks_reading"], &st["checks_waiting"]),
        (&json!(0), &json!(0))
    );
    let per: Vec<u64> = st["shard_torrents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(per.len(), 2);
    assert_eq!(per.iter().sum::<u64>(), 1);
    // The check and the recheck hashed the 3 MiB twice at least.
    assert!(
        st["hashed_bytes"].as_u64().unwrap() >= 2 * (3 << 20),
        "{st}"
    );
    assert!(st["disk_queue"].is_u64());
    assert!(
        text.contains("seedring_shard_hashed_bytes{shard=\"0\"}"),
        "{text}"
    );
    assert!(
        text.contains("seedring_shard_checks_waiting{shard=\"1\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("seedring_shard_resident_metadata{shard=\"0\"}")
            && text.contains("seedring_shard_piece_buffer_bytes{shard=\"0\"}"),
        "{text}"
    );

    // Logs: the add is there, filtered by torrent and level.
    let logs = d.get_json(&format!("/logs?torrent={id}"));
    assert!(
        logs.as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"] == "torrent added"),
        "{logs}"
    );
    let errors = d.get_json("/logs?level=error");
    assert!(
        errors
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["level"] == "ERROR")
    );

    // A magnet is added by JSON and waits for its metadata.
    let ih = "0123456789abcdef0123456789abcdef01234567";
    let r = d.post_json(
        "/torrents",
        &json!({"magnet": format!("magnet:?xt=urn:btih:{ih}&dn=waiting"), "paused": true}),
    );
    assert_eq!(r.status(), StatusCode::CREATED);
    let m: Value = r.json().unwrap();
    assert_eq!(m["name"], "waiting");
    assert_eq!(m["state"], "paused");
    assert_eq!(d.get_json(&format!("/torrents/{ih}/files")), json!([]));

    // Removing: with its data.
    let r = d.delete(&format!("/torrents/{id}?delete_files=true"));
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        d.get(&format!("/torrents/{id}")).status(),
        StatusCode::NOT_FOUND
    );
    let start = Instant::now();
    while disk2.join("movie.mkv").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "data not deleted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_sorted_list_is_paged_over_every_shard() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    // Seven torrents, spread over the two shards by their ids; sizes in the
    // reverse order of the names.
    let names = ["c", "f", "a", "g", "e", "b", "d"];
    for n in names {
        let len = (8 - (n.as_bytes()[0] - b'a') as usize) << 14;
        let (t, _) = make_torrent(dir.path(), n, len);
        let r = d.add_torrent(&std::fs::read(&t).unwrap(), "?paused=true");
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let page = |q: &str| {
        let v = d.get_json(&format!("/torrents?{q}"));
        let names: Vec<String> = (v["torrents"].as_array().unwrap().iter())
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        (v["total"].as_u64().unwrap(), names.join(""))
    };
    assert_eq!(page("sort=name"), (7, "abcdefg".into()));
    assert_eq!(page("sort=-name"), (7, "gfedcba".into()));
    assert_eq!(page("sort=name&offset=2&limit=3"), (7, "cde".into()));
    assert_eq!(page("sort=-name&offset=5&limit=5"), (7, "ba".into()));
    assert_eq!(page("sort=size&limit=2"), (7, "gf".into()));
    assert_eq!(page("sort=-size&offset=1&limit=1"), (7, "b".into()));
    assert_eq!(page("sort=name&offset=9&limit=2"), (7, String::new()));
    assert_eq!(page("sort=name&limit=0"), (7, String::new()));
    assert_eq!(page("sort=name&name=C&limit=5"), (1, "c".into()));
}

#[test]
fn the_live_log_feed_streams_new_entries() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let stream = d
        .authed(d.http.get(d.url("/logs/stream?level=info")))
        .timeout(Duration::from_secs(20))
        .send()
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let ih = "89abcdef0123456789abcdef0123456789abcdef";
    let r = d.post_json(
        "/torrents",
        &json!({"magnet": format!("magnet:?xt=urn:btih:{ih}"), "paused": true}),
    );
    assert_eq!(r.status(), StatusCode::CREATED);
    let mut lines = BufReader::new(stream).lines();
    let mut saw = false;
    while let Some(Ok(l)) = lines.next() {
        if let Some(data) = l.strip_prefix("data: ")
            && data.contains("torrent added")
        {
            let e: Value = serde_json::from_str(data).unwrap();
            assert_eq!(e["info_hash"], ih);
            saw = true;
            break;
        }
    }
    assert!(saw);
}

#[test]
fn sighup_reloads_limits_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    assert_eq!(d.get_json("/settings")["upload_limit"], 0);
    let text = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(&d.config, format!("{text}\n[limits]\nupload = 123456\n")).unwrap();
    d.signal("HUP");
    let start = Instant::now();
    while d.get_json("/settings")["upload_limit"] != 123_456 {
        assert!(start.elapsed() < Duration::from_secs(10), "{}", d.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        d.stderr().contains("upload_limit: 0 -> 123456"),
        "{}",
        d.stderr()
    );
    let mut d = d;
    d.signal("TERM");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "not stopped in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}: {}", d.stderr());
    assert!(d.stderr().contains("stopped"), "{}", d.stderr());
}

#[test]
fn a_killed_daemon_comes_back_with_its_torrents_roots_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let (t, data) = make_torrent(dir.path(), "album.flac", 2 << 20);
    let id;
    {
        let d = Daemon::start(dir.path(), "");
        std::fs::write(dir.path().join("downloads/album.flac"), &data).unwrap();
        let added: Value = d
            .add_torrent(
                &std::fs::read(&t).unwrap(),
                "?labels=music&upload_limit=3000&sequential=true",
            )
            .json()
            .unwrap();
        id = added["id"].as_str().unwrap().to_owned();
        d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
        let disk2 = dir.path().join("disk2");
        assert_eq!(
            d.post_json("/roots", &json!({"token": "disk2", "path": disk2}))
                .status(),
            StatusCode::CREATED
        );
        let r = d
            .authed(d.http.patch(d.url("/settings")))
            .json(&json!({"upload_limit": 777, "checks_at_once": 3}))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        // Let a resume save happen (every 500 ms here), then SIGKILL.
        std::thread::sleep(Duration::from_millis(1500));
        d.signal("KILL");
    }
    let d = Daemon::start(dir.path(), "");
    let t = d.get_json(&format!("/torrents/{id}"));
    assert_eq!(t["state"], "seeding", "no recheck needed: {t}");
    assert_eq!(t["progress"], 1.0);
    assert_eq!(t["labels"], json!(["music"]));
    assert_eq!(t["upload_limit"], 3000);
    assert_eq!(t["sequential"], true);
    let roots = d.get_json("/roots");
    assert!(
        roots
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["token"] == "disk2")
    );
    assert_eq!(d.get_json("/settings")["upload_limit"], 777);
    assert_eq!(d.get_json("/settings")["checks_at_once"], 3);
    // Restored complete, it holds no piece hashes: a recheck reads them back from
    // the store (the shard's resume thread) and passes.
    let r = d.post(&format!("/torrents/{id}/recheck"));
    assert!(r.status().is_success(), "{}", r.status());
    let t = d.wait_for(&id, "seeding after the recheck", |t| {
        t["state"] == "seeding" && t["progress"] == 1.0
    });
    assert!(
        t["note"].is_null() || !t["note"].to_string().contains("metadata"),
        "{t}"
    );
}

#[test]
fn metrics_can_be_open_to_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = daemon_common::config_text(dir.path(), "");
    let cfg = cfg.replace("[api]\n", "[api]\nmetrics_without_token = true\n");
    let file = dir.path().join("seedring.toml");
    std::fs::write(&file, cfg).unwrap();
    let d = Daemon::start_with(dir.path(), &file);
    let m = d.http.get(format!("{}/metrics", d.base)).send().unwrap();
    assert_eq!(m.status(), StatusCode::OK);
    assert!(m.text().unwrap().contains("seedring_torrents"));
    // The rest of the API still wants the token.
    assert_eq!(
        d.http.get(d.url("/stats")).send().unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

/// `seedring remote` against a running daemon: it finds the address and token in
/// the data folder, and every command works, with --json too.
#[test]
fn the_remote_client_drives_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let (t, data) = make_torrent(dir.path(), "remote.bin", 200_000);
    std::fs::write(dir.path().join("downloads/remote.bin"), &data).unwrap();
    let remote = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_seedring"))
            .arg("remote")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), text, err)
    };
    let (ok, out, err) = remote(&[
        "add",
        t.to_str().unwrap(),
        "--label",
        "b",
        "--label",
        "a",
        "--json",
    ]);
    assert!(ok, "{err}");
    let added: Value = serde_json::from_str(out.trim()).unwrap();
    let id = added["id"].as_str().unwrap().to_owned();
    assert_eq!(added["labels"], json!(["a", "b"]));
    d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
    let (ok, out, _) = remote(&["list"]);
    assert!(
        ok && out.contains("remote.bin") && out.contains(&id[..8]),
        "{out}"
    );
    // An unambiguous start of the id is enough.
    let (ok, _, err) = remote(&["pause", &id[..6]]);
    assert!(ok, "{err}");
    d.wait_for(&id, "paused", |t| t["state"] == "paused");
    let (ok, _, err) = remote(&["resume", &id[..6]]);
    assert!(ok, "{err}");
    let (ok, out, _) = remote(&["info", &id, "--json"]);
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap()["name"],
        "remote.bin"
    );
    let (ok, out, _) = remote(&["logs", "-n", "20"]);
    assert!(ok && out.contains("torrent added"), "{out}");
    // Categories: made, listed, a torrent filed under one and shown so.
    let (ok, _, err) = remote(&["add-category", "tv/hd"]);
    assert!(ok, "{err}");
    let (ok, out, _) = remote(&["categories"]);
    assert!(ok && out.contains("tv/hd  (default root)"), "{out}");
    let (ok, _, err) = remote(&["set-category", &id[..6], "tv/hd"]);
    assert!(ok, "{err}");
    let (ok, out, _) = remote(&["list"]);
    assert!(ok && out.contains("[tv/hd] remote.bin"), "{out}");
    let (ok, _, err) = remote(&["set-category", &id[..6], "nope"]);
    assert!(!ok && err.contains("no category"), "{err}");
    // Placed by hand, and back.
    let follows = || d.get_json(&format!("/torrents/{id}"))["follows_category"].clone();
    let (ok, out, err) = remote(&["follow-category", &id[..6], "off"]);
    assert!(ok && out.contains("stay where they are"), "{err}");
    assert_eq!(follows(), serde_json::json!(false));
    let (ok, _, err) = remote(&["follow-category", &id[..6], "on"]);
    assert!(ok, "{err}");
    assert_eq!(follows(), serde_json::json!(true));
    let (ok, _, _) = remote(&["follow-category", &id[..6], "maybe"]);
    assert!(!ok);
    let (ok, _, err) = remote(&["download-root", &id[..6], "default"]);
    assert!(!ok && err.contains("follows its category"), "{err}");
    let (ok, out, err) = remote(&["super-seed", &id[..6], "on"]);
    assert!(ok && out.contains("super-seeding on"), "{err}");
    assert_eq!(
        d.get_json(&format!("/torrents/{id}"))["super_seeding"],
        serde_json::json!(true)
    );
    let (ok, _, err) = remote(&["rm", &id, "--delete"]);
    assert!(ok, "{err}");
    assert_eq!(
        d.get(&format!("/torrents/{id}")).status(),
        StatusCode::NOT_FOUND
    );
    // logs -f follows the live feed.
    let mut follow = std::process::Command::new(env!("CARGO_BIN_EXE_seedring"))
        .arg("remote")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["logs", "-f", "-n", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.contains("torrent added") {
                tx.send(line).ok();
            }
        }
    });
    let ih = "ef".repeat(20);
    let start = Instant::now();
    let seen = loop {
        // Added again until the follower, which may still be connecting, sees one.
        d.post_json(
            "/torrents",
            &json!({"magnet": format!("magnet:?xt=urn:btih:{ih}"), "paused": true}),
        );
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            break line;
        }
        let _ = d
            .authed(d.http.delete(d.url(&format!("/torrents/{ih}"))))
            .send();
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "logs -f showed nothing"
        );
    };
    assert!(seen.contains("INFO"), "{seen}");
    follow.kill().unwrap();
    follow.wait().unwrap();
    // A wrong token is a clear error and a failing exit.
    let (ok, _, err) = remote(&["--token", "nope", "list"]);
    assert!(!ok && err.contains("401"), "{err}");
    let (ok, _, err) = remote(&["pause", "ffff"]);
    assert!(!ok && err.contains("no torrent id starts with"), "{err}");
}

/// A client that never finishes its request headers is cut off (slowloris), and
/// the daemon goes on answering the others.
#[test]
fn a_request_whose_headers_never_end_is_cut_off() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let addr = d.base.trim_start_matches("http://").to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /api/v1/stats HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 256];
    // The daemon closes it (perhaps after a 408): the read ends, it does not hang.
    let n = s.read(&mut buf).unwrap_or(0);
    let waited = start.elapsed();
    assert!(
        waited < Duration::from_secs(20),
        "held for {waited:?}: {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert_eq!(d.get("/stats").status(), StatusCode::OK);
}
