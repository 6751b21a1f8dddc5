//! qBittorrent's saved torrents (its `BT_backup` folder: `<id>.fastresume`,
//! libtorrent's resume data with qBittorrent's `qBt-` keys, beside
//! `<id>.torrent` once the metadata is known), each read into a [`Plan`]: the
//! `POST /api/v1/torrents` body that adds it where its data is, under the
//! names its files have there, with its category, tags, name, limits and
//! share limits (with qBittorrent 5's own action of a torrent, where it has
//! one), and what to set once it is added (trackers the user changed,
//! file priorities). The keys read are those qBittorrent 4.4 and later
//! write (checked against 4.5.2): a torrent under automatic management has
//! no `qBt-savePath`; an unfinished file is `NAME.!qB` in `mapped_files` and
//! on disk when qBittorrent is told to name them so, which the command
//! renames back.
//!
//! Its past there comes too: uploaded and downloaded totals, added and
//! completed times, seeding time. Not carried over: its place in
//! qBittorrent's queue, and web seeds added by hand.
//! What is on disk is checked at add, never taken from the resume data.

use serde_json::{Map, Value, json};

use super::{ImportError, Plan, dict, folder, int, magnet, past, text, unfinished, with_torrent};
use crate::bencode::Node;

/// A hash of `len` bytes that is not all zeros (libtorrent writes zeros for
/// "none").
fn hash<'a>(d: &Node<'a>, key: &str, len: usize) -> Option<&'a [u8]> {
    d.get(key)
        .and_then(Node::as_bytes)
        .filter(|b| b.len() == len && b.iter().any(|&x| x != 0))
}

fn tiers(d: &Node<'_>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for tier in d.get("trackers").and_then(Node::as_list).unwrap_or(&[]) {
        let urls: Vec<String> = (tier.as_list().unwrap_or(&[]).iter())
            .filter_map(|u| u.as_bytes())
            .map(|b| String::from_utf8_lossy(b).trim().to_owned())
            .filter(|u| !u.is_empty() && !out.iter().flatten().any(|k| k == u))
            .collect();
        if !urls.is_empty() {
            out.push(urls);
        }
    }
    out
}

/// A share limit as qBittorrent saves it (-2: the global one, -1: none), as
/// the add takes it (absent: the global one).
fn share(v: Option<i64>) -> Option<i64> {
    v.filter(|&m| m != -2).map(|m| m.max(-1))
}

/// The plan for one saved torrent: its `.fastresume` bytes and its
/// `.torrent` bytes if it has one.
pub fn plan(resume: &[u8], torrent: Option<&[u8]>) -> Result<Plan, ImportError> {
    let d = dict(resume, ".fastresume")?;
    let resume_trackers = tiers(&d);
    // The metadata: the .torrent, else an `info` libtorrent kept in the
    // resume data, else none (a magnet link still fetching it).
    let from_resume;
    let torrent = match (torrent, d.get("info")) {
        (Some(t), _) => Some(t),
        (None, Some(info)) => {
            let mut t = b"d4:info".to_vec();
            t.extend_from_slice(info.raw());
            t.push(b'e');
            from_resume = t;
            Some(from_resume.as_slice())
        }
        (None, None) => None,
    };
    let mut add = Map::new();
    let meta = match torrent {
        Some(t) => Some(with_torrent(&mut add, t)?),
        None => None,
    };
    let qb_name = text(&d, "qBt-name").unwrap_or_default();
    let own_name = match &meta {
        Some(m) => m.info.name.clone(),
        None => text(&d, "name").unwrap_or_default(),
    };
    if meta.is_none() {
        let (v1, v2) = (hash(&d, "info-hash", 20), hash(&d, "info-hash2", 32));
        if v1.is_none() && v2.is_none() {
            return Err(ImportError::NoHash);
        }
        let link = magnet(v1, v2, &own_name, &resume_trackers);
        add.insert("magnet".into(), link.into());
    }
    let save_path = text(&d, "save_path")
        .map(|p| folder(&p).to_owned())
        .filter(|p| !p.is_empty())
        .ok_or(ImportError::NoSavePath)?;
    // Managed torrents have no qBt-savePath: their folder is their category's.
    let manual = text(&d, "qBt-savePath").map(|p| folder(&p).to_owned());
    let pieces = d.get("pieces").and_then(Node::as_bytes).unwrap_or(&[]);
    let complete = !pieces.is_empty() && pieces.iter().all(|&b| b & 1 == 1);
    // Where it is to stay, and (while it downloads elsewhere) where it is now.
    let (stay, now_at) = match &manual {
        Some(p) if !p.is_empty() && *p != save_path && !complete => (p.clone(), Some(&save_path)),
        _ => (save_path.clone(), None),
    };
    add.insert("save_path".into(), stay.clone().into());
    match now_at {
        Some(p) => add.insert("download_path".into(), p.clone().into()),
        None => add.insert("incomplete".into(), false.into()),
    };
    add.insert("paused".into(), true.into());
    add.insert("content_layout".into(), "original".into());
    let category = text(&d, "qBt-category").unwrap_or_default();
    if !category.is_empty() {
        add.insert("category".into(), category.clone().into());
    }
    let tags: Vec<String> = (d
        .get("qBt-tags")
        .and_then(Node::as_list)
        .unwrap_or(&[])
        .iter())
    .filter_map(|t| t.as_bytes())
    .map(|b| String::from_utf8_lossy(b).into_owned())
    .filter(|t| !t.trim().is_empty())
    .collect();
    if !tags.is_empty() {
        add.insert("labels".into(), json!(tags));
    }
    if !qb_name.is_empty() && qb_name != own_name {
        add.insert("name".into(), qb_name.clone().into());
    }
    for (key, field) in [
        ("upload_rate_limit", "upload_limit"),
        ("download_rate_limit", "download_limit"),
    ] {
        if let Some(v) = int(&d, key).filter(|&v| v > 0) {
            add.insert(field.into(), v.into());
        }
    }
    if int(&d, "sequential_download") == Some(1) {
        add.insert("sequential".into(), true.into());
    }
    if int(&d, "qBt-firstLastPiecePriority") == Some(1) {
        add.insert("first_last".into(), true.into());
    }
    // The ratio is saved in thousandths.
    if let Some(r) = int(&d, "qBt-ratioLimit").filter(|&r| r != -2000) {
        let ratio = if r < 0 { -1.0 } else { r as f64 / 1000.0 };
        add.insert("ratio_limit".into(), ratio.into());
    }
    for (key, field) in [
        ("qBt-seedingTimeLimit", "seeding_time_limit_mins"),
        (
            "qBt-inactiveSeedingTimeLimit",
            "inactive_seeding_time_limit_mins",
        ),
    ] {
        if let Some(m) = share(int(&d, key)) {
            add.insert(field.into(), m.into());
        }
    }
    // qBittorrent 5's own action of a torrent (`Default`: the global one; a
    // name this build does not know is taken for it too, as qBittorrent does).
    let own = text(&d, "qBt-shareLimitAction")
        .and_then(|a| crate::core::ShareAction::from_qbittorrent(&a).flatten());
    if let Some(a) = own {
        add.insert("share_limit_action".into(), a.name().into());
    }
    past(
        &mut add,
        [
            ("downloaded", int(&d, "total_downloaded")),
            ("uploaded", int(&d, "total_uploaded")),
            ("added_at", int(&d, "added_time")),
            ("completed_at", int(&d, "completed_time")),
            ("seeding_time_secs", int(&d, "seeding_time")),
            ("active_time_secs", int(&d, "active_time")),
        ],
    );
    let mut priorities = None;
    let mut unfinished_names = Vec::new();
    if let Some(m) = &meta {
        // Files under other names: `mapped_files`, one per file, empty where
        // the name is the torrent's own (content layouts are saved this way
        // too, so the layout given is the original one). An unfinished file
        // is `NAME.!qB` there and on disk when qBittorrent is told to name
        // them so: it is given back its own name.
        let mapped = d.get("mapped_files").and_then(Node::as_list).unwrap_or(&[]);
        let paths: Vec<Value> = (mapped.iter().enumerate())
            .filter_map(|(i, p)| Some((i, m.info.files.get(i)?, p.as_bytes()?)))
            .filter(|(_, f, p)| !p.is_empty() && !f.attr.pad)
            .filter_map(|(i, f, p)| {
                let p = String::from_utf8_lossy(p);
                let own = match p.strip_suffix(".!qB") {
                    Some(own) => {
                        unfinished_names.extend(unfinished(&save_path, own, ".!qB"));
                        own
                    }
                    None => &p,
                };
                (own != f.path.as_str()).then(|| json!({"index": i, "path": own}))
            })
            .collect();
        if !paths.is_empty() {
            add.insert("paths".into(), Value::Array(paths));
        }
        let prio: Vec<u8> = (d
            .get("file_priority")
            .and_then(Node::as_list)
            .unwrap_or(&[])
            .iter())
        .map(|p| p.as_int().unwrap_or(1).clamp(0, 7) as u8)
        .collect();
        if prio.len() == m.info.files.len() && prio.iter().any(|&p| p != 1) {
            priorities = Some(prio);
        }
    }
    let own_trackers = meta.as_ref().map(|m| m.tracker_tiers.clone());
    let trackers = match own_trackers {
        Some(own) if own != resume_trackers => Some(resume_trackers),
        _ => None,
    };
    // Stopped by the user: paused and not under libtorrent's automatic
    // management (a queued torrent is paused and managed).
    let paused = int(&d, "paused") == Some(1) && int(&d, "auto_managed") != Some(1);
    Ok(Plan {
        name: if qb_name.is_empty() {
            own_name
        } else {
            qb_name
        },
        add: Value::Object(add),
        save_path: stay,
        category_follow: (manual.is_none() && !category.is_empty()).then_some(category),
        trackers,
        priorities,
        paused,
        unfinished: unfinished_names,
    })
}

#[cfg(test)]
#[path = "qbittorrent_tests.rs"]
mod tests;
