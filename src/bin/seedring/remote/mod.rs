//! `seedring remote`: a command-line client for a running daemon.

mod add;
mod logs;
mod torrent;
mod whole;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;

#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// The daemon's data folder: its address (admin.addr) and token (admin.token)
    /// are read from there unless --url / --token say otherwise.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "./seedring-data",
        global = true
    )]
    data_dir: PathBuf,
    /// The daemon's API, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL", global = true)]
    url: Option<String>,
    /// The API token (else SEEDRING_TOKEN, else the data folder's admin.token).
    #[arg(long, value_name = "TOKEN", global = true)]
    token: Option<String>,
    /// Print the daemon's JSON answers as they are.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: RemoteCommand,
}

#[derive(Debug, Subcommand)]
enum RemoteCommand {
    /// Every torrent: id, state, progress, rates, [category], name.
    List,
    /// Add a .torrent file or a magnet link.
    Add(Box<add::AddArgs>),
    /// File a torrent under a category ("" for none); if it follows its
    /// category, its data moves to the category's save path.
    SetCategory { id: String, category: String },
    /// Have a torrent's files follow its category (`on`: moved to its save
    /// path now and when it changes) or stay where they are (`off`).
    FollowCategory {
        id: String,
        #[arg(value_parser = ["on", "off"])]
        on: String,
    },
    /// Download a torrent placed by hand in another storage root until it
    /// finishes (its files move there now, and back to its save root at the
    /// end); without ROOT, back to its save root now.
    DownloadRoot { id: String, root: Option<String> },
    /// Super-seeding on (peers that connect while it is whole are shown a
    /// piece at a time) or off.
    SuperSeed {
        id: String,
        #[arg(value_parser = ["on", "off"])]
        on: String,
    },
    /// The categories and their save paths.
    Categories,
    /// Create a category, or change its save path (empty: the default root;
    /// else a root's folder or a folder inside one).
    AddCategory {
        name: String,
        #[arg(default_value = "")]
        save_path: String,
    },
    /// Pause a torrent (id or a unique start of one).
    Pause { id: String },
    /// Resume a torrent.
    Resume { id: String },
    /// Remove a torrent; --delete removes its data too.
    Rm {
        id: String,
        #[arg(long)]
        delete: bool,
    },
    /// Everything about one torrent.
    Info { id: String },
    /// Add every torrent qBittorrent keeps in its BT_backup folder (its
    /// .fastresume and .torrent files) where its data is, with its category,
    /// tags, name, limits, file names, priorities and trackers; each is checked
    /// against its files before it seeds or downloads. Stop qBittorrent first.
    ImportQbittorrent {
        /// qBittorrent's BT_backup folder (e.g.
        /// ~/.local/share/qBittorrent/BT_backup).
        dir: PathBuf,
        /// Say what would be added; add nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Add every torrent of rTorrent's session folder where its data is, with
    /// its label as its category, its file priorities and trackers, stopped if
    /// it was; each is checked against its files before it seeds or downloads.
    /// Stop rTorrent first.
    ImportRtorrent {
        /// rTorrent's session folder (where `session.path.set` in its
        /// .rtorrent.rc points, e.g. ~/.session).
        dir: PathBuf,
        /// Say what would be added; add nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Add every torrent Transmission keeps (its resume and torrents folders)
    /// where its data is, under its files' names there, with its labels, caps,
    /// ratio and idle limits and file priorities, stopped if it was; each is
    /// checked against its files before it seeds or downloads. Stop
    /// Transmission first.
    ImportTransmission {
        /// Transmission's configuration folder (e.g.
        /// ~/.config/transmission-daemon), or the resume folder in it.
        dir: PathBuf,
        /// Say what would be added; add nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Add every torrent Deluge keeps (its state folder) where its data is,
    /// with its label as its category, its name, caps, stop ratio, file
    /// priorities and trackers, stopped if it was (an unfinished one goes to
    /// its move-completed folder when it finishes); each is checked against
    /// its files before it seeds or downloads. Stop Deluge first.
    ImportDeluge {
        /// Deluge's configuration folder (e.g. ~/.config/deluge), or the
        /// state folder in it.
        dir: PathBuf,
        /// Say what would be added; add nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The global speed caps in force; `on` or `off` switches the alternative
    /// ones (a schedule switches them again at its next edge).
    AltLimits {
        #[arg(value_parser = ["on", "off"])]
        switch: Option<String>,
    },
    #[command(flatten)]
    Torrent(torrent::TorrentCommand),
    #[command(flatten)]
    Whole(whole::WholeCommand),
    /// The daemon's recent log; -f keeps following it.
    Logs {
        /// Keep printing new entries until interrupted.
        #[arg(short, long)]
        follow: bool,
        /// error, warn, info, debug or trace (and more severe).
        #[arg(long)]
        level: Option<String>,
        /// How many recent entries.
        #[arg(short = 'n', long, default_value_t = 50)]
        limit: usize,
    },
}

pub(crate) struct Client {
    pub(crate) base: String,
    token: String,
    pub(crate) http: reqwest::blocking::Client,
}

impl Client {
    fn new(a: &RemoteArgs) -> anyhow::Result<Client> {
        let base = match &a.url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => {
                let f = a.data_dir.join("admin.addr");
                let text = std::fs::read_to_string(&f).with_context(|| {
                    format!(
                        "cannot read {} (is the daemon running? else give --url)",
                        f.display()
                    )
                })?;
                let addr = text
                    .lines()
                    .find_map(|l| l.strip_prefix("api="))
                    .with_context(|| format!("{}: no api= line", f.display()))?;
                format!("http://{addr}")
            }
        };
        let token = match a
            .token
            .clone()
            .or_else(|| std::env::var("SEEDRING_TOKEN").ok())
        {
            Some(t) => t,
            None => {
                let f = a.data_dir.join("admin.token");
                std::fs::read_to_string(&f)
                    .with_context(|| format!("cannot read {} (else give --token)", f.display()))?
                    .trim()
                    .to_owned()
            }
        };
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Client { base, token, http })
    }

    pub(crate) fn send(&self, req: reqwest::blocking::RequestBuilder) -> anyhow::Result<Value> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .with_context(|| format!("cannot reach the daemon at {}", self.base))?;
        let status = resp.status();
        let body = resp.text()?;
        let v: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&body).unwrap_or(Value::String(body))
        };
        if !status.is_success() {
            let detail = v["detail"]
                .as_str()
                .map_or_else(|| v.to_string(), str::to_owned);
            bail!("{status}: {detail}");
        }
        Ok(v)
    }

    pub(crate) fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}/api/v1{path}", self.base)))
    }

    pub(crate) fn post(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.post(format!("{}/api/v1{path}", self.base)))
    }

    fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(
            self.http
                .post(format!("{}/api/v1{path}", self.base))
                .json(body),
        )
    }

    fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(
            self.http
                .put(format!("{}/api/v1{path}", self.base))
                .json(body),
        )
    }

    fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.delete(format!("{}/api/v1{path}", self.base)))
    }

    /// An answer's bytes as they are (a `.torrent`).
    fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let url = format!("{}/api/v1{path}", self.base);
        let resp = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .with_context(|| format!("cannot reach the daemon at {}", self.base))?;
        let status = resp.status();
        let body = resp.bytes()?.to_vec();
        if !status.is_success() {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let detail = v["detail"].as_str().unwrap_or("");
            bail!("{status}: {detail}");
        }
        Ok(body)
    }

    /// `name` as one segment of a route's path.
    fn segment(name: &str) -> String {
        percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    /// Creates category `name` saving in `save_path`, or moves it there.
    pub(crate) fn put_category(&self, name: &str, save_path: &str) -> anyhow::Result<Value> {
        let path = format!("/categories/{}", Self::segment(name));
        self.put(&path, &serde_json::json!({ "save_path": save_path }))
    }

    /// The full id of the one torrent whose id starts with `prefix`.
    fn resolve(&self, prefix: &str) -> anyhow::Result<String> {
        let p = prefix.to_ascii_lowercase();
        if p.len() == 40 {
            return Ok(p);
        }
        let list = self.get("/torrents")?;
        let ids: Vec<String> = list["torrents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["id"].as_str())
            .filter(|id| id.starts_with(&p))
            .map(str::to_owned)
            .collect();
        match ids.as_slice() {
            [one] => Ok(one.clone()),
            [] => bail!("no torrent id starts with {prefix:?}"),
            _ => bail!(
                "{} torrents' ids start with {prefix:?}: give more of it",
                ids.len()
            ),
        }
    }
}

/// Where a command's answer goes: the daemon's JSON as it came (`--json`),
/// or lines for a person.
#[derive(Debug, Clone, Copy)]
struct Out {
    json: bool,
}

impl Out {
    /// A line for a person (nothing with `--json`).
    fn say(self, text: impl std::fmt::Display) {
        if !self.json {
            println!("{text}");
        }
    }

    /// The daemon's answer (only with `--json`).
    fn show(self, v: &Value) {
        if self.json {
            println!("{v}");
        }
    }
}

pub fn run(a: RemoteArgs) -> anyhow::Result<ExitCode> {
    let c = Client::new(&a)?;
    let o = Out { json: a.json };
    match &a.command {
        RemoteCommand::List => {
            let v = c.get("/torrents")?;
            o.show(&v);
            if !a.json {
                for t in v["torrents"].as_array().into_iter().flatten() {
                    let cat = t["category"].as_str().unwrap_or("");
                    let cat = if cat.is_empty() {
                        String::new()
                    } else {
                        format!("[{cat}] ")
                    };
                    println!(
                        "{}  {:<17} {:>6.1}%  down {:>9}/s  up {:>9}/s  {cat}{}",
                        &t["id"].as_str().unwrap_or("?")
                            [..8.min(t["id"].as_str().unwrap_or("?").len())],
                        t["state"].as_str().unwrap_or("?"),
                        t["progress"].as_f64().unwrap_or(0.0) * 100.0,
                        crate::human_bytes(t["download_rate"].as_u64().unwrap_or(0)),
                        crate::human_bytes(t["upload_rate"].as_u64().unwrap_or(0)),
                        t["name"].as_str().unwrap_or("?"),
                    );
                }
            }
        }
        RemoteCommand::Add(args) => add::run(&c, args, o)?,
        RemoteCommand::Pause { id } | RemoteCommand::Resume { id } => {
            let what = if matches!(a.command, RemoteCommand::Pause { .. }) {
                "pause"
            } else {
                "resume"
            };
            let id = c.resolve(id)?;
            c.post(&format!("/torrents/{id}/{what}"))?;
            if !a.json {
                println!("{what}d {id}");
            }
        }
        RemoteCommand::SetCategory { id, category } => {
            let id = c.resolve(id)?;
            let url = format!("{}/api/v1/torrents/{id}/category", c.base);
            c.send(
                c.http
                    .put(url)
                    .json(&serde_json::json!({ "category": category })),
            )?;
            if !a.json {
                println!("{id} filed under {category:?}");
            }
        }
        RemoteCommand::FollowCategory { id, on } => {
            let id = c.resolve(id)?;
            let url = format!("{}/api/v1/torrents/{id}/follow_category", c.base);
            let on = on == "on";
            c.send(c.http.put(url).json(&serde_json::json!({ "on": on })))?;
            if !a.json {
                let how = if on {
                    "follow its category"
                } else {
                    "stay where they are"
                };
                println!("{id}: its files {how}");
            }
        }
        RemoteCommand::DownloadRoot { id, root } => {
            let id = c.resolve(id)?;
            let url = format!("{}/api/v1/torrents/{id}/download_root", c.base);
            c.send(c.http.put(url).json(&serde_json::json!({ "root": root })))?;
            if !a.json {
                match root {
                    Some(r) => println!("{id} downloads in root {r:?} until it finishes"),
                    None => println!("{id} downloads in its save root"),
                }
            }
        }
        RemoteCommand::SuperSeed { id, on } => {
            let id = c.resolve(id)?;
            let url = format!("{}/api/v1/torrents/{id}/super_seeding", c.base);
            let on = on == "on";
            c.send(c.http.put(url).json(&serde_json::json!({ "on": on })))?;
            if !a.json {
                println!("{id}: super-seeding {}", if on { "on" } else { "off" });
            }
        }
        RemoteCommand::Categories => {
            let v = c.get("/categories")?;
            o.show(&v);
            if !a.json {
                for (name, cat) in v.as_object().into_iter().flatten() {
                    let path = cat["save_path"].as_str().unwrap_or("");
                    let path = if path.is_empty() {
                        "(default root)"
                    } else {
                        path
                    };
                    println!("{name}  {path}");
                }
            }
        }
        RemoteCommand::AddCategory { name, save_path } => {
            c.put_category(name, save_path)?;
            if !a.json {
                println!("category {name} saved");
            }
        }
        RemoteCommand::Rm { id, delete } => {
            let id = c.resolve(id)?;
            let url = format!("{}/api/v1/torrents/{id}?delete_files={delete}", c.base);
            c.send(c.http.delete(url))?;
            if !a.json {
                println!("removed {id}{}", if *delete { " and its data" } else { "" });
            }
        }
        RemoteCommand::AltLimits { switch } => {
            if let Some(sw) = switch {
                let url = format!("{}/api/v1/settings", c.base);
                let body = serde_json::json!({ "alt_limits": sw == "on" });
                c.send(c.http.patch(url).json(&body))?;
            }
            let v = c.get("/stats")?;
            o.show(&v);
            if !a.json {
                let cap = |k: &str| match v[k].as_u64().unwrap_or(0) {
                    0 => "none".to_owned(),
                    n => format!("{}/s", crate::human_bytes(n)),
                };
                let which = if v["alt_limits"] == Value::Bool(true) {
                    "alternative"
                } else {
                    "normal"
                };
                println!(
                    "{which} limits: down {}, up {}",
                    cap("download_limit"),
                    cap("upload_limit")
                );
            }
        }
        RemoteCommand::ImportQbittorrent { dir, dry_run } => {
            return crate::import::run(&c, crate::import::Source::Qbittorrent, dir, *dry_run);
        }
        RemoteCommand::ImportRtorrent { dir, dry_run } => {
            return crate::import::run(&c, crate::import::Source::Rtorrent, dir, *dry_run);
        }
        RemoteCommand::ImportTransmission { dir, dry_run } => {
            return crate::import::run(&c, crate::import::Source::Transmission, dir, *dry_run);
        }
        RemoteCommand::ImportDeluge { dir, dry_run } => {
            return crate::import::run(&c, crate::import::Source::Deluge, dir, *dry_run);
        }
        RemoteCommand::Info { id } => {
            let id = c.resolve(id)?;
            let v = c.get(&format!("/torrents/{id}"))?;
            o.show(&v);
            if !a.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            }
        }
        RemoteCommand::Torrent(cmd) => torrent::run(&c, cmd, o)?,
        RemoteCommand::Whole(cmd) => whole::run(&c, cmd, o)?,
        RemoteCommand::Logs {
            follow,
            level,
            limit,
        } => {
            let mut q = format!("?limit={limit}");
            if let Some(l) = level {
                q.push_str(&format!("&level={l}"));
            }
            let v = c.get(&format!("/logs{q}"))?;
            for e in v.as_array().into_iter().flatten() {
                logs::print_entry(e, a.json);
            }
            if *follow {
                logs::follow(&c, level.as_deref(), a.json)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
