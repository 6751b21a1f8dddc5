//! What new torrents start with, in a real daemon (`[new_torrents]`).
//!
//! The incomplete folder (`new_torrents.incomplete_path`): a
//! torrent downloaded from a second daemon lands in the folder while it
//! downloads (its `finish_root` the root it was added to), then its files
//! move to that root; the program run when it finishes sees them there. An
//! add with `incomplete=false`, and one whose data is in its root already (a
//! cross-seed's add), stay where they were added. The setting changes over the
//! API (a folder outside every root refused with why), and a restart finds
//! every torrent where it was left.
//!
//! `add_paused` and `content_layout`: an add that does not say starts paused
//! and laid out as they say; one that says, as it says.
#![allow(clippy::disallowed_methods)] // a test's deadline reads the clock

mod daemon_common;

use daemon_common::{Daemon, config_text};
use reqwest::StatusCode;
use serde_json::{Value, json};

use daemon_common::created_id as id_of;

#[test]
fn torrents_download_in_the_incomplete_folder_and_finish_in_their_root() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let fast = p.join("fast");
    let log = p.join("finished.log");
    let extra = format!(
        "[[roots]]\ntoken = \"fast\"\nlabel = \"SSD\"\npath = \"{fast}\"\n\
         [hooks]\non_finished = \"sh -c 'echo \\\"$0\\\" >> {log}' %F\"\n",
        fast = fast.display(),
        log = log.display()
    );
    let extra = format!(
        "{extra}[new_torrents]\nincomplete_path = \"{}/incomplete\"\n",
        fast.display()
    );
    let text = config_text(p, &extra);
    std::fs::write(p.join("seedring.toml"), text).unwrap();
    let mut d = Daemon::start(p, "");
    let seeder_dir = tempfile::tempdir().unwrap();
    let (seeder, album) = daemon_common::album_seeder(seeder_dir.path(), 900_000);
    let peer = seeder.peer_addr();
    let downloads = p.join("downloads");
    assert_eq!(
        d.get_json("/settings")["incomplete_path"],
        json!(format!("{}/incomplete", fast.display()))
    );

    // Slowly (a cap), so it is seen while it downloads.
    let id = id_of(d.add_torrent(&album, "?download_limit=300000"));
    let t = d.get_json(&format!("/torrents/{id}"));
    assert_eq!(t["finish_root"], "default", "{t}");
    assert_ne!(t["root"], "default");
    d.add_peer(&id, &peer);
    d.until("part of it in the incomplete folder", || {
        !daemon_common::files_under(&fast.join("incomplete/album")).is_empty()
    });
    assert!(daemon_common::files_under(&downloads.join("album")).is_empty());
    let t = d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
    assert_eq!(
        (t["root"].as_str(), &t["finish_root"]),
        (Some("default"), &Value::Null)
    );
    assert_eq!(
        daemon_common::files_under(&downloads.join("album")),
        ["cd1/01.flac", "cover.jpg"]
    );
    assert_eq!(
        std::fs::read(downloads.join("album/cd1/01.flac")).unwrap(),
        vec![2u8; 900_000]
    );
    assert!(daemon_common::files_under(&fast.join("incomplete")).is_empty());
    // The shell creates the file before it writes the line: wait for the line.
    d.until("the finished program ran", || {
        std::fs::read_to_string(&log).is_ok_and(|s| s.ends_with('\n'))
    });
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().trim(),
        downloads.join("album").display().to_string()
    );

    // Told not to, and with its data there: where they were added.
    let (t2, data2) = daemon_common::make_torrent(p, "two.bin", 60_000);
    let id2 = id_of(d.add_torrent(&std::fs::read(&t2).unwrap(), "?incomplete=false"));
    let (t3, data3) = daemon_common::make_torrent(p, "three.bin", 60_000);
    std::fs::write(downloads.join("three.bin"), &data3).unwrap();
    let id3 = id_of(d.add_torrent(&std::fs::read(&t3).unwrap(), ""));
    for id in [&id2, &id3] {
        let t = d.get_json(&format!("/torrents/{id}"));
        assert_eq!(
            (t["root"].as_str(), &t["finish_root"]),
            (Some("default"), &Value::Null)
        );
    }
    d.wait_for(&id3, "seeding", |t| t["state"] == "seeding");
    drop(data2);

    // The setting over the API: off, then a folder outside every root.
    let r = d
        .authed(d.http.patch(d.url("/settings")))
        .json(&json!({"incomplete_path": "/elsewhere/inc"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().unwrap().contains("not a storage root"));
    let r = d
        .authed(d.http.patch(d.url("/settings")))
        .json(&json!({"incomplete_path": "fast"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (t4, _) = daemon_common::make_torrent(p, "four.bin", 60_000);
    let id4 = id_of(d.add_torrent(&std::fs::read(&t4).unwrap(), ""));
    let t = d.get_json(&format!("/torrents/{id4}"));
    assert_eq!(
        (t["root"].as_str(), t["finish_root"].as_str()),
        (Some("fast"), Some("default"))
    );

    // A restart: each where it was left, the waiting one still waiting.
    d.signal("TERM");
    d.child.wait().unwrap();
    let d = Daemon::start(p, "");
    let t = d.wait_for(&id4, "back", |t| t["state"] != "checking");
    assert_eq!(
        (t["root"].as_str(), t["finish_root"].as_str()),
        (Some("fast"), Some("default"))
    );
    assert_eq!(d.get_json(&format!("/torrents/{id}"))["root"], "default");
    assert_eq!(d.get_json("/settings")["incomplete_path"], "fast");
    drop(seeder);
}

#[test]
fn a_configured_folder_outside_every_root_is_refused_at_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let c = p.join("bad.toml");
    let text = config_text(
        p,
        "[new_torrents]\nincomplete_path = \"/nowhere/incomplete\"\n",
    );
    std::fs::write(&c, text).unwrap();
    let err = daemon_common::refused_start(&c);
    assert!(
        err.contains("new_torrents.incomplete_path") && err.contains("not a storage root"),
        "{err}"
    );
}

#[test]
fn an_add_that_does_not_say_starts_as_the_settings_say() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let d = Daemon::start(
        p,
        "[new_torrents]\npaused = true\ncontent_layout = \"subfolder\"\n",
    );
    let s = d.get_json("/settings");
    assert_eq!(
        (&s["add_paused"], &s["content_layout"]),
        (&json!(true), &json!("subfolder"))
    );
    let (t, data) = daemon_common::make_torrent(p, "one.bin", 40_000);
    let downloads = p.join("downloads");
    std::fs::create_dir_all(downloads.join("one")).unwrap();
    std::fs::write(downloads.join("one/one.bin"), &data).unwrap();
    let id = id_of(d.add_torrent(&std::fs::read(&t).unwrap(), ""));
    assert_eq!(d.get_json(&format!("/torrents/{id}"))["state"], "paused");
    d.post(&format!("/torrents/{id}/resume"));
    // Its file is looked for in a folder of its own, and found there.
    d.wait_for(&id, "seeding", |t| t["state"] == "seeding");

    // An add that says: as it says.
    let (t2, data2) = daemon_common::make_torrent(p, "two.bin", 40_000);
    std::fs::write(downloads.join("two.bin"), &data2).unwrap();
    let id2 = id_of(d.add_torrent(
        &std::fs::read(&t2).unwrap(),
        "?paused=false&content_layout=original",
    ));
    d.wait_for(&id2, "seeding", |t| t["state"] == "seeding");

    // Changed over the API; a layout that is none is refused.
    let r = d
        .authed(d.http.patch(d.url("/settings")))
        .json(&json!({"add_paused": false, "content_layout": "no_subfolder"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = d
        .authed(d.http.patch(d.url("/settings")))
        .json(&json!({"content_layout": "sideways"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let s = d.get_json("/settings");
    assert_eq!(
        (&s["add_paused"], &s["content_layout"]),
        (&json!(false), &json!("no_subfolder"))
    );
}
