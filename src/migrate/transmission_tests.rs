use super::*;
use crate::bencode::OwnedValue;

/// A two-file torrent (`album/a.bin`, `album/b.bin`) with one tracker.
fn torrent() -> Vec<u8> {
    crate::fuzz::migrate::album(&["http://t.example/a"])
}

fn ints(v: &[i64]) -> OwnedValue {
    OwnedValue::List(v.iter().map(|&i| i.into()).collect())
}

fn mode(key: &str, mode: i64, value: OwnedValue) -> OwnedValue {
    let mut d = OwnedValue::dict();
    d.insert(&format!("{key}-limit"), value);
    d.insert(&format!("{key}-mode"), mode);
    d
}

fn speed(on: i64, bps: i64) -> OwnedValue {
    let mut d = OwnedValue::dict();
    d.insert("speed-Bps", bps);
    d.insert("use-speed-limit", on);
    d.insert("use-global-speed-limit", 1);
    d
}

/// What Transmission 3.00 saves of a seeding torrent left as it came.
fn resume() -> OwnedValue {
    let mut d = OwnedValue::dict();
    d.insert("destination", "/srv/dl/");
    d.insert("name", "album");
    d.insert("paused", 0);
    d.insert("dnd", ints(&[0, 0]));
    d.insert("priority", ints(&[0, 0]));
    d.insert(
        "files",
        OwnedValue::List(vec!["album/a.bin".into(), "album/b.bin".into()]),
    );
    d.insert("labels", OwnedValue::List(vec![]));
    d.insert("ratio-limit", mode("ratio", 0, "2.000000".into()));
    d.insert("idle-limit", mode("idle", 0, 30.into()));
    d.insert("speed-limit-up", speed(0, 100_000));
    d.insert("speed-limit-down", speed(0, 100_000));
    let mut progress = OwnedValue::dict();
    progress.insert("have", "all");
    d.insert("progress", progress);
    d
}

#[test]
fn a_torrent_left_as_it_came_is_added_where_its_data_is_and_nothing_more() {
    let p = plan(&resume().encode(), Some(&torrent())).unwrap();
    assert_eq!(
        (p.name.as_str(), p.save_path.as_str()),
        ("album", "/srv/dl")
    );
    let a = p.add.as_object().unwrap();
    let mut keys: Vec<&str> = a.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "content_layout",
            "incomplete",
            "paused",
            "save_path",
            "torrent"
        ]
    );
    assert_eq!(
        (a["paused"].clone(), a["incomplete"].clone()),
        (true.into(), false.into())
    );
    assert_eq!((p.trackers, p.priorities, p.paused), (None, None, false));
}

#[test]
fn what_the_user_set_comes_over() {
    let mut r = resume();
    r.insert("name", "Album X");
    r.insert(
        "files",
        OwnedValue::List(vec!["Album X/a2.bin".into(), "Album X/b.bin".into()]),
    );
    r.insert(
        "labels",
        OwnedValue::List(vec!["tv".into(), " hd ".into(), "".into()]),
    );
    r.insert("paused", 1);
    r.insert("dnd", ints(&[1, 0]));
    r.insert("priority", ints(&[0, 1]));
    r.insert("ratio-limit", mode("ratio", 1, "1.500000".into()));
    r.insert("idle-limit", mode("idle", 2, 30.into()));
    r.insert("speed-limit-up", speed(1, 100_000));
    let p = plan(&r.encode(), Some(&torrent())).unwrap();
    let a = &p.add;
    assert_eq!(a["name"], "Album X");
    assert_eq!(
        a["paths"],
        json!([{"index": 0, "path": "Album X/a2.bin"}, {"index": 1, "path": "Album X/b.bin"}])
    );
    assert_eq!(a["labels"], json!(["tv", "hd"]));
    assert_eq!(
        (
            a["ratio_limit"].clone(),
            a["inactive_seeding_time_limit_mins"].clone()
        ),
        (1.5.into(), (-1).into())
    );
    assert_eq!(a["upload_limit"], 100_000);
    assert!(a.get("download_limit").is_none());
    assert!(p.paused);
    assert_eq!(p.priorities, Some(vec![0, 6]));
    assert_eq!(p.name, "album", "messages name it by its torrent");
}

#[test]
fn an_unfinished_torrent_is_looked_for_in_the_incomplete_folder() {
    let mut r = resume();
    r.insert("incomplete-dir", "/srv/incoming/");
    let p = plan(&r.encode(), Some(&torrent())).unwrap();
    assert_eq!(
        p.add.get("download_path"),
        None,
        "a whole one is in its destination"
    );
    let mut progress = OwnedValue::dict();
    progress.insert("have", vec![0xc0u8]);
    r.insert("progress", progress);
    let p = plan(&r.encode(), Some(&torrent())).unwrap();
    assert_eq!(p.add["download_path"], "/srv/incoming");
    assert_eq!(p.add.get("incomplete"), None);
    assert_eq!(p.save_path, "/srv/dl");
}

#[test]
fn a_magnet_fetching_its_metadata_comes_back_as_a_link_with_its_trackers() {
    let mut info = OwnedValue::dict();
    info.insert("display-name", "waiting");
    info.insert("info_hash", vec![0xefu8; 20]);
    let mut t = OwnedValue::dict();
    t.insert("announce", "http://127.0.0.1:1/m");
    t.insert("magnet-info", info);
    let mut r = resume();
    r.insert("name", "waiting");
    let p = plan(&r.encode(), Some(&t.encode())).unwrap();
    let want = format!(
        "magnet:?xt=urn:btih:{}&dn=waiting&tr=http%3A%2F%2F127%2E0%2E0%2E1%3A1%2Fm",
        "ef".repeat(20)
    );
    assert_eq!(p.add["magnet"], want.as_str());
    assert!(p.add.get("torrent").is_none() && p.priorities.is_none());
    assert_eq!(p.name, "waiting");
}

#[test]
fn damaged_files_are_refused_with_why() {
    let t = torrent();
    let unreadable = |e| matches!(e, Err(ImportError::Unreadable { .. }));
    assert!(unreadable(plan(b"d11:destination", Some(&t))));
    assert!(unreadable(plan(b"le", Some(&t))));
    let r = resume().encode();
    assert!(matches!(plan(&r, None), Err(ImportError::Torrent(_))));
    assert!(matches!(
        plan(&r, Some(b"4:spam")),
        Err(ImportError::Torrent(_))
    ));
    assert!(matches!(
        plan(&r, Some(b"d4:infoi1ee")),
        Err(ImportError::Torrent(_))
    ));
    let mut info = OwnedValue::dict();
    info.insert("info_hash", vec![1u8; 3]);
    let mut m = OwnedValue::dict();
    m.insert("magnet-info", info);
    assert_eq!(plan(&r, Some(&m.encode())), Err(ImportError::NoHash));
    let mut r = resume();
    r.insert("destination", "");
    assert_eq!(plan(&r.encode(), Some(&t)), Err(ImportError::NoSavePath));
}

#[test]
fn unfinished_files_may_be_named_part_in_either_folder() {
    let mut r = resume();
    r.insert("incomplete-dir", "/srv/incoming");
    r.insert(
        "files",
        OwnedValue::List(vec!["album/a2.bin".into(), "album/b.bin".into()]),
    );
    let mut progress = OwnedValue::dict();
    progress.insert("have", vec![0x80u8]);
    r.insert("progress", progress);
    let p = plan(&r.encode(), Some(&torrent())).unwrap();
    let pair = |dir: &str, f: &str| (format!("{dir}/{f}.part"), format!("{dir}/{f}"));
    assert_eq!(
        p.unfinished,
        [
            pair("/srv/incoming", "album/a2.bin"),
            pair("/srv/incoming", "album/b.bin"),
            pair("/srv/dl", "album/a2.bin"),
            pair("/srv/dl", "album/b.bin"),
        ]
    );
    assert!(
        plan(&resume().encode(), Some(&torrent()))
            .unwrap()
            .unfinished
            .is_empty()
    );
}

#[test]
fn a_name_that_climbs_out_is_never_renamed() {
    assert_eq!(
        unfinished("/srv/dl/", "a/b", ".part"),
        Some(("/srv/dl/a/b.part".into(), "/srv/dl/a/b".into()))
    );
    for bad in ["../x", "a/../../x", "/etc/x", "a//b", "", "a/./b", "a/"] {
        assert_eq!(unfinished("/srv/dl", bad, ".part"), None, "{bad}");
    }
    assert_eq!(unfinished("", "a", ".part"), None);
    assert_eq!(unfinished("srv/dl", "a", ".part"), None);
}

#[test]
fn its_past_there_comes_too() {
    let mut r = resume();
    r.insert("downloaded", 1_000_000);
    r.insert("uploaded", 5_000_000);
    r.insert("added-date", 1_600_000_000);
    r.insert("done-date", 1_600_000_100);
    r.insert("seeding-time-seconds", 7_200);
    r.insert("downloading-time-seconds", 1_800);
    let a = plan(&r.encode(), Some(&torrent())).unwrap().add;
    assert_eq!(
        (&a["downloaded"], &a["uploaded"]),
        (&json!(1_000_000), &json!(5_000_000))
    );
    assert_eq!(
        (&a["added_at"], &a["completed_at"]),
        (&json!(1_600_000_000), &json!(1_600_000_100))
    );
    assert_eq!(a["seeding_time_secs"], 7_200);
    assert_eq!(a["active_time_secs"], 9_000, "downloading and seeding time");
}
