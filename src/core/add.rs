//! What a torrent is added with: where it comes from, where it goes, what a
//! user set on it, and (restored) what its record said; the checks of the
//! names a user gives it.

use super::*;

/// Where a torrent comes from.
#[derive(Debug, Clone)]
pub enum TorrentSource {
    /// A parsed .torrent.
    Metainfo(Arc<Metainfo>),
    /// A magnet link: the metadata is fetched from peers.
    Magnet(Magnet),
    /// A torrent whose metadata is in the session store (a restart): its layout
    /// only; the piece hashes are read from the store when needed
    /// ([`Action::LoadMeta`]).
    Stored(Arc<StoredTorrent>),
}

impl TorrentSource {
    /// The torrent's info-hash.
    pub fn info_hash(&self) -> InfoHash {
        match self {
            TorrentSource::Metainfo(m) => m.info_hash,
            TorrentSource::Stored(m) => m.info_hash,
            TorrentSource::Magnet(m) => m.info_hash,
        }
    }

    /// A hybrid's other info-hash (see `alias`), when its metadata is here.
    pub fn other_name(&self) -> Option<InfoHash> {
        match self {
            TorrentSource::Metainfo(m) => m.info.other_name(m.info_hash),
            TorrentSource::Stored(m) => m.info.other_name(m.info_hash),
            TorrentSource::Magnet(_) => None,
        }
    }

    /// Its web seeds (BEP 19 `url-list`).
    pub fn web_seeds(&self) -> &[String] {
        match self {
            TorrentSource::Metainfo(m) => &m.web_seeds,
            TorrentSource::Stored(m) => &m.web_seeds,
            TorrentSource::Magnet(_) => &[],
        }
    }

    /// Its trackers, by tier: taken out of it, leaving it none, when nothing
    /// else holds its metadata (a restart's adds, which copied them one
    /// torrent at a time before); else copied, the shared metadata untouched.
    /// A magnet's are always taken.
    pub fn take_tracker_tiers(&mut self) -> Vec<Vec<String>> {
        match self {
            TorrentSource::Metainfo(m) => match Arc::get_mut(m) {
                Some(m) => std::mem::take(&mut m.tracker_tiers),
                None => m.tracker_tiers.clone(),
            },
            TorrentSource::Stored(m) => match Arc::get_mut(m) {
                Some(m) => std::mem::take(&mut m.tracker_tiers),
                None => m.tracker_tiers.clone(),
            },
            TorrentSource::Magnet(m) => std::mem::take(&mut m.trackers)
                .into_iter()
                .map(|t| vec![t])
                .collect(),
        }
    }

    /// Its trackers, by tier.
    pub fn tracker_tiers(&self) -> Vec<Vec<String>> {
        match self {
            TorrentSource::Metainfo(m) => m.tracker_tiers.clone(),
            TorrentSource::Stored(m) => m.tracker_tiers.clone(),
            TorrentSource::Magnet(m) => m.trackers.iter().map(|t| vec![t.clone()]).collect(),
        }
    }
}

/// What [`TorrentSource::Stored`] brings back.
#[derive(Debug, Clone)]
pub struct StoredTorrent {
    /// Its info-hash.
    pub info_hash: InfoHash,
    /// Its layout, without piece hashes (see [`layout`]).
    pub info: Info,
    /// Bytes of its `info` dictionary in the store.
    pub metadata_size: u64,
    /// Tracker tiers.
    pub tracker_tiers: Vec<Vec<String>>,
    /// Web seed URLs.
    pub web_seeds: Vec<String>,
}

/// How to add a torrent.
#[derive(Debug, Clone)]
pub struct AddTorrent {
    /// The torrent.
    pub source: TorrentSource,
    /// The storage root its files go under: the core takes a path; the engine
    /// also accepts a root token here and resolves it. Shared: a restart's
    /// torrents in one root hold one string of its path between them.
    pub root: Arc<str>,
    /// The root's token (set by the engine; empty when the root is not
    /// managed), shared as `root` is.
    pub root_token: Arc<str>,
    /// Whether the root is a configured storage root with a marker file (its
    /// presence tells the disk is mounted), or a plain folder given at add (there
    /// while the folder is). Set by the engine.
    pub root_marked: bool,
    /// Start paused.
    pub paused: bool,
    /// What is already on disk: `None` rechecks, `Some(bits)` trusts them (resume
    /// data, or a seed whose data is known good).
    pub have: Option<Bitfield>,
    /// Restoring from the session store: what the record said.
    pub resume: Option<Box<Resume>>,
    /// A root (a token or a folder, as `root` takes it) to download in, an
    /// incomplete folder: the files move to `root` once it has every wanted
    /// piece. Empty, or with `have` given: it downloads where it stays. The
    /// engine resolves it into [`TorrentSettings::finish_in`].
    pub incomplete: String,
    /// Sequential order, caps and labels it starts with (on restore: as saved).
    pub settings: TorrentSettings,
    /// What it did in another client (an import): its totals and times
    /// carry on from there.
    pub history: Option<History>,
}

/// A torrent's past in another client, given at add (`seedring remote
/// import-*`): its transfer totals and seeding time go on from these, its
/// add time is this one, and the check that finds it whole takes
/// `completed_at` as its completion (without a `Finished` milestone: it
/// finished there, and that client ran its program then).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    /// Payload bytes downloaded there.
    pub downloaded: u64,
    /// Payload bytes uploaded there.
    pub uploaded: u64,
    /// When it was added there, unix seconds (`None`: now).
    pub added_at: Option<u64>,
    /// When it completed there, unix seconds.
    pub completed_at: Option<u64>,
    /// Seconds it seeded there.
    pub seeding_secs: u64,
    /// Seconds it ran there, paused time left out (at least `seeding_secs`
    /// is taken: a client that keeps no such count ran it that long).
    pub running_secs: u64,
}

/// What a user sets on a torrent beside its files: given at add, changed by
/// commands, saved in its record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TorrentSettings {
    /// Pieces in order (a media player reading it as it arrives).
    pub sequential: bool,
    /// Download cap, bytes/s (0: none).
    pub download_limit: u64,
    /// Upload cap, bytes/s (0: none).
    pub upload_limit: u64,
    /// Free-form labels, sorted, without duplicates (see [`clean_labels`]).
    pub labels: Vec<String>,
    /// Its category's name (empty: none; see [`clean_category`]). The core only
    /// keeps the name: what a category means (where its torrents go) is the
    /// engine's.
    pub category: String,
    /// Its share limits (each [`share::USE_GLOBAL`] by default).
    pub share: ShareLimits,
    /// What reaching one does (`None`: the global action).
    pub share_action: Option<share::ShareAction>,
    /// Its place in the queue (lower runs first).
    pub queue_pos: u64,
    /// Force-started: never queued.
    pub forced: bool,
    /// The name the user gave it (empty: its own name; see
    /// [`clean_display_name`]). Only what it is called: its files keep theirs.
    pub display_name: String,
    /// The first and last piece of every wanted file come first (a player can
    /// read a file's header and index before the rest arrives).
    pub first_last: bool,
    /// Where its files go under the save folder (given at add; applied to the
    /// metadata when it is known).
    pub content_layout: crate::metainfo::ContentLayout,
    /// Files given other names (index, path), applied after the content
    /// layout (see [`rename`]).
    pub renames: Vec<(usize, Vec<String>)>,
    /// The root its files move to once it has every wanted piece (it downloads
    /// in the root it was added to: an incomplete folder); `None`: it stays.
    pub finish_in: Option<Box<FinishRoot>>,
    /// Placed by hand: its files stay where they are when its category (or
    /// the category's folder) changes. `false`: it follows its category
    /// (qBittorrent's automatic torrent management).
    pub manual: bool,
    /// Super-seeding (BEP 16): while whole, new peers are shown a piece at a
    /// time (see `core::superseed`).
    pub super_seeding: bool,
}

/// A storage root a torrent's files move to when it finishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinishRoot {
    /// Its folder.
    pub path: String,
    /// Its token (what the state record keeps).
    pub token: String,
    /// Whether it is a marked root (see [`AddTorrent::root_marked`]).
    pub marked: bool,
}

/// Most labels on one torrent.
pub const MAX_LABELS: usize = 32;
/// Longest label, in bytes.
pub const MAX_LABEL_LEN: usize = 64;

/// Labels as a torrent keeps them: trimmed, sorted, deduplicated; `Err` names the
/// first one that is empty, too long or holds a control character, or too many.
pub fn clean_labels(labels: &[String]) -> Result<Vec<String>, CommandError> {
    let mut out = Vec::with_capacity(labels.len());
    for l in labels {
        let l = l.trim();
        if l.is_empty() || l.len() > MAX_LABEL_LEN || l.chars().any(char::is_control) {
            return Err(CommandError::BadArgument(format!(
                "label {l:?}: 1 to {MAX_LABEL_LEN} bytes without control characters"
            )));
        }
        out.push(l.to_owned());
    }
    out.sort();
    out.dedup();
    if out.len() > MAX_LABELS {
        return Err(CommandError::BadArgument(format!(
            "{} labels: at most {MAX_LABELS}",
            out.len()
        )));
    }
    Ok(out)
}

/// Longest category name, in bytes.
pub const MAX_CATEGORY_LEN: usize = 128;

/// A category name as torrents keep it: trimmed; `Err` if it is too long, holds a
/// control character, or is not `a/b/c` made of non-empty parts (qBittorrent's
/// rule for nested categories). Empty stays empty: no category.
pub fn clean_category(name: &str) -> Result<String, CommandError> {
    let n = name.trim();
    let bad = n.len() > MAX_CATEGORY_LEN
        || n.chars().any(char::is_control)
        || (!n.is_empty() && n.split('/').any(|part| part.trim().is_empty()));
    if bad {
        return Err(CommandError::BadArgument(format!(
            "category {n:?}: up to {MAX_CATEGORY_LEN} bytes without control characters, \
             parts separated by single slashes"
        )));
    }
    Ok(n.to_owned())
}

/// The highest file or piece priority (0 skips, 1 is normal).
pub const MAX_PRIORITY: u8 = 7;

/// Longest name a user can give a torrent, in bytes.
pub const MAX_DISPLAY_NAME_LEN: usize = 1024;

/// A display name as a torrent keeps it: trimmed; `Err` when too long or
/// holding a control character (empty: back to its own name).
pub fn clean_display_name(name: &str) -> Result<String, CommandError> {
    let n = name.trim();
    if n.len() > MAX_DISPLAY_NAME_LEN || n.chars().any(char::is_control) {
        return Err(CommandError::BadArgument(format!(
            "name: up to {MAX_DISPLAY_NAME_LEN} bytes without control characters"
        )));
    }
    Ok(n.to_owned())
}

impl AddTorrent {
    /// A torrent into `root` (a path, or a root token for the engine), running, with
    /// its data checked first.
    pub fn new(source: TorrentSource, root: impl Into<Arc<str>>) -> AddTorrent {
        AddTorrent {
            source,
            root: root.into(),
            root_token: Arc::default(),
            root_marked: true,
            paused: false,
            have: None,
            resume: None,
            settings: TorrentSettings::default(),
            incomplete: String::new(),
            history: None,
        }
    }
}

/// What a torrent had when it was saved, given back on restore.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// Payload bytes downloaded since added.
    pub downloaded: u64,
    /// Payload bytes uploaded since added.
    pub uploaded: u64,
    /// When added, unix seconds.
    pub added_at: u64,
    /// When completed, unix seconds.
    pub completed_at: Option<u64>,
    /// Seconds seeded.
    pub seeding_secs: u64,
    /// Seconds run (not paused, queued or failed).
    pub running_secs: u64,
    /// When a whole copy was last seen, unix seconds.
    pub seen_complete: Option<u64>,
    /// When it last sent or received payload, unix seconds.
    pub active_at: Option<u64>,
    /// Per file (empty: all normal).
    pub file_priorities: Vec<u8>,
    /// Peers to try first.
    pub peers: Vec<SocketAddr>,
    /// The root is missing now: the torrent waits, stopped, for it to return.
    pub root_missing: bool,
    /// Its files are to be compared with the stamps (size, modification
    /// time) of its stored record, whose digest ([`stamps_digest`]) this is:
    /// `have` is that record's bitfield, trusted only once the files are
    /// found as stamped. The torrent waits in `Checking`, its storage not
    /// opened, until the engine says its restore is over
    /// ([`Command::RestoreDone`]) and the driver has stamped its files (see
    /// `core::stamps`).
    pub stamps_digest: Option<u64>,
    /// Shown in the torrent's stats (why part of it was rechecked, ...).
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trackers_are_moved_out_of_a_source_nothing_else_holds() {
        let mut meta = super::super::tests::sized_meta(40_000);
        let tiers = vec![
            vec!["http://a/announce".to_owned()],
            vec!["udp://b:1".to_owned()],
        ];
        meta.tracker_tiers = tiers.clone();
        // Alone (a restart's add): moved, the source left without them.
        let mut alone = TorrentSource::Metainfo(Arc::new(meta.clone()));
        assert_eq!(alone.take_tracker_tiers(), tiers);
        assert!(alone.tracker_tiers().is_empty());
        // Held elsewhere too: copied, the other holder's intact.
        let shared = Arc::new(meta);
        let mut source = TorrentSource::Metainfo(Arc::clone(&shared));
        assert_eq!(source.take_tracker_tiers(), tiers);
        assert_eq!(shared.tracker_tiers, tiers);
        assert_eq!(source.tracker_tiers(), tiers);
        // A magnet's trackers, one a tier.
        let mut magnet = TorrentSource::Magnet(Magnet {
            info_hash: InfoHash([7; 20]),
            display_name: None,
            trackers: vec!["http://a/announce".into(), "udp://b:1".into()],
            peers: Vec::new(),
            select_only: Vec::new(),
        });
        assert_eq!(magnet.take_tracker_tiers(), tiers);
        assert!(magnet.tracker_tiers().is_empty());
    }
}
