//! Web servers in the sim, for web seeds (BEP 19): files by URL, served by byte
//! range after a round trip and the link's transfer time.

use std::collections::BTreeMap;

use super::*;
use crate::core::WebRange;

/// The files every web server of the world serves, by URL.
#[derive(Debug, Default)]
pub(crate) struct SimWeb {
    files: BTreeMap<String, Vec<u8>>,
    /// Fetches answered so far.
    fetches: u64,
}

impl SimWeb {
    /// The bytes of `ranges` in order, or why not (a missing file: `HTTP 404`, a
    /// range past its end: `HTTP 416`), as the real client words it.
    pub(crate) fn serve(&mut self, ranges: &[WebRange]) -> Result<Vec<u8>, String> {
        self.fetches += 1;
        let mut out = Vec::new();
        for r in ranges {
            let len = usize::try_from(r.len).map_err(|_| "too large")?;
            let Some(url) = &r.url else {
                out.resize(out.len() + len, 0);
                continue;
            };
            let file = self
                .files
                .get(url)
                .ok_or_else(|| format!("{url}: HTTP 404 Not Found"))?;
            let start = usize::try_from(r.start).map_err(|_| "too large")?;
            let part = (file.get(start..start + len))
                .ok_or_else(|| format!("{url}: HTTP 416 Range Not Satisfiable"))?;
            out.extend_from_slice(part);
        }
        Ok(out)
    }
}

impl SimWorld {
    /// Serves `bytes` at `url` from now on (replacing what was there).
    pub fn put_web_file(&self, url: &str, bytes: Vec<u8>) {
        self.lock().web.files.insert(url.to_owned(), bytes);
    }

    /// Web seed fetches made so far, by every node.
    pub fn web_fetches(&self) -> u64 {
        self.lock().web.fetches
    }

    /// Stops serving `url` (fetches get `HTTP 404`).
    pub fn remove_web_file(&self, url: &str) {
        self.lock().web.files.remove(url);
    }
}

impl World {
    /// A web fetch by node `n`: answered after a round trip plus the bytes' time
    /// on a link.
    pub(crate) fn web_fetch(
        &mut self,
        n: usize,
        peer: PeerKey,
        blocks: Vec<crate::proto::BlockRequest>,
        ranges: &[WebRange],
    ) {
        let result = self.web.serve(ranges);
        let bytes = result.as_ref().map_or(0, Vec::len) as u128;
        let tx_ns = bytes * 1_000_000_000 / u128::from(self.cfg.link_bytes_per_sec.max(1));
        let at = self.now
            + self.cfg.latency
            + self.cfg.latency
            + Duration::from_nanos(u64::try_from(tx_ns).unwrap_or(u64::MAX));
        self.schedule(at, Pending::WebData(n, peer, blocks, result));
    }
}
