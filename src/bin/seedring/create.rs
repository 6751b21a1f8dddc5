//! `seedring create`: make a .torrent from a file or folder.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::Out;
use seedring::disk_uring::{FileSource, FileState, MappedFiles, merkle_files, walk};
use seedring::hash::{default_threads, hash_pieces};
use seedring::metainfo::{
    CreateOptions, Geometry, alignment_pads, auto_piece_length, build_torrent, build_torrent_v2,
};

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The file or folder to share.
    path: PathBuf,
    /// Where to write the .torrent file (an existing file is kept unless --force).
    #[arg(short, long)]
    output: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
    /// Piece length in bytes: a power of two from 16 KiB (16384) up; a K or M suffix
    /// means KiB or MiB (e.g. 256K). Default: picked from the total size so the
    /// torrent has about 1,000 to 2,000 pieces.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    piece_length: Option<u32>,
    /// A tracker announce URL; repeat for more (each becomes its own tier).
    #[arg(long = "tracker", value_name = "URL")]
    trackers: Vec<String>,
    /// Mark the torrent private (BEP 27): peers come from its trackers only.
    #[arg(long)]
    private: bool,
    /// A comment stored in the torrent.
    #[arg(long, value_name = "TEXT")]
    comment: Option<String>,
    /// A web seed URL (BEP 19); repeat for more.
    #[arg(long = "web-seed", value_name = "URL")]
    web_seeds: Vec<String>,
    /// Make a BitTorrent v2-only torrent (BEP 52: SHA-256 merkle trees per file).
    /// Only v2 clients can use it; --hybrid reaches both.
    #[arg(long, conflicts_with = "hybrid")]
    v2: bool,
    /// Make a hybrid v1 + v2 torrent (BEP 52): both kinds of client can use it;
    /// pad files align each file to a piece.
    #[arg(long)]
    hybrid: bool,
    /// Hashing threads (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

fn parse_size(s: &str) -> Result<u32, String> {
    let (digits, mult) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1024),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    let n: u32 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size in bytes"))?;
    let n = n
        .checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))?;
    if !n.is_power_of_two() || n < 16 * 1024 {
        return Err(format!(
            "{s:?}: a piece length must be a power of two of at least 16 KiB"
        ));
    }
    Ok(n)
}

pub fn run(args: CreateArgs) -> anyhow::Result<ExitCode> {
    // Refused before any hashing: a long create must not end in a surprise.
    if args.output.exists() && !args.force {
        anyhow::bail!(
            "{} exists already (--force replaces it)",
            args.output.display()
        );
    }
    let walked = walk(&args.path)?;
    for s in &walked.skipped {
        eprintln!("seedring: skipping {} (not a regular file)", s.display());
    }
    let lengths: Vec<u64> = match &walked.layout.files {
        None => vec![walked.layout.length],
        Some(files) => files.iter().map(|f| f.1).collect(),
    };
    let total: u64 = lengths.iter().sum();
    let piece_length = args
        .piece_length
        .unwrap_or_else(|| auto_piece_length(total));
    let threads = args.threads.unwrap_or_else(default_threads);
    // v1 pieces: of the files as they are, or (hybrid) with zeros after each one
    // so the next starts on a piece boundary, as v2 pieces never span files.
    let pieces = if args.v2 {
        None
    } else {
        let mut v1_lengths = Vec::new();
        let mut sources = Vec::new();
        let pads = match args.hybrid {
            true => alignment_pads(&lengths, u64::from(piece_length)),
            false => vec![0; lengths.len()],
        };
        for ((len, path), pad) in lengths.iter().zip(&walked.paths).zip(pads) {
            v1_lengths.push(*len);
            sources.push(FileSource::Path(path.clone()));
            if pad > 0 {
                v1_lengths.push(pad);
                sources.push(FileSource::Zeros);
            }
        }
        let Some(geometry) = Geometry::new(piece_length, &v1_lengths) else {
            bail!("the data is too large for piece length {piece_length}");
        };
        let count = geometry.piece_count();
        let paths: Vec<Option<PathBuf>> = (sources.iter())
            .map(|s| match s {
                FileSource::Path(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        let files = MappedFiles::open(geometry, sources);
        // What cannot be read is named now, before any hashing.
        for (i, path) in paths.iter().enumerate() {
            let Some(path) = path else { continue };
            match files.state(i) {
                FileState::Present | FileState::NotStored => {}
                FileState::Missing => bail!("{} vanished since it was listed", path.display()),
                FileState::Short { len } => {
                    bail!(
                        "{} shrank to {len} bytes since it was listed",
                        path.display()
                    )
                }
                FileState::Unreadable(why) => bail!("cannot read {}: {why}", path.display()),
            }
        }
        let digests = crate::progress::with_progress(total, "hashing", |done| {
            hash_pieces(&files, count, threads, Some(done))
        });
        let pieces = digests
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .context("a file shrank or vanished while it was being hashed; try again")?;
        Some(pieces)
    };
    let trees = if args.v2 || args.hybrid {
        let files: Vec<_> = walked
            .paths
            .iter()
            .cloned()
            .zip(lengths.iter().copied())
            .collect();
        Some(crate::progress::with_progress(
            total,
            "hashing (v2)",
            |done| merkle_files(&files, u64::from(piece_length), threads, Some(done)),
        )?)
    } else {
        None
    };
    #[allow(clippy::disallowed_methods)] // the CLI stamps the creation date
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let opts = CreateOptions {
        trackers: args.trackers,
        web_seeds: args.web_seeds,
        private: args.private,
        comment: args.comment,
        created_by: Some(format!("seedring/{}", env!("CARGO_PKG_VERSION"))),
        creation_date: Some(now),
    };
    let (bytes, count, hashes) = match (&pieces, &trees) {
        (Some(pieces), None) => {
            let (bytes, meta) = build_torrent(&walked.layout, piece_length, pieces, &opts)?;
            (bytes, pieces.len(), format!("info-hash {}", meta.info_hash))
        }
        (v1, Some(trees)) => {
            let built =
                build_torrent_v2(&walked.layout, piece_length, v1.as_deref(), trees, &opts)?;
            let v2 = built.v2.info_hash_hex();
            let hashes = if built.meta.is_v2_only() {
                format!("info-hash v2 {v2}")
            } else {
                format!("info-hash {}, info-hash v2 {v2}", built.meta.info_hash)
            };
            let count = lengths
                .iter()
                .map(|l| l.div_ceil(u64::from(piece_length)))
                .sum::<u64>();
            (
                built.bytes,
                usize::try_from(count).unwrap_or(usize::MAX),
                hashes,
            )
        }
        (None, None) => unreachable!("v1, v2 or both"),
    };
    std::fs::write(&args.output, &bytes)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let mut out = Out::default();
    out.line(format_args!(
        "created {}: {} ({}, {} pieces of {}), {}",
        args.output.display(),
        walked.layout.name,
        crate::human_bytes(total),
        count,
        crate::human_bytes(u64::from(piece_length)),
        hashes
    ));
    out.emit()?;
    Ok(ExitCode::SUCCESS)
}
