//! The daemon's HTTP API against requests an attacker would write by hand, sent
//! as raw bytes over a socket (an HTTP client library would tidy them first):
//! path traversal in its spellings against the page's files and the file route,
//! encoded NULs, absurd indexes, with the token (the page's, without it too). No answer
//! carries the token, a file from outside the torrent, or a 5xx, and the daemon
//! still answers afterwards.

// Tests wait on a real daemon with the wall clock.
#![allow(clippy::disallowed_methods)]

mod daemon_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use daemon_common::{Daemon, make_torrent};
use reqwest::StatusCode;

/// Sends `target` as the request line's target, exactly as written; the status
/// and the whole answer.
fn raw_get(d: &Daemon, target: &str, token: Option<&str>) -> (u16, String) {
    let addr = d.base.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[test]
fn traversal_and_odd_paths_get_nothing_from_outside() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    // A secret beside the daemon's data, and one inside the download root but
    // outside the torrent's file.
    std::fs::write(dir.path().join("secret.txt"), "TOP-SECRET-OUTSIDE").unwrap();
    let (torrent, data) = make_torrent(dir.path(), "movie.bin", 40_000);
    // Its data is in place: the torrent seeds, its file can be served.
    std::fs::write(dir.path().join("downloads/movie.bin"), &data).unwrap();
    let r = d.add_torrent(&std::fs::read(torrent).unwrap(), "");
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<serde_json::Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(
        dir.path().join("downloads/neighbour.txt"),
        "TOP-SECRET-NEIGHBOUR",
    )
    .unwrap();

    let f = format!("/api/v1/torrents/{id}/files");
    let targets = [
        "/../secret.txt".to_owned(),
        "/%2e%2e/secret.txt".into(),
        "/%2E%2E%2Fsecret.txt".into(),
        "/app.js/../../secret.txt".into(),
        "/..%5c..%5csecret.txt".into(),
        "/..\\..\\secret.txt".into(),
        "/app.js%00.png".into(),
        "/app.js%00".into(),
        "/data/admin.token".into(),
        "/api/v1/../../data/admin.token".into(),
        "/api/v1/%2e%2e/%2e%2e/data/admin.token".into(),
        "//etc/passwd".into(),
        format!("{f}/..%2f..%2fneighbour.txt"),
        format!("{f}/%2e%2e"),
        format!("{f}/0%00"),
        format!("{f}/-1"),
        format!("{f}/99999999999999999999999"),
        format!("{f}/1"),
        format!("{f}/0/../../../secret.txt"),
        format!("/api/v1/torrents/{id}/..%2f..%2fsecret.txt/files/0"),
        "/api/v1/torrents/..%2f..%2fsecret.txt".into(),
        "/api/v2/../../secret.txt".into(),
        "/api/v2/torrents/files?hash=../../secret.txt".into(),
    ];
    // Without the token only the first few: each refusal from one address is
    // answered later than the last (up to 5 s).
    for (i, t) in targets.iter().enumerate() {
        let tokens = if i < 6 {
            vec![None, Some(d.token.as_str())]
        } else {
            vec![Some(d.token.as_str())]
        };
        for token in tokens {
            let (status, text) = raw_get(&d, t, token);
            let with = if token.is_some() { "with" } else { "without" };
            assert!(
                (400..500).contains(&status),
                "{t} {with} the token: {status}\n{text}"
            );
            for secret in ["TOP-SECRET", "root:x:0", d.token.as_str()] {
                assert!(
                    !text.contains(secret),
                    "{t} {with} the token leaked {secret:?}"
                );
            }
        }
    }
    // The torrent's own file is served (the route works), and the daemon is fine.
    d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
    let (status, text) = raw_get(&d, &format!("{f}/0"), Some(&d.token));
    assert_eq!(status, 200, "its own file: {text}");
    assert!(text.len() > data.len());
    assert_eq!(d.get("/stats").status(), StatusCode::OK);
}
