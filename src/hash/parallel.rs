//! Hashing many pieces on several threads.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use sha1::{Digest, Sha1};

use super::Sha1Digest;
use seedring_sha1x16::{self as multi, LANES, sha1_x16};

/// Something that can feed the bytes of piece `i` to a hasher.
pub trait PieceSource: Sync {
    /// Feeds every byte of piece `piece` to `sink`, in order, in slices. Returns
    /// `false` when some of the piece's bytes are not there (a missing or short
    /// file); what was fed is then thrown away.
    fn feed_piece(&self, piece: u32, sink: &mut dyn FnMut(&[u8])) -> bool;

    /// Bytes in piece `piece`, for progress reports.
    fn piece_len(&self, _piece: u32) -> u64 {
        0
    }

    /// The whole piece as one slice in memory, when it is one (a piece that lies
    /// inside one mapped file). Such pieces are hashed sixteen at a time with
    /// multi-buffer SHA-1 where the CPU can; others go through
    /// [`PieceSource::hash_piece`].
    fn piece_bytes(&self, _piece: u32) -> Option<&[u8]> {
        None
    }

    /// Pieces `pieces` are hashed and will not be read again: a source that maps
    /// files lets go of their pages, so what a check keeps resident stays bounded
    /// whatever the torrent's size.
    fn release(&self, _pieces: std::ops::Range<u32>) {}
}

/// Hashed bytes a thread lets go of at once ([`PieceSource::release`]).
const RELEASE_BYTES: u64 = 4 << 20;

/// Hashes pieces `0..count` of `src` on `threads` threads; `None` marks a piece whose
/// bytes were not all available. `progress`, if given, grows by each piece's length
/// as it is done, so another thread can draw a progress bar.
///
/// Work is handed out in small contiguous runs from a shared counter, so a thread that
/// gets slow pages (cold cache, a slow disk) does not hold the others back, while each
/// run stays sequential for readahead. With multi-buffer SHA-1 available, runs are
/// whole multiples of its sixteen lanes.
pub fn hash_pieces<S: PieceSource + ?Sized>(
    src: &S,
    count: u32,
    threads: usize,
    progress: Option<&AtomicU64>,
) -> Vec<Option<Sha1Digest>> {
    hash_pieces_with(src, count, threads, progress, multi::available())
}

/// [`hash_pieces`] with the multi-buffer choice made by the caller, so tests can run
/// the one-at-a-time path on CPUs that have AVX-512 too.
fn hash_pieces_with<S: PieceSource + ?Sized>(
    src: &S,
    count: u32,
    threads: usize,
    progress: Option<&AtomicU64>,
    use_multi: bool,
) -> Vec<Option<Sha1Digest>> {
    // Sixteen lanes hold sixteen whole pieces per thread until they are hashed:
    // bounded only for pieces up to `MAX_MULTI_PIECE`.
    let use_multi = use_multi && (count == 0 || src.piece_len(0) <= MAX_MULTI_PIECE);
    let threads = threads.clamp(1, (count as usize).max(1));
    let per_thread = count / u32::try_from(threads * 8).unwrap_or(u32::MAX);
    let run = if use_multi {
        (per_thread / 16 * 16).clamp(16, 128)
    } else {
        per_thread.clamp(1, 64)
    };
    let next = AtomicU32::new(0);
    let work = || {
        let mut done = Vec::new();
        // Hashed pieces not yet released: (first, last, bytes). Within a run,
        // pieces are recorded in order.
        let mut held: Option<(u32, u32, u64)> = None;
        let mut record = |piece: u32, digest: Option<Sha1Digest>| {
            done.push((piece, digest));
            let len = src.piece_len(piece);
            if let Some(p) = progress {
                p.fetch_add(len, Ordering::Relaxed);
            }
            let h = match held {
                Some((first, last, bytes)) if last + 1 == piece => (first, piece, bytes + len),
                Some((first, last, _)) => {
                    src.release(first..last + 1);
                    (piece, piece, len)
                }
                None => (piece, piece, len),
            };
            held = if h.2 >= RELEASE_BYTES {
                src.release(h.0..h.1 + 1);
                None
            } else {
                Some(h)
            };
        };
        let mut batch: Vec<(u32, &[u8])> = Vec::with_capacity(LANES);
        loop {
            let start = next.fetch_add(run, Ordering::Relaxed);
            if start >= count {
                break;
            }
            for piece in start..count.min(start.saturating_add(run)) {
                let bytes = if use_multi {
                    src.piece_bytes(piece)
                } else {
                    None
                };
                let Some(bytes) = bytes else {
                    record(piece, hash_one(src, piece));
                    continue;
                };
                if batch.first().is_some_and(|(_, b)| b.len() != bytes.len()) {
                    flush(&mut batch, &mut record);
                }
                batch.push((piece, bytes));
                if batch.len() == LANES {
                    flush(&mut batch, &mut record);
                }
            }
            flush(&mut batch, &mut record);
        }
        if let Some((first, last, _)) = held {
            src.release(first..last + 1);
        }
        done
    };
    let mut out = vec![None; count as usize];
    let parts = on_threads(threads, "sr-hash", work);
    for (piece, digest) in parts.into_iter().flatten() {
        out[piece as usize] = digest;
    }
    out
}

/// Runs `work` on `threads` scoped threads named `name-NN` (on this one when
/// `threads` is 1) and returns what each returned.
pub fn on_threads<T: Send>(threads: usize, name: &str, work: impl Fn() -> T + Sync) -> Vec<T> {
    if threads <= 1 {
        return vec![work()];
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                std::thread::Builder::new()
                    .name(format!("{name}-{i:02}"))
                    .spawn_scoped(s, &work)
                    .expect("spawn hash thread")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("hash thread panicked"))
            .collect()
    })
}

/// [`hash_pieces`] over the listed pieces only: `out[i]` is the digest of
/// `pieces[i]`.
pub fn hash_listed<S: PieceSource + ?Sized>(
    src: &S,
    pieces: &[u32],
    threads: usize,
) -> Vec<Option<Sha1Digest>> {
    let listed = Listed::new(src, pieces);
    let count = u32::try_from(pieces.len()).expect("fewer than 2^32 pieces");
    hash_pieces(&listed, count, threads, None)
}

/// Pieces `0..n` of a list, as pieces of the source they come from.
pub(super) struct Listed<'a, S: ?Sized> {
    src: &'a S,
    pieces: &'a [u32],
}

impl<'a, S: PieceSource + ?Sized> Listed<'a, S> {
    pub(super) fn new(src: &'a S, pieces: &'a [u32]) -> Self {
        Listed { src, pieces }
    }
}

impl<S: PieceSource + ?Sized> PieceSource for Listed<'_, S> {
    fn feed_piece(&self, piece: u32, sink: &mut dyn FnMut(&[u8])) -> bool {
        self.src.feed_piece(self.pieces[piece as usize], sink)
    }

    fn piece_len(&self, piece: u32) -> u64 {
        self.src.piece_len(self.pieces[piece as usize])
    }

    fn piece_bytes(&self, piece: u32) -> Option<&[u8]> {
        self.src.piece_bytes(self.pieces[piece as usize])
    }

    fn release(&self, pieces: std::ops::Range<u32>) {
        // The listed pieces, as runs of consecutive piece numbers.
        let Some(listed) = self.pieces.get(pieces.start as usize..pieces.end as usize) else {
            return;
        };
        let mut i = 0;
        while i < listed.len() {
            let mut j = i + 1;
            while j < listed.len() && listed[j] == listed[j - 1] + 1 {
                j += 1;
            }
            self.src.release(listed[i]..listed[j - 1] + 1);
            i = j;
        }
    }
}

fn hash_one<S: PieceSource + ?Sized>(src: &S, piece: u32) -> Option<Sha1Digest> {
    let mut hasher = Sha1::new();
    src.feed_piece(piece, &mut |b| hasher.update(b))
        .then(|| hasher.finalize().into())
}

/// The longest piece hashed sixteen at a time: a thread then holds 16 MiB of
/// pages at most (a check's memory stays bounded whatever the piece length;
/// longer pieces are hashed one by one, each let go as soon as it is done).
const MAX_MULTI_PIECE: u64 = 1 << 20;

/// Below this many equal pieces, hashing them one by one beats a sixteen-lane pass.
const MIN_LANES_FOR_MULTI: usize = 5;

/// Hashes a batch of equal-length pieces: in one multi-buffer pass when it is big
/// enough (idle lanes repeat the first piece and are ignored), else one by one.
fn flush(batch: &mut Vec<(u32, &[u8])>, record: &mut impl FnMut(u32, Option<Sha1Digest>)) {
    if batch.len() >= MIN_LANES_FOR_MULTI {
        let msgs: [&[u8]; LANES] = std::array::from_fn(|i| batch.get(i).unwrap_or(&batch[0]).1);
        if let Some(digests) = sha1_x16(&msgs) {
            for (&(piece, _), d) in batch.iter().zip(digests) {
                record(piece, Some(d));
            }
            batch.clear();
            return;
        }
    }
    for (piece, bytes) in batch.drain(..) {
        record(piece, Some(super::sha1(bytes)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Every3rdMissing;
    impl PieceSource for Every3rdMissing {
        fn feed_piece(&self, piece: u32, sink: &mut dyn FnMut(&[u8])) -> bool {
            sink(&piece.to_le_bytes());
            !piece.is_multiple_of(3)
        }
        fn piece_len(&self, _: u32) -> u64 {
            4
        }
    }

    /// Pieces of 2 MiB (zeros) that count how often their bytes are borrowed
    /// whole (what a sixteen-lane pass does).
    struct Long(std::sync::atomic::AtomicUsize, Vec<u8>);
    impl PieceSource for Long {
        fn feed_piece(&self, _: u32, sink: &mut dyn FnMut(&[u8])) -> bool {
            sink(&self.1);
            true
        }
        fn piece_len(&self, _: u32) -> u64 {
            self.1.len() as u64
        }
        fn piece_bytes(&self, _: u32) -> Option<&[u8]> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Some(&self.1)
        }
    }

    #[test]
    fn pieces_longer_than_a_mebibyte_are_hashed_one_at_a_time() {
        let src = Long(Default::default(), vec![0; 2 << 20]);
        let out = hash_pieces_with(&src, 40, 2, None, true);
        assert_eq!(
            src.0.load(Ordering::Relaxed),
            0,
            "sixteen pieces held at once"
        );
        let want = crate::hash::sha1(&src.1);
        assert!(out.iter().all(|d| *d == Some(want)));
    }

    #[test]
    fn every_piece_is_hashed_once_whatever_the_thread_count() {
        for (threads, use_multi) in [(1, true), (2, true), (3, false), (8, true), (1000, false)] {
            let progress = AtomicU64::new(0);
            let out = hash_pieces_with(&Every3rdMissing, 1000, threads, Some(&progress), use_multi);
            assert_eq!(progress.load(Ordering::Relaxed), 4000);
            for (i, d) in out.iter().enumerate() {
                let i = u32::try_from(i).unwrap();
                if i % 3 == 0 {
                    assert!(d.is_none());
                } else {
                    assert_eq!(*d, Some(super::super::sha1(&i.to_le_bytes())));
                }
            }
        }
        assert!(hash_pieces(&Every3rdMissing, 0, 4, None).is_empty());
    }

    /// Pieces of mixed lengths, some only available through `hash_piece`: batches
    /// break where lengths change and every digest lands on its own piece.
    struct Mixed(Vec<Vec<u8>>);
    impl PieceSource for Mixed {
        fn feed_piece(&self, piece: u32, sink: &mut dyn FnMut(&[u8])) -> bool {
            sink(&self.0[piece as usize]);
            true
        }
        fn piece_bytes(&self, piece: u32) -> Option<&[u8]> {
            (piece % 7 != 3).then(|| &self.0[piece as usize][..])
        }
    }

    #[test]
    fn batched_and_single_pieces_mix() {
        let pieces: Vec<Vec<u8>> = (0..300u32)
            .map(|i| {
                let len = if (i / 40) % 2 == 0 {
                    1000
                } else {
                    777 + (i as usize % 3)
                };
                (0..len)
                    .map(|j| (j ^ i as usize).to_le_bytes()[0])
                    .collect()
            })
            .collect();
        let src = Mixed(pieces);
        for (threads, use_multi) in [(1, true), (2, true), (3, true), (1, false), (2, false)] {
            let out = hash_pieces_with(&src, 300, threads, None, use_multi);
            for (i, d) in out.iter().enumerate() {
                assert_eq!(*d, Some(super::super::sha1(&src.0[i])), "piece {i}");
            }
        }
    }
}
