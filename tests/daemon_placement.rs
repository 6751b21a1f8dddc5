//! Where a torrent's files go, in a real daemon (`engine::placement`): a
//! torrent added without a root follows its category (its files go to the
//! category's save path, and move when its category or the category's save
//! path changes); one added to a root, or moved by the user, is placed by
//! hand and stays wherever its category goes. `follow_category` turns it
//! back on (the files go to the category's path at once) or off, and
//! survives a restart; the `follow_category` setting decides for adds that
//! name no root. A torrent still downloading in the incomplete folder is sent
//! by changing where it goes when it finishes, not by moving it; a download
//! root (over either API) holds an unfinished torrent's files until it
//! finishes.
#![allow(clippy::disallowed_methods)] // a test's deadline reads the clock

mod daemon_common;

use std::path::Path;

use daemon_common::{Daemon, config_text, created_id, files_under, make_torrent};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn put(d: &Daemon, path: &str, body: &Value) -> StatusCode {
    let r = d
        .authed(reqwest::blocking::Client::new().put(d.url(path)))
        .json(body)
        .send()
        .unwrap();
    r.status()
}

fn patch(d: &Daemon, path: &str, body: &Value) -> StatusCode {
    let r = d
        .authed(reqwest::blocking::Client::new().patch(d.url(path)))
        .json(body)
        .send()
        .unwrap();
    r.status()
}

/// Waits until the torrent is seeding with its file at `at` and no longer
/// anywhere else it was (`gone`).
fn lands(d: &Daemon, id: &str, at: &Path, gone: &Path) -> Value {
    d.until(&format!("{} there", at.display()), || {
        at.exists() && !gone.exists()
    });
    d.wait_for(id, "seeding", |t| t["state"] == "seeding")
}

#[test]
fn categories_move_the_torrents_that_follow_them_and_leave_those_placed_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let extra = format!(
        "[[roots]]\ntoken = \"disk2\"\npath = \"{}/disk2\"\n",
        p.display()
    );
    let mut d = Daemon::start(p, &extra);
    let downloads = p.join("downloads");
    let (tv, tv2) = (p.join("disk2/tv"), p.join("disk2/tv2"));
    let cat = |path: &Path| json!({ "save_path": path.display().to_string() });
    assert_eq!(put(&d, "/categories/tv", &cat(&tv)), StatusCode::CREATED);

    // Both complete in the default root: one added without a root, one to it.
    let mut ids = Vec::new();
    for (name, query) in [("a.bin", ""), ("b.bin", "?root=default")] {
        let (t, data) = make_torrent(p, name, 100_000);
        std::fs::write(downloads.join(name), data).unwrap();
        let id = created_id(d.add_torrent(&std::fs::read(t).unwrap(), query));
        d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
        ids.push(id);
    }
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let follows =
        |d: &Daemon, id: &str| d.get_json(&format!("/torrents/{id}"))["follows_category"].clone();
    assert_eq!(
        (follows(&d, &a), follows(&d, &b)),
        (json!(true), json!(false))
    );

    // Filed under tv: the one that follows moves, the other stays.
    for id in [&a, &b] {
        assert_eq!(
            put(
                &d,
                &format!("/torrents/{id}/category"),
                &json!({"category": "tv"})
            ),
            StatusCode::NO_CONTENT
        );
    }
    lands(&d, &a, &tv.join("a.bin"), &downloads.join("a.bin"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(downloads.join("b.bin").exists());
    assert_eq!(d.get_json(&format!("/torrents/{b}"))["root"], "default");

    // The category's folder changes: the same.
    assert_eq!(
        put(&d, "/categories/tv", &cat(&tv2)),
        StatusCode::NO_CONTENT
    );
    lands(&d, &a, &tv2.join("a.bin"), &tv.join("a.bin"));
    assert!(downloads.join("b.bin").exists());

    // Moved by the user: placed by hand from then on.
    let r = d.post_json(&format!("/torrents/{a}/move"), &json!({"root": "default"}));
    assert!(r.status().is_success(), "{}", r.status());
    lands(&d, &a, &downloads.join("a.bin"), &tv2.join("a.bin"));
    assert_eq!(follows(&d, &a), json!(false));
    // Following again: to its category's folder at once; out of any
    // category: to the default root.
    assert_eq!(
        put(
            &d,
            &format!("/torrents/{b}/follow_category"),
            &json!({"on": true})
        ),
        StatusCode::NO_CONTENT
    );
    lands(&d, &b, &tv2.join("b.bin"), &downloads.join("b.bin"));
    assert_eq!(follows(&d, &b), json!(true));
    assert_eq!(
        put(
            &d,
            &format!("/torrents/{b}/category"),
            &json!({"category": ""})
        ),
        StatusCode::NO_CONTENT
    );
    lands(&d, &b, &downloads.join("b.bin"), &tv2.join("b.bin"));
    // Filed again, then its category removed: to the default root.
    assert_eq!(
        put(
            &d,
            &format!("/torrents/{b}/category"),
            &json!({"category": "tv"})
        ),
        StatusCode::NO_CONTENT
    );
    lands(&d, &b, &tv2.join("b.bin"), &downloads.join("b.bin"));
    assert_eq!(d.delete("/categories/tv").status(), StatusCode::NO_CONTENT);
    lands(&d, &b, &downloads.join("b.bin"), &tv2.join("b.bin"));
    assert_eq!(d.get_json(&format!("/torrents/{b}"))["category"], "");
    assert_eq!(put(&d, "/categories/tv", &cat(&tv2)), StatusCode::CREATED);
    // Not a torrent, not a flag: refused.
    assert_eq!(
        put(
            &d,
            &format!("/torrents/{}/follow_category", "0".repeat(40)),
            &json!({"on": true})
        ),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        put(
            &d,
            &format!("/torrents/{a}/follow_category"),
            &json!({"on": "yes"})
        ),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Each keeps how it is placed across a restart.
    d.signal("TERM");
    d.child.wait().unwrap();
    let d = Daemon::start(p, &extra);
    d.wait_for(&a, "seeding", |t| t["state"] == "seeding");
    assert_eq!(
        (follows(&d, &a), follows(&d, &b)),
        (json!(false), json!(true))
    );

    // The setting off: an add naming no root is placed by hand in the
    // default root, its category a name only.
    assert_eq!(d.get_json("/settings")["follow_category"], true);
    assert_eq!(
        patch(&d, "/settings", &json!({"follow_category": false})),
        StatusCode::OK
    );
    let (t, data) = make_torrent(p, "c.bin", 100_000);
    std::fs::write(downloads.join("c.bin"), data).unwrap();
    let c = created_id(d.add_torrent(&std::fs::read(t).unwrap(), "?category=tv"));
    let t = d.wait_for(&c, "seeding", |t| t["state"] == "seeding");
    assert_eq!(
        (&t["root"], &t["category"], &t["follows_category"]),
        (&json!("default"), &json!("tv"), &json!(false)),
        "{t}"
    );
}

#[test]
fn a_torrent_in_the_incomplete_folder_is_sent_where_it_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let extra = format!(
        "[[roots]]\ntoken = \"disk2\"\npath = \"{d}/disk2\"\n[new_torrents]\nincomplete_path = \"{d}/disk2/incomplete\"\n",
        d = p.display()
    );
    std::fs::write(p.join("seedring.toml"), config_text(p, &extra)).unwrap();
    let d = Daemon::start(p, "");
    let seeder_dir = tempfile::tempdir().unwrap();
    let (seeder, album) = daemon_common::album_seeder(seeder_dir.path(), 900_000);
    let films = p.join("disk2/films");
    let body = json!({ "save_path": films.display().to_string() });
    assert_eq!(put(&d, "/categories/films", &body), StatusCode::CREATED);
    // Slowly (a cap), so it is seen while it downloads.
    let id = created_id(d.add_torrent(&album, "?download_limit=300000"));
    d.add_peer(&id, &seeder.peer_addr());
    d.until("part of it in the incomplete folder", || {
        !files_under(&p.join("disk2/incomplete/album")).is_empty()
    });
    assert_eq!(
        put(
            &d,
            &format!("/torrents/{id}/category"),
            &json!({"category": "films"})
        ),
        StatusCode::NO_CONTENT
    );
    let t = d.get_json(&format!("/torrents/{id}"));
    assert_ne!(t["finish_root"], "default", "{t}");
    assert_ne!(t["finish_root"], Value::Null, "{t}");
    assert!(t["state"] != "moving" && t["state"] != "seeding", "{t}");
    let t = d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
    assert_eq!(t["finish_root"], Value::Null, "{t}");
    assert_eq!(
        files_under(&films.join("album")),
        ["cd1/01.flac", "cover.jpg"]
    );
    assert!(files_under(&p.join("disk2/incomplete")).is_empty());
    assert!(files_under(&p.join("downloads")).is_empty());
}

#[test]
fn a_download_folder_given_over_the_qbittorrent_api_moves_the_unfinished_files() {
    use seedring::daemon::qbit::login::PasswordHash;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let extra = format!(
        "[qbittorrent]\npassword_hash = \"{}\"\n",
        PasswordHash::make("pass word")
    );
    let d = Daemon::start(p, &extra);
    let seeder_dir = tempfile::tempdir().unwrap();
    let (seeder, album) = daemon_common::album_seeder(seeder_dir.path(), 900_000);
    // Placed by hand in the default root, slowly (a cap).
    let id = created_id(d.add_torrent(&album, "?root=default&download_limit=300000"));
    d.add_peer(&id, &seeder.peer_addr());
    let (downloads, dl) = (p.join("downloads"), p.join("downloads/dl"));
    d.until("part of it in its save path", || {
        !files_under(&downloads.join("album")).is_empty()
    });
    let http = reqwest::blocking::Client::new();
    let v2 = |path: &str| format!("{}/api/v2/{path}", d.base);
    let r = http
        .post(v2("auth/login"))
        .form(&[("username", "admin"), ("password", "pass word")])
        .send()
        .unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let r = http
        .post(v2("torrents/setDownloadPath"))
        .header("cookie", &cookie)
        .form(&[("id", id.as_str()), ("path", &dl.display().to_string())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // Shown as its download path at once, as qBittorrent shows it, while
    // the files are still moving; its save path stays.
    let info: Value = http
        .get(v2(&format!("torrents/info?hashes={id}")))
        .header("cookie", &cookie)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (&info[0]["download_path"], &info[0]["save_path"]),
        (
            &json!(dl.display().to_string()),
            &json!(downloads.display().to_string())
        ),
        "{info}"
    );
    // Its unfinished files move to the download folder, then to the save
    // path once it finishes.
    d.until("the files in the download folder", || {
        !files_under(&dl.join("album")).is_empty()
    });
    let t = d.get_json(&format!("/torrents/{id}"));
    assert_eq!(t["finish_root"], "default", "{t}");
    let t = d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
    assert_eq!(
        (&t["root"], &t["finish_root"]),
        (&json!("default"), &Value::Null)
    );
    assert_eq!(
        files_under(&downloads.join("album")),
        ["cd1/01.flac", "cover.jpg"]
    );
    assert!(files_under(&dl).is_empty());
}

#[test]
fn a_download_root_given_over_api_v1_holds_the_files_until_the_torrent_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let fast = p.join("fast");
    std::fs::create_dir_all(&fast).unwrap();
    let extra = format!(
        "[[roots]]\ntoken = \"fast\"\npath = \"{}\"\n",
        fast.display()
    );
    let d = Daemon::start(p, &extra);
    let seeder_dir = tempfile::tempdir().unwrap();
    let (seeder, album) = daemon_common::album_seeder(seeder_dir.path(), 900_000);
    // Placed by hand in the default root, slowly (a cap).
    let id = created_id(d.add_torrent(&album, "?root=default&download_limit=300000"));
    d.add_peer(&id, &seeder.peer_addr());
    let downloads = p.join("downloads");
    d.until("part of it in its save root", || {
        !files_under(&downloads.join("album")).is_empty()
    });
    let at = format!("/torrents/{id}/download_root");
    assert_eq!(
        put(&d, &at, &json!({"root": "nowhere"})),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(put(&d, &at, &json!({"root": "fast"})), StatusCode::ACCEPTED);
    d.until("the unfinished files in the download root", || {
        !files_under(&fast.join("album")).is_empty()
    });
    let t = d.wait_for(&id, "moved", |t| t["state"] != "moving");
    assert_eq!(
        (&t["root"], &t["finish_root"]),
        (&json!("fast"), &json!("default")),
        "{t}"
    );
    // Finished: back in its save root, nothing left in the download root.
    let t = d.wait_for(&id, "seeding", |t| {
        t["state"] == "seeding" && t["root"] == "default"
    });
    assert_eq!(t["finish_root"], Value::Null, "{t}");
    assert_eq!(
        files_under(&downloads.join("album")),
        ["cd1/01.flac", "cover.jpg"]
    );
    assert!(files_under(&fast).is_empty());
    // Where it would do nothing, it says so: finished, or following its category.
    assert_eq!(put(&d, &at, &json!({"root": "fast"})), StatusCode::CONFLICT);
    let follow = format!("/torrents/{id}/follow_category");
    assert_eq!(
        put(&d, &follow, &json!({"on": true})),
        StatusCode::NO_CONTENT
    );
    assert_eq!(put(&d, &at, &json!({"root": null})), StatusCode::CONFLICT);
    assert_eq!(
        put(
            &d,
            "/torrents/00000000000000000000000000000000000000aa/download_root",
            &json!({"root": null})
        ),
        StatusCode::NOT_FOUND
    );
    assert!(files_under(&fast).is_empty());
}
