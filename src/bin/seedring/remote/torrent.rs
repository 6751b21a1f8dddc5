//! `seedring remote` commands on one torrent beyond pause, resume and remove:
//! its files and their priorities, peers, trackers, a recheck, a move, caps,
//! share limits, labels, names, order, and its `.torrent`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{Client, Out};

#[derive(Debug, Subcommand)]
pub(super) enum TorrentCommand {
    /// A torrent's files: index, priority, progress, size, path.
    Files { id: String },
    /// Set the priority of some of a torrent's files (0 skips them, 1 is
    /// normal, up to 7, the highest); its other files keep theirs.
    Priority {
        id: String,
        #[arg(value_parser = clap::value_parser!(u8).range(0..=7))]
        priority: u8,
        /// File indexes, as `files` shows them.
        #[arg(required = true)]
        files: Vec<usize>,
    },
    /// Give one of a torrent's files (or a folder of them) a new name.
    RenameFile {
        id: String,
        /// Its path as `files` shows it.
        from: String,
        to: String,
    },
    /// A torrent's connected peers: address, client, flags, rates, transport.
    Peers { id: String },
    /// Peers for a torrent to connect to (IP:PORT, [IPv6]:PORT).
    AddPeer {
        id: String,
        #[arg(required = true)]
        peers: Vec<String>,
    },
    /// A torrent's trackers by tier, its web seeds, and what the trackers said.
    Trackers { id: String },
    /// Add a tracker to a torrent, in a tier of its own after the last.
    AddTracker { id: String, tracker: String },
    /// Remove a tracker from a torrent.
    RmTracker { id: String, tracker: String },
    /// Hash every piece of a torrent from its files again.
    Recheck { id: String },
    /// Move a torrent's data to another storage root (its token).
    Move { id: String, root: String },
    /// A torrent's own speed caps, in bytes per second (0: none); a cap left
    /// out stays as it is. Without either, show them.
    Limits {
        id: String,
        #[arg(long, value_name = "BYTES/S")]
        down: Option<u64>,
        #[arg(long, value_name = "BYTES/S")]
        up: Option<u64>,
    },
    /// A torrent's own share limits and what reaching one does; each left out
    /// follows the global one (none given: all global again). A negative
    /// limit is none.
    ShareLimits {
        id: String,
        #[command(flatten)]
        share: ShareArgs,
    },
    /// Replace a torrent's labels (none given: it has none).
    Labels { id: String, labels: Vec<String> },
    /// What a torrent is called in listings ("": its own name again); its
    /// files keep their names.
    Rename { id: String, name: String },
    /// Pieces in order (`on`, to watch it while it downloads) or rarest first.
    Sequential {
        id: String,
        #[arg(value_parser = ["on", "off"])]
        on: String,
    },
    /// Save a torrent's .torrent file.
    Export { id: String, file: PathBuf },
}

/// A torrent's own share limits and action, at add or later: each left out
/// follows the global one; a negative limit is none.
#[derive(Debug, Args)]
pub(super) struct ShareArgs {
    /// Its own ratio limit.
    #[arg(long, allow_negative_numbers = true)]
    ratio: Option<f64>,
    /// Its own limit on minutes of seeding.
    #[arg(long, allow_negative_numbers = true, value_name = "MINUTES")]
    seeding_time: Option<i64>,
    /// Its own limit on minutes of seeding without any upload.
    #[arg(long, allow_negative_numbers = true, value_name = "MINUTES")]
    inactive_time: Option<i64>,
    /// What reaching a limit does to it: pause, remove, remove_with_files
    /// or super_seed.
    #[arg(long)]
    action: Option<String>,
}

impl ShareArgs {
    /// Each as the API names it, `None` where not given.
    pub(super) fn given(&self) -> [(&'static str, Option<Value>); 4] {
        [
            ("ratio_limit", self.ratio.map(|v| json!(v))),
            (
                "seeding_time_limit_mins",
                self.seeding_time.map(|v| json!(v)),
            ),
            (
                "inactive_seeding_time_limit_mins",
                self.inactive_time.map(|v| json!(v)),
            ),
            ("share_limit_action", self.action.as_ref().map(|v| json!(v))),
        ]
    }
}

pub(super) fn run(c: &Client, cmd: &TorrentCommand, o: Out) -> anyhow::Result<()> {
    match cmd {
        TorrentCommand::Files { id } => {
            let id = c.resolve(id)?;
            let v = c.get(&format!("/torrents/{id}/files"))?;
            o.show(&v);
            for f in v.as_array().into_iter().flatten() {
                o.say(format!(
                    "{:>4}  prio {}  {:>6.1}%  {:>10}  {}",
                    f["index"],
                    f["priority"],
                    f["progress"].as_f64().unwrap_or(0.0) * 100.0,
                    crate::human_bytes(f["size"].as_u64().unwrap_or(0)),
                    f["path"].as_str().unwrap_or("?"),
                ));
            }
        }
        TorrentCommand::Priority {
            id,
            priority,
            files,
        } => {
            let id = c.resolve(id)?;
            let body = json!({ "indexes": files, "priority": priority });
            c.put(&format!("/torrents/{id}/files"), &body)?;
            o.say(format!("{id}: files {files:?} at priority {priority}"));
        }
        TorrentCommand::RenameFile { id, from, to } => {
            let id = c.resolve(id)?;
            c.put(
                &format!("/torrents/{id}/paths"),
                &json!({ "from": from, "to": to }),
            )?;
            o.say(format!("{id}: {from} is renamed {to}"));
        }
        TorrentCommand::Peers { id } => {
            let id = c.resolve(id)?;
            let v = c.get(&format!("/torrents/{id}/peers"))?;
            o.show(&v);
            for p in v.as_array().into_iter().flatten() {
                o.say(format!(
                    "{:<40} {:<4} {:<6} down {:>9}/s  up {:>9}/s  {:<4} {}",
                    p["addr"].as_str().unwrap_or("?"),
                    p["transport"].as_str().unwrap_or("?"),
                    p["flags"].as_str().unwrap_or(""),
                    crate::human_bytes(p["download_rate"].as_u64().unwrap_or(0)),
                    crate::human_bytes(p["upload_rate"].as_u64().unwrap_or(0)),
                    p["encryption"].as_str().unwrap_or("?"),
                    p["client"].as_str().unwrap_or(""),
                ));
            }
        }
        TorrentCommand::AddPeer { id, peers } => {
            let id = c.resolve(id)?;
            c.post_json(&format!("/torrents/{id}/peers"), &json!({ "peers": peers }))?;
            o.say(format!("{id}: {} peers to try", peers.len()));
        }
        TorrentCommand::Trackers { id } => {
            let id = c.resolve(id)?;
            let v = c.get(&format!("/torrents/{id}/trackers"))?;
            o.show(&v);
            print_trackers(&v, o.json);
        }
        // (Not `url`: the name of the daemon's address, `--url`.)
        TorrentCommand::AddTracker { id, tracker: url }
        | TorrentCommand::RmTracker { id, tracker: url } => {
            let adding = matches!(cmd, TorrentCommand::AddTracker { .. });
            let id = c.resolve(id)?;
            let path = format!("/torrents/{id}/trackers");
            let mut tiers = tiers_of(&c.get(&path)?);
            let had = tiers.iter().flatten().any(|u| u == url);
            match (adding, had) {
                (true, true) => bail!("{id} already has {url}"),
                (false, false) => bail!("{id} has no tracker {url}"),
                (true, false) => tiers.push(vec![url.clone()]),
                (false, true) => tiers.iter_mut().for_each(|t| t.retain(|u| u != url)),
            }
            c.put(&path, &json!({ "tiers": tiers }))?;
            o.say(format!(
                "{id}: {url} {}",
                if adding { "added" } else { "removed" }
            ));
        }
        TorrentCommand::Recheck { id } => {
            let id = c.resolve(id)?;
            c.post(&format!("/torrents/{id}/recheck"))?;
            o.say(format!("{id}: rechecking"));
        }
        TorrentCommand::Move { id, root } => {
            let id = c.resolve(id)?;
            c.post_json(&format!("/torrents/{id}/move"), &json!({ "root": root }))?;
            o.say(format!("{id}: moving to root {root}"));
        }
        TorrentCommand::Limits { id, down, up } => {
            let id = c.resolve(id)?;
            if down.is_some() || up.is_some() {
                // A cap left out is left out: the daemon keeps it.
                let mut body = serde_json::Map::new();
                if let Some(d) = down {
                    body.insert("download".into(), json!(d));
                }
                if let Some(u) = up {
                    body.insert("upload".into(), json!(u));
                }
                c.put(&format!("/torrents/{id}/limits"), &Value::Object(body))?;
            }
            let now = c.get(&format!("/torrents/{id}"))?;
            let cap = |key: &str| now[key].as_u64().unwrap_or(0);
            let (d, u) = (cap("download_limit"), cap("upload_limit"));
            o.show(&json!({ "download_limit": d, "upload_limit": u }));
            let shown = |n: u64| match n {
                0 => "none".to_owned(),
                n => format!("{}/s", crate::human_bytes(n)),
            };
            o.say(format!("{id}: down {}, up {}", shown(d), shown(u)));
        }
        TorrentCommand::ShareLimits { id, share } => {
            let id = c.resolve(id)?;
            let body: serde_json::Map<String, Value> = (share.given().into_iter())
                .filter_map(|(k, v)| Some((k.to_owned(), v?)))
                .collect();
            c.put(
                &format!("/torrents/{id}/share_limits"),
                &Value::Object(body),
            )?;
            let own = &c.get(&format!("/torrents/{id}"))?["share_limits"];
            o.show(own);
            if own.is_null() {
                o.say(format!("{id}: follows the global share limits"));
            } else {
                o.say(format!("{id}: share limits {own}"));
            }
        }
        TorrentCommand::Labels { id, labels } => {
            let id = c.resolve(id)?;
            c.put(
                &format!("/torrents/{id}/labels"),
                &json!({ "labels": labels }),
            )?;
            o.say(format!("{id}: labels {labels:?}"));
        }
        TorrentCommand::Rename { id, name } => {
            let id = c.resolve(id)?;
            c.put(&format!("/torrents/{id}/name"), &json!({ "name": name }))?;
            o.say(format!("{id} is called {name:?}"));
        }
        TorrentCommand::Sequential { id, on } => {
            let id = c.resolve(id)?;
            let on = on == "on";
            c.put(&format!("/torrents/{id}/sequential"), &json!({ "on": on }))?;
            o.say(format!(
                "{id}: pieces {}",
                if on { "in order" } else { "rarest first" }
            ));
        }
        TorrentCommand::Export { id, file } => {
            let id = c.resolve(id)?;
            let bytes = c.get_bytes(&format!("/torrents/{id}/torrent"))?;
            std::fs::write(file, &bytes)
                .with_context(|| format!("cannot write {}", file.display()))?;
            o.say(format!(
                "{id}: {} ({} bytes) written",
                file.display(),
                bytes.len()
            ));
        }
    }
    Ok(())
}

/// The announce URLs by tier, from `GET /torrents/{id}/trackers`.
fn tiers_of(v: &Value) -> Vec<Vec<String>> {
    v["tiers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            t.as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect()
        })
        .collect()
}

fn print_trackers(v: &Value, json_out: bool) {
    if json_out {
        return;
    }
    for (i, tier) in tiers_of(v).iter().enumerate() {
        for url in tier {
            let asked = v["asked"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["url"].as_str() == Some(url.as_str()));
            let said = match asked {
                Some(a) if !a["error"].is_null() => format!("error: {}", a["error"]),
                Some(a) => format!(
                    "{} announces, seeders {}, leechers {}",
                    a["announces"], a["seeders"], a["leechers"]
                ),
                None => "not asked yet".to_owned(),
            };
            println!("tier {i}  {url}  ({said})");
        }
    }
    for w in v["web_seeds"].as_array().into_iter().flatten() {
        println!("web seed  {}", w.as_str().unwrap_or("?"));
    }
}
