use super::*;
use crate::bencode::OwnedValue;
use crate::migrate::pickle::{MAX_DEPTH, PickleError, load};

/// Deluge 2.0.3's `torrents.state` for one seeding torrent it was told to
/// stop at ratio 2.5, with a 50 KiB/s upload cap, paused (written by Deluge
/// itself; the fuzz target's seed too).
const DELUGE_STATE: &[u8] = include_bytes!("../../tests/fuzz_seeds/deluge-2.0.3.state");
const DELUGE_ID: &str = "0ee097fb014ec38c452328c1837d6d5cabb7dbad";

/// A pickle as Python's protocol 2 writes an object of `class` with `state`.
struct Writer(Vec<u8>);

enum V<'a> {
    S(&'a str),
    I(i32),
    F(f64),
    B(bool),
    L(Vec<V<'a>>),
    D(Vec<(&'a str, V<'a>)>),
    Obj(&'a str, Vec<(&'a str, V<'a>)>),
}

impl Writer {
    fn value(&mut self, v: &V<'_>) {
        match v {
            V::S(s) => {
                self.0.push(b'X');
                self.0.extend(u32::try_from(s.len()).unwrap().to_le_bytes());
                self.0.extend(s.as_bytes());
            }
            V::I(i) => {
                self.0.push(b'J');
                self.0.extend(i.to_le_bytes());
            }
            V::F(f) => {
                self.0.push(b'G');
                self.0.extend(f.to_be_bytes());
            }
            V::B(b) => self.0.push(if *b { 0x88 } else { 0x89 }),
            V::L(items) => {
                self.0.extend(b"](");
                for i in items {
                    self.value(i);
                }
                self.0.push(b'e');
            }
            V::D(pairs) => self.dict(pairs),
            V::Obj(class, state) => {
                self.0.push(b'c');
                self.0.extend(class.replace(' ', "\n").as_bytes());
                self.0.extend(b"\n)\x81");
                self.dict(state);
                self.0.push(b'b');
            }
        }
    }

    fn dict(&mut self, pairs: &[(&str, V<'_>)]) {
        self.0.extend(b"}(");
        for (k, v) in pairs {
            self.value(&V::S(k));
            self.value(v);
        }
        self.0.push(b'u');
    }

    fn pickle(v: &V<'_>) -> Vec<u8> {
        let mut w = Writer(vec![0x80, 2]);
        w.value(v);
        w.0.push(b'.');
        w.0
    }
}

/// Deluge's state of torrents `(id, options)`.
fn state(torrents: Vec<(&str, Vec<(&str, V<'_>)>)>) -> Vec<u8> {
    let list = torrents
        .into_iter()
        .map(|(id, mut opts)| {
            opts.insert(0, ("torrent_id", V::S(id)));
            V::Obj("deluge.core.torrentmanager TorrentState", opts)
        })
        .collect();
    Writer::pickle(&V::Obj(
        "deluge.core.torrentmanager TorrentManagerState",
        vec![("torrents", V::L(list))],
    ))
}

/// What libtorrent 2.0 saves under Deluge for the two-file album: `have`
/// of its two pieces, file priorities as Deluge sets them.
fn resume(have: [u8; 2], priorities: [i64; 2], paused: bool) -> Vec<u8> {
    let mut d = OwnedValue::dict();
    d.insert("save_path", "/srv/deluge");
    d.insert("paused", i64::from(paused));
    d.insert("auto_managed", i64::from(!paused));
    d.insert("upload_rate_limit", 51_200);
    d.insert("download_rate_limit", 0);
    d.insert("pieces", have.to_vec());
    d.insert(
        "file_priority",
        OwnedValue::List(priorities.iter().map(|&p| p.into()).collect()),
    );
    d.insert("trackers", OwnedValue::List(Vec::new()));
    d.insert("info-hash", vec![7u8; 20]);
    d.insert("name", "album");
    d.insert("total_uploaded", 5_000);
    d.insert("added_time", 1_700_000_000);
    d.encode()
}

/// `torrents.fastresume`: each torrent's resume data, as bytes, by id.
fn fastresume(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut d = OwnedValue::dict();
    for (id, r) in entries {
        d.insert(id, r.clone());
    }
    d.encode()
}

fn album() -> Vec<u8> {
    crate::fuzz::migrate::album(&[])
}

#[test]
fn deluges_own_state_file_is_read() {
    let o = options(DELUGE_STATE).unwrap();
    let got = &o[DELUGE_ID];
    assert_eq!(got.stop_ratio, Some(2.5));
    assert_eq!(got.paused, Some(true));
    assert_eq!((got.name.as_str(), &got.move_completed), ("", &None));
    assert!(!got.first_last);
    // The whole of it, as data: classes by name, their state.
    let root = load(DELUGE_STATE).unwrap();
    let Py::Object(class, _) = &root else {
        panic!("{root:?}")
    };
    assert_eq!(class, "deluge.core.torrentmanager TorrentManagerState");
    let t = &root.get("torrents").and_then(Py::as_list).unwrap()[0];
    assert_eq!(t.get("file_priorities"), Some(&Py::List(vec![Py::Int(4)])));
    assert_eq!(t.get("max_upload_speed"), Some(&Py::Float(50.0)));
    assert_eq!(t.get("magnet"), Some(&Py::None));
}

#[test]
fn a_torrent_comes_with_its_label_ratio_name_and_priorities() {
    let id = "07".repeat(20);
    let st = state(vec![(
        &id,
        vec![
            ("paused", V::B(false)),
            ("stop_at_ratio", V::B(true)),
            ("stop_ratio", V::F(1.5)),
            ("remove_at_ratio", V::B(true)),
            ("name", V::S("My Album")),
            ("prioritize_first_last", V::B(true)),
            ("move_completed", V::B(true)),
            ("move_completed_path", V::S("/srv/done")),
            ("queue", V::I(-1)),
            ("trackers", V::L(vec![V::D(vec![("tier", V::I(0))])])),
        ],
    )]);
    let labels = format!(
        "{{\"file\": 1, \"format\": 1}}{{\"labels\": {{}}, \"torrent_labels\": {{\"{id}\": \"tv\"}}}}"
    );
    let resumed = resume([1, 1], [0, 7], true);
    let fr = fastresume(&[(&id, resumed)]);
    let s = read(&fr, Some(&st), Some(labels.as_bytes())).unwrap();
    assert!(s.notes.is_empty(), "{:?}", s.notes);
    assert_eq!(s.torrents.len(), 1);
    let p = plan(&s.torrents[0], Some(&album())).unwrap();
    let a = p.add.as_object().unwrap();
    assert_eq!(a["category"], "tv");
    assert_eq!(a["ratio_limit"], 1.5);
    assert_eq!(a["share_limit_action"], "remove");
    assert_eq!(
        (a["name"].as_str(), p.name.as_str()),
        (Some("My Album"), "My Album")
    );
    assert_eq!(a["first_last"], true);
    assert_eq!(a["upload_limit"], 51_200);
    assert_eq!(a["uploaded"], 5_000);
    assert_eq!(p.priorities, Some(vec![0, 6]), "skipped, and high");
    // Stopped in libtorrent's data, running in Deluge's: Deluge's says.
    assert!(!p.paused);
    // Complete: where it is, whatever its move-completed folder says.
    assert_eq!(p.save_path, "/srv/deluge");
    assert_eq!(a["incomplete"], false);
}

#[test]
fn an_unfinished_torrent_goes_to_its_move_completed_folder_when_it_finishes() {
    let id = "07".repeat(20);
    let st = state(vec![(
        &id,
        vec![
            ("move_completed", V::B(true)),
            ("move_completed_path", V::S("/srv/done/")),
            ("paused", V::B(true)),
        ],
    )]);
    let fr = fastresume(&[(&id, resume([1, 0], [4, 1], false))]);
    let s = read(&fr, Some(&st), None).unwrap();
    let p = plan(&s.torrents[0], Some(&album())).unwrap();
    let a = p.add.as_object().unwrap();
    assert_eq!(
        (a["save_path"].as_str(), a["download_path"].as_str()),
        (Some("/srv/done"), Some("/srv/deluge"))
    );
    assert!(a.get("incomplete").is_none());
    assert_eq!(p.save_path, "/srv/done");
    assert_eq!(p.priorities, None, "normal and low are normal here");
    assert!(p.paused);
    assert!(a.get("category").is_none());
}

#[test]
fn a_damaged_state_or_label_file_is_said_and_left_out() {
    let id = "07".repeat(20);
    let fr = fastresume(&[(&id, resume([1, 1], [4, 4], true))]);
    let s = read(&fr, Some(b"\x80\x02}q\x00"), Some(b"{}")).unwrap();
    assert_eq!(s.notes.len(), 2, "{:?}", s.notes);
    assert!(s.notes[0].starts_with("torrents.state is not readable (it ends early)"));
    assert!(s.notes[1].starts_with("label.conf is not readable"));
    let p = plan(&s.torrents[0], Some(&album())).unwrap();
    assert!(p.paused, "libtorrent's data says");
    assert!(read(b"not bencode", None, None).is_err());
}

/// Python 2's byte strings (Deluge 1.3's state) read as text.
#[test]
fn python_2_strings_are_text() {
    let p = b"\x80\x02}q\x00(U\x04nameq\x01T\x03\x00\x00\x00abcq\x02u.";
    assert_eq!(load(p).unwrap().get("name"), Some(&Py::Str("abc".into())));
}

#[test]
fn a_hostile_pickle_is_refused_not_followed() {
    assert_eq!(load(b""), Err(PickleError::Truncated));
    assert_eq!(
        load(b"\x80\x02X\xff\xff\xff\x7f"),
        Err(PickleError::Truncated)
    );
    // A class is never called: REDUCE makes data, and an unknown opcode is
    // refused.
    let reduce = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.";
    assert_eq!(
        load(reduce),
        Ok(Py::Object("os system".into(), Box::new(Py::None)))
    );
    assert!(matches!(
        load(b"\x80\x02i"),
        Err(PickleError::Opcode(b'i', 2))
    ));
    assert!(matches!(load(b"a."), Err(PickleError::Malformed(0))));
    // Nested past the limit.
    let mut deep = b"\x80\x02".to_vec();
    deep.extend(std::iter::repeat_n(b"](", MAX_DEPTH + 1).flatten());
    deep.extend(std::iter::repeat_n(b'e', MAX_DEPTH + 1));
    deep.push(b'.');
    assert_eq!(load(&deep), Err(PickleError::TooLarge));
    // A memo bomb: a list of the list before it, twice, forty times.
    let mut bomb = b"\x80\x02]q\x00".to_vec();
    for i in 0..40u8 {
        bomb.extend([b'h', i, b'h', i, 0x86, b'q', i + 1]);
    }
    bomb.push(b'.');
    assert_eq!(load(&bomb), Err(PickleError::TooLarge));
}
