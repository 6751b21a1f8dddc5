//! `seedring remote import-qbittorrent DIR`, `import-rtorrent DIR`,
//! `import-transmission DIR` and `import-deluge DIR`: every torrent
//! qBittorrent keeps in its `BT_backup` folder, rTorrent in its session
//! folder, Transmission or Deluge in its configuration folder, added to the
//! daemon where its data is
//! (`seedring::migrate` reads each into a plan; this carries the plans out
//! over the API, one torrent at a time).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::remote::Client;
use seedring::migrate::{self, Plan, folder};

/// The largest file of a client's state read (a `.torrent` or resume data:
/// theirs are far smaller; the daemon refuses a body over its own limit
/// anyway).
const MAX_FILE: u64 = 64 << 20;
/// The largest of Deluge's state files read, which hold every torrent's
/// state at once (resume data keeps a byte a piece).
const MAX_STATE: u64 = 2 << 30;

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    read_up_to(path, MAX_FILE)
}

fn read_up_to(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if len > max {
        bail!(
            "{} is {len} bytes: larger than any torrent's",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The client whose saved torrents are moved.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// `BT_backup`: `<id>.fastresume`, with `<id>.torrent` once its metadata
    /// is known.
    Qbittorrent,
    /// The session folder: `<HASH>.torrent`, with `<HASH>.torrent.rtorrent`
    /// and `<HASH>.torrent.libtorrent_resume`.
    Rtorrent,
    /// The configuration folder: `resume/<id>.resume` and
    /// `torrents/<id>.torrent` (given the `resume` folder itself, its
    /// `torrents` is beside it).
    Transmission,
    /// The configuration folder: `state/torrents.fastresume`,
    /// `state/torrents.state`, `state/<id>.torrent` and `label.conf` (given
    /// the `state` folder itself, `label.conf` is beside it).
    Deluge,
}

/// Deluge's state folder, given its configuration folder or that folder.
fn deluge_dir(dir: &Path) -> PathBuf {
    match dir.join("state").is_dir() {
        true => dir.join("state"),
        false => dir.to_owned(),
    }
}

/// Deluge's state, read once for every torrent.
fn deluge_state(dir: &Path) -> anyhow::Result<migrate::deluge::State> {
    let state = deluge_dir(dir);
    let conf = state.parent().unwrap_or(&state).to_owned();
    let fastresume = state.join("torrents.fastresume");
    if !fastresume.exists() {
        bail!(
            "no torrents.fastresume in {} (Deluge keeps it in the state folder of its configuration folder, e.g. ~/.config/deluge)",
            state.display()
        );
    }
    if conf.join("deluged.pid").exists() {
        eprintln!(
            "{} has deluged.pid: if Deluge still runs, stop it first (it would go on writing these torrents' state and files)",
            conf.display()
        );
    }
    let beside = |p: PathBuf| p.exists().then(|| read_up_to(&p, MAX_STATE)).transpose();
    let s = migrate::deluge::read(
        &read_up_to(&fastresume, MAX_STATE)?,
        beside(state.join("torrents.state"))?.as_deref(),
        beside(conf.join("label.conf"))?.as_deref(),
    )?;
    for note in &s.notes {
        eprintln!("{note}");
    }
    if s.torrents.is_empty() {
        bail!("no torrents in {}", fastresume.display());
    }
    Ok(s)
}

/// Where Transmission's resume files are, given its configuration folder
/// or the `resume` folder in it, and its `.torrent` files.
fn transmission_dirs(dir: &Path) -> (PathBuf, PathBuf) {
    let resume = match dir.join("resume").is_dir() {
        true => dir.join("resume"),
        false => dir.to_owned(),
    };
    let torrents = resume.parent().unwrap_or(dir).join("torrents");
    (resume, torrents)
}

impl Source {
    /// The saved torrents' ids in `dir`, sorted.
    fn ids(
        self,
        dir: &Path,
        deluge: Option<&migrate::deluge::State>,
    ) -> anyhow::Result<Vec<String>> {
        if let Source::Deluge = self {
            // Listed in torrents.fastresume, read before (sorted there).
            let d = deluge.context("Deluge's state is read first")?;
            return Ok(d.torrents.iter().map(|t| t.id.clone()).collect());
        }
        let listed = match self {
            Source::Transmission => transmission_dirs(dir).0,
            _ => dir.to_owned(),
        };
        let mut ids: Vec<String> = std::fs::read_dir(&listed)
            .with_context(|| format!("cannot read {}", listed.display()))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|name| match self {
                Source::Qbittorrent => name.strip_suffix(".fastresume").map(str::to_owned),
                Source::Deluge => None, // listed above
                Source::Transmission => name.strip_suffix(".resume").map(str::to_owned),
                Source::Rtorrent => name
                    .strip_suffix(".torrent")
                    .filter(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .map(str::to_owned),
            })
            .collect();
        ids.sort();
        if ids.is_empty() {
            match self {
                Source::Qbittorrent => bail!(
                    "no .fastresume files in {} (qBittorrent keeps them in its BT_backup folder, e.g. ~/.local/share/qBittorrent/BT_backup)",
                    dir.display()
                ),
                Source::Deluge => bail!("no torrents in Deluge's state in {}", dir.display()),
                Source::Transmission => bail!(
                    "no .resume files in {} (Transmission keeps them in the resume folder of its configuration folder, e.g. ~/.config/transmission-daemon)",
                    listed.display()
                ),
                Source::Rtorrent => bail!(
                    "no rTorrent session files (<info-hash>.torrent) in {} (rTorrent keeps them where session.path.set in its .rtorrent.rc says, e.g. ~/.session)",
                    dir.display()
                ),
            }
        }
        if let Source::Rtorrent = self
            && dir.join("rtorrent.lock").exists()
        {
            eprintln!(
                "{} has rtorrent.lock: if rTorrent still runs, stop it first (it would go on writing these torrents' state and files)",
                dir.display()
            );
        }
        Ok(ids)
    }

    /// The plan for saved torrent `id`.
    fn plan(
        self,
        dir: &Path,
        id: &str,
        deluge: Option<&migrate::deluge::State>,
    ) -> anyhow::Result<Plan> {
        let beside = |ext: &str| -> anyhow::Result<Option<Vec<u8>>> {
            let path = dir.join(format!("{id}{ext}"));
            path.exists().then(|| read(&path)).transpose()
        };
        Ok(match self {
            Source::Qbittorrent => {
                let resume = read(&dir.join(format!("{id}.fastresume")))?;
                migrate::plan(&resume, beside(".torrent")?.as_deref())?
            }
            Source::Transmission => {
                let (resume, torrents) = transmission_dirs(dir);
                let path = torrents.join(format!("{id}.torrent"));
                let torrent = path.exists().then(|| read(&path)).transpose()?;
                let resume = read(&resume.join(format!("{id}.resume")))?;
                migrate::transmission::plan(&resume, torrent.as_deref())?
            }
            Source::Deluge => {
                let all = deluge.map_or(&[][..], |d| &d.torrents);
                let at = (all.binary_search_by(|t| t.id.as_str().cmp(id)))
                    .map_err(|_| anyhow::anyhow!("not in torrents.fastresume"))?;
                let saved = &all[at];
                let path = deluge_dir(dir).join(format!("{id}.torrent"));
                let torrent = path.exists().then(|| read(&path)).transpose()?;
                migrate::deluge::plan(saved, torrent.as_deref())?
            }
            Source::Rtorrent => {
                let torrent = read(&dir.join(format!("{id}.torrent")))?;
                let state = beside(".torrent.rtorrent")?;
                let resume = beside(".torrent.libtorrent_resume")?;
                migrate::rtorrent::plan(&torrent, state.as_deref(), resume.as_deref())?
            }
        })
    }
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

/// Gives the files the other client names otherwise while unfinished
/// (`NAME.!qB`, `NAME.part`) their own names back, where that name is free,
/// so the check at add finds what they hold; with `dry_run`, says so.
fn own_names(p: &Plan, dry_run: bool) {
    for (from, to) in &p.unfinished {
        let (from, to) = (Path::new(from), Path::new(to));
        let is_file = from.symlink_metadata().is_ok_and(|m| m.is_file());
        if !is_file || to.symlink_metadata().is_ok() {
            continue;
        }
        let (f, t) = (from.display(), to.display());
        if dry_run {
            println!("  would rename {f} to {t}");
            continue;
        }
        match std::fs::rename(from, to) {
            Ok(()) => println!("renamed {f} to {t} (its name while unfinished)"),
            Err(e) => {
                eprintln!("could not rename {f} to {t}: {e} (what it holds is fetched again)")
            }
        }
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
        let mut how = match p.add["category"].as_str() {
            Some(cat) => format!("in {} (category {cat})", p.save_path),
            None => format!("in {}", p.save_path),
        };
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

/// Reads every saved torrent of `from` in `dir` and adds each; with
/// `dry_run`, says what it would add.
pub fn run(c: &Client, from: Source, dir: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let deluge = match from {
        Source::Deluge => Some(deluge_state(dir)?),
        _ => None,
    };
    let ids = from.ids(dir, deluge.as_ref())?;
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
    for stem in &ids {
        let p = match from.plan(dir, stem, deluge.as_ref()) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("skipped {stem}: {e:#}");
                failed += 1;
                continue;
            }
        };
        if dry_run {
            let follow = p.add["category"]
                .as_str()
                .map(|c| format!(" (category {c})"))
                .unwrap_or_default();
            let paused = if p.paused { ", paused" } else { "" };
            println!("would add {} in {}{follow}{paused}", p.name, p.save_path);
            own_names(&p, true);
            continue;
        }
        own_names(&p, false);
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
