//! Other clients' saved torrents (`migrate`): what a plan asks of the daemon
//! holds together whatever qBittorrent's `.fastresume`, rTorrent's session
//! files, Transmission's `.resume` or Deluge's state say.

use std::sync::OnceLock;

use serde_json::Value;

use crate::bencode::OwnedValue;
use crate::metainfo::{CreateLayout, CreateOptions, build_torrent};
use crate::migrate::{Plan, deluge, pickle, rtorrent, transmission};

/// A valid two-file `.torrent` (`album/a.bin`, 20,000 bytes, and
/// `album/b.bin`, 10,000, in 16 KiB pieces) with `trackers`, one a tier: what
/// the saved state of another client sits beside (the import plans' tests
/// and seeds use it too).
pub fn album(trackers: &[&str]) -> Vec<u8> {
    let layout = CreateLayout {
        name: "album".into(),
        files: Some(vec![
            (vec!["a.bin".into()], 20_000),
            (vec!["b.bin".into()], 10_000),
        ]),
        length: 0,
    };
    let opts = CreateOptions {
        trackers: trackers.iter().map(|t| (*t).to_owned()).collect(),
        ..CreateOptions::default()
    };
    build_torrent(&layout, 16_384, &[[1; 20], [2; 20]], &opts)
        .expect("a valid torrent")
        .0
}

/// [`album`] without trackers, made once.
fn torrent() -> &'static [u8] {
    static T: OnceLock<Vec<u8>> = OnceLock::new();
    T.get_or_init(|| album(&[]))
}

/// A `.fastresume` alone and beside a valid `.torrent`: a plan adds by a
/// magnet link or by the torrent, never both, somewhere; its file names are
/// for the torrent's files, not empty; its priorities are the torrent's
/// files' and in range.
pub fn qbt_resume(data: &[u8]) {
    for beside in [None, Some(torrent())] {
        let Ok(p) = crate::migrate::plan(data, beside) else {
            continue;
        };
        sound(&p, beside.map(|_| 2));
        for f in (p.add.get("paths").and_then(Value::as_array))
            .into_iter()
            .flatten()
        {
            assert!(f["index"].as_u64().is_some_and(|i| i < 2));
            assert!(f["path"].as_str().is_some_and(|s| !s.is_empty()));
        }
        assert!(p.priorities.is_none() || beside.is_some());
    }
}

/// What every plan holds to: it adds by a magnet link or by a torrent, never
/// both, paused, somewhere, in a layout; its priorities are the torrent's
/// files' (`files`, when known) and in range; its trackers have no empty
/// tier or URL; a file it renames only loses a suffix.
fn sound(p: &Plan, files: Option<usize>) {
    let a = p.add.as_object().expect("the add's body is an object");
    assert_ne!(a.contains_key("magnet"), a.contains_key("torrent"));
    assert!(!p.save_path.is_empty());
    assert_eq!(a["paused"], true, "added paused, set up, then run");
    assert!(a.get("content_layout").is_none_or(Value::is_string));
    if let Some(pr) = &p.priorities {
        assert!(Some(pr.len()) == files || files.is_none());
        assert!(pr.iter().all(|&x| x <= 7));
    }
    for tier in p.trackers.iter().flatten() {
        assert!(!tier.is_empty() && tier.iter().all(|u| !u.is_empty()));
    }
    for key in [
        "downloaded",
        "uploaded",
        "added_at",
        "completed_at",
        "seeding_time_secs",
        "active_time_secs",
    ] {
        assert!(a.get(key).is_none_or(|v| v.as_u64().is_some_and(|n| n > 0)));
    }
    // A file given its own name back stays where it is: only a suffix goes
    // (the folder is the client's, whatever it says; the file's path in it
    // never climbs).
    for (from, to) in &p.unfinished {
        assert!(from.len() > to.len() && from.starts_with(to.as_str()));
        assert!(to.starts_with('/') && !to.ends_with('/') && !from[to.len()..].contains('/'));
    }
}

/// rTorrent's state of the two-file torrent, started, in `/srv/dl/album`.
fn rt_state() -> &'static [u8] {
    static S: OnceLock<Vec<u8>> = OnceLock::new();
    S.get_or_init(|| {
        let mut d = OwnedValue::dict();
        d.insert("directory", "/srv/dl/album");
        d.insert("state", 1);
        d.insert("custom1", "tv");
        d.encode()
    })
}

/// libTorrent's resume data of the two-file torrent: a file off, one high.
fn rt_resume() -> &'static [u8] {
    static R: OnceLock<Vec<u8>> = OnceLock::new();
    R.get_or_init(|| {
        let file = |p: i64| {
            let mut f = OwnedValue::dict();
            f.insert("priority", p);
            f
        };
        let mut d = OwnedValue::dict();
        d.insert("files", OwnedValue::List(vec![file(0), file(2)]));
        d.encode()
    })
}

/// An rTorrent session's files, the input as each in turn: the
/// `.rtorrent` and the `.libtorrent_resume` beside a valid torrent, and the
/// `.torrent` itself (a magnet's, or one holding its state as releases
/// before 0.9 kept it), alone and beside a valid state.
pub fn rt_session(data: &[u8]) {
    let tries = [
        (torrent(), Some(data), Some(rt_resume())),
        (torrent(), Some(rt_state()), Some(data)),
        (data, None, None),
        (data, Some(rt_state()), None),
    ];
    for (i, (t, state, resume)) in tries.into_iter().enumerate() {
        if let Ok(p) = rtorrent::plan(t, state, resume) {
            sound(&p, (i < 2).then_some(2));
        }
    }
}

/// A Transmission `.resume` beside a valid torrent and beside a magnet
/// link's `.torrent`; the input as the `.torrent` beside a valid `.resume`.
pub fn tr_resume(data: &[u8]) {
    static M: OnceLock<Vec<u8>> = OnceLock::new();
    let magnet = M.get_or_init(|| {
        let mut info = OwnedValue::dict();
        info.insert("display-name", "waiting");
        info.insert("info_hash", vec![0xef_u8; 20]);
        let mut t = OwnedValue::dict();
        t.insert("announce", "http://127.0.0.1:1/m");
        t.insert("magnet-info", info);
        t.encode()
    });
    static R: OnceLock<Vec<u8>> = OnceLock::new();
    let resume = R.get_or_init(|| {
        let mut d = OwnedValue::dict();
        d.insert("destination", "/srv/dl");
        d.insert("dnd", OwnedValue::List(vec![1.into(), 0.into()]));
        d.insert("priority", OwnedValue::List(vec![0.into(), 1.into()]));
        d.encode()
    });
    let tries = [
        (data, Some(torrent()), Some(2)),
        (data, Some(magnet.as_slice()), None),
        (resume.as_slice(), Some(data), None),
    ];
    for (r, t, files) in tries {
        if let Ok(p) = transmission::plan(r, t) {
            sound(&p, files);
            for f in (p.add.get("paths").and_then(Value::as_array))
                .into_iter()
                .flatten()
            {
                assert!(files.is_none() || f["index"].as_u64().is_some_and(|i| i < 2));
                assert!(f["path"].as_str().is_some_and(|s| !s.is_empty()));
            }
        }
    }
}

/// Deluge's state, the input as each of its files in turn: `torrents.state`
/// (a pickle, read as data only) beside a valid `torrents.fastresume`, and
/// as `torrents.fastresume` and `label.conf` beside nothing; every plan
/// made of it holds together.
pub fn deluge_state(data: &[u8]) {
    static F: OnceLock<Vec<u8>> = OnceLock::new();
    let fastresume = F.get_or_init(|| {
        let mut r = OwnedValue::dict();
        r.insert("save_path", "/srv/deluge");
        r.insert("pieces", vec![1u8, 0]);
        r.insert("file_priority", OwnedValue::List(vec![4.into(), 7.into()]));
        let mut d = OwnedValue::dict();
        d.insert("0ee097fb014ec38c452328c1837d6d5cabb7dbad", r.encode());
        d.encode()
    });
    if let Ok(v) = pickle::load(data) {
        // Data only, whatever it names.
        drop(v);
    }
    let tries = [
        (fastresume.as_slice(), Some(data), None),
        (data, None, Some(data)),
    ];
    for (fr, state, labels) in tries {
        let Ok(st) = deluge::read(fr, state, labels) else {
            continue;
        };
        for saved in &st.torrents {
            for beside in [None, Some(torrent())] {
                if let Ok(p) = deluge::plan(saved, beside) {
                    sound(&p, beside.map(|_| 2));
                    assert!(
                        p.priorities
                            .iter()
                            .flatten()
                            .all(|&x| [0, 1, 6].contains(&x))
                    );
                }
            }
        }
    }
}
