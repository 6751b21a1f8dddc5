//! Session stores: where an engine keeps what must outlive it.
//!
//! What it owns: the [`SessionStore`] trait (byte keys to byte values: `get`, `set`,
//! `delete`, `keys(prefix)`, `clear`), [`MemorySessionStore`] (the store of the
//! memory preset: tests, simulations) and [`LmdbSessionStore`] (LMDB through heed:
//! one writer thread, batched transactions, map growth, safe flags). The versioned
//! records themselves are [`record`]'s (pure, in the core).
//!
//! Keys (info-hashes in lowercase hex):
//! - `torrent:{infohash}:meta`: the exact bytes of a torrent's `info` dictionary,
//!   written as soon as the engine has them (at once for a .torrent, when fetched
//!   from peers for a magnet), so a magnet never has to be fetched twice;
//! - `torrent:{infohash}:layout`: the files and piece geometry without the piece
//!   hashes ([`crate::core::layout`]), written with the metadata: what a restart
//!   reads instead of it;
//! - `torrent:{infohash}:state`: the versioned resume record ([`record`]);
//! - `torrent:{infohash}:peers`: recently good peers with when they were last seen;
//! - `torrent:{infohash}:about`: the `.torrent`'s `comment`, `created by` and
//!   `creation date` ([`crate::metainfo::About`]), written with the metadata;
//! - `settings:roots` (the storage roots) and other `settings:*` keys.
//!
//! A torrent's keys are deleted when it is removed.

pub mod damaged;
mod file_scan;
mod lmdb;
mod page;
pub use crate::core::record;

pub use lmdb::LmdbSessionStore;
pub use page::Page;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::core::ClockSecs;
use crate::types::InfoHash;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("session store: {0}")]
pub struct StoreError(pub String);

/// A small key-value store for session state.
pub trait SessionStore {
    /// The value under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets `key` to `value`.
    fn set(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key` (no error if absent).
    fn delete(&self, key: &[u8]) -> Result<(), StoreError>;
    /// Every key that starts with `prefix`, in byte order.
    fn keys(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Removes every key.
    fn clear(&self) -> Result<(), StoreError>;
    /// Every key starting with `prefix` with its value, in key order, read in one
    /// consistent snapshot.
    fn scan(&self, prefix: &[u8]) -> Result<Vec<KeyValue>, StoreError> {
        let mut page = Page::default();
        self.scan_page(prefix, prefix, usize::MAX, &|_| true, &mut page)?;
        Ok(page.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect())
    }
    /// Like [`SessionStore::scan`], into `page` (cleared first), from the key
    /// `from` on (inclusive; it starts with `prefix`), with only the keys
    /// `keep` accepts (the values of the others are never read: a restart
    /// skips every torrent's metadata), and at most `limit` of them: a large
    /// store is read a page at a time, each page a snapshot of its own.
    fn scan_page(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
        keep: &dyn Fn(&[u8]) -> bool,
        page: &mut Page,
    ) -> Result<(), StoreError>;
    /// Applies `ops` in order, all or none: one transaction.
    fn apply(&self, ops: Vec<StoreOp>) -> Result<(), StoreError>;
    /// Whether what is committed survives the process (false for memory stores:
    /// syncing data files before such a save would buy nothing).
    fn is_durable(&self) -> bool {
        true
    }
}

/// A key and its value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// One change in a batch for [`SessionStore::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// Set a key.
    Set(Vec<u8>, Vec<u8>),
    /// Remove a key.
    Delete(Vec<u8>),
    /// Remove every key that starts with this prefix.
    DeletePrefix(Vec<u8>),
}

/// A store shared between threads (the engine and its shards).
pub type SharedStore = std::sync::Arc<dyn SessionStore + Send + Sync>;

/// The key of a torrent's metadata.
pub fn meta_key(ih: InfoHash) -> Vec<u8> {
    format!("torrent:{}:meta", ih.to_hex()).into_bytes()
}

/// The key of a torrent's resume state (see [`record`]).
pub fn state_key(ih: InfoHash) -> Vec<u8> {
    format!("torrent:{}:state", ih.to_hex()).into_bytes()
}

/// The key of a torrent's recently good peers.
pub fn peers_key(ih: InfoHash) -> Vec<u8> {
    format!("torrent:{}:peers", ih.to_hex()).into_bytes()
}

/// Where the seeding clocks are kept: a key range of their own, in the
/// torrents' order, so that an hourly or a stop's save of every idle seed's
/// clock rewrites the few pages of small records that hold them, not every
/// page of the torrents' records (a clock beside each torrent's records put
/// one in nearly every leaf: the stop of 100,000 idle seeds rewrote ~37,000
/// pages, 144 MiB).
pub const CLOCK_PREFIX: &[u8] = b"clock:";

/// The key of a torrent's seeding clock: seconds seeded, newer than its state
/// record's when there (a save that changed nothing else writes only this).
pub fn clock_key(ih: InfoHash) -> Vec<u8> {
    let mut key = CLOCK_PREFIX.to_vec();
    key.extend_from_slice(ih.to_hex().as_bytes());
    key
}

/// The torrent a clock record's key names (`None`: not a clock key).
pub fn clock_info_hash(key: &[u8]) -> Option<InfoHash> {
    let hex = std::str::from_utf8(key.strip_prefix(CLOCK_PREFIX)?).ok()?;
    InfoHash::parse(hex).ok()
}

/// Where a store from before [`CLOCK_PREFIX`] kept a torrent's clock, among
/// its records: still read at a start (the larger of the two counts, seconds
/// seeded only grow) and deleted with the next whole record written.
pub fn old_clock_key(ih: InfoHash) -> Vec<u8> {
    format!("torrent:{}:clock", ih.to_hex()).into_bytes()
}

/// The store operation that records a torrent's clocks alone: seconds
/// seeded, then seconds run, each 8 bytes big-endian.
pub fn clock_op(ih: InfoHash, secs: ClockSecs) -> StoreOp {
    let mut value = secs.seeding.to_be_bytes().to_vec();
    if let Some(running) = secs.running {
        value.extend_from_slice(&running.to_be_bytes());
    }
    StoreOp::Set(clock_key(ih), value)
}

/// The clocks of a clock record (`None`: not one). A record of 8 bytes is
/// one from before the running clock was kept: seconds seeded alone.
pub fn decode_clock(bytes: &[u8]) -> Option<ClockSecs> {
    let be = |b: &[u8]| Some(u64::from_be_bytes(b.try_into().ok()?));
    match bytes.len() {
        8 => Some(ClockSecs {
            seeding: be(bytes)?,
            running: None,
        }),
        16 => Some(ClockSecs {
            seeding: be(&bytes[..8])?,
            running: Some(be(&bytes[8..])?),
        }),
        _ => None,
    }
}

/// The store operations that commit one torrent's part of a resume save (its state
/// record, with the file stamps filled in, and its peers; its clock records, which
/// the state record now supersedes, go): the same for every driver.
pub fn resume_ops(save: &crate::core::ResumeSave) -> [StoreOp; 4] {
    [
        StoreOp::Set(state_key(save.info_hash), save.record.encode()),
        StoreOp::Set(peers_key(save.info_hash), record::encode_peers(&save.peers)),
        StoreOp::Delete(clock_key(save.info_hash)),
        StoreOp::Delete(old_clock_key(save.info_hash)),
    ]
}

/// The store operations that forget a removed torrent: its records and its
/// clock (the same for every driver).
pub fn forget_ops(ih: InfoHash) -> [StoreOp; 2] {
    [
        StoreOp::DeletePrefix(torrent_prefix(ih)),
        StoreOp::Delete(clock_key(ih)),
    ]
}

/// The key of a torrent's layout record (see [`crate::core::layout`]).
pub fn layout_key(ih: InfoHash) -> Vec<u8> {
    format!("torrent:{}:layout", ih.to_hex()).into_bytes()
}

/// The store operations that write a torrent's metadata: its record (the
/// `info` dictionary, see [`crate::metainfo::encode_stored`]) and the layout
/// record derived from it (the same for every driver); `metadata_size`: bytes
/// of the `info` dictionary.
pub fn meta_ops(
    ih: InfoHash,
    info: &crate::metainfo::Info,
    record: &[u8],
    metadata_size: u64,
) -> [StoreOp; 2] {
    [
        StoreOp::Set(meta_key(ih), record.to_vec()),
        layout_op(ih, info, metadata_size),
    ]
}

/// The store operations an [`crate::core::OpenStorage`] asks for: its
/// metadata and layout records, and what its `.torrent` said of itself, when
/// they are to be written (the same for every driver).
pub fn open_ops(o: &crate::core::OpenStorage) -> Vec<StoreOp> {
    let Some(record) = &o.meta_record else {
        return Vec::new();
    };
    let mut ops = meta_ops(o.info_hash, &o.info, record, o.metadata_size).to_vec();
    if let Some(about) = &o.about {
        ops.push(StoreOp::Set(about_key(o.info_hash), about.to_vec()));
    }
    ops
}

/// The key of what a torrent's `.torrent` said of itself
/// ([`crate::metainfo::About`]).
pub fn about_key(ih: InfoHash) -> Vec<u8> {
    format!("torrent:{}:about", ih.to_hex()).into_bytes()
}

/// The store operation that writes a torrent's layout record.
pub fn layout_op(ih: InfoHash, info: &crate::metainfo::Info, metadata_size: u64) -> StoreOp {
    let layout = crate::core::layout::encode_layout(info, metadata_size);
    StoreOp::Set(layout_key(ih), layout)
}

/// The prefix of every key of a torrent.
pub fn torrent_prefix(ih: InfoHash) -> Vec<u8> {
    format!("torrent:{}:", ih.to_hex()).into_bytes()
}

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// A store in memory. Clones share the same data, so a test can "restart" an engine
/// on the store the previous one left behind.
#[derive(Debug, Clone, Default)]
pub struct MemorySessionStore {
    map: Arc<Mutex<Map>>,
    /// This handle outlives what it stands for a crash of (the sim's restarts).
    outlives_crashes: bool,
}

impl MemorySessionStore {
    /// This handle (not its other clones) says its data outlives a crash, so saves
    /// into it keep the durability rule in full: the sim's nodes, whose simulated
    /// crashes keep the store and lose unsynced file writes.
    pub fn outliving_crashes(mut self) -> MemorySessionStore {
        self.outlives_crashes = true;
        self
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Map>, StoreError> {
        self.map
            .lock()
            .map_err(|_| StoreError("a writer panicked".into()))
    }
}

impl SessionStore for MemorySessionStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock()?.get(key).cloned())
    }

    fn set(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.lock()?.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &[u8]) -> Result<(), StoreError> {
        self.lock()?.remove(key);
        Ok(())
    }

    fn keys(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self
            .lock()?
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn clear(&self) -> Result<(), StoreError> {
        self.lock()?.clear();
        Ok(())
    }

    fn scan_page(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
        keep: &dyn Fn(&[u8]) -> bool,
        page: &mut Page,
    ) -> Result<(), StoreError> {
        page.clear();
        let m = self.lock()?;
        let records = m
            .range(from.max(prefix).to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, _)| keep(k))
            .take(limit);
        for (k, v) in records {
            page.push(k, v);
        }
        Ok(())
    }

    fn is_durable(&self) -> bool {
        self.outlives_crashes
    }

    fn apply(&self, ops: Vec<StoreOp>) -> Result<(), StoreError> {
        let mut m = self.lock()?;
        for op in ops {
            match op {
                StoreOp::Set(k, v) => {
                    m.insert(k, v);
                }
                StoreOp::Delete(k) => {
                    m.remove(&k);
                }
                StoreOp::DeletePrefix(p) => m.retain(|k, _| !k.starts_with(&p)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_set_delete_keys_clear() {
        let s = MemorySessionStore::default();
        let ih = InfoHash([0xAB; 20]);
        s.set(&meta_key(ih), b"info").unwrap();
        s.set(b"torrent:other:meta", b"x").unwrap();
        s.set(b"settings:port", b"6881").unwrap();
        assert_eq!(s.get(&meta_key(ih)).unwrap().as_deref(), Some(&b"info"[..]));
        assert_eq!(s.keys(&torrent_prefix(ih)).unwrap(), vec![meta_key(ih)]);
        assert_eq!(s.keys(b"torrent:").unwrap().len(), 2);
        let shared = s.clone();
        shared.delete(&meta_key(ih)).unwrap();
        assert_eq!(s.get(&meta_key(ih)).unwrap(), None);
        s.delete(b"absent").unwrap();
        s.clear().unwrap();
        assert!(shared.keys(b"").unwrap().is_empty());
    }
}
