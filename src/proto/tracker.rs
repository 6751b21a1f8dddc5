//! Tracker codecs: HTTP announce and scrape (BEP 3, 23, 48) and UDP trackers
//! (BEP 15). Pure encode and decode; the client that sends them lives in `net`.

use core::net::{IpAddr, SocketAddr};

use crate::bencode::{self, Limits, Node};
use crate::types::InfoHash;

/// The most peers taken from one tracker reply (the rest are ignored).
pub const MAX_PEERS_PER_REPLY: usize = 2000;
/// The largest tracker reply accepted, in bytes (after decompression).
pub const MAX_REPLY_BYTES: usize = 1 << 20;

/// Announce events (BEP 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnounceEvent {
    /// A regular re-announce.
    None,
    /// The first announce after starting.
    Started,
    /// The download just completed.
    Completed,
    /// The torrent is stopping.
    Stopped,
}

/// What an announce tells the tracker.
#[derive(Debug, Clone)]
pub struct Announce {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Our peer id.
    pub peer_id: [u8; 20],
    /// Our listen port.
    pub port: u16,
    /// Payload bytes uploaded so far.
    pub uploaded: u64,
    /// Payload bytes downloaded so far.
    pub downloaded: u64,
    /// Bytes still wanted.
    pub left: u64,
    /// Why we announce.
    pub event: AnnounceEvent,
    /// Peers wanted.
    pub numwant: u32,
    /// A random key identifying us across IP changes.
    pub key: u32,
}

/// A tracker's answer to an announce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnnounceReply {
    /// Seconds until the next regular announce.
    pub interval: u32,
    /// Seconds before which we must not announce again.
    pub min_interval: Option<u32>,
    /// Seeders, if told.
    pub complete: Option<u32>,
    /// Leechers, if told.
    pub incomplete: Option<u32>,
    /// Completed downloads, if told (some trackers put the scrape's
    /// `downloaded` in their announce replies too).
    pub downloaded: Option<u32>,
    /// Peers (at most [`MAX_PEERS_PER_REPLY`]).
    pub peers: Vec<SocketAddr>,
    /// A warning to show with the torrent.
    pub warning: Option<String>,
}

/// Why a tracker reply was refused, or the tracker's own refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    /// The tracker said no (its `failure reason`).
    #[error("tracker failure: {0}")]
    Failure(String),
    /// The reply is not what a tracker sends.
    #[error("malformed tracker reply: {0}")]
    Malformed(String),
    /// The reply is larger than [`MAX_REPLY_BYTES`].
    #[error("tracker reply larger than {MAX_REPLY_BYTES} bytes")]
    TooLarge,
    /// The tracker URL cannot be used.
    #[error("unusable tracker URL {0:?}")]
    BadUrl(String),
    /// Network trouble (message from the client).
    #[error("{0}")]
    Io(String),
}

/// What stays as it is in a query value: RFC 3986's unreserved characters.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes raw bytes for a URL query (unreserved characters stay as they are).
pub fn url_encode(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, QUERY_VALUE).to_string()
}

/// Builds the announce URL for `a` on tracker `base` (BEP 3 query, compact peers).
pub fn announce_url(base: &str, a: &Announce) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut url = format!(
        "{base}{sep}info_hash={}&peer_id={}&port={}&uploaded={}&downloaded={}&left={}&compact=1&numwant={}&key={:08x}",
        url_encode(&a.info_hash.0),
        url_encode(&a.peer_id),
        a.port,
        a.uploaded,
        a.downloaded,
        a.left,
        a.numwant,
        a.key
    );
    let event = match a.event {
        AnnounceEvent::None => None,
        AnnounceEvent::Started => Some("started"),
        AnnounceEvent::Completed => Some("completed"),
        AnnounceEvent::Stopped => Some("stopped"),
    };
    if let Some(e) = event {
        url.push_str("&event=");
        url.push_str(e);
    }
    url
}

/// The scrape URL of an announce URL (BEP 48): only when the last path segment
/// starts with `announce`.
pub fn scrape_url(announce: &str) -> Option<String> {
    let (path, query) = announce.split_once('?').unwrap_or((announce, ""));
    let slash = path.rfind('/')?;
    let last = &path[slash + 1..];
    let rest = last.strip_prefix("announce")?;
    let mut url = format!("{}/scrape{rest}", &path[..slash]);
    if !query.is_empty() {
        url.push('?');
        url.push_str(query);
    }
    Some(url)
}

fn limits() -> Limits {
    Limits {
        max_depth: 16,
        max_tokens: 50_000,
        max_string_len: MAX_REPLY_BYTES,
    }
}

fn uint(n: Option<&Node<'_>>) -> Option<u32> {
    n.and_then(Node::as_int).and_then(|i| u32::try_from(i).ok())
}

/// Parses an HTTP tracker's bencoded announce reply.
pub fn parse_announce_reply(body: &[u8]) -> Result<AnnounceReply, TrackerError> {
    if body.len() > MAX_REPLY_BYTES {
        return Err(TrackerError::TooLarge);
    }
    let root =
        bencode::decode(body, limits()).map_err(|e| TrackerError::Malformed(e.to_string()))?;
    if root.as_dict().is_none() {
        return Err(TrackerError::Malformed("not a dictionary".into()));
    }
    let text = |k: &str| {
        root.get(k)
            .and_then(Node::as_bytes)
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(1024)]).into_owned())
    };
    if let Some(reason) = text("failure reason") {
        return Err(TrackerError::Failure(reason));
    }
    let interval =
        uint(root.get("interval")).ok_or_else(|| TrackerError::Malformed("no interval".into()))?;
    let mut peers = Vec::new();
    match root.get("peers") {
        Some(n) if n.as_bytes().is_some() => {
            compact_peers(n.as_bytes().expect("checked"), 6, &mut peers)?;
        }
        Some(n) if n.as_list().is_some() => {
            for p in n.as_list().expect("checked") {
                let ip = p
                    .get("ip")
                    .and_then(Node::as_str)
                    .and_then(|s| s.parse::<IpAddr>().ok());
                let port = p
                    .get("port")
                    .and_then(Node::as_int)
                    .and_then(|i| u16::try_from(i).ok());
                if let (Some(ip), Some(port)) = (ip, port)
                    && port != 0
                    && peers.len() < MAX_PEERS_PER_REPLY
                {
                    peers.push(SocketAddr::new(ip, port));
                }
            }
        }
        Some(_) => {
            return Err(TrackerError::Malformed(
                "peers is neither a string nor a list".into(),
            ));
        }
        None => {}
    }
    if let Some(p6) = root.get("peers6").and_then(Node::as_bytes) {
        compact_peers(p6, 18, &mut peers)?;
    }
    Ok(AnnounceReply {
        interval,
        min_interval: uint(root.get("min interval")),
        complete: uint(root.get("complete")),
        incomplete: uint(root.get("incomplete")),
        downloaded: uint(root.get("downloaded")),
        peers,
        warning: text("warning message"),
    })
}

/// Compact peers (BEP 23, BEP 7) appended to `out`, up to [`MAX_PEERS_PER_REPLY`].
fn compact_peers(b: &[u8], width: usize, out: &mut Vec<SocketAddr>) -> Result<(), TrackerError> {
    let room = MAX_PEERS_PER_REPLY.saturating_sub(out.len());
    let got = super::compact::decode(b, width, room)
        .map_err(|e| TrackerError::Malformed(e.to_string()))?;
    out.extend(got);
    Ok(())
}

/// Swarm counts from a scrape (BEP 48).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrapeCounts {
    /// Seeders.
    pub complete: u32,
    /// Leechers.
    pub incomplete: u32,
    /// Completed downloads.
    pub downloaded: u32,
}

/// Parses an HTTP scrape reply for one info-hash.
pub fn parse_scrape_reply(body: &[u8], ih: InfoHash) -> Result<ScrapeCounts, TrackerError> {
    if body.len() > MAX_REPLY_BYTES {
        return Err(TrackerError::TooLarge);
    }
    let root =
        bencode::decode(body, limits()).map_err(|e| TrackerError::Malformed(e.to_string()))?;
    if let Some(r) = root.get("failure reason").and_then(Node::as_bytes) {
        return Err(TrackerError::Failure(
            String::from_utf8_lossy(r).into_owned(),
        ));
    }
    let files = root
        .get("files")
        .and_then(Node::as_dict)
        .ok_or_else(|| TrackerError::Malformed("no files".into()))?;
    let entry = files
        .iter()
        .find(|(k, _)| *k == ih.0)
        .map(|(_, v)| v)
        .ok_or_else(|| TrackerError::Malformed("torrent not in scrape".into()))?;
    Ok(ScrapeCounts {
        complete: uint(entry.get("complete")).unwrap_or(0),
        incomplete: uint(entry.get("incomplete")).unwrap_or(0),
        downloaded: uint(entry.get("downloaded")).unwrap_or(0),
    })
}

/// BEP 15 (UDP trackers).
pub mod udp {
    use super::*;

    /// The magic connection id of a connect request.
    pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;

    /// A connect request.
    pub fn connect_request(transaction: u32) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&PROTOCOL_ID.to_be_bytes());
        b[12..].copy_from_slice(&transaction.to_be_bytes());
        b
    }

    /// An announce request.
    pub fn announce_request(connection: u64, transaction: u32, a: &Announce) -> [u8; 98] {
        let mut b = [0u8; 98];
        b[..8].copy_from_slice(&connection.to_be_bytes());
        b[8..12].copy_from_slice(&1u32.to_be_bytes());
        b[12..16].copy_from_slice(&transaction.to_be_bytes());
        b[16..36].copy_from_slice(&a.info_hash.0);
        b[36..56].copy_from_slice(&a.peer_id);
        b[56..64].copy_from_slice(&a.downloaded.to_be_bytes());
        b[64..72].copy_from_slice(&a.left.to_be_bytes());
        b[72..80].copy_from_slice(&a.uploaded.to_be_bytes());
        let event: u32 = match a.event {
            AnnounceEvent::None => 0,
            AnnounceEvent::Completed => 1,
            AnnounceEvent::Started => 2,
            AnnounceEvent::Stopped => 3,
        };
        b[80..84].copy_from_slice(&event.to_be_bytes());
        // 84..88: IP address 0 = the sender's.
        b[88..92].copy_from_slice(&a.key.to_be_bytes());
        b[92..96].copy_from_slice(&a.numwant.to_be_bytes());
        b[96..98].copy_from_slice(&a.port.to_be_bytes());
        b
    }

    /// A scrape request for one torrent.
    pub fn scrape_request(connection: u64, transaction: u32, ih: InfoHash) -> [u8; 36] {
        let mut b = [0u8; 36];
        b[..8].copy_from_slice(&connection.to_be_bytes());
        b[8..12].copy_from_slice(&2u32.to_be_bytes());
        b[12..16].copy_from_slice(&transaction.to_be_bytes());
        b[16..].copy_from_slice(&ih.0);
        b
    }

    /// A decoded UDP tracker response.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Response {
        /// Connect: the connection id to use for a minute.
        Connected(u64),
        /// Announce.
        Announced(AnnounceReply),
        /// Scrape.
        Scraped(ScrapeCounts),
        /// The tracker's error message.
        Error(String),
    }

    /// Decodes a response to `transaction`; `ipv6` says how wide compact peers are
    /// (the address family the request went over).
    pub fn parse_response(
        b: &[u8],
        transaction: u32,
        ipv6: bool,
    ) -> Result<Response, TrackerError> {
        let bad = |m: &str| TrackerError::Malformed(m.to_owned());
        if b.len() < 8 {
            return Err(bad("short UDP reply"));
        }
        let u32_at = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        if u32_at(4) != transaction {
            return Err(bad("transaction id mismatch"));
        }
        match u32_at(0) {
            0 if b.len() >= 16 => Ok(Response::Connected(u64::from_be_bytes(
                b[8..16].try_into().expect("8 bytes"),
            ))),
            1 if b.len() >= 20 => {
                let mut peers = Vec::new();
                compact_peers(&b[20..], if ipv6 { 18 } else { 6 }, &mut peers)?;
                Ok(Response::Announced(AnnounceReply {
                    interval: u32_at(8),
                    min_interval: None,
                    incomplete: Some(u32_at(12)),
                    complete: Some(u32_at(16)),
                    downloaded: None,
                    peers,
                    warning: None,
                }))
            }
            2 if b.len() >= 20 => Ok(Response::Scraped(ScrapeCounts {
                complete: u32_at(8),
                downloaded: u32_at(12),
                incomplete: u32_at(16),
            })),
            3 => Ok(Response::Error(
                String::from_utf8_lossy(&b[8..b.len().min(8 + 1024)]).into_owned(),
            )),
            _ => Err(bad("unknown or short UDP reply")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announce() -> Announce {
        Announce {
            info_hash: InfoHash([0xAB; 20]),
            peer_id: *b"-SR0100-abcdefghijkl",
            port: 6881,
            uploaded: 1,
            downloaded: 2,
            left: 3,
            event: AnnounceEvent::Started,
            numwant: 50,
            key: 0xdead_beef,
        }
    }

    #[test]
    fn announce_url_has_every_field() {
        let u = announce_url("http://127.0.0.1:6969/announce", &announce());
        assert!(u.starts_with("http://127.0.0.1:6969/announce?info_hash=%AB%AB"));
        for part in [
            "peer_id=-SR0100-abcdefghijkl",
            "port=6881",
            "uploaded=1",
            "downloaded=2",
            "left=3",
            "compact=1",
            "numwant=50",
            "event=started",
            "key=deadbeef",
        ] {
            assert!(u.contains(part), "{part} missing in {u}");
        }
        let u = announce_url("http://t/announce?passkey=x", &announce());
        assert!(u.starts_with("http://t/announce?passkey=x&info_hash="));
    }

    #[test]
    fn scrape_urls_follow_bep_48() {
        assert_eq!(
            scrape_url("http://t/announce").as_deref(),
            Some("http://t/scrape")
        );
        assert_eq!(
            scrape_url("http://t/x/announce.php?k=1").as_deref(),
            Some("http://t/x/scrape.php?k=1")
        );
        assert_eq!(scrape_url("http://t/a"), None);
    }

    #[test]
    fn compact_and_dictionary_peers() {
        let body = b"d8:intervali1800e12:min intervali60e8:completei3e10:downloadedi12e10:incompletei7e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x02\x00\x506:peers618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe2e";
        let r = parse_announce_reply(body).unwrap();
        assert_eq!(r.interval, 1800);
        assert_eq!(r.min_interval, Some(60));
        assert_eq!((r.complete, r.incomplete), (Some(3), Some(7)));
        assert_eq!(r.downloaded, Some(12));
        let want: Vec<SocketAddr> = vec![
            "127.0.0.1:6881".parse().unwrap(),
            "127.0.0.2:80".parse().unwrap(),
            "[::1]:6882".parse().unwrap(),
        ];
        assert_eq!(r.peers, want);
        let dict = b"d8:intervali900e5:peersld2:ip9:127.0.0.74:porti6881eed2:ip3:bad4:porti1eed2:ip9:127.0.0.84:porti0eeee";
        let r = parse_announce_reply(dict).unwrap();
        assert_eq!(
            r.peers,
            vec!["127.0.0.7:6881".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn failures_warnings_and_garbage() {
        assert_eq!(
            parse_announce_reply(b"d14:failure reason8:not heree"),
            Err(TrackerError::Failure("not here".into()))
        );
        let r = parse_announce_reply(b"d8:intervali60e15:warning message4:slowe").unwrap();
        assert_eq!(r.warning.as_deref(), Some("slow"));
        assert!(matches!(
            parse_announce_reply(b"<html>"),
            Err(TrackerError::Malformed(_))
        ));
        assert!(matches!(
            parse_announce_reply(b"d5:peers5:abcdee"),
            Err(TrackerError::Malformed(_))
        ));
        assert!(matches!(
            parse_announce_reply(b"de"),
            Err(TrackerError::Malformed(_))
        ));
        assert_eq!(
            parse_announce_reply(&vec![b'x'; MAX_REPLY_BYTES + 1]),
            Err(TrackerError::TooLarge)
        );
    }

    #[test]
    fn peer_count_is_capped() {
        let mut body =
            format!("d8:intervali60e5:peers{}:", 6 * (MAX_PEERS_PER_REPLY + 10)).into_bytes();
        for i in 0..MAX_PEERS_PER_REPLY + 10 {
            body.extend_from_slice(&[127, 0, 0, 1]);
            body.extend_from_slice(&u16::try_from(i + 1).unwrap().to_be_bytes());
        }
        body.push(b'e');
        assert_eq!(
            parse_announce_reply(&body).unwrap().peers.len(),
            MAX_PEERS_PER_REPLY
        );
    }

    #[test]
    fn scrape_reply() {
        let ih = InfoHash([1; 20]);
        let mut body = b"d5:filesd20:".to_vec();
        body.extend_from_slice(&ih.0);
        body.extend_from_slice(b"d8:completei5e10:downloadedi50e10:incompletei10eeee");
        assert_eq!(
            parse_scrape_reply(&body, ih).unwrap(),
            ScrapeCounts {
                complete: 5,
                incomplete: 10,
                downloaded: 50
            }
        );
        assert!(parse_scrape_reply(&body, InfoHash([2; 20])).is_err());
    }

    #[test]
    fn udp_round_trips() {
        let c = udp::connect_request(7);
        assert_eq!(&c[..8], &udp::PROTOCOL_ID.to_be_bytes());
        let mut resp = vec![0, 0, 0, 0, 0, 0, 0, 7];
        resp.extend_from_slice(&42u64.to_be_bytes());
        assert_eq!(
            udp::parse_response(&resp, 7, false).unwrap(),
            udp::Response::Connected(42)
        );
        assert!(udp::parse_response(&resp, 8, false).is_err());
        let a = udp::announce_request(42, 9, &announce());
        assert_eq!(u16::from_be_bytes([a[96], a[97]]), 6881);
        let mut ar = vec![0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 7, 8, 0, 0, 0, 1, 0, 0, 0, 2];
        ar.extend_from_slice(&[127, 0, 0, 5, 0x1a, 0xe1]);
        let udp::Response::Announced(r) = udp::parse_response(&ar, 9, false).unwrap() else {
            panic!()
        };
        assert_eq!(r.interval, 1800);
        assert_eq!(
            r.peers,
            vec!["127.0.0.5:6881".parse::<SocketAddr>().unwrap()]
        );
        let mut err = vec![0, 0, 0, 3, 0, 0, 0, 9];
        err.extend_from_slice(b"go away");
        assert_eq!(
            udp::parse_response(&err, 9, false).unwrap(),
            udp::Response::Error("go away".into())
        );
        assert!(udp::parse_response(&[0, 0, 0, 1, 0, 0, 0, 9, 1], 9, false).is_err());
    }
}
