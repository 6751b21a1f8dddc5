use super::*;
use crate::bencode::{Limits, OwnedValue, decode};
use base64::Engine as _;

/// A two-file torrent (`album/a.bin`, `album/b.bin`) with one tracker.
fn torrent() -> Vec<u8> {
    crate::fuzz::migrate::album(&["http://t.example/announce"])
}

fn list(items: &[&str]) -> OwnedValue {
    OwnedValue::List(items.iter().map(|s| (*s).into()).collect())
}

/// What qBittorrent 4.5 saves for a torrent placed by hand, seeding.
fn resume() -> OwnedValue {
    let mut d = OwnedValue::dict();
    d.insert("save_path", "/srv/data/");
    d.insert("qBt-savePath", "/srv/data");
    d.insert("qBt-downloadPath", "");
    d.insert("qBt-category", "");
    d.insert("qBt-tags", list(&[]));
    d.insert("qBt-name", "");
    d.insert("qBt-ratioLimit", -2000);
    d.insert("qBt-seedingTimeLimit", -2);
    d.insert("paused", 0);
    d.insert("auto_managed", 1);
    d.insert("upload_rate_limit", -1);
    d.insert("download_rate_limit", -1);
    d.insert("pieces", vec![1u8, 1]);
    d.insert("file_priority", OwnedValue::List(vec![1.into(), 1.into()]));
    d.insert(
        "trackers",
        OwnedValue::List(vec![list(&["http://t.example/announce"])]),
    );
    d.insert("info-hash", vec![7u8; 20]);
    d.insert("name", "album");
    d
}

#[test]
fn a_torrent_placed_by_hand_is_added_where_its_data_is_and_nothing_more() {
    let p = plan(&resume().encode(), Some(&torrent())).unwrap();
    assert_eq!(p.save_path, "/srv/data");
    assert_eq!(p.name, "album");
    assert_eq!(p.category_follow, None);
    assert_eq!((p.trackers, p.priorities, p.paused), (None, None, false));
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
    assert_eq!(a["paused"], true, "added paused, resumed once set up");
    assert_eq!(a["incomplete"], false, "it stays where its data is");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(a["torrent"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, torrent());
}

#[test]
fn what_the_user_set_is_carried_over() {
    let mut r = resume();
    r.insert("qBt-category", "tv");
    r.insert("qBt-tags", list(&["hd", "x"]));
    r.insert("qBt-name", "Shown As");
    r.insert("qBt-ratioLimit", 1500);
    r.insert("qBt-seedingTimeLimit", -1);
    r.insert("qBt-inactiveSeedingTimeLimit", 90);
    r.insert("qBt-shareLimitAction", "RemoveWithContent");
    r.insert("upload_rate_limit", 1000);
    r.insert("sequential_download", 1);
    r.insert("qBt-firstLastPiecePriority", 1);
    r.insert("paused", 1);
    r.insert("auto_managed", 0);
    r.insert("mapped_files", list(&["", "album/sub/b2.bin"]));
    r.insert("file_priority", OwnedValue::List(vec![0.into(), 7.into()]));
    r.insert(
        "trackers",
        OwnedValue::List(vec![
            list(&["http://t.example/announce", "udp://u.example:1"]),
            list(&["http://t.example/announce"]),
        ]),
    );
    let p = plan(&r.encode(), Some(&torrent())).unwrap();
    let a = &p.add;
    assert_eq!(a["category"], "tv");
    assert_eq!(a["labels"], json!(["hd", "x"]));
    assert_eq!(a["name"], "Shown As");
    assert_eq!(p.name, "Shown As");
    assert_eq!(a["ratio_limit"], 1.5);
    assert_eq!(a["seeding_time_limit_mins"], -1);
    assert_eq!(a["inactive_seeding_time_limit_mins"], 90);
    assert_eq!(a["share_limit_action"], "remove_with_files");
    assert_eq!(a["upload_limit"], 1000);
    assert!(a.get("download_limit").is_none());
    assert_eq!(
        (&a["sequential"], &a["first_last"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(
        a["paths"],
        json!([{"index": 1, "path": "album/sub/b2.bin"}])
    );
    assert!(p.paused, "stopped by the user");
    assert_eq!(
        p.category_follow, None,
        "placed by hand: it has a qBt-savePath"
    );
    assert_eq!(p.priorities, Some(vec![0, 7]));
    assert_eq!(
        p.trackers,
        Some(vec![vec![
            "http://t.example/announce".to_owned(),
            "udp://u.example:1".to_owned()
        ]]),
        "the user's tiers, each URL once"
    );
}

#[test]
fn a_managed_torrent_follows_its_category_and_a_queued_one_is_not_stopped() {
    let mut r = resume();
    if let OwnedValue::Dict(d) = &mut r {
        d.remove(b"qBt-savePath".as_slice());
    }
    r.insert("qBt-category", "tv");
    r.insert("paused", 1);
    let p = plan(&r.encode(), Some(&torrent())).unwrap();
    assert_eq!(p.category_follow.as_deref(), Some("tv"));
    assert_eq!(p.save_path, "/srv/data");
    assert!(!p.paused, "paused and managed is queued, not stopped");
}

#[test]
fn an_unfinished_torrent_in_its_download_folder_downloads_there() {
    let mut r = resume();
    r.insert("save_path", "/srv/incoming");
    r.insert("qBt-downloadPath", "/srv/incoming");
    r.insert("pieces", vec![1u8, 0]);
    let p = plan(&r.encode(), Some(&torrent())).unwrap();
    assert_eq!(p.save_path, "/srv/data");
    assert_eq!(p.add["save_path"], "/srv/data");
    assert_eq!(p.add["download_path"], "/srv/incoming");
    assert!(p.add.get("incomplete").is_none());
}

#[test]
fn a_magnet_without_metadata_becomes_a_magnet_link() {
    let mut r = resume();
    r.insert("info-hash2", vec![0u8; 32]);
    r.insert("name", "a b");
    let p = plan(&r.encode(), None).unwrap();
    assert_eq!(
        p.add["magnet"],
        format!(
            "magnet:?xt=urn:btih:{}&dn=a%20b&tr=http%3A%2F%2Ft%2Eexample%2Fannounce",
            "07".repeat(20)
        )
    );
    assert!(p.add.get("torrent").is_none() && p.add.get("paths").is_none());
    assert_eq!(p.trackers, None, "the magnet carries them");
}

#[test]
fn metadata_kept_in_the_resume_data_serves_as_the_torrent() {
    let t = torrent();
    let top = decode(&t, Limits::default()).unwrap();
    let mut r = resume();
    r.insert("info", OwnedValue::from(top.get("info").unwrap()));
    let p = plan(&r.encode(), None).unwrap();
    assert!(p.add.get("torrent").is_some() && p.add.get("magnet").is_none());
}

#[test]
fn damaged_files_are_refused_with_why() {
    assert!(matches!(
        plan(b"d4:name", None),
        Err(ImportError::Unreadable { .. })
    ));
    assert!(matches!(
        plan(b"i1e", None),
        Err(ImportError::Unreadable { .. })
    ));
    assert!(matches!(
        plan(&resume().encode(), Some(b"d4:infoi1ee")),
        Err(ImportError::Torrent(_))
    ));
    let mut r = resume();
    if let OwnedValue::Dict(d) = &mut r {
        d.remove(b"info-hash".as_slice());
    }
    assert_eq!(plan(&r.encode(), None), Err(ImportError::NoHash));
    let mut r = resume();
    r.insert("save_path", "");
    assert_eq!(
        plan(&r.encode(), Some(&torrent())),
        Err(ImportError::NoSavePath)
    );
}

#[test]
fn unfinished_files_named_with_the_qb_extension_get_their_own_names() {
    let mut r = resume();
    r.insert(
        "mapped_files",
        list(&["album/a.bin.!qB", "album/sub/b2.bin.!qB"]),
    );
    let p = plan(&r.encode(), Some(&torrent())).unwrap();
    assert_eq!(
        p.add["paths"],
        json!([{"index": 1, "path": "album/sub/b2.bin"}]),
        "a.bin is under its own name once renamed back"
    );
    assert_eq!(
        p.unfinished,
        [
            (
                "/srv/data/album/a.bin.!qB".into(),
                "/srv/data/album/a.bin".into()
            ),
            (
                "/srv/data/album/sub/b2.bin.!qB".into(),
                "/srv/data/album/sub/b2.bin".into()
            ),
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
fn its_past_there_comes_too() {
    let mut r = resume();
    r.insert("total_downloaded", 1_000_000);
    r.insert("total_uploaded", 5_000_000);
    r.insert("added_time", 1_600_000_000);
    r.insert("completed_time", 0);
    r.insert("seeding_time", 7_200);
    r.insert("active_time", 9_000);
    let a = plan(&r.encode(), Some(&torrent())).unwrap().add;
    assert_eq!(
        (&a["downloaded"], &a["uploaded"]),
        (&json!(1_000_000), &json!(5_000_000))
    );
    assert_eq!(
        (&a["added_at"], &a["seeding_time_secs"]),
        (&json!(1_600_000_000), &json!(7_200))
    );
    assert_eq!(a["active_time_secs"], 9_000);
    assert!(
        a.get("completed_at").is_none(),
        "0: it never completed there"
    );
}
