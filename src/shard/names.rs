//! Every shard's torrents as peers name them, for the router of accepted
//! connections and the engine's commands when there are several shards: a
//! hybrid's alias (its other info-hash, see `core::alias`) lives on the shard
//! of its torrent's id, not on the shard its own bytes would pick, and an MSE
//! dialler names a torrent only by `HASH("req2", name)`.
//!
//! Each shard writes its core's changes after each call into it; readers take
//! the lock once per accepted connection or per command naming a torrent.

use std::collections::HashMap;

use crate::core::NameChange;
use crate::types::InfoHash;

/// The names of every shard's torrents.
#[derive(Debug, Default)]
pub(crate) struct Names {
    /// `HASH("req2", name)` to the name.
    req2: HashMap<[u8; 20], InfoHash>,
    /// A hybrid's alias to its torrent's id.
    aliases: HashMap<InfoHash, InfoHash>,
}

/// Shared by the shards (writers), their routers and the engine (readers).
pub(crate) type NameTable = std::sync::RwLock<Names>;

impl Names {
    /// Follows one shard's change.
    pub(crate) fn apply(&mut self, c: NameChange) {
        let req2 = crate::core::req2(c.name);
        if c.added {
            self.req2.insert(req2, c.name);
            if c.name != c.torrent {
                self.aliases.insert(c.name, c.torrent);
            }
        } else {
            self.req2.remove(&req2);
            if c.name != c.torrent {
                self.aliases.remove(&c.name);
            }
        }
    }

    /// The name an MSE dialler means by `HASH("req2", name)`.
    pub(crate) fn by_req2(&self, h: &[u8; 20]) -> Option<InfoHash> {
        self.req2.get(h).copied()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_resolves_to_its_torrent_until_given_up() {
        let (id, alias) = (InfoHash([1; 20]), InfoHash([2; 20]));
        let mut n = Names::default();
        for name in [id, alias] {
            n.apply(NameChange {
                name,
                torrent: id,
                added: true,
            });
        }
        assert_eq!(n.resolve(alias), id);
        assert_eq!(n.resolve(id), id);
        assert_eq!(n.by_req2(&crate::core::req2(alias)), Some(alias));
        n.apply(NameChange {
            name: alias,
            torrent: id,
            added: false,
        });
        assert_eq!(n.resolve(alias), alias);
        assert_eq!(n.by_req2(&crate::core::req2(alias)), None);
        assert_eq!(n.by_req2(&crate::core::req2(id)), Some(id));
    }
}
