//! `seedring download`: fetch a torrent or magnet into a folder, optionally seed.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use seedring::Engine;
use seedring::core::{
    AddTorrent, CoreConfig, Encryption, TorrentSource, TorrentState, TransportMode,
};
use seedring::metainfo::Magnet;
use seedring::shard::{IoChoice, ShardConfig, StartError, WriteMode};
use std::io::ErrorKind;

/// How often the command line asks for the torrent's state, to redraw the
/// status line: each question wakes the engine thread that owns the torrent.
/// What it must answer at once ends the wait sooner: the engine's word that a
/// torrent finished (the process exits within a moment of its last piece), a
/// command line on standard input, Ctrl-C.
const PACE: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Io {
    /// io_uring where the kernel allows it, else epoll.
    Auto,
    /// io_uring only: fail if it is unavailable.
    Uring,
    /// epoll only.
    Epoll,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// A .torrent file, or a magnet link (quote it: it contains '&').
    source: String,
    /// The folder to download into (the torrent's own folder or file goes inside it).
    #[arg(short, long)]
    output: PathBuf,
    /// Keep running as a seed when the download is complete, until Ctrl-C or SIGTERM.
    #[arg(long)]
    seed: bool,
    /// IO backend.
    #[arg(long, value_enum, default_value = "auto")]
    io: Io,
    /// How downloaded pieces reach the disk: cached (through the page cache)
    /// or direct (around it, with O_DIRECT, where the filesystem allows it).
    #[arg(long, value_name = "MODE", default_value = "cached", value_parser = by_name::<WriteMode>)]
    write_mode: WriteMode,
    /// A peer to connect to, as HOST:PORT; repeat for more.
    #[arg(long = "peer", value_name = "HOST:PORT")]
    peers: Vec<String>,
    /// Port to accept peers on (0: any free port).
    #[arg(long, default_value_t = 6881)]
    listen_port: u16,
    /// Address to accept peers on (default: every IPv4 address of the machine).
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    listen_address: std::net::IpAddr,
    /// Most peer connections.
    #[arg(long, default_value_t = 200)]
    max_peers: usize,
    /// Message stream encryption: disabled, prefer_plaintext (or enabled),
    /// prefer_encrypted or required.
    #[arg(long, value_name = "MODE", default_value = "prefer_plaintext", value_parser = by_name::<Encryption>)]
    encryption: Encryption,
    /// Transports for the connections we open: prefer_tcp, prefer_utp, tcp_only
    /// or utp_only (uTP listens on the same port number over UDP).
    #[arg(long, value_name = "MODE", default_value = "prefer_tcp", value_parser = by_name::<TransportMode>)]
    transport: TransportMode,
    /// Shard threads, each owning the torrents whose info-hash maps to it (0: one per
    /// core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    shards: usize,
    /// Download cap in bytes per second (0: none).
    #[arg(long, value_name = "BYTES/S", default_value_t = 0)]
    download_limit: u64,
    /// Upload cap in bytes per second (0: none).
    #[arg(long, value_name = "BYTES/S", default_value_t = 0)]
    upload_limit: u64,
    /// Keep resume data (LMDB) in this folder: an interrupted download started
    /// again with the same folder continues from its last save without a recheck.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Read commands on standard input while running (add-root, add, move, peer,
    /// pause, resume, stats, roots), each answered by a JSON line on standard output.
    #[arg(long)]
    control: bool,
    /// Seconds without a single peer before saying why.
    #[arg(long, value_name = "S", default_value_t = 15, hide = true)]
    no_peer_hint_secs: u64,
    /// Milliseconds between resume saves (about the most a crash can cost again).
    #[arg(long, value_name = "MS", default_value_t = 5000, hide = true)]
    save_interval_ms: u64,
}

pub fn run(args: DownloadArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let out_dir = std::fs::canonicalize(&args.output)?;
    // Start the IO first: a refused --io fails before any long recheck.
    let core = CoreConfig {
        max_connections: args.max_peers,
        max_connections_per_torrent: args.max_peers,
        download_rate_limit: args.download_limit,
        upload_rate_limit: args.upload_limit,
        encryption: args.encryption,
        transport: args.transport,
        save_interval: Duration::from_millis(args.save_interval_ms.max(100)),
        ..CoreConfig::default()
    };
    let listen = SocketAddr::new(args.listen_address, args.listen_port);
    // The torrents' milestones (added, finished) end the loop's wait below.
    // Full: a shard drops one and says so; the loop takes them all at each
    // turn, so it holds no more than a turn's adds.
    let (milestones_tx, milestones) = flume::bounded(seedring::shard::MILESTONE_QUEUE);
    let cfg = ShardConfig {
        shards: args.shards,
        state_dir: args.state_dir.clone(),
        write_mode: args.write_mode,
        // Enough for a port held by a seedring that just died on io_uring; a port
        // another program holds fails after this.
        bind_patience: Duration::from_secs(5),
        milestones: Some(milestones_tx),
        ..ShardConfig::new(core, listen)
    };
    let io = match args.io {
        Io::Auto => IoChoice::Auto,
        Io::Uring => IoChoice::Uring,
        Io::Epoll => IoChoice::Epoll,
    };
    let engine = match Engine::start(cfg, io) {
        Err(StartError::Listen { addr, error }) if error.kind() == ErrorKind::AddrInUse => bail!(
            "cannot listen on {addr}: {error}; another program holds that port \
             (--listen-port 0 takes any free one)"
        ),
        r => r?,
    };
    match engine.io_fallback_reason() {
        Some(why) => eprintln!("seedring: io: epoll ({why})"),
        None => eprintln!("seedring: io: {}", engine.io_backend()),
    }
    eprintln!(
        "seedring: listening on port {}",
        engine.listen_addr().port()
    );
    for (what, why) in &engine.restore_report().failed {
        eprintln!("seedring: state: cannot restore {what}: {why}");
    }
    let (source, name) = if args.source.starts_with("magnet:") {
        let m = Magnet::parse(&args.source)?;
        let name = m
            .display_name
            .clone()
            .unwrap_or_else(|| m.info_hash.to_hex());
        (TorrentSource::Magnet(m), name)
    } else {
        // What is already in the folder is checked by the engine as it adds it.
        let meta = crate::load_torrent(&PathBuf::from(&args.source))?;
        let name = meta.info.name.clone();
        (TorrentSource::Metainfo(Arc::new(meta)), name)
    };
    let mut peers: Vec<SocketAddr> = Vec::new();
    for p in &args.peers {
        let addrs = p
            .to_socket_addrs()
            .with_context(|| format!("bad peer address {p:?}"))?;
        peers.extend(addrs.take(1));
    }

    let has_trackers = source.tracker_tiers().iter().any(|t| !t.is_empty());
    let ih = source.info_hash();
    let resumed = engine.torrents()?.contains(&ih);
    if resumed {
        let st = engine.stats(ih).context("restored torrent")?;
        eprintln!(
            "seedring: resuming from {}: {} of {} pieces saved",
            args.state_dir.as_deref().unwrap_or(&out_dir).display(),
            st.have_pieces,
            st.total_pieces
        );
        if let Some(note) = &st.note {
            eprintln!("seedring: {note}");
        }
        if st.state == TorrentState::Paused {
            engine.resume(ih)?;
        }
    } else {
        let add = AddTorrent::new(source, out_dir.to_string_lossy().into_owned());
        engine.add_torrent(add)?;
    }
    engine.add_peers(ih, &peers)?;

    let stop = Arc::new(AtomicBool::new(false));
    // Lines from standard input (`--control`) and Ctrl-C's nudge come through
    // one channel, so that the loop's pause ends as soon as either arrives. At
    // most 64 wait: when full, the reader waits (standard input is not read
    // further until the loop takes a line), and a nudge is not needed, the
    // loop having lines to take (`stop` is what it reads).
    let (wake_tx, wake) = flume::bounded::<Option<String>>(64);
    let (s2, nudge) = (stop.clone(), wake_tx.clone());
    ctrlc::set_handler(move || {
        s2.store(true, Ordering::SeqCst);
        match nudge.try_send(None) {
            // The loop is awake with lines to take, and reads `stop` after
            // them; or it has ended. No nudge is owed either way.
            Err(flume::TrySendError::Full(_) | flume::TrySendError::Disconnected(_)) | Ok(()) => {}
        }
    })
    .context("cannot install the Ctrl-C handler")?;

    let bar = crate::progress::StatusLine::new(&name);
    let mut announced_done = false;
    let mut tracker_said: Option<String> = None;
    if args.control {
        crate::control::spawn_reader(wake_tx);
    }
    // The CLI's own wall clock: when to say that no peer has come.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let mut hinted = false;
    // The torrent's note as last shown (what a check found, a failed move, ...).
    // (A resumed torrent's note was shown above.)
    let mut note_shown = if resumed {
        engine.stats(ih)?.note
    } else {
        None
    };
    // The CLI's own wall clock: when the status line was last drawn.
    #[allow(clippy::disallowed_methods)]
    let mut drawn: Option<std::time::Instant> = None;
    loop {
        let woke = flume::Selector::new()
            .recv(&wake, |m| match m {
                Ok(Some(line)) => Woke::Line(line),
                Ok(None) => Woke::Nudged,
                Err(_) => Woke::Gone,
            })
            .recv(&milestones, |m| match m {
                Ok(_) => Woke::Nudged,
                Err(_) => Woke::Gone,
            })
            .wait_timeout(PACE);
        match woke {
            Ok(Woke::Line(line)) => crate::control::run_line(&engine, &line),
            Ok(Woke::Nudged) | Err(_) => {}
            // Neither queue closes while the engine runs and the Ctrl-C
            // handler holds its sender; were one to, the pace still holds.
            #[allow(clippy::disallowed_methods)] // the CLI's pace, not a shard
            Ok(Woke::Gone) => std::thread::sleep(PACE),
        }
        // What else came meanwhile.
        for line in wake.try_iter().flatten() {
            crate::control::run_line(&engine, &line);
        }
        milestones.try_iter().for_each(drop);
        let st = engine.stats(ih).context("the torrent is gone")?;
        if drawn.is_none_or(|t| t.elapsed() >= PACE) {
            bar.update(&st);
            #[allow(clippy::disallowed_methods)]
            let now = std::time::Instant::now();
            drawn = Some(now);
        }
        if st.note != note_shown {
            if let Some(note) = &st.note {
                eprintln!("seedring: {note}");
            }
            note_shown = st.note.clone();
        }
        // The engine announces; the tracker's word is shown when it changes.
        let said = st
            .tracker_error
            .clone()
            .or_else(|| st.tracker_warning.clone());
        if said != tracker_said {
            if let Some(m) = &said {
                let url = st.tracker_url.as_deref().unwrap_or("?");
                eprintln!("seedring: tracker {url}: {m}");
            }
            tracker_said = said;
        }
        if let TorrentState::Error(e) = &st.state {
            bar.finish();
            bail!("{name}: {e}");
        }
        let waiting = matches!(
            st.state,
            TorrentState::Downloading | TorrentState::FetchingMetadata
        );
        let hint_after = Duration::from_secs(args.no_peer_hint_secs);
        if waiting && st.peers == 0 && !hinted && started.elapsed() > hint_after {
            hinted = true;
            let why = if !has_trackers && args.peers.is_empty() {
                "the torrent lists no tracker and no --peer was given".to_owned()
            } else if let Some(e) = &st.tracker_error {
                format!("its tracker fails ({e})")
            } else {
                "the trackers have given no reachable peer yet".to_owned()
            };
            eprintln!(
                "seedring: no peers after {} s: {why}; still waiting",
                args.no_peer_hint_secs
            );
        }
        if st.state == TorrentState::Seeding && !announced_done {
            announced_done = true;
            bar.finish();
            eprintln!("seedring: {name}: complete ({} bytes)", st.total_bytes);
            if !args.seed {
                break;
            }
            eprintln!("seedring: seeding until Ctrl-C");
        }
        if stop.load(Ordering::SeqCst) {
            bar.finish();
            eprintln!("seedring: stopping");
            break;
        }
    }
    // Peers are closed and the last pieces saved; the trackers hear `stopped`
    // (after a `completed` still owed), three seconds at most for their answers.
    engine.shut_down(Duration::from_secs(3))?;
    drop(engine); // closes every connection and file before exiting
    if announced_done {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(crate::EXIT_INCOMPLETE))
    }
}

/// What ended the loop's wait.
enum Woke {
    /// A command line from standard input.
    Line(String),
    /// Ctrl-C, or a milestone of a torrent.
    Nudged,
    /// A queue closed.
    Gone,
}

/// A mode (encryption, transport) by its configuration name.
fn by_name<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    let de = serde::de::value::StrDeserializer::<serde::de::value::Error>::new(s);
    T::deserialize(de).map_err(|e| e.to_string())
}
