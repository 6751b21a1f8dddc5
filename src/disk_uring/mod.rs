//! The file side of the engine: where torrent bytes meet the filesystem.
//!
//! What it owns: bulk reads for hashing, which are memory-mapped files hashed on one
//! thread per core ([`MappedFiles`], [`recheck`]); the directory walk behind
//! `seedring create` ([`walk`]); the shards' piece IO through compio ([`io`]); and
//! the blocking work of resume and storage roots ([`durable`]: fdatasync before a
//! save, file stamps, root markers, moving a torrent between roots).
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

pub mod durable;
pub mod io;
mod mapped;
mod recheck;
mod walk;

pub use mapped::{FileSource, FileState, MAX_MAPPED_FILES, MappedFiles};
pub use recheck::{FileReport, PieceState, RecheckError, RecheckReport, recheck};
pub use walk::{WalkError, Walked, walk};
