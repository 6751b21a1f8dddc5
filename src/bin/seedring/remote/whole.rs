//! `seedring remote` commands on the daemon as a whole rather than one
//! torrent: its numbers, its storage roots, a category's removal, its stop.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{Client, Out};

#[derive(Debug, Subcommand)]
pub(super) enum WholeCommand {
    /// The daemon's numbers: rates, totals, torrents by state, peers, engine.
    Stats,
    /// The storage roots: token, path, whether available, free space, torrents.
    Roots,
    /// Add a storage root (an absolute folder, made if missing, with its
    /// marker file).
    AddRoot {
        /// Its token (its name in the API). (Not `token`: the name of the
        /// API token, `--token`.)
        root: String,
        path: String,
        /// What to call it (default: its token).
        #[arg(long)]
        label: Option<String>,
    },
    /// Remove a storage root that holds no torrent (its files stay).
    RmRoot { root: String },
    /// Torrents added without a root go to this one from now on.
    DefaultRoot { root: String },
    /// Remove a category (its torrents are left without one).
    RmCategory { name: String },
    /// Stop the daemon as SIGTERM does (everything saved, trackers told).
    Shutdown,
}

pub(super) fn run(c: &Client, cmd: &WholeCommand, o: Out) -> anyhow::Result<()> {
    match cmd {
        WholeCommand::Stats => {
            let v = c.get("/stats")?;
            o.show(&v);
            let n = |k: &str| v[k].as_u64().unwrap_or(0);
            let rate = |k: &str| format!("{}/s", crate::human_bytes(n(k)));
            o.say(format!(
                "down {}, up {}; downloaded {}, uploaded {}, wasted {}",
                rate("download_rate"),
                rate("upload_rate"),
                crate::human_bytes(n("downloaded")),
                crate::human_bytes(n("uploaded")),
                crate::human_bytes(n("wasted")),
            ));
            let states: Vec<String> = v["by_state"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(s, k)| format!("{s} {k}"))
                .collect();
            o.say(format!("{} torrents: {}", n("torrents"), states.join(", ")));
            o.say(format!(
                "{} peers, {} connections, {} half-open; {} engine threads on {}; up {} s",
                n("peers"),
                n("connections"),
                n("half_open"),
                n("shards"),
                v["io"].as_str().unwrap_or("?"),
                n("uptime_secs"),
            ));
        }
        WholeCommand::Roots => {
            let v = c.get("/roots")?;
            o.show(&v);
            for r in v.as_array().into_iter().flatten() {
                let how = if r["available"] == Value::Bool(true) {
                    format!(
                        "{} free",
                        crate::human_bytes(r["free_bytes"].as_u64().unwrap_or(0))
                    )
                } else {
                    "unavailable".to_owned()
                };
                o.say(format!(
                    "{}{}  {}  ({how}, {} torrents)",
                    r["token"].as_str().unwrap_or("?"),
                    if r["default"] == Value::Bool(true) {
                        " (default)"
                    } else {
                        ""
                    },
                    r["path"].as_str().unwrap_or("?"),
                    r["torrents"],
                ));
            }
        }
        WholeCommand::AddRoot {
            root: token,
            path,
            label,
        } => {
            let label = label.as_deref().unwrap_or(token);
            let body = json!({ "token": token, "label": label, "path": path });
            let v = c.post_json("/roots", &body)?;
            o.show(&v);
            o.say(format!(
                "root {token} at {}",
                v["path"].as_str().unwrap_or(path)
            ));
        }
        WholeCommand::RmRoot { root: token } => {
            c.delete(&format!("/roots/{}", Client::segment(token)))?;
            o.say(format!("root {token} removed"));
        }
        WholeCommand::DefaultRoot { root: token } => {
            c.post(&format!("/roots/{}/default", Client::segment(token)))?;
            o.say(format!("root {token} is the default"));
        }
        WholeCommand::RmCategory { name } => {
            c.delete(&format!("/categories/{}", Client::segment(name)))?;
            o.say(format!("category {name} removed"));
        }
        WholeCommand::Shutdown => {
            c.post("/shutdown")?;
            o.say("the daemon is stopping".to_owned());
        }
    }
    Ok(())
}
