//! Local service discovery between two daemons: a magnet with no tracker and
//! no peer finds its seed on the local network's multicast group, IPv4 or
//! IPv6. Multicast never touches the machine's own network: each test starts
//! itself again inside a network namespace of its own (a loopback with
//! multicast on it for IPv4; a veth pair for IPv6, whose link-local senders
//! must be dialled through their interface, with no IPv4 multicast route so
//! that the IPv4 group is left out).

mod daemon_common;
mod netns;

use daemon_common::{Daemon, make_torrent};
use serde_json::{Value, json};

#[test]
fn a_magnet_finds_its_seed_on_the_local_network() {
    // Multicast on the namespace's loopback, sent from 127.0.0.1.
    let setup = "ip link set lo up && ip link set lo multicast on \
                 && ip route add 239.0.0.0/8 dev lo src 127.0.0.1";
    in_namespace("a_magnet_finds_its_seed_on_the_local_network", setup, false);
}

#[test]
fn a_magnet_finds_its_seed_on_the_local_network_over_ipv6() {
    // No duplicate address detection: the link-local addresses are usable at once.
    let setup = "ip link set lo up \
                 && sysctl -qw net.ipv6.conf.all.accept_dad=0 \
                 && sysctl -qw net.ipv6.conf.default.accept_dad=0 \
                 && ip link add v0 type veth peer name v1 \
                 && ip link set v0 up && ip link set v1 up \
                 && ip -6 route add ff15::/16 dev v0";
    in_namespace(
        "a_magnet_finds_its_seed_on_the_local_network_over_ipv6",
        setup,
        true,
    );
}

fn in_namespace(name: &str, setup: &str, v6: bool) {
    if !netns::inside("SEEDRING_LSD_NETNS") {
        let text = netns::rerun(name, "SEEDRING_LSD_NETNS", setup);
        assert!(text.contains("found through lsd"), "the test ran: {text}");
        return;
    }
    two_daemons(v6);
}

fn two_daemons(v6: bool) {
    let listen = if v6 { "[::]:0" } else { "127.0.0.1:0" };
    let lsd = format!("[peers]\nlisten = \"{listen}\"\nlsd = true\n");
    let config = |dir: &std::path::Path| {
        daemon_common::config_text(dir, "")
            .replace("[peers]\nlisten = \"127.0.0.1:0\"\n", &lsd)
            .replace("[dht]\n", "[dht]\nenabled = false\n")
    };
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let (torrent, data) = make_torrent(a_dir.path(), "local.bin", 2 << 20);
    std::fs::create_dir_all(a_dir.path().join("downloads")).unwrap();
    std::fs::write(a_dir.path().join("downloads/local.bin"), &data).unwrap();
    for d in [&a_dir, &b_dir] {
        std::fs::write(d.path().join("seedring.toml"), config(d.path())).unwrap();
    }
    let a = Daemon::start(a_dir.path(), "");
    let added: Value = a
        .add_torrent(&std::fs::read(&torrent).unwrap(), "")
        .json()
        .unwrap();
    let ih = added["id"].as_str().unwrap().to_owned();
    a.wait_for(&ih, "seeding", |t| t["state"] == "seeding");
    let b = Daemon::start(b_dir.path(), "");
    let r = b.post_json(
        "/torrents",
        &json!({"magnet": format!("magnet:?xt=urn:btih:{ih}")}),
    );
    assert!(r.status().is_success());
    let t = b.wait_for(&ih, "the magnet to complete", |t| t["state"] == "seeding");
    let ta = a.get_json(&format!("/torrents/{ih}"));
    let lsd_of = |t: &Value| t["known_peers"]["lsd"].as_u64().unwrap_or(0);
    assert!(lsd_of(&t) + lsd_of(&ta) >= 1, "B: {t}\nA: {ta}");
    let got = std::fs::read(b_dir.path().join("downloads/local.bin")).unwrap();
    assert!(got == data);
    if v6 {
        // Found over IPv6 only: the IPv4 group has no route here.
        let log = b.stderr();
        assert!(
            log.contains("cannot join this group") && log.contains("239.192.152.143"),
            "{log}"
        );
    }
    println!(
        "found through lsd: B {}, A {}",
        t["known_peers"], ta["known_peers"]
    );
}
