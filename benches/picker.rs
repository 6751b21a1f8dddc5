//! The piece picker at scale: a torrent of 100,000 and of 1,000,000 pieces,
//! picking whole pieces one after another as a download does. The baseline,
//! measured in the same run, is the rarest-first scan the picker used before
//! its buckets: one pass over every piece per pick. Also the cost of adding
//! the torrent (the first pick fills the buckets) and of a peer coming and
//! going (every piece's availability moves twice).
//! Run: `cargo bench --bench picker`.

// A bench times itself: reading the clock is its job.
#![allow(clippy::disallowed_methods)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use seedring::core::picker_bench::PickerHarness;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The old way: rarest wanted piece by a pass over all of them.
fn linear_rarest(avail: &[u32], have: &[bool]) -> Option<usize> {
    (0..avail.len())
        .filter(|&p| !have[p])
        .min_by_key(|&p| avail[p])
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("picker");
    g.sample_size(20);
    for &n in &[100_000u32, 1_000_000] {
        // Steady state: the buckets are filled; a pick costs what it costs. A
        // torrent run to the end is replaced, off the clock.
        let mut h = PickerHarness::new(n, 3);
        h.download_one();
        g.bench_with_input(BenchmarkId::new("buckets_pick", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let got = black_box(h.download_one());
                    spent += t.elapsed();
                    if got.is_none() {
                        h = PickerHarness::new(n, 3);
                        h.download_one();
                    }
                }
                spent
            })
        });
        let avail: Vec<u32> = (0..n)
            .map(|p| 3 + p.wrapping_mul(2_654_435_761) % 8)
            .collect();
        let mut have = vec![false; n as usize];
        g.bench_with_input(BenchmarkId::new("linear_pick_baseline", n), &n, |b, _| {
            b.iter(|| {
                let p = linear_rarest(&avail, &have);
                match p {
                    Some(p) => have[p] = true,
                    None => have.fill(false),
                }
                black_box(p)
            })
        });
        g.bench_with_input(BenchmarkId::new("add_and_first_pick", n), &n, |b, _| {
            b.iter(|| {
                let mut h = PickerHarness::new(n, 3);
                black_box(h.download_one())
            })
        });
        g.bench_with_input(BenchmarkId::new("peer_churn", n), &n, |b, _| {
            b.iter(|| h.peer_churn(n))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
