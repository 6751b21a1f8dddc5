//! Web seeds (BEP 19) in the sim: a torrent completes from a web seed alone
//! (multi-file and single-file URLs), a web seed that serves wrong data is
//! banned while a good peer finishes the job, answers cut short keep the
//! blocks that came in, a fast web seed far away is asked for a second of its
//! rate at a time, a missing file is retried with back-off, and a URL that is
//! not HTTP is never fetched.

mod sim_common;

use std::sync::Arc;
use std::time::Duration;

use seedring::core::{AddTorrent, Bitfield, CoreConfig, TorrentSource};
use seedring::sim::SimWorld;
use sim_common::*;

const BASE: &str = "http://web.example/files/";

/// `fx` with `urls` as its web seeds.
fn with_web_seeds(fx: &Fixture, urls: &[&str]) -> Fixture {
    let mut m = (*fx.meta).clone();
    m.web_seeds = urls.iter().map(|u| u.to_string()).collect();
    Fixture {
        meta: Arc::new(m),
        files: fx.files.clone(),
    }
}

fn serve(world: &SimWorld, fx: &Fixture, base: &str) {
    for (path, bytes) in &fx.files {
        world.put_web_file(&format!("{base}{path}"), bytes.clone());
    }
}

/// Runs until `l` has the whole torrent (`secs` at most), then checks its bytes.
fn completes(world: &SimWorld, l: &seedring::Engine, fx: &Fixture, secs: u64) {
    let ih = fx.meta.info_hash;
    assert!(run_within(
        world,
        secs,
        Duration::from_millis(500),
        || done(l, ih)
    ));
    assert_same_data(world, l, fx, "leecher");
}

fn leech(world: &SimWorld, fx: &Fixture) -> seedring::Engine {
    let e = engine(world, CoreConfig::default());
    let pieces = fx.meta.info.geometry.piece_count();
    e.add_torrent(AddTorrent {
        have: Some(Bitfield::new(pieces)),
        ..AddTorrent::new(TorrentSource::Metainfo(fx.meta.clone()), ROOT)
    })
    .unwrap();
    e
}

#[test]
fn a_multi_file_torrent_completes_from_a_web_seed_alone() {
    let world = world(5);
    let fx = with_web_seeds(&fixture(5, "web", FILES, 32 * 1024), &[BASE]);
    serve(&world, &fx, BASE);
    let ih = fx.meta.info_hash;
    let l = leech(&world, &fx);
    completes(&world, &l, &fx, 300);
    let total: u64 = fx.files.iter().map(|(_, b)| b.len() as u64).sum();
    let st = l.stats(ih).unwrap();
    assert_eq!(st.web_seed_bytes, total);
    assert_eq!(st.wasted, 0);
}

#[test]
fn a_single_file_url_is_the_file_itself() {
    let world = world(6);
    let one = fixture(6, "one", &[("movie.mkv", 900_000)], 64 * 1024);
    // A single-file torrent made by hand: the fixture's layout is multi-file.
    let meta = {
        use seedring::metainfo::{CreateLayout, CreateOptions, build_torrent};
        let bytes = &one.files[0].1;
        let pieces: Vec<[u8; 20]> = bytes.chunks(64 * 1024).map(seedring::hash::sha1).collect();
        let layout = CreateLayout {
            name: "movie.mkv".into(),
            files: None,
            length: bytes.len() as u64,
        };
        let opts = CreateOptions {
            web_seeds: vec!["http://mirror.example/dl/the-movie".into()],
            ..CreateOptions::default()
        };
        build_torrent(&layout, 64 * 1024, &pieces, &opts).unwrap().1
    };
    world.put_web_file("http://mirror.example/dl/the-movie", one.files[0].1.clone());
    let fx = Fixture {
        meta: Arc::new(meta),
        files: vec![("movie.mkv".into(), one.files[0].1.clone())],
    };
    let l = leech(&world, &fx);
    completes(&world, &l, &fx, 300);
}

#[test]
fn a_web_seed_serving_wrong_data_is_banned_and_a_good_peer_finishes() {
    let world = world(7);
    let fx = with_web_seeds(&fixture(7, "web", FILES, 16 * 1024), &[BASE]);
    serve(&world, &fx, BASE);
    // One byte wrong in every 20 KiB of one file.
    let (path, good) = &fx.files[3];
    let mut bad = good.clone();
    for i in (7..bad.len()).step_by(20_000) {
        bad[i] ^= 0xff;
    }
    world.put_web_file(&format!("{BASE}{path}"), bad);
    let ih = fx.meta.info_hash;
    let l = leech(&world, &fx);
    run_for(&world, Duration::from_secs(60));
    let st = l.stats(ih).unwrap();
    assert!(st.hash_failures >= 4, "{st:?}");
    assert_eq!(
        st.banned, 1,
        "the web seed is banned after its strikes: {st:?}"
    );
    assert!(!done(&l, ih), "completed from a web seed with wrong data");
    // Banned: never asked again.
    let fetches = world.web_fetches();
    run_for(&world, Duration::from_secs(120));
    assert_eq!(world.web_fetches(), fetches);
    // A good peer arrives; the download completes with the right data.
    let s = seeder(&world, &fx, CoreConfig::default());
    l.add_peers(ih, &[s.listen_addr()]).unwrap();
    completes(&world, &l, &fx, 600);
    // The web seed's good pieces were kept.
    assert!(l.stats(ih).unwrap().web_seed_bytes > 0);
}

#[test]
fn answers_cut_short_keep_the_blocks_that_came_in() {
    let world = world(9);
    let fx = with_web_seeds(&fixture(9, "web", FILES, 32 * 1024), &[BASE]);
    serve(&world, &fx, BASE);
    // Every answer stops after 60% of its bytes, as over a connection that
    // drops. Each fetch fails, yet its whole blocks count: all but the last
    // piece or so come from the web seed alone, through its back-off (a fetch
    // of one block cut at 60% brings none).
    world.cut_web_answers(Some(60));
    let ih = fx.meta.info_hash;
    let l = leech(&world, &fx);
    run_for(&world, Duration::from_secs(1_800));
    let st = l.stats(ih).unwrap();
    assert!(
        st.have_pieces + 2 >= st.total_pieces,
        "{} of {} pieces from answers cut short: {st:?}",
        st.have_pieces,
        st.total_pieces
    );
    assert_eq!((st.hash_failures, st.banned), (0, 0), "{st:?}");
    // Whole answers again: the rest comes.
    world.cut_web_answers(None);
    completes(&world, &l, &fx, 1_800);
}

#[test]
fn a_missing_file_is_retried_with_back_off_then_used() {
    let world = world(8);
    let fx = with_web_seeds(&fixture(8, "web", FILES, 32 * 1024), &[BASE]);
    let l = leech(&world, &fx);
    run_for(&world, Duration::from_secs(120));
    let fetches = world.web_fetches();
    // 30 s, 60 s, ... between tries: a handful in two minutes, not a storm.
    assert!((1..=4).contains(&fetches), "{fetches} fetches");
    serve(&world, &fx, BASE);
    completes(&world, &l, &fx, 900);
}

#[test]
fn urls_that_are_not_http_are_never_fetched() {
    let world = world(9);
    let fx = with_web_seeds(
        &fixture(9, "web", FILES, 32 * 1024),
        &["file:///etc/", "ftp://example.com/files/", "gopher://x/"],
    );
    let ih = fx.meta.info_hash;
    let l = leech(&world, &fx);
    run_for(&world, Duration::from_secs(60));
    assert_eq!(world.web_fetches(), 0);
    assert_eq!(l.stats(ih).unwrap().downloaded, 0);
}

#[test]
fn a_fast_web_seed_far_away_is_kept_busy() {
    // 50 ms each way, 100 MiB/s: one round trip is 10 MiB of the link's time.
    let world = SimWorld::new(seedring::sim::SimConfig {
        seed: 12,
        latency: Duration::from_millis(50),
        link_bytes_per_sec: 100 << 20,
        ..seedring::sim::SimConfig::default()
    });
    let size = 64 << 20;
    let fx = with_web_seeds(&fixture(12, "far", &[("big.bin", size)], 1 << 20), &[BASE]);
    serve(&world, &fx, BASE);
    let ih = fx.meta.info_hash;
    let start = world.now();
    let l = leech(&world, &fx);
    let step = Duration::from_millis(10);
    assert!(run_within(&world, 120, step, || done(&l, ih)));
    // A web seed waits a round trip between two fetches: fetches of at
    // most 4 MiB kept it under a third busy (2.54 s, 18 fetches); of up to a
    // second of its rate, 1.34 s in 6.
    let took = world.now().since(start);
    assert!(took <= Duration::from_millis(1_800), "{took:?}");
}
