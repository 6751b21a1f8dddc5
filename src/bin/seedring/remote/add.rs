//! `seedring remote add`: a `.torrent` file or a magnet link, with the add
//! options of `POST /api/v1/torrents`.

use anyhow::Context;
use clap::Args;
use serde_json::{Map, Value, json};

use super::torrent::ShareArgs;
use super::{Client, Out};

#[derive(Debug, Args)]
pub(super) struct AddArgs {
    /// A .torrent file or a magnet link (quote it).
    source: String,
    /// Storage root token (default: the daemon's default root).
    #[arg(long)]
    root: Option<String>,
    /// A folder inside a storage root to save it in (instead of --root).
    #[arg(long, value_name = "DIR")]
    save_path: Option<String>,
    /// A folder inside a storage root to download it in; its files move to
    /// where it is saved when it finishes.
    #[arg(long, value_name = "DIR")]
    download_path: Option<String>,
    /// Add it paused (without: as the daemon's `new_torrents.paused` says).
    #[arg(long)]
    paused: bool,
    /// A label for it (repeat for more).
    #[arg(long = "label")]
    labels: Vec<String>,
    /// File it under this category (its save path is the root unless
    /// --root says otherwise).
    #[arg(long)]
    category: Option<String>,
    /// What it is shown as (its files keep their names).
    #[arg(long)]
    name: Option<String>,
    /// Pieces in order (to watch it while it downloads).
    #[arg(long)]
    sequential: bool,
    /// Each wanted file's first and last pieces first.
    #[arg(long)]
    first_last: bool,
    /// Its own download cap in bytes per second.
    #[arg(long, value_name = "BYTES/S")]
    down: Option<u64>,
    /// Its own upload cap in bytes per second.
    #[arg(long, value_name = "BYTES/S")]
    up: Option<u64>,
    #[command(flatten)]
    share: ShareArgs,
    /// Where its files go in the save folder: original, subfolder or
    /// no_subfolder (without: as the daemon's `new_torrents.content_layout`).
    #[arg(long)]
    layout: Option<String>,
}

pub(super) fn run(c: &Client, a: &AddArgs, o: Out) -> anyhow::Result<()> {
    let mut given = vec![
        ("root", a.root.as_ref().map(|v| json!(v))),
        ("save_path", a.save_path.as_ref().map(|v| json!(v))),
        ("download_path", a.download_path.as_ref().map(|v| json!(v))),
        // Left out unless asked: the daemon's setting decides.
        ("paused", a.paused.then_some(json!(true))),
        ("labels", (!a.labels.is_empty()).then(|| json!(a.labels))),
        ("category", a.category.as_ref().map(|v| json!(v))),
        ("name", a.name.as_ref().map(|v| json!(v))),
        ("sequential", a.sequential.then_some(json!(true))),
        ("first_last", a.first_last.then_some(json!(true))),
        ("download_limit", a.down.map(|v| json!(v))),
        ("upload_limit", a.up.map(|v| json!(v))),
        ("content_layout", a.layout.as_ref().map(|v| json!(v))),
    ];
    given.extend(a.share.given());
    let given: Vec<(&str, Value)> = given
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect();
    let v = if a.source.starts_with("magnet:") {
        let mut body: Map<String, Value> = (given.into_iter())
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        body.insert("magnet".into(), json!(a.source));
        c.post_json("/torrents", &Value::Object(body))?
    } else {
        // The file as it is, the options in the query (the API's upload:
        // no base64 to fit under its body limit).
        let bytes =
            std::fs::read(&a.source).with_context(|| format!("cannot read {}", a.source))?;
        let query: Vec<(&str, String)> = (given.into_iter())
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s,
                    Value::Array(labels) => (labels.iter())
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect();
        let url = format!("{}/api/v1/torrents", c.base);
        c.send(
            (c.http.post(url).query(&query))
                .header("content-type", "application/x-bittorrent")
                .body(bytes),
        )?
    };
    o.show(&v);
    o.say(format!(
        "added {} {}",
        v["id"].as_str().unwrap_or("?"),
        v["name"].as_str().unwrap_or("")
    ));
    Ok(())
}
