//! The `utp` fuzz target: uTP endpoints fed what the input says.
//!
//! The first byte picks the mode. Even: an endpoint receives raw datagrams
//! from a few addresses, with time passing and its connections written to and
//! read from; what it sends must decode, and its bounds hold. Odd: two
//! endpoints connected through a path the input controls (each datagram
//! delivered, dropped, duplicated or held back; corrupting them is the raw
//! mode's business, as uTP leaves checksums to UDP); whatever either side
//! reads must be exactly the start of what the other wrote.

use std::net::SocketAddr;
use std::time::Duration;

use crate::types::Time;
use crate::utp::packet::Header;
use crate::utp::{Endpoint, Key, MAX_CONNS, MAX_HALF_OPEN, Received, State};

/// One fuzz input.
pub fn utp(data: &[u8]) {
    match data.split_first() {
        Some((mode, rest)) if mode % 2 == 0 => raw(rest),
        Some((_, rest)) => {
            paired(rest);
        }
        None => {}
    }
}

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 1000 + u16::from(i % 4)))
}

fn check_out(ep: &mut Endpoint, now: Time) {
    let mut out = Vec::new();
    let mut n = 0;
    while ep.poll_transmit(now, &mut out).is_some() {
        Header::decode(&out).expect("what we send decodes");
        n += 1;
        assert!(n < 100_000, "poll_transmit never runs dry");
    }
}

fn raw(data: &[u8]) {
    let mut ep = Endpoint::new(1);
    let mut now = Time::from_secs(1);
    let mut keys: Vec<Key> = Vec::new();
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        match op % 4 {
            0 => {
                // A datagram: a length byte, then that many bytes.
                let Some((&len, tail)) = rest.split_first() else {
                    break;
                };
                let n = usize::from(len).min(tail.len());
                let (dgram, tail) = tail.split_at(n);
                rest = tail;
                if let Ok(Received::Accepted(k)) = ep.on_datagram(now, addr(op >> 2), dgram) {
                    keys.push(k);
                }
            }
            1 => now = now + Duration::from_millis(u64::from(op >> 2) * 40),
            2 => {
                if let Some(c) = keys.get(usize::from(op >> 2)).and_then(|k| ep.conn(*k)) {
                    c.write(&[op; 3000]);
                    let mut got = Vec::new();
                    c.read(&mut got);
                }
            }
            _ => {
                if let Some(c) = keys.get(usize::from(op >> 2)).and_then(|k| ep.conn(*k)) {
                    c.close();
                }
            }
        }
        ep.on_timeout(now);
        check_out(&mut ep, now);
        assert!(ep.len() <= MAX_CONNS);
        let half_open = keys
            .iter()
            .filter(|k| ep.conn(**k).is_some_and(|c| c.state() == State::SynRecv))
            .count();
        assert!(half_open <= MAX_HALF_OPEN);
    }
}

/// Returns whether both streams arrived whole.
fn paired(data: &[u8]) -> bool {
    let (a_addr, b_addr) = (addr(0), addr(1));
    let mut eps = [Endpoint::new(2), Endpoint::new(3)];
    let mut now = Time::from_secs(1);
    let Some(a) = eps[0].connect(now, b_addr) else {
        return false;
    };
    let b: Key = (a_addr, a.1.wrapping_add(1));
    let keys = [a, b];
    let sent: [Vec<u8>; 2] = [
        // A few dozen packets each way: enough for holes, duplicates and the
        // window, small enough for thousands of inputs a second.
        (0..40_000u32).map(|i| i.to_le_bytes()[0]).collect(),
        (0..9_000u32).map(|i| i.to_le_bytes()[1]).collect(),
    ];
    let mut written = [0usize; 2];
    let mut got: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut held: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut ops = data
        .iter()
        .copied()
        .chain(std::iter::repeat(4))
        .take(data.len() + 4_000);
    for _ in 0..4_000 {
        // Each side sends what it has; the input decides each datagram's fate.
        for side in 0..2 {
            if let Some(c) = eps[side].conn(keys[side]) {
                written[side] += c.write(&sent[side][written[side]..]);
            }
            let mut out = Vec::new();
            while eps[side].poll_transmit(now, &mut out).is_some() {
                let dgram = std::mem::take(&mut out);
                match ops.next().unwrap_or(0) % 8 {
                    // Lost.
                    0 => {}
                    1 => held.insert(0, (1 - side, dgram)), // overtakes the rest
                    2 => {
                        held.push((1 - side, dgram.clone()));
                        held.push((1 - side, dgram));
                    }
                    _ => held.push((1 - side, dgram)),
                }
            }
        }
        // Deliver what is held (the oldest first; some now, some later).
        let take = held.len().min(usize::from(ops.next().unwrap_or(4) % 8) + 1);
        for (to, dgram) in held.drain(..take).collect::<Vec<_>>() {
            let from = if to == 0 { b_addr } else { a_addr };
            eps[to]
                .on_datagram(now, from, &dgram)
                .expect("our datagrams decode");
        }
        now = now + Duration::from_millis(u64::from(ops.next().unwrap_or(0) % 4) * 30 + 1);
        for side in 0..2 {
            eps[side].on_timeout(now);
            if let Some(c) = eps[side].conn(keys[side]) {
                c.read(&mut got[side]);
            }
        }
        for side in 0..2 {
            // In order and exact, however the path behaved.
            let other = 1 - side;
            assert!(got[side].len() <= written[other]);
            if got[side] != sent[other][..got[side].len()] {
                let at = got[side].iter().zip(&sent[other]).position(|(a, b)| a != b);
                panic!(
                    "bytes out of order: side {side}, {} read, first wrong at {at:?}",
                    got[side].len()
                );
            }
        }
        if got[0].len() == sent[1].len() && got[1].len() == sent[0].len() {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_path_delivers_everything_in_order() {
        // Every datagram delivered at once (fate 4..7), or with drops,
        // duplicates and delays mixed in.
        assert!(paired(&[4u8; 5_000]));
        let mixed: Vec<u8> = (0..5_000u32)
            .map(|i| [4, 0, 5, 2, 1, 6, 3, 7][(i % 8) as usize])
            .collect();
        assert!(paired(&mixed));
        let mut raw_input = vec![0u8, 0, 20];
        raw_input.extend([0x41; 20]);
        utp(&raw_input);
    }
}
