//! `POST /api/v1/torrents` with a JSON body holding the `.torrent` (base64)
//! and every option: a folder inside a root to save in, the name it is shown
//! under, its files under other names (found there by the check at add, as
//! `seedring remote import-qbittorrent` needs), an incomplete folder of its
//! own, its past in another client (totals and times); and each bad option
//! refused with `400` and why, nothing added.
// Real processes on real ports: the test waits on the wall clock, with bounds.
#![allow(clippy::disallowed_methods)]

mod daemon_common;

use base64::Engine as _;
use daemon_common::{Daemon, album_seeder, created_id, files_under};
use serde_json::{Value, json};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn a_torrent_added_with_its_files_elsewhere_and_under_other_names_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    // The album's data, moved into `moved/` with its cover renamed, as
    // another client left it.
    let (d, album) = album_seeder(dir.path(), 100_000);
    let id = d.get_json("/torrents")["torrents"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(d.delete(&format!("/torrents/{id}")).status(), 204);
    let home = dir.path().join("downloads");
    std::fs::create_dir_all(home.join("moved/album/art")).unwrap();
    std::fs::rename(
        home.join("album/cover.jpg"),
        home.join("moved/album/art/front.jpg"),
    )
    .unwrap();
    std::fs::rename(home.join("album/cd1"), home.join("moved/album/cd1")).unwrap();
    let files: Value = {
        // The cover is file 0 (files in the torrent's order).
        let r = d.post_json(
            "/torrents",
            &json!({
                "torrent": b64(&album),
                "save_path": home.join("moved").to_str().unwrap(),
                "name": "An Album",
                "labels": ["flac"],
                "ratio_limit": 2.0,
                "seeding_time_limit_mins": -1,
                "share_limit_action": "remove_with_files",
                "paths": [{"index": 1, "path": "album/art/front.jpg"}],
            }),
        );
        assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
        let t = d.wait_for(&id, "seeding where it was left", |t| {
            t["state"] == "seeding"
        });
        assert_eq!(t["name"], "An Album");
        assert_eq!(t["labels"], json!(["flac"]));
        assert_eq!(
            t["share_limits"],
            json!({"ratio_limit": 2.0, "seeding_time_limit_mins": -1,
                "inactive_seeding_time_limit_mins": null, "share_limit_action": "remove_with_files"})
        );
        assert_eq!(t["downloaded"], 0, "nothing fetched");
        assert_ne!(t["root"], "default", "the folder became a root of its own");
        d.get_json(&format!("/torrents/{id}/files"))
    };
    let paths: Vec<&str> = files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"album/art/front.jpg"), "{files}");
    assert!(
        files
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["progress"] == 1.0),
        "{files}"
    );
    assert_eq!(
        files_under(&home.join("moved")),
        ["album/art/front.jpg", "album/cd1/01.flac"]
    );
}

#[test]
fn a_torrent_added_with_its_past_elsewhere_goes_on_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let (d, album) = album_seeder(dir.path(), 60_000);
    let id = d.get_json("/torrents")["torrents"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(d.delete(&format!("/torrents/{id}")).status(), 204);
    let r = d.post_json(
        "/torrents",
        &json!({
            "torrent": b64(&album),
            "downloaded": 1_000_000,
            "uploaded": 2_500_000,
            "added_at": 1_600_000_000,
            "completed_at": 1_600_000_100,
            "seeding_time_secs": 7_200,
            "active_time_secs": 9_000,
        }),
    );
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    let t = d.wait_for(&id, "seeding, checked", |t| t["state"] == "seeding");
    assert_eq!(
        (&t["downloaded"], &t["uploaded"]),
        (&json!(1_000_000), &json!(2_500_000))
    );
    assert_eq!(t["ratio"], 2.5);
    assert_eq!(t["added_at"], 1_600_000_000);
    assert_eq!(t["completed_at"], 1_600_000_100, "as it was there, not now");
    let clocks = |t: &serde_json::Value| {
        let (seeded, ran) = (&t["seeding_secs"], &t["running_secs"]);
        (seeded.as_u64().unwrap(), ran.as_u64().unwrap())
    };
    let (seeded, ran) = clocks(&t);
    assert!(
        (7_200..7_260).contains(&seeded) && (9_000..9_060).contains(&ran),
        "{t}"
    );
    // A restart keeps it.
    let mut d = d;
    d.signal("TERM");
    let start = std::time::Instant::now();
    while d.child.try_wait().unwrap().is_none() {
        assert!(start.elapsed().as_secs() < 15, "not stopped in time");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let d = Daemon::start(dir.path(), "");
    let t = d.wait_for(&id, "restored", |t| t["state"] == "seeding");
    assert_eq!(
        (&t["uploaded"], &t["completed_at"]),
        (&json!(2_500_000), &json!(1_600_000_100))
    );
    let (seeded, ran) = clocks(&t);
    assert!(
        (7_200..7_260).contains(&seeded) && (9_000..9_060).contains(&ran),
        "{t}"
    );

    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3 * 86_400;
    let r = d.post_json(
        "/torrents",
        &json!({"torrent": b64(&album), "added_at": later}),
    );
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("added_at: a time in the future"));
}

#[test]
fn bad_add_options_are_refused_with_why_and_nothing_is_added() {
    let dir = tempfile::tempdir().unwrap();
    let (d, album) = album_seeder(dir.path(), 50_000);
    let id = created_id(d.post_json(
        "/torrents",
        &json!({"magnet": format!("magnet:?xt=urn:btih:{}", "cd".repeat(20)), "paused": true}),
    ));
    let outside = dir.path().join("elsewhere");
    let t = b64(&album);
    let magnet = format!("magnet:?xt=urn:btih:{}", "ef".repeat(20));
    let cases = [
        (
            json!({"torrent": t, "magnet": magnet}),
            "a magnet or a torrent, not both",
        ),
        (json!({"torrent": "%%%"}), "not base64"),
        (json!({"torrent": b64(b"d4:infoi1ee")}), "torrent file"),
        (json!({}), "no magnet or torrent"),
        (
            json!({"magnet": magnet, "paths": [{"index": 0, "path": "x"}]}),
            "paths need the torrent's metadata",
        ),
        (
            json!({"torrent": t, "paths": [{"index": 9, "path": "x"}]}),
            "no file 9",
        ),
        (
            json!({"torrent": t, "paths": [{"index": 0, "path": "../x"}]}),
            "paths:",
        ),
        (
            json!({"torrent": t, "paths": [{"index": 0, "path": "/etc/x"}]}),
            "not a relative path",
        ),
        (
            json!({"torrent": t, "paths": [{"index": 0, "path": "album/cover.jpg"}]}),
            "already one of the torrent's files",
        ),
        (
            json!({"torrent": t, "root": "default", "save_path": dir.path().join("downloads")}),
            "a root or a save_path, not both",
        ),
        (
            json!({"torrent": t, "save_path": outside}),
            "not a storage root's token or a folder inside a root",
        ),
        (
            json!({"torrent": t, "download_path": outside}),
            "incomplete folder",
        ),
    ];
    for (body, why) in cases {
        let r = d.post_json("/torrents", &body);
        assert_eq!(r.status(), 400, "{body}");
        let e: Value = r.json().unwrap();
        assert!(
            e["detail"].as_str().unwrap().contains(why),
            "{body}: {e} (wanted {why:?})"
        );
    }
    // The options that only a JSON body carries, in a .torrent upload's query.
    let r = d.add_torrent(&album, "?paths=x");
    assert_eq!(r.status(), 400);
    assert_eq!(d.get_json("/torrents")["total"], 2, "the album and {id}");
}

#[test]
fn a_download_folder_given_at_add_is_where_it_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let (seeder, album) = album_seeder(dir.path(), 200_000);
    let other = tempfile::tempdir().unwrap();
    let d = Daemon::start(other.path(), "");
    let home = other.path().join("downloads");
    let r = d.post_json(
        "/torrents",
        &json!({
            "torrent": b64(&album),
            "save_path": home.join("final").to_str().unwrap(),
            "download_path": home.join("incoming").to_str().unwrap(),
            "paused": true,
        }),
    );
    let id = created_id(r);
    let t = d.get_json(&format!("/torrents/{id}"));
    assert!(t["finish_root"].is_string(), "{t}");
    assert_ne!(t["root"], t["finish_root"], "{t}");
    assert_eq!(d.post(&format!("/torrents/{id}/resume")).status(), 204);
    d.add_peer(&id, &seeder.peer_addr());
    d.wait_for(&id, "finished and moved", |t| {
        t["state"] == "seeding" && t["finish_root"].is_null()
    });
    assert_eq!(
        files_under(&home.join("final")),
        ["album/cd1/01.flac", "album/cover.jpg"]
    );
    assert!(files_under(&home.join("incoming")).is_empty());
}
