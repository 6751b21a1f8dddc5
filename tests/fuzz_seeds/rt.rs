//! Seeds for `rt_session`: rTorrent 0.9.8's session files (`.rtorrent`,
//! `.libtorrent_resume`), a magnet link's `.torrent`, and a `.torrent`
//! holding both as releases before 0.9 kept them.

use seedring::bencode::OwnedValue;

fn tracker(enabled: i64, group: Option<i64>) -> OwnedValue {
    let mut t = OwnedValue::dict();
    t.insert("enabled", enabled);
    if let Some(g) = group {
        t.insert("extra_tracker", 1);
        t.insert("group", g);
    }
    t
}

/// A labelled, stopped torrent's state; resume data with a file off, one
/// high, a tracker added and one turned off; a magnet's `.torrent`; a
/// `.torrent` with both inside.
pub fn session() -> super::Seeds {
    let mut state = OwnedValue::dict();
    state.insert("directory", "/srv/dl/Album (2020)");
    state.insert("custom1", "tv%20shows");
    state.insert("state", 0);
    state.insert("complete", 1);
    state.insert("priority", 2);
    let file = |p: i64| {
        let mut f = OwnedValue::dict();
        f.insert("priority", p);
        f.insert("completed", 1);
        f
    };
    let mut resume = OwnedValue::dict();
    resume.insert("files", OwnedValue::List(vec![file(0), file(2)]));
    let mut trackers = OwnedValue::dict();
    trackers.insert("http://127.0.0.1:1/announce", tracker(0, None));
    trackers.insert("http://127.0.0.1:2/mine", tracker(1, Some(1)));
    resume.insert("trackers", trackers);
    let mut magnet = OwnedValue::dict();
    let mut info = OwnedValue::dict();
    info.insert("meta_download", 1);
    info.insert("name", "ABAB.meta");
    magnet.insert("info", info);
    magnet.insert(
        "magnet-uri",
        format!("magnet:?xt=urn:btih:{}&dn=waiting", "ab".repeat(20)).as_str(),
    );
    let mut old = seedring::fuzz::migrate::album(&["http://127.0.0.1:1/announce"]);
    // Both dictionaries after the torrent's own keys, in order.
    assert_eq!(old.pop(), Some(b'e'));
    old.extend_from_slice(b"17:libtorrent_resume");
    old.extend_from_slice(&resume.encode());
    old.extend_from_slice(b"8:rtorrent");
    old.extend_from_slice(&state.encode());
    old.push(b'e');
    vec![
        ("state".to_owned(), state.encode()),
        ("resume".to_owned(), resume.encode()),
        ("magnet".to_owned(), magnet.encode()),
        ("inside".to_owned(), old),
    ]
}
