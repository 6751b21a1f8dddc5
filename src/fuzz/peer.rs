//! The core's peer connection fed arbitrary bytes, as a hostile peer would send
//! them, with time passing, disk reads finishing and the socket draining in an
//! order the input chooses.
//!
//! The input: a first byte choosing the torrent's state (seeding, leeching with
//! nothing, or a magnet without its metadata) and the reserved bits the peer's
//! handshake shows, then steps. A step's first byte `op`:
//! - `0..=191`: the next `op + 1` bytes arrive from the peer;
//! - `192..=223`: `op - 191` seconds pass (a tick);
//! - `224..=239`: every block read asked for finishes (with the right length);
//! - `240..=255`: everything sent leaves the socket.
//!
//! What must hold: the core reads only blocks inside the torrent that this peer
//! asked for (whole, at most 16 KiB); it writes only whole pieces whose hash
//! matches; and once it closes the connection it never acts for it again.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::core::{Action, AddTorrent, Bitfield, Core, CoreConfig, Event, PeerKey, TorrentSource};
use crate::metainfo::{CreateLayout, CreateOptions, Magnet, Metainfo, build_torrent};
use crate::proto::{BlockRequest, Handshake, Message, MessageDecoder};
use crate::types::{InfoHash, Time};

/// The fuzzed torrent's piece length.
pub const PIECE: u32 = 32 * 1024;
/// Its total length: three whole pieces and a short last one.
pub const LENGTH: u64 = 100_000;

/// The fuzzed torrent's content: byte `i` is `i mod 251`.
pub fn content() -> Vec<u8> {
    (0..LENGTH).map(|i| (i % 251) as u8).collect()
}

/// The fuzzed torrent (made once).
pub fn torrent() -> Arc<Metainfo> {
    static META: OnceLock<Arc<Metainfo>> = OnceLock::new();
    META.get_or_init(|| {
        let data = content();
        let pieces: Vec<[u8; 20]> = data.chunks(PIECE as usize).map(crate::hash::sha1).collect();
        let layout = CreateLayout {
            name: "fuzz.bin".into(),
            files: None,
            length: LENGTH,
        };
        let (_, meta) = build_torrent(&layout, PIECE, &pieces, &CreateOptions::default())
            .expect("a valid torrent");
        Arc::new(meta)
    })
    .clone()
}

/// The peer's id in the fuzzed handshake.
pub const PEER_ID: [u8; 20] = *b"-FZ0001-fuzzfuzzfuzz";

/// After a valid handshake (reserved bits from the input's first byte).
pub fn peer(data: &[u8]) {
    let Some((&mode, steps)) = data.split_first() else {
        return;
    };
    let mut run = Run::new(mode);
    let mut hs = Handshake::new(run.ih, PEER_ID);
    hs.reserved[5] = if mode & 0x10 != 0 { 0x10 } else { 0 };
    hs.reserved[7] = if mode & 0x20 != 0 { 0x04 } else { 0 };
    run.skip = crate::proto::HANDSHAKE_LEN;
    run.data(&hs.encode());
    run.steps(steps);
}

/// From the connection's first byte: the handshake is the input's too.
pub fn peer_raw(data: &[u8]) {
    let Some((&mode, steps)) = data.split_first() else {
        return;
    };
    let mut run = Run::new(mode);
    // The shadow decoder starts after the 68 bytes of a handshake.
    run.skip = crate::proto::HANDSHAKE_LEN;
    run.steps(steps);
}

struct Run {
    core: Core,
    ih: InfoHash,
    meta: Arc<Metainfo>,
    key: PeerKey,
    now: Time,
    closed: bool,
    /// What the peer asked for, as a decoder of our own reads its bytes.
    shadow: Option<MessageDecoder>,
    /// Handshake bytes still to pass before the shadow decoder reads.
    skip: usize,
    asked: HashSet<BlockRequest>,
    reads: Vec<BlockRequest>,
    /// Bytes handed to the socket and not yet reported sent.
    unsent: usize,
}

impl Run {
    fn new(mode: u8) -> Run {
        let meta = torrent();
        let n = meta.info.geometry.piece_count();
        let source = match mode % 3 {
            0 | 1 => TorrentSource::Metainfo(meta.clone()),
            _ => TorrentSource::Magnet(Magnet {
                info_hash: meta.info_hash,
                display_name: None,
                trackers: Vec::new(),
                peers: Vec::new(),
                select_only: Vec::new(),
            }),
        };
        let have = match mode % 3 {
            0 => Some(Bitfield::full(n)),
            1 => Some(Bitfield::new(n)),
            _ => None,
        };
        // Half the runs with a driver that sends blocks from files.
        let mut core = Core::new(CoreConfig {
            send_from_files: mode & 4 != 0,
            ..CoreConfig::default()
        });
        let mut out = Vec::new();
        let ih = core
            .add_torrent(
                Time::ZERO,
                AddTorrent {
                    have,
                    ..AddTorrent::new(source, "/fuzz")
                },
                &mut out,
            )
            .expect("the torrent is added");
        let key = core
            .on_incoming(Time::ZERO, "127.0.0.9:5000".parse().expect("an address"))
            .expect("room for a peer");
        Run {
            core,
            ih,
            meta,
            key,
            now: Time::ZERO,
            closed: false,
            shadow: Some(MessageDecoder::new(1 << 20, true, true)),
            skip: 0,
            asked: HashSet::new(),
            reads: Vec::new(),
            unsent: 0,
        }
    }

    fn steps(&mut self, mut rest: &[u8]) {
        while let Some((&op, tail)) = rest.split_first() {
            rest = tail;
            if self.closed {
                return;
            }
            match op {
                0..=191 => {
                    let n = (usize::from(op) + 1).min(rest.len());
                    let (bytes, after) = rest.split_at(n);
                    rest = after;
                    self.data(bytes);
                }
                192..=223 => {
                    self.now = self.now + Duration::from_secs(u64::from(op - 191));
                    let mut out = Vec::new();
                    self.core.on_tick(self.now, &mut out);
                    self.check(out);
                }
                224..=239 => {
                    for req in std::mem::take(&mut self.reads) {
                        let start =
                            self.meta.info.geometry.piece_offset(req.piece) + u64::from(req.offset);
                        let bytes = (start..start + u64::from(req.len))
                            .map(|i| (i % 251) as u8)
                            .collect();
                        self.event(Event::BlockRead {
                            peer: self.key,
                            info_hash: self.ih,
                            req,
                            result: Ok(bytes),
                        });
                    }
                }
                240..=255 => {
                    let (peer, bytes) = (self.key, std::mem::take(&mut self.unsent));
                    if bytes > 0 {
                        self.event(Event::Sent { peer, bytes });
                    }
                }
            }
        }
    }

    fn data(&mut self, bytes: &[u8]) {
        self.shadow_read(bytes);
        let peer = self.key;
        self.event(Event::Data { peer, bytes });
    }

    /// Records what the peer asked for, reading its bytes as the core should.
    fn shadow_read(&mut self, mut bytes: &[u8]) {
        let skip = self.skip.min(bytes.len());
        self.skip -= skip;
        bytes = &bytes[skip..];
        let Some(dec) = &mut self.shadow else {
            return;
        };
        dec.feed(bytes);
        loop {
            match dec.next_message() {
                Ok(Some(Message::Request(r))) => {
                    self.asked.insert(r);
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                // The core must close on this; nothing the peer asks after counts.
                Err(_) => {
                    self.shadow = None;
                    break;
                }
            }
        }
    }

    fn event(&mut self, ev: Event<'_>) {
        let mut out = Vec::new();
        self.core.on_event(self.now, ev, &mut out);
        self.check(out);
    }

    fn check(&mut self, out: Vec<Action>) {
        let g = &self.meta.info.geometry;
        for a in out {
            match a {
                Action::ReadBlock { peer, req, .. } | Action::SendBlock { peer, req, .. } => {
                    assert_eq!(peer, self.key);
                    assert!(!self.closed, "a read for a closed connection");
                    assert!(self.asked.contains(&req), "{req:?} was never asked for");
                    assert!(req.piece < g.piece_count());
                    assert!(req.len > 0 && req.len <= crate::metainfo::BLOCK_LEN);
                    assert!(
                        u64::from(req.offset) + u64::from(req.len)
                            <= u64::from(g.piece_len(req.piece))
                    );
                    if matches!(a, Action::SendBlock { .. }) {
                        // Sent as the driver would: the head and the block.
                        self.unsent += crate::proto::PIECE_HEAD + req.len as usize;
                    } else {
                        self.reads.push(req);
                    }
                }
                Action::WritePiece { piece, data, .. } => {
                    assert!(piece < g.piece_count());
                    assert_eq!(data.len(), g.piece_len(piece) as usize);
                    assert_eq!(self.meta.info.pieces.check(piece, &data), Some(true));
                }
                Action::Send { peer, bytes } => {
                    assert!(!self.closed, "bytes sent on a closed connection");
                    assert_eq!(peer, self.key);
                    self.unsent += bytes.len();
                }
                Action::Close { peer, .. } if peer == self.key => {
                    self.closed = true;
                    // The driver tells the core the socket is gone.
                    let mut after = Vec::new();
                    self.core
                        .on_event(self.now, Event::Closed { peer }, &mut after);
                    for a in after {
                        assert!(
                            !matches!(a, Action::Send { peer: p, .. } | Action::ReadBlock { peer: p, .. } | Action::SendBlock { peer: p, .. } if p == peer),
                            "acted for a closed connection: {a:?}"
                        );
                    }
                }
                _ => {}
            }
        }
    }
}
