//! The periodic work of the core: timeouts, keep-alives, the choker, new
//! connections. Drivers call [`Core::on_tick`] about every 100 ms.

use super::*;

impl Core {
    // ------------------------------------------------------------------ ticks

    /// Periodic work: timeouts, the choker, new connections, rate-limited transfers.
    /// Drivers call it every 100 ms or so.
    pub fn on_tick(&mut self, now: Time, out: &mut Vec<Action>) {
        let start = out.len();
        self.check_waiting_due(now, out);
        self.tick(now, out);
        self.announce_promptly(now, out);
        self.seal_sends(out, start);
    }

    pub(super) fn tick(&mut self, now: Time, out: &mut Vec<Action>) {
        self.expire(now, out);
        self.announce_failures.report(now);
        self.ip_filter.report(now);
        self.reclaim_idle_slots(now, out);
        if now.since(self.last_choke) >= self.cfg.choke_interval || self.last_choke == Time::ZERO {
            let rotate = now.since(self.last_optimistic) >= self.cfg.optimistic_interval
                || self.last_optimistic == Time::ZERO;
            self.choke_all(now, rotate, out);
            self.release_idle_meta(now);
            self.apply_share_limits(now, out);
            self.note_busy(now);
            self.last_choke = now;
            if rotate {
                self.last_optimistic = now;
                self.announce_rate = self.steady_rate();
            }
        }
        let walk = self.walk(now);
        self.connect_more(now, walk.connect, out);
        if !self.shutting_down {
            self.connect_web_seeds(now, walk.web, out);
        }
        self.stamp_files(now, walk.stat, walk.unstat, out);
        for ih in walk.pex {
            self.pex_round(now, ih, out);
        }
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            self.request_more(now, k, out);
            self.serve_uploads(now, k, out);
            self.request_metadata(now, k, out);
            self.request_layers(now, k, out);
        }
        for ih in walk.drive {
            self.drive_checking(ih, out);
            self.drive_move(ih, out);
        }
        // Turns given back by a pause, a move or a removal.
        self.next_checks(out);
        self.maybe_save(now, walk.save_now, out);
        self.announce_due(now, walk.announce, out);
        self.check_roots(now, out);
    }

    pub(super) fn expire(&mut self, now: Time, out: &mut Vec<Action>) {
        let cfg = &self.cfg;
        let mut closing = Vec::new();
        let mut keepalive = Vec::new();
        for (k, p) in &mut self.peers {
            let key = *k;
            if p.phase != Phase::Active {
                if now.since(p.phase_since) > cfg.handshake_timeout {
                    closing.push(*k);
                }
                continue;
            }
            if now.since(p.last_recv) > cfg.idle_timeout {
                closing.push(*k);
                continue;
            }
            if now.since(p.last_sent) > cfg.keepalive_interval {
                keepalive.push(*k);
            }
            let Some(t) = p.info_hash.and_then(|h| self.torrents.get_mut(&h)) else {
                continue;
            };
            let before = p.inflight.len();
            let mut late = Vec::new();
            p.inflight.retain(|f| {
                let is_late = now.since(f.sent) > cfg.request_timeout;
                if is_late {
                    t.picker.release(&f.req);
                    late.push(f.req);
                }
                !is_late
            });
            // Asked again, of it or another peer: it need not send these too
            // (a capped seed's queue outlasts the timeout; without this, it
            // sends every such block twice).
            if p.web.is_none() {
                for r in late {
                    out.push(Action::Send {
                        peer: key,
                        bytes: p.cancel(r).encode(),
                    });
                }
            }
            if p.inflight.len() < before
                || (!p.inflight.is_empty() && now.since(p.last_block) > cfg.snub_timeout)
            {
                p.snubbed = true;
            }
        }
        for k in closing {
            // A connect or handshake that timed out: its back-off counts from now,
            // not from when it began (or a 10 s timeout would eat the first waits).
            if let Some(p) = self.peers.get(&k)
                && p.phase != Phase::Active
                && let Some(t) = p.info_hash.and_then(|h| self.torrents.get_mut(&h))
                && let Some(a) = t.addrs.get_mut(&p.addr)
            {
                a.last_attempt = Some(now);
            }
            self.close(k, CloseReason::Timeout, out);
        }
        for k in keepalive {
            self.send(now, k, &[Message::KeepAlive], out);
        }
    }

    /// Dials `ih`'s addresses now if it could use a connection (a tracker or
    /// the user just named some), rather than at the next tick.
    pub(super) fn dial_now(&mut self, now: Time, ih: InfoHash, out: &mut Vec<Action>) {
        let per_torrent = self.cfg.max_connections_per_torrent;
        if self
            .torrents
            .get(&ih)
            .is_some_and(|t| super::walk::wants_connections(t, per_torrent))
        {
            self.connect_more(now, vec![ih], out);
        }
    }

    /// New connections for `ihs` (the torrents [`Core::walk`] found could use one).
    fn connect_more(&mut self, now: Time, ihs: Vec<InfoHash>, out: &mut Vec<Action>) {
        if self.shutting_down {
            return;
        }
        // Counted once, then kept up to date as connects are issued.
        let mut counts = self.connections();
        let per_torrent = self.cfg.max_connections_per_torrent;
        for ih in ihs {
            loop {
                if counts.total >= self.cfg.max_connections
                    || counts.half_open >= self.cfg.max_half_open
                {
                    return;
                }
                let t = self.torrents.get_mut(&ih).expect("listed");
                if t.peers.len() >= per_torrent || (t.is_finished() && !t.peers.is_empty()) {
                    break;
                }
                let banned = &t.banned;
                let pick = t.addrs.iter().find(|(addr, a)| {
                    !a.connected
                        && a.failures != u32::MAX
                        && !banned.contains(&addr.ip())
                        && a.last_attempt.is_none_or(|at| {
                            // Back off exponentially after failures: 5 s, 10 s, ... 5 min.
                            let wait = Duration::from_secs(5 << a.failures.min(6));
                            now.since(at) >= wait
                        })
                });
                let Some((&addr, _)) = pick else { break };
                let a = t.addrs.get_mut(&addr).expect("found");
                a.connected = true;
                a.last_attempt = Some(now);
                let alias_only = a.alias_only;
                let key = self.new_key();
                let transport = self.dial_transport(ih, addr);
                let t = self.torrents.get_mut(&ih).expect("listed");
                t.peers.insert(key);
                let mut p = Peer::new(addr, true, now);
                p.info_hash = Some(ih);
                p.wire_name = self.names.alias_of(ih).filter(|_| alias_only);
                p.transport = transport;
                self.peers.insert(key, p);
                counts.total += 1;
                counts.half_open += 1;
                out.push(Action::Connect {
                    peer: key,
                    addr,
                    transport,
                });
            }
        }
    }
}
