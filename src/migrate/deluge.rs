//! Deluge's saved torrents (its `state` folder: `torrents.fastresume`, one
//! bencoded dictionary of each torrent's libtorrent resume data by id;
//! `<id>.torrent`; `torrents.state`, Deluge's own options of each torrent,
//! a Python pickle read as data by [`super::pickle`]; and the Label plugin's
//! `label.conf` beside the folder), each read into a [`Plan`] as
//! qBittorrent's are (both keep libtorrent's resume data): added where its
//! data is, stopped if it was, with its caps, sequential order, file
//! priorities (Deluge's low and normal are normal here, its high is high),
//! trackers, totals and times, and from Deluge's own options its name (where
//! renamed), its label as its category, its stop ratio with what reaching it
//! does (pause, or remove with "remove at ratio"), first and last
//! pieces first, and for an unfinished torrent its "move completed" folder
//! (where it goes when it finishes). Checked against Deluge 2.0.3 on
//! libtorrent 2.0.
//!
//! Not carried over: its queue place, its connection and slot caps, and the
//! Label plugin's per-label options. What is on disk is checked at add.

use std::collections::HashMap;

use serde_json::Value;

use super::pickle::{self, Py};
use super::{ImportError, Plan, dict, folder};
use crate::bencode::Node;

/// Deluge's options of one torrent (`torrents.state`) that come over.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// The name given in Deluge (empty: its own).
    pub name: String,
    /// Stopped by the user.
    pub paused: Option<bool>,
    /// Stops seeding at this ratio.
    pub stop_ratio: Option<f64>,
    /// Removed (its files kept) at that ratio, not paused.
    pub remove_at_ratio: bool,
    /// Its files go there when it finishes.
    pub move_completed: Option<String>,
    /// Its first and last pieces first.
    pub first_last: bool,
}

/// One saved torrent of Deluge's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Saved {
    /// Its id (the info-hash in hex), the name of its `.torrent` there.
    pub id: String,
    /// Its libtorrent resume data.
    pub resume: Vec<u8>,
    /// Deluge's options of it, if `torrents.state` names it.
    pub options: Option<Options>,
    /// Its label (the Label plugin's), if any.
    pub label: Option<String>,
}

/// Deluge's state read: every saved torrent, in id order, and what could
/// not be read (the import goes on without it).
#[derive(Debug, Clone, Default)]
pub struct State {
    /// The saved torrents.
    pub torrents: Vec<Saved>,
    /// Why `torrents.state` or `label.conf` was left out, if one was.
    pub notes: Vec<String>,
}

/// The options of each torrent `torrents.state` holds, by id.
fn options(state: &[u8]) -> Result<HashMap<String, Options>, String> {
    let root = pickle::load(state).map_err(|e| e.to_string())?;
    let list = (root.get("torrents").and_then(Py::as_list)).ok_or("it has no list of torrents")?;
    let mut out = HashMap::new();
    for t in list {
        let Some(id) = t.get("torrent_id").and_then(Py::as_str) else {
            continue;
        };
        let flag = |k: &str| t.get(k).and_then(Py::as_bool);
        let text = |k: &str| t.get(k).and_then(Py::as_str).map(str::trim).unwrap_or("");
        let ratio =
            (t.get("stop_ratio").and_then(Py::as_f64)).filter(|r| r.is_finite() && *r >= 0.0);
        let moved = text("move_completed_path");
        out.insert(
            id.to_ascii_lowercase(),
            Options {
                name: text("name").to_owned(),
                paused: flag("paused"),
                stop_ratio: ratio.filter(|_| flag("stop_at_ratio") == Some(true)),
                remove_at_ratio: flag("remove_at_ratio") == Some(true),
                move_completed: (flag("move_completed") == Some(true) && moved.starts_with('/'))
                    .then(|| folder(moved).to_owned()),
                first_last: flag("prioritize_first_last") == Some(true),
            },
        );
    }
    Ok(out)
}

/// Each torrent's label in the Label plugin's `label.conf` (Deluge's config
/// format: a JSON header, then the JSON body).
fn labels(conf: &[u8]) -> Result<HashMap<String, String>, String> {
    let body = serde_json::Deserializer::from_slice(conf)
        .into_iter::<Value>()
        .nth(1)
        .ok_or("it has no body after its header")?
        .map_err(|e| e.to_string())?;
    let map = body["torrent_labels"]
        .as_object()
        .ok_or("it has no torrent_labels")?;
    Ok(map
        .iter()
        .filter_map(|(id, l)| Some((id.to_ascii_lowercase(), l.as_str()?.trim().to_owned())))
        .filter(|(_, l)| !l.is_empty())
        .collect())
}

/// Reads Deluge's state: `torrents.fastresume`'s bytes, and those of
/// `torrents.state` and `label.conf` where they were found.
pub fn read(
    fastresume: &[u8],
    state: Option<&[u8]>,
    label_conf: Option<&[u8]>,
) -> Result<State, ImportError> {
    let d = dict(fastresume, "torrents.fastresume")?;
    let mut notes = Vec::new();
    let opts = match state.map(options) {
        Some(Ok(o)) => o,
        Some(Err(why)) => {
            notes.push(format!(
                "torrents.state is not readable ({why}): names, stop ratios, move-completed folders and Deluge's stopped flags are not carried over"
            ));
            HashMap::new()
        }
        None => HashMap::new(),
    };
    let labels = match label_conf.map(labels) {
        Some(Ok(l)) => l,
        Some(Err(why)) => {
            notes.push(format!(
                "label.conf is not readable ({why}): labels are not carried over"
            ));
            HashMap::new()
        }
        None => HashMap::new(),
    };
    let mut torrents = Vec::new();
    for (k, v) in d.as_dict().unwrap_or(&[]) {
        let id = String::from_utf8_lossy(k).to_ascii_lowercase();
        // Deluge 2 keeps each as bencoded bytes; older ones as a dictionary.
        let resume = match v.as_bytes() {
            Some(b) => b.to_vec(),
            None => v.raw().to_vec(),
        };
        torrents.push(Saved {
            options: opts.get(&id).cloned(),
            label: labels.get(&id).cloned(),
            id,
            resume,
        });
    }
    torrents.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(State { torrents, notes })
}

/// A file's priority as the add takes it from libtorrent's, as Deluge sets
/// them: not wanted is `0`; low (1 to 3) and normal (4) are `1`; high (5
/// to 7) is `6`.
fn priority(p: u8) -> u8 {
    match p {
        0 => 0,
        1..=4 => 1,
        _ => 6,
    }
}

/// The plan for saved torrent `s`, with its `.torrent`'s bytes if Deluge
/// has it.
pub fn plan(s: &Saved, torrent: Option<&[u8]>) -> Result<Plan, ImportError> {
    let mut p = super::plan(&s.resume, torrent)?;
    p.priorities = (p.priorities.take())
        .map(|pr| pr.into_iter().map(priority).collect::<Vec<_>>())
        .filter(|pr| pr.iter().any(|&x| x != 1));
    let Some(add) = p.add.as_object_mut() else {
        return Ok(p);
    };
    if let Some(label) = &s.label {
        add.insert("category".into(), label.clone().into());
    }
    let Some(o) = &s.options else {
        return Ok(p);
    };
    if !o.name.is_empty() && o.name != p.name {
        add.insert("name".into(), o.name.clone().into());
        p.name.clone_from(&o.name);
    }
    if let Some(r) = o.stop_ratio {
        add.insert("ratio_limit".into(), r.into());
        // What Deluge does at it, whatever seedring's global action is.
        let action = if o.remove_at_ratio { "remove" } else { "pause" };
        add.insert("share_limit_action".into(), action.into());
    }
    if o.first_last {
        add.insert("first_last".into(), true.into());
    }
    if let Some(paused) = o.paused {
        p.paused = paused;
    }
    let d = dict(&s.resume, ".fastresume")?;
    let pieces = d.get("pieces").and_then(Node::as_bytes).unwrap_or(&[]);
    let complete = !pieces.is_empty() && pieces.iter().all(|&b| b & 1 == 1);
    if let Some(to) = o
        .move_completed
        .as_ref()
        .filter(|to| !complete && **to != p.save_path)
    {
        // Downloads where it is, and goes there when it finishes.
        add.remove("incomplete");
        add.insert("download_path".into(), p.save_path.clone().into());
        add.insert("save_path".into(), to.clone().into());
        p.save_path.clone_from(to);
    }
    Ok(p)
}

#[cfg(test)]
#[path = "deluge_tests.rs"]
mod tests;
