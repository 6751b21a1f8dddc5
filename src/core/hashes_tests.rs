//! A seeder of a v2-only torrent against a scripted peer's hash requests
//! below the piece layer: the blocks are read (`Action::HashBlocks`) and the
//! answer proves to the file's root; a second request within a second, a
//! request while one is out, blocks that no longer hash to their piece, and
//! pieces not had are rejected.

use super::tests::{connect, sent_to as sent};
use super::*;
use crate::hash::PieceHashes;
use crate::hash::merkle::{FileMerkle, check_answer, merkle_file};
use crate::metainfo::{CreateLayout, CreateOptions, build_torrent_v2};
use crate::proto::HashRange;

fn ask(core: &mut Core, now: Time, key: PeerKey, r: HashRange) -> Vec<Action> {
    super::tests::feed_at(core, now, key, &[Message::HashRequest(r)])
}

/// The read asked for in `out`: its pieces.
fn read_of(out: &[Action]) -> Option<Vec<(u32, crate::hash::MerklePiece)>> {
    out.iter().find_map(|a| match a {
        Action::HashBlocks { pieces, .. } => Some(pieces.clone()),
        _ => None,
    })
}

/// The driver's answer to a block read for peer `key` of torrent `ih`'s
/// request `r`: what the core sends the peer.
fn hashed(
    core: &mut Core,
    now: Time,
    (ih, key): (InfoHash, PeerKey),
    r: HashRange,
    leaves: Option<Vec<crate::hash::merkle::Sha256Digest>>,
) -> Vec<Message> {
    let mut out = Vec::new();
    let ev = Event::BlocksHashed {
        info_hash: ih,
        peer: key,
        range: r,
        leaves,
    };
    core.on_event(now, ev, &mut out);
    sent(&out, key)
}

#[test]
fn block_hashes_are_read_proved_and_bounded() {
    // One file of ten pieces of four blocks (64 KiB), the last short: the
    // block layer is 64 wide (sixteen pieces, six of them padding).
    let plen = 64 * 1024u32;
    let data: Vec<u8> = (0..(10 * plen - 100)).map(|i| (i % 251) as u8).collect();
    let tree = merkle_file(&data[..], data.len() as u64, u64::from(plen)).unwrap();
    let root = tree.root.unwrap();
    let layout = CreateLayout {
        name: "v2.bin".into(),
        files: None,
        length: data.len() as u64,
    };
    let opts = CreateOptions::default();
    let built = build_torrent_v2(&layout, plen, None, std::slice::from_ref(&tree), &opts).unwrap();
    let ih = built.meta.info_hash;
    let pieces = built.meta.info.geometry.piece_count();
    let mut have = Bitfield::full(pieces);
    have.clear(7);
    let mut add = AddTorrent::new(TorrentSource::Metainfo(Arc::new(built.meta)), "/r");
    add.have = Some(have);
    let mut core = Core::new(CoreConfig::default());
    core.add_torrent(Time::ZERO, add, &mut Vec::new()).unwrap();
    let key = connect(&mut core, ih, true);
    let leaves = |shapes: &[(u32, crate::hash::MerklePiece)]| -> Vec<_> {
        let mut v = Vec::new();
        for (p, shape) in shapes {
            let start = *p as usize * plen as usize;
            let end = (start + plen as usize).min(data.len());
            v.extend(shape.leaves(&data[start..end]));
        }
        v
    };
    let hashed = |core: &mut Core, now, r, leaves| hashed(core, now, (ih, key), r, leaves);

    // Piece 1's four blocks, proved up to the root; and while its read is
    // out, a second request is rejected.
    let r = HashRange {
        pieces_root: root,
        base: 0,
        index: 4,
        count: 4,
        proof_layers: 5,
    };
    let out = ask(&mut core, Time::ZERO, key, r);
    let shapes = read_of(&out).expect("a read of the blocks");
    assert_eq!(shapes.iter().map(|s| s.0).collect::<Vec<_>>(), [1]);
    let again = ask(&mut core, Time::ZERO, key, r);
    assert_eq!(sent(&again, key), [Message::HashReject(r)]);
    let answer = hashed(&mut core, Time::ZERO, r, Some(leaves(&shapes)));
    let [Message::Hashes { range, hashes }] = &answer[..] else {
        panic!("{answer:?}");
    };
    assert_eq!(*range, r);
    assert!(
        check_answer(&root, 64, 4, 4, 5, hashes).is_some(),
        "does not prove"
    );

    // Within a second of the last: rejected; after it, the tail (pieces 8
    // and 9, then padding) is read, and changed blocks get a reject.
    let tail = HashRange {
        index: 32,
        count: 32,
        ..r
    };
    let out = ask(&mut core, Time::from_millis(500), key, tail);
    assert_eq!(sent(&out, key), [Message::HashReject(tail)]);
    let later = Time::from_secs(2);
    let out = ask(&mut core, later, key, tail);
    let shapes = read_of(&out).expect("a read of the tail");
    assert_eq!(shapes.iter().map(|s| s.0).collect::<Vec<_>>(), [8, 9]);
    let mut bad = leaves(&shapes);
    bad[2][0] ^= 1;
    assert_eq!(
        hashed(&mut core, later, tail, Some(bad)),
        [Message::HashReject(tail)]
    );

    // Piece 7 is not had: rejected without a read.
    let missing = HashRange {
        index: 28,
        count: 4,
        ..r
    };
    let out = ask(&mut core, Time::from_secs(4), key, missing);
    assert!(read_of(&out).is_none());
    assert_eq!(sent(&out, key), [Message::HashReject(missing)]);
    // The piece layer is still answered at once.
    let layer = HashRange {
        base: 2,
        index: 0,
        count: 16,
        proof_layers: 0,
        ..r
    };
    let out = ask(&mut core, Time::from_secs(4), key, layer);
    assert!(matches!(&sent(&out, key)[..], [Message::Hashes { .. }]));
    assert!(matches!(
        core.torrents[&ih].meta.hashes.as_deref(),
        Some(PieceHashes::Merkle(_))
    ));
}

/// A hybrid of two files in 64 KiB pieces: `a`, three blocks and 100 bytes
/// (one piece, a tree four leaves wide, padded to the piece in the v1
/// layout), then `b`, two and a half pieces. Its trees, and its v1 bytes.
pub(super) fn small_hybrid() -> (crate::metainfo::BuiltV2, Vec<FileMerkle>, Vec<u8>) {
    let plen = 64 * 1024u32;
    let body = |n: u32, salt: u8| -> Vec<u8> { (0..n).map(|i| (i % 251) as u8 ^ salt).collect() };
    let (a, b) = (body(3 * 16_384 + 100, 1), body(5 * plen / 2, 2));
    let trees: Vec<_> = [&a, &b]
        .iter()
        .map(|d| merkle_file(&d[..], d.len() as u64, u64::from(plen)).unwrap())
        .collect();
    let mut v1_bytes = a.clone();
    v1_bytes.resize(plen as usize, 0);
    v1_bytes.extend(&b);
    let v1: Vec<[u8; 20]> = v1_bytes
        .chunks(plen as usize)
        .map(crate::hash::sha1)
        .collect();
    let layout = CreateLayout {
        name: "pack".into(),
        files: Some(vec![
            (vec!["a".into()], a.len() as u64),
            (vec!["b".into()], b.len() as u64),
        ]),
        length: 0,
    };
    let opts = CreateOptions::default();
    let built = build_torrent_v2(&layout, plen, Some(&v1), &trees, &opts).unwrap();
    (built, trees, v1_bytes)
}

#[test]
fn a_hybrid_answers_its_v2_peers_and_a_one_piece_file_its_blocks() {
    let plen = 64 * 1024u32;
    let (built, trees, v1_bytes) = small_hybrid();
    let ih = built.meta.info_hash;
    assert!(matches!(built.meta.info.pieces, PieceHashes::Hybrid { .. }));
    let mut add = AddTorrent::new(TorrentSource::Metainfo(Arc::new(built.meta)), "/r");
    add.have = Some(Bitfield::full(4));
    let mut core = Core::new(CoreConfig::default());
    core.add_torrent(Time::ZERO, add, &mut Vec::new()).unwrap();
    let key = connect(&mut core, ih, true);

    // `b`'s piece layer (three pieces, padded to four), at once.
    let (root_a, root_b) = (trees[0].root.unwrap(), trees[1].root.unwrap());
    let layer = HashRange {
        pieces_root: root_b,
        base: 2,
        index: 0,
        count: 4,
        proof_layers: 0,
    };
    let out = ask(&mut core, Time::ZERO, key, layer);
    let [Message::Hashes { hashes, .. }] = &sent(&out, key)[..] else {
        panic!("{out:?}");
    };
    assert_eq!(hashes[..3], trees[1].layer[..]);
    assert!(check_answer(&root_b, 4, 0, 4, 0, hashes).is_some());

    // `a`'s four block hashes: its one piece (piece 0) is read and they
    // prove to its root.
    let blocks = HashRange {
        pieces_root: root_a,
        base: 0,
        index: 0,
        count: 4,
        proof_layers: 0,
    };
    let out = ask(&mut core, Time::ZERO, key, blocks);
    let shapes = read_of(&out).expect("a read of a's blocks");
    assert_eq!(shapes.iter().map(|s| s.0).collect::<Vec<_>>(), [0]);
    let leaves = shapes[0].1.leaves(&v1_bytes[..plen as usize]);
    let answer = hashed(&mut core, Time::ZERO, (ih, key), blocks, Some(leaves));
    let [Message::Hashes { hashes, .. }] = &answer[..] else {
        panic!("{answer:?}");
    };
    assert!(check_answer(&root_a, 4, 0, 4, 0, hashes).is_some());

    // A root no file has: rejected.
    let nobody = HashRange {
        pieces_root: [7; 32],
        ..layer
    };
    let out = ask(&mut core, Time::from_secs(5), key, nobody);
    assert_eq!(sent(&out, key), [Message::HashReject(nobody)]);
}
