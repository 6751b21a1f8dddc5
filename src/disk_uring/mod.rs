//! The file side of the engine: where torrent bytes meet the filesystem.
//!
//! What it owns: bulk reads for hashing, which are memory-mapped files hashed on one
//! thread per core ([`MappedFiles`], [`recheck`]); the directory walk behind
//! `seedring create` ([`walk`]) and its v2 merkle trees ([`merkle_files`]); the
//! shards' piece IO through compio ([`io`]) and their batched piece writes on its
//! blocking pool ([`write`]); and [`RealFiles`], the operating system's side of the
//! [`crate::storage::Files`] port through which the storage policy (durable saves,
//! moves, stamps, root markers) reaches files.
//!
//! Why memory maps for bulk hashing: the hasher reads straight from the page cache,
//! with no copy into a buffer, and the kernel's readahead keeps each thread's run of
//! pieces streaming. Page faults block, which is why this runs on dedicated threads,
//! never on a shard.
//!
//! Invariants: every path is built from a torrent's sanitised components joined under
//! the caller's folder (see `metainfo::path`), so nothing here can reach outside it;
//! pad files are never read or written (their bytes are zeros by definition), BEP 47
//! symlink entries are never followed or created.
//!
//! What it must not do: decide anything about the protocol.

pub mod beneath;
mod files;
pub mod io;
mod mapped;
mod merkle_files;
pub mod page_cache;
mod recheck;
mod walk;
pub mod write;

pub use files::{RealFiles, RootStamps};
pub use mapped::{FileSource, FileState, MAX_MAPPED_FILES, MappedFiles};
pub use merkle_files::{MerkleError, merkle_files};
pub use recheck::{
    FileReport, PieceState, RecheckError, RecheckReport, block_leaves, recheck, verify_pieces,
};
pub use walk::{WalkError, Walked, walk};

/// The torrent the file tests of this module share.
#[cfg(test)]
pub(crate) mod fixture {
    use crate::metainfo::{CreateLayout, CreateOptions, Info, build_torrent};

    /// A torrent named `t` over `data` (100,000 bytes) in 32 KiB pieces: `t/a`
    /// (40,000 bytes) and `t/sub/b` (60,000), so piece 1 spans both files.
    pub fn two_files(data: &[u8]) -> Info {
        assert_eq!(data.len(), 100_000);
        let pieces: Vec<[u8; 20]> = data.chunks(32768).map(crate::hash::sha1).collect();
        let layout = CreateLayout {
            name: "t".into(),
            files: Some(vec![
                (vec!["a".into()], 40_000),
                (vec!["sub".into(), "b".into()], 60_000),
            ]),
            length: 0,
        };
        build_torrent(&layout, 32768, &pieces, &CreateOptions::default())
            .unwrap()
            .1
            .info
    }
}
