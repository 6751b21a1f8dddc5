//! `seedring download --control`: commands on standard input while the download
//! runs, one per line, each answered by one JSON line on standard output. A small
//! scripting interface until the daemon's HTTP API:
//!
//! - `add-root TOKEN PATH`: a new storage root;
//! - `add SOURCE [ROOT]`: another torrent (.torrent path or magnet), into a root
//!   (token or folder; the default root when absent);
//! - `move INFOHASH ROOT`: move a torrent's data to another root;
//! - `peer INFOHASH HOST:PORT`: a peer to try;
//! - `pause INFOHASH`, `resume INFOHASH`;
//! - `stats INFOHASH`, `roots`.

use std::io::BufRead;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::sync::Arc;

use seedring::core::{AddTorrent, TorrentSource};
use seedring::metainfo::Magnet;
use seedring::{Engine, InfoHash};
use serde_json::{Value, json};

/// Reads standard input on its own thread; each line is sent on `tx` (the
/// download's loop: when its channel is full, this thread waits and standard
/// input is not read further until the loop takes one).
pub fn spawn_reader(tx: flume::Sender<Option<String>>) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(Some(line)).is_err() {
                break;
            }
        }
    });
}

/// Runs one command line and prints its answer.
pub fn run_line(engine: &Engine, line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let answer = match run(engine, &words) {
        Ok(v) => json!({"ok": true, "cmd": words.first(), "result": v}),
        Err(e) => json!({"ok": false, "cmd": words.first(), "error": e.to_string()}),
    };
    println!("{answer}");
}

fn ih(s: Option<&&str>) -> anyhow::Result<InfoHash> {
    let s = s.ok_or_else(|| anyhow::anyhow!("an info-hash is needed"))?;
    Ok(InfoHash::parse(s)?)
}

fn run(engine: &Engine, w: &[&str]) -> anyhow::Result<Value> {
    match w {
        ["add-root", token, path] => {
            let r = engine.add_root(token, token, Path::new(path))?;
            Ok(json!({"token": r.token, "path": r.path}))
        }
        ["add", source, rest @ ..] => {
            let src = if source.starts_with("magnet:") {
                TorrentSource::Magnet(Magnet::parse(source)?)
            } else {
                TorrentSource::Metainfo(Arc::new(crate::load_torrent(Path::new(source))?))
            };
            let root = rest.first().copied().unwrap_or("");
            let ih = engine.add_torrent(AddTorrent::new(src, root))?;
            Ok(json!({"info_hash": ih.to_hex()}))
        }
        ["move", h, root] => {
            engine.move_storage(ih(Some(h))?, root)?;
            Ok(Value::Null)
        }
        ["peer", h, addr] => {
            let a: Vec<_> = addr.to_socket_addrs()?.take(1).collect();
            engine.add_peers(ih(Some(h))?, &a)?;
            Ok(Value::Null)
        }
        ["pause", h] => Ok(engine.pause(ih(Some(h))?).map(|()| Value::Null)?),
        ["resume", h] => Ok(engine.resume(ih(Some(h))?).map(|()| Value::Null)?),
        ["stats", h] => {
            let st = engine.stats(ih(Some(h))?)?;
            Ok(json!({
                "state": format!("{:?}", st.state),
                "root": st.root,
                "have_pieces": st.have_pieces,
                "total_pieces": st.total_pieces,
                "downloaded": st.downloaded,
                "uploaded": st.uploaded,
                "note": st.note,
            }))
        }
        ["roots"] => Ok(Value::Array(
            engine
                .roots()
                .into_iter()
                .map(|r| {
                    json!({
                        "token": r.root.token,
                        "path": r.root.path,
                        "default": r.is_default,
                        "torrents": r.torrents,
                        "exists": r.health.exists,
                        "writable": r.health.writable,
                        "free_bytes": r.health.free_bytes,
                        "total_bytes": r.health.total_bytes,
                    })
                })
                .collect(),
        )),
        _ => anyhow::bail!("unknown command {:?}", w.join(" ")),
    }
}
