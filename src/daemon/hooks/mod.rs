//! Hooks: a program run when a torrent is added and when it finishes
//! (`[hooks]` in the config; qBittorrent's "run external program").
//!
//! The core tells of each milestone ([`crate::core::Milestone`]); the shards
//! pass them on through one bounded queue
//! ([`crate::shard::MILESTONE_QUEUE`]); [`follow`] takes them one at a time,
//! waits while `at_once` programs run, fills the command line's placeholders
//! from the torrent as it is then, and starts the program once the program of
//! the torrent's previous milestone has ended (a torrent's programs run one
//! after the other, in the order of its milestones): no shell, its
//! standard input empty, the first 2 KiB of its output kept for the log. A
//! program still running after `timeout_secs` is killed. The log says what
//! ran, how it ended, and why a program did not run.
//!
//! The command lines come from the config file only: neither the API nor the
//! web page can set a program to run (a leaked password must not become a
//! shell on the server). SIGHUP reads them again.

pub mod line;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::oneshot::{self, error::TryRecvError};

use super::api::Shared;
use crate::core::Milestone;
use crate::types::InfoHash;
use line::Facts;

/// `[hooks]`: what to run, how many at once, for how long.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HooksConfig {
    /// Run when a torrent is added (empty: nothing).
    pub on_added: String,
    /// Run when a torrent has every wanted piece (empty: nothing).
    pub on_finished: String,
    /// Programs running at once; more wait their turn.
    pub at_once: usize,
    /// A program still running after this long is killed (0: never).
    pub timeout_secs: u64,
}

impl Default for HooksConfig {
    fn default() -> Self {
        HooksConfig {
            on_added: String::new(),
            on_finished: String::new(),
            at_once: 4,
            timeout_secs: 3600,
        }
    }
}

/// Most programs at once (`at_once`).
pub const MAX_AT_ONCE: usize = 64;
/// Output kept of each of a program's two streams, for the log.
const KEPT_OUTPUT: usize = 2048;

impl HooksConfig {
    /// Why this configuration cannot run, if it cannot.
    pub fn error(&self) -> Option<String> {
        if !(1..=MAX_AT_ONCE).contains(&self.at_once) {
            return Some(format!("hooks.at_once must be 1 to {MAX_AT_ONCE}"));
        }
        for (key, cmd) in [
            ("on_added", &self.on_added),
            ("on_finished", &self.on_finished),
        ] {
            if let Err(why) = line::split(cmd) {
                return Some(format!("hooks.{key}: {why}"));
            }
        }
        None
    }

    /// The command line for `what` (empty: none).
    pub fn line(&self, what: Milestone) -> &str {
        match what {
            Milestone::Added => &self.on_added,
            Milestone::Finished => &self.on_finished,
        }
    }
}

fn name_of(what: Milestone) -> &'static str {
    match what {
        Milestone::Added => "added",
        Milestone::Finished => "finished",
    }
}

/// Takes the engine's milestones until the queue closes, running each one's
/// program (if one is set) when a turn is free.
pub async fn follow(app: Shared, milestones: flume::Receiver<(InfoHash, Milestone)>) {
    let mut running = tokio::task::JoinSet::new();
    // Each torrent with a program started and not yet ended: the end of its
    // last one, which its next one waits for. At most `at_once` entries, as
    // each is a task of `running`; ended ones are let go at each milestone.
    let mut last: HashMap<InfoHash, oneshot::Receiver<()>> = HashMap::new();
    while let Ok((ih, what)) = milestones.recv_async().await {
        let hooks = app.hooks();
        let words = match line::split(hooks.line(what)) {
            Ok(w) if !w.is_empty() => w,
            // None set (the line was checked when read).
            _ => continue,
        };
        while running.len() >= hooks.at_once {
            running.join_next().await;
        }
        while running.try_join_next().is_some() {}
        let facts = match facts(&app, ih).await {
            Ok(f) => f,
            Err(why) => {
                tracing::info!(info_hash = %ih, milestone = name_of(what), reason = %why, "hook not run");
                continue;
            }
        };
        let argv: Vec<String> = words.iter().map(|w| line::expand(w, &facts)).collect();
        let limit = (hooks.timeout_secs > 0).then(|| Duration::from_secs(hooks.timeout_secs));
        last.retain(|_, ended| ended.try_recv() == Err(TryRecvError::Empty));
        let (done, ended) = oneshot::channel();
        let before = last.insert(ih, ended);
        running.spawn(async move {
            if let Some(before) = before {
                // Ended or dropped: either way it is over.
                let _ = before.await;
            }
            run(argv, what, ih, facts.name, limit).await;
            drop(done);
        });
    }
}

/// The placeholders' values for one torrent, as it is now: read off its
/// qBittorrent view (`save_path` is where its files go, `content_path` where
/// they are, as qBittorrent fills them in while a torrent downloads in the
/// incomplete folder).
async fn facts(app: &Shared, ih: InfoHash) -> Result<Facts, String> {
    let s = (app.engine.stats_async(ih).await).map_err(|e| e.to_string())?;
    let info = app.engine.info_async(ih).await.map_err(|e| e.to_string())?;
    let cx = (super::qbit::read_context(app, false).await).map_err(|e| format!("{e:?}"))?;
    let v = super::qbit::view::QbTorrent::new(&s, &cx);
    let files = info.as_ref().map_or(0, |i| i.files.len());
    // A folder of its own (qBittorrent's root path), unless a single file
    // lies straight in its folder or the files have no common folder.
    let here = v.content_path.strip_suffix(&*s.content).unwrap_or("");
    let root_path = match s.content.split_once('/') {
        _ if s.content.is_empty() => String::new(),
        Some((top, _)) if files <= 1 => format!("{here}{top}"),
        None if files <= 1 => String::new(),
        _ => v.content_path.to_string(),
    };
    let dash = |h: &str| {
        if h.is_empty() {
            "-".to_owned()
        } else {
            h.to_owned()
        }
    };
    Ok(Facts {
        name: v.name.to_owned(),
        category: v.category.to_owned(),
        labels: s.settings.labels.join(","),
        content_path: v.content_path.to_string(),
        root_path,
        save_path: v.save_path.to_owned(),
        files,
        size: v.size,
        tracker: v.tracker.to_owned(),
        v1: dash(v.infohash_v1.as_str()),
        v2: dash(v.infohash_v2.as_str()),
        id: v.hash.as_str().to_owned(),
    })
}

/// Runs one program to its end (or its time limit), and logs how it went.
async fn run(
    argv: Vec<String>,
    what: Milestone,
    ih: InfoHash,
    name: String,
    limit: Option<Duration>,
) {
    let milestone = name_of(what);
    let program = argv[0].clone();
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env("SEEDRING_MILESTONE", milestone)
        .env("SEEDRING_INFO_HASH", ih.to_hex())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // How long the program ran, for the log (a driver's clock, not the core's).
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(info_hash = %ih, %name, milestone, %program, error = %e, "hook could not start");
            return;
        }
    };
    let out = tokio::spawn(keep_head(child.stdout.take()));
    let err = tokio::spawn(keep_head(child.stderr.take()));
    let ended = match limit {
        Some(limit) => match tokio::time::timeout(limit, child.wait()).await {
            Ok(r) => r.map(Some),
            Err(_) => {
                // SIGKILL; its own children, if any, are left to run.
                let killed = child.kill().await;
                tracing::warn!(info_hash = %ih, %name, milestone, %program, secs = limit.as_secs(), killed = killed.is_ok(), "hook ran past hooks.timeout_secs: killed");
                Ok(None)
            }
        },
        None => child.wait().await.map(Some),
    };
    let out = out.await.unwrap_or_default();
    let err = err.await.unwrap_or_default();
    let secs = started.elapsed().as_secs_f64();
    match ended {
        Ok(Some(status)) if status.success() => {
            tracing::info!(info_hash = %ih, %name, milestone, %program, secs, output = %out, "hook ran");
        }
        Ok(Some(status)) => {
            tracing::warn!(info_hash = %ih, %name, milestone, %program, secs, %status, output = %out, errors = %err, "hook failed");
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(info_hash = %ih, %name, milestone, %program, error = %e, "hook: cannot wait for it");
        }
    }
}

/// Reads a stream to its end, keeping its first [`KEPT_OUTPUT`] bytes (as
/// text, trimmed); what comes after is read and dropped, so a talkative
/// program never blocks on a full pipe.
async fn keep_head<R: AsyncRead + Unpin>(stream: Option<R>) -> String {
    let Some(mut r) = stream else {
        return String::new();
    };
    let mut kept = Vec::with_capacity(256);
    let mut buf = [0u8; 4096];
    let mut more = false;
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = KEPT_OUTPUT - kept.len();
                kept.extend_from_slice(&buf[..n.min(room)]);
                more |= n > room;
            }
        }
    }
    let mut s = String::from_utf8_lossy(&kept).trim().to_owned();
    if more {
        s.push_str(" …");
    }
    s
}

/// The hooks in force (shared with the SIGHUP reload).
pub type HooksSlot = std::sync::Mutex<Arc<HooksConfig>>;
