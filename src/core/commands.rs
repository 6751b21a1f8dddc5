//! Commands from the engine: adding, removing, pausing and resuming torrents, limits,
//! priorities, peers, and the queries behind the peer and piece views (a
//! torrent's numbers are taken in `stats`).

use super::*;

impl Core {
    // ------------------------------------------------------------------ commands

    /// Adds a torrent.
    pub fn add_torrent(
        &mut self,
        now: Time,
        mut add: AddTorrent,
        out: &mut Vec<Action>,
    ) -> Result<InfoHash, CommandError> {
        let (info_hash, name): (_, Arc<str>) = match &add.source {
            TorrentSource::Metainfo(m) => (m.info_hash, m.info.name.as_str().into()),
            TorrentSource::Stored(m) => (m.info_hash, m.info.name.as_str().into()),
            TorrentSource::Magnet(m) => (
                m.info_hash,
                m.display_name
                    .as_deref()
                    .map_or_else(|| m.info_hash.to_hex().into(), Into::into),
            ),
        };
        // Either name of a hybrid may be here already (the other name's torrent,
        // or its alias).
        let here = [Some(info_hash), add.source.other_name()]
            .into_iter()
            .flatten();
        if let Some(had) = here
            .map(|n| self.names.resolve(n))
            .find(|n| self.torrents.contains_key(n))
        {
            return Err(CommandError::Duplicate(had));
        }
        let labels = clean_labels(&add.settings.labels)?;
        let category = clean_category(&add.settings.category)?;
        let display_name = clean_display_name(&add.settings.display_name)?;
        let filter = Arc::clone(&self.ip_filter.filter);
        let mut t = Torrent::new(name, add.root, self.unix(now), filter);
        t.paused = add.paused;
        t.sequential = add.settings.sequential;
        t.down_limit
            .set_rate(Time::ZERO, add.settings.download_limit);
        t.up_limit.set_rate(Time::ZERO, add.settings.upload_limit);
        t.labels = labels;
        t.category = category;
        t.share = add.settings.share;
        t.share_action = add.settings.share_action;
        t.queue_pos = add.settings.queue_pos;
        t.forced = add.settings.forced;
        t.display_name = display_name;
        t.first_last = add.settings.first_last;
        t.manual = add.settings.manual;
        t.super_seeding = add.settings.super_seeding;
        t.content_layout = add.settings.content_layout;
        t.renames.clone_from(&add.settings.renames);
        t.finish_in = add.settings.finish_in.clone();
        t.busy_at = now;
        t.upload_slots = self.slot_bounds().max;
        t.root_token = add.root_token;
        t.root_marked = add.root_marked;
        let tiers = add.source.take_tracker_tiers();
        t.announcer = announce::Announcer::new(tiers, self.cfg.tracker_reach);
        t.web_seeds = webseed::web_seeds(info_hash, add.source.web_seeds());
        let restoring = add.resume.is_some();
        // With metadata: whether to write it to the session store.
        let save_meta = match add.source {
            TorrentSource::Metainfo(m) => {
                let m = Arc::unwrap_or_clone(m);
                if !restoring {
                    t.about = crate::metainfo::About::of(&m).map(|a| Arc::new(a.encode()));
                }
                t.set_info(now, m.info, Arc::new(m.info_bytes));
                // Not when restoring: the bytes were just read from the store.
                t.meta.stored = restoring;
                Some(!t.meta.stored)
            }
            TorrentSource::Stored(s) => {
                let s = Arc::unwrap_or_clone(s);
                t.set_stored(s.info, s.metadata_size);
                Some(false)
            }
            TorrentSource::Magnet(m) => {
                let peers = m.peers.iter().filter_map(|p| p.parse::<SocketAddr>().ok());
                t.learn(peers.map(|a| (a, 0)), PeerSource::Manual, None);
                self.metadata.insert(info_hash, MetadataFetch::default());
                None
            }
        };
        if save_meta.is_some() {
            match add.have {
                Some(bits) if bits.len() == t.have.len() => t.have = bits,
                Some(_) => {
                    return Err(CommandError::BadArgument(
                        "resume bitfield does not match the piece count".into(),
                    ));
                }
                None => t.checking = Some(Box::new(Check::full(t.have.len()))),
            }
        }
        if let Some(h) = add.history.filter(|_| !restoring) {
            t.apply_history(h);
        }
        // Complete from the start: bits given with a fresh add (a restart's
        // record says itself when it completed).
        let complete_at_add = t.is_finished();
        if complete_at_add {
            t.completed_at = Some(t.added_at);
        }
        if let Some(r) = add.resume {
            t.apply_resume(*r)?;
            // One line per torrent at a restart of 100,000 is noise: the engine
            // logs the restore's summary.
            tracing::debug!(info_hash = %info_hash, name = %t.name, root = %t.root, "torrent restored");
        } else {
            tracing::info!(info_hash = %info_hash, name = %t.name, root = %t.root, "torrent added");
        }
        // Its files prepared where it lives; a restart whose files are to be
        // compared with its record first opens them once they are
        // (`core::stamps`).
        let compare = t.comparing();
        if let Some(save_meta) = save_meta
            && !compare
        {
            out.push(t.open_storage(info_hash, save_meta, false));
        }
        self.root_book.joined(&t.root, t.root_marked, t.root_lost);
        self.torrents.insert(info_hash, Box::new(t));
        if compare {
            self.to_compare.push_back(info_hash);
            self.compare_restored_next(out);
        }
        self.attention.note(info_hash);
        self.name_torrent(now, info_hash, out);
        if restoring {
            // Read back whole (no layout record): a hybrid restarted before
            // its layers came fetches them again.
            self.fetch_missing_hybrid_layers(now, info_hash, out);
        }
        self.drive_checking(info_hash, out);
        if !restoring {
            self.announce_soon.push(info_hash);
            out.push(Action::Milestone {
                info_hash,
                what: Milestone::Added,
            });
            if complete_at_add {
                self.now_complete(info_hash, out);
            }
        } else if self.torrents[&info_hash].finish_in.is_some() && complete_at_add {
            // Stopped after it finished and before its files had moved to
            // where they finish: they go now, and then it is told.
            self.now_complete(info_hash, out);
        }
        self.clocks_at(now, info_hash);
        Ok(info_hash)
    }

    /// Removes a torrent, closing its peers, and deleting its files if asked.
    pub fn remove_torrent(
        &mut self,
        now: Time,
        info_hash: InfoHash,
        delete_files: bool,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        self.stop_peers(info_hash, out)?;
        if let Some(mut t) = self.torrents.remove(&info_hash) {
            self.root_book.forget();
            self.super_shown.remove(&info_hash);
            if t.stat_out {
                // Its stamps' answer will find no torrent: the slot it held
                // among the requests out goes to the next torrent waiting
                // (else every removal during a comparison would shrink them
                // for good).
                self.stats_out = self.stats_out.saturating_sub(1);
                self.compare_restored_next(out);
            }
            tracing::info!(info_hash = %info_hash, delete_files, "torrent removed");
            self.note_removal(info_hash);
            // The trackers hear of it now (under each of its names): there is
            // no later tick for this torrent.
            self.announce_stopped(now, info_hash, &mut t, out);
            self.unname_torrent(info_hash);
        }
        self.metadata.remove(&info_hash);
        self.layers.remove(&info_hash);
        out.push(Action::CloseStorage {
            info_hash,
            delete_files,
        });
        Ok(())
    }

    /// Pauses a torrent: its peers are closed; what is had stays had.
    pub fn pause(
        &mut self,
        info_hash: InfoHash,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        self.stop_peers(info_hash, out)?;
        let t = self.torrent_mut(info_hash)?;
        t.paused = true;
        t.save_now = true;
        // Pausing stops a check that a paused torrent was running.
        if let Some(c) = &mut t.checking {
            c.while_paused = false;
        }
        Ok(())
    }

    /// Resumes a paused (or errored) torrent.
    pub fn resume(
        &mut self,
        info_hash: InfoHash,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        t.paused = false;
        t.save_now = true;
        // Restored without files it had: what is there now is checked first.
        if t.files_gone() {
            return self.force_recheck(info_hash, out);
        }
        // An unmounted root's error clears only when the root returns.
        if !t.root_lost {
            t.error = None;
        }
        t.write_failures.clear();
        t.disk_full = None; // asked to go on: try the disk at once
        // Its files could not be prepared before: try again.
        out.extend(t.reopen_storage(info_hash));
        self.drive_checking(info_hash, out);
        // Its `started` at the end of this call, if it runs now.
        self.announce_soon.push(info_hash);
        Ok(())
    }

    /// Forgets what is had and hashes everything on disk again (a paused
    /// torrent too: it stays paused).
    pub fn force_recheck(
        &mut self,
        info_hash: InfoHash,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        self.stop_peers(info_hash, out)?;
        let t = self.torrent_mut(info_hash)?;
        // A whole check replaces a restart's comparison of its files.
        t.stamps_due = StampsDue::No;
        t.read_failure_logged = false;
        t.read_doubt = None;
        // A torrent stopped because its files changed or were gone goes on
        // after the check.
        if t.files_gone()
            || t.error
                .as_deref()
                .is_some_and(|e| e.starts_with(DATA_CHANGED))
        {
            t.error = None;
        }
        if t.info.is_some() {
            t.have = Bitfield::new(t.have.len());
            t.picker.drop_all();
            // Its completion time stays until the check says otherwise (a
            // complete torrent being rechecked is still one that completed).
            let mut check = Check::full(t.have.len());
            // A paused torrent is checked and stays paused.
            check.while_paused = t.paused;
            t.checking = Some(Box::new(check));
            t.dirty = true;
            out.extend(t.reopen_storage(info_hash));
        }
        self.drive_checking(info_hash, out);
        Ok(())
    }

    /// Sets a torrent's caps in bytes per second (0 = none), each in one
    /// command with the other left as it is when `None`: a download cap and
    /// an upload cap set at once by two callers both hold.
    pub fn set_torrent_limits(
        &mut self,
        now: Time,
        info_hash: InfoHash,
        download: Option<u64>,
        upload: Option<u64>,
    ) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        if let Some(d) = download {
            t.down_limit.set_rate(now, d);
        }
        if let Some(u) = upload {
            t.up_limit.set_rate(now, u);
        }
        t.dirty = true;
        Ok(())
    }

    /// Sets the global caps in bytes per second (0 = none).
    pub fn set_global_limits(&mut self, now: Time, download: u64, upload: u64) {
        self.global_down.set_rate(now, download);
        self.global_up.set_rate(now, upload);
    }

    /// Sets the priority of the files at `files` (indexes into its metadata's
    /// files), the others' left as they are: in one command, so two changes
    /// to one torrent at once both hold. A pad file, or an index past the
    /// last file, is an error, as is a torrent without its metadata yet.
    pub fn set_some_file_priorities(
        &mut self,
        info_hash: InfoHash,
        files: &[usize],
        priority: u8,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        let Some(info) = &t.info else {
            return Err(CommandError::BadArgument(
                "its metadata has not come yet".into(),
            ));
        };
        let mut all = t.file_priority.clone();
        for &i in files {
            match (info.files.get(i), all.get_mut(i)) {
                (Some(f), Some(p)) if f.is_stored() => *p = priority,
                _ => return Err(CommandError::BadArgument(format!("no file {i}"))),
            }
        }
        self.set_file_priorities(info_hash, &all, out)
    }

    /// Sets every file's priority (0 = skip, 1..=7 = normal to highest).
    pub fn set_file_priorities(
        &mut self,
        info_hash: InfoHash,
        priorities: &[u8],
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        let files = t.info.as_ref().map_or(0, |i| i.files.len());
        if priorities.len() != files {
            return Err(CommandError::BadArgument(format!(
                "{} priorities for {files} files",
                priorities.len()
            )));
        }
        t.file_priority = priorities.iter().map(|&p| p.min(MAX_PRIORITY)).collect();
        t.recompute_piece_priority();
        t.dirty = true;
        // Pieces no longer wanted stop being requested.
        let dropped: Vec<u32> = t.picker.in_progress().filter(|&p| !t.wants(p)).collect();
        for p in dropped {
            t.picker.drop_piece(p);
        }
        let now_complete = t.is_finished() && t.completed_at.is_none();
        if now_complete {
            t.completed_at = Some(t.added_at);
        }
        let start = out.len();
        if now_complete {
            self.now_complete(info_hash, out);
        }
        self.update_interest(info_hash, out);
        self.seal_sends(out, start);
        Ok(())
    }

    /// Adds the trackers of `tiers` a torrent does not have yet, each tier's
    /// new ones as a tier after its last.
    pub fn add_trackers(
        &mut self,
        now: Time,
        info_hash: InfoHash,
        tiers: &[Vec<String>],
    ) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        if t.announcer.absorb(now, tiers) > 0 {
            t.save_now = true;
        }
        Ok(())
    }

    /// Replaces a torrent's labels.
    pub fn set_labels(
        &mut self,
        info_hash: InfoHash,
        labels: &[String],
    ) -> Result<(), CommandError> {
        let labels = clean_labels(labels)?;
        let t = self.torrent_mut(info_hash)?;
        if t.labels != labels {
            t.labels = labels;
            t.save_now = true;
        }
        Ok(())
    }

    /// Puts each wanted file's first and last piece first, or stops doing so.
    pub fn set_first_last(&mut self, info_hash: InfoHash, on: bool) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        if t.first_last != on {
            t.first_last = on;
            t.recompute_piece_priority();
            t.save_now = true;
        }
        Ok(())
    }

    /// Gives a torrent a name to be shown by (empty: its own again).
    pub fn set_display_name(
        &mut self,
        info_hash: InfoHash,
        name: &str,
    ) -> Result<(), CommandError> {
        let name = clean_display_name(name)?;
        let t = self.torrent_mut(info_hash)?;
        if t.display_name != name {
            t.display_name = name;
            t.save_now = true;
        }
        Ok(())
    }

    /// Sets a torrent's category (empty: none). Where its data goes is the
    /// engine's business; this only records the name.
    pub fn set_category(
        &mut self,
        info_hash: InfoHash,
        category: &str,
    ) -> Result<(), CommandError> {
        let category = clean_category(category)?;
        let t = self.torrent_mut(info_hash)?;
        if t.category != category {
            t.category = category;
            t.save_now = true;
        }
        Ok(())
    }

    /// Places a torrent by hand (`manual`), or has it follow its category.
    /// Only the flag: where its files go is the engine's.
    pub fn set_manual(&mut self, info_hash: InfoHash, manual: bool) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        if t.manual != manual {
            t.manual = manual;
            t.save_now = true;
        }
        Ok(())
    }

    /// Changes where a torrent still downloading moves when it finishes (to
    /// the root it is in, or is moving to: it stays there). `Err` once it has
    /// every wanted piece (its finishing move is made or under way).
    pub fn set_finish_in(
        &mut self,
        info_hash: InfoHash,
        to: Box<super::FinishRoot>,
    ) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        if t.finishing || t.complete() {
            return Err(CommandError::BadArgument(
                "it has finished: it is where it stays".into(),
            ));
        }
        let going_to = t
            .moving
            .as_deref()
            .map_or(&*t.root_token, |(_, token, _)| token);
        t.finish_in = (to.token != *going_to).then_some(to);
        t.save_now = true;
        Ok(())
    }

    /// Downloads pieces in order (for streaming) instead of rarest first.
    pub fn set_sequential(&mut self, info_hash: InfoHash, on: bool) -> Result<(), CommandError> {
        let t = self.torrent_mut(info_hash)?;
        t.sequential = on;
        t.dirty = true;
        Ok(())
    }

    /// Adds peer addresses to try, given by the user.
    pub fn add_peers(
        &mut self,
        info_hash: InfoHash,
        addrs: &[SocketAddr],
    ) -> Result<(), CommandError> {
        self.add_peers_from(info_hash, addrs, PeerSource::Manual)
    }

    /// Adds peer addresses to try, learned from `source` (this machine's DHT
    /// node or the user: both may name local addresses).
    pub fn add_peers_from(
        &mut self,
        info_hash: InfoHash,
        addrs: &[SocketAddr],
        source: PeerSource,
    ) -> Result<(), CommandError> {
        // Under a hybrid's alias: its other swarm's peers (see `alias`).
        let ih = self.resolve_name(info_hash);
        let t = self.torrent_mut(ih)?;
        let learned = t.learn_named(addrs.iter().map(|a| (*a, 0)), source, None, ih != info_hash);
        match learned.why {
            Some(why) if learned.new + learned.known == 0 => Err(CommandError::BadArgument(
                format!("peer address refused: {why}"),
            )),
            _ => Ok(()),
        }
    }

    /// The torrents the DHT may announce: running (not paused, queued or in
    /// error) and not private (BEP 27; a magnet counts as public until its
    /// metadata says otherwise), each with whether it needs peers now (its
    /// metadata is missing, or it downloads without a peer). A hybrid is
    /// listed under its alias too (its other swarm; see `alias`).
    pub fn dht_torrents(&self) -> Vec<(InfoHash, bool)> {
        self.torrents
            .iter()
            .filter(|(_, t)| {
                !t.stopped() && t.error.is_none() && !t.info.as_ref().is_some_and(|i| i.private)
            })
            .flat_map(|(ih, t)| {
                let needy = t.info.is_none() || (t.peers.is_empty() && !t.is_finished());
                let alias = self.names.alias_of(*ih).map(|a| (a, needy));
                std::iter::once((*ih, needy)).chain(alias)
            })
            .collect()
    }

    /// The info-hashes of every torrent.
    pub fn torrents(&self) -> Vec<InfoHash> {
        self.torrents.keys().copied().collect()
    }

    /// The metadata of a torrent, once known.
    pub fn info(&self, info_hash: InfoHash) -> Option<Arc<Info>> {
        self.torrents.get(&info_hash)?.info.clone()
    }

    /// What is had, piece by piece.
    pub fn have(&self, info_hash: InfoHash) -> Option<&Bitfield> {
        self.torrents.get(&info_hash).map(|t| &t.have)
    }

    /// Every connected peer of a torrent.
    pub fn peer_stats(&mut self, now: Time, info_hash: InfoHash) -> Vec<PeerStats> {
        let book = self.torrents.get(&info_hash).map(|t| &t.addrs);
        self.peers
            .values_mut()
            .filter(|p| p.info_hash == Some(info_hash) && p.phase == Phase::Active)
            .map(|p| PeerStats {
                sources: match book.and_then(|b| b.get(&p.addr)) {
                    Some(a) if p.outbound => {
                        PeerSource::ALL.into_iter().filter(|s| a.from(*s)).collect()
                    }
                    _ => Vec::new(),
                },
                addr: p.addr,
                client: p.client.clone(),
                flags: p.flags(),
                download_rate: p.down.rate(now),
                upload_rate: p.up.rate(now),
                pieces: p.have.count(),
                encryption: p.encryption(),
                transport: p.transport,
            })
            .collect()
    }

    pub(super) fn torrent_mut(
        &mut self,
        info_hash: InfoHash,
    ) -> Result<&mut Torrent, CommandError> {
        let t = self
            .torrents
            .get_mut(&info_hash)
            .ok_or(CommandError::UnknownTorrent(info_hash))?;
        // What changes it may give a tick work (see `walk`).
        self.attention.note(info_hash);
        Ok(&mut **t)
    }

    pub(super) fn stop_peers(
        &mut self,
        info_hash: InfoHash,
        out: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        self.torrent_mut(info_hash)?;
        self.close_peers(info_hash, out);
        Ok(())
    }

    /// Closes every connection of a torrent (none if it is not there).
    pub(super) fn close_peers(&mut self, info_hash: InfoHash, out: &mut Vec<Action>) {
        let keys: Vec<PeerKey> = self
            .torrents
            .get(&info_hash)
            .map(|t| t.peers.iter().copied().collect())
            .unwrap_or_default();
        for k in keys {
            self.close(k, CloseReason::TorrentStopped, out);
        }
    }

    /// The engine is stopping: every connection closes and none is made or taken
    /// again, so nothing new is downloaded while the last saves are made, and the
    /// trackers are told `stopped`. Torrents keep their state (a restart resumes
    /// them as they were, not paused).
    pub fn shut_down(&mut self, now: Time, out: &mut Vec<Action>) {
        // Pieces waiting for their check are checked and written, not lost.
        self.check_waiting(now, out);
        self.shutting_down = true;
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            self.close(k, CloseReason::Shutdown, out);
        }
        self.stop_announcing(now, out);
    }
}
