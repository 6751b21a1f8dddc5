//! Resume and storage roots in simulation: crashes with lost and torn writes,
//! restarts from the session store, damaged records, changed files, a root that
//! vanishes and returns, moving a torrent between roots.

mod sim_common;

use std::time::Duration;

use seedring::Engine;
use seedring::core::{AddTorrent, CoreConfig, History, TorrentSource, TorrentState};
use seedring::resume_lmdb::record::StateRecord;
use seedring::resume_lmdb::{MemorySessionStore, SessionStore, state_key};
use seedring::sim::{SimConfig, SimWorld};
use seedring::{InfoHash, Time};
use sim_common::*;

/// The pieces the store's record claims.
fn recorded(store: &MemorySessionStore, ih: InfoHash) -> Option<StateRecord> {
    let bytes = store.get(&state_key(ih)).unwrap()?;
    Some(StateRecord::decode(&bytes).expect("the engine writes readable records"))
}

fn leecher_on(world: &SimWorld, fx: &Fixture, store: &MemorySessionStore) -> Engine {
    let e = Engine::memory_with_store(world, CoreConfig::default(), store.clone());
    e.add_torrent(AddTorrent::new(
        TorrentSource::Metainfo(fx.meta.clone()),
        ROOT,
    ))
    .unwrap();
    e
}

/// A leecher on its own store that has downloaded the fixture from a seeder
/// (gone since).
fn downloaded(seed: u64) -> (SimWorld, Fixture, InfoHash, MemorySessionStore, Engine) {
    let world = world(seed);
    let fx = fixture(seed, "t", FILES, 16 * 1024);
    let ih = fx.meta.info_hash;
    let seeder = seeder(&world, &fx, CoreConfig::default());
    let store = MemorySessionStore::default();
    let leech = leecher_on(&world, &fx, &store);
    introduce(&[&seeder, &leech], ih);
    assert!(
        world.run_while(Time::from_secs(120), Duration::from_millis(100), || done(
            &leech, ih
        ))
    );
    (world, fx, ih, store, leech)
}

/// Crashes at random moments, each followed by a restart from the store: after each,
/// every piece the record claims (and every piece the engine then claims) reads back
/// with its hash; the download still completes with the right bytes.
#[test]
fn crashes_never_leave_a_claimed_piece_that_fails_its_hash() {
    let files: &[(&str, usize)] = &[("a.bin", 700_000), ("b/c.bin", 333_333), ("d", 10)];
    let mut kinds = seedring::sim::CrashLoss::default();
    let mut claimed_total = 0;
    for s in 1..=12u64 {
        let (seed, _g) = seed(s);
        let world = SimWorld::new(SimConfig {
            seed,
            // Slow links and a slow disk: crashes land mid-piece and mid-write.
            link_bytes_per_sec: 400_000,
            disk_delay: Duration::from_millis(30),
            ..SimConfig::default()
        });
        let fx = fixture(seed, "t", files, 32 * 1024);
        let ih = fx.meta.info_hash;
        let seeder = seeder(&world, &fx, CoreConfig::default());
        let store = MemorySessionStore::default();
        let mut leech = leecher_on(&world, &fx, &store);
        introduce(&[&seeder, &leech], ih);
        let mut rng = seedring::core::Rng::new(seed);
        for _crash in 0..4 {
            run_for(&world, Duration::from_millis(300 + rng.below(2500)));
            let (e, loss) = leech.memory_crash_restart(CoreConfig::default());
            leech = e;
            kinds.kept += loss.kept;
            kinds.lost += loss.lost;
            kinds.torn += loss.torn;
            if let Some(rec) = recorded(&store, ih) {
                for p in rec.have.ones() {
                    assert!(
                        piece_on_disk(&world, &leech, &fx, p),
                        "seed {seed}: the record claims piece {p}, which fails its hash"
                    );
                }
                claimed_total += rec.have.count();
            }
            let have = leech.have(ih).expect("restored").expect("metadata");
            for p in have.ones() {
                assert!(
                    piece_on_disk(&world, &leech, &fx, p),
                    "seed {seed}: restored engine claims piece {p}, which fails its hash"
                );
            }
            assert_eq!(leech.restore_report().restored, 1, "seed {seed}");
            leech.add_peers(ih, &[seeder.listen_addr()]).unwrap();
        }
        let finished = world.run_while(Time::from_secs(600), Duration::from_millis(200), || {
            done(&leech, ih)
        });
        assert!(
            finished,
            "seed {seed}: the download completes after the crashes"
        );
        assert_same_data(&world, &leech, &fx, "leecher");
    }
    // The model did hit each kind of damage, and records did claim pieces.
    assert!(
        kinds.lost > 0 && kinds.torn > 0 && kinds.kept > 0,
        "{kinds:?}"
    );
    assert!(claimed_total > 0);
}

/// A clean restart brings back everything the record holds: pieces without a
/// recheck, counters, times (its last activity too), priorities, limits,
/// sequential, paused.
#[test]
fn a_restart_restores_settings_and_counters_without_rechecking() {
    let (seed, _g) = seed(7);
    let (world, fx, ih, store, leech) = downloaded(seed);
    let prio: Vec<u8> = (0..fx.meta.info.files.len())
        .map(|i| [1, 0, 7][i % 3])
        .collect();
    leech.set_file_priorities(ih, &prio).unwrap();
    leech.set_torrent_limits(ih, 12_345, 54_321).unwrap();
    leech.set_sequential(ih, true).unwrap();
    leech.pause(ih).unwrap();
    let before = leech.stats(ih).unwrap();
    leech.flush().unwrap();
    let (leech, _) = leech.memory_crash_restart(CoreConfig::default());
    let after = leech.stats(ih).unwrap();
    assert_eq!(after.state, TorrentState::Paused);
    assert_eq!(after.have_pieces, before.have_pieces);
    assert_eq!(after.downloaded, before.downloaded);
    assert_eq!(after.uploaded, before.uploaded);
    assert_eq!(after.added_at, before.added_at);
    assert_eq!(after.completed_at, before.completed_at);
    assert!(before.active_at.is_some(), "it downloaded");
    assert_eq!(after.active_at, before.active_at);
    assert!(after.note.is_none(), "{:?}", after.note);
    let rec = recorded(&store, ih).unwrap();
    assert_eq!(rec.file_priorities, prio);
    assert_eq!((rec.download_limit, rec.upload_limit), (12_345, 54_321));
    assert!(rec.sequential && rec.paused);
    assert!(leech.restore_report().rechecked.is_empty());
    // Resumed, it seeds once its files are opened: nothing was read back.
    leech.resume(ih).unwrap();
    world.run_until(world.now() + Duration::from_millis(1));
    assert_eq!(leech.stats(ih).unwrap().state, TorrentState::Seeding);
}

/// A damaged record and an unknown version each cost their torrent a recheck; a
/// file changed behind the engine's back costs only its own pieces; the rest load.
#[test]
fn damaged_records_and_changed_files_recheck_only_what_they_touch() {
    let (seed, _g) = seed(11);
    let world = world(seed);
    let store = MemorySessionStore::default();
    let e = Engine::memory_with_store(&world, CoreConfig::default(), store.clone());
    let fxs: Vec<Fixture> = (0..4)
        .map(|i| fixture(seed + i, &format!("t{i}"), FILES, 16 * 1024))
        .collect();
    for fx in &fxs {
        for (path, bytes) in &fx.files {
            world.write_file(&e, &format!("{ROOT}/{path}"), bytes.clone());
        }
        e.add_torrent(AddTorrent::new(
            TorrentSource::Metainfo(fx.meta.clone()),
            ROOT,
        ))
        .unwrap();
    }
    assert!(
        world.run_while(Time::from_secs(60), Duration::from_millis(100), || fxs
            .iter()
            .all(|f| done(&e, f.meta.info_hash)))
    );
    e.flush().unwrap();
    let ih = |i: usize| fxs[i].meta.info_hash;
    // 0: garbage; 1: a version from the future; 2: a file rewritten; 3: untouched.
    store.set(&state_key(ih(0)), b"d1:vi1e4:junke").unwrap();
    let mut v2 = store.get(&state_key(ih(1))).unwrap().unwrap();
    let at = v2.windows(6).position(|w| w == b"1:vi1e").unwrap();
    v2[at + 4] = b'9';
    store.set(&state_key(ih(1)), &v2).unwrap();
    let (path2, bytes2) = &fxs[2].files[0];
    let mut damaged = bytes2.clone();
    damaged[5] ^= 0xFF;
    world.write_file(&e, &format!("{ROOT}/{path2}"), damaged);
    let (e, _) = e.memory_crash_restart(CoreConfig::default());
    let report = e.restore_report().clone();
    assert_eq!(report.restored, 4, "{report:?}");
    let why = |i: usize| {
        report
            .rechecked
            .iter()
            .find(|(h, _)| *h == ih(i))
            .map(|(_, w)| w.clone())
    };
    assert!(why(0).unwrap().contains("corrupted"), "{:?}", why(0));
    assert!(why(1).unwrap().contains("version 9"), "{:?}", why(1));
    // Files are compared with their records once every torrent is back, so
    // the restore's report does not name the changed one: its note does.
    assert!(why(2).is_none() && why(3).is_none(), "{report:?}");
    world.run_until(world.now() + Duration::from_millis(1));
    assert_eq!(e.stats(ih(3)).unwrap().state, TorrentState::Seeding);
    let note = e.stats(ih(2)).unwrap().note.unwrap_or_default();
    assert!(note.contains("1 file(s) changed"), "{note:?}");
    world.run_until(world.now() + Duration::from_secs(10));
    for i in [0, 1, 3] {
        assert_eq!(e.stats(ih(i)).unwrap().state, TorrentState::Seeding, "{i}");
    }
    // The damaged piece (the first of file 0) is found out; the others stay.
    let have = e.have(ih(2)).unwrap().unwrap();
    assert!(!have.get(0));
    assert_eq!(have.count(), have.len() - 1);
}

/// An unmounted root stops its torrents with an error and nothing is written into
/// the empty mount point; when it returns, a sample is checked and they go on.
/// Returning with damaged data, the sample fails and a full recheck follows.
#[test]
fn a_vanished_root_stops_its_torrents_until_it_returns() {
    let (seed, _g) = seed(5);
    let world = SimWorld::new(SimConfig {
        seed,
        link_bytes_per_sec: 300_000,
        ..SimConfig::default()
    });
    let fx = fixture(seed, "t", &[("big.bin", 900_000)], 16 * 1024);
    let ih = fx.meta.info_hash;
    let seeder = seeder(&world, &fx, CoreConfig::default());
    let leech = leecher(&world, &fx, CoreConfig::default());
    introduce(&[&seeder, &leech], ih);
    run_for(&world, Duration::from_secs(1));
    let had = leech.stats(ih).unwrap().have_pieces;
    assert!(had > 0 && had < fx.meta.info.geometry.piece_count());
    world.unmount(&leech, ROOT);
    run_for(&world, Duration::from_secs(3));
    let st = leech.stats(ih).unwrap();
    assert!(
        matches!(&st.state, TorrentState::Error(e) if e.contains("unavailable")),
        "{:?}",
        st.state
    );
    assert_eq!(st.peers, 0);
    assert!(
        world
            .read_file(&leech, &format!("{ROOT}/t/big.bin"))
            .is_none(),
        "nothing is written into the empty mount point"
    );
    let roots = leech.roots();
    assert!(!roots[0].health.exists);
    // Resume does not override a missing root.
    leech.resume(ih).unwrap();
    assert!(matches!(
        leech.stats(ih).unwrap().state,
        TorrentState::Error(_)
    ));
    world.mount(&leech, ROOT);
    leech.add_peers(ih, &[seeder.listen_addr()]).unwrap();
    assert!(
        world.run_while(Time::from_secs(300), Duration::from_millis(100), || done(
            &leech, ih
        ))
    );
    assert!(leech.stats(ih).unwrap().note.is_none());
    assert_same_data(&world, &leech, &fx, "leecher");

    // Again, but the disk comes back with other data: every sampled piece fails.
    world.unmount(&leech, ROOT);
    run_for(&world, Duration::from_secs(3));
    world.write_file(&leech, &format!("{ROOT}/t/big.bin"), vec![0; 900_000]);
    world.write_file(&leech, &format!("{ROOT}/.seedring-root"), b"x".to_vec());
    run_for(&world, Duration::from_secs(3));
    let st = leech.stats(ih).unwrap();
    assert!(st.note.unwrap().contains("full recheck"));
    assert!(st.have_pieces < 2, "nothing of the wrong disk is trusted");
}

/// Moving between roots: the files change place, the torrent seeds from the new
/// one, the old one is empty, and a root in use cannot be removed.
#[test]
fn move_storage_between_roots_keeps_seeding() {
    let (seed, _g) = seed(3);
    let world = world(seed);
    let fx = fixture(seed, "t", FILES, 16 * 1024);
    let ih = fx.meta.info_hash;
    let seeder = seeder(&world, &fx, CoreConfig::default());
    seeder
        .add_root("disk2", "second disk", std::path::Path::new("/disk2"))
        .unwrap();
    assert!(
        world.run_while(Time::from_secs(30), Duration::from_millis(100), || done(
            &seeder, ih
        ))
    );
    let root_token = seeder.stats(ih).unwrap().root;
    assert!(seeder.remove_root(&root_token).is_err(), "in use");
    seeder.move_storage(ih, "disk2").unwrap();
    assert!(
        world.run_while(Time::from_secs(60), Duration::from_millis(50), || {
            seeder.stats(ih).unwrap().state == TorrentState::Seeding
        })
    );
    let st = seeder.stats(ih).unwrap();
    assert_eq!(&*st.root, "disk2");
    let (root, paths) = seeder.torrent_files(ih).unwrap();
    assert_eq!(root.token, "disk2");
    assert!(paths.iter().all(|p| p.starts_with("/disk2/t")), "{paths:?}");
    assert!(st.note.is_none(), "{:?}", st.note);
    for (path, bytes) in &fx.files {
        assert!(
            world
                .read_file(&seeder, &format!("{ROOT}/{path}"))
                .is_none()
        );
        assert_eq!(
            world.read_file(&seeder, &format!("/disk2/{path}")).as_ref(),
            Some(bytes)
        );
    }
    assert!(seeder.remove_root(&root_token).is_ok(), "empty now");
    // A new leecher gets correct data from the moved copy.
    let leech = leecher(&world, &fx, CoreConfig::default());
    introduce(&[&seeder, &leech], ih);
    assert!(
        world.run_while(Time::from_secs(120), Duration::from_millis(100), || done(
            &leech, ih
        ))
    );
    assert_same_data(&world, &leech, &fx, "leecher");
    // And after a restart, the torrent is in its new root.
    let (seeder, _) = seeder.memory_crash_restart(CoreConfig::default());
    assert_eq!(&*seeder.stats(ih).unwrap().root, "disk2");
    world.run_until(world.now() + Duration::from_millis(1));
    assert_eq!(seeder.stats(ih).unwrap().state, TorrentState::Seeding);
}

/// A torrent whose resume record (which names its root) is unusable comes
/// back in the root that holds its files, not in the default root.
#[test]
fn a_torrent_without_a_usable_record_is_found_in_the_root_holding_its_files() {
    let (seed, _g) = seed(5);
    let world = world(seed);
    let store = MemorySessionStore::default();
    let e = Engine::memory_with_store(&world, CoreConfig::default(), store.clone());
    e.add_root("main", "the default", std::path::Path::new(ROOT))
        .unwrap();
    e.add_root("disk2", "second disk", std::path::Path::new("/disk2"))
        .unwrap();
    let fx = fixture(seed, "t", FILES, 16 * 1024);
    let ih = fx.meta.info_hash;
    for (path, bytes) in &fx.files {
        world.write_file(&e, &format!("/disk2/{path}"), bytes.clone());
    }
    e.add_torrent(AddTorrent::new(
        TorrentSource::Metainfo(fx.meta.clone()),
        "disk2",
    ))
    .unwrap();
    assert!(
        world.run_while(Time::from_secs(30), Duration::from_millis(100), || done(
            &e, ih
        ))
    );
    e.flush().unwrap();
    let default = e.roots().into_iter().find(|r| r.is_default).unwrap();
    assert_ne!(default.root.token, "disk2");
    store.set(&state_key(ih), b"d1:vi1e4:junke").unwrap();
    let (e, _) = e.memory_crash_restart(CoreConfig::default());
    assert_eq!(e.restore_report().restored, 1);
    assert_eq!(&*e.stats(ih).unwrap().root, "disk2");
    assert!(
        world.run_while(Time::from_secs(30), Duration::from_millis(100), || done(
            &e, ih
        ))
    );
    for (path, bytes) in &fx.files {
        let there = world.read_file(&e, &format!("/disk2/{path}"));
        assert_eq!(there.as_ref(), Some(bytes), "{path}");
        assert!(world.read_file(&e, &format!("{ROOT}/{path}")).is_none());
    }
}

/// A magnet still fetching its metadata survives a restart as a magnet.
#[test]
fn a_magnet_without_metadata_survives_a_restart() {
    let world = world(1);
    let store = MemorySessionStore::default();
    let e = Engine::memory_with_store(&world, CoreConfig::default(), store);
    let m = seedring::metainfo::Magnet::parse(&format!(
        "magnet:?xt=urn:btih:{}&dn=later&tr=http%3A%2F%2F127.0.0.1%3A1%2Fa",
        "ab".repeat(20)
    ))
    .unwrap();
    let ih = e
        .add_torrent(AddTorrent::new(TorrentSource::Magnet(m), ROOT))
        .unwrap();
    run_for(&world, Duration::from_secs(1));
    let (e, _) = e.memory_crash_restart(CoreConfig::default());
    let st = e.stats(ih).unwrap();
    assert_eq!(st.state, TorrentState::FetchingMetadata);
    assert_eq!(&*st.name, "later");
}

/// Roots through the engine: a folder becomes a root of its own, the default root
/// takes torrents added without one, tokens and paths both name a root, and a root
/// that is not there refuses new torrents.
#[test]
fn roots_default_tokens_and_paths() {
    let world = world(2);
    let e = Engine::memory(&world, CoreConfig::default());
    let fx = |i| fixture(i, &format!("t{i}"), FILES, 16 * 1024);
    let add = |fx: &Fixture, root: &str| {
        e.add_torrent(AddTorrent::new(
            TorrentSource::Metainfo(fx.meta.clone()),
            root,
        ))
    };
    let (a, b, c) = (fx(1), fx(2), fx(3));
    add(&a, "/first").unwrap(); // a folder: a root of its own, the default
    e.add_root("fast", "NVMe", std::path::Path::new("/nvme"))
        .unwrap();
    assert!(
        e.add_root("fast", "again", std::path::Path::new("/x"))
            .is_err()
    );
    assert!(
        e.add_root("rel", "relative", std::path::Path::new("rel"))
            .is_err()
    );
    e.set_default_root("fast").unwrap();
    add(&b, "").unwrap(); // the default, now "fast"
    add(&c, "/first").unwrap(); // the path of an existing root
    let root = |fx: &Fixture| e.stats(fx.meta.info_hash).unwrap().root;
    assert_eq!(&*root(&b), "fast");
    assert_eq!(root(&a), root(&c));
    let roots = e.roots();
    assert_eq!(roots.len(), 2);
    assert!(roots.iter().all(|r| r.health.exists));
    assert_eq!(
        roots.iter().find(|r| r.is_default).unwrap().root.token,
        "fast"
    );
    assert_eq!(roots.iter().map(|r| r.torrents).sum::<usize>(), 3);
    world.unmount(&e, "/nvme");
    let d = fx(4);
    let err = add(&d, "fast").unwrap_err();
    assert!(err.to_string().contains("unavailable"), "{err}");
    e.remove(b.meta.info_hash, false).unwrap();
    e.remove_root("fast").unwrap();
    assert!(e.set_default_root("fast").is_err());
}

/// A root that vanishes in the middle of a full recheck: the check waits and, once
/// the root is back, goes on from where it was; no piece is given up for the reads
/// that failed while the disk was gone.
#[test]
fn a_check_interrupted_by_a_vanished_root_finishes_when_it_returns() {
    let (seed, _g) = seed(9);
    let world = SimWorld::new(SimConfig {
        seed,
        disk_delay: Duration::from_millis(50),
        ..SimConfig::default()
    });
    let fx = fixture(seed, "t", &[("big.bin", 900_000)], 16 * 1024);
    let ih = fx.meta.info_hash;
    // Checked four pieces at a time: the check takes many disk trips.
    let cfg = CoreConfig {
        check_batch_bytes: 64 * 1024,
        ..CoreConfig::default()
    };
    let e = seeder(&world, &fx, cfg);
    run_for(&world, Duration::from_millis(200));
    assert_eq!(e.stats(ih).unwrap().state, TorrentState::Checking);
    world.unmount(&e, ROOT);
    run_for(&world, Duration::from_secs(3));
    assert!(matches!(e.stats(ih).unwrap().state, TorrentState::Error(_)));
    world.mount(&e, ROOT);
    assert!(
        world.run_while(Time::from_secs(60), Duration::from_millis(100), || done(
            &e, ih
        ))
    );
    let st = e.stats(ih).unwrap();
    assert_eq!(st.have_pieces, st.total_pieces);
}

/// Torrents whose shard holds piece hashes in memory, over every shard.
fn resident(e: &Engine) -> usize {
    e.counters()
        .unwrap()
        .iter()
        .map(|c| c.resident_metadata)
        .sum()
}

fn metadata_loads(e: &Engine) -> u64 {
    e.counters().unwrap().iter().map(|c| c.metadata_loads).sum()
}

/// A complete torrent restored from the store holds its layout only: it seeds
/// without its piece hashes, reads them back when a magnet peer asks for the
/// metadata or a recheck needs them, and lets them go again once quiet.
#[test]
fn a_restored_seed_holds_no_hashes_until_it_needs_them() {
    let (seed, _g) = seed(21);
    let (world, fx, ih, _, leech) = downloaded(seed);
    assert_eq!(
        resident(&leech),
        1,
        "just downloaded: hashes still in memory"
    );
    leech.flush().unwrap();
    let (restored, _) = leech.memory_crash_restart(CoreConfig::default());
    run_for(&world, Duration::from_millis(10));
    assert!(done(&restored, ih));
    assert_eq!(resident(&restored), 0, "restored complete: layout only");
    assert_eq!(metadata_loads(&restored), 0);

    // A magnet leecher that knows only the restored seed gets the metadata and
    // the data from it.
    let uri = format!(
        "magnet:?xt=urn:btih:{}&x.pe={}",
        ih.to_hex(),
        restored.listen_addr()
    );
    let m = Engine::memory(&world, CoreConfig::default());
    m.add_torrent(AddTorrent::new(
        TorrentSource::Magnet(seedring::metainfo::Magnet::parse(&uri).unwrap()),
        ROOT,
    ))
    .unwrap();
    let ok = world.run_while(
        world.now() + Duration::from_secs(300),
        Duration::from_millis(250),
        || done(&m, ih),
    );
    assert!(ok, "magnet leecher stuck: {:?}", m.stats(ih));
    assert_same_data(&world, &m, &fx, "magnet leecher");
    assert_eq!(
        metadata_loads(&restored),
        1,
        "read back once for the metadata request"
    );

    // Quiet for a while: let go again. A recheck reads them back and passes.
    run_for(&world, Duration::from_secs(90));
    assert_eq!(resident(&restored), 0, "released once quiet");
    restored.force_recheck(ih).unwrap();
    assert!(world.run_while(
        world.now() + Duration::from_secs(60),
        Duration::from_millis(100),
        || done(&restored, ih)
    ));
    let st = restored.stats(ih).unwrap();
    assert_eq!(st.have_pieces, fx.meta.info.geometry.piece_count());
    assert_eq!(metadata_loads(&restored), 2);
    run_for(&world, Duration::from_secs(90));
    assert_eq!(resident(&restored), 0);
}

/// A store written before layout records existed (or with a damaged one) is
/// restored from the metadata itself, and the layout record written for the next
/// start.
#[test]
fn a_missing_layout_record_is_read_from_the_metadata_and_written_again() {
    let (seed, _g) = seed(22);
    let (world, _, ih, store, leech) = downloaded(seed);
    leech.flush().unwrap();
    let key = seedring::resume_lmdb::layout_key(ih);
    assert!(
        store.get(&key).unwrap().is_some(),
        "written with the metadata"
    );
    store.delete(&key).unwrap();
    let (restored, _) = leech.memory_crash_restart(CoreConfig::default());
    run_for(&world, Duration::from_millis(10));
    assert!(done(&restored, ih));
    assert!(restored.restore_report().rechecked.is_empty());
    assert!(
        store.get(&key).unwrap().is_some(),
        "written again at the start"
    );
    store.set(&key, b"d1:vi1ee").unwrap();
    let (again, _) = restored.memory_crash_restart(CoreConfig::default());
    run_for(&world, Duration::from_millis(10));
    assert!(done(&again, ih), "a damaged layout record costs nothing");
}

/// A file deleted while the engine was stopped: the torrent comes back stopped
/// with its files missing (nothing made in the file's place, nothing fetched);
/// resumed, it checks everything first and fetches only what is gone.
#[test]
fn a_file_gone_while_stopped_waits_for_the_user() {
    let (seed, _g) = seed(13);
    let (world, fx, ih, _store, leech) = downloaded(seed);
    leech.flush().unwrap();
    let (gone, _) = &fx.files[0];
    let gone_path = format!("{ROOT}/{gone}");
    world.remove_file(&leech, &gone_path);
    let (leech, _) = leech.memory_crash_restart(CoreConfig::default());
    let pieces = fx.meta.info.geometry.piece_count();
    run_for(&world, Duration::from_secs(5));
    let s = leech.stats(ih).unwrap();
    match &s.state {
        TorrentState::Error(e) => assert!(
            e.contains("its files are missing") && e.contains(gone.as_str()),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(s.files_missing && !s.root_missing);
    assert_eq!(
        s.have_pieces, pieces,
        "the record's pieces are kept as they were"
    );
    let before = s.downloaded;
    assert!(
        world.read_file(&leech, &gone_path).is_none(),
        "nothing made in its place"
    );
    // Resumed: a whole check, the gone file's pieces fetched from a seeder again.
    let seeder = seeder(&world, &fx, CoreConfig::default());
    leech.resume(ih).unwrap();
    introduce(&[&seeder, &leech], ih);
    assert!(
        world.run_while(Time::from_secs(300), Duration::from_millis(100), || done(
            &leech, ih
        ))
    );
    let s = leech.stats(ih).unwrap();
    assert!(!s.files_missing && s.downloaded > before, "{s:?}");
    for (path, bytes) in &fx.files {
        assert_eq!(
            world.read_file(&leech, &format!("{ROOT}/{path}")).as_ref(),
            Some(bytes),
            "{path}"
        );
    }
}

/// A save made before a restart has compared the files with the record keeps
/// the record's stamps: a file changed while the engine was down is still
/// found after a second crash, not trusted under new stamps.
#[test]
fn a_save_before_the_comparison_does_not_hide_a_changed_file() {
    let (seed, _g) = seed(17);
    let (world, fx, ih, _store, leech) = downloaded(seed);
    leech.flush().unwrap();
    let (path, bytes) = &fx.files[0];
    let mut damaged = bytes.clone();
    damaged[5] ^= 0xFF;
    world.write_file(&leech, &format!("{ROOT}/{path}"), damaged);
    let (leech, _) = leech.memory_crash_restart(CoreConfig::default());
    // Saved at once: its files' comparison is still on its way.
    leech.flush().unwrap();
    let (leech, _) = leech.memory_crash_restart(CoreConfig::default());
    let noted = || {
        let note = leech.stats(ih).unwrap().note;
        note.is_some_and(|n| n.contains("1 file(s) changed"))
    };
    assert!(world.run_while(Time::from_secs(10), Duration::from_millis(10), noted));
    // Found out, and fetched again from the seeder.
    assert!(
        world.run_while(Time::from_secs(60), Duration::from_millis(100), || {
            world.read_file(&leech, &format!("{ROOT}/{path}")).as_ref() == Some(bytes)
        }),
        "the damaged piece is never trusted"
    );
    assert!(done(&leech, ih));
}

/// A restart while a check is under way checks the torrent again: what the
/// check had found so far is not all its files hold (it came back
/// downloading what its disk held); an import's completion time elsewhere
/// survives it.
#[test]
fn a_check_cut_short_by_a_restart_is_made_again() {
    let (seed, _g) = seed(13);
    let world = SimWorld::new(SimConfig {
        seed,
        disk_delay: Duration::from_millis(50),
        ..SimConfig::default()
    });
    let fx = fixture(seed, "t", &[("big.bin", 900_000)], 16 * 1024);
    let ih = fx.meta.info_hash;
    let cfg = CoreConfig {
        check_batch_bytes: 64 * 1024,
        ..CoreConfig::default()
    };
    // An import: it finished in the client it came from.
    let e = engine(&world, cfg.clone());
    for (path, bytes) in &fx.files {
        world.write_file(&e, &format!("{ROOT}/{path}"), bytes.clone());
    }
    let past = History {
        completed_at: Some(1_600_000_100),
        ..History::default()
    };
    let add = AddTorrent {
        history: Some(past),
        ..AddTorrent::new(TorrentSource::Metainfo(fx.meta.clone()), ROOT)
    };
    e.add_torrent(add).unwrap();
    run_for(&world, Duration::from_millis(200));
    assert_eq!(e.stats(ih).unwrap().state, TorrentState::Checking);
    e.flush().unwrap();
    let (e, _) = e.memory_crash_restart(cfg);
    let why = &e.restore_report().rechecked;
    assert!(
        why.iter()
            .any(|(h, n)| *h == ih && n.contains("a check was under way")),
        "{why:?}"
    );
    assert_eq!(e.stats(ih).unwrap().state, TorrentState::Checking);
    assert!(
        world.run_while(Time::from_secs(60), Duration::from_millis(100), || done(
            &e, ih
        ))
    );
    let st = e.stats(ih).unwrap();
    assert_eq!(st.have_pieces, st.total_pieces);
    assert_eq!(st.downloaded, 0, "found on its disk, nothing fetched");
    assert_eq!(
        st.completed_at,
        Some(1_600_000_100),
        "when it finished there"
    );
}
