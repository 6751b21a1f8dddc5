//! Message stream encryption in the sim: swarms of every mode pairing, the
//! fallback between MSE and plaintext, and garbage at every byte position of the
//! handshakes (each connection's stream changed at one offset).

mod sim_common;

use std::time::Duration;

use seedring::core::{CoreConfig, Encryption};
use seedring::sim::{SimConfig, SimWorld};
use sim_common::*;

fn with(encryption: Encryption) -> CoreConfig {
    CoreConfig {
        encryption,
        ..CoreConfig::default()
    }
}

fn world_of(seed: u64, corrupt_at: Option<u64>) -> SimWorld {
    SimWorld::new(SimConfig {
        seed,
        check_invariants: true,
        corrupt_at,
        ..SimConfig::default()
    })
}

/// The encryption a leecher's peers show, sorted.
fn encryptions(e: &seedring::Engine, ih: seedring::InfoHash) -> Vec<&'static str> {
    let mut v: Vec<_> = (e.peer_stats(ih).unwrap().iter())
        .map(|p| p.encryption)
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn every_mode_pairing_that_can_talk_completes_with_the_right_streams() {
    use Encryption::*;
    // (seeder, leecher, what their connection ends up as)
    let cases = [
        (Required, Required, "rc4"),
        (Required, PreferPlaintext, "rc4"),
        (PreferRc4, PreferPlaintext, "rc4"),
        (PreferPlaintext, PreferPlaintext, "mse"),
        (PreferPlaintext, Disabled, "none"),
        (Disabled, PreferRc4, "none"),
    ];
    for (i, (s_mode, l_mode, want)) in cases.into_iter().enumerate() {
        let world = world_of(40 + i as u64, None);
        let fx = fixture(7, "mse", FILES, 32 * 1024);
        let ih = fx.meta.info_hash;
        let s = seeder(&world, &fx, with(s_mode));
        let l = leecher(&world, &fx, with(l_mode));
        // The leecher dials the seeder; the seeder does not dial back.
        l.add_peers(ih, &[s.listen_addr()]).unwrap();
        let ok = run_within(&world, 120, Duration::from_millis(200), || {
            !l.peer_stats(ih).unwrap().is_empty()
        });
        assert!(ok, "{s_mode:?} seeder, {l_mode:?} leecher: never connected");
        assert_eq!(
            encryptions(&l, ih),
            [want],
            "{s_mode:?} seeder, {l_mode:?} leecher"
        );
        assert_eq!(
            encryptions(&s, ih),
            [want],
            "{s_mode:?} seeder, {l_mode:?} leecher"
        );
        assert!(run_within(
            &world,
            300,
            Duration::from_millis(500),
            || done(&l, ih)
        ));
        assert_same_data(&world, &l, &fx, &format!("{s_mode:?}/{l_mode:?}"));
    }
}

#[test]
fn required_and_disabled_never_exchange_a_byte_of_payload() {
    let world = world_of(3, None);
    let fx = fixture(7, "mse", FILES, 32 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, with(Encryption::Required));
    let l = leecher(&world, &fx, with(Encryption::Disabled));
    introduce(&[&s, &l], ih);
    run_for(&world, Duration::from_secs(120));
    assert!(l.peer_stats(ih).unwrap().is_empty());
    assert!(s.peer_stats(ih).unwrap().is_empty());
    assert_eq!(l.stats(ih).unwrap().downloaded, 0);
}

/// Offsets 0 to 1,400 of every stream cover both handshakes whatever the
/// paddings (step 1 or 2 with 512 bytes of padding, then step 3 or 4 and the
/// BitTorrent handshake). `SIM_MSE_STRIDE` (default 7) picks every n-th offset;
/// `scripts/sim-sweep` runs them all.
#[test]
fn garbage_at_every_handshake_byte_fails_cleanly_and_leaves_no_damage() {
    let stride = std::env::var("SIM_MSE_STRIDE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7usize);
    let fx = fixture(9, "mse", &[("a.bin", 100_000)], 16 * 1024);
    let ih = fx.meta.info_hash;
    for at in (0..1_400u64).step_by(stride.max(1)) {
        let _g = SeedGuard(at);
        let world = world_of(at, Some(at));
        let s = seeder(&world, &fx, with(Encryption::Required));
        let l = leecher(&world, &fx, with(Encryption::PreferRc4));
        introduce(&[&s, &l], ih);
        run_for(&world, Duration::from_secs(20));
        // Whatever got through is right: no piece is claimed that is not on disk.
        let have = l.have(ih).unwrap().expect("metadata");
        for p in have.ones() {
            assert!(
                piece_on_disk(&world, &l, &fx, p),
                "offset {at}: piece {p} claimed, wrong"
            );
        }
        // The garbage stops: a new leecher gets everything from the same seeder.
        world.set_corrupt_at(None);
        let fresh = leecher(&world, &fx, with(Encryption::PreferPlaintext));
        fresh.add_peers(ih, &[s.listen_addr()]).unwrap();
        let ok = run_within(&world, 120, Duration::from_millis(500), || done(&fresh, ih));
        assert!(
            ok,
            "offset {at}: the seeder serves no one after the garbage"
        );
        assert_same_data(&world, &fresh, &fx, &format!("offset {at}"));
    }
}
