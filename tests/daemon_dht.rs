//! The DHT between two daemons on loopback: a magnet with no tracker and no
//! peer given finds its seed through the DHT alone, fetches the metadata and
//! completes; a private torrent beside it is never announced nor searched.

// Tests wait on real daemons with the wall clock.
#![allow(clippy::disallowed_methods)]

mod daemon_common;

use std::time::{Duration, Instant};

use daemon_common::{Daemon, cli_common, make_torrent};
use serde_json::{Value, json};

/// `dht=` from the daemon's address file.
fn dht_addr(d: &Daemon) -> String {
    let text = std::fs::read_to_string(d.dir.join("data/admin.addr")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("dht="))
        .expect("the DHT's address in admin.addr")
        .to_owned()
}

fn id_of(added: Value) -> String {
    added["id"].as_str().unwrap().to_owned()
}

#[test]
fn a_trackerless_magnet_completes_through_the_dht_alone() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    // A seeds a public and a private torrent.
    let (public, data) = make_torrent(a_dir.path(), "public.bin", 3 << 20);
    let src2 = a_dir.path().join("src2");
    std::fs::create_dir_all(&src2).unwrap();
    std::fs::write(src2.join("private.bin"), vec![7u8; 1 << 20]).unwrap();
    let private = cli_common::create(
        &src2.join("private.bin"),
        &a_dir.path().join("private.torrent"),
        &["--private"],
    );
    let downloads = a_dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    std::fs::copy(
        a_dir.path().join("src/public.bin"),
        downloads.join("public.bin"),
    )
    .unwrap();
    std::fs::copy(src2.join("private.bin"), downloads.join("private.bin")).unwrap();
    let a = Daemon::start(a_dir.path(), "");
    let pub_id = id_of(
        a.add_torrent(&std::fs::read(&public).unwrap(), "")
            .json()
            .unwrap(),
    );
    let priv_id = id_of(
        a.add_torrent(&std::fs::read(&private).unwrap(), "")
            .json()
            .unwrap(),
    );
    for id in [&pub_id, &priv_id] {
        a.wait_for(id, "seeding", |t| t["state"] == "seeding");
    }

    // B knows nothing but A's DHT node.
    let extra = format!("[dht]\nbootstrap = [\"{}\"]\n", dht_addr(&a));
    let cfg = daemon_common::config_text(b_dir.path(), "")
        .replace("bootstrap = []\n", &extra.replace("[dht]\n", ""));
    std::fs::write(b_dir.path().join("seedring.toml"), cfg).unwrap();
    let b = Daemon::start(b_dir.path(), "");
    let r = b.post_json(
        "/torrents",
        &json!({"magnet": format!("magnet:?xt=urn:btih:{pub_id}")}),
    );
    assert!(r.status().is_success(), "{:?}", r.text());
    // B also holds the private torrent, with no peer: it must not look for one.
    let r = b.add_torrent(&std::fs::read(&private).unwrap(), "");
    assert!(r.status().is_success());

    let start = Instant::now();
    let t = b.wait_for(&pub_id, "the magnet to complete", |t| {
        t["state"] == "seeding"
    });
    let took = start.elapsed();
    eprintln!(
        "trackerless magnet complete in {took:?}; B knows {}",
        t["known_peers"]
    );
    // One found the other through the DHT (B looked A up, or A found B,
    // which announced itself, and dialled it); nobody learned a peer otherwise.
    let ta = a.get_json(&format!("/torrents/{pub_id}"));
    let by_dht = |t: &Value| t["known_peers"]["dht"].as_u64().unwrap_or(0);
    assert!(by_dht(&t) + by_dht(&ta) >= 1, "B: {t}\nA: {ta}");
    for x in [&t, &ta] {
        for other in ["tracker", "pex", "manual", "lsd"] {
            assert_eq!(x["known_peers"][other].as_u64().unwrap_or(0), 0, "{x}");
        }
    }
    let got = std::fs::read(b_dir.path().join("downloads/public.bin")).unwrap();
    assert!(got == data, "the downloaded bytes differ");

    // The private torrent: no peer from anywhere, after several DHT rounds.
    std::thread::sleep(Duration::from_secs(12));
    let p = b.get_json(&format!("/torrents/{priv_id}"));
    assert!(p.get("known_peers").is_none(), "{p}");
    assert_eq!(p["peers"], 0);
    // And the nodes saw each other: A answered queries, B got answers.
    let sa = a.get_json("/stats");
    let sb = b.get_json("/stats");
    assert!(sa["dht"]["queries_in"].as_u64().unwrap() > 0, "{sa}");
    assert!(sb["dht"]["responses"].as_u64().unwrap() > 0, "{sb}");
    assert!(sb["dht"]["nodes"].as_u64().unwrap() >= 1, "{sb}");
    let m = b
        .authed(b.http.get(format!("{}/metrics", b.base)))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(m.contains("seedring_dht_nodes"), "{m}");
    // One torrent each in the DHT (the public one): the private one never.
    assert_eq!(sa["dht"]["torrents"], 1, "{sa}");
    assert_eq!(sb["dht"]["torrents"], 1, "{sb}");
}
