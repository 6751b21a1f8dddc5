//! How the sim carries out a core's actions: the memory network's sends and
//! connects, piece IO on the memory filesystem, saves and moves through the
//! production storage policy, announces to the sim's trackers.

use super::*;
use crate::proto::piece_head;

impl World {
    pub(crate) fn apply(&mut self, n: usize, actions: Vec<Action>) {
        let now = self.now;
        let latency = self.cfg.latency;
        let disk = self.cfg.disk_delay;
        for a in actions {
            match a {
                Action::Connect { addr, .. } if self.black_holes.contains(&addr) => {}
                Action::Connect { peer, addr, .. } => match self.listeners.get(&addr) {
                    Some(&listener) => {
                        self.schedule(
                            now + latency,
                            Pending::Accept {
                                listener,
                                from: (n, peer),
                            },
                        );
                    }
                    _ => self.schedule(now + latency, Pending::ConnectFailed(n, peer)),
                },
                Action::Send { peer, bytes } => self.send_bytes(n, peer, bytes),
                Action::SendBlock {
                    peer,
                    info_hash,
                    req,
                } => match self.read(n, info_hash, req.piece, req.offset, req.len) {
                    // As the real driver: the head, then the file's bytes.
                    Ok(data) => {
                        let mut bytes = piece_head(req.piece, req.offset, req.len).to_vec();
                        bytes.extend_from_slice(&data);
                        self.send_bytes(n, peer, bytes);
                    }
                    // The error, then the connection closes (its head may be out).
                    Err(e) => {
                        let read = Pending::BlockRead(n, peer, info_hash, req, Err(e));
                        self.schedule(now, read);
                        self.close_link(n, peer);
                        self.schedule(now, Pending::Closed(n, peer));
                    }
                },
                Action::StatFiles {
                    info_hash,
                    info,
                    root,
                    with_record,
                } => {
                    let node = &self.nodes[n];
                    let (stamps, recorded) = storage::files_stated(
                        &node.fs,
                        &node.store,
                        info_hash,
                        Path::new(&root),
                        &info,
                        with_record,
                    );
                    let ev = Pending::FilesStated(n, info_hash, stamps, recorded);
                    self.schedule(now + disk, ev);
                }
                Action::WebFetch { peer, ranges } => self.web_fetch(n, peer, &ranges),
                Action::Close { peer, .. } => self.close_link(n, peer),
                Action::Announce(a) => {
                    // The request reaches the tracker after one latency; the reply
                    // comes back after another.
                    let from = SocketAddr::new(self.nodes[n].addr.ip(), a.request.port);
                    let at = now + latency;
                    let result = self.trackers.announce(at, &a.url, from, a.request);
                    let reply = Pending::AnnounceReply(n, a.info_hash, a.id, result);
                    self.schedule(at + latency, reply);
                }
                Action::ReadBlock {
                    peer,
                    info_hash,
                    req,
                } => {
                    let result = self.read(n, info_hash, req.piece, req.offset, req.len);
                    self.schedule(
                        now + disk,
                        Pending::BlockRead(n, peer, info_hash, req, result),
                    );
                }
                Action::VerifyPieces {
                    info_hash,
                    pieces,
                    hashes,
                } => {
                    let info = self.nodes[n]
                        .storage
                        .get(&info_hash)
                        .map(|(i, _)| i.clone());
                    let results = pieces
                        .into_iter()
                        .map(|p| {
                            let Some(info) = &info else {
                                return (p, Verdict::Unreadable);
                            };
                            let len = info.geometry.piece_len(p);
                            let v = match self.read(n, info_hash, p, 0, len) {
                                Err(_) => Verdict::Unreadable,
                                Ok(d) if hashes.check(p, &d) == Some(true) => Verdict::Valid,
                                Ok(_) => Verdict::Invalid,
                            };
                            (p, v)
                        })
                        .collect();
                    self.schedule(now + disk, Pending::PiecesVerified(n, info_hash, results));
                }
                Action::HashBlocks {
                    info_hash,
                    peer,
                    range,
                    pieces,
                } => {
                    let mut leaves = Some(Vec::new());
                    for (p, shape) in pieces {
                        let len = self.nodes[n]
                            .storage
                            .get(&info_hash)
                            .map(|(i, _)| i.geometry.piece_len(p));
                        let data = len.and_then(|len| self.read(n, info_hash, p, 0, len).ok());
                        match (data, &mut leaves) {
                            (Some(d), Some(l)) => l.extend(shape.leaves(&d)),
                            _ => leaves = None,
                        }
                    }
                    let done = Pending::BlocksHashed(n, info_hash, peer, range, leaves);
                    self.schedule(now + disk, done);
                }
                Action::WritePiece {
                    info_hash,
                    piece,
                    data,
                } => {
                    let fail = self.cfg.write_error > 0.0 && self.rng.chance(self.cfg.write_error);
                    let full = self
                        .cfg
                        .disk_capacity
                        .is_some_and(|cap| self.nodes[n].fs.used() + data.len() as u64 > cap);
                    let result = if fail {
                        self.faults.write_errors += 1;
                        Err(DiskError("EIO (injected)".into()))
                    } else if full {
                        // Worded as the real drivers word it (`std::io::Error`).
                        Err(DiskError("No space left on device (os error 28)".into()))
                    } else {
                        self.write(n, info_hash, piece, &data)
                    };
                    self.schedule(
                        now + disk,
                        Pending::PieceWritten(n, info_hash, piece, result),
                    );
                }
                Action::SaveMeta {
                    info_hash,
                    info,
                    record,
                    metadata_size,
                } => {
                    let ops = meta_ops(info_hash, &info, &record, metadata_size).to_vec();
                    let store = &mut self.nodes[n].store;
                    store.apply(ops).expect("the sim's memory store works");
                }
                Action::OpenStorage(o) => {
                    let node = &mut self.nodes[n];
                    let ops = open_ops(&o);
                    if !ops.is_empty() {
                        node.store.apply(ops).expect("the sim's memory store works");
                    }
                    // The production preparation, on the memory filesystem.
                    let root = Path::new(&o.root);
                    let result = if o.prepared {
                        Ok(true)
                    } else {
                        storage::prepare_files(&mut node.fs, root, o.marked, &o.info)
                    };
                    let info_hash = o.info_hash;
                    node.storage.insert(info_hash, (o.info, o.root));
                    self.schedule(now + disk, Pending::StorageOpened(n, info_hash, result));
                }
                Action::Milestone { info_hash, what } => {
                    self.nodes[n].milestones.push((now, info_hash, what));
                }
                Action::PeerNote(note) => self.nodes[n].peer_log.note(note),
                Action::CheckRoots { roots } => {
                    let fs = &self.nodes[n].fs;
                    let roots = roots
                        .into_iter()
                        .map(|(r, marked)| {
                            let up = storage::root_available(fs, Path::new(&r), marked);
                            (r, up)
                        })
                        .collect();
                    self.schedule(now + disk, Pending::RootsChecked(n, roots));
                }
                Action::SaveResume {
                    id,
                    torrents,
                    clocks,
                } => {
                    // The production save, on the memory filesystem.
                    let node = &mut self.nodes[n];
                    let result = storage::save_resume(&mut node.fs, &node.store, torrents, &clocks);
                    self.schedule(now + disk, Pending::ResumeSaved(n, id, result));
                }
                Action::LoadMeta { info_hash } => {
                    let result = self.nodes[n]
                        .store
                        .get(&meta_key(info_hash))
                        .map_err(|e| e.to_string());
                    self.schedule(now + disk, Pending::MetaLoaded(n, info_hash, result));
                }
                Action::MoveStorage(m) => {
                    // The production move (rename, with its undo), in memory.
                    let result = storage::carry_out_move(&mut self.nodes[n].fs, &m);
                    let at = now + disk;
                    self.schedule(at, Pending::StorageMoved(n, m.info_hash, result));
                }
                Action::CloseStorage {
                    info_hash,
                    delete_files,
                } => {
                    self.nodes[n]
                        .store
                        .apply(forget_ops(info_hash).to_vec())
                        .expect("the sim's memory store works");
                    let node = &mut self.nodes[n];
                    if let Some((info, root)) = node.storage.remove(&info_hash)
                        && delete_files
                    {
                        storage::delete_files(&mut node.fs, Path::new(&root), &info);
                    }
                }
            }
        }
    }

    pub(super) fn read(
        &self,
        n: usize,
        ih: InfoHash,
        piece: u32,
        offset: u32,
        len: u32,
    ) -> Result<Vec<u8>, DiskError> {
        let node = &self.nodes[n];
        let (info, root) = node
            .storage
            .get(&ih)
            .ok_or_else(|| DiskError("no storage for torrent".into()))?;
        let mut out = Vec::with_capacity(len as usize);
        for span in info.geometry.range_spans(piece, offset, len) {
            let f = &info.files[span.file];
            let n = span.len as usize;
            if f.attr.pad {
                out.resize(out.len() + n, 0);
                continue;
            }
            out.extend_from_slice(
                node.fs
                    .read(&fs::join(root, &f.path), span.file_offset, n)?,
            );
        }
        Ok(out)
    }

    pub(super) fn write(
        &mut self,
        n: usize,
        ih: InfoHash,
        piece: u32,
        data: &[u8],
    ) -> Result<(), DiskError> {
        let node = &mut self.nodes[n];
        let (info, root) = node
            .storage
            .get(&ih)
            .ok_or_else(|| DiskError("no storage for torrent".into()))?;
        let mut pos = 0usize;
        for span in info.geometry.piece_spans(piece) {
            let f = &info.files[span.file];
            let len = span.len as usize;
            if f.is_stored() {
                node.fs.write(
                    &fs::join(root, &f.path),
                    span.file_offset,
                    &data[pos..pos + len],
                )?;
            }
            pos += len;
        }
        Ok(())
    }

    /// Bytes from node `n` over its connection `peer`: the link's bandwidth,
    /// loss and latency decide when they arrive.
    fn send_bytes(&mut self, n: usize, peer: PeerKey, mut bytes: Vec<u8>) {
        let (now, latency) = (self.now, self.cfg.latency);
        let (bw, loss, rto) = (
            self.cfg.link_bytes_per_sec,
            self.cfg.loss,
            self.cfg.retransmit_delay,
        );
        let lost = loss > 0.0 && self.rng.chance(loss);
        let Some(link) = self.links.get_mut(&(n, peer)) else {
            return;
        };
        let len = bytes.len() as u64;
        if let Some(at) = self.cfg.corrupt_at
            && (link.sent..link.sent + len).contains(&at)
        {
            let i = usize::try_from(at - link.sent).expect("within the send");
            bytes[i] ^= 0x5a;
        }
        link.sent += len;
        let start = link.free_at.max(now);
        let tx_ns = bytes.len() as u128 * 1_000_000_000 / u128::from(bw.max(1));
        link.free_at = start + Duration::from_nanos(u64::try_from(tx_ns).unwrap_or(u64::MAX));
        let mut at = link.free_at + latency;
        if lost {
            at = at + rto;
            self.faults.losses += 1;
        }
        // TCP delivers in order: never before what was sent earlier.
        at = at.max(link.last_delivery);
        link.last_delivery = at;
        let (m, key) = link.remote;
        let sent_at = link.free_at;
        let len = bytes.len();
        self.schedule(at, Pending::Deliver(m, key, bytes));
        self.schedule(sent_at, Pending::Sent(n, peer, len));
    }

    /// Node `n` closes its connection `peer`: the other end hears of it after
    /// what was sent before.
    fn close_link(&mut self, n: usize, peer: PeerKey) {
        if let Some(link) = self.links.remove(&(n, peer)) {
            self.links.remove(&link.remote);
            let at = link.last_delivery.max(self.now) + self.cfg.latency;
            self.schedule(at, Pending::Closed(link.remote.0, link.remote.1));
        }
    }
}
