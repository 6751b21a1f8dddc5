//! The peer wire per block: decoding a stream of 16 KiB `piece` messages as they
//! arrive in 64 KiB reads (through the decoder's buffer, and in place as the
//! core reads them), and encoding them, against a baseline measured in the
//! same run: one plain copy of the same bytes (what any receive or send path costs
//! at least); RC4 over the same stream (what an encrypted connection adds per
//! byte); and one whole MSE handshake, both ends (what an encrypted connection
//! costs once). Run: `cargo bench --bench wire`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use seedring::proto::{Frame, Message, MessageDecoder};
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
    g.bench_function("decode_pieces_in_place", |b| {
        b.iter(|| {
            let mut d = MessageDecoder::new(u32::try_from(BLOCK).expect("small") + 13, true, true);
            let mut n = 0;
            for chunk in stream.chunks(READ) {
                let mut input = chunk;
                while let Some(f) = d.next_in(&mut input).expect("well formed") {
                    n += usize::from(matches!(
                        f,
                        Frame::Block { .. } | Frame::Message(Message::Piece { .. })
                    ));
                    black_box(&f);
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
    g.bench_function("rc4_stream", |b| {
        let mut c = seedring::proto::mse::Cipher::new(b"keyA", &[7; 96], &[1; 20]);
        let mut buf = stream.clone();
        b.iter(|| {
            c.apply(&mut buf);
            black_box(buf[0])
        })
    });
    g.finish();
    let mut g = c.benchmark_group("mse");
    g.bench_function("handshake_both_ends", |b| b.iter(mse_handshake));
    g.finish();
}

/// A whole MSE handshake between our two ends (four modular exponentiations).
fn mse_handshake() {
    use seedring::proto::mse::{Initiator, Methods, Progress, Responder};
    let ih = seedring::InfoHash([3; 20]);
    let (mut a, step1) = Initiator::start([1; 20], ih, 3, vec![0; 68], &[0; 100], vec![]);
    let mut r = Responder::new(
        [2; 20],
        Methods {
            allow: 3,
            prefer_rc4: false,
        },
        vec![0; 100],
        vec![],
    );
    let find = |_: &[u8; 20]| Some(ih);
    let mut step2 = Vec::new();
    r.feed(&step1, &mut step2, &find).expect("valid");
    let mut step3 = Vec::new();
    a.feed(&step2, &mut step3).expect("valid");
    let mut step4 = Vec::new();
    let done = r.feed(&step3, &mut step4, &find).expect("valid");
    assert!(matches!(done, Progress::Done(_)));
    assert!(matches!(
        a.feed(&step4, &mut Vec::new()),
        Ok(Progress::Done(_))
    ));
}

criterion_group!(benches, bench);
criterion_main!(benches);
