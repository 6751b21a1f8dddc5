//! Share limits in the sim, over simulated hours: a ratio reached pauses a
//! seed, a seeding time reached removes one (with its files, when told), an
//! inactive seed is paused, a torrent with its own "no limit" is left alone,
//! a resumed torrent still past its limit is paused again, and a seed's time
//! outlives a clean stop that writes its clock record alone; a torrent's own
//! action at its limits overrides the global one. And the running
//! clock (qBittorrent's `time_active`): paused and queued time left out.

mod sim_common;

use std::time::Duration;

use seedring::core::share::{NO_LIMIT, OwnAction, USE_GLOBAL};
use seedring::core::{CoreConfig, GlobalShare, ShareAction, ShareLimits, TorrentState};
use seedring::sim::SimWorld;
use sim_common::*;

fn run(world: &SimWorld, secs: u64, until: impl FnMut() -> bool) -> bool {
    run_within(world, secs, Duration::from_secs(1), until)
}

fn paused(e: &seedring::Engine, ih: seedring::InfoHash) -> bool {
    e.stats(ih).is_ok_and(|s| s.state == TorrentState::Paused)
}

fn own(ratio_milli: i64, seeding_mins: i64, inactive_mins: i64) -> ShareLimits {
    ShareLimits {
        ratio_milli,
        seeding_mins,
        inactive_mins,
    }
}

#[test]
fn a_seed_that_gave_its_size_once_is_paused_at_ratio_one() {
    let (seed, _g) = seed(71);
    let world = world(seed);
    let fx = fixture(seed, "ratio", FILES, 16 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    s.set_share_limits(ih, own(1000, USE_GLOBAL, USE_GLOBAL), OwnAction::Set(None))
        .unwrap();
    let l = leecher(&world, &fx, CoreConfig::default());
    introduce(&[&s, &l], ih);
    assert!(run(&world, 600, || done(&l, ih)), "{:?}", l.stats(ih));
    assert_same_data(&world, &l, &fx, "leecher");
    assert!(run(&world, 60, || paused(&s, ih)), "{:?}", s.stats(ih));
    let st = s.stats(ih).unwrap();
    assert!(st.uploaded >= st.total_bytes, "{st:?}");
    // Resumed while still past its ratio: paused again at the next pass.
    s.resume(ih).unwrap();
    assert!(!paused(&s, ih));
    assert!(run(&world, 30, || paused(&s, ih)));
    // Its own limit lifted: it seeds on.
    s.set_share_limits(ih, own(NO_LIMIT, NO_LIMIT, NO_LIMIT), OwnAction::Set(None))
        .unwrap();
    s.resume(ih).unwrap();
    assert!(!run(&world, 120, || paused(&s, ih)));
}

#[test]
fn two_hours_of_seeding_removes_the_torrent_and_its_files() {
    let (seed, _g) = seed(72);
    let world = world(seed);
    let fx = fixture(seed, "time", FILES, 16 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    s.set_global_share(GlobalShare {
        limits: own(NO_LIMIT, 120, NO_LIMIT),
        action: ShareAction::RemoveWithFiles,
    })
    .unwrap();
    assert!(run(&world, 60, || done(&s, ih)));
    // Still there after 110 minutes, with its time counted.
    assert!(!run(&world, 110 * 60, || s.stats(ih).is_err()));
    let secs = s.stats(ih).unwrap().seeding_secs;
    assert!((100 * 60..=111 * 60).contains(&secs), "{secs} s seeded");
    assert!(run(&world, 15 * 60, || s.stats(ih).is_err()), "not removed");
    assert_eq!(s.reconcile().unwrap(), 1, "the engine hears of it once");
    assert_eq!(s.reconcile().unwrap(), 0);
    assert!(s.torrents().unwrap().is_empty());
    run(&world, 5, || false);
    for (path, _) in &fx.files {
        assert!(
            world.read_file(&s, &format!("{ROOT}/{path}")).is_none(),
            "{path} kept"
        );
    }
}

#[test]
fn an_idle_seed_is_paused_and_one_without_limits_is_not() {
    let (seed, _g) = seed(73);
    let world = world(seed);
    let fx = fixture(seed, "idle", FILES, 16 * 1024);
    let fx2 = fixture(seed + 1, "free", FILES, 16 * 1024);
    let (ih, ih2) = (fx.meta.info_hash, fx2.meta.info_hash);
    let s = seeder(&world, &fx, CoreConfig::default());
    seed_on(&world, &s, &fx2);
    s.set_share_limits(ih2, own(NO_LIMIT, NO_LIMIT, NO_LIMIT), OwnAction::Set(None))
        .unwrap();
    s.set_global_share(GlobalShare {
        limits: own(NO_LIMIT, NO_LIMIT, 30),
        action: ShareAction::Pause,
    })
    .unwrap();
    assert!(run(&world, 60, || done(&s, ih) && done(&s, ih2)));
    let seeding_from = world.now();
    // A leecher keeps it busy for a while: busy is not idle.
    let l = leecher(&world, &fx, CoreConfig::default());
    introduce(&[&s, &l], ih);
    assert!(run(&world, 600, || done(&l, ih)));
    let busy_until = world.now();
    assert!(run(&world, 3 * 3600, || paused(&s, ih)), "never paused");
    let idle = world.now().since(busy_until);
    assert!(
        idle >= Duration::from_secs(25 * 60),
        "paused after {idle:?}"
    );
    assert!(
        !run(&world, 2 * 3600, || !done(&s, ih2)),
        "the torrent without limits stopped: {:?}",
        s.stats(ih2)
    );
    let seeded = world.now().since(seeding_from).as_secs();
    let counted = s.stats(ih2).unwrap().seeding_secs;
    assert!(
        counted + 20 >= seeded && counted <= seeded,
        "{counted} of {seeded} s"
    );
}

/// A seed's seconds seeded and run outlive a clean stop that leaves its
/// record as it was: the stop writes the clock record alone (an idle seedbox of 100,000
/// torrents stops in one small transaction, not 100,000 records stamped
/// again), the restart counts on from it, and the next whole record written
/// takes its place.
#[test]
fn a_clean_stop_writes_an_idle_seeds_clock_alone_and_the_restart_keeps_its_time() {
    use seedring::resume_lmdb::record::StateRecord;
    use seedring::resume_lmdb::{
        MemorySessionStore, SessionStore, clock_key, decode_clock, state_key,
    };
    let (seed, _g) = seed(74);
    let world = world(seed);
    let fx = fixture(seed, "clock", FILES, 16 * 1024);
    let ih = fx.meta.info_hash;
    let store = MemorySessionStore::default();
    let e = seedring::Engine::memory_with_store(&world, CoreConfig::default(), store.clone());
    for (path, bytes) in &fx.files {
        world.write_file(&e, &format!("{ROOT}/{path}"), bytes.clone());
    }
    e.add_torrent(seedring::core::AddTorrent::new(
        seedring::core::TorrentSource::Metainfo(fx.meta.clone()),
        ROOT,
    ))
    .unwrap();
    assert!(run(&world, 60, || done(&e, ih)));
    // Seeding with no peer: nothing in its record changes; each hour of it
    // is written as the clock record alone.
    run(&world, 5 * 60, || false);
    let record = store.get(&state_key(ih)).unwrap().unwrap();
    assert!(store.get(&clock_key(ih)).unwrap().is_none());
    run(&world, 60 * 60, || false);
    let hourly = store.get(&clock_key(ih)).unwrap().expect("no hourly clock");
    let hourly = decode_clock(&hourly).unwrap();
    assert!(hourly.seeding >= 3600 && hourly.running >= Some(hourly.seeding));
    run(&world, 20 * 60, || false);
    let stats = e.stats(ih).unwrap();
    let (seeded, ran) = (stats.seeding_secs, stats.running_secs);
    assert!(seeded >= 84 * 60, "{seeded} s seeded");
    // It ran while it checked too, and counts on as it seeds.
    assert!(
        (seeded..seeded + 60).contains(&ran),
        "{ran} s run, {seeded} seeded"
    );
    e.flush().unwrap();
    assert_eq!(
        store.get(&state_key(ih)).unwrap().unwrap(),
        record,
        "the record was written again"
    );
    let clock = store.get(&clock_key(ih)).unwrap().expect("no clock record");
    let both = decode_clock(&clock).unwrap();
    let clock = both.seeding;
    assert!(
        (seeded..=seeded + 10).contains(&clock),
        "{clock} of {seeded} s"
    );
    let ran_clock = both.running.expect("no running clock");
    assert!(
        (ran..=ran + 10).contains(&ran_clock),
        "{ran_clock} of {ran} s"
    );

    // The restart counts from the clock record.
    let (e, _) = e.memory_crash_restart(CoreConfig::default());
    assert!(run(&world, 60, || done(&e, ih)));
    let after = e.stats(ih).unwrap();
    assert!(
        after.seeding_secs >= clock,
        "{after:?} after a restart from {clock} s"
    );
    assert!(
        after.running_secs >= ran_clock,
        "{after:?} after a restart from {ran_clock} s"
    );

    // A change writes the whole record, with the time, and the clock goes.
    e.set_sequential(ih, true).unwrap();
    e.flush().unwrap();
    assert!(store.get(&clock_key(ih)).unwrap().is_none());
    let rec = StateRecord::decode(&store.get(&state_key(ih)).unwrap().unwrap()).unwrap();
    assert!(
        rec.seeding_secs >= clock && rec.running_secs >= ran_clock,
        "{rec:?} of {clock} s"
    );

    // Removed, it leaves no record behind, its clock (its own key range)
    // included.
    run(&world, 61 * 60, || false);
    assert!(store.get(&clock_key(ih)).unwrap().is_some(), "no clock");
    e.remove(ih, false).unwrap();
    e.flush().unwrap();
    assert!(
        store.get(&clock_key(ih)).unwrap().is_none(),
        "its clock stays"
    );
    let hex = ih.to_hex();
    assert!(
        store
            .keys(format!("torrent:{hex}").as_bytes())
            .unwrap()
            .is_empty()
    );
}

/// The running clock counts the time a torrent runs, downloading or seeding,
/// and leaves out the time it is paused or waits in the queue; the seeding
/// clock only the time it seeds.
#[test]
fn running_time_leaves_paused_and_queued_time_out() {
    use seedring::core::queue::QueueLimits;
    use seedring::core::{AddTorrent, Bitfield, TorrentSource};
    let (seed, _g) = seed(76);
    let world = world(seed);
    let fxs: Vec<_> = (0..2)
        .map(|i| fixture(seed + i, &format!("run{i}"), FILES, 16 * 1024))
        .collect();
    let l = engine(&world, CoreConfig::default());
    l.set_queue_limits(QueueLimits {
        enabled: true,
        max_downloads: 1,
        max_uploads: -1,
        max_torrents: -1,
        ..QueueLimits::default()
    })
    .unwrap();
    // Two empty torrents and no peer: the first downloads (and gets
    // nothing), the second waits behind it.
    let ihs: Vec<_> = (fxs.iter())
        .map(|fx| {
            let pieces = fx.meta.info.geometry.piece_count();
            let add = AddTorrent {
                have: Some(Bitfield::new(pieces)),
                ..AddTorrent::new(TorrentSource::Metainfo(fx.meta.clone()), ROOT)
            };
            l.add_torrent(add).unwrap()
        })
        .collect();
    l.balance_queue().unwrap();
    let (first, second) = (ihs[0], ihs[1]);
    assert_eq!(l.stats(second).unwrap().state, TorrentState::Queued);
    let clocks = |ih| {
        let s = l.stats(ih).unwrap();
        (s.running_secs, s.seeding_secs)
    };
    // Its clock starts with its add (not at the next share pass), and stops
    // with a pause.
    run(&world, 5, || false);
    let (ran, _) = clocks(first);
    assert!((4..=6).contains(&ran), "{ran} s run after 5");
    // Between two share passes (every 10 s), so a clock stopped or started
    // only there would be off by 5 s.
    let near = |got: u64, want: u64| got + 2 >= want && got <= want + 2;
    run(&world, 30 * 60, || false);
    let (ran, seeded) = clocks(first);
    assert!(
        near(ran, 30 * 60 + 5) && seeded == 0,
        "{ran} s run, {seeded} seeded"
    );
    assert_eq!(clocks(second), (0, 0), "queued: not running");
    // Paused for an hour: its clock stands still.
    l.pause(first).unwrap();
    run(&world, 60 * 60, || false);
    let (ran, _) = clocks(first);
    assert!(near(ran, 30 * 60 + 5), "{ran} s run after an hour paused");
    l.resume(first).unwrap();
    run(&world, 10 * 60, || false);
    let (ran, _) = clocks(first);
    assert!(near(ran, 40 * 60 + 5), "{ran} s run");
    // Kept across a restart, the time stopped not counted.
    l.flush().unwrap();
    let (l, _) = l.memory_crash_restart(CoreConfig::default());
    let after = l.stats(first).unwrap().running_secs;
    assert!(near(after, 40 * 60 + 5), "{after} s run after a restart");
    assert_eq!(l.stats(second).unwrap().running_secs, 0);
}

/// When a whole copy was last seen (qBittorrent's `seen_complete`): never
/// before any; now, to a minute, while a connected seed has one or while it
/// seeds itself; where it was once the seed is gone; kept across a restart.
#[test]
fn a_whole_copy_is_dated_when_last_seen() {
    let (seed, _g) = seed(77);
    let world = world(seed);
    let fx = fixture(seed, "seen", FILES, 16 * 1024);
    let ih = fx.meta.info_hash;
    let unix = || 1_700_000_000 + world.now().since(seedring::types::Time::ZERO).as_secs();
    let recent = |at: Option<u64>| at.is_some_and(|a| a <= unix() && a + 70 >= unix());
    let l = leecher(&world, &fx, CoreConfig::default());
    run(&world, 30, || false);
    assert_eq!(l.stats(ih).unwrap().seen_complete, None, "none seen yet");
    let s = seeder(&world, &fx, CoreConfig::default());
    // Slow, so the leecher still downloads when looked at.
    s.set_torrent_limits(ih, 0, 4 * 1024).unwrap();
    introduce(&[&s, &l], ih);
    run(&world, 90, || false);
    let st = l.stats(ih).unwrap();
    assert!(!done(&l, ih) && recent(st.seen_complete), "{st:?}");
    assert!(
        recent(s.stats(ih).unwrap().seen_complete),
        "a seed sees its own"
    );
    // The seed stops: the date stays where it was last seen.
    s.pause(ih).unwrap();
    run(&world, 300, || false);
    let last = l.stats(ih).unwrap().seen_complete.unwrap();
    assert!(last + 220 <= unix(), "{last} at {}", unix());
    l.flush().unwrap();
    let (l, _) = l.memory_crash_restart(CoreConfig::default());
    assert_eq!(l.stats(ih).unwrap().seen_complete, Some(last));

    // One that has every file it wants and not the others seeds, but holds
    // no whole copy: its date is the last seed's.
    l.remove(ih, false).unwrap();
    let part = leecher(&world, &fx, CoreConfig::default());
    let mut wanted = vec![0u8; fx.meta.info.files.len()];
    wanted[3] = 1;
    part.set_file_priorities(ih, &wanted).unwrap();
    // Slow enough that share passes see the seed while it downloads.
    s.set_torrent_limits(ih, 0, 64 * 1024).unwrap();
    s.resume(ih).unwrap();
    introduce(&[&s, &part], ih);
    assert!(run(&world, 120, || done(&part, ih)), "{:?}", part.stats(ih));
    s.pause(ih).unwrap();
    run(&world, 300, || false);
    let st = part.stats(ih).unwrap();
    let seen = st.seen_complete.expect("the seed was seen");
    assert!(seen + 220 <= unix(), "{st:?} at {}", unix());
}

/// A torrent's own action (qBittorrent 5's per-torrent share limit action)
/// overrides the global one; the limits are still the global ones it
/// follows; the action outlives a restart, and set back to `None` it follows
/// the global action again.
#[test]
fn a_torrent_s_own_action_overrides_the_global_one() {
    let (seed, _g) = seed(76);
    let world = world(seed);
    let store = seedring::resume_lmdb::MemorySessionStore::default();
    let e = seedring::Engine::memory_with_store(&world, CoreConfig::default(), store);
    let fxs: Vec<_> = (0..3)
        .map(|i| fixture(seed + i, &format!("own{i}"), FILES, 16 * 1024))
        .collect();
    for fx in &fxs {
        seed_on(&world, &e, fx);
    }
    let [removed, followed, back] = [0, 1, 2].map(|i| fxs[i].meta.info_hash);
    let global = own(USE_GLOBAL, USE_GLOBAL, USE_GLOBAL);
    e.set_share_limits(removed, global, OwnAction::Set(Some(ShareAction::Remove)))
        .unwrap();
    e.set_share_limits(
        back,
        global,
        OwnAction::Set(Some(ShareAction::RemoveWithFiles)),
    )
    .unwrap();
    e.set_share_limits(back, global, OwnAction::Set(None))
        .unwrap();
    // Limits set without a word on the action keep it.
    e.set_share_limits(removed, global, OwnAction::Keep)
        .unwrap();
    e.set_global_share(GlobalShare {
        limits: own(NO_LIMIT, 30, NO_LIMIT),
        action: ShareAction::Pause,
    })
    .unwrap();
    assert!(run(&world, 60, || [removed, followed, back]
        .iter()
        .all(|&ih| done(&e, ih))));
    let shown = e.stats(removed).unwrap().settings.share_action;
    assert_eq!(shown, Some(ShareAction::Remove));

    // A restart keeps the action (the global limits are the engine's, set
    // again as the daemon does at its start).
    run(&world, 10 * 60, || false);
    e.flush().unwrap();
    let (e, _) = e.memory_crash_restart(CoreConfig::default());
    e.set_global_share(GlobalShare {
        limits: own(NO_LIMIT, 30, NO_LIMIT),
        action: ShareAction::Pause,
    })
    .unwrap();
    assert!(run(&world, 60, || done(&e, removed)));
    assert_eq!(
        e.stats(removed).unwrap().settings.share_action,
        Some(ShareAction::Remove)
    );
    assert!(
        run(&world, 40 * 60, || e.stats(removed).is_err()),
        "not removed"
    );
    assert_eq!(e.reconcile().unwrap(), 1);
    assert!(paused(&e, followed), "{:?}", e.stats(followed));
    assert!(paused(&e, back), "{:?}", e.stats(back));
    // Removed, not with its files.
    for (path, _) in &fxs[0].files {
        assert!(
            world.read_file(&e, &format!("{ROOT}/{path}")).is_some(),
            "{path} gone"
        );
    }
}
