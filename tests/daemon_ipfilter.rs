//! The IP filter in a real daemon: connections from addresses in the
//! config's filter file or its `banned_ips` are refused before a byte is
//! answered, others get the handshake; a SIGHUP after the file changed closes
//! the connections it now blocks; a filter the config cannot have stops the
//! start with why. Clients are real sockets bound to other loopback addresses.
#![allow(clippy::disallowed_methods)] // a test's deadline reads the clock

mod daemon_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use daemon_common::{Daemon, config_text, make_torrent};
use seedring::proto::Handshake;
use seedring::types::InfoHash;

/// A config whose `[peers]` has `lines` too.
fn config_with(dir: &Path, lines: &str) -> std::path::PathBuf {
    let text = config_text(dir, "").replace(
        "[peers]\nlisten = \"127.0.0.1:0\"\n",
        &format!("[peers]\nlisten = \"127.0.0.1:0\"\n{lines}\n"),
    );
    let path = dir.join("seedring.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn peer_port(dir: &Path) -> u16 {
    let t = std::fs::read_to_string(dir.join("data/admin.addr")).unwrap();
    let a = t.lines().find_map(|l| l.strip_prefix("peers=")).unwrap();
    a.parse::<SocketAddr>().unwrap().port()
}

/// A torrent added with its data in place, once it seeds: its id and hash.
fn seeding(d: &Daemon, dir: &Path) -> (String, InfoHash) {
    let (t, data) = make_torrent(dir, "f.bin", 100_000);
    std::fs::write(dir.join("downloads/f.bin"), &data).unwrap();
    let added: serde_json::Value = d
        .add_torrent(&std::fs::read(&t).unwrap(), "")
        .json()
        .unwrap();
    let id = added["id"].as_str().unwrap().to_owned();
    d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
    let ih = InfoHash::parse(&id).unwrap();
    (id, ih)
}

/// A connection to the daemon's peer port from loopback address `from`,
/// whose reads wait at most `wait`.
fn dial_from(from: &str, port: u16, wait: Duration) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&format!("{from}:0").parse::<SocketAddr>().unwrap().into())
        .unwrap();
    s.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(wait)).unwrap();
    s
}

/// A connection from `from` that sends a handshake for `ih`: whether the
/// daemon answered with its own.
fn answered(from: &str, port: u16, ih: InfoHash) -> (bool, TcpStream) {
    let mut s = dial_from(from, port, Duration::from_secs(10));
    // A refused connection may be closed before the handshake is written.
    let _ = s.write_all(&Handshake::new(ih, [9; 20]).encode());
    let mut got = [0u8; 68];
    let ok = s.read_exact(&mut got).is_ok() && got[1..20] == *b"BitTorrent protocol";
    (ok, s)
}

/// A connection from `from` that opens with an encryption handshake (a
/// public key's worth of bytes): how many bytes come back before it closes
/// or goes quiet.
fn encryption_answer(from: &str, port: u16) -> usize {
    let mut s = dial_from(from, port, Duration::from_secs(3));
    let _ = s.write_all(&[0x5a; 96]);
    let mut got = 0;
    let mut buf = [0u8; 1024];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got += n;
    }
    got
}

#[test]
fn peers_the_filter_names_are_refused_and_a_reload_closes_them() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("blocklist.p2p");
    std::fs::write(
        &list,
        "# a list\nSome range:127.0.0.2-127.0.0.2\nnot a line\n",
    )
    .unwrap();
    let lines = format!(
        "ip_filter = \"{}\"\nbanned_ips = [\"127.0.0.3/32\"]",
        list.display()
    );
    let config = config_with(dir.path(), &lines);
    let d = Daemon::start_with(dir.path(), &config);
    let (_, ih) = seeding(&d, dir.path());
    let port = peer_port(dir.path());

    assert!(!answered("127.0.0.2", port, ih).0, "the file's address");
    assert_eq!(
        encryption_answer("127.0.0.2", port),
        0,
        "no MSE answer either"
    );
    assert!(
        encryption_answer("127.0.0.9", port) >= 96,
        "an MSE answer elsewhere"
    );
    assert!(!answered("127.0.0.3", port, ih).0, "banned_ips");
    let (ok, mut open) = answered("127.0.0.4", port, ih);
    assert!(ok, "an address in neither");
    let log = d.stderr();
    assert!(
        log.contains("connections refused by the IP filter"),
        "{log}"
    );
    assert!(log.contains("lines not read"), "{log}");

    // The list grows to hold 127.0.0.4: a reload closes its connection.
    std::fs::write(&list, "127.0.0.2\n127.0.0.4\n").unwrap();
    d.signal("HUP");
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    open.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    loop {
        match open.read(&mut buf) {
            Ok(0) => break,
            Err(e)
                if e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut =>
            {
                break;
            }
            _ => {}
        }
        assert!(start.elapsed() < Duration::from_secs(10), "not closed");
    }
    assert!(!answered("127.0.0.4", port, ih).0);
    while !d.stderr().contains("SIGHUP: IP filter read again") {
        assert!(start.elapsed() < Duration::from_secs(10), "{}", d.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    let m = (d.authed(d.http.get(format!("{}/metrics", d.base))))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let refused: f64 = m
        .lines()
        .filter(|l| l.starts_with("seedring_shard_ip_filter_refused{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(refused >= 3.0, "{m}");
}

#[test]
fn a_filter_the_daemon_cannot_have_stops_its_start_with_why() {
    for (lines, why) in [
        ("banned_ips = [\"not an address\"]", "peers.banned_ips"),
        (
            "ip_filter = \"/nonexistent/list.dat\"",
            "peers.ip_filter /nonexistent/list.dat",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = config_with(dir.path(), lines);
        let err = daemon_common::refused_start(&config);
        assert!(err.contains(why), "{lines}: {err}");
    }
}

#[test]
fn addresses_banned_over_the_api_are_refused_and_stay_banned_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(dir.path(), "");
    let d = Daemon::start_with(dir.path(), &config);
    let (id, ih) = seeding(&d, dir.path());
    let port = peer_port(dir.path());
    let (ok, mut open) = answered("127.0.0.6", port, ih);
    assert!(ok);
    let patch = |body: serde_json::Value| {
        d.authed(d.http.patch(d.url("/settings")))
            .json(&body)
            .send()
            .unwrap()
    };
    let r = patch(serde_json::json!({"banned_ips": ["127.0.0.6", "nonsense"]}));
    assert_eq!(r.status(), 400);
    assert!(
        answered("127.0.0.6", port, ih).0,
        "a refused change bans nothing"
    );
    let r = patch(serde_json::json!({"banned_ips": ["127.0.0.6", "10.0.0.0/8"]}));
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    // In force at once: the open connection closes, a new one is refused.
    open.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while let Ok(n) = open.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
    assert!(!answered("127.0.0.6", port, ih).0);
    drop(d);
    // Kept in settings.json: banned from the start of the next run.
    let d = Daemon::start_with(dir.path(), &config);
    d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
    let port = peer_port(dir.path());
    assert!(!answered("127.0.0.6", port, ih).0);
    assert!(answered("127.0.0.7", port, ih).0);
    let s = d.get_json("/settings");
    assert_eq!(
        s["banned_ips"],
        serde_json::json!(["127.0.0.6", "10.0.0.0/8"])
    );
}
