//! SHA-1 throughput per piece size: the `sha1` crate as seedring uses it (SHA-NI when
//! the CPU has it) against a plain scalar SHA-1 written here as the baseline, both
//! measured in the same run. Run: `cargo bench --bench sha1`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// The textbook SHA-1 (FIPS 180-4, section 6.1), one 64-byte block at a time, no SIMD.
/// It exists only as the bench's baseline.
fn scalar_sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let bit_len = (data.len() as u64).wrapping_mul(8);
    let mut tail = data[data.len() - data.len() % 64..].to_vec();
    tail.push(0x80);
    while tail.len() % 64 != 56 {
        tail.push(0);
    }
    tail.extend_from_slice(&bit_len.to_be_bytes());
    let whole = &data[..data.len() - data.len() % 64];
    for block in whole.chunks_exact(64).chain(tail.chunks_exact(64)) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sha1");
    eprintln!("seedring hash backend: {}", seedring::hash::backend());
    for kib in [16usize, 256, 1024, 4096] {
        let data: Vec<u8> = (0..kib * 1024)
            .map(|i| (i * 7 + i / 251).to_le_bytes()[0])
            .collect();
        // The baseline must agree with the real thing, or the comparison means nothing.
        assert_eq!(scalar_sha1(&data), seedring::hash::sha1(&data));
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("seedring", format!("{kib}KiB")),
            &data,
            |b, d| b.iter(|| seedring::hash::sha1(black_box(d))),
        );
        g.bench_with_input(
            BenchmarkId::new("scalar", format!("{kib}KiB")),
            &data,
            |b, d| b.iter(|| scalar_sha1(black_box(d))),
        );
    }
    g.finish();

    // Multi-buffer: sixteen pieces per call on one core (AVX-512 CPUs only), the
    // path bulk rechecks take. Throughput counts all sixteen pieces.
    if seedring::hash::sha1_x16(&[&[][..]; 16]).is_some() {
        let mut g = c.benchmark_group("sha1_x16");
        for kib in [16usize, 256, 1024] {
            let pieces: Vec<Vec<u8>> = (0..16u8).map(|i| vec![i; kib * 1024]).collect();
            let refs: [&[u8]; 16] = std::array::from_fn(|i| &pieces[i][..]);
            g.throughput(Throughput::Bytes(16 * kib as u64 * 1024));
            g.bench_function(BenchmarkId::new("avx512", format!("{kib}KiB")), |b| {
                b.iter(|| seedring::hash::sha1_x16(black_box(&refs)))
            });
        }
        g.finish();
    }

    // The ceiling for `seedring verify`: pieces already in memory, hashed on every
    // core through the same batch API, so no IO or page faults are involved.
    let threads = seedring::hash::default_threads();
    let mut g = c.benchmark_group("sha1_all_cores");
    let pieces: Vec<Vec<u8>> = (0..128u8).map(|i| vec![i; 1 << 20]).collect();
    let items: Vec<(&[u8], [u8; 20])> = pieces
        .iter()
        .map(|p| (&p[..], seedring::hash::sha1(p)))
        .collect();
    g.throughput(Throughput::Bytes(128 << 20));
    g.bench_function(format!("verify_batch/1024KiB/{threads}threads"), |b| {
        b.iter(|| seedring::hash::verify_batch(black_box(&items), threads))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
