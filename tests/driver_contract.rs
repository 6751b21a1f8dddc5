//! The same scenarios on io_uring and on epoll, over real loopback sockets (ports
//! chosen by the OS) and real files in temporary folders.
// Real IO takes real time: these tests wait on the wall clock, with hard timeouts.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use seedring::Engine;
use seedring::core::{AddTorrent, Bitfield, CoreConfig, TorrentSource, TorrentState};
use seedring::metainfo::{Magnet, Metainfo};
use seedring::shard::{IoChoice, ShardConfig};

mod data_common;

use data_common::wait;

fn cfg() -> ShardConfig {
    ShardConfig {
        max_open_files: 64,
        // Two shards: accepted connections are handed to the owning shard.
        shards: 2,
        ..ShardConfig::new(CoreConfig::default(), "127.0.0.1:0".parse().unwrap())
    }
}

fn engine(io: IoChoice) -> Engine {
    let e = Engine::start(cfg(), io).expect("engine starts");
    let want = match io {
        IoChoice::Uring => "io_uring",
        IoChoice::Epoll => "epoll",
        IoChoice::Auto => e.io_backend(),
    };
    assert_eq!(e.io_backend(), want);
    e
}

/// Writes a multi-file torrent's data under `dir` and returns its metainfo.
fn make_data(
    dir: &Path,
    name: &str,
    files: &[(&str, usize)],
    piece: u32,
    seed: u8,
) -> Arc<Metainfo> {
    data_common::make_data(dir, name, files, piece, seed).meta
}

const FILES: &[(&str, usize)] = &[
    ("a.bin", 300_000),
    ("tiny.txt", 10),
    ("empty", 0),
    ("sub/b.bin", 1_500_001),
];

fn add(e: &Engine, meta: &Arc<Metainfo>, root: &Path, have: Option<Bitfield>) {
    e.add_torrent(AddTorrent {
        have,
        ..AddTorrent::new(
            TorrentSource::Metainfo(meta.clone()),
            root.to_str().unwrap(),
        )
    })
    .unwrap();
}

fn seeding(e: &Engine, ih: seedring::InfoHash) -> bool {
    e.stats(ih).is_ok_and(|s| s.state == TorrentState::Seeding)
}

fn same_tree(a: &Path, b: &Path, files: &[(&str, usize)]) {
    for (path, _) in files {
        let x = std::fs::read(a.join(path)).unwrap();
        let y = std::fs::read(b.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(x == y, "{path} differs");
    }
}

fn seeds_to_seedring(io: IoChoice) {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let meta = make_data(src.path(), "swarm", FILES, 64 * 1024, 3);
    let ih = meta.info_hash;
    let seeder = engine(io);
    add(&seeder, &meta, src.path(), None); // rechecks what is on disk
    wait("the seeder's recheck", 30, || seeding(&seeder, ih));
    let leecher = engine(io);
    add(
        &leecher,
        &meta,
        dst.path(),
        Some(Bitfield::new(meta.info.geometry.piece_count())),
    );
    leecher.add_peers(ih, &[seeder.listen_addr()]).unwrap();
    wait("the download", 60, || seeding(&leecher, ih));
    same_tree(&src.path().join("swarm"), &dst.path().join("swarm"), FILES);
    assert!(seeder.stats(ih).unwrap().uploaded >= 1_800_011);
}

#[test]
fn seedring_seeds_to_seedring_on_io_uring() {
    seeds_to_seedring(IoChoice::Uring);
}

#[test]
fn seedring_seeds_to_seedring_on_epoll() {
    seeds_to_seedring(IoChoice::Epoll);
}

fn magnet_and_several_torrents(io: IoChoice) {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let metas: Vec<_> = (0..3u8)
        .map(|i| make_data(src.path(), &format!("t{i}"), FILES, 32 * 1024, i + 10))
        .collect();
    // The torrents live on different shards, so connections to them are accepted
    // by one shard and handed to another.
    let owners: std::collections::BTreeSet<usize> = metas
        .iter()
        .map(|m| seedring::shard::shard_of(m.info_hash, 2))
        .collect();
    assert_eq!(owners.len(), 2, "test torrents all map to one shard");
    let seeder = engine(io);
    assert_eq!(seeder.shards(), 2);
    for m in &metas {
        add(&seeder, m, src.path(), None);
    }
    wait("rechecks", 30, || {
        metas.iter().all(|m| seeding(&seeder, m.info_hash))
    });
    let leecher = engine(io);
    // Two torrents from .torrent files, the third from a magnet link alone.
    for m in &metas[..2] {
        add(
            &leecher,
            m,
            dst.path(),
            Some(Bitfield::new(m.info.geometry.piece_count())),
        );
    }
    let uri = format!(
        "magnet:?xt=urn:btih:{}&x.pe={}",
        metas[2].info_hash,
        seeder.listen_addr()
    );
    leecher
        .add_torrent(AddTorrent::new(
            TorrentSource::Magnet(Magnet::parse(&uri).unwrap()),
            dst.path().to_str().unwrap(),
        ))
        .unwrap();
    for m in &metas[..2] {
        leecher
            .add_peers(m.info_hash, &[seeder.listen_addr()])
            .unwrap();
    }
    wait("all three downloads", 90, || {
        metas.iter().all(|m| seeding(&leecher, m.info_hash))
    });
    for i in 0..3 {
        let name = format!("t{i}");
        same_tree(&src.path().join(&name), &dst.path().join(&name), FILES);
    }
}

#[test]
fn magnet_and_several_torrents_on_io_uring() {
    magnet_and_several_torrents(IoChoice::Uring);
}

#[test]
fn magnet_and_several_torrents_on_epoll() {
    magnet_and_several_torrents(IoChoice::Epoll);
}

/// An engine listening on a loopback address of its own (all of 127/8 is loopback):
/// bans are by IP, so an honest peer must not share the liar's.
fn engine_at(io: IoChoice, listen: &str) -> Engine {
    let mut c = cfg();
    c.listen = listen.parse().unwrap();
    Engine::start(c, io).expect("engine starts")
}

fn engine_with(io: IoChoice, core: CoreConfig) -> Engine {
    let mut c = cfg();
    c.core = core;
    Engine::start(c, io).expect("engine starts")
}

fn caps_are_respected(io: IoChoice) {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let meta = make_data(src.path(), "capped", FILES, 32 * 1024, 21);
    let ih = meta.info_hash;
    let seeders: Vec<Engine> = (0..4).map(|_| engine(io)).collect();
    for s in &seeders {
        add(s, &meta, src.path(), None);
    }
    wait("rechecks", 30, || seeders.iter().all(|s| seeding(s, ih)));
    let leecher = engine_with(
        io,
        CoreConfig {
            max_connections_per_torrent: 2,
            max_connections: 2,
            ..CoreConfig::default()
        },
    );
    add(
        &leecher,
        &meta,
        dst.path(),
        Some(Bitfield::new(meta.info.geometry.piece_count())),
    );
    let addrs: Vec<_> = seeders.iter().map(Engine::listen_addr).collect();
    leecher.add_peers(ih, &addrs).unwrap();
    wait("the capped download", 60, || {
        let c = leecher.connections().unwrap();
        assert!(c.total <= 2, "{c:?} exceeds the cap");
        seeding(&leecher, ih)
    });
    same_tree(
        &src.path().join("capped"),
        &dst.path().join("capped"),
        FILES,
    );
}

#[test]
fn peer_caps_hold_on_io_uring() {
    caps_are_respected(IoChoice::Uring);
}

#[test]
fn peer_caps_hold_on_epoll() {
    caps_are_respected(IoChoice::Epoll);
}

fn liar_is_banned(io: IoChoice) {
    let good = tempfile::tempdir().unwrap();
    let bad = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let meta = make_data(good.path(), "target", FILES, 32 * 1024, 33);
    let ih = meta.info_hash;
    // The liar's copy has a flipped byte in every 4 KiB, and it claims every piece.
    make_data(bad.path(), "target", FILES, 32 * 1024, 33);
    for (path, _) in FILES {
        let p = bad.path().join("target").join(path);
        let mut b = std::fs::read(&p).unwrap();
        for i in (100..b.len()).step_by(4096) {
            b[i] ^= 0x5a;
        }
        std::fs::write(&p, b).unwrap();
    }
    let seeder = engine_at(io, "127.0.0.2:0");
    add(&seeder, &meta, good.path(), None);
    let liar = engine_at(io, "127.0.0.3:0");
    add(
        &liar,
        &meta,
        bad.path(),
        Some(Bitfield::full(meta.info.geometry.piece_count())),
    );
    wait("the honest recheck", 30, || seeding(&seeder, ih));
    let victim = engine(io);
    add(
        &victim,
        &meta,
        dst.path(),
        Some(Bitfield::new(meta.info.geometry.piece_count())),
    );
    // The liar first and alone, so that its data surely arrives (with both
    // at once, a busy machine once let the honest seeder send every piece
    // before the liar sent one); then the honest seeder.
    victim.add_peers(ih, &[liar.listen_addr()]).unwrap();
    wait("the liar's data, refused", 60, || {
        victim.stats(ih).is_ok_and(|s| s.hash_failures > 0)
    });
    victim.add_peers(ih, &[seeder.listen_addr()]).unwrap();
    wait("the download despite the liar", 90, || seeding(&victim, ih));
    same_tree(
        &good.path().join("target"),
        &dst.path().join("target"),
        FILES,
    );
    let st = victim.stats(ih).unwrap();
    assert!(st.hash_failures > 0, "the liar's data never arrived");
    assert_eq!(st.banned, 1);
}

#[test]
fn peer_sending_bad_data_is_banned_on_io_uring() {
    liar_is_banned(IoChoice::Uring);
}

#[test]
fn peer_sending_bad_data_is_banned_on_epoll() {
    liar_is_banned(IoChoice::Epoll);
}

/// A symlink planted inside the root mid-download (the torrent's folder swapped
/// for a link to a folder outside the root) leads no write outside: the
/// torrent stops with an error that says why, and the outside folder stays empty.
#[test]
fn a_symlink_planted_mid_download_leads_no_write_outside() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let meta = make_data(src.path(), "swarm", FILES, 64 * 1024, 5);
    let ih = meta.info_hash;
    let seeder = engine(IoChoice::Auto);
    add(&seeder, &meta, src.path(), None);
    wait("the seeder's recheck", 30, || seeding(&seeder, ih));
    // Slowly: the download is still going when the link is planted.
    seeder.set_torrent_limits(ih, 0, 150_000).unwrap();
    let leecher = engine(IoChoice::Auto);
    add(
        &leecher,
        &meta,
        dst.path(),
        Some(Bitfield::new(meta.info.geometry.piece_count())),
    );
    leecher.add_peers(ih, &[seeder.listen_addr()]).unwrap();
    wait("some pieces", 30, || {
        leecher.stats(ih).is_ok_and(|s| s.have_pieces >= 2)
    });
    let folder = dst.path().join("swarm");
    std::fs::rename(&folder, dst.path().join("swarm.moved")).unwrap();
    std::os::unix::fs::symlink(outside.path(), &folder).unwrap();
    wait("the torrent to stop on the refused write", 60, || {
        leecher
            .stats(ih)
            .is_ok_and(|s| matches!(s.state, TorrentState::Error(_)))
    });
    let TorrentState::Error(why) = leecher.stats(ih).unwrap().state else {
        unreachable!()
    };
    assert!(why.contains("outside its storage root"), "{why}");
    // Nothing was written through the link, whatever else happened.
    std::thread::sleep(Duration::from_millis(500));
    let left: Vec<_> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "written outside the root: {left:?}");
}

/// Every shard tells peers the port the engine listens on (BEP 10 `p`), also
/// a shard that does not hold the listener when the port was left to the OS.
#[test]
fn every_shard_tells_peers_the_bound_port() {
    use seedring::proto::ext::ExtHandshake;
    use seedring::proto::{Handshake, Message, MessageDecoder};
    use std::io::{Read, Write};
    let src = tempfile::tempdir().unwrap();
    let e = engine(IoChoice::Auto);
    let port = e.listen_addr().port();
    assert_ne!(port, 0);
    let mut shards_seen = std::collections::BTreeSet::new();
    for i in 0..8u8 {
        let meta = make_data(src.path(), &format!("t{i}"), &[("a", 40_000)], 16 * 1024, i);
        add(&e, &meta, src.path(), None);
        shards_seen.insert(seedring::shard::shard_of(meta.info_hash, 2));
        wait("the recheck", 30, || seeding(&e, meta.info_hash));
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&Handshake::new(meta.info_hash, [7; 20]).encode())
            .unwrap();
        let mut hs = [0u8; 68];
        s.read_exact(&mut hs).unwrap();
        let mut dec = MessageDecoder::new(1 << 20, true, true);
        let ext = loop {
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "closed before the extension handshake");
            dec.feed(&buf[..n]);
            let mut found = None;
            while let Some(m) = dec.next_message().unwrap() {
                if let Message::Extended { id: 0, payload } = m {
                    found = Some(ExtHandshake::decode(&payload).unwrap());
                }
            }
            if let Some(x) = found {
                break x;
            }
        };
        assert_eq!(ext.p, Some(port), "torrent {i}");
    }
    assert_eq!(shards_seen.len(), 2, "both shards had a torrent");
}
