//! Tests of qBittorrent's torrent view (`view.rs`).

use super::view::*;
use crate::core::{ShareLimits, TorrentState};
use crate::types::Hex;
use std::collections::HashMap;

fn stats() -> crate::core::TorrentStats {
    crate::core::TorrentStats {
        info_hash: crate::types::InfoHash([7; 20]),
        v2_hash: None,
        v1_hash: Some(crate::types::InfoHash([7; 20])),
        name: "x".into(),
        state: TorrentState::Seeding,
        progress: 1.0,
        have_pieces: 1,
        total_pieces: 1,
        have_bytes: 1,
        total_bytes: 1,
        download_rate: 0,
        upload_rate: 0,
        downloaded: 0,
        uploaded: 0,
        downloaded_session: 0,
        uploaded_session: 0,
        wasted: 0,
        web_seed_bytes: 0,
        hash_failures: 0,
        peers: 0,
        seeds: 0,
        connections: 0,
        banned: 0,
        known_peers: Default::default(),
        eta_secs: None,
        tracker_error: None,
        tracker_warning: None,
        tracker_url: None,
        trackers: 0,
        swarm: Default::default(),
        availability: None,
        root_missing: false,
        files_missing: false,
        seeding_secs: 0,
        running_secs: 0,
        seen_complete: None,
        idle_secs: 0,
        complete: true,
        active_at: None,
        added_at: 0,
        completed_at: None,
        root: "r".into(),
        moving_to: None,
        magnet_tail: "".into(),
        content: "x".into(),
        settings: crate::core::TorrentSettings::default(),
        note: None,
    }
}

fn context() -> Context {
    Context {
        roots: RootPaths::default(),
        share: ShareLimits::NONE,
        now: 0,
        ranks: HashMap::new(),
    }
}

#[test]
fn v1_and_v2_hashes_show_as_qbittorrent_shows_them() {
    // A hybrid: both hashes, a magnet naming both.
    let cx = context();
    let mut s = stats();
    s.v2_hash = Some([0xab; 32]);
    let t = QbTorrent::new(&s, &cx);
    assert_eq!(t.infohash_v1.as_str(), "07".repeat(20));
    assert_eq!(t.infohash_v2.as_str(), "ab".repeat(32));
    let m = t.magnet_uri();
    assert!(m.contains("btih:") && m.contains("btmh:1220"));
    // v2-only: its id is its truncated v2 hash, and it has no v1 hash.
    s.info_hash = crate::types::InfoHash([0xab; 20]);
    s.v1_hash = None;
    let t = QbTorrent::new(&s, &cx);
    assert_eq!(t.hash.as_str(), "ab".repeat(20));
    assert_eq!(t.infohash_v1.as_str(), "");
    assert_eq!(
        t.magnet_uri(),
        format!("magnet:?xt=urn:btmh:1220{}&dn=x", "ab".repeat(32))
    );
    // A hybrid added by its v2 name: its id is that, and it has both.
    s.v1_hash = Some(crate::types::InfoHash([0x07; 20]));
    let t = QbTorrent::new(&s, &cx);
    assert_eq!(t.hash.as_str(), "ab".repeat(20));
    assert_eq!(t.infohash_v1.as_str(), "07".repeat(20));
    assert!((t.magnet_uri()).contains(&format!("btih:{}", "07".repeat(20))));
}

#[test]
fn paths_and_tags_are_qbittorrents() {
    let cx = Context {
        roots: [("r".to_owned(), "/srv/dl/".to_owned())]
            .into_iter()
            .collect(),
        ..context()
    };
    let mut s = stats();
    let t = QbTorrent::new(&s, &cx);
    assert_eq!(
        (t.save_path, t.content_path.as_ref()),
        ("/srv/dl/", "/srv/dl/x")
    );
    assert_eq!(t.tags, "");
    // Files straight in the root: the content is the root's folder.
    s.content = "".into();
    s.settings.labels = vec!["a".into()];
    let t = QbTorrent::new(&s, &cx);
    assert_eq!(t.content_path, "/srv/dl/");
    assert_eq!(t.tags, "a");
    // A root the daemon does not manage: its path as given.
    s.root = "/elsewhere".into();
    s.settings.labels = vec!["a".into(), "b c".into()];
    let t = QbTorrent::new(&s, &cx);
    assert_eq!((t.save_path, t.tags.as_ref()), ("/elsewhere", "a, b c"));
}

/// A move by hand shows where it goes from its start: the save path, or
/// the download path of a torrent with an incomplete folder; the content
/// path stays where the files are until it ends.
#[test]
fn a_move_shows_its_target_at_once() {
    let cx = Context {
        roots: [
            ("r".to_owned(), "/srv/dl".to_owned()),
            ("new".to_owned(), "/srv/new".to_owned()),
            ("done".to_owned(), "/srv/done".to_owned()),
        ]
        .into_iter()
        .collect(),
        ..context()
    };
    let mut s = stats();
    s.moving_to = Some("new".into());
    let t = QbTorrent::new(&s, &cx);
    assert_eq!(
        (t.save_path, t.download_path, t.content_path.as_ref()),
        ("/srv/new", "", "/srv/dl/x")
    );
    s.settings.finish_in = Some(Box::new(crate::core::FinishRoot {
        path: "/srv/done".into(),
        token: "done".into(),
        marked: false,
    }));
    let t = QbTorrent::new(&s, &cx);
    assert_eq!((t.save_path, t.download_path), ("/srv/done", "/srv/new"));
    s.moving_to = None;
    let t = QbTorrent::new(&s, &cx);
    assert_eq!((t.save_path, t.download_path), ("/srv/done", "/srv/dl"));
}

#[test]
fn the_name_list_follows_the_fields() {
    let s = stats();
    let cx = context();
    let t = QbTorrent::new(&s, &cx);
    let got: Vec<&str> = t.fields().iter().map(|(n, _)| *n).collect();
    assert_eq!(got, NAMES);
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(got, sorted, "qBittorrent's order is alphabetical");
}

#[test]
fn fields_write_the_json_serde_json_writes() {
    let cases = [
        Field::U(0),
        Field::U(u64::MAX),
        Field::I(-1),
        Field::I(i64::MIN),
        Field::N(0.0),
        Field::N(-2.0),
        Field::N(1.5),
        Field::N(0.1 + 0.2),
        Field::N(1e300),
        Field::N(f64::NAN),
        Field::B(true),
        Field::B(false),
        Field::S(""),
        Field::S("plain name.mkv"),
        Field::S("q\"uote \\ back\nline \u{1} ctl é ✓"),
    ];
    for f in cases {
        let mut ours = Vec::new();
        f.write_json(&mut ours);
        let theirs = match f {
            Field::U(v) => serde_json::to_vec(&v),
            Field::I(v) => serde_json::to_vec(&v),
            Field::N(v) => serde_json::to_vec(&qt_value(v)),
            Field::B(v) => serde_json::to_vec(&v),
            Field::S(v) => serde_json::to_vec(v),
            Field::M(t) => serde_json::to_vec(&t.magnet_uri()),
        }
        .unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(theirs).unwrap()
        );
    }
}

#[test]
fn magnets_escape_the_name() {
    let cx = context();
    let magnet = |v1: &[u8], v2: &[u8], name: &str, tail: &str| {
        let mut s = stats();
        s.name = name.into();
        s.magnet_tail = tail.into();
        let mut t = QbTorrent::new(&s, &cx);
        t.infohash_v1 = Hex::of(v1);
        t.infohash_v2 = Hex::of(v2);
        // In JSON, the link is the same text as a string.
        let mut json = Vec::new();
        Field::M(&t).write_json(&mut json);
        assert_eq!(json, serde_json::to_vec(&t.magnet_uri()).unwrap());
        t.magnet_uri()
    };
    assert_eq!(
        magnet(&[0xab], &[], "a b.x", ""),
        "magnet:?xt=urn:btih:ab&dn=a%20b.x"
    );
    assert_eq!(
        magnet(&[0xab], &[0xcd], "x", ""),
        "magnet:?xt=urn:btih:ab&xt=urn:btmh:1220cd&dn=x"
    );
    assert_eq!(
        magnet(&[], &[0xcd], "x", ""),
        "magnet:?xt=urn:btmh:1220cd&dn=x"
    );
    // The trackers' part follows the name.
    assert_eq!(
        magnet(&[0xab], &[], "x", "&tr=udp%3A%2F%2Ft%3A1"),
        "magnet:?xt=urn:btih:ab&dn=x&tr=udp%3A%2F%2Ft%3A1"
    );
    // What JSON escapes is percent-encoded in the name.
    assert_eq!(
        magnet(&[0xab], &[], "q\"b\\n\u{1}é", ""),
        "magnet:?xt=urn:btih:ab&dn=q%22b%5Cn%01%C3%A9"
    );
}
