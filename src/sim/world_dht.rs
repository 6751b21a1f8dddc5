//! DHT nodes inside the sim world: an engine of the world may run a DHT node
//! ([`SimWorld::enable_dht`]) at its own address (UDP beside its TCP listener).
//! The world carries the node's datagrams with the world's latency, loses them
//! at the world's loss rate (UDP does not retransmit), ticks it with the core,
//! hands it the core's torrents every [`SYNC`] (as the daemon's driver does,
//! through the same `Core::dht_torrents` and `Dht::sync_torrents`), and gives
//! what it finds to the core as DHT peers.

use core::net::SocketAddr;
use std::time::Duration;

use super::{Pending, SimWorld, World};
use crate::core::PeerSource;
use crate::dht::{Dht, DhtAction, DhtConfig, DhtStats, Saved};
use crate::types::Time;

/// Between two looks at the core's torrents (the daemon's driver uses the same).
pub const SYNC: Duration = Duration::from_secs(10);

/// A node's DHT and when it last looked at the core's torrents.
pub(crate) struct NodeDht {
    dht: Dht,
    synced: Option<Time>,
}

/// Sees every datagram the world delivers: from, to, bytes.
pub(crate) type DatagramTap = Box<dyn FnMut(SocketAddr, SocketAddr, &[u8]) + Send>;

impl SimWorld {
    /// Runs a DHT node for `engine` (a memory engine of this world), joining
    /// through `bootstrap`.
    pub fn enable_dht(&self, engine: &crate::Engine, bootstrap: &[SocketAddr]) {
        let n = engine.sim_node().expect("a memory engine of this world");
        let mut w = self.lock();
        let seed = w.rng.next_u64();
        let cfg = DhtConfig {
            bootstrap: bootstrap.to_vec(),
            ..DhtConfig::default()
        };
        let now = w.now;
        w.nodes[n].dht = Some(Box::new(NodeDht {
            dht: Dht::new(cfg, seed, now, Saved::default()),
            synced: None,
        }));
    }

    /// The numbers of `engine`'s DHT node, if it runs one.
    pub fn dht_stats(&self, engine: &crate::Engine) -> Option<DhtStats> {
        let n = engine.sim_node()?;
        self.lock().nodes[n].dht.as_ref().map(|d| d.dht.stats())
    }

    /// Shows `tap` every datagram delivered from now on (from, to, bytes).
    pub fn set_datagram_tap(
        &self,
        tap: impl FnMut(SocketAddr, SocketAddr, &[u8]) + Send + 'static,
    ) {
        self.lock().dgram_tap = Some(Box::new(tap));
    }
}

impl World {
    /// Node `n`'s tick, for its DHT node.
    pub(super) fn dht_tick(&mut self, n: usize) {
        let now = self.now;
        let port = self.nodes[n].addr.port();
        let list = match &self.nodes[n].dht {
            Some(d) if d.synced.is_none_or(|at| now.since(at) >= SYNC) => {
                Some(self.nodes[n].core.dht_torrents())
            }
            Some(_) => None,
            None => return,
        };
        let d = self.nodes[n].dht.as_mut().expect("checked");
        if let Some(list) = list {
            d.synced = Some(now);
            d.dht.sync_torrents(now, &list, port);
        }
        let mut out = Vec::new();
        d.dht.on_tick(now, &mut out);
        self.dht_carry(n, out);
    }

    /// A datagram for node `n`.
    pub(super) fn dht_deliver(&mut self, n: usize, from: SocketAddr, bytes: &[u8]) {
        let now = self.now;
        let to = self.nodes[n].addr;
        if let Some(tap) = &mut self.dgram_tap {
            tap(from, to, bytes);
        }
        let Some(d) = self.nodes[n].dht.as_mut() else {
            return; // no DHT there: the datagram is lost, as on a closed port
        };
        let mut out = Vec::new();
        d.dht.on_packet(now, from, bytes, &mut out);
        self.dht_carry(n, out);
    }

    fn dht_carry(&mut self, n: usize, actions: Vec<DhtAction>) {
        for a in actions {
            match a {
                DhtAction::Send { to, bytes } => {
                    let Some(&dest) = self.listeners.get(&to) else {
                        continue; // nobody there
                    };
                    if self.rng.chance(self.cfg.loss) {
                        self.faults.losses += 1;
                        continue;
                    }
                    let at = self.now + self.cfg.latency;
                    let from = self.nodes[n].addr;
                    self.schedule(at, Pending::Datagram(dest, from, bytes));
                }
                DhtAction::Peers { info_hash, peers } => {
                    // A torrent removed meanwhile: nothing to do.
                    let _ = self.nodes[n]
                        .core
                        .add_peers_from(info_hash, &peers, PeerSource::Dht);
                }
            }
        }
    }
}
