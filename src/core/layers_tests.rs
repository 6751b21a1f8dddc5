//! A v2-only torrent from a magnet link against scripted peers: its piece
//! layer is asked for once its `info` is in; a peer whose hashes do not prove
//! to the file's root is dropped and another asked; with the layer in, the
//! storage opens and blocks are asked for.

use super::tests::{closed, connect, feed, sent_to};
use super::*;
use crate::hash::merkle::{FileMerkle, LayerTree, merkle_file};
use crate::metainfo::{CreateLayout, CreateOptions, build_torrent_v2};
use crate::proto::HashRange;

/// The whole piece layer of the test hybrid's file `b` (three pieces, four
/// wide), as its v2 peers ask for it.
fn b_layer(trees: &[FileMerkle]) -> HashRange {
    HashRange {
        pieces_root: trees[1].root.unwrap(),
        base: 2,
        index: 0,
        count: 4,
        proof_layers: 0,
    }
}

/// `b`'s layer comes from `from`: the record is written again with the
/// hybrid's roots beside its SHA-1, and `asker`'s request for it is answered.
fn b_layer_comes(
    core: &mut Core,
    built: &crate::metainfo::BuiltV2,
    trees: &[FileMerkle],
    from: PeerKey,
    asker: PeerKey,
) {
    let r = b_layer(trees);
    let hashes = LayerTree::new(&trees[1].layer, 4)
        .answer(2, 0, 4, 0)
        .unwrap();
    let out = feed(core, from, &[Message::Hashes { range: r, hashes }]);
    assert!(!closed(&out));
    let saved = out.iter().find_map(|a| match a {
        Action::SaveMeta { record, .. } => Some(record.clone()),
        _ => None,
    });
    let record = saved.expect("the record written again");
    let limits = crate::metainfo::MetainfoLimits::default();
    let (_, stored, _) = crate::metainfo::parse_stored(&record, &limits).unwrap();
    assert_eq!(stored.pieces, built.meta.info.pieces);
    let out = feed(core, asker, &[Message::HashRequest(r)]);
    assert!(
        matches!(&sent_to(&out, asker)[..], [Message::Hashes { .. }]),
        "{out:?}"
    );
}

/// Hash requests sent to `key` in `out`.
fn hash_requests(out: &[Action], key: PeerKey) -> Vec<HashRange> {
    (sent_to(out, key).into_iter())
        .filter_map(|m| match m {
            Message::HashRequest(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[test]
fn a_v2_magnet_fetches_its_piece_layer_and_drops_a_liar() {
    // One file of 40 pieces of 16 KiB (its layer 64 wide, one request).
    let plen = 16 * 1024u32;
    let data: Vec<u8> = (0..(40 * plen - 100)).map(|i| (i % 251) as u8).collect();
    let tree = merkle_file(&data[..], data.len() as u64, u64::from(plen)).unwrap();
    let layout = CreateLayout {
        name: "v2.bin".into(),
        files: None,
        length: data.len() as u64,
    };
    let built = build_torrent_v2(
        &layout,
        plen,
        None,
        std::slice::from_ref(&tree),
        &CreateOptions::default(),
    )
    .unwrap();
    let ih = built.meta.info_hash;
    let uri = format!("magnet:?xt=urn:btmh:1220{}", built.v2.info_hash_hex());
    let mut core = Core::new(CoreConfig::default());
    let mut out = Vec::new();
    let magnet = crate::metainfo::Magnet::parse(&uri).unwrap();
    assert_eq!(magnet.info_hash, ih);
    core.add_torrent(
        Time::ZERO,
        AddTorrent::new(TorrentSource::Magnet(magnet), "/r"),
        &mut out,
    )
    .unwrap();
    let liar = connect(&mut core, ih, true);
    let honest = connect(&mut core, ih, true);
    feed(&mut core, liar, &[Message::HaveAll]);
    feed(&mut core, honest, &[Message::HaveAll]);

    // The info arrives (as ut_metadata would bring it): the layer is asked for.
    let mut out = Vec::new();
    core.on_metadata(Time::ZERO, ih, built.meta.info_bytes.clone(), &mut out);
    assert!(
        !out.iter().any(|a| matches!(a, Action::OpenStorage(_))),
        "opened before the layer"
    );
    let asked: Vec<(PeerKey, HashRange)> = [liar, honest]
        .iter()
        .flat_map(|&k| hash_requests(&out, k).into_iter().map(move |r| (k, r)))
        .collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    let (first, r) = asked[0];
    assert_eq!((r.base, r.index, r.count, r.proof_layers), (0, 0, 64, 0));
    assert_eq!(Some(r.pieces_root), tree.root);
    let other = if first == liar { honest } else { liar };
    let (liar, honest) = (first, other);

    // The first asked lies (one hash changed): dropped.
    let good = LayerTree::new(&tree.layer, 1).answer(0, 0, 64, 0).unwrap();
    let mut bad = good.clone();
    bad[7][0] ^= 1;
    let out = feed(
        &mut core,
        liar,
        &[Message::Hashes {
            range: r,
            hashes: bad,
        }],
    );
    assert!(closed(&out), "a liar kept: {out:?}");
    // No block is asked for meanwhile; the next tick asks the other peer.
    let mut out = Vec::new();
    core.on_tick(Time::from_secs(1), &mut out);
    assert_eq!(hash_requests(&out, honest), [r]);
    assert!(
        !out.iter()
            .any(|a| matches!(a, Action::Send { bytes, .. } if bytes.get(4) == Some(&6)))
    );
    let out = feed(
        &mut core,
        honest,
        &[Message::Hashes {
            range: r,
            hashes: good,
        }],
    );
    assert!(!closed(&out));
    assert!(
        out.iter().any(|a| matches!(a, Action::OpenStorage(_))),
        "{out:?}"
    );
}

#[test]
fn a_hybrid_by_magnet_downloads_at_once_and_fetches_its_layers_from_v2_peers() {
    let (built, trees, _) = super::hashes_tests::small_hybrid();
    let v1 = built.meta.info_hash;
    let uri = format!("magnet:?xt=urn:btmh:1220{}", built.v2.info_hash_hex());
    let magnet = crate::metainfo::Magnet::parse(&uri).unwrap();
    let ih = magnet.info_hash;
    assert_eq!(ih, built.v2.truncated());
    let mut core = Core::new(CoreConfig::default());
    let add = AddTorrent::new(TorrentSource::Magnet(magnet), "/r");
    core.add_torrent(Time::ZERO, add, &mut Vec::new()).unwrap();
    let v2_peer = connect(&mut core, ih, true);
    feed(&mut core, v2_peer, &[Message::HaveAll]);

    // The info arrives: the storage opens at once (the SHA-1 side runs the
    // download), and `b`'s layer (three pieces, four wide) is asked of the
    // peer that spoke by the v2 name.
    let mut out = Vec::new();
    core.on_metadata(Time::ZERO, ih, built.meta.info_bytes.clone(), &mut out);
    assert!(out.iter().any(|a| matches!(a, Action::OpenStorage(_))));
    let r = b_layer(&trees);
    assert_eq!(hash_requests(&out, v2_peer), [r]);
    // Its files held nothing: no check, it downloads. A peer speaking by the
    // v1 name is not asked for the layer.
    let opened = Event::StorageOpened {
        info_hash: ih,
        result: Ok(false),
    };
    core.on_event(Time::ZERO, opened, &mut Vec::new());
    let v1_peer = connect(&mut core, v1, true);
    feed(&mut core, v1_peer, &[Message::HaveAll]);
    let gone = Event::Closed { peer: v2_peer };
    core.on_event(Time::ZERO, gone, &mut Vec::new());
    let mut out = Vec::new();
    core.on_tick(Time::from_secs(11), &mut out);
    assert!(hash_requests(&out, v1_peer).is_empty(), "{out:?}");
    // Another peer by the v2 name is.
    let v2_peer = connect(&mut core, ih, true);
    feed(&mut core, v2_peer, &[Message::HaveAll]);
    let mut out = Vec::new();
    core.on_tick(Time::from_secs(12), &mut out);
    assert_eq!(hash_requests(&out, v2_peer), [r]);

    // The layer comes: the roots join the SHA-1 pieces, the record is
    // written again with them, and the torrent's own v2 peers get them.
    b_layer_comes(&mut core, &built, &trees, v2_peer, v1_peer);
    assert!(!core.fetching_layers(&ih));
}

/// Hybrid `built` restarted from its layout as a complete seed whose record
/// is `info` without its hashes (as written when its metadata came by magnet
/// link: no roots), and a peer by its v2 name that has it all.
fn restored_seed(
    built: &crate::metainfo::BuiltV2,
    mut info: crate::metainfo::Info,
) -> (Core, PeerKey) {
    let v1 = built.meta.info_hash;
    info.pieces = crate::hash::PieceHashes::default();
    let stored = StoredTorrent {
        info_hash: v1,
        info,
        metadata_size: built.meta.info_bytes.len() as u64,
        tracker_tiers: Vec::new(),
        web_seeds: Vec::new(),
    };
    let mut add = AddTorrent::new(TorrentSource::Stored(Arc::new(stored)), "/r");
    add.have = Some(Bitfield::full(4));
    let mut core = Core::new(CoreConfig::default());
    core.add_torrent(Time::ZERO, add, &mut Vec::new()).unwrap();
    let opened = Event::StorageOpened {
        info_hash: v1,
        result: Ok(true),
    };
    core.on_event(Time::ZERO, opened, &mut Vec::new());
    let v2_peer = connect(&mut core, built.v2.truncated(), true);
    feed(&mut core, v2_peer, &[Message::HaveAll]);
    (core, v2_peer)
}

#[test]
fn a_hybrid_restarted_before_its_layers_came_fetches_them_when_its_hashes_are_read_back() {
    let (built, trees, _) = super::hashes_tests::small_hybrid();
    let v1 = built.meta.info_hash;
    // Restarted from its layout: a complete seed whose record is its bare
    // `info` (as written when its metadata came by magnet link), no roots.
    let (mut core, v2_peer) = restored_seed(&built, built.meta.info.clone());

    // A v2 peer asks for `b`'s layer: refused while the hashes are on disk,
    // and they are read back.
    let r = b_layer(&trees);
    let out = feed(&mut core, v2_peer, &[Message::HashRequest(r)]);
    assert!(
        matches!(&sent_to(&out, v2_peer)[..], [Message::HashReject(_)]),
        "{out:?}"
    );
    assert!(out.iter().any(|a| matches!(a, Action::LoadMeta { .. })));
    assert!(!core.fetching_layers(&v1));

    // Read back without roots: the layer is asked of the v2 peer.
    let loaded = || Event::MetaLoaded {
        info_hash: v1,
        result: Ok(Some(built.meta.info_bytes.clone())),
    };
    let mut out = Vec::new();
    core.on_event(Time::from_secs(1), loaded(), &mut out);
    assert!(core.fetching_layers(&v1));
    assert_eq!(hash_requests(&out, v2_peer), [r]);

    // The peer goes without answering and nobody else speaks by the v2
    // name: a minute on, the fetch is dropped with the hashes.
    core.on_event(
        Time::from_secs(2),
        Event::Closed { peer: v2_peer },
        &mut Vec::new(),
    );
    core.on_tick(Time::from_secs(30), &mut Vec::new());
    assert!(core.fetching_layers(&v1));
    core.on_tick(Time::from_secs(80), &mut Vec::new());
    assert!(!core.fetching_layers(&v1));
    assert!(core.resident_hashes(v1).is_none());

    // Another v2 peer's request reads them back, and the fetch starts again.
    let v2_peer = connect(&mut core, built.v2.truncated(), true);
    feed(&mut core, v2_peer, &[Message::HaveAll]);
    let out = feed(&mut core, v2_peer, &[Message::HashRequest(r)]);
    assert!(out.iter().any(|a| matches!(a, Action::LoadMeta { .. })));
    let mut out = Vec::new();
    core.on_event(Time::from_secs(81), loaded(), &mut out);
    assert_eq!(hash_requests(&out, v2_peer), [r]);

    // It comes: the record is written again with the roots, and the peer's
    // next request is answered.
    b_layer_comes(&mut core, &built, &trees, v2_peer, v2_peer);
}

#[test]
fn a_hybrid_whose_v1_pieces_are_not_its_v2_pieces_is_marked_so_and_never_asks() {
    let (built, trees, _) = super::hashes_tests::small_hybrid();
    let v1 = built.meta.info_hash;
    // Its v1 side without the pad file after `a`: `b` starts inside a piece.
    let mut info = built.meta.info.clone();
    info.files.retain(|f| !f.attr.pad);
    let lengths: Vec<u64> = info.files.iter().map(|f| f.length).collect();
    info.geometry = crate::metainfo::Geometry::new(64 * 1024, &lengths).unwrap();
    assert_eq!(info.geometry.piece_count(), 4);
    let (mut core, v2_peer) = restored_seed(&built, info);
    let r = b_layer(&trees);
    let loaded = Event::MetaLoaded {
        info_hash: v1,
        result: Ok(Some(built.meta.info_bytes.clone())),
    };
    let out = feed(&mut core, v2_peer, &[Message::HashRequest(r)]);
    assert!(out.iter().any(|a| matches!(a, Action::LoadMeta { .. })));
    let mut out = Vec::new();
    core.on_event(Time::from_secs(1), loaded, &mut out);
    assert!(hash_requests(&out, v2_peer).is_empty(), "{out:?}");
    assert!(!core.fetching_layers(&v1));
    assert!(core.torrents[&v1].hybrid_misaligned);
    // Asked again, it is refused at once, and nothing is fetched.
    let out = feed(&mut core, v2_peer, &[Message::HashRequest(r)]);
    assert!(
        matches!(&sent_to(&out, v2_peer)[..], [Message::HashReject(_)]),
        "{out:?}"
    );
    assert!(!core.fetching_layers(&v1));
}
