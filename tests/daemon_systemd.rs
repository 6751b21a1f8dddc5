//! The daemon as systemd runs it (`Type=notify`): `READY=1` once the API
//! answers, `WATCHDOG=1` while the engine answers when `WATCHDOG_USEC` asks
//! for pings, `STOPPING=1` at SIGTERM and at a stop asked for over the API
//! (`POST /shutdown`); and the sample config of `deploy/` starts a daemon.
#![allow(clippy::disallowed_methods)] // waits on a real daemon with the wall clock

mod daemon_common;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use daemon_common::*;

fn next(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 256];
    let n = sock
        .recv(&mut buf)
        .expect("a message from the daemon in time");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn ready_watchdog_and_stopping_reach_the_notify_socket() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("seedring.toml");
    std::fs::write(&cfg, config_text(dir.path(), "")).unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_seedring"))
        .args(["daemon", "--config"])
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "400000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    assert_eq!(next(&sock), "READY=1");
    // The API answers by then.
    let addr = std::fs::read_to_string(dir.path().join("data/admin.addr")).unwrap();
    assert!(addr.contains("api="), "{addr}");
    // Pings every 200 ms.
    let t = Instant::now();
    assert_eq!(next(&sock), "WATCHDOG=1");
    assert_eq!(next(&sock), "WATCHDOG=1");
    assert!(t.elapsed() < Duration::from_secs(5));
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let mut seen = Vec::new();
    while let Ok(n) = {
        let mut buf = [0u8; 256];
        sock.recv(&mut buf)
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
    } {
        seen.push(n.clone());
        if n == "STOPPING=1" {
            break;
        }
    }
    assert_eq!(
        seen.last().map(String::as_str),
        Some("STOPPING=1"),
        "{seen:?}"
    );
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_stop_asked_for_over_the_api_is_the_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("seedring.toml");
    std::fs::write(&cfg, config_text(dir.path(), "")).unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let notify = sock_path.to_str().unwrap();
    let mut d = Daemon::start_with_env(dir.path(), &cfg, &[("NOTIFY_SOCKET", notify)]);
    assert_eq!(next(&sock), "READY=1");
    let r = d.post("/shutdown");
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    assert_eq!(next(&sock), "STOPPING=1");
    assert!(d.child.wait().unwrap().success(), "{}", d.stderr());
    assert!(d.stderr().contains("stop asked for over the API"));
}

#[test]
fn the_deploy_sample_config_runs_a_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    // The sample with its folders moved into the temp dir and loopback ports.
    let sample = include_str!("../deploy/seedring.toml");
    let swaps = [
        ("/var/lib/seedring", format!("{d}/data")),
        ("/srv/torrents", format!("{d}/srv")),
        ("listen = \"[::]:6881\"", "listen = \"127.0.0.1:0\"".into()),
        (
            "listen = \"0.0.0.0:6882\"",
            "listen = \"127.0.0.1:0\"".into(),
        ),
        ("listen6 = \"[::]:6882\"", "listen6 = \"\"".into()),
        ("bootstrap = [\"router", "bootstrap = [] # [\"router".into()),
        (
            "listen = \"127.0.0.1:8080\"",
            "listen = \"127.0.0.1:0\"".into(),
        ),
    ];
    let mut text = sample.to_owned();
    for (from, to) in swaps {
        // Every swap must happen: a sample that moved on would bind real ports.
        assert!(text.contains(from), "the sample no longer says {from}");
        text = text.replace(from, &to);
    }
    let cfg = dir.path().join("sample.toml");
    std::fs::write(&cfg, text).unwrap();
    let d = Daemon::start_with(dir.path(), &cfg);
    let roots = d.get_json("/roots");
    assert_eq!(roots.as_array().unwrap().len(), 2, "{roots}");
    assert!(dir.path().join("srv/disk1/.seedring-root").exists());
}
