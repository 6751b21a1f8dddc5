//! A daemon whose `peers.listen` names an address (a VPN's, say) sends
//! everything from it: outgoing peer connections, HTTP and UDP announces and
//! web seed fetches all arrive from 127.0.0.2 at listeners on 127.0.0.1, on
//! real loopback sockets; a peer of the other family is not dialled.
#![allow(clippy::disallowed_methods)] // a test's deadline reads the clock

mod daemon_common;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use daemon_common::{Daemon, config_text};
use serde_json::json;

const SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The address the first connection to `l` came from (30 s at most).
fn first_tcp_from(l: &TcpListener, what: &str) -> (IpAddr, String) {
    l.set_nonblocking(true).unwrap();
    let start = Instant::now();
    loop {
        match l.accept() {
            Ok((mut s, from)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                let mut buf = [0u8; 512];
                let n = s.read(&mut buf).unwrap_or(0);
                return (from.ip(), String::from_utf8_lossy(&buf[..n]).into_owned());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(start.elapsed() < Duration::from_secs(30), "no {what}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

#[test]
fn a_named_listen_address_is_where_everything_leaves_from() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let http_tracker = TcpListener::bind("127.0.0.1:0").unwrap();
    let udp_tracker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let web = TcpListener::bind("127.0.0.1:0").unwrap();
    let v6_peer = TcpListener::bind("[::1]:0").ok();

    let src = p.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f.bin"), vec![7u8; 100_000]).unwrap();
    let torrent = p.join("f.torrent");
    let http_url = format!("http://{}/announce", http_tracker.local_addr().unwrap());
    let udp_url = format!("udp://{}/announce", udp_tracker.local_addr().unwrap());
    let web_url = format!("http://{}/f.bin", web.local_addr().unwrap());
    daemon_common::cli_common::create(
        &src.join("f.bin"),
        &torrent,
        &[
            "--tracker",
            &http_url,
            "--tracker",
            &udp_url,
            "--web-seed",
            &web_url,
        ],
    );
    let cfg = p.join("seedring.toml");
    let text = config_text(p, "").replace(
        "listen = \"127.0.0.1:0\"\n[engine]",
        "listen = \"127.0.0.2:0\"\n[engine]",
    );
    assert!(text.contains("127.0.0.2"));
    std::fs::write(&cfg, text).unwrap();
    let d = Daemon::start_with(p, &cfg);

    let r = d.add_torrent(&std::fs::read(&torrent).unwrap(), "");
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    let id = r.json::<serde_json::Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut peers = vec![peer.local_addr().unwrap().to_string()];
    if let Some(l) = &v6_peer {
        peers.push(l.local_addr().unwrap().to_string());
    }
    let r = d.post_json(&format!("/torrents/{id}/peers"), &json!({ "peers": peers }));
    assert!(r.status().is_success(), "{}", r.text().unwrap());

    let (from, hello) = first_tcp_from(&peer, "peer connection");
    assert_eq!(from, SOURCE);
    assert!(!hello.is_empty(), "the handshake's first bytes");
    let (from, request) = first_tcp_from(&http_tracker, "HTTP announce");
    assert_eq!(from, SOURCE);
    assert!(request.starts_with("GET /announce?"), "{request}");
    let (from, request) = first_tcp_from(&web, "web seed fetch");
    assert_eq!(from, SOURCE);
    assert!(request.starts_with("GET /f.bin"), "{request}");
    udp_tracker
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, from): (usize, SocketAddr) = udp_tracker.recv_from(&mut buf).unwrap();
    assert_eq!(from.ip(), SOURCE);
    assert_eq!(n, 16, "a BEP 15 connect request");

    // The IPv6 peer was not dialled (from anywhere).
    if let Some(l) = v6_peer {
        l.set_nonblocking(true).unwrap();
        assert!(l.accept().is_err(), "an IPv6 peer was dialled");
    }
}
