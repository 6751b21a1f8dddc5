//! The fuzz targets' seeds: a few valid inputs of each kind, made with
//! seedring's own encoders, so the fuzzer starts past the first checks.

use seedring::bencode::OwnedValue;
use seedring::core::Bitfield;
use seedring::core::record::{self, FileStamp, PeerRecord, StateRecord};
use seedring::fuzz::peer::{PEER_ID, torrent};
use seedring::metainfo::{CreateLayout, CreateOptions, build_torrent};
use seedring::proto::ext::{ExtHandshake, UT_METADATA_ID, UtMetadata};
use seedring::proto::pex::{FLAG_REACHABLE, FLAG_SEED, Pex, UT_PEX_ID};
use seedring::proto::{BlockRequest, Handshake, Message};

mod de;
mod qbt;
mod rt;
mod tr;

type Seeds = Vec<(String, Vec<u8>)>;

/// Every target's seeds, by target name.
pub fn all() -> Vec<(&'static str, Seeds)> {
    vec![
        ("bencode", bencode()),
        ("metainfo", torrents()),
        ("path", path()),
        ("magnet", magnet()),
        ("wire", wire()),
        ("ext", ext()),
        (
            "pex",
            named(vec![pex_message().encode(), Pex::default().encode()]),
        ),
        ("krpc", krpc()),
        ("lsd", lsd()),
        (
            "ipfilter",
            named(vec![
                b"001.002.003.000 - 001.002.003.255 , 000 , eMule\n".to_vec(),
                b"# p2p\nSome org:10.0.0.0-10.0.255.255\n".to_vec(),
                b"192.168.0.0/16\n2001:db8::/32\n8.8.8.8\n::1 - ::ff\n".to_vec(),
            ]),
        ),
        ("mse", mse()),
        ("tracker_http", tracker_http()),
        ("tracker_udp", tracker_udp()),
        ("record", records()),
        ("config", config()),
        ("peer", peer(false)),
        ("peer_raw", peer(true)),
        ("api", api()),
        ("qbt_resume", qbt::resume()),
        ("rt_session", rt::session()),
        ("tr_resume", tr::resume()),
        ("deluge_state", de::state()),
    ]
}

fn named(items: Vec<Vec<u8>>) -> Seeds {
    items
        .into_iter()
        .enumerate()
        .map(|(i, b)| (format!("seed-{i:02}"), b))
        .collect()
}

fn options() -> CreateOptions {
    CreateOptions {
        trackers: vec![
            "http://127.0.0.1:6969/announce".into(),
            "udp://127.0.0.1:6969".into(),
        ],
        web_seeds: vec!["http://127.0.0.1:8000/files/".into()],
        comment: Some("seed".into()),
        created_by: Some("seedring fuzz seeds".into()),
        creation_date: Some(1_700_000_000),
        ..CreateOptions::default()
    }
}

fn torrent_files() -> Vec<Vec<u8>> {
    let single = CreateLayout {
        name: "one.bin".into(),
        files: None,
        length: 40_000,
    };
    let multi = CreateLayout {
        name: "album".into(),
        files: Some(vec![
            (vec!["cd1".into(), "01.flac".into()], 20_000),
            (vec!["cd1".into(), "02.flac".into()], 1),
            (vec!["cover.jpg".into()], 16_383),
        ]),
        length: 36_384,
    };
    let mut out = Vec::new();
    for layout in [single, multi] {
        let n = usize::try_from(layout.length.div_ceil(16_384)).expect("small");
        let pieces = vec![[7u8; 20]; n];
        let (bytes, _) = build_torrent(&layout, 16_384, &pieces, &options()).expect("a torrent");
        out.push(bytes);
        let (plain, _) =
            build_torrent(&layout, 16_384, &pieces, &CreateOptions::default()).expect("a torrent");
        out.push(plain);
    }
    out
}

fn bencode() -> Seeds {
    let mut v: Vec<Vec<u8>> = [
        &b"i42e"[..],
        b"i-7e",
        b"0:",
        b"4:spam",
        b"le",
        b"de",
        b"l4:spami3ee",
        b"d3:bar4:spam3:fooi42ee",
        b"d1:ad1:bl1:cd1:di0eeeee",
    ]
    .iter()
    .map(|b| b.to_vec())
    .collect();
    v.extend(torrent_files());
    named(v)
}

fn torrents() -> Seeds {
    let mut v = torrent_files();
    // A pad file, an executable and a symlink (BEP 47).
    let mut info = OwnedValue::dict();
    info.insert("name", OwnedValue::Bytes(b"attrs".to_vec()));
    info.insert("piece length", OwnedValue::Int(16_384));
    info.insert("pieces", OwnedValue::Bytes(vec![1; 40]));
    let file = |path: &[&str], len: i64, attr: &str| {
        let mut f = OwnedValue::dict();
        f.insert("length", OwnedValue::Int(len));
        f.insert(
            "path",
            OwnedValue::List(
                path.iter()
                    .map(|p| OwnedValue::Bytes(p.as_bytes().to_vec()))
                    .collect(),
            ),
        );
        if !attr.is_empty() {
            f.insert("attr", OwnedValue::Bytes(attr.as_bytes().to_vec()));
        }
        f
    };
    info.insert(
        "files",
        OwnedValue::List(vec![
            file(&["a.bin"], 10_000, "x"),
            file(&[".pad", "6384"], 6_384, "p"),
            file(&["b", "link"], 0, "l"),
            file(&["b", "c.txt"], 16_384, "h"),
        ]),
    );
    let mut t = OwnedValue::dict();
    t.insert(
        "announce",
        OwnedValue::Bytes(b"http://127.0.0.1:1/a".to_vec()),
    );
    t.insert("info", info);
    v.push(t.encode());
    named(v)
}

fn path() -> Seeds {
    let items = [
        "file.txt",
        "..",
        ".",
        "C:evil",
        "a/b\\c",
        "名前.mkv",
        "con",
        ".hidden",
    ];
    let mut v: Vec<Vec<u8>> = items.iter().map(|s| s.as_bytes().to_vec()).collect();
    v.push(format!("{}.extension", "x".repeat(300)).into_bytes());
    named(v)
}

fn magnet() -> Seeds {
    let ih = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
    let v = [
        format!("magnet:?xt=urn:btih:{ih}"),
        format!(
            "magnet:?xt=urn:btih:{ih}&dn=A%20Name&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&tr=udp://127.0.0.1:1"
        ),
        format!("magnet:?xt=urn:btih:{ih}&x.pe=127.0.0.1:6881&x.pe=[::1]:6881&so=0,2-4,7"),
        "magnet:?xt=urn:btih:YEX6BQDLXISUVHOJ6UM3GNNKPQJWPKEK".into(),
        format!("magnet:?xt=urn:btmh:1220{ih}{ih}"),
    ];
    named(v.into_iter().map(String::into_bytes).collect())
}

fn all_messages() -> Vec<Message> {
    let r = BlockRequest {
        piece: 1,
        offset: 16_384,
        len: 16_384,
    };
    vec![
        Message::KeepAlive,
        Message::Choke,
        Message::Unchoke,
        Message::Interested,
        Message::NotInterested,
        Message::Have(3),
        Message::Bitfield(vec![0xf0]),
        Message::Request(r),
        Message::Piece {
            piece: 0,
            offset: 0,
            data: vec![9; 64],
        },
        Message::Cancel(r),
        Message::Port(6881),
        Message::Suggest(2),
        Message::HaveAll,
        Message::HaveNone,
        Message::Reject(r),
        Message::AllowedFast(1),
        Message::Extended {
            id: 0,
            payload: ExtHandshake::ours("fuzz", 1, 250, Some(100)).encode(),
        },
    ]
}

fn wire() -> Seeds {
    let mut stream = Vec::new();
    for m in all_messages() {
        stream.push(40); // pieces of 41 bytes
        m.encode_into(&mut stream);
    }
    let mut fixed = Vec::new();
    for m in all_messages() {
        m.encode_into(&mut fixed);
    }
    // Chunk lengths of 255 (256 bytes each).
    let chunked: Vec<u8> = fixed
        .chunks(256)
        .flat_map(|c| [&[255][..], c].concat())
        .collect();
    named(vec![
        [&[3u8][..], &stream].concat(),
        [&[3u8][..], &chunked].concat(),
        [&[0u8][..], &chunked].concat(),
    ])
}

fn ext() -> Seeds {
    let mut h = ExtHandshake::ours("seedring 0.1", 6881, 500, Some(31_337));
    h.yourip = Some(vec![127, 0, 0, 1]);
    let v = vec![
        h.encode(),
        ExtHandshake::default().encode(),
        UtMetadata::Request { piece: 0 }.encode(),
        UtMetadata::Data {
            piece: 1,
            total_size: 20_000,
            data: vec![b'x'; 40],
        }
        .encode(),
        UtMetadata::Reject { piece: 2 }.encode(),
    ];
    named(v)
}

fn tracker_http() -> Seeds {
    let compact = [127, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0x1a, 0xe2];
    let mut ok = OwnedValue::dict();
    ok.insert("interval", OwnedValue::Int(1800));
    ok.insert("min interval", OwnedValue::Int(60));
    ok.insert("complete", OwnedValue::Int(5));
    ok.insert("incomplete", OwnedValue::Int(2));
    ok.insert("peers", OwnedValue::Bytes(compact.to_vec()));
    ok.insert(
        "peers6",
        OwnedValue::Bytes([[0u8; 15].as_slice(), &[1, 0x1a, 0xe1]].concat()),
    );
    ok.insert("warning message", OwnedValue::Bytes(b"slow down".to_vec()));
    let mut dict_peers = OwnedValue::dict();
    dict_peers.insert("interval", OwnedValue::Int(900));
    let mut p = OwnedValue::dict();
    p.insert("ip", OwnedValue::Bytes(b"127.0.0.1".to_vec()));
    p.insert("port", OwnedValue::Int(6881));
    p.insert("peer id", OwnedValue::Bytes(vec![b'A'; 20]));
    dict_peers.insert("peers", OwnedValue::List(vec![p]));
    let mut fail = OwnedValue::dict();
    fail.insert(
        "failure reason",
        OwnedValue::Bytes(b"unregistered torrent".to_vec()),
    );
    let mut scrape = OwnedValue::dict();
    let mut counts = OwnedValue::dict();
    counts.insert("complete", OwnedValue::Int(3));
    counts.insert("downloaded", OwnedValue::Int(30));
    counts.insert("incomplete", OwnedValue::Int(1));
    let mut files = OwnedValue::Dict(Default::default());
    if let OwnedValue::Dict(d) = &mut files {
        d.insert(vec![7; 20], counts);
    }
    scrape.insert("files", files);
    named(vec![
        ok.encode(),
        dict_peers.encode(),
        fail.encode(),
        scrape.encode(),
    ])
}

fn tracker_udp() -> Seeds {
    let tx = 0x1234_5678u32;
    let head = |action: u32| [action.to_be_bytes(), tx.to_be_bytes()].concat();
    let connect = [head(0), 0x41727101980u64.to_be_bytes().to_vec()].concat();
    let announce = [
        head(1),
        1800u32.to_be_bytes().to_vec(),
        2u32.to_be_bytes().to_vec(),
        5u32.to_be_bytes().to_vec(),
        vec![127, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0x1a, 0xe2],
    ]
    .concat();
    let scrape = [head(2), [0, 0, 0, 3, 0, 0, 0, 30, 0, 0, 0, 1].to_vec()].concat();
    let error = [head(3), b"torrent not registered".to_vec()].concat();
    // The first byte is the target's flags: 0 IPv4, 1 IPv6 peers.
    let v4 = |b: &Vec<u8>| [&[0u8][..], b].concat();
    let announce6 = [
        head(1),
        vec![0; 12],
        [[0u8; 15].as_slice(), &[1, 0x1a, 0xe1]].concat(),
    ]
    .concat();
    named(vec![
        v4(&connect),
        v4(&announce),
        v4(&scrape),
        v4(&error),
        [&[1u8][..], &announce6].concat(),
    ])
}

fn records() -> Seeds {
    let mut have = Bitfield::new(11);
    have.set(0);
    have.set(10);
    let r = StateRecord {
        have,
        downloaded: 5 << 30,
        uploaded: 7,
        added_at: 1_700_000_000,
        completed_at: Some(1_700_000_100),
        root: "disk2".into(),
        paused: true,
        sequential: false,
        file_priorities: vec![1, 0, 7],
        download_limit: 100_000,
        upload_limit: 0,
        files: vec![
            Some(FileStamp {
                size: 10,
                mtime_ns: 1_700_000_000_123_456_789,
            }),
            None,
            Some(FileStamp {
                size: 0,
                mtime_ns: -5,
            }),
        ],
        name: "a name".into(),
        trackers: vec![vec!["http://127.0.0.1:1/a".into()], vec![]],
        web_seeds: vec!["http://127.0.0.1:2/files/".into()],
        labels: vec!["movies".into()],
        category: "tv/hd".into(),
        share: seedring::core::ShareLimits {
            ratio_milli: 1500,
            seeding_mins: -1,
            inactive_mins: 30,
        },
        share_action: Some(seedring::core::ShareAction::SuperSeed),
        seeding_secs: 7200,
        running_secs: 9_000,
        seen_complete: Some(1_700_000_600),
        active_at: Some(1_700_000_050),
        queue_pos: 12,
        forced: true,
        display_name: "Shown As".into(),
        first_last: true,
        manual: false,
        super_seeding: false,
        content_layout: seedring::metainfo::ContentLayout::NoSubfolder,
        renames: vec![(0, vec!["renamed".into(), "file.bin".into()])],
        finish_in: Some("disk1".into()),
        checking: false,
    };
    let peers = record::encode_peers(&[
        PeerRecord {
            addr: "127.0.0.1:6881".parse().expect("an address"),
            last_seen: 1_700_000_000,
        },
        PeerRecord {
            addr: "[::1]:6881".parse().expect("an address"),
            last_seen: 5,
        },
    ]);
    let meta = torrent();
    let layout = seedring::core::layout::encode_layout(&meta.info, meta.info_bytes.len() as u64);
    let mut catalog = OwnedValue::dict();
    let mut cats = OwnedValue::dict();
    cats.insert("tv", OwnedValue::Bytes(b"fuzz/tv".to_vec()));
    cats.insert("films", OwnedValue::Bytes(b"fuzz".to_vec()));
    catalog.insert("c", cats);
    catalog.insert(
        "t",
        OwnedValue::List(vec![OwnedValue::Bytes(b"hd".to_vec())]),
    );
    named(vec![r.encode(), peers, layout, catalog.encode()])
}

fn config() -> Seeds {
    let sample = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/seedring.toml"))
        .expect("the sample config");
    let small = b"data_dir = \"/tmp/x\"\n[peers]\nlisten = \"127.0.0.1:0\"\n\n[[roots]]\ntoken = \"a\"\npath = \"/tmp/a\"\ndefault = true\n".to_vec();
    named(vec![sample, small, Vec::new()])
}

/// The step that delivers `bytes` from the peer (in pieces of at most 192).
fn data_steps(bytes: &[u8]) -> Vec<u8> {
    bytes
        .chunks(192)
        .flat_map(|c| {
            let op = u8::try_from(c.len() - 1).expect("at most 192");
            [&[op][..], c].concat()
        })
        .collect()
}

fn messages(ms: &[Message]) -> Vec<u8> {
    let mut b = Vec::new();
    for m in ms {
        m.encode_into(&mut b);
    }
    b
}

/// The mode byte for a torrent state (0 seeding, 1 leeching, 2 magnet) and the
/// handshake's extension (0x10) and fast (0x20) bits.
fn mode(state: u8, bits: u8) -> u8 {
    (0..=255u8)
        .find(|b| b % 3 == state && b & 0x30 == bits)
        .expect("some byte")
}

fn peer(raw: bool) -> Seeds {
    let meta = torrent();
    let hs = |bits: u8| {
        let mut h = Handshake::new(meta.info_hash, PEER_ID);
        h.reserved[5] = if bits & 0x10 != 0 { 0x10 } else { 0 };
        h.reserved[7] = if bits & 0x20 != 0 { 0x04 } else { 0 };
        h.encode().to_vec()
    };
    let req = |piece, offset| {
        Message::Request(BlockRequest {
            piece,
            offset,
            len: 16_384,
        })
    };
    let tick: u8 = 192 + 9; // ten seconds
    let reads: u8 = 224;
    let sent: u8 = 240;
    let ext_hs = Message::Extended {
        id: 0,
        payload: {
            let mut h = ExtHandshake::ours("fuzz", 1, 250, Some(meta.info_bytes.len() as u64));
            h.m.insert("ut_metadata".into(), 3);
            h.m.insert("ut_pex".into(), 4);
            h.encode()
        },
    };
    let metadata = Message::Extended {
        id: UT_METADATA_ID,
        payload: UtMetadata::Data {
            piece: 0,
            total_size: meta.info_bytes.len() as u64,
            data: meta.info_bytes.clone(),
        }
        .encode(),
    };
    let pex = Message::Extended {
        id: UT_PEX_ID,
        payload: pex_message().encode(),
    };
    let block = |piece: u32, offset: u32| {
        let start = u64::from(piece) * 32 * 1024 + u64::from(offset);
        Message::Piece {
            piece,
            offset,
            data: (start..start + 16_384).map(|i| (i % 251) as u8).collect(),
        }
    };
    let cases: Vec<(u8, u8, Vec<u8>)> = vec![
        // Seeding: a leecher asks, we read, it cancels, time passes.
        (
            0,
            0x30,
            [
                data_steps(&messages(&[
                    Message::HaveNone,
                    Message::Interested,
                    req(0, 0),
                    req(1, 16_384),
                ])),
                vec![reads, sent, tick],
                data_steps(&messages(&[
                    Message::Cancel(BlockRequest {
                        piece: 1,
                        offset: 16_384,
                        len: 16_384,
                    }),
                    req(3, 0),
                ])),
                vec![reads, tick, tick, sent],
            ]
            .concat(),
        ),
        // Seeding, no fast extension: a bitfield, then requests out of range.
        (
            0,
            0x10,
            [
                data_steps(&messages(&[
                    Message::Bitfield(vec![0]),
                    Message::Interested,
                    ext_hs.clone(),
                    req(9, 0),
                    req(3, 32_000),
                ])),
                vec![reads, tick],
            ]
            .concat(),
        ),
        // Leeching: a seeder unchokes and sends the blocks asked for.
        (
            1,
            0x30,
            [
                data_steps(&messages(&[
                    ext_hs.clone(),
                    pex.clone(),
                    Message::HaveAll,
                    Message::Unchoke,
                ])),
                vec![tick],
                data_steps(&messages(&[block(0, 0), block(0, 16_384)])),
                vec![sent, tick],
            ]
            .concat(),
        ),
        // A magnet: the peer's extension handshake, then the metadata.
        (
            2,
            0x30,
            [
                data_steps(&messages(&[ext_hs, pex, Message::HaveAll])),
                vec![tick, sent],
                data_steps(&messages(&[metadata, Message::Unchoke])),
                vec![tick],
            ]
            .concat(),
        ),
    ];
    let items = cases
        .into_iter()
        .map(|(state, bits, steps)| {
            let mut v = vec![mode(state, bits)];
            if raw {
                v.extend(data_steps(&hs(bits)));
            }
            v.extend(steps);
            v
        })
        .collect();
    named(items)
}

fn api() -> Seeds {
    let (get, post, put, delete, patch) = (0x00u8, 0x10, 0x20, 0x30, 0x40);
    let (token, sid) = (1u8, 2u8);
    let torrent_file = torrent_files().remove(0);
    let multipart = [
        b"--XyZ\r\nContent-Disposition: form-data; name=\"torrents\"; filename=\"a.torrent\"\r\nContent-Type: application/x-bittorrent\r\n\r\n".to_vec(),
        torrent_file.clone(),
        b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\ntv\r\n--XyZ--\r\n".to_vec(),
    ]
    .concat();
    let ih = seedring::metainfo::Metainfo::from_bytes(&torrent_file)
        .expect("a torrent")
        .info_hash
        .to_hex();
    let req = |flags: u8, target: &str, headers: &str, body: &[u8]| {
        [
            &[flags][..],
            target.as_bytes(),
            b"\n",
            headers.as_bytes(),
            b"\n\n",
            body,
        ]
        .concat()
    };
    let form = "content-type: application/x-www-form-urlencoded";
    let json = "content-type: application/json";
    let v = vec![
        req(get | token, "/api/v1/torrents", "", b""),
        req(post | token, "/api/v1/torrents", "content-type: application/x-bittorrent", &torrent_file),
        req(post | token, "/api/v1/torrents", json, br#"{"magnet":"magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a","paused":true}"#),
        req(get | token, &format!("/api/v1/torrents/{ih}/files"), "", b""),
        req(put | token, &format!("/api/v1/torrents/{ih}/limits"), json, br#"{"download":1000,"upload":0}"#),
        req(put | token, &format!("/api/v1/torrents/{ih}/files"), json, br#"{"indexes":[0,2],"priority":7}"#),
        req(put | token, &format!("/api/v1/torrents/{ih}/name"), json, br#"{"name":"<b>x</b>"}"#),
        req(put | token, &format!("/api/v1/torrents/{ih}/share_limits"), json, br#"{"ratio_limit":2.5,"seeding_time_limit_mins":-1,"share_limit_action":"remove"}"#),
        req(get | token, &format!("/api/v1/torrents/{ih}/files/0"), "range: bytes=0-99", b""),
        req(patch | token, "/api/v1/settings", json, br#"{"download_limit":5000}"#),
        req(put | token, "/api/v1/categories/tv", json, br#"{"save_path":"fuzz/tv"}"#),
        req(delete | token, &format!("/api/v1/torrents/{ih}?delete_files=true"), "", b""),
        req(get, "/api/v1/stats", "", b""),
        req(get, "/", "", b""),
        req(get | token, "/metrics", "", b""),
        req(post, "/api/v2/auth/login", form, b"username=admin&password=wrong"),
        req(post | sid, "/api/v2/torrents/add", "content-type: multipart/form-data; boundary=XyZ", &multipart),
        req(get | sid, "/api/v2/torrents/info?filter=all&sort=name&reverse=true&limit=5&offset=0", "", b""),
        req(post | sid, "/api/v2/torrents/setCategory", form, format!("hashes={ih}&category=tv").as_bytes()),
        req(post | sid, "/api/v2/torrents/setShareLimits", form, format!("hashes={ih}&ratioLimit=2&seedingTimeLimit=-2&shareLimitAction=EnableSuperSeeding").as_bytes()),
        req(post | sid, "/api/v2/app/setPreferences", form, br#"json={"dl_limit":1024,"max_active_downloads":3}"#),
        req(get | sid, "/api/v2/sync/maindata?rid=0", "", b""),
        req(get | sid, &format!("/api/v2/torrents/files?hash={ih}"), "", b""),
        req(post | sid, "/api/v2/torrents/filePrio", form, format!("hash={ih}&id=0|1&priority=6").as_bytes()),
        req(post | sid, "/api/v2/torrents/delete", form, format!("hashes={ih}&deleteFiles=true").as_bytes()),
        req(get, "/api/v2/torrents/info", "", b""),
        req(get | sid | 8, "/api/v2/app/version", "referer: http://evil.example/", b""),
    ];
    named(v)
}

/// A peer exchange message with both families, flags and drops.
fn pex_message() -> Pex {
    Pex {
        added: vec![
            (
                "127.0.0.2:6881".parse().unwrap(),
                FLAG_SEED | FLAG_REACHABLE,
            ),
            ("203.0.113.9:51413".parse().unwrap(), 0),
            ("[2001:db8::1]:6881".parse().unwrap(), FLAG_SEED),
        ],
        dropped: vec![
            "127.0.0.3:6881".parse().unwrap(),
            "[2001:db8::2]:7000".parse().unwrap(),
        ],
        cut: 0,
    }
}

/// DHT packets: each kind alone, and a stream of them for the node (sender,
/// length, bytes; `0xff` a tick).
fn krpc() -> Seeds {
    use seedring::dht::NodeId;
    use seedring::dht::krpc::{Body, NodeInfo, Packet, Query};
    let id = NodeId([3; 20]);
    let q = |query| Packet {
        tid: b"aa".to_vec(),
        body: Body::Query {
            id,
            query,
            read_only: false,
        },
        ip: None,
    };
    let packets = [
        q(Query::Ping),
        q(Query::FindNode {
            target: NodeId([9; 20]),
        }),
        q(Query::GetPeers {
            info_hash: NodeId([7; 20]),
        }),
        q(Query::AnnouncePeer {
            info_hash: NodeId([7; 20]),
            port: 6881,
            implied_port: false,
            token: vec![1; 8],
        }),
        Packet {
            tid: vec![0, 1],
            body: Body::Response {
                id,
                nodes: vec![NodeInfo {
                    id: NodeId([4; 20]),
                    addr: "203.0.113.4:6881".parse().unwrap(),
                }],
                values: vec!["203.0.113.5:51413".parse().unwrap()],
                token: Some(vec![2; 8]),
            },
            ip: Some("203.0.113.1:6881".parse().unwrap()),
        },
        Packet {
            tid: vec![0, 2],
            body: Body::Error {
                code: 203,
                message: "bad token".into(),
            },
            ip: None,
        },
    ];
    let mut v: Vec<Vec<u8>> = packets.iter().map(Packet::encode).collect();
    let mut stream = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let b = p.encode();
        stream.push(u8::try_from(i % 3).unwrap());
        stream.push(u8::try_from(b.len()).unwrap());
        stream.extend(b);
        stream.push(0xff);
    }
    v.push(stream);
    named(v)
}

/// Local service discovery datagrams: ours, and another client's spelling.
fn lsd() -> Seeds {
    use seedring::proto::lsd::{LSD_V4, LSD_V6, LsdAnnounce};
    let ours = LsdAnnounce {
        port: 6881,
        info_hashes: vec![seedring::InfoHash([0xab; 20]), seedring::InfoHash([1; 20])],
        cookie: Some("0123456789ab".into()),
    };
    named(vec![
        ours.encode(LSD_V4),
        ours.encode(LSD_V6),
        b"BT-SEARCH * HTTP/1.1\r\nhost: 239.192.152.143:6771\r\nport: 51413\r\ninfohash: ABABABABABABABABABABABABABABABABABABABAB\r\n\r\n\r\n".to_vec(),
    ])
}

/// MSE: a real dialler's first step to the answering end, an answerer's first
/// step to the dialling end, and edits of a real handshake (none, one in each
/// direction's padding, one in the dialler's public key).
fn mse() -> Seeds {
    use seedring::proto::mse::{Initiator, KeyPair};
    let (_, step1) = Initiator::start(
        [9; 20],
        seedring::InfoHash([0x42; 20]),
        3,
        vec![],
        &[],
        vec![],
    );
    let chunked = |mode: u8, bytes: &[u8]| {
        let mut v = vec![mode];
        for part in bytes.chunks(200) {
            v.push(u8::try_from(part.len() - 1).unwrap());
            v.extend_from_slice(part);
        }
        v
    };
    let mut yb = KeyPair::new([8; 20]).public.to_vec();
    yb.extend_from_slice(&[0; 40]);
    named(vec![
        chunked(0, &step1),
        chunked(1, &yb),
        vec![2],
        vec![2, 0, 100, 0xff, 0x80, 100, 0x01],
        vec![2, 0, 3, 0x10],
    ])
}
