//! Hooks in a real daemon: a program run when a torrent is added and when it
//! finishes, with qBittorrent's placeholders filled in word by word (a name
//! with blanks and quotes stays one word), for a torrent added with its data
//! (added, then finished at once: its programs run in that order, one after
//! the other) and one downloaded from a second daemon
//! (finished at the download's end); nothing runs again at a restart. A
//! program that fails, one that cannot start and one that outlives
//! `timeout_secs` are each said in the log; a line that does not split and
//! an `at_once` of 0 are refused at the start.
#![allow(clippy::disallowed_methods)] // a test's deadline reads the clock

mod daemon_common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use daemon_common::{Daemon, config_text, refused_start};
use reqwest::StatusCode;
use serde_json::Value;

/// Appends one line a run to `runs.log`: the milestone, then each argument
/// between `|`. The program for `added` takes a second first, so a
/// torrent's `finished` program that did not wait for it would write first.
const SCRIPT: &str = r#"#!/bin/sh
log="$1"; shift
[ "$SEEDRING_MILESTONE" = added ] && sleep 1
line="$SEEDRING_MILESTONE"
for a in "$@"; do line="$line|$a"; done
printf '%s\n' "$line" >> "$log"
"#;

const ARGS: &str = r#""%N" "%L" "%G" "%F" "%R" "%D" "%C" "%Z" "%I" "%J" "%K""#;

fn runs(p: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(p.join("runs.log")).unwrap_or_default();
    text.lines()
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}

fn hooked_config(p: &Path, extra: &str) -> String {
    let script = p.join("hook.sh");
    std::fs::write(&script, SCRIPT).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = p.join("runs.log");
    let line = |_: &str| format!("{} '{}' {ARGS}", script.display(), log.display());
    let hooks = format!(
        "[hooks]\non_added = {:?}\non_finished = {:?}\n{extra}",
        line("added"),
        line("finished")
    );
    config_text(p, &hooks)
}

fn id_of(r: reqwest::blocking::Response) -> String {
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn programs_run_when_torrents_are_added_and_finish() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("seedring.toml"), hooked_config(p, "")).unwrap();
    let mut d = Daemon::start(p, "");
    let downloads = p.join("downloads");

    // Added with its data: added, then finished once its check found it.
    let name = "it's a \"quoted\" name.bin";
    let (t, data) = daemon_common::make_torrent(p, name, 100_000);
    std::fs::write(downloads.join(name), &data).unwrap();
    let id = id_of(d.add_torrent(&std::fs::read(&t).unwrap(), "?labels=a,b"));
    d.until("two runs", || runs(p).len() == 2);
    let dl = downloads.display().to_string();
    let file = format!("{dl}/{name}");
    for (run, milestone) in runs(p).iter().zip(["added", "finished"]) {
        let want = [
            milestone, name, "", "a,b", &file, "", &dl, "1", "100000", &id, "-", &id,
        ];
        assert_eq!(run, &want, "{milestone}");
    }

    // Downloaded from another daemon: finished at the download's end, in a
    // folder of its own with its category.
    let seeder_dir = tempfile::tempdir().unwrap();
    let (seeder, album_bytes) = daemon_common::album_seeder(seeder_dir.path(), 300_000);
    let aid = id_of(d.add_torrent(&album_bytes, "?category=music"));
    d.until("added run", || runs(p).len() == 3);
    assert_eq!(runs(p)[2][0], "added");
    assert_eq!(runs(p)[2][2], "music");
    d.add_peer(&aid, &seeder.peer_addr());
    d.until("finished run", || runs(p).len() == 4);
    let folder = format!("{dl}/album");
    let want = [
        "finished", "album", "music", "", &folder, &folder, &dl, "2", "370000", &aid, "-", &aid,
    ];
    assert_eq!(runs(p)[3], want);
    assert_eq!(
        std::fs::read(downloads.join("album/cd1/01.flac")).unwrap(),
        vec![2u8; 300_000]
    );
    let log = d.stderr();
    assert!(log.contains("hook ran"), "{log}");

    // A restart restores both: nothing runs again.
    d.signal("TERM");
    d.child.wait().unwrap();
    let d = Daemon::start(p, "");
    d.wait_for(&aid, "seeding", |t| t["state"] == "seeding");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(runs(p).len(), 4, "{:?}", runs(p));
    drop(seeder);
}

#[test]
fn failures_are_said_and_bad_lines_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let extra = r#"[hooks]
on_added = "sh -c 'echo oops >&2; exit 3'"
on_finished = "/nonexistent/program %N"
"#;
    let mut d = Daemon::start(p, extra);
    let (t, data) = daemon_common::make_torrent(p, "f.bin", 50_000);
    std::fs::write(p.join("downloads/f.bin"), &data).unwrap();
    let _ = id_of(d.add_torrent(&std::fs::read(&t).unwrap(), ""));
    d.until("a failure and a start refused", || {
        let log = d.stderr();
        log.contains("hook failed") && log.contains("hook could not start")
    });
    let log = d.stderr();
    let failed = log.lines().find(|l| l.contains("hook failed")).unwrap();
    assert!(failed.contains("oops") && failed.contains("3"), "{failed}");

    // SIGHUP reads the hooks again: one that outlives its time is killed.
    let config = std::fs::read_to_string(&d.config).unwrap().replace(
        extra,
        "[hooks]\non_added = \"sleep 30\"\ntimeout_secs = 1\n",
    );
    std::fs::write(&d.config, config).unwrap();
    d.signal("HUP");
    d.until("reloaded", || {
        d.stderr().contains("SIGHUP: hooks read again")
    });
    let (t2, _) = daemon_common::make_torrent(p, "g.bin", 50_000);
    let _ = id_of(d.add_torrent(&std::fs::read(&t2).unwrap(), ""));
    d.until("killed", || {
        d.stderr()
            .contains("hook ran past hooks.timeout_secs: killed")
    });
    d.signal("TERM");
    d.child.wait().unwrap();

    for (bad, why) in [
        (
            "on_finished = \"x 'open\"",
            "hooks.on_finished: a ' is not closed",
        ),
        ("at_once = 0", "hooks.at_once must be 1 to 64"),
    ] {
        let c = p.join("bad.toml");
        std::fs::write(&c, config_text(p, &format!("[hooks]\n{bad}\n"))).unwrap();
        let err = refused_start(&c);
        assert!(err.contains(why), "{bad}: {err}");
    }
}
