//! Which trackers a torrent is announced to (`peers.announce_to`), through a
//! real daemon and two HTTP trackers on loopback listed in two tiers (as
//! `seedring create` lists them, one a tier): by default each tier's tracker
//! hears `started` and each answer shows in the trackers view, the swarm
//! counts the largest; set to `one_tracker` over the API, a new torrent is
//! announced to the first tier only. A value the config does not know is
//! refused at start.
#![allow(clippy::disallowed_methods)] // a test's deadline reads the clock

mod daemon_common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use daemon_common::{Daemon, config_text, created_id, refused_start};
use serde_json::{Value, json};

/// An HTTP tracker on loopback answering every announce with `seeders` and
/// no peers; the request lines it got.
fn tracker(seeders: u32) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/announce", l.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 2048];
            let n = s.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]);
            log.lock()
                .unwrap()
                .push(head.lines().next().unwrap_or("").to_owned());
            let body = format!("d8:completei{seeders}e10:incompletei1e8:intervali1800e5:peers0:e");
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(answer.as_bytes());
        }
    });
    (url, seen)
}

/// The torrent's trackers view once `f` holds (30 s at most).
fn trackers_when(d: &Daemon, id: &str, f: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/torrents/{id}/trackers");
    d.until("the trackers view", || f(&d.get_json(&path)));
    d.get_json(&path)
}

fn asked(view: &Value) -> Vec<(String, Value)> {
    (view["asked"].as_array().unwrap().iter())
        .map(|a| (a["url"].as_str().unwrap().to_owned(), a["seeders"].clone()))
        .collect()
}

#[test]
fn each_tier_is_announced_to_unless_set_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let (first, first_seen) = tracker(3);
    let (second, second_seen) = tracker(9);
    let src = p.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut torrents = Vec::new();
    for name in ["a.bin", "b.bin"] {
        std::fs::write(src.join(name), name.repeat(20_000)).unwrap();
        let t = p.join(format!("{name}.torrent"));
        let trackers = ["--tracker", &first, "--tracker", &second];
        daemon_common::cli_common::create(&src.join(name), &t, &trackers);
        torrents.push(std::fs::read(t).unwrap());
    }
    let d = Daemon::start(p, "");
    assert_eq!(d.get_json("/settings")["announce_to"], "every_tier");

    let id = created_id(d.add_torrent(&torrents[0], ""));
    let view = trackers_when(&d, &id, |v| v["asked"].as_array().unwrap().len() == 2);
    assert_eq!(view["tiers"], json!([[first], [second]]));
    assert_eq!(
        asked(&view),
        [(first.clone(), json!(3)), (second.clone(), json!(9))]
    );
    assert_eq!(view["seeders"], 9, "the largest count: {view}");
    for seen in [&first_seen, &second_seen] {
        let lines = seen.lock().unwrap().clone();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("event=started"), "{lines:?}");
    }
    let stats = d.get_json(&format!("/torrents/{id}"));
    assert_eq!(
        stats["tracker"]["url"],
        first.as_str(),
        "the first working: {stats}"
    );
    assert_eq!(stats["tracker"]["seeders"], 9, "{stats}");

    let r = d
        .authed(d.http.patch(d.url("/settings")))
        .json(&json!({ "announce_to": "one_tracker" }))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    assert_eq!(d.get_json("/settings")["announce_to"], "one_tracker");
    let bad = d
        .authed(d.http.patch(d.url("/settings")))
        .json(&json!({ "announce_to": "all" }))
        .send()
        .unwrap();
    assert_eq!(bad.status(), 422);
    assert!(bad.text().unwrap().contains("announce_to: unknown variant"));

    let id = created_id(d.add_torrent(&torrents[1], ""));
    let view = trackers_when(&d, &id, |v| v["announces"] == 1);
    assert_eq!(asked(&view), [(first.clone(), json!(3))]);
    // Time for an announce to the second tier, had one been made.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(first_seen.lock().unwrap().len(), 2);
    assert_eq!(
        second_seen.lock().unwrap().len(),
        1,
        "only the first torrent's"
    );
    assert_eq!(
        asked(&d.get_json(&format!("/torrents/{id}/trackers"))).len(),
        1
    );

    // A value the config does not know.
    let cfg = p.join("bad.toml");
    let text = config_text(&p.join("other"), "");
    let text = text.replacen("[peers]\n", "[peers]\nannounce_to = \"all\"\n", 1);
    assert!(text.contains("announce_to = \"all\""), "{text}");
    std::fs::write(&cfg, text).unwrap();
    let why = refused_start(&cfg);
    assert!(
        why.contains("bad.toml, line 3: unknown variant `all`"),
        "{why}"
    );
}
