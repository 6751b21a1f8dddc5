//! Two endpoints over a simulated path: delay, jitter (reordering), loss and a
//! bottleneck with a queue, in simulated time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::packet::{Header, Kind};
use super::*;
use crate::core::Rng;
use crate::types::Time;

#[derive(Clone, Copy)]
struct Path {
    delay: Duration,
    jitter: Duration,
    loss: f64,
    /// Bytes per second through the bottleneck (0: none).
    rate: u64,
}

const FAST: Path = Path {
    delay: Duration::from_millis(10),
    jitter: Duration::ZERO,
    loss: 0.0,
    rate: 0,
};

struct Net {
    now: Time,
    eps: [Endpoint; 2],
    addrs: [SocketAddr; 2],
    /// In flight: (arrival, n) -> (to endpoint, from, bytes).
    wire: BTreeMap<(Time, u64), (usize, SocketAddr, Vec<u8>)>,
    n: u64,
    path: Path,
    /// When the bottleneck is next free, per direction.
    busy_until: [Time; 2],
    rng: Rng,
    /// Extra traffic through the bottleneck A -> B: bytes per second.
    cross: u64,
    cross_sent: u64,
}

impl Net {
    fn new(path: Path, seed: u64) -> Net {
        Net {
            now: Time::from_secs(1),
            eps: [Endpoint::new(seed), Endpoint::new(seed + 1)],
            addrs: [
                "127.0.0.1:1000".parse().unwrap(),
                "127.0.0.1:2000".parse().unwrap(),
            ],
            wire: BTreeMap::new(),
            n: 0,
            path,
            busy_until: [Time::ZERO; 2],
            rng: Rng::new(seed + 7),
            cross: 0,
            cross_sent: 0,
        }
    }

    fn put(&mut self, from: usize, bytes: Vec<u8>) {
        if self.rng.chance(self.path.loss) {
            return;
        }
        let mut at = self.now;
        if let Some(per_byte) = 1_000_000_000u64.checked_div(self.path.rate) {
            let start = self.busy_until[from].max(self.now);
            let took = Duration::from_nanos(bytes.len() as u64 * per_byte);
            self.busy_until[from] = start + took;
            at = self.busy_until[from];
        }
        let jitter = match u64::try_from(self.path.jitter.as_nanos()).unwrap_or(0) {
            0 => 0,
            j => self.rng.below(j),
        };
        at = at + self.path.delay + Duration::from_nanos(jitter);
        self.n += 1;
        let from_addr = self.addrs[from];
        self.wire.insert((at, self.n), (1 - from, from_addr, bytes));
    }

    /// Sends what both endpoints have, then moves time to the next arrival or
    /// deadline (at most `step`), delivering and running timers.
    fn step(&mut self, step: Duration) {
        let mut buf = Vec::new();
        for i in 0..2 {
            while let Some(to) = self.eps[i].poll_transmit(self.now, &mut buf) {
                assert_eq!(to, self.addrs[1 - i]);
                let b = std::mem::take(&mut buf);
                self.put(i, b);
            }
        }
        // Cross traffic takes its share of the bottleneck A -> B.
        if self.cross > 0 {
            let due = self.cross * (self.now.0 / 1_000_000) / 1000;
            while self.cross_sent + 1400 <= due {
                self.cross_sent += 1400;
                let start = self.busy_until[0].max(self.now);
                self.busy_until[0] =
                    start + Duration::from_nanos(1400 * 1_000_000_000 / self.path.rate);
            }
        }
        let mut next = self.now + step;
        if let Some((&(t, _), _)) = self.wire.iter().next() {
            next = next.min(t);
        }
        for ep in &mut self.eps {
            if let Some(d) = ep.on_timeout(self.now) {
                next = next.min(d.max(self.now + Duration::from_micros(1)));
            }
        }
        self.now = next.max(self.now);
        while let Some(entry) = self.wire.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let (to, from, bytes) = entry.remove();
            let got = self.eps[to].on_datagram(self.now, from, &bytes);
            got.expect("every datagram on the wire decodes");
        }
        for ep in &mut self.eps {
            ep.on_timeout(self.now);
        }
    }

    fn conn(&mut self, side: usize, key: Key) -> &mut Conn {
        self.eps[side].conn(key).expect("connection is there")
    }

    /// A connection from A to B; returns (A's key, B's key).
    fn open(&mut self) -> (Key, Key) {
        let a = self.eps[0].connect(self.now, self.addrs[1]).unwrap();
        let b = (self.addrs[0], a.1.wrapping_add(1));
        for _ in 0..1000 {
            self.step(Duration::from_millis(5));
            if self.eps[1].keys().any(|k| k == b) && self.conn(0, a).state() == State::Connected {
                return (a, b);
            }
        }
        panic!("never connected");
    }
}

fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| i.to_le_bytes()[0].wrapping_mul(31) ^ salt)
        .collect()
}

/// Moves `a_to_b` from A to B and `b_to_a` back at once; returns when both are
/// read whole, and the simulated time it took.
fn exchange(net: &mut Net, keys: (Key, Key), a_to_b: &[u8], b_to_a: &[u8]) -> Duration {
    let start = net.now;
    let (mut got_b, mut got_a) = (Vec::new(), Vec::new());
    let (mut wa, mut wb) = (0, 0);
    for _ in 0..5_000_000 {
        wa += net.conn(0, keys.0).write(&a_to_b[wa..]);
        wb += net.conn(1, keys.1).write(&b_to_a[wb..]);
        net.step(Duration::from_millis(50));
        net.conn(1, keys.1).read(&mut got_b);
        net.conn(0, keys.0).read(&mut got_a);
        if got_b.len() == a_to_b.len() && got_a.len() == b_to_a.len() {
            assert!(got_b == a_to_b && got_a == b_to_a, "bytes differ");
            return net.now.since(start);
        }
    }
    panic!(
        "transfer stalled: {} of {}, {} of {}",
        got_b.len(),
        a_to_b.len(),
        got_a.len(),
        b_to_a.len()
    );
}

#[test]
fn bytes_arrive_whole_and_in_order_both_ways_then_both_close() {
    let mut net = Net::new(FAST, 1);
    let keys = net.open();
    exchange(&mut net, keys, &pattern(3_000_000, 1), &pattern(700_000, 2));
    net.conn(0, keys.0).close();
    net.conn(1, keys.1).close();
    for _ in 0..1000 {
        net.step(Duration::from_millis(10));
    }
    assert!(net.conn(0, keys.0).at_eof() && net.conn(1, keys.1).at_eof());
    assert_eq!(net.conn(0, keys.0).state(), State::Closed);
    assert_eq!(net.conn(1, keys.1).state(), State::Closed);
    assert_eq!(net.conn(0, keys.0).error(), None);
}

#[test]
fn loss_and_reordering_are_repaired() {
    for seed in 1..6 {
        let path = Path {
            loss: 0.05,
            jitter: Duration::from_millis(8),
            ..FAST
        };
        let mut net = Net::new(path, seed * 11);
        let keys = net.open();
        exchange(&mut net, keys, &pattern(1_000_000, 3), &pattern(200_000, 4));
    }
}

#[test]
fn a_window_of_packets_crosses_the_sequence_wrap() {
    let mut net = Net::new(FAST, 5);
    let keys = net.open();
    // 70,000 packets: past 65,536 sequence numbers.
    exchange(&mut net, keys, &pattern(70_000 * PAYLOAD, 5), &[]);
}

/// A one-way transfer from A to B that runs for a while at a time.
struct Bulk {
    keys: (Key, Key),
    data: Vec<u8>,
    sent: usize,
    got: Vec<u8>,
}

impl Bulk {
    /// A new connection with `size` bytes to send.
    fn new(net: &mut Net, size: usize) -> Bulk {
        let keys = net.open();
        let data = pattern(size, 6);
        Bulk {
            keys,
            data,
            sent: 0,
            got: Vec::new(),
        }
    }

    /// Runs `secs` of simulated time; returns the bytes per second B read and
    /// the median queueing delay A measured.
    fn run(&mut self, net: &mut Net, secs: u64) -> (f64, Duration) {
        let (start, mut read) = (net.now, 0);
        let mut delays = Vec::new();
        while net.now.since(start) < Duration::from_secs(secs) {
            self.sent += net.conn(0, self.keys.0).write(&self.data[self.sent..]);
            net.step(Duration::from_millis(10));
            net.conn(1, self.keys.1).read(&mut self.got);
            read += self.got.len();
            self.got.clear();
            delays.push(net.conn(0, self.keys.0).congestion().queue_delay);
        }
        delays.sort();
        (read as f64 / secs as f64, delays[delays.len() / 2])
    }
}

#[test]
fn ledbat_keeps_the_queue_near_its_target_and_yields_to_other_traffic() {
    // 1 MB/s bottleneck, 20 ms each way.
    let path = Path {
        delay: Duration::from_millis(20),
        rate: 1_000_000,
        ..FAST
    };
    let mut net = Net::new(path, 9);
    let mut bulk = Bulk::new(&mut net, 100_000_000);
    // Alone: fills the link, queue near the 100 ms target.
    bulk.run(&mut net, 20);
    let (alone, queue) = bulk.run(&mut net, 20);
    assert!(alone > 850_000.0, "alone: {alone} B/s");
    assert!(
        queue > Duration::from_millis(40) && queue < Duration::from_millis(150),
        "queue {queue:?}"
    );
    // Other traffic (which does not back off) takes 70% of the link: uTP backs
    // off to the rest, and the queue it keeps stays at the target.
    net.cross = 700_000;
    net.cross_sent = 700_000 * (net.now.0 / 1_000_000) / 1000;
    bulk.run(&mut net, 20);
    let (shared, queue2) = bulk.run(&mut net, 20);
    assert!(
        (250_000.0..320_000.0).contains(&shared),
        "with cross traffic: {shared} B/s"
    );
    assert!(queue2 < Duration::from_millis(150), "queue {queue2:?}");
    eprintln!(
        "uTP alone {alone:.0} B/s (queue {queue:?}); beside 700 kB/s of other traffic \
         {shared:.0} B/s (queue {queue2:?})"
    );
}

#[test]
fn a_long_fast_path_is_filled() {
    // 8 MB/s, 50 ms each way: 800 KB in flight to fill it, where a window of
    // 128 KiB (the short path's bound) carries 1.3 MB/s.
    let path = Path {
        delay: Duration::from_millis(50),
        rate: 8_000_000,
        ..FAST
    };
    let mut net = Net::new(path, 21);
    let mut bulk = Bulk::new(&mut net, 400_000_000);
    let (first, _) = bulk.run(&mut net, 10);
    let (then, queue) = bulk.run(&mut net, 10);
    assert!(then > 7_000_000.0, "{then:.0} B/s (first 10 s: {first:.0})");
    assert!(queue < Duration::from_millis(150), "queue {queue:?}");
    eprintln!("8 MB/s at 100 ms RTT: {first:.0} B/s in the first 10 s, {then:.0} after");
}

#[test]
fn a_silent_peer_times_the_connection_out() {
    let mut net = Net::new(FAST, 3);
    let keys = net.open();
    net.conn(0, keys.0).write(b"hello");
    net.path.loss = 1.0;
    for _ in 0..10_000 {
        net.step(Duration::from_secs(1));
        if net.conn(0, keys.0).state() == State::Closed {
            break;
        }
    }
    assert_eq!(net.conn(0, keys.0).error(), Some(ConnError::TimedOut));
}

fn syn(conn_id: u16) -> Vec<u8> {
    let mut b = Vec::new();
    Header {
        kind: Kind::Syn,
        conn_id,
        timestamp: 0,
        timestamp_diff: 0,
        wnd_size: 1 << 20,
        seq_nr: 1,
        ack_nr: 0,
        sack: Vec::new(),
    }
    .encode(&mut b);
    b
}

#[test]
fn a_syn_flood_holds_at_most_the_half_open_bound_for_ten_seconds() {
    let mut ep = Endpoint::new(1);
    let now = Time::from_secs(1);
    let mut accepted = 0;
    for port in 1..=1000u16 {
        let from = SocketAddr::from(([127, 0, 0, 2], port));
        if let Received::Accepted(_) = ep.on_datagram(now, from, &syn(7)).unwrap() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, MAX_HALF_OPEN);
    assert_eq!(ep.len(), MAX_HALF_OPEN);
    // Their ACKs go out (once each), then nothing more until they time out.
    let mut out = Vec::new();
    let mut acks = 0;
    while ep.poll_transmit(now, &mut out).is_some() {
        acks += 1;
    }
    assert_eq!(acks, MAX_HALF_OPEN);
    ep.on_timeout(now + Duration::from_secs(11));
    let keys: Vec<Key> = ep.keys().collect();
    for k in keys {
        assert_eq!(ep.conn(k).unwrap().error(), Some(ConnError::TimedOut));
    }
}

#[test]
fn stray_packets_get_bounded_resets_and_garbage_is_refused() {
    let mut ep = Endpoint::new(2);
    let now = Time::from_secs(1);
    let mut data = syn(9);
    data[0] = 0x01; // a DATA packet for no connection
    for port in 1..200u16 {
        let from = SocketAddr::from(([127, 0, 0, 3], port));
        assert!(matches!(
            ep.on_datagram(now, from, &data),
            Ok(Received::Dropped(_))
        ));
    }
    let mut out = Vec::new();
    let mut resets = 0;
    while ep.poll_transmit(now, &mut out).is_some() {
        let (h, _) = Header::decode(&out).unwrap();
        assert_eq!((h.kind, h.conn_id), (Kind::Reset, 9));
        resets += 1;
    }
    assert_eq!(resets, MAX_RESETS);
    // Random bytes never panic and never open anything.
    let mut rng = Rng::new(4);
    let from = SocketAddr::from(([127, 0, 0, 4], 1));
    let mut refused = 0;
    for _ in 0..20_000 {
        let len = usize::from(rng.below(64).to_le_bytes()[0]);
        let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64().to_le_bytes()[0]).collect();
        if rng.chance(0.5) && len > 0 {
            b[0] = (b[0] & 0xf0) | 1; // version 1: gets past the first check
        }
        if rng.chance(0.05) && len > 0 {
            b[0] = 0x41; // a SYN
        }
        refused += usize::from(ep.on_datagram(now, from, &b).is_err());
    }
    assert!(refused > 10_000, "{refused}");
    assert!(ep.len() <= MAX_HALF_OPEN);
}

#[test]
fn a_reset_ends_the_connection() {
    let mut net = Net::new(FAST, 4);
    let keys = net.open();
    let mut out = Vec::new();
    let h = Header {
        kind: Kind::Data,
        conn_id: keys.0.1,
        timestamp: 0,
        timestamp_diff: 0,
        wnd_size: 0,
        seq_nr: 0,
        ack_nr: 0,
        sack: Vec::new(),
    };
    Conn::reset_packet(net.now, &h, &mut out);
    let got = net.eps[0].on_datagram(net.now, net.addrs[1], &out).unwrap();
    assert_eq!(got, Received::Conn(keys.0));
    assert_eq!(net.conn(0, keys.0).error(), Some(ConnError::Reset));
}
