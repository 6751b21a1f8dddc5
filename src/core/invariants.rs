//! What must hold between any two events, checked by the sim after every event
//! when asked (`SimConfig::check_invariants`), TigerBeetle-style: a fault sweep
//! then fails at the first step that breaks one, not at the end of a run whose
//! data happened to come out right.

use super::*;

impl Core {
    /// The first broken invariant, if any. Costs a pass over every torrent and
    /// peer: for the sim and tests, not for the daemon's event loop.
    pub fn check_invariants(&self) -> Result<(), String> {
        let cfg = &self.cfg;
        if self.peers.len() > cfg.max_connections {
            return Err(format!(
                "{} connections, cap {}",
                self.peers.len(),
                cfg.max_connections
            ));
        }
        for (ih, t) in &self.torrents {
            let here = |what: String| Err(format!("torrent {ih}: {what}"));
            if let Some(info) = &t.info {
                let n = info.geometry.piece_count();
                if t.have.len() != n {
                    return here(format!("bitfield of {} for {n} pieces", t.have.len()));
                }
            }
            if let Some(p) = t.writing.iter().find(|&&p| t.have.get(p)) {
                return here(format!("piece {p} written again though had"));
            }
            if let Some(p) = t.picker.in_progress().find(|&p| t.have.get(p)) {
                return here(format!("piece {p} in progress though had"));
            }
            if t.addrs.len() > addrs::MAX_KNOWN_ADDRS {
                return here(format!("{} known addresses", t.addrs.len()));
            }
            if t.peers.len() > cfg.max_connections_per_torrent {
                return here(format!(
                    "{} peers, cap {}",
                    t.peers.len(),
                    cfg.max_connections_per_torrent
                ));
            }
            for k in &t.peers {
                if self.peers.get(k).is_none_or(|p| p.info_hash != Some(*ih)) {
                    return here(format!("lists peer {k:?}, which is not its own"));
                }
            }
            if t.error.is_some() && !t.peers.is_empty() {
                return here(format!("stopped by an error with {} peers", t.peers.len()));
            }
        }
        for (k, p) in &self.peers {
            let here = |what: String| Err(format!("peer {k:?} ({}): {what}", p.addr));
            if p.inflight.len() > cfg.request_queue_max {
                return here(format!("{} requests out", p.inflight.len()));
            }
            if p.queue_in.len() > cfg.request_queue_max {
                return here(format!("{} requests queued from it", p.queue_in.len()));
            }
            if p.phase != Phase::Active {
                continue;
            }
            let Some(ih) = p.info_hash else {
                return here("active without a torrent".into());
            };
            let Some(t) = self.torrents.get(&ih) else {
                return here("its torrent is gone".into());
            };
            if !t.peers.contains(k) {
                return here("not in its torrent's peers".into());
            }
            if !p.inflight.is_empty() && t.info.is_none() {
                return here("blocks asked before the metadata".into());
            }
        }
        Ok(())
    }
}
