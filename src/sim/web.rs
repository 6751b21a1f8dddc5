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
    /// Every answer stops after this share of its bytes, in percent (a
    /// connection that drops), when set.
    keep_percent: Option<u8>,
}

impl SimWeb {
    /// The bytes of `ranges` in order as far as they come, and how the answer
    /// ended: why not, when it stopped early (a missing file: `HTTP 404`, a
    /// range past its end: `HTTP 416`, as the real client words it; an answer
    /// cut short by [`SimWorld::cut_web_answers`]).
    pub(crate) fn serve(&mut self, ranges: &[WebRange]) -> (Vec<u8>, Result<(), String>) {
        self.fetches += 1;
        let mut out = Vec::new();
        let ended = self.serve_into(ranges, &mut out);
        if let (Some(keep), Ok(())) = (self.keep_percent, &ended) {
            out.truncate(out.len() * usize::from(keep) / 100);
            return (out, Err("connection closed before the end".into()));
        }
        (out, ended)
    }

    fn serve_into(&self, ranges: &[WebRange], out: &mut Vec<u8>) -> Result<(), String> {
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
        Ok(())
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

    /// From now on every web answer stops after `keep_percent` of its bytes
    /// (`None`: answers are whole again).
    pub fn cut_web_answers(&self, keep_percent: Option<u8>) {
        self.lock().web.keep_percent = keep_percent.map(|k| k.min(100));
    }

    /// Stops serving `url` (fetches get `HTTP 404`).
    pub fn remove_web_file(&self, url: &str) {
        self.lock().web.files.remove(url);
    }
}

impl World {
    /// A web fetch by node `n`: answered after a round trip plus the bytes' time
    /// on a link.
    pub(crate) fn web_fetch(&mut self, n: usize, peer: PeerKey, ranges: &[WebRange]) {
        let (bytes, ended) = self.web.serve(ranges);
        let len = bytes.len() as u128;
        let tx_ns = len * 1_000_000_000 / u128::from(self.cfg.link_bytes_per_sec.max(1));
        let at = self.now
            + self.cfg.latency
            + self.cfg.latency
            + Duration::from_nanos(u64::try_from(tx_ns).unwrap_or(u64::MAX));
        self.schedule(at, Pending::WebData(n, peer, bytes, ended));
    }

    /// A fetch's answer to node `n`'s core as the real driver hands it over: the
    /// bytes in parts (of [`PART`] bytes, so blocks straddle two parts as they do
    /// with HTTP chunks), each only while the core still waits for them, then
    /// the end.
    pub(crate) fn web_deliver(
        &mut self,
        n: usize,
        peer: PeerKey,
        bytes: &[u8],
        result: Result<(), String>,
        out: &mut Vec<Action>,
    ) {
        let now = self.now;
        let core = &mut self.nodes[n].core;
        for part in bytes.chunks(PART) {
            if !core.web_fetching(peer) {
                return;
            }
            let ev = Event::WebBytes {
                peer,
                bytes: part.to_vec(),
            };
            core.on_event(now, ev, out);
        }
        if core.web_fetching(peer) {
            core.on_event(now, Event::WebDone { peer, result }, out);
        }
    }
}

/// The size of the parts a sim fetch is handed over in: not a multiple of a
/// block.
const PART: usize = 40_000;
