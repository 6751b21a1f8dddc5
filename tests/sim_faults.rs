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
