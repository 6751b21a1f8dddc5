//! What peers call our torrents on the wire, and a hybrid torrent's second name.
//!
//! A hybrid torrent (BEP 52) has two info-hashes, and so two swarms: its v1
//! hash, and the first 20 bytes of its v2 hash. The torrent is kept under the
//! one it was added by (its `id`: the v1 hash of a `.torrent` file or a `btih`
//! link, the truncated v2 hash of a `btmh`-only link); the other is its
//! *alias*, known once its metadata is. Under either name:
//! - a peer's handshake (plaintext, or MSE's `HASH("req2", name)`) finds the
//!   torrent, and our handshake answers with the name the peer used; each peer
//!   keeps the name it is spoken to by (`Peer::wire_name`);
//! - trackers hear of it under both (the alias's announces ride on the id's
//!   schedule: same trackers, same moment, their replies only add peers) and
//!   the DHT looks both up ([`Core::dht_torrents`]);
//! - an address learned under the alias only (its tracker reply, its DHT
//!   lookup) is dialled with the alias: the peer there may know no other.
//!
//! A torrent of this core under the alias is the same hybrid added by its
//! other link (before either's metadata was known, or two records of it from
//! before merging): it is merged into the one whose metadata came
//! ([`Core::merge_duplicate`]). An alias that is another torrent's alias is
//! not taken (said once): that torrent then joins one swarm. Across shards the
//! engine merges (`engine/merge.rs`).
//!
//! The names and their changes are also what a driver with several cores needs
//! to route accepted connections ([`Core::follow_wire_names`]).

use core::net::SocketAddr;
use std::collections::HashMap;

use super::{Action, Core, PeerSource};
use crate::types::{InfoHash, Time};

/// A name taken or given up: the router's tables follow these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameChange {
    /// The name peers use on the wire.
    pub name: InfoHash,
    /// The torrent it names (`name` itself but for an alias).
    pub torrent: InfoHash,
    /// Taken (`true`) or given up.
    pub added: bool,
}

/// Every name of this core's torrents: `HASH("req2", name)` (how an MSE dialler
/// names one) to the name, each alias to its torrent and back, and the changes
/// when a driver asked to follow them.
#[derive(Debug, Default)]
pub(crate) struct WireNames {
    req2: HashMap<[u8; 20], InfoHash>,
    aliases: HashMap<InfoHash, InfoHash>,
    alias_of: HashMap<InfoHash, InfoHash>,
    log: Option<Vec<NameChange>>,
}

impl WireNames {
    fn take(&mut self, name: InfoHash, torrent: InfoHash) {
        self.req2.insert(super::req2(name), name);
        if name != torrent {
            self.aliases.insert(name, torrent);
            self.alias_of.insert(torrent, name);
        }
        if let Some(log) = &mut self.log {
            log.push(NameChange {
                name,
                torrent,
                added: true,
            });
        }
    }

    fn give_up(&mut self, name: InfoHash, torrent: InfoHash) {
        self.req2.remove(&super::req2(name));
        if name != torrent {
            self.aliases.remove(&name);
            self.alias_of.remove(&torrent);
        }
        if let Some(log) = &mut self.log {
            log.push(NameChange {
                name,
                torrent,
                added: false,
            });
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

    /// The alias of torrent `ih`, if it has one.
    pub(crate) fn alias_of(&self, ih: InfoHash) -> Option<InfoHash> {
        self.alias_of.get(&ih).copied()
    }

    /// Whether `name` is some torrent's alias.
    pub(crate) fn is_alias(&self, name: InfoHash) -> bool {
        self.aliases.contains_key(&name)
    }
}

impl Core {
    /// A torrent added: its id is a name from now on, and its alias too once
    /// its metadata is known ([`Core::name_alias`]).
    pub(super) fn name_torrent(&mut self, now: Time, ih: InfoHash, out: &mut Vec<Action>) {
        self.names.take(ih, ih);
        self.name_alias(now, ih, out);
    }

    /// Takes torrent `ih`'s alias, if its metadata says it is a hybrid and the
    /// name is free. A torrent of this core under that name is the same
    /// torrent added by its other link: it is merged into `ih` first
    /// ([`Core::merge_duplicate`]).
    pub(super) fn name_alias(&mut self, now: Time, ih: InfoHash, out: &mut Vec<Action>) {
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        let Some(alias) = t.info.as_ref().and_then(|i| i.other_name(ih)) else {
            return;
        };
        if self.names.alias_of(ih).is_some() {
            return;
        }
        if self.torrents.contains_key(&alias) {
            self.merge_duplicate(now, ih, alias, out);
        }
        if self.torrents.contains_key(&alias) || self.names.is_alias(alias) {
            tracing::info!(info_hash = %ih, other = %alias,
                "hybrid torrent: its other info-hash already names another torrent here; it joins one swarm");
            return;
        }
        self.names.take(alias, ih);
    }

    /// Torrent `drop`, a link to the same hybrid as `keep` by its other
    /// info-hash, is merged into `keep`: `keep` gets the trackers and
    /// addresses `drop` knew (the addresses as learned under the alias, where
    /// the peers know that name), and `drop` is removed, its files kept (it
    /// has none when its metadata never came; else they are the same files)
    /// and reported to the engine ([`Core::take_removed`]).
    pub(super) fn merge_duplicate(
        &mut self,
        now: Time,
        keep: InfoHash,
        drop: InfoHash,
        out: &mut Vec<Action>,
    ) {
        let Some(d) = self.torrents.get(&drop) else {
            return;
        };
        let tiers = d.announcer.tiers().to_vec();
        let addrs: Vec<(SocketAddr, u8, PeerSource)> = (d.addrs.iter())
            .filter_map(|(a, s)| {
                let source = PeerSource::ALL
                    .into_iter()
                    .find(|p| s.sources & p.bit() != 0)?;
                Some((*a, s.flags, source))
            })
            .collect();
        let Some(k) = self.torrents.get_mut(&keep) else {
            return;
        };
        let trackers = k.announcer.absorb(now, &tiers);
        k.save_now |= trackers > 0;
        let n = addrs.len();
        for (addr, flags, source) in addrs {
            k.learn_named([(addr, flags)], source, None, true);
        }
        if let Err(e) = self.remove_torrent(now, drop, false, out) {
            tracing::warn!(info_hash = %drop, into = %keep, error = %e, "duplicate of a hybrid not merged");
            return;
        }
        self.remember_removed(drop);
        self.attention.note(keep);
        tracing::info!(info_hash = %drop, into = %keep, trackers, addresses = n,
            "the other link of a hybrid torrent: merged into it (one torrent, both swarms)");
    }

    /// A torrent removed: its names are given up.
    pub(super) fn unname_torrent(&mut self, ih: InfoHash) {
        if let Some(alias) = self.names.alias_of(ih) {
            self.names.give_up(alias, ih);
        }
        self.names.give_up(ih, ih);
    }

    /// The torrent `name` means: the torrent an alias names, else `name`.
    pub fn resolve_name(&self, name: InfoHash) -> InfoHash {
        self.names.resolve(name)
    }

    /// Torrent `ih`'s other name (a hybrid's alias), if taken.
    pub fn alias_of(&self, ih: InfoHash) -> Option<InfoHash> {
        self.names.alias_of(ih)
    }

    /// Starts logging names taken and given up, for a driver that routes
    /// accepted connections among several cores; drained by
    /// [`Core::take_name_changes`] after every call. The log starts with every
    /// name now.
    pub fn follow_wire_names(&mut self) {
        let now = (self.names.req2.values())
            .map(|&name| NameChange {
                name,
                torrent: self.names.resolve(name),
                added: true,
            })
            .collect();
        self.names.log = Some(now);
    }

    /// The changes since the last call (see [`Core::follow_wire_names`]).
    pub fn take_name_changes(&mut self) -> Vec<NameChange> {
        (self.names.log.as_mut())
            .map(std::mem::take)
            .unwrap_or_default()
    }
}
