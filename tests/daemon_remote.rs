//! `seedring remote`'s commands on one torrent (files and priorities, a file
//! renamed, peers, trackers, recheck, move, caps, share limits, labels, name,
//! order, its `.torrent`) and on the daemon as a whole (stats, roots, a
//! category removed, shutdown), against a real daemon seeding an album: each
//! command's effect read back over the API, and its refusals a failing exit
//! with the daemon's reason.
#![allow(clippy::disallowed_methods)] // waits on a real daemon with the wall clock

mod daemon_common;

use std::path::Path;
use std::time::{Duration, Instant};

use daemon_common::{album_seeder, files_under, make_torrent};
use serde_json::{Value, json};

/// Runs `seedring remote ARGS` against the daemon whose data folder is under
/// `dir`: (success, standard output, standard error).
fn remote(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_seedring"))
        .arg("remote")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn remote_commands_change_what_the_api_shows() {
    let dir = tempfile::tempdir().unwrap();
    let (d, bytes) = album_seeder(dir.path(), 100_000);
    let r = |args: &[&str]| remote(dir.path(), args);
    let list = d.get_json("/torrents");
    let id = list["torrents"][0]["id"].as_str().unwrap().to_owned();
    let short = &id[..8];
    let view = || d.get_json(&format!("/torrents/{id}"));

    // Files, and one file's priority changed, the other's kept.
    let (ok, out, err) = r(&["files", short]);
    assert!(ok, "{err}");
    assert!(
        out.contains("album/cd1/01.flac") && out.contains("album/cover.jpg"),
        "{out}"
    );
    let files = d.get_json(&format!("/torrents/{id}/files"));
    let index_of = |name: &str| {
        files
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == name)
            .unwrap()["index"]
            .as_u64()
            .unwrap()
    };
    let cover = index_of("album/cover.jpg").to_string();
    let (ok, _, err) = r(&["priority", short, "7", &cover]);
    assert!(ok, "{err}");
    let prios: Vec<(String, Value)> = d
        .get_json(&format!("/torrents/{id}/files"))
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["priority"].clone(),
            )
        })
        .collect();
    assert!(
        prios.contains(&("album/cover.jpg".into(), json!(7)))
            && prios.contains(&("album/cd1/01.flac".into(), json!(1))),
        "{prios:?}"
    );
    let (ok, _, err) = r(&["priority", short, "1", "99"]);
    assert!(!ok && err.contains("no file 99"), "{err}");
    let (ok, _, _) = r(&["priority", short, "8", &cover]);
    assert!(!ok, "a priority past 7 accepted");
    let (ok, out, _) = r(&["files", short]);
    assert!(ok && out.contains("prio 7"), "{out}");

    // Caps: one given, the other kept; shown without either.
    let (ok, _, err) = r(&["limits", short, "--up", "300000"]);
    assert!(ok, "{err}");
    let (ok, _, err) = r(&["limits", short, "--down", "100000"]);
    assert!(ok, "{err}");
    let v = view();
    assert_eq!(
        (v["download_limit"].clone(), v["upload_limit"].clone()),
        (json!(100000), json!(300000))
    );
    let (ok, out, _) = r(&["limits", short, "--json"]);
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap(),
        json!({"download_limit": 100000, "upload_limit": 300000})
    );

    // Share limits of its own, then the global ones again.
    let (ok, out, err) = r(&[
        "share-limits",
        short,
        "--ratio",
        "2.5",
        "--inactive-time",
        "-1",
        "--action",
        "remove",
    ]);
    assert!(ok && out.contains("share limits"), "{err}");
    let own = view()["share_limits"].clone();
    assert_eq!(own["ratio_limit"], json!(2.5), "{own}");
    assert_eq!(own["inactive_seeding_time_limit_mins"], json!(-1), "{own}");
    assert_eq!(own["seeding_time_limit_mins"], Value::Null, "{own}");
    assert_eq!(own["share_limit_action"], "remove", "{own}");
    let (ok, _, err) = r(&["share-limits", short, "--action", "explode"]);
    assert!(!ok && err.contains("unknown variant `explode`"), "{err}");
    let (ok, out, err) = r(&["share-limits", short]);
    assert!(ok && out.contains("follows the global"), "{err}");
    assert_eq!(view().get("share_limits"), None);

    // Labels, name, order.
    let (ok, _, err) = r(&["labels", short, "music", "flac"]);
    assert!(ok, "{err}");
    assert_eq!(view()["labels"], json!(["flac", "music"]));
    let (ok, _, err) = r(&["labels", short]);
    assert!(ok, "{err}");
    assert_eq!(view()["labels"], json!([]));
    let (ok, _, err) = r(&["rename", short, "The Album"]);
    assert!(ok, "{err}");
    assert_eq!(view()["name"], "The Album");
    let (ok, _, err) = r(&["sequential", short, "on"]);
    assert!(ok, "{err}");
    assert_eq!(view()["sequential"], json!(true));

    // Trackers: one added in a tier of its own, refused twice, removed.
    let url = "http://127.0.0.1:9/announce";
    let (ok, _, err) = r(&["add-tracker", short, url]);
    assert!(ok, "{err}");
    let tiers = || d.get_json(&format!("/torrents/{id}/trackers"))["tiers"].clone();
    assert_eq!(tiers(), json!([[url]]));
    let (ok, _, err) = r(&["add-tracker", short, url]);
    assert!(!ok && err.contains("already has"), "{err}");
    let (ok, out, _) = r(&["trackers", short]);
    assert!(ok && out.contains(&format!("tier 0  {url}")), "{out}");
    let (ok, _, err) = r(&["rm-tracker", short, url]);
    assert!(ok, "{err}");
    assert_eq!(tiers(), json!([]));
    let (ok, _, err) = r(&["rm-tracker", short, url]);
    assert!(!ok && err.contains("has no tracker"), "{err}");

    // Peers: one given, and the list (this daemon's own listener).
    let (ok, _, err) = r(&["add-peer", short, &d.peer_addr()]);
    assert!(ok, "{err}");
    let (ok, _, err) = r(&["add-peer", short, "not-an-address"]);
    assert!(!ok && err.contains("400"), "{err}");
    let (ok, _, err) = r(&["peers", short]);
    assert!(ok, "{err}");

    // Its .torrent: the same file as the one it was added from, in its
    // info-hash (the trackers and names may differ).
    let saved = dir.path().join("saved.torrent");
    let (ok, _, err) = r(&["export", short, saved.to_str().unwrap()]);
    assert!(ok, "{err}");
    let meta = seedring::metainfo::Metainfo::from_bytes(&std::fs::read(&saved).unwrap()).unwrap();
    let orig = seedring::metainfo::Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(meta.info_hash, orig.info_hash);

    // A file renamed on disk.
    let (ok, _, err) = r(&["rename-file", short, "album/cover.jpg", "album/front.jpg"]);
    assert!(ok, "{err}");
    d.until("the file renamed", || {
        files_under(&dir.path().join("downloads/album")).contains(&"front.jpg".to_owned())
    });
    d.wait_for(&id, "seeding again", |t| t["state"] == "seeding");

    // Roots: one added, the torrent moved there, made the default, refused
    // removal while in use.
    let disk2 = dir.path().join("disk2");
    let (ok, out, err) = r(&[
        "add-root",
        "disk2",
        disk2.to_str().unwrap(),
        "--label",
        "Disk 2",
    ]);
    assert!(ok && out.contains("root disk2"), "{err}");
    let (ok, _, err) = r(&["move", short, "disk2"]);
    assert!(ok, "{err}");
    d.wait_for(&id, "moved", |t| {
        t["root"] == "disk2" && t["state"] == "seeding"
    });
    assert!(disk2.join("album/front.jpg").exists());
    let (ok, _, err) = r(&["default-root", "disk2"]);
    assert!(ok, "{err}");
    let (ok, out, _) = r(&["roots"]);
    assert!(ok && out.contains("disk2 (default)"), "{out}");
    let (ok, _, err) = r(&["rm-root", "disk2"]);
    assert!(!ok && err.contains("409"), "{err}");
    let (ok, _, err) = r(&["rm-root", "default"]);
    assert!(ok, "{err}");

    // A recheck from the command line finds the moved files whole.
    let checks_before = view()["hash_failures"].clone();
    let (ok, _, err) = r(&["recheck", short]);
    assert!(ok, "{err}");
    d.wait_for(&id, "seeding after its recheck", |t| {
        t["state"] == "seeding" && t["progress"] == json!(1.0)
    });
    assert_eq!(view()["hash_failures"], checks_before);

    // An add with its options; without --paused the daemon's setting
    // decides (here: paused).
    let set = d
        .authed(d.http.patch(d.url("/settings")))
        .json(&json!({"add_paused": true}))
        .send()
        .unwrap();
    assert!(set.status().is_success(), "{set:?}");
    let (t, _) = make_torrent(dir.path(), "extra.bin", 50_000);
    let (ok, out, err) = r(&[
        "add",
        t.to_str().unwrap(),
        "--name",
        "Extra",
        "--label",
        "x",
        "--sequential",
        "--first-last",
        "--down",
        "1000",
        "--up",
        "2000",
        "--ratio",
        "1.5",
        "--action",
        "pause",
        "--layout",
        "subfolder",
        "--json",
    ]);
    assert!(ok, "{err}");
    let added: Value = serde_json::from_str(out.trim()).unwrap();
    let extra = added["id"].as_str().unwrap().to_owned();
    let v = d.get_json(&format!("/torrents/{extra}"));
    assert_eq!(v["name"], "Extra");
    assert_eq!(v["labels"], json!(["x"]));
    assert_eq!(v["sequential"], json!(true));
    assert_eq!(
        (v["download_limit"].clone(), v["upload_limit"].clone()),
        (json!(1000), json!(2000))
    );
    assert_eq!(v["share_limits"]["ratio_limit"], json!(1.5), "{v}");
    assert_eq!(v["share_limits"]["share_limit_action"], "pause", "{v}");
    assert_eq!(
        v["state"], "paused",
        "the daemon's add_paused was not followed"
    );
    let (ok, _, err) = r(&["add", t.to_str().unwrap(), "--layout", "sideways"]);
    assert!(!ok && err.contains("sideways"), "{err}");
    // A magnet link: its options in the JSON body.
    let magnet = format!("magnet:?xt=urn:btih:{}&dn=later", "cd".repeat(20));
    let (ok, _, err) = r(&[
        "add", &magnet, "--name", "Later", "--label", "m", "--up", "5000",
    ]);
    assert!(ok, "{err}");
    let m = d.get_json(&format!("/torrents/{}", "cd".repeat(20)));
    assert_eq!(
        (&m["name"], &m["labels"], &m["upload_limit"], &m["state"]),
        (
            &json!("Later"),
            &json!(["m"]),
            &json!(5000),
            &json!("paused")
        ),
        "{m}"
    );

    // Categories: one removed.
    let (ok, _, err) = r(&["add-category", "music"]);
    assert!(ok, "{err}");
    let (ok, _, err) = r(&["rm-category", "music"]);
    assert!(ok, "{err}");
    assert_eq!(d.get_json("/categories"), json!({}));

    // The daemon's numbers, then its stop.
    let (ok, out, err) = r(&["stats"]);
    assert!(
        ok && out.contains("3 torrents") && out.contains("seeding 1") && out.contains("paused 2"),
        "{out}{err}"
    );
    let (ok, _, err) = r(&["shutdown"]);
    assert!(ok, "{err}");
    let mut d = d;
    let start = Instant::now();
    while d.child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the daemon did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
