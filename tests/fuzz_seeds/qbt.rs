//! Seeds for `qbt_resume`: `.fastresume` files as qBittorrent 4.5 writes them
//! (libtorrent's resume data with the `qBt-` keys).

use seedring::bencode::OwnedValue;

fn list(items: &[&str]) -> OwnedValue {
    OwnedValue::List(items.iter().map(|s| (*s).into()).collect())
}

/// A torrent placed by hand, one under automatic management with renamed
/// files and priorities, and a magnet link without metadata.
pub fn resume() -> super::Seeds {
    let mut by_hand = OwnedValue::dict();
    by_hand.insert("save_path", "/srv/data");
    by_hand.insert("qBt-savePath", "/srv/data");
    by_hand.insert("qBt-category", "tv");
    by_hand.insert("qBt-tags", list(&["a", "b"]));
    by_hand.insert("qBt-name", "Shown");
    by_hand.insert("qBt-ratioLimit", 1500);
    by_hand.insert("qBt-seedingTimeLimit", -1);
    by_hand.insert("paused", 1);
    by_hand.insert("auto_managed", 0);
    by_hand.insert("upload_rate_limit", 1000);
    by_hand.insert("pieces", vec![1u8, 1]);
    by_hand.insert("info-hash", vec![7u8; 20]);
    by_hand.insert("name", "album");
    by_hand.insert(
        "trackers",
        OwnedValue::List(vec![list(&["http://127.0.0.1:1/a", "udp://127.0.0.1:2"])]),
    );
    let mut managed = by_hand.clone();
    if let OwnedValue::Dict(d) = &mut managed {
        d.remove(b"qBt-savePath".as_slice());
    }
    managed.insert("mapped_files", list(&["", "album/sub/b.bin"]));
    managed.insert("file_priority", OwnedValue::List(vec![0.into(), 7.into()]));
    managed.insert("qBt-downloadPath", "/srv/incoming");
    let mut magnet = OwnedValue::dict();
    magnet.insert("save_path", "/srv/data/sub");
    magnet.insert("info-hash", vec![0xabu8; 20]);
    magnet.insert("info-hash2", vec![0u8; 32]);
    magnet.insert("name", "waiting");
    magnet.insert(
        "trackers",
        OwnedValue::List(vec![list(&["http://127.0.0.1:1/m"])]),
    );
    [
        ("by-hand", by_hand),
        ("managed", managed),
        ("magnet", magnet),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v.encode()))
    .collect()
}
