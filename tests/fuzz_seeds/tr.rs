//! Seeds for `tr_resume`: `.resume` files as Transmission 3.00 writes them
//! (one left as it came, one the user changed), and a magnet link's
//! `.torrent`.

use seedring::bencode::OwnedValue;

fn ints(v: &[i64]) -> OwnedValue {
    OwnedValue::List(v.iter().map(|&i| i.into()).collect())
}

fn limit(key: &str, mode: i64, value: OwnedValue) -> OwnedValue {
    let mut d = OwnedValue::dict();
    d.insert(&format!("{key}-limit"), value);
    d.insert(&format!("{key}-mode"), mode);
    d
}

fn speed(on: i64) -> OwnedValue {
    let mut d = OwnedValue::dict();
    d.insert("speed-Bps", 100_000);
    d.insert("use-speed-limit", on);
    d.insert("use-global-speed-limit", 1);
    d
}

/// Plain, changed by the user (names, labels, limits, priorities, paused,
/// unfinished in the incomplete folder), and a magnet's `.torrent`.
pub fn resume() -> super::Seeds {
    let mut plain = OwnedValue::dict();
    plain.insert("destination", "/srv/dl");
    plain.insert("name", "album");
    plain.insert("paused", 0);
    plain.insert("dnd", ints(&[0, 0]));
    plain.insert("priority", ints(&[0, 0]));
    plain.insert(
        "files",
        OwnedValue::List(vec!["album/a.bin".into(), "album/b.bin".into()]),
    );
    plain.insert("ratio-limit", limit("ratio", 0, "2.000000".into()));
    plain.insert("idle-limit", limit("idle", 0, 30.into()));
    plain.insert("speed-limit-up", speed(0));
    plain.insert("speed-limit-down", speed(0));
    let mut progress = OwnedValue::dict();
    progress.insert("have", "all");
    plain.insert("progress", progress);
    let mut changed = plain.clone();
    changed.insert("name", "Album X");
    changed.insert(
        "files",
        OwnedValue::List(vec!["Album X/a2.bin".into(), "Album X/b.bin".into()]),
    );
    changed.insert("labels", OwnedValue::List(vec!["tv".into(), "hd".into()]));
    changed.insert("paused", 1);
    changed.insert("dnd", ints(&[1, 0]));
    changed.insert("priority", ints(&[-1, 1]));
    changed.insert("ratio-limit", limit("ratio", 1, "1.500000".into()));
    changed.insert("idle-limit", limit("idle", 2, 30.into()));
    changed.insert("speed-limit-up", speed(1));
    changed.insert("incomplete-dir", "/srv/incoming");
    let mut partial = OwnedValue::dict();
    partial.insert("have", vec![0x80u8]);
    changed.insert("progress", partial);
    let mut info = OwnedValue::dict();
    info.insert("display-name", "waiting");
    info.insert("info_hash", vec![0xefu8; 20]);
    let mut magnet = OwnedValue::dict();
    magnet.insert("announce", "http://127.0.0.1:1/m");
    magnet.insert("magnet-info", info);
    [("plain", plain), ("changed", changed), ("magnet", magnet)]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.encode()))
        .collect()
}
