//! What peer discovery outside the shards asks of the engine: the DHT node (on
//! the control plane, one per daemon) learns which torrents to announce, hands
//! back the peers it finds, and keeps its routing table in the session store
//! under [`DHT_KEY`] ([`DHT6_KEY`] for the IPv6 node).

use core::net::SocketAddr;

use super::{Engine, EngineError};
use crate::core::{Command, PeerSource, Reply};
use crate::types::InfoHash;

/// Where the IPv4 DHT node's id and nodes are saved.
pub const DHT_KEY: &[u8] = b"settings:dht";
/// Where the IPv6 DHT node's are.
pub const DHT6_KEY: &[u8] = b"settings:dht6";

impl Engine {
    /// A new IP filter for every engine thread (see `core::filtered`).
    pub async fn set_ip_filter_async(
        &self,
        filter: std::sync::Arc<crate::ipfilter::IpFilter>,
    ) -> Result<(), EngineError> {
        for r in (self.inner)
            .on_all(|| Command::SetIpFilter(std::sync::Arc::clone(&filter)))
            .await?
        {
            r.done()?;
        }
        Ok(())
    }

    /// Adds peer addresses learned from `source` to a torrent.
    pub async fn add_peers_from_async(
        &self,
        ih: InfoHash,
        addrs: &[SocketAddr],
        source: PeerSource,
    ) -> Result<(), EngineError> {
        let add = Command::AddPeers {
            info_hash: ih,
            addrs: addrs.to_vec(),
            source,
        };
        self.ask(ih, add).await?.done()
    }

    /// Blocking [`Engine::add_peers_from_async`].
    pub fn add_peers_from(
        &self,
        ih: InfoHash,
        addrs: &[SocketAddr],
        source: PeerSource,
    ) -> Result<(), EngineError> {
        pollster::block_on(self.add_peers_from_async(ih, addrs, source))
    }

    /// The torrents the DHT may announce, each with whether it needs peers now
    /// (see [`crate::core::Core::dht_torrents`]).
    pub async fn dht_torrents_async(&self) -> Result<Vec<(InfoHash, bool)>, EngineError> {
        let mut all = Vec::new();
        for r in self.inner.on_all(|| Command::DhtTorrents).await? {
            match r {
                Reply::DhtTorrents(t) => all.extend(t),
                other => return Err(other.mismatch("dht torrents")),
            }
        }
        Ok(all)
    }

    /// Blocking [`Engine::dht_torrents_async`].
    pub fn dht_torrents(&self) -> Result<Vec<(InfoHash, bool)>, EngineError> {
        pollster::block_on(self.dht_torrents_async())
    }

    /// The DHT state saved last under `key`, if any.
    pub fn dht_state(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.store().get(key) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "dht: the saved routing table could not be read");
                None
            }
        }
    }

    /// Saves a DHT node's state (its id and good nodes) under `key`.
    pub fn save_dht_state(&self, key: &[u8], bytes: &[u8]) -> Result<(), String> {
        self.store().set(key, bytes).map_err(|e| e.to_string())
    }
}
