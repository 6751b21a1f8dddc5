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
use seedring::core::{AddTorrent, Bitfield, CoreConfig, TorrentSource, TorrentState};
use seedring::disk_uring::{PieceState, recheck};
use seedring::hash::default_threads;
use seedring::metainfo::Magnet;
use seedring::net::{Announcer, TrackerClient};
use seedring::proto::tracker::{Announce, AnnounceEvent, AnnounceReply, TrackerError};
use seedring::shard::{IoChoice, ShardConfig};

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
    /// A peer to connect to, as HOST:PORT; repeat for more.
    #[arg(long = "peer", value_name = "HOST:PORT")]
    peers: Vec<String>,
    /// Port to accept peers on (0: any free port).
    #[arg(long, default_value_t = 6881)]
    listen_port: u16,
    /// Most peer connections.
    #[arg(long, default_value_t = 200)]
    max_peers: usize,
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
    /// Milliseconds between resume saves (about the most a crash can cost again).
    #[arg(long, value_name = "MS", default_value_t = 5000, hide = true)]
    save_interval_ms: u64,
}

pub fn run(args: DownloadArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let out_dir = std::fs::canonicalize(&args.output)?;
    // Start the IO first: a refused --io fails before any long recheck.
    let cfg = ShardConfig {
        core: CoreConfig {
            max_connections: args.max_peers,
            max_connections_per_torrent: args.max_peers,
            download_rate_limit: args.download_limit,
            upload_rate_limit: args.upload_limit,
            save_interval: Duration::from_millis(args.save_interval_ms.max(100)),
            ..CoreConfig::default()
        },
        listen: SocketAddr::from(([0, 0, 0, 0], args.listen_port)),
        io: IoChoice::Auto,
        max_open_files: 512,
        shards: args.shards,
        state_dir: args.state_dir.clone(),
    };
    let io = match args.io {
        Io::Auto => IoChoice::Auto,
        Io::Uring => IoChoice::Uring,
        Io::Epoll => IoChoice::Epoll,
    };
    let engine = Engine::start(cfg, io)?;
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
    let (source, have, name, tiers) = if args.source.starts_with("magnet:") {
        let m = Magnet::parse(&args.source)?;
        let name = m
            .display_name
            .clone()
            .unwrap_or_else(|| m.info_hash.to_hex());
        let tiers = m.trackers.iter().map(|t| vec![t.clone()]).collect();
        (TorrentSource::Magnet(m), None, name, tiers)
    } else {
        let meta = crate::load_torrent(&PathBuf::from(&args.source))?;
        let name = meta.info.name.clone();
        let tiers = meta.tracker_tiers.clone();
        if engine.torrents()?.contains(&meta.info_hash) {
            // Known to the state folder: its saved pieces are trusted, no recheck.
            (TorrentSource::Metainfo(Arc::new(meta)), None, name, tiers)
        } else {
            // What is already there is checked on every core before anything is fetched.
            let report = recheck(&meta.info, &out_dir, default_threads(), None)?;
            let mut bits = Bitfield::new(meta.info.geometry.piece_count());
            for (i, s) in report.pieces.iter().enumerate() {
                if *s == PieceState::Valid {
                    bits.set(u32::try_from(i).expect("piece count fits"));
                }
            }
            if bits.count() > 0 {
                eprintln!(
                    "seedring: {} of {} pieces already here and valid",
                    bits.count(),
                    bits.len()
                );
            }
            (
                TorrentSource::Metainfo(Arc::new(meta)),
                Some(bits),
                name,
                tiers,
            )
        }
    };
    let mut peers: Vec<SocketAddr> = Vec::new();
    for p in &args.peers {
        let addrs = p
            .to_socket_addrs()
            .with_context(|| format!("bad peer address {p:?}"))?;
        peers.extend(addrs.take(1));
    }

    let ih = match &source {
        TorrentSource::Metainfo(m) => m.info_hash,
        TorrentSource::Magnet(m) => m.info_hash,
    };
    if engine.torrents()?.contains(&ih) {
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
        let mut add = AddTorrent::new(source, out_dir.to_string_lossy().into_owned());
        add.have = have;
        engine.add_torrent(add)?;
    }
    engine.add_peers(ih, &peers)?;

    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    ctrlc::set_handler(move || s2.store(true, Ordering::SeqCst))
        .context("cannot install the Ctrl-C handler")?;

    let mut trackers = Trackers::new(tiers, &engine, ih)?;
    let bar = crate::progress::StatusLine::new(&name);
    let mut announced_done = false;
    let commands = args.control.then(crate::control::spawn_reader);
    loop {
        if let Some(rx) = &commands {
            while let Ok(line) = rx.try_recv() {
                crate::control::run_line(&engine, &line);
            }
        }
        #[allow(clippy::disallowed_methods)] // the CLI's polling pace, not a shard
        std::thread::sleep(Duration::from_millis(250));
        let st = engine.stats(ih).context("the torrent is gone")?;
        bar.update(&st);
        trackers.poll(&engine, &st);
        if let TorrentState::Error(e) = &st.state {
            bar.finish();
            bail!("{name}: {e}");
        }
        if st.state == TorrentState::Seeding && !announced_done {
            announced_done = true;
            bar.finish();
            eprintln!("seedring: {name}: complete ({} bytes)", st.total_bytes);
            trackers.completed();
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
    trackers.stop(&engine);
    drop(engine); // closes every connection and file before exiting
    if announced_done {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(crate::EXIT_INCOMPLETE))
    }
}

/// The torrent's trackers, driven from the CLI's loop: announces run on the
/// control-plane thread, replies are picked up without blocking.
struct Trackers {
    announcer: Announcer,
    client: Option<TrackerClient>,
    pending: Option<flume::Receiver<Result<AnnounceReply, TrackerError>>>,
    ih: seedring::InfoHash,
    peer_id: [u8; 20],
    port: u16,
    key: u32,
    started: std::time::Instant,
    last_message: Option<String>,
}

impl Trackers {
    fn new(
        tiers: Vec<Vec<String>>,
        engine: &Engine,
        ih: seedring::InfoHash,
    ) -> anyhow::Result<Trackers> {
        let announcer = Announcer::new(tiers);
        let client = if announcer.is_empty() {
            None
        } else {
            Some(TrackerClient::start().context("cannot start the tracker thread")?)
        };
        let peer_id = engine.peer_id();
        Ok(Trackers {
            announcer,
            client,
            pending: None,
            ih,
            peer_id,
            port: engine.listen_addr().port(),
            key: u32::from_be_bytes([peer_id[16], peer_id[17], peer_id[18], peer_id[19]]),
            #[allow(clippy::disallowed_methods)] // the CLI's own clock for announce times
            started: std::time::Instant::now(),
            last_message: None,
        })
    }

    fn now(&self) -> seedring::Time {
        seedring::Time(u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    fn announce(&self, st: &seedring::core::TorrentStats, event: AnnounceEvent) -> Announce {
        Announce {
            info_hash: self.ih,
            peer_id: self.peer_id,
            port: self.port,
            uploaded: st.uploaded,
            downloaded: st.downloaded,
            // Unknown until the metadata arrives: say "some", not "none" (a seed).
            left: if st.total_bytes == 0 {
                16384
            } else {
                st.total_bytes - st.have_bytes
            },
            event,
            numwant: 200,
            key: self.key,
        }
    }

    fn poll(&mut self, engine: &Engine, st: &seedring::core::TorrentStats) {
        if self.client.is_none() {
            return;
        }
        let now = self.now();
        let reply = match &self.pending {
            Some(rx) => match rx.try_recv() {
                Ok(r) => Some(r),
                Err(flume::TryRecvError::Empty) => None,
                Err(flume::TryRecvError::Disconnected) => {
                    Some(Err(TrackerError::Io("the tracker thread stopped".into())))
                }
            },
            None => None,
        };
        if let Some(result) = reply {
            self.on_result(engine, now, result);
        }
        if let Some((url, event)) = self.announcer.due(now) {
            let a = self.announce(st, event);
            self.pending = self.client.as_ref().map(|c| c.announce(url, a));
        }
    }

    /// An announce's outcome: peers to the engine, status into the torrent's stats,
    /// and a line on stderr when the tracker's message changes.
    fn on_result(
        &mut self,
        engine: &Engine,
        now: seedring::Time,
        result: Result<AnnounceReply, TrackerError>,
    ) {
        if let Ok(r) = &result {
            let _ = engine.add_peers(self.ih, &r.peers);
        }
        self.announcer.on_reply(now, result.as_ref());
        let s = self.announcer.status();
        let _ = engine.set_tracker_status(self.ih, s.error.clone(), s.warning.clone());
        let msg = s.error.clone().or_else(|| s.warning.clone());
        if msg != self.last_message {
            if let Some(m) = &msg {
                eprintln!("seedring: tracker {}: {m}", s.url.as_deref().unwrap_or("?"));
            }
            self.last_message = msg;
        }
    }

    fn completed(&mut self) {
        let now = self.now();
        self.announcer.completed(now);
    }

    /// Leaves the trackers properly: lets an announce in flight finish, sends the
    /// `completed` still owed (a download that ends the program right after
    /// finishing), then `stopped`. Each waits three seconds at most.
    fn stop(&mut self, engine: &Engine) {
        if self.client.is_none() {
            return;
        }
        let Ok(st) = engine.stats(self.ih) else {
            return;
        };
        let wait = Duration::from_secs(3);
        if let Some(rx) = self.pending.take()
            && let Ok(result) = rx.recv_timeout(wait)
        {
            let now = self.now();
            self.on_result(engine, now, result);
        }
        let Some(url) = self.announcer.current().map(str::to_owned) else {
            return;
        };
        let Some(client) = &self.client else { return };
        if self.announcer.pending_event() == AnnounceEvent::Completed {
            let rx = client.announce(url.clone(), self.announce(&st, AnnounceEvent::Completed));
            let _ = rx.recv_timeout(wait);
        }
        let rx = client.announce(url, self.announce(&st, AnnounceEvent::Stopped));
        let _ = rx.recv_timeout(wait);
    }
}
