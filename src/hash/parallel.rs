//! Hashing many pieces on several threads.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use sha1::{Digest, Sha1};

use super::Sha1Digest;

/// Something that can feed the bytes of piece `i` into a hasher.
pub trait PieceSource: Sync {
    /// Feeds every byte of piece `piece` into `hasher`, in order. Returns `false` when
    /// some of the piece's bytes are not there (a missing or short file); the hasher's
    /// state is then thrown away.
    fn hash_piece(&self, piece: u32, hasher: &mut Sha1) -> bool;

    /// Bytes in piece `piece`, for progress reports.
    fn piece_len(&self, _piece: u32) -> u64 {
        0
    }

    /// Called by the thread about to hash `pieces`, before it starts: a chance to
    /// bring their bytes in as one batch rather than one fault at a time.
    fn prefetch(&self, _pieces: std::ops::Range<u32>) {}
}

/// Hashes pieces `0..count` of `src` on `threads` threads; `None` marks a piece whose
/// bytes were not all available. `progress`, if given, grows by each piece's length
/// as it is done, so another thread can draw a progress bar.
///
/// Work is handed out in small contiguous runs from a shared counter, so a thread that
/// gets slow pages (cold cache, a slow disk) does not hold the others back, while each
/// run stays sequential for readahead.
pub fn hash_pieces<S: PieceSource + ?Sized>(
    src: &S,
    count: u32,
    threads: usize,
    progress: Option<&AtomicU64>,
) -> Vec<Option<Sha1Digest>> {
    let threads = threads.clamp(1, (count as usize).max(1));
    // Runs of pieces: small enough to balance, big enough to keep reads sequential.
    let run = (count / (u32::try_from(threads).unwrap_or(u32::MAX) * 16)).clamp(1, 64);
    let next = AtomicU32::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let start = next.fetch_add(run, Ordering::Relaxed);
            if start >= count {
                break;
            }
            let end = count.min(start.saturating_add(run));
            src.prefetch(start..end);
            for piece in start..end {
                let mut hasher = Sha1::new();
                let digest = src
                    .hash_piece(piece, &mut hasher)
                    .then(|| hasher.finalize().into());
                done.push((piece, digest));
                if let Some(p) = progress {
                    p.fetch_add(src.piece_len(piece), Ordering::Relaxed);
                }
            }
        }
        done
    };
    let mut out = vec![None; count as usize];
    let parts: Vec<Vec<(u32, Option<Sha1Digest>)>> = if threads == 1 {
        vec![work()]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|i| {
                    std::thread::Builder::new()
                        .name(format!("sr-hash-{i:02}"))
                        .spawn_scoped(s, work)
                        .expect("spawn hash thread")
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("hash thread panicked"))
                .collect()
        })
    };
    for (piece, digest) in parts.into_iter().flatten() {
        out[piece as usize] = digest;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Every3rdMissing;
    impl PieceSource for Every3rdMissing {
        fn hash_piece(&self, piece: u32, hasher: &mut Sha1) -> bool {
            hasher.update(piece.to_le_bytes());
            piece % 3 != 0
        }
        fn piece_len(&self, _: u32) -> u64 {
            4
        }
    }

    #[test]
    fn every_piece_is_hashed_once_whatever_the_thread_count() {
        for threads in [1, 2, 3, 8, 1000] {
            let progress = AtomicU64::new(0);
            let out = hash_pieces(&Every3rdMissing, 1000, threads, Some(&progress));
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
}
