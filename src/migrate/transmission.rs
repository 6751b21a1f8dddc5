//! Transmission's saved torrents (its configuration folder: `resume/<id>.resume`,
//! Transmission's state of a torrent, beside `torrents/<id>.torrent`, which
//! Transmission rewrites when the user edits the trackers, and which for a
//! magnet link still fetching its metadata holds only `magnet-info` and the
//! trackers), each read into a [`Plan`]: added where its data is
//! (`destination`), under the names its files have there (`files`, after a
//! rename) and its own name (`name`), with its labels, caps, ratio and idle
//! limits, files not wanted or raised, and stopped if it was; an unfinished
//! torrent's files may be `NAME.part` (`rename-partial-files`), which the
//! command renames back. Checked against Transmission 3.00; the keys are
//! those 3.00 and 4.0 write.
//!
//! Its past there comes too: uploaded and downloaded totals, added and done
//! times, seeding time. Not carried over: its bandwidth priority and queue
//! place, and its peer limit. What
//! is on disk is checked at add, never taken from the resume data.

use serde_json::{Map, Value, json};

use super::{
    ImportError, Plan, dict, folder, int, magnet, past, text, torrent_dict, unfinished,
    with_torrent,
};
use crate::bencode::Node;

/// A cap as Transmission saves it (`{speed-Bps, use-speed-limit}`), in
/// bytes a second, where it is on.
fn cap(d: &Node<'_>, key: &str) -> Option<i64> {
    let c = d.get(key)?;
    (int(c, "use-speed-limit") == Some(1))
        .then(|| int(c, "speed-Bps"))
        .flatten()
        .filter(|&b| b > 0)
}

/// A limit's value as the add takes it: mode 1 is the torrent's own, 2 none
/// (`-1`), anything else the global one (absent).
fn limit(d: &Node<'_>, key: &str, value: impl Fn(&Node<'_>) -> Option<Value>) -> Option<Value> {
    let l = d.get(key)?;
    match int(
        l,
        key.strip_suffix("-limit")
            .map(|k| format!("{k}-mode"))
            .as_deref()?,
    )? {
        1 => value(l),
        2 => Some((-1).into()),
        _ => None,
    }
}

/// A file's priority as the add takes it: not wanted is `0`; Transmission's
/// low and normal are `1`, high is `6`.
fn priority(wanted: bool, p: i64) -> u8 {
    match (wanted, p) {
        (false, _) => 0,
        (true, 1..) => 6,
        _ => 1,
    }
}

/// The tiers a `.torrent` lists (`announce-list`, else `announce`).
fn announce(t: &Node<'_>) -> Vec<Vec<String>> {
    let list = t
        .get("announce-list")
        .and_then(Node::as_list)
        .unwrap_or(&[]);
    let mut tiers: Vec<Vec<String>> = (list.iter())
        .map(|tier| {
            (tier.as_list().unwrap_or(&[]).iter())
                .filter_map(Node::as_bytes)
                .map(|u| String::from_utf8_lossy(u).trim().to_owned())
                .filter(|u| !u.is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|tier| !tier.is_empty())
        .collect();
    if tiers.is_empty() {
        tiers.extend(
            text(t, "announce")
                .filter(|u| !u.trim().is_empty())
                .map(|u| vec![u]),
        );
    }
    tiers
}

/// The plan for one saved torrent: its `.resume` bytes and its `.torrent`
/// bytes.
pub fn plan(resume: &[u8], torrent: Option<&[u8]>) -> Result<Plan, ImportError> {
    let d = dict(resume, ".resume")?;
    let torrent = torrent.ok_or(ImportError::Torrent("not there".into()))?;
    let t = torrent_dict(torrent)?;
    let save_path = text(&d, "destination")
        .map(|p| folder(&p).to_owned())
        .filter(|p| !p.is_empty())
        .ok_or(ImportError::NoSavePath)?;
    let own_name = text(&d, "name").unwrap_or_default();
    // Transmission's incomplete folder holds what is not whole yet (the
    // daemon keeps a torrent in its save path if its files are there).
    let whole = (d.get("progress").and_then(|p| p.get("have")))
        .and_then(Node::as_bytes)
        .is_some_and(|h| h == b"all");
    let incomplete_dir = (text(&d, "incomplete-dir").map(|p| folder(&p).to_owned()))
        .filter(|p| !p.is_empty() && !whole);
    let mut add = Map::new();
    let mut priorities = None;
    let mut unfinished_names = Vec::new();
    let name = if let Some(m) = t.get("magnet-info") {
        // A magnet link still fetching its metadata.
        let ih = (m.get("info_hash").and_then(Node::as_bytes)).filter(|h| h.len() == 20);
        let shown = text(m, "display-name").unwrap_or_default();
        let link = magnet(
            Some(ih.ok_or(ImportError::NoHash)?),
            None,
            &shown,
            &announce(&t),
        );
        add.insert("magnet".into(), link.into());
        if shown.is_empty() { own_name } else { shown }
    } else {
        let meta = with_torrent(&mut add, torrent)?;
        let files = &meta.info.files;
        // Files under other names: `files` holds every file's name now.
        let now = d.get("files").and_then(Node::as_list).unwrap_or(&[]);
        let names: Vec<String> = (files.iter().enumerate())
            .map(|(i, f)| {
                let n = now
                    .get(i)
                    .and_then(Node::as_bytes)
                    .filter(|_| now.len() == files.len());
                n.map(|n| String::from_utf8_lossy(n).into_owned())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| f.path.as_str().to_owned())
            })
            .collect();
        let paths: Vec<Value> = (names.iter().zip(files).enumerate())
            .filter(|(_, (n, f))| !f.attr.pad && **n != f.path.as_str())
            .map(|(i, (n, _))| json!({"index": i, "path": n}))
            .collect();
        if !paths.is_empty() {
            add.insert("paths".into(), Value::Array(paths));
        }
        // An unfinished file may be `NAME.part` (`rename-partial-files`, on
        // by default), in either folder.
        if !whole {
            for folder in incomplete_dir.iter().chain([&save_path]) {
                for (n, _) in names.iter().zip(files).filter(|(_, f)| !f.attr.pad) {
                    unfinished_names.extend(unfinished(folder, n, ".part"));
                }
            }
        }
        let dnd = d.get("dnd").and_then(Node::as_list).unwrap_or(&[]);
        let prio = d.get("priority").and_then(Node::as_list).unwrap_or(&[]);
        if dnd.len() == files.len() && prio.len() == files.len() {
            let p: Vec<u8> = (dnd.iter().zip(prio))
                .map(|(n, p)| priority(n.as_int() != Some(1), p.as_int().unwrap_or(0)))
                .collect();
            priorities = p.iter().any(|&x| x != 1).then_some(p);
        }
        if !own_name.is_empty() && own_name != meta.info.name {
            add.insert("name".into(), own_name.clone().into());
        }
        meta.info.name.clone()
    };
    add.insert("save_path".into(), save_path.clone().into());
    match &incomplete_dir {
        Some(dir) => add.insert("download_path".into(), dir.clone().into()),
        None => add.insert("incomplete".into(), false.into()),
    };
    add.insert("paused".into(), true.into());
    add.insert("content_layout".into(), "original".into());
    let seeding = int(&d, "seeding-time-seconds");
    let active = match (int(&d, "downloading-time-seconds"), seeding) {
        (None, None) => None,
        (down, seed) => Some(
            down.unwrap_or(0)
                .max(0)
                .saturating_add(seed.unwrap_or(0).max(0)),
        ),
    };
    past(
        &mut add,
        [
            ("downloaded", int(&d, "downloaded")),
            ("uploaded", int(&d, "uploaded")),
            ("added_at", int(&d, "added-date")),
            ("completed_at", int(&d, "done-date")),
            ("seeding_time_secs", seeding),
            // It ran while it downloaded and while it seeded.
            ("active_time_secs", active),
        ],
    );
    let labels: Vec<String> = (d
        .get("labels")
        .and_then(Node::as_list)
        .unwrap_or(&[])
        .iter())
    .filter_map(Node::as_bytes)
    .map(|b| String::from_utf8_lossy(b).trim().to_owned())
    .filter(|l| !l.is_empty())
    .collect();
    if !labels.is_empty() {
        add.insert("labels".into(), json!(labels));
    }
    for (key, field) in [
        ("speed-limit-up", "upload_limit"),
        ("speed-limit-down", "download_limit"),
    ] {
        if let Some(b) = cap(&d, key) {
            add.insert(field.into(), b.into());
        }
    }
    let ratio = limit(&d, "ratio-limit", |l| {
        let r: f64 = text(l, "ratio-limit")?.trim().parse().ok()?;
        (r.is_finite() && r >= 0.0).then(|| r.into())
    });
    if let Some(r) = ratio {
        add.insert("ratio_limit".into(), r);
    }
    let idle = limit(&d, "idle-limit", |l| {
        int(l, "idle-limit").filter(|&m| m >= 0).map(Value::from)
    });
    if let Some(m) = idle {
        add.insert("inactive_seeding_time_limit_mins".into(), m);
    }
    Ok(Plan {
        name,
        add: Value::Object(add),
        save_path,
        category_follow: None,
        trackers: None,
        priorities,
        paused: int(&d, "paused") == Some(1),
        unfinished: unfinished_names,
    })
}

#[cfg(test)]
#[path = "transmission_tests.rs"]
mod tests;
