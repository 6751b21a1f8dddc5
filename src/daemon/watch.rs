//! Watch folders: `.torrent` files (and `.magnet` files, a magnet link in a
//! text file, as autodl-irssi and FlexGet write them) dropped into a folder
//! are added with that folder's category, labels, root and paused flag.
//!
//! Every two seconds each folder's entries are listed. A file is taken once
//! its size and modification time held still between two looks (a tool still
//! writing it is left alone). Then:
//! - added, or already there: renamed `<name>.added` (or deleted, with
//!   `after = "delete"`);
//! - not a torrent (a broken `.torrent`, a `.magnet` without a magnet link, a
//!   file larger than any torrent): renamed `<name>.invalid`, the log says why;
//! - refused for a reason outside the file (its root unmounted, a category
//!   that does not exist): left where it is and tried again at each look,
//!   the log saying why once.
//!
//! Only names in the folder itself are touched, and only by appending a
//! suffix; sub-folders are not entered.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::api::Shared;
use crate::core::{AddTorrent, CommandError, TorrentSettings, TorrentSource};
use crate::engine::EngineError;
use crate::metainfo::{Magnet, Metainfo, MetainfoLimits};

/// One watched folder, as the config gives it (`[[watch]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WatchDir {
    /// The folder.
    pub dir: PathBuf,
    /// Category of what is added (empty: none).
    #[serde(default)]
    pub category: String,
    /// Labels of what is added.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Root token (empty: the category's save path, else the default root).
    #[serde(default)]
    pub root: String,
    /// Added paused (absent: as the `add_paused` setting says).
    #[serde(default)]
    pub paused: Option<bool>,
    /// What becomes of a file once added.
    #[serde(default)]
    pub after: After,
}

/// What becomes of a file once added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum After {
    /// Renamed `<name>.added`.
    #[default]
    Rename,
    /// Deleted.
    Delete,
}

/// How often the folders are looked at.
const EVERY: Duration = Duration::from_secs(2);

/// Entries of one folder looked at per look (a folder holding more is read
/// in this many a time, the rest at later looks, and said once).
const MAX_ENTRIES: usize = 10_000;

/// A file as last seen: its size and modification time.
type Seen = (u64, Option<SystemTime>);

/// What one look at one folder found: files to take, and the rest.
#[derive(Debug, Default)]
struct Look {
    /// `.torrent` and `.magnet` files, with their size and modification time.
    files: Vec<(PathBuf, Seen)>,
    /// There were more entries than [`MAX_ENTRIES`].
    truncated: bool,
}

/// Lists `dir`'s `.torrent` and `.magnet` files (names in any case; regular
/// files, a link to one included).
fn look(dir: &Path) -> std::io::Result<Look> {
    let mut out = Look::default();
    for (n, entry) in std::fs::read_dir(dir)?.enumerate() {
        if n == MAX_ENTRIES {
            out.truncated = true;
            break;
        }
        let Ok(entry) = entry else { continue };
        let path = entry.path();
        if kind(&path).is_none() {
            continue;
        }
        // Follows a link: a linked .torrent is read like any other.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_file() {
            out.files.push((path, (meta.len(), meta.modified().ok())));
        }
    }
    Ok(out)
}

/// Which kind of file `path` names by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Torrent,
    Magnet,
}

fn kind(path: &Path) -> Option<Kind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "torrent" => Some(Kind::Torrent),
        "magnet" => Some(Kind::Magnet),
        _ => None,
    }
}

/// What reading a taken file gave.
enum Read {
    Source(TorrentSource),
    Invalid(String),
}

/// Reads and parses a taken file (never more than a torrent can be).
fn read(path: &Path, kind: Kind) -> std::io::Result<Read> {
    use std::io::Read as _;
    let cap = MetainfoLimits::default().max_torrent_bytes;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(cap as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > cap {
        return Ok(Read::Invalid(format!("larger than {cap} bytes")));
    }
    Ok(match kind {
        Kind::Torrent => match Metainfo::from_bytes_with(&bytes, &MetainfoLimits::default()) {
            Ok(m) => Read::Source(TorrentSource::Metainfo(Arc::new(m))),
            Err(e) => Read::Invalid(format!("torrent file: {e}")),
        },
        Kind::Magnet => {
            let text = String::from_utf8_lossy(&bytes);
            match text
                .lines()
                .map(str::trim)
                .find(|l| l.starts_with("magnet:"))
            {
                None => Read::Invalid("no magnet link in it".into()),
                Some(link) => match Magnet::parse(link) {
                    Ok(m) => Read::Source(TorrentSource::Magnet(m)),
                    Err(e) => Read::Invalid(format!("magnet: {e}")),
                },
            }
        }
    })
}

/// `path` with `suffix` appended to its name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// A folder's state between looks.
#[derive(Debug, Default)]
struct Folder {
    /// Each candidate as seen at the last look.
    seen: HashMap<PathBuf, Seen>,
    /// Files refused for a reason outside them, as they were then (said once;
    /// tried again at each look).
    waiting: HashMap<PathBuf, Seen>,
    /// Files taken that could not be renamed or deleted, as they were then
    /// (said once; not taken again until they change).
    stuck: HashMap<PathBuf, Seen>,
    /// The folder could not be read (said once until it can).
    unreadable: bool,
    /// Said that it holds more entries than a look reads.
    said_truncated: bool,
}

/// Looks at every watched folder every two seconds, for as long as the
/// daemon runs; the list is read again at each look (SIGHUP changes it).
pub async fn follow(app: Shared) {
    let mut folders: HashMap<PathBuf, Folder> = HashMap::new();
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let dirs = app.watch_dirs();
        folders.retain(|d, _| dirs.iter().any(|w| &w.dir == d));
        for w in dirs.iter() {
            let f = folders.entry(w.dir.clone()).or_default();
            look_once(&app, w, f).await;
        }
    }
}

/// One look at one folder.
async fn look_once(app: &Shared, w: &WatchDir, f: &mut Folder) {
    let dir = w.dir.clone();
    let listed = tokio::task::spawn_blocking(move || look(&dir)).await;
    let found = match listed {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => {
            if !f.unreadable {
                tracing::warn!(dir = %w.dir.display(), error = %e, "watch folder cannot be read; looking again every 2 s");
                f.unreadable = true;
            }
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "watch folder look failed");
            return;
        }
    };
    if f.unreadable {
        tracing::info!(dir = %w.dir.display(), "watch folder readable again");
        f.unreadable = false;
    }
    if found.truncated && !f.said_truncated {
        tracing::warn!(dir = %w.dir.display(), max = MAX_ENTRIES, "watch folder holds more entries than a look reads: the rest wait for later looks");
    }
    f.said_truncated = found.truncated;
    let mut now: HashMap<PathBuf, Seen> = HashMap::with_capacity(found.files.len());
    for (path, seen) in found.files {
        let still = f.seen.get(&path) == Some(&seen);
        now.insert(path.clone(), seen);
        if still && f.stuck.get(&path) != Some(&seen) {
            take(app, w, f, &path, seen).await;
        }
    }
    f.waiting.retain(|p, _| now.contains_key(p));
    f.stuck.retain(|p, _| now.contains_key(p));
    f.seen = now;
}

/// Takes one file that held still: reads it, adds it, and renames or deletes
/// it by what came of it.
async fn take(app: &Shared, w: &WatchDir, f: &mut Folder, path: &Path, seen: Seen) {
    let Some(kind) = kind(path) else { return };
    let p = path.to_path_buf();
    let read = match tokio::task::spawn_blocking(move || read(&p, kind)).await {
        Ok(Ok(r)) => r,
        // Gone or unreadable since the listing: looked at again next time.
        Ok(Err(e)) => {
            tracing::debug!(file = %path.display(), error = %e, "watch folder: file not read");
            return;
        }
        Err(_) => return,
    };
    let source = match read {
        Read::Source(s) => s,
        Read::Invalid(why) => {
            tracing::warn!(file = %path.display(), reason = %why, "watch folder: not a torrent; renamed .invalid");
            if !finish(path, Some(".invalid")).await {
                f.stuck.insert(path.to_path_buf(), seen);
            }
            return;
        }
    };
    let mut add = AddTorrent::new(source, w.root.clone());
    // Only a folder the add names is refused; the setting's is said.
    add.incomplete = super::incomplete::staging_root(app, None, None)
        .await
        .unwrap_or_default();
    let defaults = app.new_torrent_defaults();
    add.paused = w.paused.unwrap_or(defaults.paused);
    add.settings = TorrentSettings {
        content_layout: defaults.content_layout,
        labels: w.labels.clone(),
        category: w.category.clone(),
        manual: !defaults.follow_category,
        ..TorrentSettings::default()
    };
    let done = match w.after {
        After::Rename => Some(".added"),
        After::Delete => None,
    };
    let finished = match app.engine.add_torrent_async(add).await {
        Ok(ih) => {
            tracing::info!(info_hash = %ih, file = %path.display(), "watch folder: torrent added");
            finish(path, done).await
        }
        Err(EngineError::Command(CommandError::Duplicate(ih))) => {
            tracing::info!(info_hash = %ih, file = %path.display(), "watch folder: torrent already there");
            finish(path, done).await
        }
        Err(e) => {
            if f.waiting.get(path) != Some(&seen) {
                tracing::warn!(file = %path.display(), error = %e, "watch folder: torrent not added; trying again at each look");
                f.waiting.insert(path.to_path_buf(), seen);
            }
            true
        }
    };
    if !finished {
        f.stuck.insert(path.to_path_buf(), seen);
    }
}

/// Renames a taken file with `suffix`, or deletes it (`None`); a failure is
/// said, and `false` (the file stays; it is not taken again until it changes).
async fn finish(path: &Path, suffix: Option<&'static str>) -> bool {
    let p = path.to_path_buf();
    let r = tokio::task::spawn_blocking(move || match suffix {
        Some(s) => std::fs::rename(&p, with_suffix(&p, s)),
        None => std::fs::remove_file(&p),
    })
    .await;
    match r {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::error!(file = %path.display(), error = %e, "watch folder: file not renamed or deleted; left until it changes");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "watch folder: rename failed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_torrent_and_magnet_files_are_candidates() {
        assert_eq!(kind(Path::new("/w/a.torrent")), Some(Kind::Torrent));
        assert_eq!(kind(Path::new("/w/A.TORRENT")), Some(Kind::Torrent));
        assert_eq!(kind(Path::new("/w/b.magnet")), Some(Kind::Magnet));
        assert_eq!(kind(Path::new("/w/a.torrent.added")), None);
        assert_eq!(kind(Path::new("/w/a.torrent.invalid")), None);
        assert_eq!(kind(Path::new("/w/torrent")), None);
        assert_eq!(
            with_suffix(Path::new("/w/a b.torrent"), ".added"),
            PathBuf::from("/w/a b.torrent.added")
        );
    }

    #[test]
    fn a_look_lists_files_not_folders_and_reads_what_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("x.torrent"), b"not bencode").unwrap();
        std::fs::write(
            d.join("y.magnet"),
            "\n magnet:?xt=urn:btih:".to_owned() + &"a".repeat(40),
        )
        .unwrap();
        std::fs::write(d.join("z.magnet"), b"nothing here").unwrap();
        std::fs::create_dir(d.join("sub.torrent")).unwrap();
        std::fs::write(d.join("notes.txt"), b"").unwrap();
        let mut names: Vec<_> = look(d)
            .unwrap()
            .files
            .into_iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["x.torrent", "y.magnet", "z.magnet"]);
        let why = |name: &str, k| match read(&d.join(name), k).unwrap() {
            Read::Invalid(w) => w,
            Read::Source(_) => String::new(),
        };
        assert!(why("x.torrent", Kind::Torrent).starts_with("torrent file:"));
        assert_eq!(why("y.magnet", Kind::Magnet), "");
        assert_eq!(why("z.magnet", Kind::Magnet), "no magnet link in it");
    }
}
