//! The tracker client against hostile trackers on loopback: HTTP bodies that
//! are not bencode, cut short or endless, peer lists of the wrong length or far
//! too long, absurd intervals, redirect loops and redirects to other schemes;
//! UDP trackers answering with wrong transaction ids, short packets and a flood.
//! Each gets an answer or a clear error within a bound, no peer list is longer
//! than the cap, and a good tracker asked in the same breath still answers.
// Real sockets take real time: the test waits on the wall clock.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use seedring::InfoHash;
use seedring::bencode::OwnedValue;
use seedring::net::TrackerClient;
use seedring::proto::tracker::{
    Announce, AnnounceEvent, AnnounceReply, MAX_PEERS_PER_REPLY, TrackerError,
};

fn announce() -> Announce {
    Announce {
        info_hash: InfoHash([9; 20]),
        peer_id: [b'p'; 20],
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left: 100,
        event: AnnounceEvent::Started,
        numwant: 50,
        key: 1,
    }
}

fn reply(interval: i64, peers: Vec<u8>) -> Vec<u8> {
    let mut d = OwnedValue::dict();
    d.insert("interval", OwnedValue::Int(interval));
    d.insert("peers", OwnedValue::Bytes(peers));
    d.encode()
}

/// What the fake HTTP tracker sends for a path (the announce URL's last part).
fn answer(path: &str, port: u16) -> Vec<u8> {
    let ok = |body: Vec<u8>| {
        [
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes(),
            body,
        ]
        .concat()
    };
    let redirect = |to: String| {
        format!(
            "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .into_bytes()
    };
    match path {
        "/good" => ok(reply(1800, vec![127, 0, 0, 1, 0x1a, 0xe1])),
        "/html" => ok(b"<html><body>not a tracker</body></html>".to_vec()),
        "/truncated" => {
            b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nConnection: close\r\n\r\nd8:intervali1800e5:peers".to_vec()
        }
        // 300,000 peers in 1.8 MB: over the reply cap.
        "/huge" => ok(reply(1800, vec![1; 6 * 300_000])),
        // 150,000 peers in 900 kB: under the cap, so the peer cap must hold.
        "/many" => ok(reply(1800, [127u8, 0, 0, 1, 0x1a, 0xe1].repeat(150_000))),
        "/odd-peers" => ok(reply(1800, vec![127, 0, 0, 1, 0x1a, 0xe1, 7])),
        "/zero" => ok(reply(0, Vec::new())),
        "/negative" => ok(reply(-5, Vec::new())),
        "/enormous" => ok(reply(i64::MAX, Vec::new())),
        "/loop" => redirect(format!("http://127.0.0.1:{port}/loop")),
        "/to-file" => redirect("file:///etc/passwd".into()),
        "/to-gopher" => redirect("gopher://127.0.0.1:70/".into()),
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    }
}

fn serve_http(listener: TcpListener) {
    let port = listener.local_addr().unwrap().port();
    for conn in listener.incoming() {
        let Ok(mut s) = conn else { continue };
        std::thread::spawn(move || {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                if s.read(&mut byte).unwrap_or(0) == 0 {
                    return;
                }
                head.push(byte[0]);
            }
            let line = String::from_utf8_lossy(&head).into_owned();
            let target = line.split_whitespace().nth(1).unwrap_or("/");
            let path = target.split('?').next().unwrap_or("/").to_owned();
            let _gone = s.write_all(&answer(&path, port));
        });
    }
}

/// A UDP "tracker" that answers every packet with a flood of wrong ones: a
/// hundred replies with the wrong transaction id, short packets, and junk.
fn serve_udp_flood(sock: UdpSocket) {
    let mut buf = [0u8; 2048];
    while let Ok((n, from)) = sock.recv_from(&mut buf) {
        if n < 16 {
            continue;
        }
        let tx = u32::from_be_bytes(buf[12..16].try_into().unwrap());
        for i in 0..100u32 {
            let mut wrong = [0u8; 16];
            wrong[4..8].copy_from_slice(&(tx ^ (i + 1)).to_be_bytes());
            let _ = sock.send_to(&wrong, from);
            let _ = sock.send_to(&[0, 0, 0], from);
            let _ = sock.send_to(&[0xff; 1500], from);
        }
    }
}

#[test]
fn hostile_trackers_get_clear_errors_and_spoil_nothing() {
    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", http.local_addr().unwrap());
    std::thread::spawn(move || serve_http(http));
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_url = format!("udp://{}/announce", udp.local_addr().unwrap());
    std::thread::spawn(move || serve_udp_flood(udp));

    let client = TrackerClient::start().unwrap();
    let started = Instant::now();
    // Every one asked at once: a slow or hostile one must not hold the others.
    let paths = [
        "html",
        "truncated",
        "huge",
        "many",
        "odd-peers",
        "zero",
        "negative",
        "enormous",
        "loop",
        "to-file",
        "to-gopher",
        "good",
    ];
    let mut pending: Vec<(String, flume::Receiver<Result<AnnounceReply, TrackerError>>)> = paths
        .iter()
        .map(|p| {
            (
                p.to_string(),
                client.announce(format!("{base}/{p}"), announce()),
            )
        })
        .collect();
    pending.push(("udp flood".into(), client.announce(udp_url, announce())));

    let mut results = std::collections::BTreeMap::new();
    for (what, rx) in pending {
        let r = rx
            .recv_timeout(Duration::from_secs(40))
            .unwrap_or_else(|_| panic!("{what}: no answer within 40 s"));
        results.insert(what, r);
    }
    let err = |w: &str| match &results[w] {
        Err(e) => e.to_string(),
        Ok(r) => panic!("{w}: accepted {r:?}"),
    };
    // The good one answers, in the same breath as the rest.
    let good = results["good"].as_ref().expect("the good tracker answers");
    assert_eq!(good.peers, ["127.0.0.1:6881".parse().unwrap()]);
    assert!(!err("html").is_empty());
    assert!(!err("truncated").is_empty());
    assert!(err("huge").contains("large"), "{}", err("huge"));
    let many = results["many"].as_ref().expect("under the size cap");
    assert!(
        many.peers.len() <= MAX_PEERS_PER_REPLY,
        "{}",
        many.peers.len()
    );
    // A list of the wrong length: refused, or cut to whole entries; never more.
    if let Ok(r) = &results["odd-peers"] {
        assert!(r.peers.len() <= 1);
    }
    // Absurd intervals: zero reads as zero (the core then waits its 30 s floor,
    // `core::announce`'s tests), a negative or enormous one is refused.
    assert_eq!(results["zero"].as_ref().map(|r| r.interval), Ok(0));
    err("negative");
    err("enormous");
    for w in ["loop", "to-file", "to-gopher"] {
        let e = err(w);
        assert!(!e.contains("root:"), "{w}: {e}");
    }
    assert!(
        err("udp flood").contains("did not answer"),
        "{}",
        err("udp flood")
    );
    // Bounded: the UDP flood's three tries (2 + 4 + 8 s) are the longest.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );

    // And the client still works afterwards.
    let again = client
        .announce(format!("{base}/good"), announce())
        .recv_timeout(Duration::from_secs(10))
        .unwrap();
    assert!(again.is_ok(), "{again:?}");
}

/// A tracker that cannot be reached: the error says why, and carries neither
/// the announce's query nor a private tracker's passkey (the error is kept
/// by every torrent of that tracker and shown in the API and the log, where
/// the URL already stands beside it).
#[test]
fn an_unreachable_trackers_error_says_why_without_the_url() {
    // A port that was just free: nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let client = TrackerClient::start().unwrap();
    let e = client
        .announce(format!("{base}/s3cr3tpasskey/announce"), announce())
        .recv_timeout(Duration::from_secs(20))
        .expect("an answer")
        .expect_err("nothing listens there")
        .to_string();
    assert!(e.contains("refused"), "{e}");
    for secret in ["s3cr3tpasskey", "info_hash", "peer_id", "key="] {
        assert!(!e.contains(secret), "{secret} in {e}");
    }
    assert!(e.len() < 200, "{} bytes: {e}", e.len());
}
