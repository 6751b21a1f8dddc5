//! rTorrent's saved torrents (its session folder: `<HASH>.torrent`, with
//! `<HASH>.torrent.rtorrent`, rTorrent's own state of it, and
//! `<HASH>.torrent.libtorrent_resume`, libTorrent's; releases before 0.9 kept
//! both inside the `.torrent`, under `rtorrent` and `libtorrent_resume`),
//! each read into a [`Plan`]: added where its data is (`directory`: the
//! folder a single file is in, or a multi-file torrent's own folder, which
//! need not bear the torrent's name), with its label (`custom1`, which
//! ruTorrent percent-encodes) as its category, its files' priorities, the
//! trackers the user added or turned off, and stopped if it was. A magnet
//! link still fetching its metadata (a `.torrent` holding `magnet-uri`) comes
//! back as that link. Checked against rTorrent 0.9.8.
//!
//! Its past there comes too: uploaded and downloaded totals, the completion
//! time, and the add time ruTorrent keeps. Not carried over: the time it
//! seeded (rTorrent does not count it), its priority among torrents and its
//! throttle group (rTorrent's caps are named groups in its config, not a
//! torrent's own), ruTorrent's ratio groups. What is on disk is checked at add, never taken from the
//! resume data.

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use super::{ImportError, Plan, dict, folder, int, past, text, torrent_dict, with_torrent};
use crate::bencode::Node;
use crate::metainfo::{ContentLayout, Magnet, Metainfo};

/// A file's priority as the add takes it: rTorrent's off (0), normal (1)
/// and high (2) are qBittorrent's 0, 1 and 6.
fn priority(p: i64) -> u8 {
    match p {
        ..=0 => 0,
        1 => 1,
        _ => 6,
    }
}

/// The trackers it is to have: the torrent's own tiers without those the
/// user turned off, then those the user added (`extra_tracker`), each in
/// its group's tier (rTorrent's groups are the tiers, counted from 0) or a
/// new one after the last; `None` where that is the torrent's own list.
fn trackers(own: &[Vec<String>], resume: Option<&Node<'_>>) -> Option<Vec<Vec<String>>> {
    let saved = resume?.get("trackers")?.as_dict()?;
    let state = |url: &str| {
        saved
            .iter()
            .find(|(k, _)| *k == url.as_bytes())
            .map(|(_, v)| v)
    };
    let mut tiers: Vec<Vec<String>> = (own.iter())
        .map(|tier| {
            (tier.iter())
                .filter(|u| state(u).is_none_or(|s| int(s, "enabled") != Some(0)))
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    for (url, s) in saved {
        if int(s, "extra_tracker") != Some(1) || int(s, "enabled") == Some(0) {
            continue;
        }
        let url = String::from_utf8_lossy(url).trim().to_owned();
        if url.is_empty() || tiers.iter().flatten().any(|u| *u == url) {
            continue;
        }
        match usize::try_from(int(s, "group").unwrap_or(-1)).ok() {
            Some(g) if g < tiers.len() => tiers[g].push(url),
            _ => tiers.push(vec![url]),
        }
    }
    tiers.retain(|t| !t.is_empty());
    (tiers != own).then_some(tiers)
}

/// Where a torrent's files go: `directory` holds a single file, or is a
/// multi-file torrent's own folder (in its save folder when it bears the
/// torrent's name, else its files straight inside).
fn place(meta: &Metainfo, directory: &str) -> (String, ContentLayout) {
    if !meta.info.multi_file {
        return (directory.to_owned(), ContentLayout::Original);
    }
    match directory.rsplit_once('/') {
        Some((parent, base)) if base == meta.info.name && !parent.is_empty() => {
            (parent.to_owned(), ContentLayout::Original)
        }
        Some(("", base)) if base == meta.info.name => ("/".to_owned(), ContentLayout::Original),
        _ => (directory.to_owned(), ContentLayout::NoSubfolder),
    }
}

/// The plan for one saved torrent: its `.torrent` bytes, and its
/// `.rtorrent` and `.libtorrent_resume` bytes where they are files of their
/// own.
pub fn plan(
    torrent: &[u8],
    rtorrent: Option<&[u8]>,
    resume: Option<&[u8]>,
) -> Result<Plan, ImportError> {
    let t = torrent_dict(torrent)?;
    let state = match rtorrent {
        Some(b) => dict(b, ".rtorrent")?,
        None => t
            .get("rtorrent")
            .filter(|d| d.as_dict().is_some())
            .cloned()
            .ok_or(ImportError::Unreadable {
                file: ".rtorrent",
                why: "not there (nor an \"rtorrent\" key in the .torrent)".into(),
            })?,
    };
    let resume = match resume {
        Some(b) => Some(dict(b, ".libtorrent_resume")?),
        None => (t.get("libtorrent_resume").filter(|d| d.as_dict().is_some())).cloned(),
    };
    let directory = text(&state, "directory")
        .map(|p| folder(&p).to_owned())
        .filter(|p| !p.is_empty())
        .ok_or(ImportError::NoSavePath)?;
    let mut add = Map::new();
    let (name, save_path, layout, trackers, priorities);
    if let Some(uri) = text(&t, "magnet-uri") {
        // A magnet link still fetching its metadata, with its trackers.
        let m =
            Magnet::parse(&uri).map_err(|e| ImportError::Torrent(format!("magnet-uri: {e}")))?;
        name = m.display_name.unwrap_or_else(|| m.info_hash.to_string());
        add.insert("magnet".into(), uri.into());
        (save_path, layout) = (directory, ContentLayout::Original);
        (trackers, priorities) = (None, None);
    } else {
        let meta = with_torrent(&mut add, torrent)?;
        (save_path, layout) = place(&meta, &directory);
        trackers = self::trackers(&meta.tracker_tiers, resume.as_ref());
        let files = resume.as_ref().and_then(|r| r.get("files")?.as_list());
        let prio: Vec<u8> = (files.unwrap_or(&[]).iter())
            .map(|f| priority(int(f, "priority").unwrap_or(1)))
            .collect();
        priorities =
            (prio.len() == meta.info.files.len() && prio.iter().any(|&p| p != 1)).then_some(prio);
        name = meta.info.name.clone();
    }
    add.insert("save_path".into(), save_path.clone().into());
    add.insert("incomplete".into(), false.into());
    add.insert("paused".into(), true.into());
    let layout = serde_json::to_value(layout).expect("a layout is a string");
    add.insert("content_layout".into(), layout);
    // ruTorrent keeps the label percent-encoded; rTorrent alone keeps what
    // it was given.
    // ruTorrent keeps the add time in `custom` (text); rTorrent has none.
    let added = (state.get("custom").and_then(|c| text(c, "addtime")))
        .and_then(|t| t.trim().parse::<i64>().ok());
    past(
        &mut add,
        [
            ("downloaded", int(&state, "total_downloaded")),
            ("uploaded", int(&state, "total_uploaded")),
            ("added_at", added),
            ("completed_at", int(&state, "timestamp.finished")),
            ("seeding_time_secs", None),
            ("active_time_secs", None),
        ],
    );
    let label = text(&state, "custom1").unwrap_or_default();
    let label = percent_decode_str(&label).decode_utf8_lossy();
    if !label.trim().is_empty() {
        add.insert("category".into(), label.trim().into());
    }
    Ok(Plan {
        name,
        add: Value::Object(add),
        save_path,
        category_follow: None,
        trackers,
        priorities,
        paused: int(&state, "state") == Some(0),
        unfinished: Vec::new(),
    })
}

#[cfg(test)]
#[path = "rtorrent_tests.rs"]
mod tests;
