//! The Engine API in a simulated swarm: priorities, pause/resume, recheck, remove,
//! sequential download, renamed files, and a full disk.

mod sim_common;

use std::time::Duration;

use seedring::core::{CoreConfig, TorrentState};
use seedring::sim::{SimConfig, SimWorld};
use sim_common::*;

fn pair(seed: u64, piece: u32) -> (SimWorld, Fixture, seedring::Engine, seedring::Engine) {
    let world = world(seed);
    let fx = fixture(seed, "cmd", FILES, piece);
    let s = seeder(&world, &fx, CoreConfig::default());
    let l = leecher(&world, &fx, CoreConfig::default());
    introduce(&[&s, &l], fx.meta.info_hash);
    (world, fx, s, l)
}

fn run(world: &SimWorld, secs: u64, until: impl FnMut() -> bool) -> bool {
    run_within(world, secs, Duration::from_millis(200), until)
}

#[test]
fn skipped_files_are_not_downloaded() {
    let (seed, _g) = seed(51);
    let (world, fx, _s, l) = pair(seed, 16 * 1024);
    let ih = fx.meta.info_hash;
    // Skip dir/b.bin (index 3), the largest file: that file's priority
    // alone, the others kept.
    pollster::block_on(l.set_some_file_priorities_async(ih, vec![3], 0)).unwrap();
    let mut prio = vec![1u8; fx.meta.info.files.len()];
    prio[3] = 0;
    let kept = pollster::block_on(l.file_priorities_async(ih)).unwrap();
    assert_eq!(kept, prio);
    assert!(run(&world, 300, || done(&l, ih)), "{:?}", l.stats(ih));
    for (i, (path, bytes)) in fx.files.iter().enumerate() {
        let got = world.read_file(&l, &format!("{ROOT}/{path}"));
        if i == 3 {
            // Only the edges inside pieces shared with wanted neighbours are written.
            let matching = got.map_or(0, |g| g.iter().zip(bytes).filter(|(a, b)| a == b).count());
            assert!(
                matching < bytes.len() / 4,
                "skipped file has {matching} bytes of data"
            );
        } else {
            assert_eq!(got.as_ref(), Some(bytes), "{path}");
        }
    }
    let st = l.stats(ih).unwrap();
    assert!(st.have_pieces < st.total_pieces);
    assert!((st.progress - 1.0).abs() < 1e-9);
    assert!(
        l.set_file_priorities(ih, &[1]).is_err(),
        "wrong length accepted"
    );
    let past = prio.len();
    assert!(
        pollster::block_on(l.set_some_file_priorities_async(ih, vec![0, past], 7)).is_err(),
        "a file past the last accepted"
    );
    assert_eq!(
        pollster::block_on(l.file_priorities_async(ih)).unwrap(),
        prio,
        "a refused change changed nothing"
    );
}

#[test]
fn pause_stops_and_resume_finishes() {
    let (seed, _g) = seed(52);
    let (world, fx, _s, l) = pair(seed, 16 * 1024);
    let ih = fx.meta.info_hash;
    assert!(run(&world, 60, || l.stats(ih).unwrap().have_pieces > 5));
    l.pause(ih).unwrap();
    let at_pause = l.stats(ih).unwrap();
    assert_eq!(at_pause.state, TorrentState::Paused);
    run(&world, 30, || false);
    let later = l.stats(ih).unwrap();
    assert_eq!(
        later.have_pieces, at_pause.have_pieces,
        "progress while paused"
    );
    assert_eq!(later.peers, 0);
    l.resume(ih).unwrap();
    assert!(run(&world, 300, || done(&l, ih)), "{:?}", l.stats(ih));
    assert_same_data(&world, &l, &fx, "resumed");
}

#[test]
fn force_recheck_finds_damage_and_repairs_it() {
    let (seed, _g) = seed(53);
    let (world, fx, _s, l) = pair(seed, 16 * 1024);
    let ih = fx.meta.info_hash;
    assert!(run(&world, 300, || done(&l, ih)));
    // Damage one file behind the engine's back, then recheck.
    let (path, bytes) = &fx.files[0];
    let mut bad = bytes.clone();
    bad[1000] ^= 1;
    world.write_file(&l, &format!("{ROOT}/{path}"), bad);
    l.force_recheck(ih).unwrap();
    assert_eq!(l.stats(ih).unwrap().state, TorrentState::Checking);
    // Looked at as soon as the check ends (every simulated millisecond): the
    // bad piece is asked of the seeder at once, and a coarser look can find it
    // repaired already.
    assert!(run_within(&world, 60, Duration::from_millis(1), || l
        .stats(ih)
        .unwrap()
        .state
        != TorrentState::Checking));
    let st = l.stats(ih).unwrap();
    assert_eq!(
        st.have_pieces,
        st.total_pieces - 1,
        "exactly one piece is bad"
    );
    // It downloads the bad piece again from the seeder.
    assert!(run(&world, 300, || done(&l, ih)), "{:?}", l.stats(ih));
    assert_same_data(&world, &l, &fx, "repaired");
}

#[test]
fn remove_with_delete_removes_the_files() {
    let (seed, _g) = seed(54);
    let (world, fx, s, l) = pair(seed, 16 * 1024);
    let ih = fx.meta.info_hash;
    assert!(run(&world, 300, || done(&l, ih)));
    l.remove(ih, true).unwrap();
    assert!(l.stats(ih).is_err());
    assert!(l.torrents().unwrap().is_empty());
    for (path, _) in &fx.files {
        assert!(
            world.read_file(&l, &format!("{ROOT}/{path}")).is_none(),
            "{path} left behind"
        );
    }
    // Removing without delete keeps the data.
    s.remove(ih, false).unwrap();
    assert_same_data(&world, &s, &fx, "seeder after remove");
    assert!(s.remove(ih, false).is_err());
}

#[test]
fn sequential_download_fills_pieces_in_order() {
    let (seed, _g) = seed(55);
    let (world, fx, _s, l) = pair(seed, 16 * 1024);
    let ih = fx.meta.info_hash;
    l.set_sequential(ih, true).unwrap();
    let total = fx.meta.info.geometry.piece_count();
    assert!(run(&world, 300, || l.stats(ih).unwrap().have_pieces
        >= total / 2));
    // Everything had is a prefix, give or take the pieces still in flight.
    let have = l.have(ih).unwrap().unwrap();
    let highest = have.ones().last().unwrap();
    assert!(
        highest < have.count() + 8,
        "had {} pieces but the highest is {highest}: not in order",
        have.count()
    );
    assert!(run(&world, 300, || done(&l, ih)));
    assert_same_data(&world, &l, &fx, "sequential");
}

#[test]
fn first_and_last_pieces_of_each_file_come_first() {
    let (seed, _g) = seed(57);
    let (world, fx, _s, l) = pair(seed, 16 * 1024);
    let ih = fx.meta.info_hash;
    // Slow enough that the first pieces can be seen before the rest arrive.
    l.set_torrent_limits(ih, 64 * 1024, 0).unwrap();
    l.set_first_last(ih, true).unwrap();
    assert!(l.stats(ih).unwrap().settings.first_last);
    let g = &fx.meta.info.geometry;
    let mut edges = std::collections::BTreeSet::new();
    for f in 0..fx.meta.info.files.len() {
        let r = g.file_pieces(f);
        if !r.is_empty() {
            edges.insert(r.start);
            edges.insert(r.end - 1);
        }
    }
    let edges_had = || {
        let have = l.have(ih).unwrap().unwrap();
        edges.iter().all(|&p| have.get(p))
    };
    assert!(run(&world, 300, edges_had));
    // The edges are asked for first, so they are the first pieces had (give
    // or take the few that arrive between two looks at 64 KiB/s).
    let have = l.have(ih).unwrap().unwrap();
    assert!(
        have.count() as usize <= edges.len() + 6,
        "the file edges {edges:?} came only after {} pieces: {:?}",
        have.count(),
        have.ones().collect::<Vec<_>>()
    );
    // Off again: the rest follows, and the data is whole.
    l.set_first_last(ih, false).unwrap();
    l.set_torrent_limits(ih, 0, 0).unwrap();
    assert!(run(&world, 300, || done(&l, ih)));
    assert_same_data(&world, &l, &fx, "first and last");
}

#[test]
fn no_subfolder_puts_the_files_straight_into_the_root() {
    let (seed, _g) = seed(59);
    let world = world(seed);
    let fx = fixture(seed, "folder", FILES, 16 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    let l = engine(&world, CoreConfig::default());
    let mut add = seedring::core::AddTorrent::new(
        seedring::core::TorrentSource::Metainfo(fx.meta.clone()),
        ROOT,
    );
    add.have = Some(seedring::core::Bitfield::new(
        fx.meta.info.geometry.piece_count(),
    ));
    add.settings.content_layout = seedring::metainfo::ContentLayout::NoSubfolder;
    l.add_torrent(add).unwrap();
    introduce(&[&s, &l], ih);
    assert!(run(&world, 300, || done(&l, ih)));
    for (path, bytes) in &fx.files {
        let inner = path.strip_prefix("folder/").unwrap();
        let got = world.read_file(&l, &format!("{ROOT}/{inner}"));
        assert_eq!(got.as_ref(), Some(bytes), "{inner}");
        assert!(
            world.read_file(&l, &format!("{ROOT}/{path}")).is_none(),
            "{path}"
        );
    }
}

/// Renamed files and a renamed folder move on the (memory) disk, the torrent
/// runs again under the new names and serves a new leecher from them; a name
/// that is taken is refused and nothing moves.
#[test]
fn renamed_files_move_and_are_served_under_their_new_names() {
    let (seed, _g) = seed(60);
    let (world, fx, s, l) = pair(seed, 16 * 1024);
    let ih = fx.meta.info_hash;
    assert!(run(&world, 300, || done(&l, ih)));
    let path = |p: &str| p.split('/').map(str::to_owned).collect::<Vec<_>>();
    // a.bin (0) to another folder; dir/ (3, 4) to "disc 1".
    let renames = vec![
        (0, path("cmd/art/front.bin")),
        (3, path("cmd/disc 1/b.bin")),
        (4, path("cmd/disc 1/c.bin")),
    ];
    l.rename_files(ih, renames).unwrap();
    assert!(
        run(&world, 60, || {
            l.stats(ih)
                .is_ok_and(|t| t.state == TorrentState::Seeding && t.note.is_none())
        }),
        "{:?}",
        l.stats(ih)
    );
    let moved = |p: &str| {
        p.replace("cmd/a.bin", "cmd/art/front.bin")
            .replace("cmd/dir/", "cmd/disc 1/")
    };
    for (p, bytes) in &fx.files {
        let now = moved(p);
        assert_eq!(
            world.read_file(&l, &format!("{ROOT}/{now}")).as_ref(),
            Some(bytes),
            "{now}"
        );
        if now != *p {
            assert!(
                world.read_file(&l, &format!("{ROOT}/{p}")).is_none(),
                "{p} is still there"
            );
        }
    }
    // Taken: refused at once.
    assert!(l.rename_files(ih, vec![(1, path("cmd/z.bin"))]).is_err());
    // A new leecher, served by the renamed torrent alone.
    drop(s);
    let l2 = leecher(&world, &fx, CoreConfig::default());
    introduce(&[&l, &l2], ih);
    assert!(run(&world, 300, || done(&l2, ih)), "{:?}", l2.stats(ih));
    for (p, bytes) in &fx.files {
        assert_eq!(
            world.read_file(&l2, &format!("{ROOT}/{p}")).as_ref(),
            Some(bytes),
            "{p}"
        );
    }
}

/// A rename while the torrent downloads: it stops, its files written so far
/// move, and it completes under the new names.
#[test]
fn a_rename_midway_through_a_download_completes_under_the_new_names() {
    let (seed, _g) = seed(61);
    let (world, fx, _s, l) = pair(seed, 16 * 1024);
    let ih = fx.meta.info_hash;
    // Slow enough to be midway when the rename comes.
    l.set_torrent_limits(ih, 100_000, 0).unwrap();
    assert!(run(&world, 300, || {
        l.stats(ih).is_ok_and(|t| t.have_pieces > 5)
    }));
    assert!(!done(&l, ih), "done before the rename");
    let path = |p: &str| p.split('/').map(str::to_owned).collect::<Vec<_>>();
    l.rename_files(ih, vec![(3, path("cmd/moved/b.bin"))])
        .unwrap();
    assert!(run(&world, 300, || done(&l, ih)), "{:?}", l.stats(ih));
    for (p, bytes) in &fx.files {
        let now = p.replace("cmd/dir/b.bin", "cmd/moved/b.bin");
        assert_eq!(
            world.read_file(&l, &format!("{ROOT}/{now}")).as_ref(),
            Some(bytes),
            "{now}"
        );
    }
    assert!(
        world
            .read_file(&l, &format!("{ROOT}/cmd/dir/b.bin"))
            .is_none()
    );
}

/// A full disk stops a download, not the torrent: it asks for nothing new
/// (trying again every 30 s), keeps its peers and serves what it has, says why
/// in its note, and completes once space returns. Other torrents go on.
#[test]
fn full_disk_pauses_the_download_keeps_seeding_and_resumes_with_space() {
    let (seed, _g) = seed(56);
    let world = SimWorld::new(SimConfig {
        seed,
        disk_capacity: Some(400_000),
        ..SimConfig::default()
    });
    let small = fixture(seed + 1, "small", &[("s.bin", 100_000)], 16 * 1024);
    let big = fixture(seed, "big", FILES, 16 * 1024);
    let s1 = seeder(&world, &small, CoreConfig::default());
    let l = leecher(&world, &small, CoreConfig::default());
    introduce(&[&s1, &l], small.meta.info_hash);
    assert!(run(&world, 300, || done(&l, small.meta.info_hash)));
    // Now a torrent three times the free space.
    let s2 = seeder(&world, &big, CoreConfig::default());
    let big_ih = big.meta.info_hash;
    let empty = || seedring::core::AddTorrent {
        have: Some(seedring::core::Bitfield::new(
            big.meta.info.geometry.piece_count(),
        )),
        ..seedring::core::AddTorrent::new(
            seedring::core::TorrentSource::Metainfo(big.meta.clone()),
            ROOT,
        )
    };
    l.add_torrent(empty()).unwrap();
    introduce(&[&s2, &l], big_ih);
    let full = |e: &seedring::Engine| {
        e.stats(big_ih)
            .unwrap()
            .note
            .is_some_and(|n| n.starts_with("disk full"))
    };
    assert!(run(&world, 600, || full(&l)));
    let at_full = l.stats(big_ih).unwrap();
    assert!(
        at_full
            .note
            .as_ref()
            .unwrap()
            .contains("No space left on device"),
        "{at_full:?}"
    );
    // Two minutes on: still a running download with its peer, asking only at
    // each retry (what those bring is lost again, a few pieces at most).
    assert!(!run(&world, 120, || false));
    let later = l.stats(big_ih).unwrap();
    assert_eq!(later.state, TorrentState::Downloading, "{later:?}");
    assert!(later.peers >= 1, "{later:?}");
    assert_eq!(later.have_pieces, at_full.have_pieces);
    let fetched = later.downloaded - at_full.downloaded;
    eprintln!("fetched in 120 s of a full disk: {fetched} bytes");
    assert!(fetched <= 512 * 1024, "{fetched} bytes fetched while full");
    // It serves what it holds: a newcomer told only of it gets those pieces.
    let l2 = engine(&world, CoreConfig::default());
    l2.add_torrent(empty()).unwrap();
    introduce(&[&l, &l2], big_ih);
    // (It may learn of the seeder through PEX and hold more: every piece the
    // full one holds is what is asked, unless the newcomer's own disk, as small,
    // fills first with the seeder's; the full one must have served it then.)
    let held = l.have(big_ih).unwrap().unwrap();
    let served_before = l.stats(big_ih).unwrap().uploaded;
    assert!(run(&world, 120, || {
        let all = l2
            .have(big_ih)
            .unwrap()
            .is_some_and(|h| held.ones().all(|p| h.get(p)));
        let served = l.stats(big_ih).unwrap().uploaded - served_before;
        all || (full(&l2) && served >= 64 * 1024)
    }));
    // Space returns: the download completes, the note goes.
    world.set_disk_capacity(None);
    assert!(run(&world, 600, || done(&l, big_ih)));
    assert_same_data(&world, &l, &big, "big torrent");
    assert_eq!(l.stats(big_ih).unwrap().note, None);
    // The other torrent was never touched.
    assert_eq!(
        l.stats(small.meta.info_hash).unwrap().state,
        TorrentState::Seeding
    );
    assert_same_data(&world, &l, &small, "small torrent");
}

#[test]
fn stats_since_a_version_carry_only_what_changed() {
    let (seed, _g) = seed(57);
    let (world, fx, s, l) = pair(seed, 16 * 1024);
    let ih = fx.meta.info_hash;
    assert!(run(&world, 300, || done(&l, ih)));
    // Quiet for a while: rates fall to zero.
    run(&world, 30, || false);
    let first = s.stats_since(&[]).unwrap();
    assert_eq!(first.all, Some(vec![ih]), "the first call lists everything");
    assert_eq!(first.changed.len(), 1);
    let quiet = s.stats_since(&first.versions).unwrap();
    assert!(
        quiet.changed.is_empty(),
        "an idle seed did not change: {:?}",
        quiet.changed
    );
    assert_eq!((quiet.all, quiet.versions.clone()), (None, first.versions));
    s.pause(ih).unwrap();
    let paused = s.stats_since(&quiet.versions).unwrap();
    assert_eq!(paused.changed.len(), 1);
    assert_eq!(paused.changed[0].state, TorrentState::Paused);
    // Each change a view shows is listed, once: a name given, first and
    // last pieces first, a file no longer wanted (progress and bytes left).
    let mut versions = paused.versions;
    let changes: [(&str, &dyn Fn()); 3] = [
        ("a name", &|| {
            pollster::block_on(s.set_display_name_async(ih, "shown".into())).unwrap()
        }),
        ("first and last", &|| s.set_first_last(ih, true).unwrap()),
        ("priorities", &|| {
            let n = fx.meta.info.files.len();
            s.set_file_priorities(ih, &vec![0; n]).unwrap()
        }),
    ];
    for (what, change) in changes {
        change();
        let next = s.stats_since(&versions).unwrap();
        assert_eq!(next.changed.len(), 1, "{what} is a change");
        versions = next.versions;
        let again = s.stats_since(&versions).unwrap();
        assert!(again.changed.is_empty(), "{what}: listed once");
    }
    let shown = s.stats(ih).unwrap();
    assert_eq!(shown.settings.display_name, "shown");
    assert!(shown.settings.first_last);
    // Paused, its clocks stand: a minute on, nothing to list.
    run(&world, 61, || false);
    let still = s.stats_since(&versions).unwrap();
    assert!(still.changed.is_empty(), "{:?}", still.changed);
    // Running again, a minute on its minute clocks turned: listed again.
    s.resume(ih).unwrap();
    run(&world, 5, || false);
    let resumed = s.stats_since(&still.versions).unwrap();
    assert_eq!(resumed.changed.len(), 1, "resumed is a change");
    run(&world, 61, || false);
    let later = s.stats_since(&resumed.versions).unwrap();
    assert_eq!(later.changed.len(), 1, "the minute clock moved");
    s.remove(ih, false).unwrap();
    let gone = s.stats_since(&later.versions).unwrap();
    assert_eq!(
        (gone.removed, gone.changed.len(), gone.all),
        (vec![ih], 0, None)
    );
}

#[test]
fn milestones_tell_of_adds_and_of_each_time_a_torrent_becomes_complete() {
    use seedring::core::Milestone::{Added, Finished};
    let (seed, _g) = seed(59);
    let (world, fx, s, l) = pair(seed, 16 * 1024);
    let ih = fx.meta.info_hash;
    let told = |e: &seedring::Engine| -> Vec<_> {
        let m = world.milestones(e);
        assert!(m.iter().all(|&(_, h, _)| h == ih));
        m.into_iter().map(|(_, _, what)| what).collect()
    };
    assert!(run(&world, 300, || done(&l, ih)), "{:?}", l.stats(ih));
    // The seeder's check found every piece: complete from its add.
    assert_eq!(told(&s), [Added, Finished]);
    assert_eq!(told(&l), [Added, Finished]);
    let finished_at = world.milestones(&l)[1].0;
    assert!(finished_at > world.milestones(&l)[0].0);
    // A recheck that finds every piece is not a new completion.
    l.force_recheck(ih).unwrap();
    assert!(run(&world, 60, || l.stats(ih).unwrap().state
        != TorrentState::Checking));
    run(&world, 5, || false);
    assert_eq!(told(&l), [Added, Finished]);
    // One that finds a piece lost is, once the piece is back.
    let (path, bytes) = &fx.files[0];
    let mut bad = bytes.clone();
    bad[10] ^= 1;
    world.write_file(&l, &format!("{ROOT}/{path}"), bad);
    l.force_recheck(ih).unwrap();
    assert!(run(&world, 300, || l.stats(ih).unwrap().state
        != TorrentState::Checking
        && done(&l, ih)));
    run(&world, 5, || false);
    assert_eq!(told(&l), [Added, Finished, Finished]);
    assert_same_data(&world, &l, &fx, "repaired");
    // A restart brings its torrents back: neither added nor finished again.
    let (l, _) = l.memory_crash_restart(CoreConfig::default());
    run(&world, 30, || false);
    assert!(done(&l, ih));
    assert_eq!(told(&l), [Added, Finished, Finished]);
}

/// A leecher whose torrent downloads in `/incomplete` and finishes in the
/// data root.
fn incomplete_pair(seed: u64) -> (SimWorld, Fixture, seedring::Engine, seedring::Engine) {
    // Disk operations take time: a move can be caught under way.
    let world = SimWorld::new(SimConfig {
        seed,
        disk_delay: Duration::from_millis(5),
        ..SimConfig::default()
    });
    let fx = fixture(seed, "inc", FILES, 16 * 1024);
    let s = seeder(&world, &fx, CoreConfig::default());
    let l = engine(&world, CoreConfig::default());
    l.add_torrent(seedring::core::AddTorrent {
        incomplete: "/incomplete".into(),
        ..seedring::core::AddTorrent::new(
            seedring::core::TorrentSource::Metainfo(fx.meta.clone()),
            "data",
        )
    })
    .unwrap();
    introduce(&[&s, &l], fx.meta.info_hash);
    (world, fx, s, l)
}

fn finished_told(world: &SimWorld, e: &seedring::Engine) -> usize {
    (world.milestones(e).iter())
        .filter(|m| m.2 == seedring::core::Milestone::Finished)
        .count()
}

#[test]
fn a_torrent_downloads_in_the_incomplete_folder_and_finishes_in_its_root() {
    let (seed, _g) = seed(60);
    let (world, fx, _s, l) = incomplete_pair(seed);
    let ih = fx.meta.info_hash;
    let (first, _) = &fx.files[0];
    assert!(run_within(&world, 60, Duration::from_millis(1), || l
        .stats(ih)
        .unwrap()
        .have_pieces
        > 3));
    let st = l.stats(ih).unwrap();
    assert_ne!(&*st.root, "data", "it downloads in the incomplete folder");
    assert_eq!(st.settings.finish_in.as_ref().unwrap().token, "data");
    assert!(
        world
            .read_file(&l, &format!("/incomplete/{first}"))
            .is_some()
    );
    assert!(world.read_file(&l, &format!("{ROOT}/{first}")).is_none());
    // Looked at every simulated millisecond: when it is told finished, its
    // files are where they finish already.
    assert!(run_within(&world, 300, Duration::from_millis(1), || {
        finished_told(&world, &l) == 1
    }));
    assert_same_data(&world, &l, &fx, "finished");
    for (path, _) in &fx.files {
        assert!(
            world
                .read_file(&l, &format!("/incomplete/{path}"))
                .is_none(),
            "{path}"
        );
    }
    let st = l.stats(ih).unwrap();
    assert_eq!((&*st.root, st.settings.finish_in.clone()), ("data", None));
    // The engine's books follow: the incomplete folder's root holds nothing.
    run(&world, 2, || false);
    assert!(done(&l, ih));
    l.reconcile().unwrap();
    let staging = l
        .roots()
        .into_iter()
        .find(|r| r.root.token != "data")
        .unwrap();
    l.remove_root(&staging.root.token).unwrap();
    // A restart keeps it where it finished.
    let (l, _) = l.memory_crash_restart(CoreConfig::default());
    run(&world, 20, || false);
    assert!(done(&l, ih));
    assert_eq!(&*l.stats(ih).unwrap().root, "data");
    assert_eq!(finished_told(&world, &l), 1);
}

#[test]
fn a_crash_while_its_files_move_where_they_finish_moves_them_at_the_restart() {
    let (seed, _g) = seed(61);
    let (world, fx, _s, l) = incomplete_pair(seed);
    let ih = fx.meta.info_hash;
    assert!(run_within(&world, 300, Duration::from_millis(1), || {
        l.stats(ih).unwrap().state == TorrentState::Moving
    }));
    assert_eq!(finished_told(&world, &l), 0, "told before its files moved");
    let (l, _) = l.memory_crash_restart(CoreConfig::default());
    assert!(run(&world, 120, || finished_told(&world, &l) == 1
        && done(&l, ih)));
    assert_same_data(&world, &l, &fx, "moved after the restart");
    assert_eq!(&*l.stats(ih).unwrap().root, "data");
}
