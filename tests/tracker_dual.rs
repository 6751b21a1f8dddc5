//! BEP 7: a tracker whose name resolves to both IPv4 and IPv6 is announced to
//! over each family, and the peers of both answers come back as one; a tracker
//! given by address is asked once. Over HTTP and UDP, on loopback inside a
//! network and mount namespace the test makes, where a hosts file of its own
//! gives the name `dual.test` both `127.0.0.1` and `::1`.
// Real sockets take real time: the test waits on the wall clock.
#![allow(clippy::disallowed_methods)]

mod netns;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use seedring::InfoHash;
use seedring::bencode::OwnedValue;
use seedring::net::TrackerClient;
use seedring::proto::tracker::{Announce, AnnounceEvent, AnnounceReply};

const MARKER: &str = "SEEDRING_DUAL_INSIDE";

type Seen = Arc<Mutex<Vec<IpAddr>>>;

fn announce() -> Announce {
    Announce {
        info_hash: InfoHash([7; 20]),
        peer_id: [b'q'; 20],
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left: 100,
        event: AnnounceEvent::Started,
        numwant: 50,
        key: 1,
    }
}

/// The peer each family's tracker hands out.
fn peer_for(v6: bool) -> SocketAddr {
    if v6 {
        "[fd00::6]:6006".parse().unwrap()
    } else {
        "10.0.0.4:4004".parse().unwrap()
    }
}

/// An HTTP tracker: the IPv4 one answers interval 900 and `peers`, the IPv6
/// one interval 1800 and `peers6`.
fn serve_http(l: TcpListener, seen: Seen) {
    let v6 = l.local_addr().unwrap().is_ipv6();
    for conn in l.incoming() {
        let Ok(mut c) = conn else { continue };
        let mut buf = [0u8; 4096];
        let _ = c.read(&mut buf);
        seen.lock().unwrap().push(c.peer_addr().unwrap().ip());
        let mut d = OwnedValue::dict();
        d.insert("interval", OwnedValue::Int(if v6 { 1800 } else { 900 }));
        let p = peer_for(v6);
        let mut compact = match p.ip() {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        compact.extend_from_slice(&p.port().to_be_bytes());
        d.insert(
            if v6 { "peers6" } else { "peers" },
            OwnedValue::Bytes(compact),
        );
        let body = d.encode();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = c.write_all(&[head.into_bytes(), body].concat());
    }
}

/// A UDP tracker (BEP 15): connect, then announce with its family's peer.
fn serve_udp(s: UdpSocket, seen: Seen) {
    let v6 = s.local_addr().unwrap().is_ipv6();
    let mut buf = [0u8; 2048];
    while let Ok((n, from)) = s.recv_from(&mut buf) {
        if n < 16 {
            continue;
        }
        let action = u32::from_be_bytes(buf[8..12].try_into().unwrap());
        let mut out = buf[8..16].to_vec(); // action and transaction
        if action == 0 {
            out.extend_from_slice(&0x1234_5678_9abc_def0u64.to_be_bytes());
        } else {
            seen.lock().unwrap().push(from.ip());
            out.extend_from_slice(&(if v6 { 1800u32 } else { 900 }).to_be_bytes());
            out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
            let p = peer_for(v6);
            match p.ip() {
                IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
            }
            out.extend_from_slice(&p.port().to_be_bytes());
        }
        let _ = s.send_to(&out, from);
    }
}

fn ask(client: &TrackerClient, url: &str) -> AnnounceReply {
    client
        .announce(url.to_owned(), announce())
        .recv_timeout(Duration::from_secs(30))
        .expect("an answer in time")
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

fn families(seen: &Seen) -> (usize, usize) {
    let s = std::mem::take(&mut *seen.lock().unwrap());
    let v6 = s.iter().filter(|a| a.is_ipv6()).count();
    (s.len() - v6, v6)
}

#[test]
fn a_tracker_with_both_families_is_announced_to_over_each() {
    if !netns::inside(MARKER) {
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("hosts");
        std::fs::write(
            &hosts,
            "127.0.0.1 localhost\n::1 dual.test\n127.0.0.1 dual.test\n",
        )
        .unwrap();
        let setup = format!(
            "ip link set lo up && mount --bind {} /etc/hosts",
            hosts.display()
        );
        let out = netns::rerun_in(
            "a_tracker_with_both_families_is_announced_to_over_each",
            MARKER,
            &["-n", "-m"],
            &setup,
        );
        assert!(out.contains("both families answered"), "{out}");
        return;
    }
    let seen: Seen = Arc::default();
    // The same port on both families (a fresh namespace: nothing else holds it).
    let l4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l4.local_addr().unwrap().port();
    let l6 = TcpListener::bind(("::1", port)).unwrap();
    let u4 = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let u6 = UdpSocket::bind(("::1", port)).unwrap();
    for l in [l4, l6] {
        let seen = seen.clone();
        std::thread::spawn(move || serve_http(l, seen));
    }
    for u in [u4, u6] {
        let seen = seen.clone();
        std::thread::spawn(move || serve_udp(u, seen));
    }
    let client = TrackerClient::start().unwrap();
    let both = [peer_for(false), peer_for(true)];

    for scheme in ["http", "udp"] {
        let r = ask(&client, &format!("{scheme}://dual.test:{port}/announce"));
        assert_eq!(families(&seen), (1, 1), "{scheme}: one announce per family");
        assert!(
            both.iter().all(|p| r.peers.contains(p)),
            "{scheme}: {:?}",
            r.peers
        );
        assert_eq!(r.interval, 1800, "{scheme}: the longer interval");
        // Given by address: asked once, over that family.
        let r = ask(&client, &format!("{scheme}://127.0.0.1:{port}/announce"));
        assert_eq!(families(&seen), (1, 0), "{scheme} by address");
        assert_eq!(r.peers, vec![peer_for(false)]);
        let r = ask(&client, &format!("{scheme}://[::1]:{port}/announce"));
        assert_eq!(families(&seen), (0, 1), "{scheme} by IPv6 address");
        assert_eq!(r.peers, vec![peer_for(true)]);
    }
    // Nothing listens over IPv6 on a second port: the IPv4 answer stands.
    let l4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let lone = l4.local_addr().unwrap().port();
    let u4 = UdpSocket::bind(("127.0.0.1", lone)).unwrap();
    let s = seen.clone();
    std::thread::spawn(move || serve_http(l4, s));
    let s = seen.clone();
    std::thread::spawn(move || serve_udp(u4, s));
    for scheme in ["http", "udp"] {
        let r = ask(&client, &format!("{scheme}://dual.test:{lone}/announce"));
        assert_eq!(families(&seen), (1, 0), "{scheme}: IPv4 only answered");
        assert_eq!(r.peers, vec![peer_for(false)], "{scheme}");
    }
    println!("both families answered");
}
