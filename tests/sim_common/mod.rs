//! Helpers shared by the simulation tests: seeds, torrents, swarms, checks.
#![allow(dead_code)] // each test file uses its own subset

use std::net::SocketAddr;
use std::sync::Arc;

use seedring::Engine;
use seedring::core::{AddTorrent, Bitfield, CoreConfig, Rng, TorrentSource, TorrentState};
use seedring::hash::merkle::merkle_file;
use seedring::metainfo::{CreateLayout, CreateOptions, Metainfo, build_torrent, build_torrent_v2};
use seedring::sim::{SimConfig, SimWorld};

/// The seed for this run: `SEEDRING_SEED` if set (to replay a failure), else `default`.
/// The returned guard prints the seed if the test panics.
pub fn seed(default: u64) -> (u64, SeedGuard) {
    let s = std::env::var("SEEDRING_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    (s, SeedGuard(s))
}

/// Prints the seed when a test fails, so `SEEDRING_SEED=<n>` replays it.
pub struct SeedGuard(pub u64);

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "simulation failed with seed {0}: replay with SEEDRING_SEED={0}",
                self.0
            );
        }
    }
}

/// A torrent and its files' bytes.
pub struct Fixture {
    pub meta: Arc<Metainfo>,
    /// (path under the download root, bytes)
    pub files: Vec<(String, Vec<u8>)>,
}

/// A multi-file torrent with deterministic contents from `seed`.
pub fn fixture(seed: u64, name: &str, files: &[(&str, usize)], piece_len: u32) -> Fixture {
    let mut rng = Rng::new(seed);
    let mut stream = Vec::new();
    let mut out = Vec::new();
    let mut layout = Vec::new();
    for (path, len) in files {
        let bytes: Vec<u8> = (0..*len).map(|_| rng.next_u64().to_le_bytes()[0]).collect();
        stream.extend_from_slice(&bytes);
        layout.push((
            path.split('/').map(str::to_owned).collect::<Vec<_>>(),
            *len as u64,
        ));
        out.push((format!("{name}/{path}"), bytes));
    }
    let pieces: Vec<[u8; 20]> = stream
        .chunks(piece_len as usize)
        .map(seedring::hash::sha1)
        .collect();
    let layout = CreateLayout {
        name: name.to_owned(),
        files: Some(layout),
        length: 0,
    };
    let (_, meta) = build_torrent(&layout, piece_len, &pieces, &CreateOptions::default()).unwrap();
    Fixture {
        meta: Arc::new(meta),
        files: out,
    }
}

/// A v2-only multi-file torrent with deterministic contents from `seed`;
/// `files` in path order, as a v2 file tree is.
pub fn fixture_v2(seed: u64, name: &str, files: &[(&str, usize)], piece_len: u32) -> Fixture {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut layout = Vec::new();
    let mut trees = Vec::new();
    for (path, len) in files {
        let bytes: Vec<u8> = (0..*len).map(|_| rng.next_u64().to_le_bytes()[0]).collect();
        trees.push(merkle_file(&bytes[..], *len as u64, u64::from(piece_len)).unwrap());
        layout.push((
            path.split('/').map(str::to_owned).collect::<Vec<_>>(),
            *len as u64,
        ));
        out.push((format!("{name}/{path}"), bytes));
    }
    let layout = CreateLayout {
        name: name.to_owned(),
        files: Some(layout),
        length: 0,
    };
    let built =
        build_torrent_v2(&layout, piece_len, None, &trees, &CreateOptions::default()).unwrap();
    assert!(built.meta.is_v2_only());
    Fixture {
        meta: Arc::new(built.meta),
        files: out,
    }
}

/// A hybrid (v1 + v2) multi-file torrent with deterministic contents from
/// `seed`; `files` in path order. Its v1 pieces cover each file followed by
/// zeros up to a whole piece (the last file's tail excepted), as its v1 file
/// list's pad files say.
pub fn fixture_hybrid(seed: u64, name: &str, files: &[(&str, usize)], piece_len: u32) -> Fixture {
    let v2 = fixture_v2(seed, name, files, piece_len);
    let plen = piece_len as usize;
    let mut flat = Vec::new();
    for (i, (_, bytes)) in v2.files.iter().enumerate() {
        flat.extend_from_slice(bytes);
        if i + 1 < v2.files.len() {
            flat.resize(flat.len().next_multiple_of(plen), 0);
        }
    }
    let pieces: Vec<[u8; 20]> = flat.chunks(plen).map(seedring::hash::sha1).collect();
    let mut trees = Vec::new();
    let mut layout = Vec::new();
    for ((path, len), (_, bytes)) in files.iter().zip(&v2.files) {
        trees.push(merkle_file(&bytes[..], *len as u64, u64::from(piece_len)).unwrap());
        layout.push((
            path.split('/').map(str::to_owned).collect::<Vec<_>>(),
            *len as u64,
        ));
    }
    let layout = CreateLayout {
        name: name.to_owned(),
        files: Some(layout),
        length: 0,
    };
    let opts = CreateOptions::default();
    let built = build_torrent_v2(&layout, piece_len, Some(&pieces), &trees, &opts).unwrap();
    assert!(built.meta.info.hybrid_names().is_some());
    Fixture {
        meta: Arc::new(built.meta),
        files: v2.files,
    }
}

/// [`FILES`] in path order (a v2 file tree's).
pub const V2_FILES: &[(&str, usize)] = &[
    ("a.bin", 100_000),
    ("dir/b.bin", 700_001),
    ("dir/c.bin", 65_536),
    ("empty", 0),
    ("tiny.txt", 100),
    ("z.bin", 333_333),
];

pub const ROOT: &str = "/data";

/// An engine holding the fixture's data, rechecked on add, so it ends up seeding.
/// A memory engine whose disk at [`ROOT`] is a configured storage root (marked:
/// its marker file tells that the disk is mounted).
pub fn engine(world: &SimWorld, cfg: CoreConfig) -> Engine {
    let e = Engine::memory(world, cfg);
    e.add_root("data", "data disk", std::path::Path::new(ROOT))
        .expect("a fresh engine takes a root");
    e
}

pub fn seeder(world: &SimWorld, fx: &Fixture, cfg: CoreConfig) -> Engine {
    let e = engine(world, cfg);
    seed_on(world, &e, fx);
    e
}

/// Writes the fixture's files into engine `e`'s root and adds its torrent.
pub fn seed_on(world: &SimWorld, e: &Engine, fx: &Fixture) {
    for (path, bytes) in &fx.files {
        world.write_file(e, &format!("{ROOT}/{path}"), bytes.clone());
    }
    e.add_torrent(AddTorrent::new(
        TorrentSource::Metainfo(fx.meta.clone()),
        ROOT,
    ))
    .unwrap();
}

/// An engine that starts the torrent with nothing on disk.
pub fn leecher(world: &SimWorld, fx: &Fixture, cfg: CoreConfig) -> Engine {
    let e = engine(world, cfg);
    let pieces = fx.meta.info.geometry.piece_count();
    e.add_torrent(AddTorrent {
        have: Some(Bitfield::new(pieces)),
        ..AddTorrent::new(TorrentSource::Metainfo(fx.meta.clone()), ROOT)
    })
    .unwrap();
    e
}

/// `n` seeders and one leecher of `fx` (default configurations), each told
/// about the others.
pub fn seeders_and_leecher(world: &SimWorld, fx: &Fixture, n: usize) -> (Vec<Engine>, Engine) {
    let seeders: Vec<Engine> = (0..n)
        .map(|_| seeder(world, fx, CoreConfig::default()))
        .collect();
    let l = leecher(world, fx, CoreConfig::default());
    let mut all: Vec<&Engine> = seeders.iter().collect();
    all.push(&l);
    introduce(&all, fx.meta.info_hash);
    (seeders, l)
}

/// Tells every engine about every other engine (what a tracker would do).
pub fn introduce(engines: &[&Engine], ih: seedring::InfoHash) {
    let addrs: Vec<SocketAddr> = engines.iter().map(|e| e.listen_addr()).collect();
    for e in engines {
        let others: Vec<SocketAddr> = addrs
            .iter()
            .copied()
            .filter(|a| *a != e.listen_addr())
            .collect();
        e.add_peers(ih, &others).unwrap();
    }
}

/// Whether the engine has completed the torrent.
pub fn done(e: &Engine, ih: seedring::InfoHash) -> bool {
    e.stats(ih).is_ok_and(|s| s.state == TorrentState::Seeding)
}

/// Asserts the engine's files are byte-identical to the fixture's.
pub fn assert_same_data(world: &SimWorld, e: &Engine, fx: &Fixture, who: &str) {
    for (path, bytes) in &fx.files {
        let got = world
            .read_file(e, &format!("{ROOT}/{path}"))
            .unwrap_or_else(|| panic!("{who}: {path} missing"));
        assert!(got == *bytes, "{who}: {path} differs from the source");
    }
}

/// A world with the given seed and otherwise default physics.
pub fn world(seed: u64) -> SimWorld {
    SimWorld::new(SimConfig {
        seed,
        ..SimConfig::default()
    })
}

/// The standard multi-file layout of the swarm tests: a file smaller than a block,
/// pieces spanning files, an empty file.
pub const FILES: &[(&str, usize)] = &[
    ("a.bin", 100_000),
    ("tiny.txt", 100),
    ("empty", 0),
    ("dir/b.bin", 700_001),
    ("dir/c.bin", 65_536),
    ("z.bin", 333_333),
];

/// The same files as `fx` (whose name is `from`) as a private torrent named
/// `name` (16 KiB pieces, [`FILES`]' layout).
pub fn private_twin(fx: &Fixture, from: &str, name: &str) -> Fixture {
    let stream: Vec<u8> = fx.files.iter().flat_map(|f| f.1.clone()).collect();
    let pieces: Vec<[u8; 20]> = stream.chunks(16 * 1024).map(seedring::hash::sha1).collect();
    let layout = CreateLayout {
        name: name.to_owned(),
        files: Some(
            FILES
                .iter()
                .map(|(p, len)| (p.split('/').map(str::to_owned).collect(), *len as u64))
                .collect(),
        ),
        length: 0,
    };
    let opts = CreateOptions {
        private: true,
        ..CreateOptions::default()
    };
    let (_, meta) = build_torrent(&layout, 16 * 1024, &pieces, &opts).unwrap();
    Fixture {
        meta: Arc::new(meta),
        files: fx
            .files
            .iter()
            .map(|(p, b)| (p.replacen(from, name, 1), b.clone()))
            .collect(),
    }
}

/// Whether piece `p` of the fixture reads back from `e`'s disk with its hash.
pub fn piece_on_disk(world: &SimWorld, e: &Engine, fx: &Fixture, p: u32) -> bool {
    let info = &fx.meta.info;
    let mut buf = Vec::new();
    for span in info.geometry.piece_spans(p) {
        let f = &info.files[span.file];
        let path = format!("{ROOT}/{}", f.path.as_str());
        let Some(data) = world.read_file(e, &path) else {
            return false;
        };
        let (a, n) = (
            usize::try_from(span.file_offset).unwrap(),
            span.len as usize,
        );
        let Some(part) = data.get(a..a + n) else {
            return false;
        };
        buf.extend_from_slice(part);
    }
    info.pieces.check(p, &buf) == Some(true)
}

/// A seeder, a [`liar`] and `victims` leechers of `fx`: every victim completes
/// with the right data, received bad data, banned exactly the liar and is no
/// longer connected to it.
pub fn liar_swarm_completes_and_bans(world: &SimWorld, fx: &Fixture, victims: usize) {
    let ih = fx.meta.info_hash;
    let good = seeder(world, fx, CoreConfig::default());
    let liar = liar(world, fx);
    let victims: Vec<_> = (0..victims)
        .map(|_| leecher(world, fx, CoreConfig::default()))
        .collect();
    let mut all = vec![&good, &liar];
    all.extend(victims.iter());
    introduce(&all, ih);
    let ok = world.run_while(
        seedring::Time::from_secs(600),
        std::time::Duration::from_millis(500),
        || victims.iter().all(|v| done(v, ih)),
    );
    assert!(
        ok,
        "victims stuck: {:?}",
        victims.iter().map(|v| v.stats(ih)).collect::<Vec<_>>()
    );
    let liar_ip = liar.listen_addr().ip();
    for (i, v) in victims.iter().enumerate() {
        assert_same_data(world, v, fx, &format!("victim {i}"));
        let st = v.stats(ih).unwrap();
        assert!(st.hash_failures > 0, "victim {i} never received bad data");
        assert_eq!(st.banned, 1, "victim {i} banned {} peers", st.banned);
        let peers = v.peer_stats(ih).unwrap();
        assert!(
            peers.iter().all(|p| p.addr.ip() != liar_ip),
            "victim {i} is still connected to the liar"
        );
        // The ban is in its peer log (qBittorrent's `log/peers`), once.
        let log = world.peer_log(v);
        let bans: Vec<_> = log.iter().filter(|e| e.note.ip == liar_ip).collect();
        assert_eq!(bans.len(), 1, "victim {i}: {log:?}");
        assert!(!bans[0].note.blocked, "banned, not refused at the door");
        let why = &bans[0].note.reason;
        assert!(
            why.contains("failed their hash") || why.contains("differs from the good copy"),
            "{log:?}"
        );
    }
}

/// A peer that claims every piece of the fixture, but a byte in every 4 KiB of
/// its copy is wrong.
pub fn liar(world: &SimWorld, fx: &Fixture) -> Engine {
    let liar = Engine::memory(world, CoreConfig::default());
    for (path, bytes) in &fx.files {
        let mut bad = bytes.clone();
        for i in (100..bad.len()).step_by(4096) {
            bad[i] ^= 0x5a;
        }
        world.write_file(&liar, &format!("{ROOT}/{path}"), bad);
    }
    liar.add_torrent(AddTorrent {
        have: Some(Bitfield::full(fx.meta.info.geometry.piece_count())),
        ..AddTorrent::new(TorrentSource::Metainfo(fx.meta.clone()), ROOT)
    })
    .unwrap();
    liar
}

/// Runs the world for at most `secs` seconds, stopping once `until` holds
/// (checked every `check_every`); whether it did.
pub fn run_within(
    world: &SimWorld,
    secs: u64,
    check_every: std::time::Duration,
    until: impl FnMut() -> bool,
) -> bool {
    let limit = world.now() + std::time::Duration::from_secs(secs);
    world.run_while(limit, check_every, until)
}

/// Runs the world for `d`.
pub fn run_for(world: &SimWorld, d: std::time::Duration) {
    world.run_until(world.now() + d);
}

/// Adds `n` magnet links (info-hashes `tag` bytes but for a counter, each
/// with `trackers`, one a tier) to `e`, as a large seedbox's many torrents.
pub fn add_tracked_magnets(e: &Engine, n: u32, tag: u8, trackers: &[&str]) {
    let tr: String = trackers.iter().map(|u| format!("&tr={u}")).collect();
    for i in 0..n {
        let mut ih = [tag; 20];
        ih[..4].copy_from_slice(&i.to_be_bytes());
        let m = seedring::metainfo::Magnet::parse(&format!(
            "magnet:?xt=urn:btih:{}{tr}",
            seedring::InfoHash(ih).to_hex()
        ))
        .unwrap();
        e.add_torrent(AddTorrent::new(TorrentSource::Magnet(m), ROOT))
            .unwrap();
    }
}
