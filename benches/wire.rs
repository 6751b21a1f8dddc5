//! The peer wire per block: decoding a stream of 16 KiB `piece` messages as they
//! arrive in 64 KiB reads, and encoding them, against a baseline measured in the
//! same run: one plain copy of the same bytes (what any receive or send path costs
//! at least). Run: `cargo bench --bench wire`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use seedring::proto::{Message, MessageDecoder};
use std::hint::black_box;

const BLOCK: usize = 16 * 1024;
const BLOCKS: usize = 64;
const READ: usize = 64 * 1024;

fn blocks() -> Vec<Message> {
    (0..BLOCKS)
        .map(|i| Message::Piece {
            piece: u32::try_from(i / 16).expect("small"),
            offset: u32::try_from(i % 16 * BLOCK).expect("small"),
            data: vec![u8::try_from(i).expect("small"); BLOCK],
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let msgs = blocks();
    let mut stream = Vec::new();
    for m in &msgs {
        m.encode_into(&mut stream);
    }
    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("decode_pieces", |b| {
        b.iter(|| {
            let mut d = MessageDecoder::new(u32::try_from(BLOCK).expect("small") + 13, true, true);
            let mut n = 0;
            for chunk in stream.chunks(READ) {
                d.feed(chunk);
                while let Some(m) = d.next_message().expect("well formed") {
                    n += usize::from(matches!(m, Message::Piece { .. }));
                    black_box(&m);
                }
            }
            assert_eq!(n, BLOCKS);
        })
    });
    g.bench_function("encode_pieces", |b| {
        let mut out = Vec::with_capacity(stream.len());
        b.iter(|| {
            out.clear();
            for m in &msgs {
                m.encode_into(&mut out);
            }
            black_box(out.len())
        })
    });
    g.bench_function("copy_baseline", |b| {
        let mut out = vec![0u8; stream.len()];
        b.iter(|| {
            for (dst, src) in out.chunks_mut(READ).zip(stream.chunks(READ)) {
                dst.copy_from_slice(src);
            }
            black_box(out[0])
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
