//! Under packet loss, random disconnects and failing disk writes, every leecher still
//! completes with correct data.

mod sim_common;

use std::time::Duration;

use seedring::Time;
use seedring::core::CoreConfig;
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
/// after the core's handshake deadline: the sim runs the same deadline as the real
/// driver (which has none of its own), and the download goes on from the others.
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
    // The default handshake timeout is 10 s; one tick of slack.
    world.run_until(Time::from_secs(11));
    assert_eq!(
        l.connections().unwrap().half_open,
        0,
        "the core's deadline closed the connect"
    );
    // Tried again after a back-off counted from the timeout (10 s after one
    // failure), not at once.
    world.run_until(Time::from_secs(19));
    assert_eq!(l.connections().unwrap().half_open, 0, "backing off");
    world.run_until(Time::from_secs(21));
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
