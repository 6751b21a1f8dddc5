//! `seedring info`: what a torrent or magnet describes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::Out;
use seedring::metainfo::{Magnet, Metainfo};
use serde_json::json;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// A .torrent file, or a magnet link (quote it: it contains '&').
    source: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let mut out = Out::default();
    if args.source.starts_with("magnet:") {
        let m = Magnet::parse(&args.source)?;
        print_magnet(&m, args.json, &mut out);
    } else {
        let path = PathBuf::from(&args.source);
        let m = crate::load_torrent(&path)?;
        print_torrent(&m, args.json, &mut out);
    }
    out.emit()?;
    Ok(ExitCode::SUCCESS)
}

fn print_torrent(m: &Metainfo, as_json: bool, out: &mut Out) {
    let g = &m.info.geometry;
    if as_json {
        let files: Vec<_> = m
            .info
            .files
            .iter()
            .map(|f| json!({"path": f.display_path(), "length": f.length, "pad": f.attr.pad}))
            .collect();
        // `info_hash` is the v1 hash (none for a v2-only torrent); `id` what
        // peers, trackers and the DHT know it by.
        let v = json!({
            "info_hash": (!m.is_v2_only()).then(|| m.info_hash.to_hex()),
            "id": m.info_hash.to_hex(),
            "v2_only": m.is_v2_only(),
            "info_hash_v2": m.v2.as_ref().map(|v| v.info_hash_hex()),
            "name": m.info.name,
            "piece_length": g.piece_length(),
            "piece_count": g.piece_count(),
            "total_length": g.total_length(),
            "files": files,
            "trackers": m.trackers(),
            "private": m.info.private,
            "web_seeds": m.web_seeds,
            "comment": m.comment,
            "created_by": m.created_by,
            "creation_date": m.creation_date,
        });
        out.line(format_args!("{v}"));
        return;
    }
    out.line(format_args!("name:          {}", m.info.name));
    match &m.v2 {
        Some(v) if m.is_v2_only() => out.line(format_args!(
            "info-hash v2:  {} (v2 only; known to peers as {})",
            v.info_hash_hex(),
            m.info_hash
        )),
        Some(v) => {
            out.line(format_args!("info-hash:     {}", m.info_hash));
            out.line(format_args!(
                "info-hash v2:  {} (hybrid v1+v2)",
                v.info_hash_hex()
            ));
        }
        None => out.line(format_args!("info-hash:     {}", m.info_hash)),
    }
    out.line(format_args!(
        "piece length:  {} ({} bytes)",
        crate::human_bytes(u64::from(g.piece_length())),
        g.piece_length()
    ));
    out.line(format_args!("pieces:        {}", g.piece_count()));
    out.line(format_args!(
        "total size:    {} ({} bytes)",
        crate::human_bytes(g.total_length()),
        g.total_length()
    ));
    out.line(format_args!(
        "private:       {}",
        if m.info.private { "yes" } else { "no" }
    ));
    if let Some(c) = &m.comment {
        out.line(format_args!("comment:       {c}"));
    }
    if let Some(c) = &m.created_by {
        out.line(format_args!("created by:    {c}"));
    }
    for (i, tier) in m.tracker_tiers.iter().enumerate() {
        for t in tier {
            out.line(format_args!("tracker:       {t} (tier {i})"));
        }
    }
    for w in &m.web_seeds {
        out.line(format_args!("web seed:      {w}"));
    }
    let stored = m.info.files.iter().filter(|f| !f.attr.pad).count();
    out.line(format_args!("files:         {stored}"));
    for f in m.info.files.iter().filter(|f| !f.attr.pad) {
        out.line(format_args!(
            "  {:>12}  {}",
            crate::human_bytes(f.length),
            f.display_path()
        ));
    }
}

fn print_magnet(m: &Magnet, as_json: bool, out: &mut Out) {
    if as_json {
        let v = json!({
            "info_hash": m.info_hash.to_hex(),
            "name": m.display_name,
            "piece_length": null,
            "piece_count": null,
            "total_length": null,
            "files": null,
            "trackers": m.trackers,
            "private": null,
            "peers": m.peers,
            "magnet": true,
        });
        out.line(format_args!("{v}"));
        return;
    }
    out.line(format_args!(
        "name:          {}",
        m.display_name.as_deref().unwrap_or("(not given)")
    ));
    out.line(format_args!("info-hash:     {}", m.info_hash));
    out.line(format_args!(
        "metadata:      not in a magnet link; fetched from peers when downloading"
    ));
    for t in &m.trackers {
        out.line(format_args!("tracker:       {t}"));
    }
    for p in &m.peers {
        out.line(format_args!("peer:          {p}"));
    }
    if !m.select_only.is_empty() {
        let sel: Vec<String> = m
            .select_only
            .iter()
            .map(|r| {
                if r.start() == r.end() {
                    r.start().to_string()
                } else {
                    format!("{}-{}", r.start(), r.end())
                }
            })
            .collect();
        out.line(format_args!("select only:   files {}", sel.join(",")));
    }
}
