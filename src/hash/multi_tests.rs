//! The multi-buffer SHA-1 (the `seedring-sha1x16` crate) against the `sha1`
//! crate.

use super::{LANES, sha1, sha1_x16};

fn messages(len: usize, seed: u8) -> Vec<Vec<u8>> {
    (0..LANES)
        .map(|lane| {
            (0..len)
                .map(|i| {
                    let (i, lane) = (i.to_le_bytes()[0], lane.to_le_bytes()[0]);
                    i.wrapping_mul(31).wrapping_add(lane ^ seed)
                })
                .collect()
        })
        .collect()
}

#[test]
fn matches_the_sha1_crate_for_every_padding_case() {
    if !seedring_sha1x16::available() {
        // Nothing to compare on this CPU (the caller falls back to `sha1`).
        // That must be said, not passed over: a machine meant to have AVX-512
        // that lost it would otherwise go untested in silence.
        assert!(sha1_x16(&[&[][..]; LANES]).is_none());
        assert!(
            std::env::var_os("SEEDRING_NO_AVX512").is_some(),
            "this CPU has no AVX-512F+BW: the multi-buffer SHA-1 cannot be checked \
             here; set SEEDRING_NO_AVX512=1 to run the suite without it"
        );
        return;
    }
    for len in (0..300).chain([1000, 16384, 16384 + 55, 65536 + 56, 262_144]) {
        let msgs = messages(len, u8::try_from(len % 251).unwrap());
        let refs: [&[u8]; LANES] = std::array::from_fn(|i| &msgs[i][..]);
        let got = sha1_x16(&refs).unwrap();
        for (lane, m) in msgs.iter().enumerate() {
            assert_eq!(got[lane], sha1(m), "len {len} lane {lane}");
        }
    }
}

#[test]
fn unequal_lengths_are_declined() {
    let a = [0u8; 10];
    let b = [0u8; 11];
    let mut refs: [&[u8]; LANES] = [&a[..]; LANES];
    refs[5] = &b[..];
    assert!(sha1_x16(&refs).is_none());
}
