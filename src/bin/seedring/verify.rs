//! `seedring verify`: check data on disk against a torrent.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::Out;
use seedring::disk_uring::{FileState, PieceState, recheck};
use seedring::hash::default_threads;
use serde_json::json;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The .torrent file.
    torrent: PathBuf,
    /// The folder the torrent was downloaded into (the one that holds the torrent's
    /// file or its named folder).
    dir: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Hashing threads (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

fn state_name(s: &FileState, complete: bool) -> String {
    match s {
        FileState::NotStored => "not stored".into(),
        FileState::Missing => "missing".into(),
        FileState::Short { .. } if !complete => "short".into(),
        FileState::Unreadable(e) => format!("unreadable ({e})"),
        _ if complete => "complete".into(),
        _ => "incomplete".into(),
    }
}

pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let meta = crate::load_torrent(&args.torrent)?;
    let threads = args.threads.unwrap_or_else(default_threads);
    let total = meta.info.geometry.total_length();
    // A wall-clock figure for the user, not a decision.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let report = crate::progress::with_progress(total, "verifying", |done| {
        recheck(&meta.info, &args.dir, threads, Some(done))
    })?;
    let secs = started.elapsed().as_secs_f64();
    // A v2-only torrent is checked by SHA-256 merkle roots, not SHA-1.
    let backend = if meta.is_v2_only() {
        "sha256-merkle"
    } else {
        seedring::hash::bulk_backend()
    };
    let pieces_in = |want: PieceState| -> Vec<usize> {
        (0..report.pieces.len())
            .filter(|&i| report.pieces[i] == want)
            .collect()
    };
    let complete = report.complete();
    let mut out = Out::default();
    if args.json {
        let files: Vec<_> = report
            .files
            .iter()
            .map(|f| {
                json!({
                    "path": f.path,
                    "length": f.length,
                    "have_bytes": f.have_bytes,
                    "complete": f.complete(),
                    "state": state_name(&f.state, f.complete()),
                    "pad": f.pad,
                })
            })
            .collect();
        let v = json!({
            "info_hash": meta.info_hash.to_hex(),
            "v2_only": meta.is_v2_only(),
            "name": meta.info.name,
            "complete": complete,
            "piece_count": report.pieces.len(),
            "valid": report.count(PieceState::Valid),
            "invalid": report.count(PieceState::Invalid),
            "missing": report.count(PieceState::Missing),
            "invalid_pieces": pieces_in(PieceState::Invalid),
            "missing_pieces": pieces_in(PieceState::Missing),
            "files": files,
            "seconds": secs,
            "threads": threads,
            "hash_backend": backend,
        });
        out.line(format_args!("{v}"));
    } else {
        out.line(format_args!(
            "{}: {} pieces checked in {:.2} s ({:.0} MiB/s, {} threads, {})",
            meta.info.name,
            report.pieces.len(),
            secs,
            total as f64 / secs.max(1e-9) / f64::from(1u32 << 20),
            threads,
            backend
        ));
        out.line(format_args!(
            "valid {}, invalid {}, missing {}",
            report.count(PieceState::Valid),
            report.count(PieceState::Invalid),
            report.count(PieceState::Missing)
        ));
        for f in report.files.iter().filter(|f| !f.pad) {
            let pct = if f.length == 0 {
                if f.complete() { 100.0 } else { 0.0 }
            } else {
                f.have_bytes as f64 * 100.0 / f.length as f64
            };
            out.line(format_args!(
                "  {:<12} {:>6.2}%  {}",
                state_name(&f.state, f.complete()),
                pct,
                f.path
            ));
        }
        out.line(format_args!(
            "{}",
            if complete { "complete" } else { "NOT complete" }
        ));
    }
    out.emit()?;
    Ok(if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_INCOMPLETE)
    })
}
