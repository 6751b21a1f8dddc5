//! Multi-buffer SHA-1: sixteen messages of equal length hashed at once, one in each
//! 32-bit lane of the AVX-512 registers.
//!
//! Why: SHA-NI hashes one message at a time, and each SHA-1 round waits on the one
//! before it. A recheck has thousands of independent pieces of equal length, so
//! running sixteen of them side by side trades that latency chain for throughput.
//! `benches/sha1.rs` measures it against the `sha1` crate's SHA-NI path in the same
//! run; it is used only where it measured faster (bulk rechecks and creation), and
//! only when the CPU has AVX-512F and AVX-512BW. Everything else uses seedring's
//! `hash::sha1`.
//!
//! How: each lane's 64-byte block is loaded whole and the sixteen blocks are
//! transposed so register `w[t]` holds word `t` of every lane (gathers are slow on
//! some CPUs that have AVX-512; loads plus shuffles are fast on all of them). The
//! rounds are unrolled, SHA-1's three boolean functions are one `vpternlogd` each.
//!
//! Why a crate of its own: `Cargo.toml` builds it optimised in debug builds too.
//! Its intrinsics are not inlined at `opt-level = 0`, which made it the largest
//! part of the simulated swarms' time in the test suite (38% of one sim swarm's
//! samples, `perf record`). Its tests live in seedring (`hash::multi_tests`),
//! beside the `sha1` crate they compare against.

/// A SHA-1 digest.
pub type Sha1Digest = [u8; 20];

/// How many messages one call hashes.
pub const LANES: usize = 16;

/// Whether this CPU can run [`sha1_x16`].
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// SHA-1 of sixteen messages of the same length. `None` when the CPU lacks AVX-512
/// or the lengths differ; the caller then hashes them one by one.
pub fn sha1_x16(msgs: &[&[u8]; LANES]) -> Option<[Sha1Digest; LANES]> {
    let len = msgs[0].len();
    if !available() || msgs.iter().any(|m| m.len() != len) {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: available() just confirmed AVX-512F and AVX-512BW on this CPU,
        // the only requirement of the target_feature function.
        Some(unsafe { avx512::sha1_x16(msgs) })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{LANES, Sha1Digest};

    const H: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    const K: [u32; 4] = [0x5A82_7999, 0x6ED9_EBA1, 0x8F1B_BCDC, 0xCA62_C1D6];
    // vpternlogd truth tables for (b, c, d): choose, parity, majority.
    const CH: i32 = 0xCA;
    const PARITY: i32 = 0x96;
    const MAJ: i32 = 0xE8;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn k(i: usize) -> __m512i {
        _mm512_set1_epi32(i32::from_ne_bytes(K[i].to_ne_bytes()))
    }

    /// Loads block `ptrs[i]` of every lane and transposes: `w[t]` lane `i` is the
    /// big-endian word `t` of lane `i`'s block.
    ///
    /// # Safety
    /// Every pointer must be valid for reading 64 bytes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn load_words(ptrs: &[*const u8; LANES]) -> [__m512i; 16] {
        // Within each 128-bit lane, reverse the bytes of each 32-bit word.
        let bswap = _mm512_set_epi8(
            12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11, 4,
            5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14,
            15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3,
        );
        let mut r = [_mm512_setzero_si512(); 16];
        for (row, p) in r.iter_mut().zip(ptrs) {
            // SAFETY: the caller guarantees 64 readable bytes at p; loadu has no
            // alignment requirement.
            *row = _mm512_shuffle_epi8(unsafe { _mm512_loadu_si512(p.cast()) }, bswap);
        }
        // Stages 1 and 2: within each 128-bit lane, a 4x4 transpose per group of
        // four rows. u[g][j] lane k = word 4k+j of rows 4g..4g+3.
        let mut u = [[_mm512_setzero_si512(); 4]; 4];
        for g in 0..4 {
            let [r0, r1, r2, r3] = [r[4 * g], r[4 * g + 1], r[4 * g + 2], r[4 * g + 3]];
            let t0 = _mm512_unpacklo_epi32(r0, r1);
            let t1 = _mm512_unpackhi_epi32(r0, r1);
            let t2 = _mm512_unpacklo_epi32(r2, r3);
            let t3 = _mm512_unpackhi_epi32(r2, r3);
            u[g] = [
                _mm512_unpacklo_epi64(t0, t2),
                _mm512_unpackhi_epi64(t0, t2),
                _mm512_unpacklo_epi64(t1, t3),
                _mm512_unpackhi_epi64(t1, t3),
            ];
        }
        // Stages 3 and 4: a 4x4 transpose of 128-bit lanes across the groups.
        let mut w = [_mm512_setzero_si512(); 16];
        for j in 0..4 {
            let s0 = _mm512_shuffle_i32x4::<0x88>(u[0][j], u[1][j]);
            let s1 = _mm512_shuffle_i32x4::<0xDD>(u[0][j], u[1][j]);
            let s2 = _mm512_shuffle_i32x4::<0x88>(u[2][j], u[3][j]);
            let s3 = _mm512_shuffle_i32x4::<0xDD>(u[2][j], u[3][j]);
            w[j] = _mm512_shuffle_i32x4::<0x88>(s0, s2);
            w[8 + j] = _mm512_shuffle_i32x4::<0xDD>(s0, s2);
            w[4 + j] = _mm512_shuffle_i32x4::<0x88>(s1, s3);
            w[12 + j] = _mm512_shuffle_i32x4::<0xDD>(s1, s3);
        }
        w
    }

    /// One SHA-1 compression of one block in every lane.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn compress(state: &mut [__m512i; 5], mut w: [__m512i; 16]) {
        let [mut a, mut b, mut c, mut d, mut e] = *state;
        macro_rules! sched {
            ($t:expr) => {
                if $t >= 16 {
                    let t = $t;
                    w[t & 15] = _mm512_rol_epi32::<1>(_mm512_ternarylogic_epi32::<PARITY>(
                        w[(t + 13) & 15],
                        w[(t + 8) & 15],
                        _mm512_xor_si512(w[(t + 2) & 15], w[t & 15]),
                    ));
                }
            };
        }
        // One round, with the variables' roles rotated by the caller instead of
        // moving values between them.
        macro_rules! round {
            ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $t:expr, $f:expr, $k:expr) => {
                sched!($t);
                let f = _mm512_ternarylogic_epi32::<$f>($b, $c, $d);
                $e = _mm512_add_epi32(
                    _mm512_add_epi32($e, _mm512_rol_epi32::<5>($a)),
                    _mm512_add_epi32(f, _mm512_add_epi32($k, w[($t) & 15])),
                );
                $b = _mm512_rol_epi32::<30>($b);
            };
        }
        macro_rules! five {
            ($t:expr, $f:expr, $k:expr) => {
                round!(a, b, c, d, e, $t, $f, $k);
                round!(e, a, b, c, d, $t + 1, $f, $k);
                round!(d, e, a, b, c, $t + 2, $f, $k);
                round!(c, d, e, a, b, $t + 3, $f, $k);
                round!(b, c, d, e, a, $t + 4, $f, $k);
            };
        }
        let k0 = k(0);
        five!(0, CH, k0);
        five!(5, CH, k0);
        five!(10, CH, k0);
        five!(15, CH, k0);
        let k1 = k(1);
        five!(20, PARITY, k1);
        five!(25, PARITY, k1);
        five!(30, PARITY, k1);
        five!(35, PARITY, k1);
        let k2 = k(2);
        five!(40, MAJ, k2);
        five!(45, MAJ, k2);
        five!(50, MAJ, k2);
        five!(55, MAJ, k2);
        let k3 = k(3);
        five!(60, PARITY, k3);
        five!(65, PARITY, k3);
        five!(70, PARITY, k3);
        five!(75, PARITY, k3);
        for (s, v) in state.iter_mut().zip([a, b, c, d, e]) {
            *s = _mm512_add_epi32(*s, v);
        }
    }

    /// # Safety
    /// The CPU must support AVX-512F and AVX-512BW. All messages must have the same
    /// length.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn sha1_x16(msgs: &[&[u8]; LANES]) -> [Sha1Digest; LANES] {
        let len = msgs[0].len();
        debug_assert!(msgs.iter().all(|m| m.len() == len));
        let mut state = H.map(|h| _mm512_set1_epi32(i32::from_ne_bytes(h.to_ne_bytes())));
        let full = len / 64;
        for block in 0..full {
            let ptrs = msgs.map(|m| m[block * 64..].as_ptr());
            // SAFETY: block < len / 64, so 64 bytes from block * 64 are in every message.
            let w = unsafe { load_words(&ptrs) };
            compress(&mut state, w);
        }
        // Padding: the rest of each message, 0x80, zeros, the bit length; one block,
        // or two when fewer than 9 bytes are left in the first.
        let rest = len % 64;
        let tail_blocks = if rest < 56 { 1 } else { 2 };
        let mut tails = [[0u8; 128]; LANES];
        let bits = (len as u64).wrapping_mul(8).to_be_bytes();
        for (t, m) in tails.iter_mut().zip(msgs) {
            t[..rest].copy_from_slice(&m[full * 64..]);
            t[rest] = 0x80;
            t[tail_blocks * 64 - 8..tail_blocks * 64].copy_from_slice(&bits);
        }
        for block in 0..tail_blocks {
            let ptrs: [*const u8; LANES] = std::array::from_fn(|i| tails[i][block * 64..].as_ptr());
            // SAFETY: each tail buffer holds 128 bytes and block < 2.
            let w = unsafe { load_words(&ptrs) };
            compress(&mut state, w);
        }
        let mut words = [[0u32; LANES]; 5];
        for (out, v) in words.iter_mut().zip(state) {
            // SAFETY: out is 16 u32s, exactly 64 writable bytes; storeu is unaligned.
            unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), v) };
        }
        std::array::from_fn(|lane| {
            let mut d = [0u8; 20];
            for (j, w) in words.iter().enumerate() {
                d[4 * j..4 * j + 4].copy_from_slice(&w[lane].to_be_bytes());
            }
            d
        })
    }
}
