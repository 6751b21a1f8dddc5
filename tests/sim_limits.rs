//! Rate caps hold within 5% over simulated minutes; connection caps are never
//! exceeded, whatever the order of connects and disconnects.

mod sim_common;

use std::time::Duration;

use proptest::prelude::*;
use seedring::Time;
use seedring::core::{AddTorrent, Bitfield, Core, CoreConfig, Event, TorrentSource};
use seedring::proto::Handshake;
use sim_common::*;

/// Bytes over `[from, to]` of simulated time, sampled with `read`.
fn measure(world: &seedring::sim::SimWorld, from: u64, to: u64, read: impl Fn() -> u64) -> u64 {
    world.run_until(Time::from_secs(from));
    let start = read();
    world.run_until(Time::from_secs(to));
    read() - start
}

fn within_5_percent(got: u64, want: u64) -> bool {
    got.abs_diff(want) * 100 <= want * 5
}

#[test]
fn download_cap_holds_over_a_simulated_minute() {
    let (seed, _g) = seed(41);
    let world = world(seed);
    let fx = fixture(seed, "capped", &[("big.bin", 12 << 20)], 64 * 1024);
    let ih = fx.meta.info_hash;
    let (_seeders, l) = seeders_and_leecher(&world, &fx, 3);
    // Per-torrent cap on one leecher, global cap on another run below.
    let cap = 100_000;
    l.set_torrent_limits(ih, cap, 0).unwrap();
    let got = measure(&world, 10, 70, || l.stats(ih).unwrap().downloaded);
    assert!(
        within_5_percent(got, cap * 60),
        "downloaded {got} in 60 s, cap {}",
        cap * 60
    );
}

#[test]
fn global_upload_cap_holds_across_leechers() {
    let (seed, _g) = seed(43);
    let world = world(seed);
    let fx = fixture(seed, "upcapped", &[("big.bin", 12 << 20)], 64 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    let cap = 150_000;
    s.set_global_limits(0, cap).unwrap();
    let leechers: Vec<_> = (0..4)
        .map(|_| leecher(&world, &fx, CoreConfig::default()))
        .collect();
    // Leechers know only the seeder, so every byte they get is the seeder's upload.
    for l in &leechers {
        l.add_peers(ih, &[s.listen_addr()]).unwrap();
    }
    let got = measure(&world, 10, 70, || s.stats(ih).unwrap().uploaded);
    assert!(
        within_5_percent(got, cap * 60),
        "uploaded {got} in 60 s, cap {}",
        cap * 60
    );
    let received: u64 = leechers
        .iter()
        .map(|l| l.stats(ih).unwrap().downloaded)
        .sum();
    assert!(received > 0);
}

#[derive(Debug, Clone)]
enum Op {
    Incoming,
    AddPeers(u8),
    Tick,
    Establish(u8),
    CloseOne(u8),
    /// A peer that dialled us names torrent `.1` in its handshake.
    Greet(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Incoming),
        any::<u8>().prop_map(Op::AddPeers),
        Just(Op::Tick),
        any::<u8>().prop_map(Op::Establish),
        any::<u8>().prop_map(Op::CloseOne),
        (any::<u8>(), any::<u8>()).prop_map(|(p, t)| Op::Greet(p, t)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Random connects, accepts, handshakes from peers that dialled us, and
    /// disconnects against one core: the global, per torrent and half-open caps
    /// hold after every step.
    #[test]
    fn connection_caps_are_never_exceeded(ops in proptest::collection::vec(op(), 1..300)) {
        let cfg = CoreConfig {
            max_connections: 12,
            max_connections_per_torrent: 5,
            max_half_open: 3,
            ..CoreConfig::default()
        };
        let mut core = Core::new(cfg.clone());
        let mut out = Vec::new();
        let fxs: Vec<_> = (0..3).map(|i| fixture(i, &format!("t{i}"), &[("f", 40_000)], 16384)).collect();
        let mut ihs = Vec::new();
        for fx in &fxs {
            let n = fx.meta.info.geometry.piece_count();
            ihs.push(core.add_torrent(Time::ZERO, AddTorrent {
                have: Some(Bitfield::new(n)),
                ..AddTorrent::new(TorrentSource::Metainfo(fx.meta.clone()), "/r")
            }, &mut out).unwrap());
        }
        let mut now = Time::ZERO;
        let mut live: Vec<seedring::core::PeerKey> = Vec::new();
        let mut incoming: Vec<seedring::core::PeerKey> = Vec::new();
        let mut next_addr = 1u32;
        for op in ops {
            now = now + Duration::from_millis(100);
            out.clear();
            match op {
                Op::Incoming => {
                    let addr = format!("127.1.{}.{}:6881", next_addr / 250, next_addr % 250 + 1).parse().unwrap();
                    next_addr += 1;
                    if let Some(k) = core.on_incoming(now, addr) {
                        live.push(k);
                        incoming.push(k);
                    }
                }
                Op::AddPeers(t) => {
                    let ih = ihs[t as usize % ihs.len()];
                    let addrs: Vec<_> = (0..4).map(|_| {
                        next_addr += 1;
                        format!("127.2.{}.{}:6881", next_addr / 250, next_addr % 250 + 1).parse().unwrap()
                    }).collect();
                    core.add_peers(ih, &addrs).unwrap();
                }
                Op::Tick => core.on_tick(now, &mut out),
                Op::Establish(i) => {
                    if !live.is_empty() {
                        let k = live[i as usize % live.len()];
                        core.on_event(now, Event::Connected { peer: k }, &mut out);
                    }
                }
                Op::Greet(i, t) => {
                    if !incoming.is_empty() {
                        let k = incoming[i as usize % incoming.len()];
                        let mut id = [7u8; 20];
                        id[..8].copy_from_slice(&k.0.to_be_bytes());
                        let hs = Handshake::new(ihs[t as usize % ihs.len()], id).encode();
                        core.on_event(now, Event::Data { peer: k, bytes: &hs }, &mut out);
                    }
                }
                Op::CloseOne(i) => {
                    if !live.is_empty() {
                        let k = live.remove(i as usize % live.len());
                        core.on_event(now, Event::Closed { peer: k }, &mut out);
                    }
                }
            }
            for a in &out {
                if let seedring::core::Action::Connect { peer, .. } = a {
                    live.push(*peer);
                }
            }
            let c = core.connections();
            prop_assert!(c.total <= cfg.max_connections, "{c:?}");
            prop_assert!(c.half_open <= cfg.max_half_open, "{c:?}");
            for ih in &ihs {
                let s = core.stats(now, *ih).unwrap();
                prop_assert!(s.connections <= cfg.max_connections_per_torrent, "{} > cap", s.connections);
            }
        }
    }
}

/// A seed capped far below what its leechers ask (a home uplink): its
/// queue of requests takes longer than a request's timeout, so requests
/// expire while it still means to send them. Each one expired is cancelled
/// to it, so it does not send the block as well as the copy asked again:
/// almost nothing is received twice.
#[test]
fn a_slow_seed_is_not_asked_for_each_block_twice() {
    let (seed, _g) = seed(44);
    let world = world(seed);
    let fx = fixture(seed, "slow", &[("a.bin", 600_000)], 16 * 1024);
    let ih = fx.meta.info_hash;
    let s = seeder(&world, &fx, CoreConfig::default());
    s.set_torrent_limits(ih, 0, 8 * 1024).unwrap();
    let l = leecher(&world, &fx, CoreConfig::default());
    introduce(&[&s, &l], ih);
    world.run_until(Time::from_secs(200));
    let st = l.stats(ih).unwrap();
    assert_eq!(st.state, seedring::core::TorrentState::Seeding, "{st:?}");
    assert_same_data(&world, &l, &fx, "leecher");
    let sent = s.stats(ih).unwrap().uploaded;
    // At most one block on the wire when its request expired, each time.
    assert!(
        st.wasted <= 3 * 16 * 1024 && sent <= st.total_bytes + 3 * 16 * 1024,
        "{} wasted, {sent} sent for {}",
        st.wasted,
        st.total_bytes
    );
}
