//! SHA-1 piece hashing: one piece, a batch, or a whole torrent on every core; and
//! the SHA-256 merkle trees of BitTorrent v2 ([`merkle`]).
//!
//! What it owns: the choice of SHA-1 implementation and the spreading of hash work
//! over threads. One piece at a time goes through the `sha1` crate, which detects
//! SHA-NI at run time (about 2 GiB/s per core here), else a portable implementation;
//! [`backend`] says which. Bulk work (rechecks, creation, batches) hashes sixteen
//! equal pieces per pass with our AVX-512 multi-buffer SHA-1 where the CPU has it
//! (about 7 GiB/s per core here, see the `seedring-sha1x16` crate); [`bulk_backend`] says which.
//!
//! What it must not do: know where bytes come from. A [`PieceSource`] feeds each
//! piece's bytes; `disk_uring` implements it over memory-mapped files.
//!
//! Threads here are plain scoped OS threads for one-off bulk work (create, verify,
//! recheck). Hashing a piece as it arrives happens on the shard that owns it.

pub mod budget;
pub mod merkle;
#[cfg(test)]
mod multi_tests;
mod parallel;
mod pieces;

pub use parallel::{PieceSource, hash_listed, hash_pieces, on_threads};
pub use pieces::{MerklePiece, PieceHashes, PieceTree, merkle_listed};
pub use seedring_sha1x16::{LANES, sha1_x16};
pub use sha1::{Digest, Sha1};

/// A SHA-1 digest.
pub type Sha1Digest = [u8; 20];

/// SHA-1 of `data`.
pub fn sha1(data: &[u8]) -> Sha1Digest {
    Sha1::digest(data).into()
}

/// Whether `data` hashes to `expected`.
pub fn verify_piece(data: &[u8], expected: &Sha1Digest) -> bool {
    sha1(data) == *expected
}

/// Checks many pieces held in memory, on up to `threads` threads. The result has one
/// entry per input, in order.
pub fn verify_batch(pieces: &[(&[u8], Sha1Digest)], threads: usize) -> Vec<bool> {
    struct Batch<'a>(&'a [(&'a [u8], Sha1Digest)]);
    impl PieceSource for Batch<'_> {
        fn feed_piece(&self, piece: u32, sink: &mut dyn FnMut(&[u8])) -> bool {
            sink(self.0[piece as usize].0);
            true
        }
        fn piece_bytes(&self, piece: u32) -> Option<&[u8]> {
            Some(self.0[piece as usize].0)
        }
    }
    let count = u32::try_from(pieces.len()).expect("fewer than 2^32 pieces");
    hash_pieces(&Batch(pieces), count, threads, None)
        .into_iter()
        .zip(pieces)
        .map(|(digest, (_, expected))| digest.as_ref() == Some(expected))
        .collect()
}

/// The SHA-1 implementation in use on this CPU: `"sha-ni"` or `"portable"`.
pub fn backend() -> &'static str {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        // The same features the sha1 crate checks before taking its SHA-NI path.
        if std::arch::is_x86_feature_detected!("sha")
            && std::arch::is_x86_feature_detected!("sse2")
            && std::arch::is_x86_feature_detected!("ssse3")
            && std::arch::is_x86_feature_detected!("sse4.1")
        {
            return "sha-ni";
        }
    }
    "portable"
}

/// The implementation bulk hashing ([`hash_pieces`], [`verify_batch`]) uses on this
/// CPU: `"avx512-x16"` (sixteen pieces per pass) where AVX-512 is available, else
/// the same as [`backend`].
pub fn bulk_backend() -> &'static str {
    if seedring_sha1x16::available() {
        "avx512-x16"
    } else {
        backend()
    }
}

/// Threads to use for bulk hashing: one per available core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // FIPS 180 examples.
        assert_eq!(
            crate::types::InfoHash(sha1(b"abc")).to_hex(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            crate::types::InfoHash(sha1(b"")).to_hex(),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
    }

    #[test]
    fn batch_verifies_each_piece_in_order() {
        let data: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 1000 + usize::from(i)]).collect();
        let mut items: Vec<(&[u8], Sha1Digest)> = data.iter().map(|d| (&d[..], sha1(d))).collect();
        items[7].1[0] ^= 1;
        items[42].1[19] ^= 0x80;
        for threads in [1, 2, 5] {
            let ok = verify_batch(&items, threads);
            let bad: Vec<usize> = (0..ok.len()).filter(|&i| !ok[i]).collect();
            assert_eq!(bad, vec![7, 42]);
        }
        assert!(verify_batch(&[], 4).is_empty());
    }

    #[test]
    fn single_piece() {
        assert!(verify_piece(b"abc", &sha1(b"abc")));
        assert!(!verify_piece(b"abd", &sha1(b"abc")));
    }
}
