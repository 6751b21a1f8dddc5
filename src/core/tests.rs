//! The core against a scripted peer: raw bytes in, actions checked.

use super::*;
use crate::metainfo::{CreateLayout, CreateOptions, build_torrent};

pub(super) const PIECE: u32 = 32 * 1024;

fn seeding_core() -> (Core, InfoHash, u32) {
    core_having(true)
}

/// A core with one torrent of 200,000 bytes: all of it, or none.
fn core_having(all: bool) -> (Core, InfoHash, u32) {
    core_having_with(all, CoreConfig::default())
}

/// [`core_having`] with its configuration.
pub(super) fn core_having_with(all: bool, cfg: CoreConfig) -> (Core, InfoHash, u32) {
    core_sized(200_000, all, cfg)
}

/// A one-file torrent of `len` bytes (byte `i` is `i as u8`).
pub(super) fn sized_meta(len: u32) -> Metainfo {
    let data: Vec<u8> = (0..len).map(|i| i.to_le_bytes()[0]).collect();
    let pieces: Vec<[u8; 20]> = data.chunks(PIECE as usize).map(hash::sha1).collect();
    let layout = CreateLayout {
        name: "t.bin".into(),
        files: None,
        length: data.len() as u64,
    };
    build_torrent(&layout, PIECE, &pieces, &CreateOptions::default())
        .unwrap()
        .1
}

/// [`core_having_with`] with a torrent of `len` bytes (byte `i` is `i as u8`).
pub(super) fn core_sized(len: u32, all: bool, cfg: CoreConfig) -> (Core, InfoHash, u32) {
    let meta = sized_meta(len);
    let n = meta.info.geometry.piece_count();
    let mut core = Core::new(cfg);
    let mut out = Vec::new();
    let ih = core
        .add_torrent(
            Time::ZERO,
            AddTorrent {
                have: Some(if all {
                    Bitfield::full(n)
                } else {
                    Bitfield::new(n)
                }),
                ..AddTorrent::new(TorrentSource::Metainfo(Arc::new(meta)), "/r")
            },
            &mut out,
        )
        .unwrap();
    (core, ih, n)
}

/// Connects a scripted inbound peer and completes its handshake.
pub(super) fn connect(core: &mut Core, ih: InfoHash, fast: bool) -> PeerKey {
    connect_with(core, ih, fast).0
}

/// [`connect`], with what the core sent back to the handshake.
pub(super) fn connect_with(core: &mut Core, ih: InfoHash, fast: bool) -> (PeerKey, Vec<Action>) {
    let key = core
        .on_incoming(Time::ZERO, "127.0.0.9:5000".parse().unwrap())
        .unwrap();
    // A peer id of its own per connection (the core refuses a second connection
    // from the same peer).
    let mut id = [42u8; 20];
    id[..8].copy_from_slice(&key.0.to_be_bytes());
    let mut hs = Handshake::new(ih, id);
    if !fast {
        hs.reserved[7] &= !0x04;
    }
    let out = raw(core, key, &hs.encode());
    assert!(
        out.iter().any(|a| matches!(a, Action::Send { .. })),
        "{out:?}"
    );
    assert!(!closed(&out));
    (key, out)
}

/// Raw bytes from the peer; the actions they cause.
pub(super) fn raw(core: &mut Core, key: PeerKey, bytes: &[u8]) -> Vec<Action> {
    raw_at(core, Time::ZERO, key, bytes)
}

/// [`raw`] at `now`.
pub(super) fn raw_at(core: &mut Core, now: Time, key: PeerKey, bytes: &[u8]) -> Vec<Action> {
    let mut out = Vec::new();
    core.on_event(now, Event::Data { peer: key, bytes }, &mut out);
    out
}

pub(super) fn feed(core: &mut Core, key: PeerKey, msgs: &[Message]) -> Vec<Action> {
    feed_at(core, Time::ZERO, key, msgs)
}

/// Messages from the peer at `now`; the actions they cause.
pub(super) fn feed_at(core: &mut Core, now: Time, key: PeerKey, msgs: &[Message]) -> Vec<Action> {
    let mut bytes = Vec::new();
    for m in msgs {
        m.encode_into(&mut bytes);
    }
    raw_at(core, now, key, &bytes)
}

/// The messages sent to `key` in `out`.
pub(super) fn sent_to(out: &[Action], key: PeerKey) -> Vec<Message> {
    let mut got = Vec::new();
    for a in out {
        if let Action::Send { peer, bytes } = a
            && *peer == key
        {
            let mut d = MessageDecoder::new(1 << 20, true, true);
            d.feed(bytes);
            while let Ok(Some(m)) = d.next_message() {
                got.push(m);
            }
        }
    }
    got
}

pub(super) fn closed(out: &[Action]) -> bool {
    out.iter().any(|a| matches!(a, Action::Close { .. }))
}

fn reads(out: &[Action]) -> usize {
    out.iter()
        .filter(|a| matches!(a, Action::ReadBlock { .. }))
        .count()
}

pub(super) fn sent_contains(out: &[Action], msg: &Message) -> bool {
    let want = msg.encode();
    out.iter().any(|a| match a {
        Action::Send { bytes, .. } => bytes.windows(want.len()).any(|w| w == want),
        _ => false,
    })
}

fn req(piece: u32, offset: u32, len: u32) -> BlockRequest {
    BlockRequest { piece, offset, len }
}

/// Where `msg` first starts in what `out` sends (all sends in order).
fn sent_at(out: &[Action], msg: &Message) -> Option<usize> {
    let want = msg.encode();
    let all: Vec<u8> = out
        .iter()
        .filter_map(|a| match a {
            Action::Send { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    all.windows(want.len()).position(|w| w == want)
}

#[test]
fn a_peer_is_unchoked_with_our_pieces_while_a_slot_is_free() {
    let (mut core, ih, _) = seeding_core();
    let (key, out) = connect_with(&mut core, ih, true);
    // After the have-all (which must come first), before they ask: their
    // requests can come with their `interested`.
    let have = sent_at(&out, &Message::HaveAll).expect("have-all sent");
    let unchoke = sent_at(&out, &Message::Unchoke).expect("unchoked at the handshake");
    assert!(have < unchoke, "{out:?}");
    let msgs = [
        Message::HaveNone,
        Message::Interested,
        Message::Request(req(1, 16384, 16384)),
    ];
    let out = feed(&mut core, key, &msgs);
    assert!(!sent_contains(&out, &Message::Unchoke), "unchoked twice");
    assert_eq!(reads(&out), 1);
}

#[test]
fn without_a_free_slot_a_peer_is_unchoked_only_by_the_choker() {
    let (mut core, ih, _) = seeding_core();
    core.torrents.get_mut(&ih).unwrap().upload_slots = 0;
    let (key, out) = connect_with(&mut core, ih, true);
    assert!(!sent_contains(&out, &Message::Unchoke));
    let out = feed(&mut core, key, &[Message::HaveNone, Message::Interested]);
    assert!(!sent_contains(&out, &Message::Unchoke));
}

#[test]
fn with_nothing_to_give_no_one_is_unchoked_at_the_handshake() {
    let (mut core, ih, _) = core_having(false);
    let (_, out) = connect_with(&mut core, ih, true);
    assert!(!sent_contains(&out, &Message::Unchoke), "{out:?}");
}

#[test]
fn under_a_download_cap_only_what_the_budget_allows_is_started() {
    let (mut core, ih, _) = core_having(false);
    // 16 KiB/s: a budget of one block now.
    core.set_torrent_limits(Time::ZERO, ih, Some(16 * 1024), Some(0))
        .unwrap();
    let key = connect(&mut core, ih, true);
    let out = feed(&mut core, key, &[Message::HaveAll, Message::Unchoke]);
    let asked = out
        .iter()
        .filter_map(|a| match a {
            Action::Send { bytes, .. } => Some(
                bytes
                    .windows(5)
                    .filter(|w| w[..4] == [0, 0, 0, 13] && w[4] == 6)
                    .count(),
            ),
            _ => None,
        })
        .sum::<usize>();
    assert_eq!(asked, 1, "{out:?}");
    // Pieces started and refused by the budget would wait, half asked, behind
    // the ones started later.
    assert_eq!(core.torrents[&ih].picker.in_progress().count(), 1);
}

#[test]
fn a_block_read_for_a_peer_choked_meanwhile_is_rejected_not_dropped() {
    let (mut core, ih, _) = seeding_core();
    let key = connect(&mut core, ih, true);
    feed(&mut core, key, &[Message::HaveNone, Message::Interested]);
    let r = req(1, 16384, 16384);
    let out = feed(&mut core, key, &[Message::Request(r)]);
    assert_eq!(reads(&out), 1);
    // Choked while the disk read ran (the choker's round).
    core.peers.get_mut(&key).unwrap().am_choking = true;
    let mut out = Vec::new();
    let read = Event::BlockRead {
        peer: key,
        info_hash: ih,
        req: r,
        result: Ok(vec![0; 16384]),
    };
    core.on_event(Time::ZERO, read, &mut out);
    // Without the reject, the peer would wait for the block until it timed out.
    assert!(sent_contains(&out, &Message::Reject(r)), "{out:?}");
    assert!(!sent_contains(
        &out,
        &Message::Piece {
            piece: 1,
            offset: 16384,
            data: vec![0; 16384]
        }
    ));
}

#[test]
fn oversized_out_of_range_and_unaligned_requests_are_rejected_never_served() {
    let (mut core, ih, n) = seeding_core();
    let key = connect(&mut core, ih, true);
    feed(&mut core, key, &[Message::HaveNone, Message::Interested]);
    let last_len = 200_000 - (n - 1) * PIECE;
    for bad in [
        req(0, 0, 32 * 1024),          // over 16 KiB
        req(n, 0, 16384),              // no such piece
        req(0, PIECE - 100, 16384),    // runs past the piece
        req(n - 1, last_len - 10, 20), // past the end of the short last piece
        req(0, 0, 0),                  // empty
    ] {
        let out = feed(&mut core, key, &[Message::Request(bad)]);
        assert_eq!(reads(&out), 0, "{bad:?} was served");
        assert!(
            sent_contains(&out, &Message::Reject(bad)),
            "{bad:?} not rejected"
        );
        assert!(!closed(&out));
    }
}

#[test]
fn requests_while_choked_are_rejected() {
    let (mut core, ih, _) = seeding_core();
    // No slot free: choked.
    core.torrents.get_mut(&ih).unwrap().upload_slots = 0;
    let key = connect(&mut core, ih, true);
    let r = req(0, 0, 16384);
    let out = feed(&mut core, key, &[Message::HaveNone, Message::Request(r)]);
    assert_eq!(reads(&out), 0);
    assert!(sent_contains(&out, &Message::Reject(r)));
}

#[test]
fn protocol_violations_close_only_that_peer() {
    let cases: Vec<(&str, Vec<Message>, bool)> = vec![
        (
            "have out of range",
            vec![Message::HaveNone, Message::Have(1000)],
            true,
        ),
        (
            "bitfield of the wrong length",
            vec![Message::Bitfield(vec![0xff; 9])],
            true,
        ),
        (
            "bitfield with spare bits set",
            vec![Message::Bitfield(vec![0xff])],
            true,
        ),
        (
            "bitfield after other messages",
            vec![Message::Interested, Message::Bitfield(vec![0])],
            true,
        ),
        (
            "have-all without fast extension",
            vec![Message::HaveAll],
            false,
        ),
    ];
    for (name, msgs, fast) in cases {
        let (mut core, ih, _) = seeding_core();
        let other = connect(&mut core, ih, true);
        let key = connect(&mut core, ih, fast);
        let out = feed(&mut core, key, &msgs);
        assert!(
            out.iter()
                .any(|a| matches!(a, Action::Close { peer, .. } if *peer == key)),
            "{name}: not closed: {out:?}"
        );
        assert!(
            !out.iter()
                .any(|a| matches!(a, Action::Close { peer, .. } if *peer == other)),
            "{name}: closed an innocent peer"
        );
    }
}

#[test]
fn garbage_on_the_wire_closes_the_peer() {
    for bytes in [
        vec![0xff, 0xff, 0xff, 0xff, 7], // length prefix far past any message
        vec![0, 0, 0, 1, 99],            // unknown id
        vec![0, 0, 0, 3, 4, 0, 0],       // have with two bytes
    ] {
        let (mut core, ih, _) = seeding_core();
        let key = connect(&mut core, ih, true);
        let out = raw(&mut core, key, &bytes);
        assert!(closed(&out), "{bytes:?}");
    }
}

#[test]
fn handshakes_for_unknown_torrents_or_ourselves_are_refused() {
    let (mut core, _, _) = seeding_core();
    let key = core
        .on_incoming(Time::ZERO, "127.0.0.9:1".parse().unwrap())
        .unwrap();
    let hs = Handshake::new(InfoHash([9; 20]), [1; 20]).encode();
    let out = raw(&mut core, key, &hs);
    assert!(matches!(
        out.last(),
        Some(Action::Close {
            reason: CloseReason::BadHandshake,
            ..
        })
    ));

    let (mut core, ih, _) = seeding_core();
    let key = core
        .on_incoming(Time::ZERO, "127.0.0.9:1".parse().unwrap())
        .unwrap();
    let me = core.config().peer_id;
    let hs = Handshake::new(ih, me).encode();
    let out = raw(&mut core, key, &hs);
    assert!(matches!(
        out.last(),
        Some(Action::Close {
            reason: CloseReason::SelfConnection,
            ..
        })
    ));
}

#[test]
fn a_peer_that_does_not_read_stops_getting_blocks() {
    let (mut core, ih, _) = seeding_core();
    let key = connect(&mut core, ih, true);
    feed(&mut core, key, &[Message::HaveNone, Message::Interested]);
    // 100 valid requests (1.6 MiB): every read is answered at once, but the driver
    // never reports anything as sent, as with a peer that stopped reading.
    let reqs: Vec<Message> = (0..100u32)
        .map(|i| Message::Request(req(i % 6, (i / 6 % 2) * 16384, 16384)))
        .collect();
    let read_reqs = |out: &[Action]| -> Vec<BlockRequest> {
        out.iter()
            .filter_map(|a| match a {
                Action::ReadBlock { req, .. } => Some(*req),
                _ => None,
            })
            .collect()
    };
    let mut pending = read_reqs(&feed(&mut core, key, &reqs));
    let mut served = 0usize;
    while let Some(r) = pending.pop() {
        let mut out = Vec::new();
        let ev = Event::BlockRead {
            peer: key,
            info_hash: ih,
            req: r,
            result: Ok(vec![0; 16384]),
        };
        core.on_event(Time::ZERO, ev, &mut out);
        served += 1;
        pending.extend(read_reqs(&out));
    }
    let bound = MAX_SEND_BACKLOG + READS_PER_PEER as usize * 16384;
    assert!(served * 16384 <= bound, "served {served} blocks");
    assert!(served < 100, "the backlog bound never applied");
    // Once the driver reports the bytes sent, uploads resume.
    let mut out = Vec::new();
    let ev = Event::Sent {
        peer: key,
        bytes: served * (16384 + 13),
    };
    core.on_event(Time::ZERO, ev, &mut out);
    assert!(reads(&out) > 0, "uploads did not resume");
}

/// The blocks a batch of actions sends straight from the files.
fn file_sends(out: &[Action]) -> Vec<BlockRequest> {
    out.iter()
        .filter_map(|a| match a {
            Action::SendBlock { req, .. } => Some(*req),
            _ => None,
        })
        .collect()
}

/// A seeding core whose driver sends blocks from the files, a peer asking for
/// 100 blocks (1.6 MiB) over `transport`; the actions of its requests.
fn hundred_requests(transport: Transport) -> (Core, InfoHash, PeerKey, Vec<Action>) {
    let cfg = CoreConfig {
        send_from_files: true,
        ..CoreConfig::default()
    };
    let (mut core, ih, _) = core_having_with(true, cfg);
    let key = connect(&mut core, ih, true);
    core.set_transport(key, transport);
    feed(&mut core, key, &[Message::HaveNone, Message::Interested]);
    let reqs: Vec<Message> = (0..100u32)
        .map(|i| Message::Request(req(i % 6, (i / 6 % 2) * 16384, 16384)))
        .collect();
    let out = feed(&mut core, key, &reqs);
    (core, ih, key, out)
}

#[test]
fn a_plaintext_tcp_peer_gets_blocks_straight_from_the_files_up_to_the_backlog() {
    let (mut core, ih, key, out) = hundred_requests(Transport::Tcp);
    assert_eq!(reads(&out), 0, "nothing is read for the core");
    let first = file_sends(&out);
    // Counted as they are handed over: at most the send backlog's worth.
    let per = 16384 + PIECE_HEAD;
    assert_eq!(first.len(), MAX_SEND_BACKLOG.div_ceil(per), "{first:?}");
    let up = core.stats(Time::ZERO, ih).unwrap().uploaded;
    assert_eq!(up, first.len() as u64 * 16384);
    // The driver reports them sent: the rest follow, each request once.
    let mut out = Vec::new();
    let ev = Event::Sent {
        peer: key,
        bytes: first.len() * per,
    };
    core.on_event(Time::ZERO, ev, &mut out);
    let second = file_sends(&out);
    assert_eq!(first.len() + second.len(), 100);
    assert_eq!(reads(&out), 0);
}

#[test]
fn a_utp_peer_gets_blocks_read_for_the_core_first() {
    let (_, _, _, out) = hundred_requests(Transport::Utp);
    assert!(file_sends(&out).is_empty());
    assert_eq!(reads(&out), READS_PER_PEER as usize);
}

#[test]
fn a_block_the_driver_could_not_send_from_its_file_asks_for_a_root_check() {
    let (mut core, ih, key, out) = hundred_requests(Transport::Tcp);
    let r = file_sends(&out)[0];
    let mut out = Vec::new();
    let ev = Event::BlockRead {
        peer: key,
        info_hash: ih,
        req: r,
        result: Err(DiskError("the file ended early".into())),
    };
    core.on_event(Time::ZERO, ev, &mut out);
    assert!(
        out.iter().any(|a| matches!(a, Action::CheckRoots { .. })),
        "{out:?}"
    );
}

/// Requests (`request` messages) the core sent in `out`.
fn requests_sent(out: &[Action]) -> usize {
    out.iter()
        .map(|a| match a {
            Action::Send { bytes, .. } => bytes
                .windows(5)
                .filter(|w| w[..4] == [0, 0, 0, 13] && w[4] == 6)
                .count(),
            _ => 0,
        })
        .sum()
}

/// The blocks asked of `key` in `out`.
fn requests_to(out: &[Action], key: PeerKey) -> Vec<BlockRequest> {
    sent_to(out, key)
        .into_iter()
        .filter_map(|m| match m {
            Message::Request(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[test]
fn under_a_download_cap_a_peer_with_nothing_asked_gets_its_share() {
    let (mut core, ih, _) = core_having(false);
    // 64 KiB/s: a block's worth regained each quarter second.
    core.set_torrent_limits(Time::ZERO, ih, Some(64 * 1024), Some(0))
        .unwrap();
    let a = connect(&mut core, ih, true);
    let out = feed(&mut core, a, &[Message::HaveAll, Message::Unchoke]);
    assert!(requests_sent(&out) >= 1, "{out:?}");
    let b = connect(&mut core, ih, true);
    let out = feed(&mut core, b, &[Message::HaveAll, Message::Unchoke]);
    assert_eq!(requests_sent(&out), 0, "the budget is spent");
    // A answers every request at once, B none. A asks again as each of its
    // blocks arrives, which is before the tick; B asks only at the tick.
    let mut now = Time::ZERO;
    for _ in 0..20 {
        now = now + Duration::from_millis(50);
        let asked: Vec<BlockRequest> = core.peers[&a].inflight.iter().map(|f| f.req).collect();
        let mut bytes = Vec::new();
        for r in asked {
            // The torrent's own bytes (see `core_having_with`).
            let at = r.piece * PIECE + r.offset;
            let block = Message::Piece {
                piece: r.piece,
                offset: r.offset,
                data: (at..at + r.len).map(|i| i.to_le_bytes()[0]).collect(),
            };
            block.encode_into(&mut bytes);
        }
        let mut out = Vec::new();
        core.on_event(
            now,
            Event::Data {
                peer: a,
                bytes: &bytes,
            },
            &mut out,
        );
        core.on_tick(now, &mut out);
        if !core.peers[&b].inflight.is_empty() {
            return;
        }
    }
    panic!("B was asked for nothing in a second: A took the whole cap");
}

/// A torrent of 200,000 bytes announced to one tracker.
fn tracked(name: &str) -> Arc<Metainfo> {
    let pieces = vec![[9u8; 20]; 200_000usize.div_ceil(PIECE as usize)];
    let layout = CreateLayout {
        name: name.into(),
        files: None,
        length: 200_000,
    };
    let opts = CreateOptions {
        trackers: vec!["http://tracker.invalid/announce".into()],
        ..CreateOptions::default()
    };
    let (_, meta) = build_torrent(&layout, PIECE, &pieces, &opts).unwrap();
    Arc::new(meta)
}

fn announces(out: &[Action]) -> Vec<(InfoHash, u64)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Announce(a) => Some((a.info_hash, a.id)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_new_torrent_is_announced_and_its_peers_dialled_without_waiting_for_a_tick() {
    let mut core = Core::new(CoreConfig {
        announces_per_sec: 1,
        ..CoreConfig::default()
    });
    let (a, b) = (tracked("a"), tracked("b"));
    let now = Time::from_millis(30);
    let mut out = Vec::new();
    let adds = [&a, &b]
        .map(|m| AddTorrent::new(TorrentSource::Metainfo(Arc::clone(m)), "/r"))
        .into_iter()
        .collect();
    core.execute(now, Command::Add(adds), &mut out);
    // New: their files are prepared and looked at first; no announce yet.
    assert!(announces(&out).is_empty());
    // The files held nothing: the check ends at once, and the first torrent is
    // announced in the same call; the budget (one a second) holds the other
    // back for a tick.
    out.clear();
    for m in [&a, &b] {
        let ev = Event::StorageOpened {
            info_hash: m.info_hash,
            result: Ok(false),
        };
        core.on_event(now, ev, &mut out);
    }
    let sent = announces(&out);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (ih, id) = sent[0];
    // The reply's peers are dialled in the call that brings it.
    out.clear();
    let peers: Vec<SocketAddr> = vec![
        "10.1.2.3:6881".parse().unwrap(),
        "10.1.2.4:6881".parse().unwrap(),
    ];
    let reply = crate::proto::tracker::AnnounceReply {
        interval: 1800,
        peers: peers.clone(),
        ..Default::default()
    };
    core.on_event(
        now,
        Event::AnnounceReply {
            info_hash: ih,
            id,
            result: Ok(reply),
        },
        &mut out,
    );
    let mut dialled: Vec<SocketAddr> = out
        .iter()
        .filter_map(|a| match a {
            Action::Connect { addr, .. } => Some(*addr),
            _ => None,
        })
        .collect();
    dialled.sort();
    assert_eq!(dialled, peers);
    // The other torrent: at the tick after the budget refills.
    out.clear();
    core.on_tick(Time::from_millis(1100), &mut out);
    let later = announces(&out);
    assert_eq!(later.len(), 1, "{later:?}");
    assert_ne!(later[0].0, ih);
}

#[test]
fn a_torrent_resumed_is_announced_in_the_same_call() {
    let mut core = Core::new(CoreConfig::default());
    let m = tracked("paused");
    let now = Time::from_millis(30);
    let mut out = Vec::new();
    let mut add = AddTorrent::new(TorrentSource::Metainfo(Arc::clone(&m)), "/r");
    add.paused = true;
    add.have = Some(Bitfield::new(7));
    core.execute(now, Command::Add(vec![add]), &mut out);
    let opened = Event::StorageOpened {
        info_hash: m.info_hash,
        result: Ok(false),
    };
    core.on_event(now, opened, &mut out);
    assert!(announces(&out).is_empty(), "paused: nothing announced");
    out.clear();
    core.execute(now, Command::Resume(m.info_hash), &mut out);
    assert_eq!(announces(&out).len(), 1);
}

/// Requests moved from a slow peer's queue to an idle one (`steal_requests`)
/// may already be on their way from the slow peer: a moved block it sends is
/// kept, and the peer it was moved to is told it need not send it.
#[test]
fn a_block_moved_to_another_peer_is_kept_from_whichever_sends_it_first() {
    // 40 blocks: more than the last few that endgame asks of two peers.
    let (mut core, ih, _) = core_sized(40 * 16 * 1024, false, CoreConfig::default());
    let slow = connect(&mut core, ih, true);
    let out = feed(&mut core, slow, &[Message::HaveAll, Message::Unchoke]);
    let asked = requests_to(&out, slow);
    assert_eq!(asked.len(), FIRST_REQUESTS, "{asked:?}");
    // A second peer takes the 8 blocks left, then the back of the first's
    // queue (the first has sent nothing yet: its queue would take forever).
    let idle = connect(&mut core, ih, true);
    let out = feed(&mut core, idle, &[Message::HaveAll, Message::Unchoke]);
    let mut moved = requests_to(&out, idle);
    moved.retain(|r| asked.contains(r));
    assert!(!moved.is_empty(), "nothing moved: {out:?}");
    for r in &moved {
        let cancel = Message::Cancel(*r);
        assert!(
            sent_to(&out, slow).contains(&cancel),
            "{r:?} not cancelled at the first peer"
        );
    }
    // The slow peer sends one of them anyway: kept, and cancelled at the other.
    let r = moved[0];
    let start = r.piece * PIECE + r.offset;
    let data: Vec<u8> = (start..start + r.len).map(|i| i.to_le_bytes()[0]).collect();
    let out = feed(
        &mut core,
        slow,
        &[Message::Piece {
            piece: r.piece,
            offset: r.offset,
            data,
        }],
    );
    assert!(sent_to(&out, idle).contains(&Message::Cancel(r)), "{out:?}");
    let t = &core.torrents[&ih];
    assert_eq!(t.wasted, 0);
    assert_eq!(t.downloaded, u64::from(r.len));
    assert!(!core.peers[&idle].inflight.iter().any(|f| f.req == r));
}
