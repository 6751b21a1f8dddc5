//! Every shard's torrents as peers name them, for the router of accepted
//! connections and the engine's commands when there are several shards: a
//! hybrid's alias (its other info-hash, see `core::alias`) lives on the shard
//! of its torrent's id, not on the shard its own bytes would pick, and an MSE
//! dialler names a torrent only by `HASH("req2", name)`.
//!
//! Each shard writes its core's changes after each call into it; readers take
//! the lock once per accepted connection or per command naming a torrent.
//!
//! Two links to one hybrid (`btih` and `btmh`) added before either's metadata
//! was known may sit on two shards; a core cannot see the other shard's
//! torrent, so the table notices when one's alias is the other's id and keeps
//! the pair for the engine to merge ([`Names::take_merges`]). Until then both
//! hold the name (it is counted per holder), and it resolves to the alias's
//! torrent, the one with metadata.

use std::collections::HashMap;

use crate::core::NameChange;
use crate::types::InfoHash;

/// Pairs waiting for the engine's merge at most; past it a pair is dropped
/// (said in the log): the two stay separate torrents.
pub(crate) const MAX_MERGES: usize = 256;

/// Two torrents that are one hybrid: `drop` (a torrent's id) is `keep`'s alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Merge {
    /// The torrent that knows its metadata and holds the other name as alias.
    pub keep: InfoHash,
    /// The torrent added by the other name.
    pub drop: InfoHash,
}

/// The names of every shard's torrents.
#[derive(Debug, Default)]
pub(crate) struct Names {
    /// `HASH("req2", name)` to the name and how many hold it (a torrent's id
    /// and another's alias may be the same name until they are merged).
    req2: HashMap<[u8; 20], (InfoHash, u32)>,
    /// A hybrid's alias to its torrent's id.
    aliases: HashMap<InfoHash, InfoHash>,
    /// Pairs to merge, for the engine (at most [`MAX_MERGES`]).
    merges: Vec<Merge>,
}

/// Shared by the shards (writers), their routers and the engine (readers).
pub(crate) type NameTable = std::sync::RwLock<Names>;

impl Names {
    /// Follows one shard's change.
    pub(crate) fn apply(&mut self, c: NameChange) {
        let req2 = crate::core::req2(c.name);
        let alias = c.name != c.torrent;
        if c.added {
            let held = self.req2.get(&req2).is_some_and(|h| h.1 > 0);
            if held {
                // An alias over another's id, or an id under another's alias.
                match self.aliases.get(&c.name) {
                    Some(&keep) if !alias => self.merge(keep, c.name),
                    None if alias => self.merge(c.torrent, c.name),
                    _ => {}
                }
            }
            self.req2.entry(req2).or_insert((c.name, 0)).1 += 1;
            if alias {
                self.aliases.insert(c.name, c.torrent);
            }
        } else {
            if let Some(h) = self.req2.get_mut(&req2) {
                h.1 = h.1.saturating_sub(1);
                if h.1 == 0 {
                    self.req2.remove(&req2);
                }
            }
            if alias && self.aliases.get(&c.name) == Some(&c.torrent) {
                self.aliases.remove(&c.name);
            }
        }
    }

    fn merge(&mut self, keep: InfoHash, drop: InfoHash) {
        if self.merges.len() >= MAX_MERGES {
            tracing::warn!(info_hash = %drop, into = %keep,
                "too many hybrid links waiting to be merged: these two stay separate torrents");
            return;
        }
        self.merges.push(Merge { keep, drop });
    }

    /// The pairs of torrents found to be one hybrid since the last call.
    pub(crate) fn take_merges(&mut self) -> Vec<Merge> {
        std::mem::take(&mut self.merges)
    }

    /// The name an MSE dialler means by `HASH("req2", name)`.
    pub(crate) fn by_req2(&self, h: &[u8; 20]) -> Option<InfoHash> {
        self.req2.get(h).map(|h| h.0)
    }

    /// The torrent `name` names: an alias's torrent, else `name` itself.
    pub(crate) fn resolve(&self, name: InfoHash) -> InfoHash {
        self.aliases.get(&name).copied().unwrap_or(name)
    }
}

/// Reads `table` (a poisoned lock: a writer panicked mid-update; the maps are
/// still valid maps).
pub(crate) fn read(table: &NameTable) -> std::sync::RwLockReadGuard<'_, Names> {
    table.read().unwrap_or_else(|e| e.into_inner())
}

/// Writes `table` (poisoned: as [`read`]).
pub(crate) fn write(table: &NameTable) -> std::sync::RwLockWriteGuard<'_, Names> {
    table.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(name: InfoHash, torrent: InfoHash, added: bool) -> NameChange {
        NameChange {
            name,
            torrent,
            added,
        }
    }

    #[test]
    fn an_alias_resolves_to_its_torrent_until_given_up() {
        let (id, alias) = (InfoHash([1; 20]), InfoHash([2; 20]));
        let mut n = Names::default();
        for name in [id, alias] {
            n.apply(change(name, id, true));
        }
        assert_eq!(n.resolve(alias), id);
        assert_eq!(n.resolve(id), id);
        assert_eq!(n.by_req2(&crate::core::req2(alias)), Some(alias));
        n.apply(change(alias, id, false));
        assert_eq!(n.resolve(alias), alias);
        assert_eq!(n.by_req2(&crate::core::req2(alias)), None);
        assert_eq!(n.by_req2(&crate::core::req2(id)), Some(id));
        assert!(n.take_merges().is_empty());
    }

    #[test]
    fn an_alias_over_another_shards_torrent_is_a_merge_in_either_order() {
        let (x, y) = (InfoHash([1; 20]), InfoHash([2; 20]));
        // `y` added by its own link, then `x` learns `y` is its other name.
        let mut n = Names::default();
        n.apply(change(y, y, true));
        n.apply(change(x, x, true));
        n.apply(change(y, x, true));
        assert_eq!(n.take_merges(), [Merge { keep: x, drop: y }]);
        assert_eq!(n.resolve(y), x);
        // `y` removed by the merge: the alias still names `x`, for MSE too.
        n.apply(change(y, y, false));
        assert_eq!(n.resolve(y), x);
        assert_eq!(n.by_req2(&crate::core::req2(y)), Some(y));
        n.apply(change(y, x, false));
        assert_eq!(n.by_req2(&crate::core::req2(y)), None);

        // The other order: the alias first (a restore), then `y`'s own link.
        let mut n = Names::default();
        n.apply(change(x, x, true));
        n.apply(change(y, x, true));
        n.apply(change(y, y, true));
        assert_eq!(n.take_merges(), [Merge { keep: x, drop: y }]);
        assert!(n.take_merges().is_empty());
    }
}
