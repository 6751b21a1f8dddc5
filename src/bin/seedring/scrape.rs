//! `seedring scrape`: ask a torrent's trackers how big its swarm is.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use seedring::metainfo::Magnet;
use seedring::net::TrackerClient;
use serde_json::json;

use crate::Out;

#[derive(Debug, Args)]
pub struct ScrapeArgs {
    /// A .torrent file, or a magnet link with trackers (quote it: it contains '&').
    source: String,
    /// Print one JSON object per tracker instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ScrapeArgs) -> anyhow::Result<ExitCode> {
    let (ih, trackers) = if args.source.starts_with("magnet:") {
        let m = Magnet::parse(&args.source)?;
        (m.info_hash, m.trackers)
    } else {
        let m = crate::load_torrent(&PathBuf::from(&args.source))?;
        (m.info_hash, m.trackers())
    };
    if trackers.is_empty() {
        anyhow::bail!("the torrent names no tracker");
    }
    let client = TrackerClient::start()?;
    // All at once; each answers within the client's own timeouts.
    let pending: Vec<_> = trackers
        .iter()
        .map(|t| (t.clone(), client.scrape(t.clone(), ih)))
        .collect();
    let mut out = Out::default();
    let mut any = false;
    for (url, rx) in pending {
        let result = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                Err(seedring::proto::tracker::TrackerError::Io(
                    "no answer".into(),
                ))
            });
        any |= result.is_ok();
        match (&result, args.json) {
            (Ok(c), true) => out.line(json!({"tracker": url, "complete": c.complete, "incomplete": c.incomplete, "downloaded": c.downloaded})),
            (Err(e), true) => out.line(json!({"tracker": url, "error": e.to_string()})),
            (Ok(c), false) => out.line(format_args!(
                "{url}: {} seeders, {} leechers, {} downloads",
                c.complete, c.incomplete, c.downloaded
            )),
            (Err(e), false) => out.line(format_args!("{url}: {e}")),
        }
    }
    out.emit()?;
    Ok(if any {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_INCOMPLETE)
    })
}
