//! Under packet loss, random disconnects and failing disk writes, every leecher still
//! completes with correct data; a file cut under a seed stops it until rechecked.

mod sim_common;

use std::time::Duration;

use seedring::Time;
use seedring::core::{CoreConfig, TorrentState};
use seedring::sim::{SimConfig, SimWorld};
use sim_common::*;

#[test]
fn loss_disconnects_and_eio_do_not_stop_a_swarm() {
    let (seed, _g) = seed(31);
    let world = SimWorld::new(SimConfig {
        seed,
        loss: 0.02,
        disconnects_per_sec: 0.02,
        write_error: 0.05,
        disk_delay: Duration::from_millis(2),
        ..SimConfig::default()
    });
    let fx = fixture(seed, "faulty", FILES, 16 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    // A seeder with a thin upload: the swarm runs long enough for every kind
    // of fault to strike.
    s.set_torrent_limits(ih, 0, 256 << 10).unwrap();
    let leechers: Vec<_> = (0..8)
        .map(|_| leecher(&world, &fx, CoreConfig::default()))
        .collect();
    let mut all = vec![&s];
    all.extend(leechers.iter());
    introduce(&all, ih);
    let ok = world.run_while(Time::from_secs(1200), Duration::from_millis(500), || {
        leechers.iter().all(|l| done(l, ih))
    });
    assert!(
        ok,
        "stuck under faults: {:?}",
        leechers.iter().map(|l| l.stats(ih)).collect::<Vec<_>>()
    );
    for (i, l) in leechers.iter().enumerate() {
        assert_same_data(&world, l, &fx, &format!("leecher {i}"));
    }
    // The faults really happened.
    let f = world.fault_counts();
    assert!(
        f.losses > 0 && f.disconnects > 0 && f.write_errors > 0,
        "{f:?}"
    );
}

/// A peer whose address never answers a connect (no accept, no refusal) is given up
/// after the core's handshake deadline, over each transport in turn: the sim runs
/// the same deadline as the real driver (which has none of its own), and the
/// download goes on from the others.
#[test]
fn a_connect_never_answered_ends_at_the_core_deadline() {
    let (seed, _g) = seed(32);
    let world = SimWorld::new(SimConfig {
        seed,
        ..SimConfig::default()
    });
    let fx = fixture(seed, "blackhole", FILES, 16 * 1024);
    let ih = fx.meta.info_hash;
    let hole: std::net::SocketAddr = "127.9.9.9:6881".parse().unwrap();
    world.add_black_hole(hole);
    let l = leecher(&world, &fx, CoreConfig::default());
    l.add_peers(ih, &[hole]).unwrap();
    world.run_until(Time::from_secs(2));
    assert_eq!(
        l.connections().unwrap().half_open,
        1,
        "the connect is pending"
    );
    // The default handshake timeout is 10 s; one tick of slack. The default
    // transport mode (prefer TCP) tries the other transport at once.
    world.run_until(Time::from_secs(11));
    assert_eq!(
        l.connections().unwrap().half_open,
        1,
        "tried again at once over uTP"
    );
    world.run_until(Time::from_secs(21));
    assert_eq!(
        l.connections().unwrap().half_open,
        0,
        "the core's deadline closed both connects"
    );
    // Tried again after a back-off counted from the timeout (10 s after one
    // failure), not at once.
    world.run_until(Time::from_secs(29));
    assert_eq!(l.connections().unwrap().half_open, 0, "backing off");
    world.run_until(Time::from_secs(31));
    assert_eq!(l.connections().unwrap().half_open, 1, "retried");
    // The seeder, introduced later, still serves the whole torrent.
    let s = seeder(&world, &fx, CoreConfig::default());
    introduce(&[&s, &l], ih);
    let ok = world.run_while(Time::from_secs(300), Duration::from_millis(500), || {
        done(&l, ih)
    });
    assert!(ok, "stuck: {:?}", l.stats(ih));
    assert_same_data(&world, &l, &fx, "leecher");
}

/// A file cut short under a seeding torrent: no peer gets a short or made-up
/// block, the torrent stops with an error saying its data changed (after a
/// root check tells this from a disk gone away), and a recheck clears the
/// error and finds what is left. A root that goes away instead stops the
/// torrent as a lost root, and it seeds again once the root is back.
#[test]
fn a_file_cut_under_a_seed_stops_it_until_rechecked() {
    let (seed, _g) = seed(77);
    let world = SimWorld::new(SimConfig {
        seed,
        link_bytes_per_sec: 200_000,
        check_invariants: true,
        ..SimConfig::default()
    });
    let fx = fixture(seed, "cut", FILES, 16 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    let l = leecher(&world, &fx, CoreConfig::default());
    introduce(&[&s, &l], ih);
    assert!(run_until(&world, 60, || l.stats(ih).unwrap().have_pieces >= 4));
    // `dir/b.bin` (700,001 bytes) loses its second half.
    let path = format!("{ROOT}/cut/dir/b.bin");
    let whole = world.read_file(&s, &path).expect("the seed's file");
    world.write_file(&s, &path, whole[..350_000].to_vec());
    assert!(run_until(&world, 60, || matches!(
        s.stats(ih).unwrap().state,
        TorrentState::Error(_)
    )));
    let TorrentState::Error(why) = s.stats(ih).unwrap().state else {
        unreachable!()
    };
    assert!(why.starts_with("its data changed on disk"), "{why}");
    assert_eq!(s.stats(ih).unwrap().peers, 0);
    // The leecher never took a bad block: whatever it holds passes its hash.
    let have = l.have(ih).unwrap().unwrap();
    for p in have.ones() {
        assert!(piece_on_disk(&world, &l, &fx, p), "piece {p}");
    }
    assert_eq!(l.stats(ih).unwrap().hash_failures, 0);
    // A recheck: the error goes, the pieces of the lost half are missing.
    s.force_recheck(ih).unwrap();
    assert!(run_until(&world, 60, || {
        let st = s.stats(ih).unwrap();
        !matches!(st.state, TorrentState::Error(_) | TorrentState::Checking)
    }));
    let st = s.stats(ih).unwrap();
    assert!(
        st.have_pieces < st.total_pieces && st.have_pieces > 0,
        "{st:?}"
    );

    // Another seed whose root goes away and comes back: no "changed" error.
    let fx2 = fixture(seed + 1, "gone", FILES, 16 * 1024);
    let ih2 = fx2.meta.info_hash;
    let s2 = seeder(&world, &fx2, CoreConfig::default());
    let l2 = leecher(&world, &fx2, CoreConfig::default());
    introduce(&[&s2, &l2], ih2);
    assert!(run_until(&world, 60, || l2.stats(ih2).unwrap().have_pieces >= 2));
    world.unmount(&s2, ROOT);
    assert!(run_until(&world, 120, || matches!(
        s2.stats(ih2).unwrap().state,
        TorrentState::Error(_)
    )));
    let TorrentState::Error(why) = s2.stats(ih2).unwrap().state else {
        unreachable!()
    };
    assert!(!why.starts_with("its data changed"), "{why}");
    world.mount(&s2, ROOT);
    s2.add_peers(ih2, &[l2.listen_addr()]).unwrap();
    assert!(run_until(&world, 600, || done(&l2, ih2)));
    assert_same_data(&world, &l2, &fx2, "the second leecher");
}

/// A file rewritten in place with other bytes of the same size under a seeding
/// torrent: every read succeeds, so only its stamp tells. Within a stamp
/// interval (10 s) the torrent stops with an error naming the file; the leecher
/// holds no piece that fails its hash (a piece sent from the new bytes fails at
/// the leecher and is fetched again after a recheck, never kept).
#[test]
fn a_file_rewritten_with_the_same_size_stops_its_seed() {
    let (seed, _g) = seed(78);
    let world = SimWorld::new(SimConfig {
        seed,
        link_bytes_per_sec: 100_000,
        check_invariants: true,
        ..SimConfig::default()
    });
    let fx = fixture(seed, "same", FILES, 16 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    let l = leecher(&world, &fx, CoreConfig::default());
    introduce(&[&s, &l], ih);
    assert!(run_until(&world, 60, || l.stats(ih).unwrap().have_pieces >= 4));
    let path = format!("{ROOT}/same/dir/b.bin");
    let mut other = world.read_file(&s, &path).expect("the seed's file");
    for b in &mut other {
        *b = b.wrapping_add(1);
    }
    world.write_file(&s, &path, other);
    assert!(run_until(&world, 15, || matches!(
        s.stats(ih).unwrap().state,
        TorrentState::Error(_)
    )));
    let TorrentState::Error(why) = s.stats(ih).unwrap().state else {
        unreachable!()
    };
    assert!(why.starts_with("its data changed on disk"), "{why}");
    assert!(why.contains("same/dir/b.bin: rewritten"), "{why}");
    assert_eq!(s.stats(ih).unwrap().peers, 0);
    let have = l.have(ih).unwrap().unwrap();
    for p in have.ones() {
        assert!(piece_on_disk(&world, &l, &fx, p), "piece {p}");
    }
}

fn run_until(world: &SimWorld, secs: u64, done: impl FnMut() -> bool) -> bool {
    run_within(world, secs, Duration::from_millis(100), done)
}
