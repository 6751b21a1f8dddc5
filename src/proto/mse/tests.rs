use super::*;

const IH: InfoHash = InfoHash([0x5a; 20]);

fn lookup(req2: &[u8; 20]) -> Option<InfoHash> {
    (*req2 == hash(&[b"req2", &IH.0])).then_some(IH)
}

fn both() -> Methods {
    Methods {
        allow: CRYPTO_PLAINTEXT | CRYPTO_RC4,
        prefer_rc4: false,
    }
}

/// Runs a whole handshake, delivering bytes `chunk` at a time; returns both ends.
fn handshake(
    provide: u32,
    methods: Methods,
    pads: usize,
    chunk: usize,
) -> Result<(Established, Established), MseError> {
    let (mut a, step1) = Initiator::start(
        [1; 20],
        IH,
        provide,
        b"IA: our handshake".to_vec(),
        &vec![7; pads],
        vec![8; pads],
    );
    let mut b = Responder::new([2; 20], methods, vec![9; pads], vec![10; pads]);
    let (mut to_b, mut to_a) = (step1, Vec::new());
    let (mut done_a, mut done_b) = (None, None);
    for _ in 0..10_000 {
        if done_a.is_some() && done_b.is_some() {
            break;
        }
        if !to_b.is_empty() && done_b.is_none() {
            let n = chunk.min(to_b.len());
            let part: Vec<u8> = to_b.drain(..n).collect();
            if let Progress::Done(e) = b.feed(&part, &mut to_a, &lookup)? {
                done_b = Some(*e);
            }
        }
        if !to_a.is_empty() && done_a.is_none() {
            let n = chunk.min(to_a.len());
            let part: Vec<u8> = to_a.drain(..n).collect();
            if let Progress::Done(e) = a.feed(&part, &mut to_b)? {
                done_a = Some(*e);
            }
        }
    }
    Ok((done_a.expect("A finished"), done_b.expect("B finished")))
}

#[test]
fn plaintext_after_the_handshake_when_both_allow_it() {
    let (a, b) = handshake(CRYPTO_PLAINTEXT | CRYPTO_RC4, both(), 0, 1 << 20).unwrap();
    assert!(!a.rc4 && !b.rc4);
    assert!(a.tx.is_none() && b.rx.is_none());
    assert_eq!(b.payload, b"IA: our handshake");
    assert_eq!(b.info_hash, IH);
}

#[test]
fn rc4_streams_match_in_both_directions() {
    let prefer = Methods {
        allow: CRYPTO_RC4,
        prefer_rc4: true,
    };
    for chunk in [1, 3, 64, 1 << 20] {
        let (mut a, mut b) = handshake(CRYPTO_PLAINTEXT | CRYPTO_RC4, prefer, MAX_PAD, chunk)
            .unwrap_or_else(|e| panic!("chunk {chunk}: {e}"));
        assert!(a.rc4 && b.rc4);
        assert_eq!(b.payload, b"IA: our handshake");
        let mut msg = b"a piece message".to_vec();
        a.tx.as_mut().unwrap().apply(&mut msg);
        assert_ne!(msg, b"a piece message");
        b.rx.as_mut().unwrap().apply(&mut msg);
        assert_eq!(msg, b"a piece message");
        let mut back = b"the answer".to_vec();
        b.tx.as_mut().unwrap().apply(&mut back);
        a.rx.as_mut().unwrap().apply(&mut back);
        assert_eq!(back, b"the answer");
    }
}

#[test]
fn refusals() {
    let rc4_only = Methods {
        allow: CRYPTO_RC4,
        prefer_rc4: true,
    };
    assert_eq!(
        handshake(CRYPTO_PLAINTEXT, rc4_only, 0, 100).unwrap_err(),
        MseError::NoCommonMethod(CRYPTO_PLAINTEXT)
    );
    // An info-hash we do not serve.
    let (_, step1) = Initiator::start([1; 20], InfoHash([1; 20]), 3, vec![], &[], vec![]);
    let mut b = Responder::new([2; 20], both(), vec![], vec![]);
    let mut to_a = Vec::new();
    assert!(matches!(
        b.feed(&step1, &mut to_a, &lookup),
        Ok(Progress::More)
    ));
    let mut a = Initiator::start([1; 20], InfoHash([1; 20]), 3, vec![], &[], vec![]).0;
    let mut step3 = Vec::new();
    assert!(matches!(a.feed(&to_a, &mut step3), Ok(Progress::More)));
    assert_eq!(
        b.feed(&step3, &mut Vec::new(), &lookup).unwrap_err(),
        MseError::UnknownTorrent
    );
}

#[test]
fn a_dialler_that_never_synchronises_is_dropped_within_the_window() {
    let mut b = Responder::new([2; 20], both(), vec![], vec![]);
    let ya = KeyPair::new([3; 20]).public;
    let mut out = Vec::new();
    assert!(matches!(b.feed(&ya, &mut out, &lookup), Ok(Progress::More)));
    assert_eq!(out.len(), DH_LEN, "Yb answered");
    let junk = vec![0xab; MAX_PAD + 19];
    assert!(matches!(
        b.feed(&junk, &mut out, &lookup),
        Ok(Progress::More)
    ));
    assert_eq!(
        b.feed(&[0xab], &mut out, &lookup).unwrap_err(),
        MseError::NoSync
    );
    let mut b = Responder::new([2; 20], both(), vec![], vec![]);
    assert_eq!(
        b.feed(&[0; DH_LEN], &mut out, &lookup).unwrap_err(),
        MseError::BadKey
    );
}

/// Every byte of each side's messages replaced by another value, one at a time:
/// the handshake fails cleanly or (a byte of padding) succeeds with the right
/// torrent; it never panics and never yields a wrong stream silently.
#[test]
fn garbage_at_every_byte_position_fails_cleanly() {
    let pads = 12;
    let (mut a0, step1) = Initiator::start(
        [1; 20],
        IH,
        3,
        b"IA".to_vec(),
        &vec![7; pads],
        vec![8; pads],
    );
    let mut b0 = Responder::new([2; 20], both(), vec![9; pads], vec![10; pads]);
    let mut step2 = Vec::new();
    b0.feed(&step1, &mut step2, &lookup).unwrap();
    let mut step3 = Vec::new();
    a0.feed(&step2, &mut step3).unwrap();
    let mut step4 = Vec::new();
    b0.feed(&step3, &mut step4, &lookup).unwrap();
    // A's steps corrupted, as B sees them.
    for (which, len) in [(1, step1.len()), (3, step3.len())] {
        for i in 0..len {
            let (mut s1, mut s3) = (step1.clone(), step3.clone());
            let target = if which == 1 { &mut s1 } else { &mut s3 };
            target[i] ^= 0x41;
            let mut b = Responder::new([2; 20], both(), vec![9; pads], vec![10; pads]);
            let mut sink = Vec::new();
            let r = b
                .feed(&s1, &mut sink, &lookup)
                .and_then(|_| b.feed(&s3, &mut sink, &lookup));
            if let Ok(Progress::Done(e)) = r {
                assert_eq!(e.info_hash, IH, "step {which} byte {i}");
                // Harmless: padding, or offered methods that still meet ours. A
                // changed payload is the BitTorrent handshake's to refuse.
                let harmless = which == 1 || (48..52).contains(&i) || (54..54 + pads).contains(&i);
                assert!(
                    harmless || e.payload != b"IA",
                    "step {which} byte {i} undetected"
                );
            }
        }
    }
    // B's steps corrupted, as A sees them.
    for i in 0..step2.len() + step4.len() {
        let mut both_steps = [step2.clone(), step4.clone()].concat();
        both_steps[i] ^= 0x41;
        let mut a = Initiator::start(
            [1; 20],
            IH,
            3,
            b"IA".to_vec(),
            &vec![7; pads],
            vec![8; pads],
        )
        .0;
        let r = a.feed(&both_steps, &mut Vec::new());
        if let Ok(Progress::Done(e)) = r {
            let pad_b = DH_LEN..DH_LEN + pads;
            let pad_d = DH_LEN + pads + 14..DH_LEN + 2 * pads + 14;
            assert!(
                pad_b.contains(&i) || pad_d.contains(&i),
                "byte {i} of B's answer undetected"
            );
            assert!(!e.rc4);
        }
    }
}
