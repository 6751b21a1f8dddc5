//! Streaming a file over HTTP Range from a torrent that is still downloading from
//! a throttled seeder: the bytes arrive in order, equal the source, and start long
//! before the download ends.
// Real processes on real ports: the test waits on the wall clock, with bounds.
#![allow(clippy::disallowed_methods)]

mod daemon_common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use daemon_common::{Daemon, make_torrent};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A `seedring download --seed` of `torrent` from `dir`, uploading at most
/// `limit` bytes per second; returns it and its port once it seeds.
fn throttled_seeder(torrent: &std::path::Path, dir: &std::path::Path, limit: u64) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_seedring"))
        .arg("download")
        .arg(torrent)
        .arg("-o")
        .arg(dir)
        .args([
            "--seed",
            "--listen-port",
            "0",
            "--listen-address",
            "127.0.0.1",
        ])
        .args(["--upload-limit", &limit.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut port = None;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(p) = line.strip_prefix("seedring: listening on port ") {
                port = p.trim().parse::<u16>().ok();
            }
            if line.contains("seeding until") {
                tx.send(port).ok();
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(30))
        .ok()
        .flatten()
        .expect("the seeder seeds");
    (child, port)
}

#[test]
fn a_file_streams_in_order_while_its_torrent_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let len = 6 << 20;
    let (t, data) = make_torrent(dir.path(), "film.bin", len);
    // 1.5 MiB/s: the whole download takes about four seconds.
    let (mut seeder, port) = throttled_seeder(&t, &dir.path().join("src"), 3 << 19);
    let d = Daemon::start(dir.path(), "");
    let added: Value = d
        .add_torrent(&std::fs::read(&t).unwrap(), "")
        .json()
        .unwrap();
    let id = added["id"].as_str().unwrap().to_owned();
    let r = d.post_json(
        &format!("/torrents/{id}/peers"),
        &json!({"peers": [format!("127.0.0.1:{port}")]}),
    );
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let started = Instant::now();
    // A second reader asks for a range in the middle at the same time.
    let mid = 3 << 20;
    let (b2, d2, id2) = (d.base.clone(), d.token.clone(), id.clone());
    let middle = std::thread::spawn(move || {
        let r = reqwest::blocking::Client::new()
            .get(format!("{b2}/api/v1/torrents/{id2}/files/0"))
            .bearer_auth(d2)
            .header("range", format!("bytes={mid}-{}", mid + 65_535))
            .timeout(Duration::from_secs(60))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes {mid}-{}/{len}", mid + 65_535)
        );
        r.bytes().unwrap().to_vec()
    });
    let mut resp = d
        .authed(d.http.get(d.url(&format!("/torrents/{id}/files/0"))))
        .header("range", "bytes=0-")
        .timeout(Duration::from_secs(60))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.headers()["content-length"], len.to_string());
    let mut got = Vec::with_capacity(len);
    let mut buf = vec![0u8; 64 << 10];
    let mut first_byte = None;
    let mut progress_at_first = 0.0;
    loop {
        let n = resp.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if first_byte.is_none() {
            first_byte = Some(started.elapsed());
            progress_at_first = d.get_json(&format!("/torrents/{id}"))["progress"]
                .as_f64()
                .unwrap();
        }
        got.extend_from_slice(&buf[..n]);
    }
    let all = started.elapsed();
    assert_eq!(got.len(), len);
    assert!(got == data, "the streamed bytes differ from the source");
    assert_eq!(middle.join().unwrap(), data[mid..mid + 65_536].to_vec());
    let ttfb = first_byte.unwrap();
    eprintln!(
        "time to first byte {ttfb:?} (torrent {:.0}% downloaded then), whole file {all:?}",
        progress_at_first * 100.0
    );
    assert!(
        progress_at_first < 0.5,
        "the first bytes came only at {progress_at_first}"
    );
    d.wait_for(&id, "complete", |t| t["state"] == "seeding");
    // A range past the end, and a file that is not there.
    let r = d
        .authed(d.http.get(d.url(&format!("/torrents/{id}/files/0"))))
        .header("range", format!("bytes={len}-"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()["content-range"], format!("bytes */{len}"));
    let r = d.get(&format!("/torrents/{id}/files/7"));
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    seeder.kill().unwrap();
    seeder.wait().unwrap();

    // Killed and started again, the daemon keeps the torrent's counters.
    let before = d.get_json(&format!("/torrents/{id}"));
    std::thread::sleep(Duration::from_millis(1500)); // a resume save (every 500 ms)
    d.signal("KILL");
    drop(d);
    let d = Daemon::start(dir.path(), "");
    let after = d.get_json(&format!("/torrents/{id}"));
    assert_eq!(after["state"], "seeding", "{after}");
    assert_eq!(after["downloaded"], before["downloaded"], "{after}");
    assert!(after["downloaded"].as_u64().unwrap() >= len as u64);
    assert_eq!(after["added_at"], before["added_at"]);
    assert_eq!(after["completed_at"], before["completed_at"]);
}
