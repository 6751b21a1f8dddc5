//! The `v2hash` fuzz target: BitTorrent v2 hash messages (BEP 52) against the
//! core, over a v2-only torrent of two files (one of 600 pieces of 32 KiB, so
//! its layer is answered in parts with proofs; one of three).
//!
//! The first byte picks the side. Even: the core seeds the torrent and a peer
//! sends hash requests the input builds (a file's root or none, any layer,
//! index, count and proof) between raw bytes; every request gets one answer
//! while the connection lasts (a request below the piece layer has its blocks
//! read from the fixture at once, as a driver would), and every answer for a
//! whole aligned range of a piece layer, or of the blocks with a proof that
//! reaches the root, proves to the file's root. Odd: the core has the torrent's
//! magnet and its `info`, and asks for the piece layers; the peer answers with
//! hashes the input edits, rejects, sends answers nobody asked for, or lets
//! time pass. Whatever piece hashes the core ends up with are the true ones,
//! and a true answer never costs the peer its connection.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::core::{Action, AddTorrent, Bitfield, Core, CoreConfig, Event, PeerKey, TorrentSource};
use crate::hash::PieceHashes;
use crate::hash::merkle::{FileMerkle, LayerTree, check_answer, merkle_file};
use crate::metainfo::{CreateLayout, CreateOptions, Magnet, Metainfo, build_torrent_v2};
use crate::proto::{HANDSHAKE_LEN, Handshake, HashRange, Message, MessageDecoder};
use crate::types::Time;

const PIECE: u32 = 32 * 1024;
const FILES: [u64; 2] = [600 * 32 * 1024 - 11, 3 * 32 * 1024 - 5000];

struct Fixture {
    meta: Arc<Metainfo>,
    trees: Vec<FileMerkle>,
    /// Each file's bytes.
    files: Vec<Vec<u8>>,
}

impl Fixture {
    /// The bytes of piece `p` (of one file: each starts on a piece).
    fn piece(&self, p: u32) -> &[u8] {
        let g = &self.meta.info.geometry;
        let Some(i) = (0..self.files.len()).find(|&i| g.file_pieces(i).contains(&p)) else {
            return &[];
        };
        let bytes = &self.files[i];
        let start = (p - g.file_pieces(i).start) as usize * PIECE as usize;
        &bytes[start.min(bytes.len())..(start + PIECE as usize).min(bytes.len())]
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let files: Vec<Vec<u8>> = (FILES.iter().zip(0u8..))
            .map(|(&len, salt)| (0..len).map(|i| (i % 253) as u8 ^ salt).collect())
            .collect();
        let trees: Vec<FileMerkle> = (files.iter().zip(FILES))
            .map(|(bytes, len)| merkle_file(&bytes[..], len, u64::from(PIECE)).expect("in memory"))
            .collect();
        let layout = CreateLayout {
            name: "v2".into(),
            files: Some(vec![
                (vec!["a".into()], FILES[0]),
                (vec!["b".into()], FILES[1]),
            ]),
            length: 0,
        };
        let built = build_torrent_v2(&layout, PIECE, None, &trees, &CreateOptions::default())
            .expect("a valid torrent");
        Fixture {
            meta: Arc::new(built.meta),
            trees,
            files,
        }
    })
}

/// One fuzz input.
pub fn v2hash(data: &[u8]) {
    match data.split_first() {
        Some((mode, rest)) if mode % 2 == 0 => seed_side(rest),
        Some((_, rest)) => magnet_side(rest),
        None => {}
    }
}

/// A core with the fixture (seeding it, or its magnet) and one peer past its
/// handshake; what the core sends the peer is read back as messages.
struct Run {
    core: Core,
    key: PeerKey,
    now: Time,
    closed: bool,
    /// Our bytes to the peer, the handshake skipped.
    skip: usize,
    from_core: MessageDecoder,
    got: Vec<Message>,
}

impl Run {
    fn new(seed: bool) -> Run {
        let f = fixture();
        let ih = f.meta.info_hash;
        let source = if seed {
            TorrentSource::Metainfo(f.meta.clone())
        } else {
            TorrentSource::Magnet(Magnet {
                info_hash: ih,
                display_name: None,
                trackers: Vec::new(),
                peers: Vec::new(),
                select_only: Vec::new(),
            })
        };
        let n = f.meta.info.geometry.piece_count();
        let mut core = Core::new(CoreConfig::default());
        let mut out = Vec::new();
        let add = AddTorrent {
            have: seed.then(|| Bitfield::full(n)),
            ..AddTorrent::new(source, "/fuzz")
        };
        core.add_torrent(Time::ZERO, add, &mut out).expect("added");
        let key = core
            .on_incoming(Time::ZERO, "127.0.0.9:5000".parse().expect("an address"))
            .expect("room for a peer");
        let mut run = Run {
            core,
            key,
            now: Time::ZERO,
            closed: false,
            skip: HANDSHAKE_LEN,
            from_core: MessageDecoder::new(1 << 24, true, true),
            got: Vec::new(),
        };
        let mut hs = Handshake::new(ih, *b"-FZ0001-v2hashv2hash");
        hs.reserved[5] = 0x10;
        hs.reserved[7] = 0x04;
        run.send_raw(&hs.encode());
        run.send(&[Message::HaveAll]);
        run
    }

    fn send(&mut self, msgs: &[Message]) {
        let mut b = Vec::new();
        for m in msgs {
            m.encode_into(&mut b);
        }
        self.send_raw(&b);
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        if self.closed {
            return;
        }
        let mut out = Vec::new();
        let peer = self.key;
        self.core
            .on_event(self.now, Event::Data { peer, bytes }, &mut out);
        self.take(out);
    }

    fn tick(&mut self, secs: u8) {
        self.now = self.now + Duration::from_secs(u64::from(secs));
        let mut out = Vec::new();
        self.core.on_tick(self.now, &mut out);
        self.take(out);
    }

    /// Takes the core's actions; a block read (a hash request below the
    /// piece layer) is answered at once from the fixture, as a driver would.
    fn take(&mut self, out: Vec<Action>) {
        let mut reads = Vec::new();
        for a in out {
            match a {
                Action::HashBlocks {
                    info_hash,
                    peer,
                    range,
                    pieces,
                } => {
                    let f = fixture();
                    let leaves = (pieces.iter())
                        .flat_map(|(p, shape)| shape.leaves(f.piece(*p)))
                        .collect();
                    reads.push(Event::BlocksHashed {
                        info_hash,
                        peer,
                        range,
                        leaves: Some(leaves),
                    });
                }
                Action::Send { peer, bytes } if peer == self.key => {
                    assert!(!self.closed, "bytes sent on a closed connection");
                    let skip = self.skip.min(bytes.len());
                    self.skip -= skip;
                    self.from_core.feed(&bytes[skip..]);
                    while let Some(m) = self
                        .from_core
                        .next_message()
                        .expect("we send valid messages")
                    {
                        self.got.push(m);
                    }
                }
                Action::Close { peer, .. } if peer == self.key => self.closed = true,
                _ => {}
            }
        }
        for ev in reads {
            let mut out = Vec::new();
            self.core.on_event(self.now, ev, &mut out);
            self.take(out);
        }
    }

    /// The core's answers so far to hash requests, and its hash requests.
    fn drain(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.got)
    }
}

fn u32_at(b: &[u8]) -> u32 {
    let mut x = [0u8; 4];
    let n = b.len().min(4);
    x[..n].copy_from_slice(&b[..n]);
    u32::from_le_bytes(x)
}

fn seed_side(mut rest: &[u8]) {
    let f = fixture();
    let mut run = Run::new(true);
    // What the peer sent, read as the core reads it: raw bytes may leave a
    // message unfinished, and a request after it is then part of that message.
    let mut shadow = MessageDecoder::new(1 << 24, true, true);
    let mut aligned = true;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        if run.closed {
            return;
        }
        if op < 200 {
            // A hash request: 8 bytes of input (base, index in 3, count in 3,
            // proof layers).
            let (b, tail) = rest.split_at(rest.len().min(8));
            rest = tail;
            let root = match op % 3 {
                0 => f.trees[0].root.expect("a root"),
                1 => f.trees[1].root.expect("a root"),
                _ => [op; 32],
            };
            let r = HashRange {
                pieces_root: root,
                base: u32::from(b.first().copied().unwrap_or(1) % 16),
                index: u32_at(b.get(1..4).unwrap_or(&[])) % 2048,
                count: u32_at(b.get(4..7).unwrap_or(&[])) % 20_000,
                proof_layers: u32::from(b.get(7).copied().unwrap_or(0) % 16),
            };
            run.drain();
            run.send(&[Message::HashRequest(r)]);
            if run.closed || !aligned {
                continue;
            }
            let answers: Vec<Message> = run
                .drain()
                .into_iter()
                .filter(|m| matches!(m, Message::Hashes { .. } | Message::HashReject(_)))
                .collect();
            assert_eq!(answers.len(), 1, "one answer per request: {answers:?}");
            if let Message::Hashes { range, hashes } = &answers[0] {
                assert_eq!(*range, r);
                assert!(hashes.len() >= r.count as usize);
                // The big file's blocks (two a piece, 2,048 wide with the
                // padding), read for the answer: proved to the root when the
                // proof reaches it.
                let skip = r.count.trailing_zeros();
                let uncles = (0..r.proof_layers).filter(|i| i + 1 >= skip).count();
                if op % 3 == 0 && r.base == 0 && u64::from(r.count) << uncles == 2048 {
                    check_answer(&root, 2048, r.index, r.count, r.proof_layers, hashes)
                        .expect("a block-layer answer proves to the root");
                }
                // A whole aligned range of the big file's layer, proved to the root.
                let width = 1024u32;
                let proof = if r.count == width {
                    0
                } else {
                    width.trailing_zeros() - 1
                };
                if op % 3 == 0
                    && r.base == 1
                    && r.count.is_power_of_two()
                    && r.proof_layers == proof
                {
                    let got =
                        check_answer(&root, u64::from(width), r.index, r.count, proof, hashes)
                            .expect("our answer proves to the root");
                    let layer = &f.trees[0].layer;
                    let end = (r.index + r.count).min(600) as usize;
                    if (r.index as usize) < end {
                        assert_eq!(
                            &got[..end - r.index as usize],
                            &layer[r.index as usize..end]
                        );
                    }
                }
            }
        } else {
            // Raw bytes: up to `op - 199`.
            let n = usize::from(op - 199).min(rest.len());
            let (b, tail) = rest.split_at(n);
            rest = tail;
            run.send_raw(b);
            shadow.feed(b);
            while aligned {
                match shadow.next_message() {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        aligned = shadow.pending().is_empty();
                        break;
                    }
                    Err(_) => aligned = false,
                }
            }
        }
    }
}

fn magnet_side(mut rest: &[u8]) {
    let f = fixture();
    let ih = f.meta.info_hash;
    let truth = &f.meta.info.pieces;
    let mut run = Run::new(false);
    let mut out = Vec::new();
    run.core
        .on_metadata(run.now, ih, f.meta.info_bytes.clone(), &mut out);
    run.take(out);
    let trees: Vec<LayerTree> = f
        .trees
        .iter()
        .map(|t| LayerTree::new(&t.layer, 2))
        .collect();
    let mut asked: VecDeque<HashRange> = VecDeque::new();
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        for m in run.drain() {
            if let Message::HashRequest(r) = m {
                asked.push_back(r);
            }
        }
        if let Some(h) = run.core.resident_hashes(ih) {
            assert_eq!(
                *h, *truth,
                "the core took hashes that are not the torrent's"
            );
            return;
        }
        if run.closed {
            return;
        }
        match op % 4 {
            0 => {
                // Answer the oldest request, with as many single-bit edits as
                // the next byte says (none: the true answer).
                let Some(r) = asked.pop_front() else { continue };
                let (b, tail) = rest.split_at(rest.len().min(1));
                rest = tail;
                let edits = b.first().copied().unwrap_or(0) % 4;
                let Some(tree) = (trees.iter()).find(|t| t.root() == r.pieces_root) else {
                    panic!("asked for a file that needs no layer: {r:?}");
                };
                let mut hashes = tree
                    .answer(r.base, r.index, r.count, r.proof_layers)
                    .expect("a request we can answer");
                for e in 0..edits {
                    let i = (usize::from(op) * 7 + usize::from(e) * 13) % hashes.len();
                    hashes[i][usize::from(e)] ^= 1;
                }
                run.send(&[Message::Hashes { range: r, hashes }]);
                if edits == 0 {
                    assert!(!run.closed, "a true answer cost the peer its connection");
                }
            }
            1 => {
                if let Some(r) = asked.pop_front() {
                    run.send(&[Message::HashReject(r)]);
                }
            }
            2 => {
                // An answer nobody asked for.
                let (b, tail) = rest.split_at(rest.len().min(6));
                rest = tail;
                let r = HashRange {
                    pieces_root: f.trees[usize::from(op % 8 < 4)].root.expect("a root"),
                    base: 1,
                    index: u32_at(b) % 1024,
                    count: u32::from(b.get(4).copied().unwrap_or(2)),
                    proof_layers: u32::from(b.get(5).copied().unwrap_or(0) % 12),
                };
                let hashes = vec![[op; 32]; r.count as usize % 600];
                run.send(&[Message::Hashes { range: r, hashes }]);
            }
            _ => run.tick(op % 16),
        }
    }
    if let Some(h) = run.core.resident_hashes(ih) {
        assert!(matches!(*h, PieceHashes::Merkle(_)));
        assert_eq!(
            *h, *truth,
            "the core took hashes that are not the torrent's"
        );
    }
}
