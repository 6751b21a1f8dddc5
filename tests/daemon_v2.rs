//! A v2-only torrent in the daemon: added over the API (its v2 hash shown,
//! its id the hash's first 20 bytes), seeding; killed and started again it
//! comes back from LMDB seeding without a recheck, with its v2 hash; a
//! recheck reads its piece roots back from the store and passes; one byte
//! changed on disk and rechecked, one piece is missing from what it has. A
//! peer's hash request for a piece's blocks (below the piece layer) is read
//! from the files and answered with a proof to the file's root.
// Real processes take real time: the test waits on the wall clock.
#![allow(clippy::disallowed_methods)]

mod daemon_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use daemon_common::{Daemon, cli_common};
use seedring::hash::merkle::check_answer;
use seedring::metainfo::Metainfo;
use seedring::proto::{Handshake, HashRange, Message, MessageDecoder};
use serde_json::Value;

#[test]
fn a_v2_only_torrent_seeds_survives_a_kill_and_rechecks() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let data: Vec<u8> = (0..3_000_000u64)
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[2])
        .collect();
    std::fs::write(src.join("film.mkv"), &data).unwrap();
    let t = cli_common::create(
        &src.join("film.mkv"),
        &dir.path().join("film.torrent"),
        &["--v2", "--piece-length", "64K"],
    );
    let bytes = std::fs::read(&t).unwrap();
    let meta = Metainfo::from_bytes(&bytes).unwrap();
    assert!(meta.is_v2_only());
    let v2 = meta.v2.as_ref().unwrap().info_hash_hex();
    let id = meta.info_hash.to_hex();
    assert_eq!(id, v2[..40]);
    let pieces = u64::from(meta.info.geometry.piece_count());
    {
        let d = Daemon::start(dir.path(), "");
        std::fs::write(dir.path().join("downloads/film.mkv"), &data).unwrap();
        let added: Value = d.add_torrent(&bytes, "").json().unwrap();
        assert_eq!(added["id"], id.as_str());
        let t = d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
        assert_eq!(t["info_hash_v2"], v2.as_str());
        assert_eq!(t["pieces"], pieces);
        std::thread::sleep(Duration::from_millis(1500));
        d.signal("KILL");
    }
    let d = Daemon::start(dir.path(), "");
    let t = d.get_json(&format!("/torrents/{id}"));
    assert_eq!(t["state"], "seeding", "no recheck needed: {t}");
    assert_eq!(t["info_hash_v2"], v2.as_str(), "{t}");
    // Restored complete, it holds no hashes: the recheck reads the piece roots
    // back from the store and passes.
    assert!(
        d.post(&format!("/torrents/{id}/recheck"))
            .status()
            .is_success()
    );
    d.wait_for(&id, "seeding after the recheck", |t| {
        t["state"] == "seeding" && t["have_pieces"] == pieces
    });
    // One byte changed: rechecked, exactly one piece is no longer had.
    let path = dir.path().join("downloads/film.mkv");
    let mut bad = data.clone();
    bad[1_500_000] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    assert!(
        d.post(&format!("/torrents/{id}/recheck"))
            .status()
            .is_success()
    );
    let t = d.wait_for(&id, "one piece short after the recheck", |t| {
        t["state"] != "checking" && t["have_pieces"] == pieces - 1
    });
    assert_eq!(t["have_pieces"], pieces - 1, "{t}");
}

/// What the daemon at `peers` answers a peer's hash `request` for torrent
/// `meta` (after the handshake): hashes or a reject.
fn ask_hashes(peers: &str, meta: &Metainfo, request: HashRange) -> Message {
    let mut s = TcpStream::connect(peers).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let hs = Handshake::new(meta.info_hash, *b"-XX0001-hashrequests");
    s.write_all(&hs.encode()).unwrap();
    let mut back = [0u8; 68];
    let until = Instant::now() + Duration::from_secs(20);
    let mut got = 0;
    while got < back.len() {
        assert!(Instant::now() < until, "no handshake back");
        match s.read(&mut back[got..]) {
            Ok(0) => panic!("closed before the handshake"),
            Ok(n) => got += n,
            Err(_) => {}
        }
    }
    s.write_all(&Message::HashRequest(request).encode())
        .unwrap();
    let mut dec = MessageDecoder::new(1 << 20, true, true);
    let mut buf = [0u8; 65536];
    while Instant::now() < until {
        match s.read(&mut buf) {
            Ok(0) => panic!("closed before answering"),
            Ok(n) => dec.feed(&buf[..n]),
            Err(_) => continue,
        }
        while let Ok(Some(m)) = dec.next_message() {
            if matches!(m, Message::Hashes { .. } | Message::HashReject(_)) {
                return m;
            }
        }
    }
    panic!("no answer to the hash request");
}

#[test]
fn a_pieces_block_hashes_are_read_from_disk_and_proved() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    // 40 pieces of 64 KiB (four blocks each): a block layer 256 wide.
    let data: Vec<u8> = (0..(40 * 65_536 - 1000u64))
        .map(|i| i.wrapping_mul(40_503).to_le_bytes()[1])
        .collect();
    std::fs::write(src.join("show.mkv"), &data).unwrap();
    let t = cli_common::create(
        &src.join("show.mkv"),
        &dir.path().join("show.torrent"),
        &["--v2", "--piece-length", "64K"],
    );
    let bytes = std::fs::read(&t).unwrap();
    let meta = Metainfo::from_bytes(&bytes).unwrap();
    let root = meta.v2.as_ref().unwrap().files[0].pieces_root.unwrap();
    let d = Daemon::start(dir.path(), "");
    std::fs::write(dir.path().join("downloads/show.mkv"), &data).unwrap();
    d.add_torrent(&bytes, "");
    let id = meta.info_hash.to_hex();
    d.wait_for(&id, "seeding", |t| t["state"] == "seeding");
    let addr = std::fs::read_to_string(dir.path().join("data/admin.addr")).unwrap();
    let peers = addr.lines().find_map(|l| l.strip_prefix("peers=")).unwrap();

    // Piece 5's blocks, with the proof up to the root (layers: 2 + 6).
    let request = HashRange {
        pieces_root: root,
        base: 0,
        index: 20,
        count: 4,
        proof_layers: 7,
    };
    match ask_hashes(peers, &meta, request) {
        Message::Hashes { range, hashes } => {
            assert_eq!(range, request);
            assert!(
                check_answer(&root, 256, 20, 4, 7, &hashes).is_some(),
                "the answer does not prove"
            );
        }
        other => panic!("{other:?}"),
    }
    // The blocks changed on disk: no longer proved, so refused.
    let mut bad = data.clone();
    bad[5 * 65_536 + 7] ^= 1;
    std::fs::write(dir.path().join("downloads/show.mkv"), &bad).unwrap();
    let answer = ask_hashes(peers, &meta, request);
    assert_eq!(answer, Message::HashReject(request));
}
