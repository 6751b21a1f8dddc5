//! The MSE handshake's two ends fed arbitrary bytes.
//!
//! The first byte picks the mode:
//! - `0`: the rest is what a dialler sends us, in chunks (the answering end);
//! - `1`: the rest is what an answerer sends us after our first step (the
//!   dialling end);
//! - otherwise: a real handshake between the two ends, the rest read as edits
//!   (offset, two bytes; value, one byte) to the bytes each sends the other, so
//!   the fuzzer reaches every stage with valid keys.
//!
//! What must hold: no panic; what either end sends stays within the spec's
//! sizes; a finished handshake names the one torrent the answerer serves and
//! never returns more payload than was fed.

use crate::proto::mse::{
    self, CRYPTO_PLAINTEXT, CRYPTO_RC4, DH_LEN, Initiator, MAX_IA, MAX_PAD, Methods, Progress,
    Responder,
};
use crate::types::InfoHash;

const IH: InfoHash = InfoHash([0x42; 20]);

fn served(req2: &[u8; 20]) -> Option<InfoHash> {
    (*req2 == mse::hash(&[b"req2", &IH.0])).then_some(IH)
}

fn both() -> Methods {
    Methods {
        allow: CRYPTO_PLAINTEXT | CRYPTO_RC4,
        prefer_rc4: false,
    }
}

/// The longest either end ever sends of its handshake.
const MAX_SENT: usize = DH_LEN + MAX_PAD + 40 + 16 + MAX_PAD + MAX_IA;

/// The fuzz target's body.
pub fn mse(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0 => answer(rest),
        1 => dial(rest),
        _ => edited(rest),
    }
}

fn chunks(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    // Sizes from the data itself: 1 to 256 bytes a chunk.
    let mut at = 0;
    std::iter::from_fn(move || {
        let size = usize::from(*data.get(at)?) + 1;
        let part = data.get(at + 1..(at + 1 + size).min(data.len()))?;
        at += 1 + size;
        Some(part)
    })
}

/// Feeds `data` in chunks to one end (`step`), until it finishes or fails.
fn feed_all(
    data: &[u8],
    mut step: impl FnMut(&[u8], &mut Vec<u8>) -> Result<Progress, mse::MseError>,
) {
    let mut out = Vec::new();
    for part in chunks(data) {
        match step(part, &mut out) {
            Ok(Progress::More) => {}
            Ok(Progress::Done(e)) => {
                assert_eq!(e.info_hash, IH);
                assert!(e.payload.len() <= data.len());
                break;
            }
            Err(_) => break,
        }
    }
    assert!(out.len() <= MAX_SENT);
}

fn answer(data: &[u8]) {
    let mut r = Responder::new([3; 20], both(), vec![1; 7], vec![2; 9]);
    feed_all(data, |part, out| r.feed(part, out, &served));
}

fn dial(data: &[u8]) {
    let (mut i, step1) = Initiator::start([4; 20], IH, 3, vec![0x13; 68], &[5; 11], vec![6; 3]);
    assert!(step1.len() <= DH_LEN + MAX_PAD);
    feed_all(data, |part, out| i.feed(part, out));
}

fn edited(data: &[u8]) {
    let edits: Vec<(usize, u8)> = data
        .chunks_exact(3)
        .map(|e| (usize::from(u16::from_be_bytes([e[0], e[1]])), e[2]))
        .collect();
    let apply = |bytes: &mut Vec<u8>, sent_before: usize| {
        for &(at, v) in &edits {
            if let Some(b) = at.checked_sub(sent_before).and_then(|i| bytes.get_mut(i)) {
                *b ^= v;
            }
        }
    };
    let (mut a, mut to_b) = Initiator::start([4; 20], IH, 3, b"IA".to_vec(), &[5; 11], vec![6; 3]);
    let mut b = Responder::new([3; 20], both(), vec![1; 7], vec![2; 9]);
    // A's stream edits use offsets as they are; B's are offset by 32,768.
    let (mut a_sent, mut b_sent) = (0, 32_768);
    let (mut a_done, mut b_done) = (false, false);
    for _ in 0..4 {
        apply(&mut to_b, a_sent);
        a_sent += to_b.len();
        let mut to_a = Vec::new();
        if !b_done {
            match b.feed(&std::mem::take(&mut to_b), &mut to_a, &served) {
                Ok(Progress::Done(e)) => {
                    assert_eq!(e.info_hash, IH);
                    b_done = true;
                }
                Ok(Progress::More) => {}
                Err(_) => return,
            }
        }
        apply(&mut to_a, b_sent);
        b_sent += to_a.len();
        if !a_done {
            match a.feed(&to_a, &mut to_b) {
                Ok(Progress::Done(e)) => {
                    assert_eq!(e.info_hash, IH);
                    a_done = true;
                }
                Ok(Progress::More) => {}
                Err(_) => return,
            }
        }
    }
}
