//! What a test reads or changes of one memory engine's node: files in its
//! filesystem, its disk's mounts, what its core told of (milestones, the
//! peer log).

use super::SimWorld;
use crate::types::{InfoHash, Time};

impl SimWorld {
    /// Writes a file into a memory engine's filesystem (test setup).
    pub fn write_file(&self, engine: &crate::Engine, path: &str, data: Vec<u8>) {
        let node = engine.sim_node().expect("a memory engine of this world");
        self.lock().nodes[node].fs.put(path, data);
    }

    /// Reads a whole file from a memory engine's filesystem.
    pub fn read_file(&self, engine: &crate::Engine, path: &str) -> Option<Vec<u8>> {
        let node = engine.sim_node().expect("a memory engine of this world");
        self.lock().nodes[node].fs.get(path).cloned()
    }

    /// Deletes a file from a memory engine's filesystem (as a user would, behind
    /// its back).
    pub fn remove_file(&self, engine: &crate::Engine, path: &str) {
        let node = engine.sim_node().expect("a memory engine of this world");
        self.lock().nodes[node].fs.remove(path);
    }

    /// The milestones a memory engine's core told of so far (what the
    /// daemon's hooks would have run for), in order, with when.
    pub fn milestones(
        &self,
        engine: &crate::Engine,
    ) -> Vec<(Time, InfoHash, crate::core::Milestone)> {
        let node = engine.sim_node().expect("a memory engine of this world");
        self.lock().nodes[node].milestones.clone()
    }

    /// What a memory engine's core noted of peers refused or banned (the
    /// daemon's `log/peers`), oldest first.
    pub fn peer_log(&self, engine: &crate::Engine) -> Vec<crate::peerlog::Entry> {
        let node = engine.sim_node().expect("a memory engine of this world");
        self.lock().nodes[node].peer_log.since(None)
    }

    /// Unmounts a memory engine's disk at `prefix`: its files vanish until
    /// [`SimWorld::mount`].
    pub fn unmount(&self, engine: &crate::Engine, prefix: &str) {
        let node = engine.sim_node().expect("a memory engine of this world");
        self.lock().nodes[node].fs.unmount(prefix);
    }

    /// Mounts again what [`SimWorld::unmount`] took away.
    pub fn mount(&self, engine: &crate::Engine, prefix: &str) {
        let node = engine.sim_node().expect("a memory engine of this world");
        self.lock().nodes[node].fs.mount(prefix);
    }
}
