//! The qBittorrent layer of a real daemon over real HTTP: off without a
//! password, its own login (the admin token does not open it, its cookie does
//! not open the admin API), bans per address after failed logins, the host and
//! origin checks, a bad hash refused at start, categories, tags and share
//! limits kept across a restart, and a hybrid found by either of its ids
//! (over the native API too).
#![allow(clippy::disallowed_methods)] // waits on a real daemon with the wall clock

mod daemon_common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use daemon_common::*;
use reqwest::blocking::Client;
use reqwest::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use seedring::daemon::qbit::login::PasswordHash;
use serde_json::Value;

const PASSWORD: &str = "correct horse";

fn qbit_config(max_fails: u32) -> String {
    format!(
        "[qbittorrent]\npassword_hash = \"{}\"\nmax_auth_fail_count = {max_fails}\n",
        PasswordHash::make(PASSWORD)
    )
}

fn v2(d: &Daemon, path: &str) -> String {
    format!("{}/api/v2/{path}", d.base)
}

/// A client whose connections come from `ip` (any 127/8 address is ours).
fn from(ip: Ipv4Addr) -> Client {
    Client::builder()
        .local_address(IpAddr::V4(ip))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn login(c: &Client, d: &Daemon, password: &str) -> (u16, String, Option<String>) {
    let r = c
        .post(v2(d, "auth/login"))
        .form(&[("username", "admin"), ("password", password)])
        .send()
        .unwrap();
    let cookie = r
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    (r.status().as_u16(), r.text().unwrap(), cookie)
}

/// A logged-in client of the layer.
struct Session<'a> {
    d: &'a Daemon,
    client: Client,
    cookie: String,
}

impl Session<'_> {
    fn new(d: &Daemon) -> Session<'_> {
        let client = from(Ipv4Addr::LOCALHOST);
        let cookie = login(&client, d, PASSWORD).2.unwrap();
        Session { d, client, cookie }
    }

    /// A GET that must succeed: its JSON.
    fn get(&self, path: &str) -> Value {
        let r = (self.client.get(v2(self.d, path)))
            .header(COOKIE, &self.cookie)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().unwrap()
    }

    /// A form POST that must succeed.
    fn post(&self, path: &str, form: &[(&str, &str)]) {
        let r = (self.client.post(v2(self.d, path)))
            .header(COOKIE, &self.cookie)
            .form(form)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
}

#[test]
fn the_layer_is_off_until_a_password_hash_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let r = d.http.get(v2(&d, "app/version")).send().unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().unwrap().contains("seedring hash-password"));
    assert!(d.stderr().contains("qBittorrent API (/api/v2) is off"));
}

#[test]
fn a_bad_password_hash_stops_the_daemon_at_start_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    let text = config_text(
        dir.path(),
        "[qbittorrent]\npassword_hash = \"@ByteArray(abc)\"\n",
    );
    std::fs::write(&cfg, text).unwrap();
    let err = daemon_common::refused_start(&cfg);
    assert!(err.contains("qbittorrent.password_hash"), "{err}");
}

#[test]
fn logins_sessions_bans_and_the_two_apis_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &qbit_config(3));
    let a = from(Ipv4Addr::new(127, 0, 0, 1));
    let b = from(Ipv4Addr::new(127, 0, 0, 2));

    // No session: 403, whatever the admin token says.
    let r = d.authed(a.get(v2(&d, "app/version"))).send().unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.text().unwrap(), "Forbidden");

    // Three failures ban 127.0.0.1, even for the right password after.
    for _ in 0..3 {
        assert_eq!(login(&a, &d, "wrong").1, "Fails.");
    }
    let (status, text, cookie) = login(&a, &d, PASSWORD);
    assert_eq!((status, cookie), (403, None));
    assert!(text.contains("banned"), "{text}");
    assert!(d.stderr().contains("banned after failed logins"));

    // Another address is not banned.
    let (status, text, cookie) = login(&b, &d, PASSWORD);
    assert_eq!((status, text.as_str()), (200, "Ok."));
    let cookie = cookie.expect("a SID cookie");
    assert!(cookie.starts_with("SID="));
    let r = b
        .get(v2(&d, "app/version"))
        .header(COOKIE, &cookie)
        .send()
        .unwrap();
    assert_eq!(r.text().unwrap(), "v4.5.2");

    // The cookie does not open the admin API; a page elsewhere is refused;
    // a host name not ours is refused.
    let r = b
        .get(d.url("/torrents"))
        .header(COOKIE, &cookie)
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = b
        .get(v2(&d, "app/version"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, "http://evil.example")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = b
        .get(v2(&d, "app/version"))
        .header(COOKIE, &cookie)
        .header(HOST, "evil.example")
        .send()
        .unwrap();
    assert_eq!(r.status(), 421);

    // Logged out: the cookie is dead.
    b.post(v2(&d, "auth/logout"))
        .header(COOKIE, &cookie)
        .send()
        .unwrap();
    let r = b
        .get(v2(&d, "app/version"))
        .header(COOKIE, &cookie)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[test]
fn categories_tags_and_share_limits_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{}[[roots]]\ntoken = \"disk2\"\npath = \"{}/disk2\"\n",
        qbit_config(5),
        dir.path().display()
    );
    let mut d = Daemon::start(dir.path(), &extra);
    let c = from(Ipv4Addr::LOCALHOST);
    let (_, _, cookie) = login(&c, &d, PASSWORD);
    let cookie = cookie.unwrap();
    let post = |d: &Daemon, path: &str, form: &[(&str, &str)]| {
        c.post(v2(d, path))
            .header(COOKIE, &cookie)
            .form(form)
            .send()
            .unwrap()
    };
    let tv = format!("{}/disk2/tv", dir.path().display());
    assert_eq!(
        post(
            &d,
            "torrents/createCategory",
            &[("category", "tv"), ("savePath", &tv)]
        )
        .status(),
        200
    );
    // Outside every root: refused.
    let r = post(
        &d,
        "torrents/createCategory",
        &[("category", "etc"), ("savePath", "/etc")],
    );
    assert_eq!(r.status(), 409, "{}", r.text().unwrap());
    assert_eq!(
        post(&d, "torrents/createTags", &[("tags", "keep,drop")]).status(),
        200
    );
    assert_eq!(
        post(&d, "torrents/deleteTags", &[("tags", "drop")]).status(),
        200
    );

    let (t, data) = make_torrent(dir.path(), "show.bin", 200_000);
    std::fs::create_dir_all(dir.path().join("disk2/tv")).unwrap();
    std::fs::write(dir.path().join("disk2/tv/show.bin"), &data).unwrap();
    let form = reqwest::blocking::multipart::Form::new()
        .text("category", "tv")
        .text("tags", "keep")
        .text("rename", "The Show (renamed at add)")
        .text("shareLimitAction", "EnableSuperSeeding")
        .file("torrents", &t)
        .unwrap();
    let r = c
        .post(v2(&d, "torrents/add"))
        .header(COOKIE, &cookie)
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(r.text().unwrap(), "Ok.");
    let info = |d: &Daemon| -> Value {
        c.get(v2(d, "torrents/info"))
            .header(COOKIE, &cookie)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while info(&d)[0]["state"] != "stalledUP" {
        assert!(std::time::Instant::now() < deadline, "{}", info(&d));
        std::thread::sleep(Duration::from_millis(100));
    }
    let hash = info(&d)[0]["hash"].as_str().unwrap().to_owned();
    // qBittorrent 5's action: absent, the one given at add stays; a name it
    // does not have is refused.
    for (action, status) in [(None, 200), (Some("Explode"), 400)] {
        let mut form = vec![
            ("hashes", hash.as_str()),
            ("ratioLimit", "1.5"),
            ("seedingTimeLimit", "90"),
        ];
        form.extend(action.map(|a| ("shareLimitAction", a)));
        let r = post(&d, "torrents/setShareLimits", &form);
        assert_eq!(r.status(), status, "{action:?}: {}", r.text().unwrap());
    }

    d.signal("TERM");
    d.child.wait().unwrap();
    let d = Daemon::start(dir.path(), &extra);
    let (_, _, cookie2) = login(&c, &d, PASSWORD);
    let cookie2 = cookie2.unwrap();
    let get = |path: &str| -> Value {
        c.get(v2(&d, path))
            .header(COOKIE, &cookie2)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let t = &get("torrents/info")[0];
    assert_eq!(t["category"], "tv");
    assert_eq!(t["tags"], "keep");
    assert_eq!(t["name"], "The Show (renamed at add)");
    assert_eq!(t["content_path"], format!("{tv}/show.bin").as_str());
    assert_eq!(t["save_path"], tv.as_str());
    assert_eq!(t["ratio_limit"], 1.5);
    assert_eq!(t["seeding_time_limit"], 90);
    let own = &d.get_json(&format!("/torrents/{hash}"))["share_limits"];
    assert_eq!(own["share_limit_action"], "super_seed", "{own}");
    assert_eq!(
        (
            own["ratio_limit"].as_f64(),
            own["seeding_time_limit_mins"].as_i64()
        ),
        (Some(1.5), Some(90))
    );
    let r = c
        .post(v2(&d, "torrents/setShareLimits"))
        .header(COOKIE, &cookie2)
        .form(&[
            ("hashes", hash.as_str()),
            ("ratioLimit", "-2"),
            ("seedingTimeLimit", "-2"),
            ("shareLimitAction", "Default"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let shown = d.get_json(&format!("/torrents/{hash}"));
    assert!(shown.get("share_limits").is_none(), "{shown}");
    assert_eq!(get("torrents/tags"), serde_json::json!(["keep"]));
    assert_eq!(get("torrents/categories")["tv"]["savePath"], tv.as_str());
}

#[test]
fn maindata_deltas_carry_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &qbit_config(5));
    let qb = Session::new(&d);
    let (c, cookie) = (&qb.client, &qb.cookie);
    let get = |path: &str| qb.get(path);
    let post = |path: &str, form: &[(&str, &str)]| qb.post(path, form);
    let (t, data) = make_torrent(dir.path(), "delta.bin", 100_000);
    std::fs::write(dir.path().join("downloads/delta.bin"), &data).unwrap();
    let form = reqwest::blocking::multipart::Form::new()
        .file("torrents", &t)
        .unwrap();
    c.post(v2(&d, "torrents/add"))
        .header(COOKIE, cookie)
        .multipart(form)
        .send()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let full = loop {
        let m = get("sync/maindata?rid=0");
        let seeding = m["torrents"]
            .as_object()
            .and_then(|ts| ts.values().next())
            .is_some_and(|t| t["state"] == "stalledUP");
        if seeding {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "{m}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(full["full_update"], true);
    let hash = full["torrents"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    assert_eq!(
        full["torrents"][&hash].as_object().unwrap().len(),
        48,
        "every field but hash"
    );
    // Quiet: the delta has no torrents (a minute clock may move: allow only
    // those).
    let rid = full["rid"].as_u64().unwrap();
    let quiet = get(&format!("sync/maindata?rid={rid}"));
    assert!(quiet.get("full_update").is_none(), "{quiet}");
    if let Some(ts) = quiet["torrents"].as_object() {
        for t in ts.values() {
            let keys: Vec<&String> = t.as_object().unwrap().keys().collect();
            let clock = |k: &str| k == "time_active" || k == "seeding_time";
            assert!(keys.iter().all(|k| clock(k)), "{quiet}");
        }
    }
    // A category: that field, not the unchanged ones (auto_tmm is on since
    // the add, which gave no save path).
    post("torrents/createCategory", &[("category", "tv")]);
    post(
        "torrents/setCategory",
        &[("hashes", &hash), ("category", "tv")],
    );
    let rid = quiet["rid"].as_u64().unwrap();
    let delta = get(&format!("sync/maindata?rid={rid}"));
    assert_eq!(delta["torrents"][&hash]["category"], "tv", "{delta}");
    assert!(
        delta["torrents"][&hash].get("auto_tmm").is_none(),
        "{delta}"
    );
    assert!(delta["torrents"][&hash].get("name").is_none(), "{delta}");
    assert_eq!(delta["categories"]["tv"]["name"], "tv", "{delta}");
    // Placed by hand: auto_tmm alone.
    post(
        "torrents/setAutoManagement",
        &[("hashes", &hash), ("enable", "false")],
    );
    let rid = delta["rid"].as_u64().unwrap();
    let delta = get(&format!("sync/maindata?rid={rid}"));
    assert_eq!(delta["torrents"][&hash]["auto_tmm"], false, "{delta}");
    assert!(
        delta["torrents"][&hash].get("category").is_none(),
        "{delta}"
    );
    // A new name and first and last pieces first: each in the next delta.
    post("torrents/rename", &[("hash", &hash), ("name", "Renamed")]);
    post("torrents/toggleFirstLastPiecePrio", &[("hashes", &hash)]);
    let rid = delta["rid"].as_u64().unwrap();
    let delta = get(&format!("sync/maindata?rid={rid}"));
    assert_eq!(delta["torrents"][&hash]["name"], "Renamed", "{delta}");
    assert_eq!(delta["torrents"][&hash]["f_l_piece_prio"], true, "{delta}");
    // The list sorted, reversed, paged and filtered.
    let magnet = format!("magnet:?xt=urn:btih:{}&dn=aaa", "ab".repeat(20));
    post("torrents/add", &[("urls", &magnet), ("paused", "true")]);
    let names = |path: &str| -> Vec<String> {
        get(path)
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("torrents/info?sort=name"), ["aaa", "Renamed"]);
    assert_eq!(
        names("torrents/info?sort=name&reverse=true"),
        ["Renamed", "aaa"]
    );
    assert_eq!(
        names("torrents/info?sort=name&limit=1&offset=1"),
        ["Renamed"]
    );
    assert_eq!(names("torrents/info?sort=added_on&offset=-1").len(), 1);
    assert_eq!(names("torrents/info?filter=paused"), ["aaa"]);
    assert_eq!(names("torrents/info?category=tv"), ["Renamed"]);
    // Removed: listed as such.
    post(
        "torrents/delete",
        &[("hashes", &hash), ("deleteFiles", "false")],
    );
    let rid = delta["rid"].as_u64().unwrap();
    let gone = get(&format!("sync/maindata?rid={rid}"));
    assert_eq!(
        gone["torrents_removed"],
        serde_json::json!([hash]),
        "{gone}"
    );
    // An unknown rid: a full update again, without the torrent.
    let again = get("sync/maindata?rid=999");
    assert_eq!(again["full_update"], true);
    let left: Vec<&String> = again["torrents"].as_object().unwrap().keys().collect();
    assert_eq!(left, [&"ab".repeat(20)]);
}

#[test]
fn a_list_longer_than_a_shards_piece_comes_whole_once_and_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &qbit_config(5));
    let qb = Session::new(&d);
    let get = |path: &str| qb.get(path);
    let post = |path: &str, form: &[(&str, &str)]| qb.post(path, form);
    // 2,600 torrents on two shards: each shard's rows come in more than one
    // piece of 1,024. 2,000 of them in a category.
    let hash = |i: u32| format!("{:0>40x}", u64::from(i) * 7919 + 1);
    let magnets = |r: std::ops::Range<u32>| -> String {
        r.map(|i| format!("magnet:?xt=urn:btih:{}&dn=t{i}\n", hash(i)))
            .collect()
    };
    post("torrents/createCategory", &[("category", "tv")]);
    let tv = magnets(0..2_000);
    post(
        "torrents/add",
        &[("urls", &tv), ("paused", "true"), ("category", "tv")],
    );
    post(
        "torrents/add",
        &[("urls", &magnets(2_000..2_600)), ("paused", "true")],
    );
    let hashes_of = |list: &Value| -> Vec<String> {
        let mut h: Vec<String> = (list.as_array().unwrap().iter())
            .map(|t| t["hash"].as_str().unwrap().to_owned())
            .collect();
        h.sort();
        h
    };
    let mut want: Vec<String> = (0..2_600).map(hash).collect();
    want.sort();
    // The plain list: every torrent once, every field.
    let all = get("torrents/info");
    assert_eq!(hashes_of(&all), want);
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|t| t.as_object().unwrap().len() == 49)
    );
    // Filtered while streamed.
    let tv_list = get("torrents/info?category=tv");
    assert_eq!(hashes_of(&tv_list).len(), 2_000);
    assert!(
        tv_list
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["category"] == "tv"
                && t["name"].as_str().unwrap()[1..].parse::<u32>().unwrap() < 2_000)
    );
    let two = format!("{}|{}", hash(5), hash(2_500));
    assert_eq!(
        hashes_of(&get(&format!("torrents/info?hashes={two}"))),
        [hash(5), hash(2_500)]
    );
    assert_eq!(get("torrents/info?filter=seeding"), serde_json::json!([]));
    assert_eq!(hashes_of(&get("torrents/info?filter=paused")), want);
    // The sorted list (made whole, not streamed) has the same rows.
    let sorted = get("torrents/info?sort=name");
    assert_eq!(hashes_of(&sorted), want);
    let row = |list: &Value, h: &str| -> Value {
        let mut t = (list.as_array().unwrap().iter())
            .find(|t| t["hash"] == h)
            .unwrap()
            .clone();
        // A clock in whole minutes may move between the two answers.
        t.as_object_mut().unwrap().remove("time_active");
        t
    };
    for i in [0, 1_999, 2_000, 2_599] {
        assert_eq!(row(&all, &hash(i)), row(&sorted, &hash(i)));
    }
    // A full sync/maindata is walked a piece at a time too: every torrent
    // once, every field but its hash.
    let full = get("sync/maindata?rid=0");
    let members = full["torrents"].as_object().unwrap();
    let mut got: Vec<String> = members.keys().cloned().collect();
    got.sort();
    assert_eq!(got, want);
    assert!(members.values().all(|t| t.as_object().unwrap().len() == 48));
    assert_eq!(members[&hash(2_001)]["name"], "t2001");
    assert!(full["server_state"].is_object(), "the end follows the walk");
    // A global ratio limit moves every view's context: the next delta walks
    // every torrent again and carries that field alone, and a torrent removed
    // meanwhile as removed.
    let prefs = r#"{"max_ratio_enabled":true,"max_ratio":2}"#;
    post("app/setPreferences", &[("json", prefs)]);
    post(
        "torrents/delete",
        &[("hashes", &hash(7)), ("deleteFiles", "false")],
    );
    let rid = full["rid"].as_u64().unwrap();
    let delta = get(&format!("sync/maindata?rid={rid}"));
    assert!(delta.get("full_update").is_none());
    assert_eq!(delta["torrents_removed"], serde_json::json!([hash(7)]));
    let members = delta["torrents"].as_object().unwrap();
    assert_eq!(members.len(), 2_599, "every torrent left, once");
    let clock = |k: &str| k == "time_active" || k == "seeding_time";
    for t in members.values() {
        let t = t.as_object().unwrap();
        assert_eq!(t["max_ratio"], 2, "{t:?}");
        assert!(t.keys().all(|k| k == "max_ratio" || clock(k)), "{t:?}");
    }
    // Then quiet: nothing walked, nothing to send.
    let rid = delta["rid"].as_u64().unwrap();
    let quiet = get(&format!("sync/maindata?rid={rid}"));
    let moved = quiet["torrents"].as_object().map_or(0, |m| {
        (m.values())
            .filter(|t| !t.as_object().unwrap().keys().all(|k| clock(k)))
            .count()
    });
    assert_eq!(moved, 0, "{quiet}");
    assert!(quiet.get("torrents_removed").is_none(), "{quiet}");
}

/// qBittorrent finds a hybrid torrent by either of its ids (its own, and the
/// other info-hash: tools that saw qBittorrent 4.4 and later name a hybrid by
/// its truncated v2 hash); seedring keeps it under its v1 hash and answers
/// with that, as qBittorrent answers with its own id.
#[test]
fn a_hybrid_is_found_by_either_of_its_ids() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &qbit_config(5));
    let src = dir.path().join("downloads").join("hy");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.bin"), vec![3u8; 70_000]).unwrap();
    std::fs::write(src.join("b.bin"), vec![4u8; 20_000]).unwrap();
    let t = dir.path().join("hy.torrent");
    cli_common::create(&src, &t, &["--hybrid"]);
    let id = created_id(d.add_torrent(&std::fs::read(&t).unwrap(), ""));
    let qb = Session::new(&d);
    let info = qb.get(&format!("torrents/info?hashes={id}"));
    let v2_id = info[0]["infohash_v2"].as_str().unwrap()[..40].to_owned();
    assert_eq!(info[0]["infohash_v1"], id.as_str());
    // Listed, shown, its files and trackers, paused and resumed by the other.
    let by_other = qb.get(&format!("torrents/info?hashes={v2_id}"));
    assert_eq!(by_other.as_array().unwrap().len(), 1, "{by_other}");
    assert_eq!(by_other[0]["hash"], id.as_str(), "answered under its id");
    let props = qb.get(&format!("torrents/properties?hash={v2_id}"));
    assert_eq!(props["hash"], id.as_str(), "{props}");
    // Numbered as qBittorrent numbers them, its pad file (between a.bin and
    // b.bin) left out: b.bin is 1 here, 2 in the metadata.
    let files = qb.get(&format!("torrents/files?hash={v2_id}"));
    let rows: Vec<(&Value, &Value)> = (files.as_array().unwrap().iter())
        .map(|f| (&f["index"], &f["name"]))
        .collect();
    assert_eq!(
        rows,
        [
            (&0.into(), &"hy/a.bin".into()),
            (&1.into(), &"hy/b.bin".into())
        ]
    );
    let picked = qb.get(&format!("torrents/files?hash={id}&indexes=1"));
    assert_eq!(picked[0]["name"], "hy/b.bin", "{picked}");
    let native = d.get_json(&format!("/torrents/{id}/files"));
    assert_eq!(native[1]["path"], "hy/b.bin");
    assert_eq!(native[1]["index"], 2, "the metadata's index: {native}");
    qb.post(
        "torrents/filePrio",
        &[("hash", &id), ("id", "1"), ("priority", "0")],
    );
    let prios: Vec<Value> = (d.get_json(&format!("/torrents/{id}/files")).as_array())
        .unwrap()
        .iter()
        .map(|f| f["priority"].clone())
        .collect();
    assert_eq!(prios, [Value::from(1), Value::from(0)], "b.bin skipped");
    let past = (qb.client.post(v2(&d, "torrents/filePrio")))
        .header(COOKIE, &qb.cookie)
        .form(&[("hash", id.as_str()), ("id", "2"), ("priority", "0")])
        .send()
        .unwrap();
    assert_eq!(past.status(), 409, "a third file of two");
    qb.post("torrents/pause", &[("hashes", &v2_id)]);
    d.wait_for(&id, "paused by its other id", |t| t["state"] == "paused");
    qb.post("torrents/resume", &[("hashes", &v2_id)]);
    d.wait_for(&id, "resumed by its other id", |t| t["state"] != "paused");
    // A name of no torrent is still none.
    let none = qb.get(&format!("torrents/info?hashes={}", "ab".repeat(20)));
    assert_eq!(none, serde_json::json!([]));
    // The native API finds it by either id too, and answers with its id.
    let native = d.get_json(&format!("/torrents/{v2_id}"));
    assert_eq!(native["id"], id.as_str(), "{native}");
    assert_eq!(
        d.get_json(&format!("/torrents/{v2_id}/files"))
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(d.post(&format!("/torrents/{v2_id}/pause")).status(), 204);
    d.wait_for(&id, "paused over the native API by its other id", |t| {
        t["state"] == "paused"
    });
    assert_eq!(
        d.get(&format!("/torrents/{}", "ab".repeat(20))).status(),
        404
    );
}
