//! Load: one seeding daemon holds 5,000 idle peer connections (each past the
//! BitTorrent handshake) and, at the same time, 500 hostile ones (silent
//! sockets, byte-dripped and garbage handshakes, absurd length prefixes,
//! request floods while choked, interest that never asks). The API still
//! answers, and while eight clients flood it with requests another daemon
//! downloads the torrent whole (the silent interested peers must not keep it
//! out of the upload slots), the daemon's peak RSS is printed and bounded,
//! and its file descriptors go back down once everyone leaves.
// Real sockets take real time: the test waits on the wall clock.
#![allow(clippy::disallowed_methods)]

mod daemon_common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use daemon_common::{Daemon, config_text, make_torrent};
use seedring::InfoHash;
use seedring::proto::{Handshake, Message};
use serde_json::{Value, json};

const IDLE: usize = 5_000;
const HOSTILE: usize = 500;

fn status_kib(pid: &str, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn fds(pid: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn hello(ih: InfoHash, i: usize) -> Vec<u8> {
    let mut id = [b'L'; 20];
    id[..8].copy_from_slice(&(i as u64).to_be_bytes());
    Handshake::new(ih, id).encode().to_vec()
}

/// What the hostile peer `i` sends (a sixth of them each kind).
fn hostile(ih: InfoHash, i: usize) -> Vec<u8> {
    match i % 6 {
        0 => Vec::new(),                  // connects and says nothing
        1 => hello(ih, i)[..10].to_vec(), // a handshake that stops
        2 => (0..1024usize)
            .map(|b| (b * 7 + i).to_le_bytes()[0])
            .collect(),
        3 => [hello(ih, i), vec![0xff, 0xff, 0xff, 0xf0, 7]].concat(),
        // Interested, then silent: it would hold an upload slot and ask nothing.
        4 => [hello(ih, i), Message::Interested.encode()].concat(),
        _ => {
            let mut b = hello(ih, i);
            Message::Interested.encode_into(&mut b);
            for k in 0..2_000u32 {
                Message::Request(seedring::proto::BlockRequest {
                    piece: k % 8,
                    offset: 0,
                    len: 16 * 1024,
                })
                .encode_into(&mut b);
            }
            b
        }
    }
}

#[test]
fn five_thousand_idle_and_five_hundred_hostile_connections() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let (torrent, data) = make_torrent(a_dir.path(), "load.bin", 4 << 20);
    std::fs::create_dir_all(a_dir.path().join("downloads")).unwrap();
    std::fs::write(a_dir.path().join("downloads/load.bin"), &data).unwrap();
    // The caps are shared between the daemon's shards: room for everyone.
    let caps = "[peers]\nlisten = \"127.0.0.1:0\"\nmax_connections = 40000\n\
                max_connections_per_torrent = 12000\n";
    let text = config_text(a_dir.path(), "").replace("[peers]\nlisten = \"127.0.0.1:0\"\n", caps);
    std::fs::write(a_dir.path().join("seedring.toml"), text).unwrap();
    let a = Daemon::start(a_dir.path(), "");
    let bytes = std::fs::read(&torrent).unwrap();
    let added: Value = a.add_torrent(&bytes, "").json().unwrap();
    let id = added["id"].as_str().unwrap().to_owned();
    a.wait_for(&id, "seeding", |t| t["state"] == "seeding");
    let ih = InfoHash::parse(&id).unwrap();
    let listen = a.get_json("/stats")["peer_listen"]
        .as_str()
        .unwrap()
        .to_owned();
    let pid = a.pid();
    let (rss_before, fds_before) = (status_kib(&pid, "VmRSS:"), fds(&pid));

    let mut held = Vec::with_capacity(IDLE + HOSTILE);
    for i in 0..IDLE {
        let mut s = TcpStream::connect(&listen).unwrap();
        s.write_all(&hello(ih, i)).unwrap();
        held.push(s);
    }
    for i in 0..HOSTILE {
        let mut s = TcpStream::connect(&listen).unwrap();
        let _ = s.write_all(&hostile(ih, IDLE + i));
        held.push(s);
    }
    let started = Instant::now();
    let connected = loop {
        let n = a.get_json("/stats")["connections"].as_u64().unwrap();
        if n >= IDLE as u64 || started.elapsed() > Duration::from_secs(60) {
            break n;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if connected < IDLE as u64 {
        let log = a.stderr();
        let tail: Vec<&str> = log.lines().rev().take(12).collect();
        panic!("{connected} connections; the daemon's log ends: {tail:#?}");
    }
    let rss_held = status_kib(&pid, "VmRSS:");

    // A flood of API requests on the seed all the while (8 clients asking
    // for the torrent list, the stats and the peer list as fast as answered).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood: Vec<_> = (0..8)
        .map(|i| {
            let (base, token, stop) = (a.base.clone(), a.token.clone(), stop.clone());
            let path = ["/torrents", "/stats", &format!("/torrents/{id}/peers")][i % 3].to_owned();
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                let mut answered = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = http
                        .get(format!("{base}/api/v1{path}"))
                        .bearer_auth(&token)
                        .send();
                    if r.is_ok_and(|r| r.status().is_success()) {
                        answered += 1;
                    }
                }
                answered
            })
        })
        .collect();
    // A well-behaved peer gets the whole torrent meanwhile.
    let b = Daemon::start(b_dir.path(), "");
    assert!(b.add_torrent(&bytes, "").status().is_success());
    let r = b.post_json(
        &format!("/torrents/{id}/peers"),
        &json!({"peers": [listen]}),
    );
    assert!(r.status().is_success());
    let started = Instant::now();
    while b.get_json(&format!("/torrents/{id}"))["state"] != "seeding" {
        if started.elapsed() > Duration::from_secs(120) {
            // What the seed thinks of its peers: who holds the slots.
            let mut flags = std::collections::BTreeMap::<String, usize>::new();
            for p in a
                .get_json(&format!("/torrents/{id}/peers"))
                .as_array()
                .unwrap()
            {
                let f = format!("{} {}", p["flags"], p["client"]);
                *flags.entry(f).or_default() += 1;
            }
            panic!("the download stalled; the seed's peers by flags: {flags:#?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let download = started.elapsed();
    assert!(std::fs::read(b_dir.path().join("downloads/load.bin")).unwrap() == data);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered: u64 = flood.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(answered > 0);
    let peak = status_kib(&pid, "VmHWM:");

    drop(held);
    let started = Instant::now();
    while fds(&pid) > fds_before + 16 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} descriptors left (before: {fds_before})",
            fds(&pid)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let per = (rss_held.saturating_sub(rss_before)) as f64 / (IDLE + HOSTILE) as f64;
    println!(
        "load: {connected} connections held; the download took {:.1} s, {answered} API \
         requests answered meanwhile; RSS {:.1} MiB before, {:.1} MiB held ({per:.1} KiB each), peak \
         {:.1} MiB; descriptors back to {} (before {fds_before})",
        download.as_secs_f64(),
        rss_before as f64 / 1024.0,
        rss_held as f64 / 1024.0,
        peak as f64 / 1024.0,
        fds(&pid)
    );
    assert!(peak < 512 * 1024, "peak RSS {peak} KiB");
}
