use super::*;
use crate::bencode::OwnedValue;
use crate::metainfo::{CreateLayout, CreateOptions, build_torrent};
use base64::Engine as _;
use serde_json::json;

/// A two-file torrent (`album/a.bin`, `album/b.bin`) with two trackers,
/// one a tier.
fn torrent() -> Vec<u8> {
    crate::fuzz::migrate::album(&["http://t.example/a", "http://t.example/b"])
}

/// A one-file torrent (`single.bin`).
fn single() -> Vec<u8> {
    let layout = CreateLayout {
        name: "single.bin".into(),
        files: None,
        length: 20_000,
    };
    build_torrent(
        &layout,
        16384,
        &[[1; 20], [2; 20]],
        &CreateOptions::default(),
    )
    .unwrap()
    .0
}

/// What rTorrent 0.9.8 saves of a started torrent in `/srv/dl/album`.
fn state() -> OwnedValue {
    let mut d = OwnedValue::dict();
    d.insert("directory", "/srv/dl/album");
    d.insert("custom1", "");
    d.insert("state", 1);
    d.insert("complete", 1);
    d.insert("priority", 2);
    d
}

fn file(priority: i64) -> OwnedValue {
    let mut f = OwnedValue::dict();
    f.insert("priority", priority);
    f.insert("completed", 1);
    f
}

fn tracker(enabled: i64, extra: Option<i64>) -> OwnedValue {
    let mut t = OwnedValue::dict();
    t.insert("enabled", enabled);
    if let Some(g) = extra {
        t.insert("extra_tracker", 1);
        t.insert("group", g);
    }
    t
}

/// libTorrent's resume data: both files normal, both trackers on.
fn resume() -> OwnedValue {
    let mut d = OwnedValue::dict();
    d.insert("files", OwnedValue::List(vec![file(1), file(1)]));
    let mut t = OwnedValue::dict();
    t.insert("http://t.example/a", tracker(1, None));
    t.insert("http://t.example/b", tracker(1, None));
    d.insert("trackers", t);
    d
}

fn plan_of(state: &OwnedValue, resume: &OwnedValue) -> Plan {
    plan(&torrent(), Some(&state.encode()), Some(&resume.encode())).unwrap()
}

#[test]
fn a_started_torrent_is_added_in_the_folder_its_own_folder_is_in() {
    let p = plan_of(&state(), &resume());
    assert_eq!(
        (p.name.as_str(), p.save_path.as_str()),
        ("album", "/srv/dl")
    );
    assert_eq!(p.add["save_path"], "/srv/dl");
    assert_eq!(p.add["content_layout"], "original");
    assert_eq!(
        (p.add["paused"].clone(), p.add["incomplete"].clone()),
        (true.into(), false.into())
    );
    assert!(p.add.get("category").is_none() && p.add.get("magnet").is_none());
    let t = p.add["torrent"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD.decode(t).unwrap();
    assert_eq!(bytes, torrent());
    assert_eq!((p.trackers, p.priorities, p.paused), (None, None, false));
    assert_eq!(p.category_follow, None);
}

#[test]
fn a_folder_under_another_name_holds_the_files_straight_inside() {
    let mut s = state();
    s.insert("directory", "/srv/dl/Album (2020)/");
    let p = plan_of(&s, &resume());
    assert_eq!(p.save_path, "/srv/dl/Album (2020)");
    assert_eq!(p.add["content_layout"], "no_subfolder");
    s.insert("directory", "/album");
    assert_eq!(plan_of(&s, &resume()).save_path, "/");
}

#[test]
fn a_single_file_is_in_its_directory() {
    let mut s = state();
    s.insert("directory", "/srv/dl/single.bin.d");
    let p = plan(&single(), Some(&s.encode()), None).unwrap();
    assert_eq!(p.save_path, "/srv/dl/single.bin.d");
    assert_eq!(p.add["content_layout"], "original");
    assert_eq!((p.trackers, p.priorities), (None, None));
}

#[test]
fn label_stop_priorities_and_the_users_trackers_are_kept() {
    let mut s = state();
    s.insert("custom1", "tv%20shows");
    s.insert("state", 0);
    let mut r = resume();
    r.insert("files", OwnedValue::List(vec![file(0), file(2)]));
    let mut t = OwnedValue::dict();
    t.insert("http://t.example/a", tracker(0, None));
    t.insert("http://t.example/b", tracker(1, None));
    t.insert("http://mine.example/x", tracker(1, Some(1)));
    t.insert("http://mine.example/y", tracker(1, Some(7)));
    t.insert("http://mine.example/off", tracker(0, Some(0)));
    r.insert("trackers", t);
    let p = plan_of(&s, &r);
    assert_eq!(p.add["category"], "tv shows");
    assert!(p.paused);
    assert_eq!(p.priorities, Some(vec![0, 6]));
    let want: Vec<Vec<String>> = vec![
        vec!["http://t.example/b".into(), "http://mine.example/x".into()],
        vec!["http://mine.example/y".into()],
    ];
    assert_eq!(p.trackers, Some(want));
}

#[test]
fn the_state_inside_the_torrent_is_read_as_older_releases_kept_it() {
    let mut s = state();
    s.insert("custom1", "music");
    let mut r = resume();
    r.insert("files", OwnedValue::List(vec![file(1), file(0)]));
    // The torrent's dictionary with both keys after its own (in order).
    let mut t = torrent();
    assert_eq!(t.pop(), Some(b'e'));
    t.extend_from_slice(b"17:libtorrent_resume");
    t.extend_from_slice(&r.encode());
    t.extend_from_slice(b"8:rtorrent");
    t.extend_from_slice(&s.encode());
    t.push(b'e');
    let p = plan(&t, None, None).unwrap();
    assert_eq!(
        (p.save_path.as_str(), p.add["category"].as_str()),
        ("/srv/dl", Some("music"))
    );
    assert_eq!(p.priorities, Some(vec![1, 0]));
}

#[test]
fn a_magnet_fetching_its_metadata_comes_back_as_its_link() {
    let link = format!(
        "magnet:?xt=urn:btih:{}&dn=some%20name&tr=http%3A%2F%2F127.0.0.1%3A3%2Fannounce",
        "ab".repeat(20)
    );
    let mut t = OwnedValue::dict();
    let mut info = OwnedValue::dict();
    info.insert("meta_download", 1);
    info.insert("name", "ABAB.meta");
    t.insert("info", info);
    t.insert("magnet-uri", link.as_str());
    let mut s = state();
    s.insert("directory", "/srv/dl");
    s.insert("custom1", "tv");
    let p = plan(&t.encode(), Some(&s.encode()), None).unwrap();
    assert_eq!(p.add["magnet"], link.as_str());
    assert!(p.add.get("torrent").is_none());
    assert_eq!(
        (p.name.as_str(), p.save_path.as_str()),
        ("some name", "/srv/dl")
    );
    assert_eq!(p.add["category"], "tv");
}

#[test]
fn damaged_files_are_refused_with_why() {
    let r = resume().encode();
    let unreadable = |e| matches!(e, Err(ImportError::Unreadable { .. }));
    assert!(unreadable(plan(
        &torrent(),
        Some(b"d9:directory"),
        Some(&r)
    )));
    assert!(unreadable(plan(&torrent(), Some(b"i1e"), Some(&r))));
    assert!(unreadable(plan(&torrent(), None, Some(&r))));
    assert!(unreadable(plan(
        &torrent(),
        Some(&state().encode()),
        Some(b"l")
    )));
    assert!(matches!(
        plan(b"d4:infoi1ee", Some(&state().encode()), None),
        Err(ImportError::Torrent(_))
    ));
    assert!(matches!(
        plan(b"not bencode", Some(&state().encode()), None),
        Err(ImportError::Torrent(_))
    ));
    let mut s = state();
    s.insert("directory", " ");
    assert_eq!(
        plan(&torrent(), Some(&s.encode()), None),
        Err(ImportError::NoSavePath)
    );
    let mut t = OwnedValue::dict();
    t.insert("magnet-uri", "magnet:?dn=x");
    assert!(matches!(
        plan(&t.encode(), Some(&state().encode()), None),
        Err(ImportError::Torrent(_))
    ));
}

#[test]
fn its_past_there_comes_too() {
    let mut s = state();
    s.insert("total_downloaded", 1_000_000);
    s.insert("total_uploaded", 5_000_000);
    s.insert("timestamp.finished", 1_600_000_100);
    let mut custom = OwnedValue::dict();
    custom.insert("addtime", "1600000000");
    s.insert("custom", custom);
    let a = plan_of(&s, &resume()).add;
    assert_eq!(
        (&a["downloaded"], &a["uploaded"]),
        (&json!(1_000_000), &json!(5_000_000))
    );
    assert_eq!(
        (&a["added_at"], &a["completed_at"]),
        (&json!(1_600_000_000), &json!(1_600_000_100))
    );
    assert!(
        a.get("seeding_time_secs").is_none(),
        "rTorrent does not count it"
    );
    let a = plan_of(&state(), &resume()).add;
    assert!(a.get("added_at").is_none() && a.get("uploaded").is_none());
}
