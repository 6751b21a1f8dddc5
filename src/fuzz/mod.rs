//! Fuzz target bodies: one function per outside input, taking arbitrary bytes.
//!
//! Each function feeds its bytes to the code that parses that input and then
//! checks what must hold of any answer (a panic is a finding). The bodies live
//! here, not in `fuzz/`, so that two harnesses run the very same code:
//! `fuzz/fuzz_targets/*.rs` (cargo-fuzz on nightly, `scripts/fuzz SECONDS`) and
//! `tests/fuzz_corpus.rs`, which replays every committed seed and every saved
//! crash (`fuzz/regressions/<target>/`) on stable in the normal test command.
//!
//! | target | input |
//! |---|---|
//! | [`bencode`] | the bencode decoder |
//! | [`metainfo`] | a `.torrent` file, its path sanitiser, its `info` dictionary |
//! | [`path`] | one path component from a torrent |
//! | [`magnet`] | a magnet link |
//! | [`wire`] | the peer message decoder, fed in pieces |
//! | [`ext`] | the extension handshake and ut_metadata messages |
//! | [`pex`] | peer exchange (ut_pex) messages |
//! | [`krpc`] | DHT packets: the codec, and a DHT node fed them |
//! | [`lsd`] | local service discovery datagrams |
//! | [`mse`](mse::mse) | the MSE handshake's two ends |
//! | [`utp`](utp::utp) | uTP datagrams to an endpoint; two endpoints over a path the input drives |
//! | [`tracker_http`] | an HTTP tracker's announce and scrape replies |
//! | [`tracker_udp`] | a UDP tracker's reply packets |
//! | [`record`] | the resume records read back from the session store |
//! | [`config`] | the daemon's configuration file |
//! | [`ipfilter`] | an IP filter file (a blocklist) |
//! | [`peer`](peer::peer) | the core's peer connection after a valid handshake |
//! | [`peer_raw`](peer::peer_raw) | the core's peer connection from its first byte |
//! | [`api`](api::api) | the admin REST and qBittorrent API requests |
//! | [`qbt_resume`](migrate::qbt_resume) | qBittorrent's saved torrents, read for `import-qbittorrent` |
//! | [`rt_session`](migrate::rt_session) | rTorrent's session files, read for `import-rtorrent` |
//! | [`tr_resume`](migrate::tr_resume) | Transmission's saved torrents, read for `import-transmission` |
//! | [`deluge_state`](migrate::deluge_state) | Deluge's saved state (a pickle, resume data, labels), read for `import-deluge` |

pub mod api;
pub mod migrate;
pub mod mse;
pub mod peer;
pub mod utp;
pub mod v2hash;

use crate::bencode::{self, Node, OwnedValue, Value};
use crate::core::record::{self, StateRecord};
use crate::metainfo::{
    self, MAX_MAGNET_LEN, Magnet, Metainfo, MetainfoLimits, path::NAME_MAX_BYTES,
};
use crate::proto::MessageDecoder;
use crate::proto::ext::{ExtHandshake, UtMetadata};
use crate::proto::tracker::{self, udp};
use crate::types::InfoHash;

/// The bencode decoder: every node's raw bytes are the input at its offset, and
/// the canonical re-encoding of what was decoded decodes to the same value.
pub fn bencode(data: &[u8]) {
    let limits = bencode::Limits::default();
    if let Ok((node, used)) = bencode::decode_prefix(data, limits) {
        assert!(used <= data.len());
        assert_eq!(node.raw(), &data[..used]);
        check_raw(&node, data);
        let once = owned(&node).encode();
        let again = bencode::decode(&once, limits).expect("canonical output decodes");
        assert_eq!(owned(&again).encode(), once, "canonical encoding is stable");
    }
    if let Ok(node) = bencode::decode(data, limits) {
        assert_eq!(node.raw(), data);
    }
}

fn check_raw(node: &Node<'_>, input: &[u8]) {
    let at = node.offset();
    assert_eq!(&input[at..at + node.raw().len()], node.raw());
    match &node.value {
        Value::List(items) => items.iter().for_each(|n| check_raw(n, input)),
        Value::Dict(entries) => entries.iter().for_each(|(_, n)| check_raw(n, input)),
        Value::Int(_) | Value::Bytes(_) => {}
    }
}

fn owned(node: &Node<'_>) -> OwnedValue {
    match &node.value {
        Value::Int(i) => OwnedValue::Int(*i),
        Value::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
        Value::List(items) => OwnedValue::List(items.iter().map(owned).collect()),
        // A later duplicate key wins here; the first one would do as well.
        Value::Dict(entries) => OwnedValue::Dict(
            entries
                .iter()
                .map(|(k, v)| (k.to_vec(), owned(v)))
                .collect(),
        ),
    }
}

/// A `.torrent` file: what is accepted has safe paths (no `..`, no separator, no
/// empty or over-long component), a geometry that covers the files exactly, and
/// an info-hash that is the SHA-1 of the `info` bytes kept; its `info` parsed
/// alone (as a magnet's metadata is) gives the same torrent.
pub fn metainfo(data: &[u8]) {
    let Ok(m) = Metainfo::from_bytes(data) else {
        return;
    };
    check_info(&m.info, true);
    assert_eq!(m.info_hash, InfoHash(crate::hash::sha1(&m.info_bytes)));
    let (ih, info) = metainfo::parse_info_bytes(&m.info_bytes, &MetainfoLimits::default())
        .expect("the info it accepted parses alone");
    assert_eq!(ih, m.info_hash);
    assert_eq!(info.files, m.info.files);
    for url in m.trackers() {
        assert!(!url.is_empty());
    }
}

/// What holds of any torrent's files and geometry (`hashed`: its piece hashes
/// are there too; a layout record has none).
fn check_info(info: &metainfo::Info, hashed: bool) {
    let g = &info.geometry;
    assert_eq!(g.file_count(), info.files.len());
    if hashed {
        assert_eq!(info.pieces.len(), g.piece_count() as usize);
    }
    let total: u64 = info.files.iter().map(|f| f.length).sum();
    assert_eq!(g.total_length(), total);
    check_component(&info.name);
    for f in &info.files {
        assert!(!f.path.is_empty());
        f.path.parts().for_each(check_component);
        if info.multi_file && info.content_layout != metainfo::ContentLayout::NoSubfolder {
            assert_eq!(f.path.first(), Some(info.name.as_str()));
        }
    }
    for p in 0..g.piece_count() {
        let len = g.piece_len(p);
        assert!(len > 0 && len <= g.piece_length());
        let spans: u64 = g.piece_spans(p).map(|s| u64::from(s.len)).sum();
        assert_eq!(spans, u64::from(len));
    }
}

fn check_component(c: &str) {
    assert!(!c.is_empty() && c != "." && c != "..", "{c:?}");
    assert!(!c.contains(['/', '\\', '\0']), "{c:?}");
    assert!(c.len() <= NAME_MAX_BYTES, "{} bytes", c.len());
}

/// One path component: a kept one is safe, and sanitising it again keeps it.
pub fn path(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    if let Ok(Some(c)) = metainfo::path::sanitize_component(&raw) {
        check_component(&c);
        assert_eq!(
            metainfo::path::sanitize_component(&c),
            Ok(Some(c.clone())),
            "idempotent"
        );
    }
}

/// A magnet link: what is accepted has bounded, non-empty parts.
pub fn magnet(data: &[u8]) {
    let Ok(uri) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = Magnet::parse(uri) {
        assert!(uri.len() <= MAX_MAGNET_LEN);
        assert!(m.trackers.iter().all(|t| !t.is_empty()));
        assert!(m.trackers.len() + m.peers.len() <= uri.len());
        assert!(m.select_only.iter().all(|r| r.start() <= r.end()));
    }
}

/// The peer message decoder, fed the input in pieces of sizes the input picks:
/// every message it yields re-encodes to the bytes it came from, the same bytes
/// read in place ([`MessageDecoder::next_in`], as the core reads them) give the
/// same messages and the same error, and after an error it is not asked again
/// (the connection is closed).
pub fn wire(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (fast, extended) = (flags & 1 != 0, flags & 2 != 0);
    let max = if flags & 4 != 0 { 0 } else { 1 << 20 };
    let mut dec = MessageDecoder::new(max, fast, extended);
    let mut in_place = MessageDecoder::new(max, fast, extended);
    let mut consumed = Vec::new();
    let mut fed = Vec::new();
    let (mut whole, mut lent) = (Vec::new(), Vec::new());
    for chunk in chunks(rest) {
        dec.feed(chunk);
        fed.extend_from_slice(chunk);
        let whole_error = loop {
            match dec.next_message() {
                Ok(Some(m)) => {
                    m.encode_into(&mut consumed);
                    whole.push(m);
                }
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        let mut input = chunk;
        let lent_error = loop {
            match in_place.next_in(&mut input) {
                Ok(Some(frame)) => lent.push(frame.into_message()),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        assert_eq!(whole, lent);
        assert_eq!(whole_error, lent_error);
        if whole_error.is_some() {
            return;
        }
        assert!(input.is_empty());
        assert_eq!(dec.pending(), in_place.pending());
        assert_eq!(consumed.len() + dec.pending().len(), fed.len());
    }
    assert_eq!(consumed[..], fed[..consumed.len()]);
}

/// Splits an input into pieces: each piece's length is its first byte (so the
/// fuzzer chooses where a read ends, as the network does).
pub(crate) fn chunks(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (&n, tail) = rest.split_first()?;
        let n = (usize::from(n) + 1).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        rest = after;
        Some(chunk)
    })
}

/// The extension handshake and ut_metadata: what decodes re-encodes to
/// something that decodes to the same value.
pub fn ext(data: &[u8]) {
    if let Ok(h) = ExtHandshake::decode(data) {
        assert_eq!(ExtHandshake::decode(&h.encode()), Ok(h));
    }
    if let Ok(m) = UtMetadata::decode(data) {
        assert_eq!(UtMetadata::decode(&m.encode()), Ok(m));
    }
}

/// A peer exchange message: bounded lists, and what is read writes out and reads
/// back the same.
pub fn pex(data: &[u8]) {
    use crate::proto::pex::{PEX_MAX_READ, Pex};
    if let Ok(m) = Pex::decode(data) {
        assert!(m.added.len() <= 2 * PEX_MAX_READ);
        assert!(m.dropped.len() <= 2 * PEX_MAX_READ);
        assert!(m.added.iter().all(|(a, _)| a.port() != 0));
        let back = Pex::decode(&m.encode()).expect("our own encoding");
        assert_eq!(
            (back.added, back.dropped, back.cut),
            (m.added, m.dropped, 0)
        );
    }
}

/// DHT packets: what decodes encodes back the same; a node fed a stream of
/// packets from a few addresses (with ticks between) answers each with at most
/// one well-formed packet of bounded size.
pub fn krpc(data: &[u8]) {
    use crate::dht::krpc::{MAX_PACKET, Packet};
    use crate::dht::{Dht, DhtAction, DhtConfig};
    use crate::types::Time;
    if let Ok(p) = Packet::decode(data) {
        assert_eq!(Packet::decode(&p.encode()), Ok(p));
    }
    let mut node = Dht::new(DhtConfig::default(), 1, Time::ZERO, Default::default());
    let mut now = Time::ZERO;
    let mut rest = data;
    // Records: `0xff` is a tick of 7 s; any other byte picks the sender (its
    // low two bits) and is followed by the packet's length and bytes.
    while let Some((&head, tail)) = rest.split_first() {
        let mut out = Vec::new();
        if head == 0xff {
            rest = tail;
            now = now + std::time::Duration::from_secs(7);
            node.on_tick(now, &mut out);
        } else {
            let Some((&len, tail)) = tail.split_first() else {
                break;
            };
            let (packet, tail) = tail.split_at(usize::from(len).min(tail.len()));
            rest = tail;
            let from = std::net::SocketAddr::from(([203, 0, 113, head & 3], 6881));
            node.on_packet(now, from, packet, &mut out);
            let replies = out
                .iter()
                .filter(|a| matches!(a, DhtAction::Send { to, .. } if *to == from))
                .count();
            assert!(replies <= 2, "one answer, and maybe a ping");
        }
        for a in out {
            if let DhtAction::Send { bytes, .. } = a {
                assert!(bytes.len() <= MAX_PACKET);
                Packet::decode(&bytes).expect("we send what we can read");
            }
        }
    }
}

/// An IP filter file: read whole, any bytes; its ranges merged so that
/// adding the same list again changes nothing, and every lookup answers.
pub fn ipfilter(data: &[u8]) {
    use crate::ipfilter::IpFilter;
    let text = String::from_utf8_lossy(data);
    let p = IpFilter::parse(&text);
    assert!(p.skipped <= text.lines().count());
    assert_eq!(p.first_skipped.is_some(), p.skipped > 0);
    let mut again = p.filter.clone();
    again.extend(&p.filter);
    assert_eq!(again, p.filter, "merging a list with itself changed it");
    for chunk in data.chunks(16) {
        let mut v6 = [0u8; 16];
        v6[..chunk.len()].copy_from_slice(chunk);
        // Only that they answer (a panic is the finding).
        std::hint::black_box(p.filter.blocks(std::net::IpAddr::from(v6)));
        let v4 = std::net::IpAddr::from([v6[0], v6[1], v6[2], v6[3]]);
        std::hint::black_box(p.filter.blocks(v4));
    }
}

/// A local service discovery datagram: what is read writes out and reads back
/// the same, within the bounds.
pub fn lsd(data: &[u8]) {
    use crate::proto::lsd::{LSD_V4, LsdAnnounce, MAX_LSD_HASHES};
    if let Ok(a) = LsdAnnounce::decode(data) {
        assert!(a.port != 0 && !a.info_hashes.is_empty());
        assert!(a.info_hashes.len() <= MAX_LSD_HASHES);
        let back = LsdAnnounce::decode(&a.encode(LSD_V4)).expect("our own encoding");
        // A cookie is written as it was read, minus what a line cannot hold.
        if a.cookie
            .as_deref()
            .is_none_or(|c| !c.contains(['\r', '\n']))
        {
            assert_eq!(back, a);
        }
    }
}

/// An HTTP tracker's replies: peers bounded by the body and the cap; nothing
/// accepted that is not one bencoded value within the reply cap.
pub fn tracker_http(data: &[u8]) {
    let well_formed = || {
        data.len() <= tracker::MAX_REPLY_BYTES
            && bencode::decode(data, bencode::Limits::default()).is_ok()
    };
    if let Ok(r) = tracker::parse_announce_reply(data) {
        assert!(r.peers.len() <= tracker::MAX_PEERS_PER_REPLY);
        assert!(r.peers.len() <= data.len() / 6);
        assert!(well_formed());
    }
    if tracker::parse_scrape_reply(data, InfoHash([7; 20])).is_ok() {
        assert!(well_formed());
    }
}

/// A UDP tracker's reply, to a transaction and family the input picks.
pub fn tracker_udp(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let tx = rest
        .get(4..8)
        .map_or(0, |b| u32::from_be_bytes(b.try_into().expect("4 bytes")));
    // Most of the time the transaction matches, so the parser gets past it.
    let tx = if flags & 2 != 0 { tx ^ 1 } else { tx };
    if let Ok(udp::Response::Announced(r)) = udp::parse_response(rest, tx, flags & 1 != 0) {
        assert!(r.peers.len() <= tracker::MAX_PEERS_PER_REPLY);
        assert!(r.peers.len() <= rest.len() / 6);
    }
}

/// The records read back from the session store: a state record, a peer list
/// and the catalog that decode re-encode to what decodes the same; a layout
/// record that decodes has safe paths and a sound geometry, and survives its
/// own round trip.
pub fn record(data: &[u8]) {
    if let Ok(r) = StateRecord::decode(data) {
        assert_eq!(StateRecord::decode(&r.encode()).as_ref(), Ok(&r));
    }
    if let Ok(p) = record::decode_peers(data) {
        assert_eq!(record::decode_peers(&record::encode_peers(&p)), Ok(p));
    }
    if let Ok(l) = crate::core::layout::decode_layout(data) {
        check_info(&l.info, false);
        let again = crate::core::layout::decode_layout(&crate::core::layout::encode_layout(
            &l.info,
            l.metadata_size,
        ))
        .expect("a layout it wrote decodes");
        assert_eq!(again.info.files, l.info.files);
        assert_eq!(again.metadata_size, l.metadata_size);
    }
    if let Ok(c) = crate::engine::catalog::Catalog::decode(data) {
        assert_eq!(
            crate::engine::catalog::Catalog::decode(&c.encode())
                .as_ref()
                .ok(),
            Some(&c)
        );
    }
}

/// The daemon's configuration file: what is accepted passes its own checks
/// again once written out and read back.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let at = std::path::Path::new("/fuzz/seedring.toml");
    if let Ok(c) = crate::daemon::config::Config::parse(text, at) {
        let again = toml::to_string(&c).expect("a config writes out");
        assert_eq!(
            crate::daemon::config::Config::parse(&again, at)
                .as_ref()
                .ok(),
            Some(&c)
        );
    }
}
