//! Restore on start: every torrent in the session store comes back into its root
//! and shard with its recorded bitfield and its files' recorded stamps; once
//! every torrent is back, the shards compare the files with those stamps
//! (`core::stamps`) and only files whose size or mtime changed since the save
//! are hashed again. A damaged or unknown-version record costs that torrent a
//! recheck, never the others their load.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::Engine;
use super::restore_read::{Reader, key_info_hash, read_ahead};
use crate::core::layout::{LayoutRecord, decode_layout};
use crate::core::{
    AddTorrent, Command, Reply, Resume, StoredTorrent, TorrentSettings, TorrentSource,
};
use crate::metainfo::{Info, Magnet, Metainfo, MetainfoLimits, parse_stored};
use crate::resume_lmdb::record::{self, StateRecord};
use crate::resume_lmdb::{Page, StoreOp, clock_info_hash, layout_op, meta_key};
use crate::roots::StorageRootManager;
use crate::types::InfoHash;

/// What a start restored.
#[derive(Debug, Clone, Default)]
pub struct RestoreReport {
    /// Torrents back in the engine.
    pub restored: usize,
    /// Torrents checked again in part or in whole, and why.
    pub rechecked: Vec<(InfoHash, String)>,
    /// Records that could not be used at all (key or torrent, and why).
    pub failed: Vec<(String, String)>,
}

/// A torrent's records, borrowed from the page that read them (owned when
/// carried over to the next page).
#[derive(Default)]
struct Records<'a> {
    layout: Option<Cow<'a, [u8]>>,
    state: Option<Cow<'a, [u8]>>,
    peers: Option<Cow<'a, [u8]>>,
    /// Seconds seeded and run by its clock records (the larger of each, with
    /// a store's from before their own key range), and whether one could not
    /// be read.
    clock: Option<crate::core::ClockSecs>,
    clock_damaged: bool,
}

impl Records<'_> {
    fn into_owned(self) -> Records<'static> {
        let own = |r: Option<Cow<'_, [u8]>>| r.map(|b| Cow::Owned(b.into_owned()));
        Records {
            layout: own(self.layout),
            state: own(self.state),
            peers: own(self.peers),
            clock: self.clock,
            clock_damaged: self.clock_damaged,
        }
    }

    /// Takes in a clock record's value.
    fn add_clock(&mut self, value: &[u8]) {
        match crate::resume_lmdb::decode_clock(value) {
            Some(secs) => self.clock = Some(self.clock.map_or(secs, |c| c.max(secs))),
            None => self.clock_damaged = true,
        }
    }
}

/// Torrents a restoring thread is given at least (a small page needs fewer
/// threads).
const MIN_SHARE: usize = 64;

/// A storage root as a share's adds name it, looked up once: its token and
/// path are one string each that every add in it shares (not two copies a
/// torrent), and whether it is there is asked once.
struct SeenRoot {
    token: Arc<str>,
    path: Arc<str>,
    marked: bool,
    there: bool,
}

/// A shard's answer to a page's adds, awaited once the next page is read.
struct PendingAdd {
    shard: usize,
    /// Each add's root, in the order of the adds.
    tokens: Vec<Arc<str>>,
    answer: flume::Receiver<Result<Reply, String>>,
}

/// A page's records by torrent, with the records `carried` from the page
/// before; keys that name no torrent are reported.
fn group<'a>(
    page: &'a Page,
    carried: Option<(InfoHash, Records<'static>)>,
    report: &mut RestoreReport,
) -> BTreeMap<InfoHash, Records<'a>> {
    let mut by_torrent: BTreeMap<InfoHash, Records<'a>> = carried.into_iter().collect();
    for (key, value) in page.iter() {
        let Some(ih) = key_info_hash(key) else {
            let key = String::from_utf8_lossy(key).into_owned();
            report.failed.push((key, "not an info-hash".into()));
            continue;
        };
        let r = by_torrent.entry(ih).or_default();
        match key.splitn(3, |&b| b == b':').nth(2) {
            Some(b"layout") => r.layout = Some(Cow::Borrowed(value)),
            Some(b"state") => r.state = Some(Cow::Borrowed(value)),
            Some(b"peers") => r.peers = Some(Cow::Borrowed(value)),
            Some(b"clock") => r.add_clock(value),
            _ => {}
        }
    }
    by_torrent
}

/// What one restoring thread produced.
#[derive(Default)]
struct Share {
    adds: Vec<AddTorrent>,
    report: RestoreReport,
    migrated: Vec<StoreOp>,
}

/// What a restart knows of a torrent's metadata.
enum Known {
    /// Its layout record: the metadata stays in the store until needed.
    Layout(LayoutRecord),
    /// No usable layout record: the metadata itself, read and parsed.
    Full(Info, Vec<u8>),
}

impl Known {
    fn info(&self) -> &Info {
        match self {
            Known::Layout(l) => &l.info,
            Known::Full(info, _) => info,
        }
    }

    fn info_mut(&mut self) -> &mut Info {
        match self {
            Known::Layout(l) => &mut l.info,
            Known::Full(info, _) => info,
        }
    }
}

impl Engine {
    pub(super) fn restore(&self) -> RestoreReport {
        let mut report = RestoreReport::default();
        match StorageRootManager::load(&**self.store()) {
            Ok(m) => *self.roots_lock() = m,
            Err(e) => report.failed.push(("settings:roots".into(), e.to_string())),
        }
        match super::catalog::Catalog::load(&**self.store()) {
            Ok(c) => {
                *self
                    .inner
                    .catalog
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = c
            }
            Err(e) => report
                .failed
                .push(("settings:catalog".into(), e.to_string())),
        }
        // Read, checked and added a page at a time, so the records and adds in
        // memory at once are a page's, whatever the store holds: while the
        // shards add one page, the next is read and checked.
        let mut carried: Option<(InfoHash, Records<'static>)> = None;
        let mut pending: Vec<PendingAdd> = Vec::new();
        let mut reshare = false;
        // Clock records that named no torrent in the store.
        let mut orphans: Vec<StoreOp> = Vec::new();
        let mut clocks_failed = false;
        std::thread::scope(|scope| {
            // The next page is read while this one is decoded: one page
            // waits at most (the reader blocks while it is not taken), and
            // two pages' room comes back for reuse (a third is freed).
            let (page_tx, pages) = flume::bounded(1);
            let (spare_tx, spare) = flume::bounded::<(Page, Page)>(2);
            let reader = Reader::new(&**self.store());
            let ahead = std::thread::Builder::new()
                .name("sr-restore-read".into())
                .spawn_scoped(scope, move || read_ahead(reader, &page_tx, &spare));
            let mut inline = match &ahead {
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "no thread to read the session store ahead: it is read in turn");
                    Some(Reader::new(&**self.store()))
                }
            };
            loop {
                let next = match &mut inline {
                    Some(r) => r.read(Page::default(), Page::default()),
                    None => pages.recv().ok(),
                };
                let Some(read) = next else { break };
                let read = match read {
                    Ok(r) => r,
                    Err(e) => {
                        report.failed.push(("torrent:*".into(), e.to_string()));
                        break;
                    }
                };
                let mut by_torrent = group(&read.records, carried.take(), &mut report);
                // The page may end inside the last torrent's records: it waits
                // for the rest in the next page (and so do its clocks).
                if !read.last {
                    carried = by_torrent.pop_last().map(|(ih, r)| (ih, r.into_owned()));
                }
                if let Some(e) = &read.clocks_error
                    && !std::mem::replace(&mut clocks_failed, true)
                {
                    // Each torrent still has its state record's seconds seeded.
                    tracing::warn!(error = %e, "seeding clocks not read: the resume records' seconds seeded are used");
                }
                for (key, value) in read.clocks.iter() {
                    match clock_info_hash(key).and_then(|ih| by_torrent.get_mut(&ih)) {
                        Some(r) => r.add_clock(value),
                        None => orphans.push(StoreOp::Delete(key.to_vec())),
                    }
                }
                let per_shard = self.restore_page(by_torrent, &mut report);
                // The previous page's adds are answered before this page's go out:
                // one page in the shards at a time.
                reshare |= self.settle(std::mem::take(&mut pending), &mut report);
                for (shard, adds) in per_shard {
                    let tokens: Vec<_> = adds.iter().map(|a| Arc::clone(&a.root_token)).collect();
                    match pollster::block_on(self.inner.send_now(shard, Command::Add(adds))) {
                        Ok(answer) => pending.push(PendingAdd {
                            shard,
                            tokens,
                            answer,
                        }),
                        Err(e) => report
                            .failed
                            .push((format!("shard {shard}"), e.to_string())),
                    }
                }
                if read.last {
                    break;
                }
                // Full: the page's room is freed instead.
                let _ = spare_tx.try_send((read.records, read.clocks));
            }
            // A reader waiting to hand over a page finds the restore gone.
            drop(pages);
            if let Ok(ahead) = ahead
                && ahead.join().is_err()
            {
                let why = "the thread reading the session store panicked".to_owned();
                report.failed.push(("torrent:*".into(), why));
            }
        });
        reshare |= self.settle(pending, &mut report);
        if !orphans.is_empty() {
            let n = orphans.len();
            match self.store().apply(orphans) {
                Ok(()) => {
                    tracing::warn!(
                        records = n,
                        "seeding clocks of torrents not in the store: deleted"
                    );
                }
                Err(e) => {
                    tracing::warn!(records = n, error = %e, "seeding clocks of torrents not in the store: not deleted");
                }
            }
        }
        self.roots_lock().forget_recorded();
        if reshare {
            self.share_caps();
        }
        // Every torrent is back. Those past the queue's limits wait before
        // any of them is started (announced, its recorded peers dialled).
        let queue = self.queue_limits();
        if queue.enabled
            && let Err(e) = self.set_queue_limits(queue)
        {
            report.failed.push(("queue".into(), e.to_string()));
        }
        // Their files are compared with their records now, off the start's
        // path.
        for shard in 0..self.inner.shards() {
            if let Err(e) = self.on_shard(shard, Command::RestoreDone) {
                report
                    .failed
                    .push((format!("shard {shard}"), e.to_string()));
            }
        }
        report
    }

    /// One page's torrents checked against their files on several threads,
    /// as adds for each shard.
    fn restore_page(
        &self,
        by_torrent: BTreeMap<InfoHash, Records<'_>>,
        report: &mut RestoreReport,
    ) -> BTreeMap<usize, Vec<AddTorrent>> {
        // Decoding is all the work here (the files are stamped later, by the
        // shards), beside the shards adding the page before: a thread per
        // core. Decoding is the start's longest path, and the shards and the
        // store's reader take the cores' other turns. (On two cores at
        // 100,000 torrents, two restoring threads against one: start
        // 1,622–2,021 ms against 2,077–2,420 ms, CPU 2.6–3.3 s against
        // 3.0–3.5 s, five runs each, alternated. One thread did better
        // while the store was read through its map: the reader's faults
        // took a core's share then, see `resume_lmdb::file_scan`.)
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, 16)
            .min(by_torrent.len().div_ceil(MIN_SHARE).max(1));
        let mut shares: Vec<Vec<(InfoHash, Records<'_>)>> =
            (0..threads).map(|_| Vec::new()).collect();
        for (i, entry) in by_torrent.into_iter().enumerate() {
            shares[i % threads].push(entry);
        }
        let lost = || {
            let mut lost = Share::default();
            let why = "the thread restoring them panicked".to_owned();
            lost.report.failed.push(("a share of torrents".into(), why));
            lost
        };
        let done: Vec<Share> = if threads == 1 {
            // On this thread, a panic caught as a thread's would be.
            let share = shares.pop().unwrap_or_default();
            let run = std::panic::AssertUnwindSafe(|| self.restore_share(share));
            vec![std::panic::catch_unwind(run).unwrap_or_else(|_| lost())]
        } else {
            std::thread::scope(|scope| {
                let running: Vec<_> = shares
                    .into_iter()
                    .map(|share| scope.spawn(move || self.restore_share(share)))
                    .collect();
                running
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| lost()))
                    .collect()
            })
        };
        // Each shard's adds in a vector made large enough at once (the
        // hash spreads them evenly; an add is a few hundred bytes, and a
        // vector grown by doubling copied and faulted in a page's worth
        // again and again).
        let total: usize = done.iter().map(|s| s.adds.len()).sum();
        let each = total.div_ceil(self.inner.shards()) * 9 / 8 + 16;
        let mut per_shard: BTreeMap<usize, Vec<AddTorrent>> = BTreeMap::new();
        // Layout records written for torrents that had none (a store from before
        // them): the next start reads those instead of the metadata.
        let mut migrated = Vec::new();
        for share in done {
            for add in share.adds {
                let ih = add.source.info_hash();
                self.inner.next_queue_pos.fetch_max(
                    add.settings.queue_pos + 1,
                    std::sync::atomic::Ordering::Relaxed,
                );
                let adds = per_shard.entry(self.shard_index(ih));
                adds.or_insert_with(|| Vec::with_capacity(each)).push(add);
            }
            report.rechecked.extend(share.report.rechecked);
            report.failed.extend(share.report.failed);
            migrated.extend(share.migrated);
        }
        if !migrated.is_empty()
            && let Err(e) = self.store().apply(migrated)
        {
            tracing::warn!(error = %e, "layout records not written: the next start reads the metadata again");
        }
        per_shard
    }

    /// Waits for the shards' answers to a page's adds and places each torrent
    /// added; whether the caps need sharing out again.
    fn settle(&self, pending: Vec<PendingAdd>, report: &mut RestoreReport) -> bool {
        let mut reshare = false;
        for PendingAdd {
            shard,
            tokens,
            answer,
        } in pending
        {
            let results = pollster::block_on(self.inner.answer_of(shard, answer))
                .and_then(Reply::added)
                .map(|r| r.into_iter().zip(tokens).collect::<Vec<_>>());
            let results = match results {
                Ok(r) => r,
                Err(e) => {
                    report
                        .failed
                        .push((format!("shard {shard}"), e.to_string()));
                    continue;
                }
            };
            for (r, token) in results {
                match r {
                    Ok(ih) => {
                        report.restored += 1;
                        self.place_torrent(ih, &token);
                        reshare |= self.tally_torrent(ih, true);
                    }
                    Err(e) => report.failed.push(("torrent".into(), e.to_string())),
                }
            }
        }
        reshare
    }

    /// The adds that bring back one thread's share of the torrents.
    fn restore_share(&self, share: Vec<(InfoHash, Records<'_>)>) -> Share {
        let mut out = Share {
            adds: Vec::with_capacity(share.len()),
            ..Share::default()
        };
        // Each root looked up once, not per torrent.
        let mut available: BTreeMap<String, SeenRoot> = BTreeMap::new();
        for (ih, recs) in share {
            let add =
                self.restore_one(ih, recs, &mut available, &mut out.report, &mut out.migrated);
            match add {
                Ok(add) => out.adds.push(add),
                Err(why) => out.report.failed.push((ih.to_hex(), why)),
            }
        }
        out
    }

    /// The root of a torrent whose resume record (which names it) is
    /// unusable: where an older store's roots record placed it, else the
    /// first root, the default first, that holds its first file, else the
    /// default root.
    fn root_without_record(&self, ih: InfoHash, info: Option<&Info>) -> Option<String> {
        let (default, others) = {
            let roots = self.roots_lock();
            if let Some(r) = roots.recorded_root_of(ih) {
                return Some(r.token.clone());
            }
            let default = roots.default_root().ok().cloned();
            (default, roots.list().cloned().collect::<Vec<_>>())
        };
        let first = info.and_then(|i| i.files.iter().position(|f| f.is_stored()));
        let holds = |r: &crate::roots::Root| {
            let (Some(i), Some(f)) = (info, first) else {
                return false;
            };
            let there = crate::disk_uring::io::file_path(&r.path, i, f);
            self.with_files(|fs| fs.is_file(&there))
        };
        let found = default.iter().chain(&others).find(|r| holds(r));
        found.or(default.as_ref()).map(|r| r.token.clone())
    }

    /// The add that brings one torrent back, from its records.
    fn restore_one(
        &self,
        ih: InfoHash,
        recs: Records<'_>,
        available: &mut BTreeMap<String, SeenRoot>,
        report: &mut RestoreReport,
        migrated: &mut Vec<StoreOp>,
    ) -> Result<AddTorrent, String> {
        let mut notes = Vec::new();
        // Owned: its lists and strings are moved into the add, not copied.
        let mut state = match recs.state.as_deref().map(StateRecord::decode) {
            Some(Ok(r)) => Some(r),
            Some(Err(e)) => {
                notes.push(format!("resume record unusable ({e}): full recheck"));
                None
            }
            None => {
                notes.push("no resume record: full recheck".into());
                None
            }
        };
        let pieces = state.as_ref().map(|s| s.have.len());
        let layout = recs
            .layout
            .as_deref()
            .and_then(|b| decode_layout(b).ok())
            // A layout that disagrees with the resume record is not trusted.
            .filter(|l| pieces.is_none_or(|n| n == l.info.geometry.piece_count()));
        let mut info = match layout {
            Some(l) => Some(Known::Layout(l)),
            None => self.read_meta(ih, &mut notes, migrated),
        };
        // Its files where its content layout put them (the core does the same
        // with what it is given; doing it twice changes nothing).
        if let (Some(k), Some(s)) = (info.as_mut(), &state) {
            k.info_mut().lay_out(s.content_layout);
        }
        if info.is_none() && state.is_none() {
            return Err("no usable metadata and no resume record".into());
        }
        let trackers = (state.as_mut())
            .map(|s| std::mem::take(&mut s.trackers))
            .unwrap_or_default();
        let web_seeds = (state.as_mut())
            .map(|s| std::mem::take(&mut s.web_seeds))
            .unwrap_or_default();
        let token = match &mut state {
            Some(s) => std::mem::take(&mut s.root),
            None => self
                .root_without_record(ih, info.as_ref().map(Known::info))
                .ok_or("no root is known for it")?,
        };
        if !available.contains_key(&token) {
            let roots = self.roots_lock();
            let root = (roots.list().find(|r| r.token == token))
                .ok_or_else(|| format!("its storage root {token:?} is not configured"))?;
            let seen = SeenRoot {
                token: token.as_str().into(),
                path: root.path.to_string_lossy().as_ref().into(),
                marked: root.marked,
                there: self.root_available(root),
            };
            available.insert(token.clone(), seen);
        }
        let seen = &available[&token];
        let (root_path, root_marked, root_missing) =
            (Arc::clone(&seen.path), seen.marked, !seen.there);
        let peers = recs
            .peers
            .as_deref()
            .and_then(|b| record::decode_peers(b).ok())
            .unwrap_or_default();
        let mut resume = Resume {
            peers: peers.iter().map(|p| p.addr).collect(),
            root_missing,
            ..Resume::default()
        };
        let mut have = None;
        if let Some(s) = &mut state {
            resume.downloaded = s.downloaded;
            resume.uploaded = s.uploaded;
            resume.added_at = s.added_at;
            resume.completed_at = s.completed_at;
            resume.active_at = s.active_at;
            resume.seen_complete = s.seen_complete;
            // A clock record is newer than the state record when there
            // (written at a save that changed nothing else); seconds seeded
            // and run only grow, so the larger is the latest.
            if recs.clock_damaged {
                // Not a reason to check anything again: said, not noted.
                tracing::warn!(info_hash = %ih,
                    "its clock record is damaged: the resume record's seconds seeded and run are used");
            }
            let clock = recs.clock.unwrap_or_default();
            resume.seeding_secs = s.seeding_secs.max(clock.seeding);
            resume.running_secs = s.running_secs.max(clock.running.unwrap_or(0));
            resume.file_priorities = std::mem::take(&mut s.file_priorities);
        }
        let source = match info {
            Some(known) => {
                let info = known.info();
                if let Some(s) = &mut state {
                    if s.have.len() != info.geometry.piece_count() {
                        notes.push("resume bitfield does not fit the torrent: full recheck".into());
                    } else if s.checking {
                        // What it had found is not all its files hold.
                        notes.push("a check was under way when it stopped: checked again".into());
                    } else {
                        // With its root missing, trusted until the root returns
                        // (when a sample is checked); else once its files are
                        // found as the record stamped them.
                        have = Some(std::mem::take(&mut s.have));
                        resume.stamps_digest =
                            (!root_missing).then(|| crate::core::stamps_digest(&s.files));
                    }
                }
                match known {
                    Known::Layout(l) => TorrentSource::Stored(Arc::new(StoredTorrent {
                        info_hash: ih,
                        info: l.info,
                        metadata_size: l.metadata_size,
                        tracker_tiers: trackers,
                        web_seeds,
                    })),
                    Known::Full(info, info_bytes) => TorrentSource::Metainfo(Arc::new(Metainfo {
                        info_hash: ih,
                        info_bytes,
                        info,
                        v2: None,
                        tracker_tiers: trackers,
                        web_seeds,
                        creation_date: None,
                        comment: None,
                        created_by: None,
                    })),
                }
            }
            None => {
                let s = state.as_mut().expect("checked above");
                TorrentSource::Magnet(Magnet {
                    info_hash: ih,
                    display_name: Some(std::mem::take(&mut s.name)),
                    trackers: trackers.into_iter().flatten().collect(),
                    peers: Vec::new(),
                    select_only: Vec::new(),
                })
            }
        };
        if !notes.is_empty() {
            let note = notes.join("; ");
            report.rechecked.push((ih, note.clone()));
            resume.note = Some(note);
        }
        if state.is_none() {
            // Times restart; what the disk holds is found by the full recheck.
            resume.added_at = self.now_unix();
        }
        Ok(AddTorrent {
            source,
            root: root_path,
            root_token: Arc::clone(&seen.token),
            root_marked,
            paused: state.as_ref().is_some_and(|s| s.paused),
            have,
            resume: Some(Box::new(resume)),
            incomplete: String::new(),
            history: None,
            settings: state
                .as_mut()
                .map(|s| TorrentSettings {
                    sequential: s.sequential,
                    download_limit: s.download_limit,
                    upload_limit: s.upload_limit,
                    labels: std::mem::take(&mut s.labels),
                    category: std::mem::take(&mut s.category),
                    share: s.share,
                    share_action: s.share_action,
                    queue_pos: s.queue_pos,
                    forced: s.forced,
                    display_name: std::mem::take(&mut s.display_name),
                    first_last: s.first_last,
                    manual: s.manual,
                    super_seeding: s.super_seeding,
                    content_layout: s.content_layout,
                    renames: std::mem::take(&mut s.renames),
                    finish_in: s.finish_in.as_deref().and_then(|token| {
                        let f = self.finish_root(token).map(Box::new);
                        if f.is_none() {
                            tracing::warn!(info_hash = %ih, root = token,
                                "the root its files were to move to when it finishes is gone: they stay where they are");
                        }
                        f
                    }),
                })
                .unwrap_or_default(),
        })
    }

    /// The torrent's metadata read and parsed (no usable layout record): with a
    /// layout record to write for the next start.
    fn read_meta(
        &self,
        ih: InfoHash,
        notes: &mut Vec<String>,
        migrated: &mut Vec<StoreOp>,
    ) -> Option<Known> {
        let bytes = match self.store().get(&meta_key(ih)) {
            Ok(b) => b?,
            Err(e) => {
                notes.push(format!(
                    "stored metadata unreadable ({e}): fetching it again from peers"
                ));
                return None;
            }
        };
        match parse_stored(&bytes, &MetainfoLimits::default()) {
            // A hybrid known by its v2 name has its v1 one in its record.
            Ok((h, info, bytes)) if h == ih || info.other_name(h) == Some(ih) => {
                migrated.push(layout_op(ih, &info, bytes.len() as u64));
                Some(Known::Full(info, bytes))
            }
            _ => {
                notes.push("stored metadata is damaged: fetching it again from peers".into());
                None
            }
        }
    }

    fn now_unix(&self) -> u64 {
        // Shard 0 was started just now; it cannot have failed yet, and if it has,
        // a zero time only means a fresh `added_at`.
        self.on_shard(0, Command::UnixNow)
            .and_then(Reply::unix_now)
            .unwrap_or(0)
    }
}
