//! Web seeds (BEP 19, GetRight style): the HTTP(S) URLs of a torrent's
//! `url-list`, used as peers that serve byte ranges of its files.
//!
//! A web seed is a peer of its torrent here ([`Peer::web`]): it has every piece,
//! never chokes, and takes no wire messages (what would be sent to it is
//! dropped). The picker gives it blocks like any peer; its requests go out as
//! one [`Action::WebFetch`] at a time (the blocks as byte ranges of the files,
//! at most [`MAX_FETCH`]). Its bytes come back in parts as the server sends
//! them, and each block is read as soon as its last byte is in, through
//! `on_piece_msg`, so no fetch is held whole anywhere: pieces are verified and
//! blamed like any other, so a web seed that serves wrong data is struck and
//! banned by the smart-ban rules and not used again. A fetch that stops part
//! way keeps the blocks that came in.
//!
//! Rules:
//! - only `http` and `https` URLs; any other is refused when the torrent is added
//!   (logged), never opened; at most [`MAX_WEB_SEEDS`] per torrent;
//! - a fetch that fails closes the web seed's peer; it comes back after 30 s,
//!   doubling each failure in a row to 10 min (the reason logged when it
//!   changes); a fetch that brought whole blocks before it failed breaks the row;
//! - it stands at an address of its own in the discard prefix `100::/64` (RFC
//!   6666, never routed), from a hash of its URL, so bans and blame are per web
//!   seed; that address is never dialled nor told in peer exchange.

use core::net::{IpAddr, Ipv6Addr};

use super::*;

/// Web seeds kept per torrent.
pub(crate) const MAX_WEB_SEEDS: usize = 16;
/// Most bytes one fetch asks for. A fetch is about a second of the web seed's
/// rate, and it waits a round trip after the last, so a fast web seed far
/// away needs large ones (at 4 MiB one 100 ms away stayed under a third of a
/// 100 MiB/s link); its bytes are handed over as they arrive, so the size
/// costs no memory.
const MAX_FETCH: u64 = 32 << 20;
/// The wait after a web seed's first failure (doubling to [`MAX_BACKOFF`]).
const FIRST_BACKOFF: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// One web seed of a torrent.
#[derive(Debug, Clone)]
pub(crate) struct WebSeed {
    pub url: String,
    /// Its stand-in address (see the module rules).
    pub addr: SocketAddr,
    /// Its peer while it has one.
    pub peer: Option<PeerKey>,
    /// Not used again before this.
    pub retry_at: Time,
    /// Failures in a row.
    pub failures: u32,
    /// Payload bytes it gave.
    pub bytes: u64,
    /// The last failure (logged when it changes).
    pub error: Option<String>,
}

/// A web seed's fetch while it is out: the blocks it holds that have not come
/// in yet, in order, and the bytes of the first of them that have.
#[derive(Debug)]
pub(crate) struct Fetch {
    blocks: std::collections::VecDeque<BlockRequest>,
    partial: Vec<u8>,
}

/// The usable web seeds among `urls` (see the module rules).
pub(crate) fn web_seeds(ih: InfoHash, urls: &[String]) -> Vec<WebSeed> {
    let mut v: Vec<WebSeed> = Vec::new();
    for url in urls {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            tracing::warn!(info_hash = %ih, %url, "web seed refused: only http and https URLs are used");
            continue;
        }
        if v.iter().any(|w| w.url == *url) {
            continue;
        }
        if v.len() == MAX_WEB_SEEDS {
            tracing::warn!(info_hash = %ih, "more than {MAX_WEB_SEEDS} web seeds: the rest are left out");
            break;
        }
        v.push(WebSeed {
            url: url.clone(),
            addr: stand_in(url),
            peer: None,
            retry_at: Time::ZERO,
            failures: 0,
            bytes: 0,
            error: None,
        });
    }
    v
}

/// An address in the discard prefix `100::/64` from a hash of `url`.
fn stand_in(url: &str) -> SocketAddr {
    let h = hash::sha1(url.as_bytes());
    // 0100:0000:0000:0000 then the hash.
    let mut b = [0u8; 16];
    b[0] = 1;
    b[8..].copy_from_slice(&h[..8]);
    SocketAddr::new(IpAddr::V6(Ipv6Addr::from(b)), 80)
}

/// The URL of file `f` of `info` under web seed `base` (BEP 19: a URL ending in
/// `/` is a folder holding the torrent's name; a multi-file torrent's files are
/// under it by their paths in the torrent; path components are percent-escaped).
fn file_url(base: &str, info: &Info, f: usize) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const PART: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let esc = |s: &str| utf8_percent_encode(s, PART).to_string();
    if !info.multi_file {
        return if base.ends_with('/') {
            format!("{base}{}", esc(&info.name))
        } else {
            base.to_owned()
        };
    }
    // The path inside the torrent's folder, whatever layout it was given here.
    let path = &info.files[f].path;
    let folder = match info.content_layout {
        crate::metainfo::ContentLayout::NoSubfolder => 0,
        _ => 1,
    };
    let inner = path.parts().skip(folder);
    let mut url = base.to_owned();
    if !url.ends_with('/') {
        url.push('/');
    }
    url.push_str(&esc(&info.name));
    for part in inner {
        url.push('/');
        url.push_str(&esc(part));
    }
    url
}

/// The byte ranges that hold `blocks`, in order, neighbours merged.
fn ranges(base: &str, info: &Info, blocks: &[BlockRequest]) -> Vec<WebRange> {
    let g = &info.geometry;
    let mut out: Vec<WebRange> = Vec::new();
    for b in blocks {
        let (from, to) = (u64::from(b.offset), u64::from(b.offset) + u64::from(b.len));
        let mut at = 0u64;
        for span in g.piece_spans(b.piece) {
            let (s, e) = (at, at + u64::from(span.len));
            at = e;
            let (lo, hi) = (s.max(from), e.min(to));
            if lo >= hi {
                continue;
            }
            let file = &info.files[span.file];
            let url = file.is_stored().then(|| file_url(base, info, span.file));
            let start = span.file_offset + (lo - s);
            match out.last_mut() {
                Some(r) if r.url == url && (url.is_none() || r.start + r.len == start) => {
                    r.len += hi - lo;
                }
                _ => out.push(WebRange {
                    url,
                    start,
                    len: hi - lo,
                }),
            }
        }
    }
    out
}

impl Core {
    /// Peers for the web seeds of `ihs` (torrents that download: see `walk`) that
    /// are not connected, not banned, and due.
    pub(super) fn connect_web_seeds(
        &mut self,
        now: Time,
        ihs: Vec<InfoHash>,
        out: &mut Vec<Action>,
    ) {
        for ih in ihs {
            let Some(t) = self.torrents.get(&ih) else {
                continue;
            };
            for i in 0..t.web_seeds.len() {
                let t = self.torrents.get_mut(&ih).expect("listed");
                let w = &t.web_seeds[i];
                if w.peer.is_some()
                    || now < w.retry_at
                    || t.banned.contains(&w.addr.ip())
                    || t.peers.len() >= self.cfg.max_connections_per_torrent
                    || self.peers.len() >= self.cfg.max_connections
                {
                    continue;
                }
                let key = PeerKey(self.next_key);
                self.next_key += 1;
                let mut p = Peer::new(w.addr, true, now);
                p.info_hash = Some(ih);
                p.phase = Phase::Active;
                p.web = Some(i);
                p.peer_choking = false;
                p.fast = true;
                p.client = format!("web seed {}", w.url);
                let pieces = t.have.len();
                Self::apply_have(t, &mut p, Bitfield::full(pieces));
                p.am_interested = true;
                t.web_seeds[i].peer = Some(key);
                t.peers.insert(key);
                self.peers.insert(key, p);
                self.request_more(now, key, out);
            }
        }
    }

    /// A web seed's requests as one fetch (a web seed has one out at a time).
    pub(super) fn web_fetch(
        &mut self,
        key: PeerKey,
        picked: Vec<BlockRequest>,
        out: &mut Vec<Action>,
    ) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let (Some(i), Some(ih)) = (p.web, p.info_hash) else {
            return;
        };
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        let (Some(info), Some(w)) = (t.info.as_ref(), t.web_seeds.get(i)) else {
            return;
        };
        let ranges = ranges(&w.url, info, &picked);
        p.fetching = Some(Box::new(Fetch {
            blocks: picked.into(),
            partial: Vec::new(),
        }));
        out.push(Action::WebFetch { peer: key, ranges });
    }

    /// How many blocks a web seed may be asked for now: none while a fetch is out.
    pub(super) fn web_want(p: &Peer, desired: usize) -> usize {
        if p.fetching.is_some() || !p.inflight.is_empty() {
            return 0;
        }
        let most = usize::try_from(MAX_FETCH / u64::from(crate::metainfo::BLOCK_LEN)).unwrap_or(1);
        desired.clamp(1, most)
    }

    /// Whether web seed `key` still waits for its fetch's bytes (a driver stops
    /// a fetch once it does not: the peer was closed, or the fetch failed).
    pub fn web_fetching(&self, key: PeerKey) -> bool {
        self.peers.get(&key).is_some_and(|p| p.fetching.is_some())
    }

    /// The next bytes of a fetch: each block they complete is read as if the web
    /// seed had sent it, as it arrives (a block split between two parts waits in
    /// the fetch's `partial`, the only copy made). Bytes past the blocks asked
    /// for fail the web seed.
    pub(super) fn on_web_bytes(
        &mut self,
        now: Time,
        key: PeerKey,
        mut input: &[u8],
        out: &mut Vec<Action>,
    ) {
        loop {
            let Some(p) = self.peers.get_mut(&key) else {
                return; // closed by what an earlier block completed
            };
            let (Some(i), Some(ih), Some(f)) = (p.web, p.info_hash, p.fetching.as_mut()) else {
                return;
            };
            p.last_recv = now;
            let Some(&b) = f.blocks.front() else {
                if input.is_empty() {
                    return;
                }
                let why = format!("{} bytes more than asked", input.len());
                return self.web_failed(now, key, ih, i, why, out);
            };
            let need = b.len as usize;
            let whole;
            let data: &[u8] = if f.partial.is_empty() && input.len() >= need {
                let (d, rest) = input.split_at(need);
                input = rest;
                d
            } else {
                let take = (need - f.partial.len()).min(input.len());
                f.partial.extend_from_slice(&input[..take]);
                input = &input[take..];
                if f.partial.len() < need {
                    return;
                }
                whole = std::mem::take(&mut f.partial);
                &whole
            };
            f.blocks.pop_front();
            if let Some(w) = self
                .torrents
                .get_mut(&ih)
                .and_then(|t| t.web_seeds.get_mut(i))
            {
                w.bytes += u64::from(b.len);
                // It serves: a failure after this waits the first back-off.
                w.failures = 0;
            }
            if let Err(reason) = self.on_piece_msg(now, key, ih, b.piece, b.offset, data, out) {
                self.close(key, reason, out);
                return;
            }
        }
    }

    /// A fetch ended: the web seed is asked for more, or, when it failed or
    /// came short of what was asked, closed and backed off.
    pub(super) fn on_web_done(
        &mut self,
        now: Time,
        key: PeerKey,
        result: Result<(), String>,
        out: &mut Vec<Action>,
    ) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let (Some(i), Some(ih), Some(f)) = (p.web, p.info_hash, p.fetching.take()) else {
            return;
        };
        p.last_recv = now;
        let short: u64 =
            f.blocks.iter().map(|b| u64::from(b.len)).sum::<u64>() - f.partial.len() as u64;
        let why = match result {
            Ok(()) if short == 0 => None,
            Ok(()) => Some(format!("{short} bytes fewer than asked")),
            Err(why) => Some(why),
        };
        if let Some(why) = why {
            return self.web_failed(now, key, ih, i, why, out);
        }
        if let Some(w) = self
            .torrents
            .get_mut(&ih)
            .and_then(|t| t.web_seeds.get_mut(i))
        {
            w.failures = 0;
            w.error = None;
        }
        self.request_more(now, key, out);
    }

    fn web_failed(
        &mut self,
        now: Time,
        key: PeerKey,
        ih: InfoHash,
        i: usize,
        why: String,
        out: &mut Vec<Action>,
    ) {
        if let Some(w) = self
            .torrents
            .get_mut(&ih)
            .and_then(|t| t.web_seeds.get_mut(i))
        {
            let wait = FIRST_BACKOFF
                .saturating_mul(1 << w.failures.min(5))
                .min(MAX_BACKOFF);
            w.failures += 1;
            w.retry_at = now + wait;
            if w.error.as_deref() != Some(why.as_str()) {
                tracing::warn!(info_hash = %ih, url = %w.url, error = %why,
                    retry_in_secs = wait.as_secs(), "web seed failed");
                w.error = Some(why.clone());
            }
        }
        self.close(key, CloseReason::Protocol(format!("web seed: {why}")), out);
    }

    /// Payload bytes a torrent got from its web seeds.
    pub(super) fn web_seed_bytes(t: &Torrent) -> u64 {
        t.web_seeds.iter().map(|w| w.bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_ins_are_in_the_discard_prefix_and_differ_by_url() {
        let a = stand_in("http://127.0.0.1:8080/");
        let IpAddr::V6(v6) = a.ip() else {
            panic!("{a} is not IPv6");
        };
        assert_eq!(v6.segments()[..4], [0x100, 0, 0, 0], "{v6}");
        assert_ne!(a, stand_in("http://127.0.0.1:8081/"));
    }
}
