//! Seeds for `deluge_state`: the `torrents.state` Deluge 2.0.3 wrote for a
//! seeding torrent it was told to stop at a ratio (`deluge-2.0.3.state`),
//! a `torrents.fastresume` of two torrents and a `label.conf`.

use seedring::bencode::OwnedValue;

pub fn state() -> super::Seeds {
    let mut resume = OwnedValue::dict();
    resume.insert("save_path", "/srv/deluge");
    resume.insert("paused", 1);
    resume.insert("pieces", vec![1u8, 1]);
    resume.insert("file_priority", OwnedValue::List(vec![4.into(), 0.into()]));
    resume.insert("upload_rate_limit", 51_200);
    let mut fastresume = OwnedValue::dict();
    fastresume.insert("0ee097fb014ec38c452328c1837d6d5cabb7dbad", resume.encode());
    fastresume.insert("07".repeat(20).as_str(), resume);
    let labels = concat!(
        "{\"file\": 1, \"format\": 1}",
        "{\"labels\": {\"tv\": {}}, \"torrent_labels\": ",
        "{\"0ee097fb014ec38c452328c1837d6d5cabb7dbad\": \"tv\"}}"
    );
    vec![
        (
            "deluge-2.0.3.state".into(),
            include_bytes!("deluge-2.0.3.state").to_vec(),
        ),
        ("fastresume".into(), fastresume.encode()),
        ("label.conf".into(), labels.as_bytes().to_vec()),
    ]
}
