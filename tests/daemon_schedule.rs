//! The alternative speed limits in a real daemon: switched by hand over
//! `PATCH /settings`, and by the schedule at its window's edges in the
//! daemon's local time (a time zone five and a half hours east of UTC, given
//! as a POSIX `TZ`, so a daemon reading UTC would miss the window); a switch by
//! hand stands until the next edge; the settings outlive a restart; bad times
//! and days are refused with why, over the API and in the config.
#![allow(clippy::disallowed_methods)] // a test's deadline reads the clock

mod daemon_common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use daemon_common::{Daemon, config_text};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// UTC+05:30, no daylight saving.
const TZ: &str = "<+0530>-05:30";

fn patch(d: &Daemon, body: Value) -> (StatusCode, Value) {
    let r = d
        .authed(d.http.patch(d.url("/settings")))
        .json(&body)
        .send()
        .unwrap();
    let code = r.status();
    (code, r.json().unwrap_or(Value::Null))
}

/// `HH:MM` of the daemon's local time, `minutes` from now.
fn local_clock(minutes: i64) -> String {
    let utc = jiff::Timestamp::now().as_second();
    let local = (utc / 60 + 330 + minutes).rem_euclid(24 * 60);
    format!("{:02}:{:02}", local / 60, local % 60)
}

/// Waits (30 s at most) until `GET /stats` satisfies `f`.
fn stats_until(d: &Daemon, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let s = d.get_json("/stats");
        if f(&s) {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: {s}\n{}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn limits(s: &Value) -> (bool, u64, u64) {
    (
        s["alt_limits"].as_bool().unwrap(),
        s["download_limit"].as_u64().unwrap(),
        s["upload_limit"].as_u64().unwrap(),
    )
}

fn start(dir: &Path) -> Daemon {
    let cfg = dir.join("seedring.toml");
    if !cfg.exists() {
        let text = config_text(dir, "").replace(
            "[peers]",
            "[limits]\ndownload = 5000000\nupload = 6000000\nalt_download = 100000\nalt_upload = 200000\n\n[peers]",
        );
        std::fs::write(&cfg, text).unwrap();
    }
    Daemon::start_with_env(dir, &cfg, &[("TZ", TZ)])
}

#[test]
fn the_schedule_switches_the_alternative_limits_at_its_edges_in_local_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(dir.path());
    assert_eq!(limits(&d.get_json("/stats")), (false, 5_000_000, 6_000_000));

    // By hand: on, and the caps in force are the alternative ones.
    let (code, s) = patch(&d, json!({"alt_limits": true}));
    assert_eq!(code, StatusCode::OK, "{s}");
    assert_eq!(s["alt_limits"], true);
    assert_eq!(limits(&d.get_json("/stats")), (true, 100_000, 200_000));
    patch(&d, json!({"alt_limits": false}));
    assert_eq!(limits(&d.get_json("/stats")), (false, 5_000_000, 6_000_000));

    // A window holding the local time (not UTC's: 5.5 hours earlier): on.
    let (code, s) = patch(
        &d,
        json!({"schedule_enabled": true, "schedule_from": local_clock(-1),
               "schedule_to": local_clock(10), "schedule_days": "every_day"}),
    );
    assert_eq!(code, StatusCode::OK, "{s}");
    stats_until(&d, "the window's start", |s| {
        limits(s) == (true, 100_000, 200_000)
    });
    assert!(
        d.stderr().contains("schedule: alternative speed limits on"),
        "{}",
        d.stderr()
    );

    // Off by hand inside the window: it stands (the schedule looks every
    // second; three seconds pass).
    patch(&d, json!({"alt_limits": false}));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(limits(&d.get_json("/stats")), (false, 5_000_000, 6_000_000));

    // On by hand, then the window moved away from now: the schedule's edge
    // switches them off.
    patch(&d, json!({"alt_limits": true}));
    // Read once: a minute may turn before the restart below reads it back.
    let away = local_clock(120);
    patch(
        &d,
        json!({"schedule_from": &away, "schedule_to": local_clock(180)}),
    );
    stats_until(&d, "the window moved away", |s| !limits(s).0);

    // Refused with why: a time off the clock, a day that is none.
    for bad in [
        json!({"schedule_from": "24:00"}),
        json!({"schedule_to": "7"}),
        json!({"schedule_days": "someday"}),
    ] {
        let (code, body) = patch(&d, bad.clone());
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let (_, body) = patch(&d, json!({"schedule_from": "24:00"}));
    assert!(body.to_string().contains("HH:MM"), "{body}");

    // The command line shows the caps in force and switches them.
    let remote = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_seedring"))
            .args(["remote", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(remote(&["alt-limits"]).starts_with("normal limits: down 4.77 MiB/s, up 5.72 MiB/s"));
    let on = remote(&["alt-limits", "on"]);
    assert!(
        on.starts_with("alternative limits: down 97.66 KiB/s, up 195.31 KiB/s"),
        "{on}"
    );
    assert!(limits(&d.get_json("/stats")).0);
    remote(&["alt-limits", "off"]);
    assert!(!limits(&d.get_json("/stats")).0);

    // A restart keeps what the API set.
    d.signal("TERM");
    let _ = d.child.wait();
    let d = start(dir.path());
    let s = d.get_json("/settings");
    assert_eq!(s["schedule_enabled"], true);
    assert_eq!(s["schedule_from"], away.as_str());
    assert_eq!(s["schedule_days"], "every_day");
    assert_eq!(s["alt_download_limit"], 100_000);
    assert!(!limits(&d.get_json("/stats")).0);
}

#[test]
fn a_config_with_a_bad_schedule_is_refused_with_why() {
    let dir = tempfile::tempdir().unwrap();
    for (line, says) in [
        ("schedule_from = \"8am\"", "HH:MM"),
        ("schedule_days = \"someday\"", "unknown variant `someday`"),
    ] {
        let cfg = dir.path().join("bad.toml");
        let text =
            config_text(dir.path(), "").replace("[peers]", &format!("[limits]\n{line}\n\n[peers]"));
        std::fs::write(&cfg, text).unwrap();
        let err = daemon_common::refused_start(&cfg);
        assert!(err.contains(says), "{line}: {err}");
    }
}
