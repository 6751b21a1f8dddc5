//! `seedring remote import-qbittorrent DIR`: every torrent qBittorrent keeps in
//! its `BT_backup` folder added to the daemon where its data is
//! (`seedring::migrate::qbittorrent` reads each into a plan; this carries the
//! plans out over the API, one torrent at a time).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::remote::Client;
use seedring::migrate::qbittorrent::folder;
use seedring::migrate::{self, Plan};

/// The largest `.fastresume` or `.torrent` read (qBittorrent's are far
/// smaller; the daemon refuses a body over its own limit anyway).
const MAX_FILE: u64 = 64 << 20;

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if len > MAX_FILE {
        bail!(
            "{} is {len} bytes: larger than any torrent's",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The folder a category's `save_path` means: empty is the default root, a
/// root's token is its folder, else it is a folder.
fn category_folder(roots: &Value, save_path: &str) -> String {
    let all = roots.as_array().map(Vec::as_slice).unwrap_or(&[]);
    let root = if save_path.is_empty() {
        all.iter().find(|r| r["default"] == true)
    } else {
        all.iter().find(|r| r["token"] == save_path)
    };
    match root.and_then(|r| r["path"].as_str()) {
        Some(p) => folder(p).to_owned(),
        None => folder(save_path).to_owned(),
    }
}

struct Importer<'a> {
    c: &'a Client,
    categories: Value,
    roots: Value,
}

impl Importer<'_> {
    /// Whether a managed torrent can follow its category here: the category
    /// saves in its folder (made so, if the category is new).
    fn follows(&mut self, category: &str, save_path: &str) -> anyhow::Result<bool> {
        if let Some(cat) = self.categories.get(category) {
            let there = category_folder(&self.roots, cat["save_path"].as_str().unwrap_or(""));
            return Ok(there == folder(save_path));
        }
        self.c
            .put_category(category, save_path)
            .with_context(|| format!("category {category:?} in {save_path}"))?;
        println!("  category {category} created, saving in {save_path}");
        self.categories = self.c.get("/categories")?;
        Ok(true)
    }

    /// Adds one torrent as its plan says; its id, or `None` if it is there
    /// already.
    fn add(&mut self, mut p: Plan) -> anyhow::Result<Option<String>> {
        let mut how = format!("in {}", p.save_path);
        if let Some(cat) = &p.category_follow {
            if self.follows(cat, &p.save_path)? {
                if let Some(a) = p.add.as_object_mut() {
                    a.remove("save_path");
                }
                how = format!("in {} (follows category {cat})", p.save_path);
            } else {
                how = format!(
                    "in {} (placed by hand: category {cat} saves elsewhere)",
                    p.save_path
                );
            }
        }
        let url = format!("{}/api/v1/torrents", self.c.base);
        let v = match self.c.send(self.c.http.post(url).json(&p.add)) {
            Ok(v) => v,
            Err(e) if e.to_string().starts_with("409") => return Ok(None),
            Err(e) => return Err(e),
        };
        let id = v["id"]
            .as_str()
            .context("the daemon's answer has no id")?
            .to_owned();
        let short = id.get(..8).unwrap_or(&id).to_owned();
        let put = |what: &str, body: Value| -> anyhow::Result<()> {
            let url = format!("{}/api/v1/torrents/{id}/{what}", self.c.base);
            self.c
                .send(self.c.http.put(url).json(&body))
                .with_context(|| format!("{short} added, but its {what} were not set"))?;
            Ok(())
        };
        if let Some(t) = p.trackers.take() {
            put("trackers", json!({ "tiers": t }))?;
        }
        if let Some(pr) = p.priorities.take() {
            put("files", json!({ "priorities": pr }))?;
        }
        // A stopped one is checked and stays stopped (what it has shows, as
        // in qBittorrent); the others run, and are checked first.
        let then = if p.paused { "recheck" } else { "resume" };
        self.c.post(&format!("/torrents/{id}/{then}"))?;
        let paused = if p.paused { ", paused" } else { "" };
        println!("added {short} {} {how}{paused}", p.name);
        Ok(Some(id))
    }
}

/// Reads every `.fastresume` in `dir` (with its `.torrent`) and adds each;
/// with `dry_run`, says what it would add.
pub fn run(c: &Client, dir: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let mut stems: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".fastresume").map(str::to_owned)
        })
        .collect();
    stems.sort();
    if stems.is_empty() {
        bail!(
            "no .fastresume files in {} (qBittorrent keeps them in its BT_backup folder, e.g. ~/.local/share/qBittorrent/BT_backup)",
            dir.display()
        );
    }
    let mut im = Importer {
        c,
        categories: if dry_run {
            Value::Null
        } else {
            c.get("/categories")?
        },
        roots: if dry_run {
            Value::Null
        } else {
            c.get("/roots")?
        },
    };
    let (mut added, mut there, mut failed) = (0, 0, 0);
    for stem in &stems {
        let resume = read(&dir.join(format!("{stem}.fastresume")));
        let torrent_file = dir.join(format!("{stem}.torrent"));
        let torrent = match torrent_file.exists() {
            true => Some(read(&torrent_file)),
            false => None,
        };
        let planned = match (resume, torrent.transpose()) {
            (Ok(r), Ok(t)) => migrate::plan(&r, t.as_deref()).map_err(anyhow::Error::from),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        let p = match planned {
            Ok(p) => p,
            Err(e) => {
                eprintln!("skipped {stem}: {e:#}");
                failed += 1;
                continue;
            }
        };
        if dry_run {
            let follow = p
                .category_follow
                .as_deref()
                .map(|c| format!(" (category {c})"))
                .unwrap_or_default();
            let paused = if p.paused { ", paused" } else { "" };
            println!("would add {} in {}{follow}{paused}", p.name, p.save_path);
            continue;
        }
        let name = p.name.clone();
        match im.add(p) {
            Ok(Some(_)) => added += 1,
            Ok(None) => {
                println!("already there: {name} ({stem})");
                there += 1;
            }
            Err(e) => {
                eprintln!("not added: {name} ({stem}): {e:#}");
                failed += 1;
            }
        }
    }
    if !dry_run {
        println!(
            "{added} added, {there} already there, {failed} not added; each is checked against its files before it seeds or downloads"
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
