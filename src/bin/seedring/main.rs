//! The `seedring` command line: the daemon, and inspecting, creating, downloading
//! and verifying torrents.

mod arenas;
mod control;
mod create;
mod daemon;
mod download;
mod fd_limit;
mod import;
mod info;
mod progress;
mod remote;
mod scrape;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// seedring: a BitTorrent engine for seedboxes.
///
/// Inspect a torrent with `info`, make one with `create`, check downloaded data with
/// `verify`. Run `seedring <command> --help` for the details of each.
#[derive(Debug, Parser)]
#[command(name = "seedring", version, propagate_version = true)]
struct Cli {
    /// Say more on standard error: -v what the engine does (torrents, trackers,
    /// bans), -vv each peer, -vvv each message. Warnings and errors always show;
    /// SEEDRING_LOG (e.g. `seedring=debug`) overrides this.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// Engine logs go to standard error, warnings and errors by default.
fn init_logs(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = std::env::var("SEEDRING_LOG")
        .ok()
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the seedring daemon: the engine as a service, driven over an
    /// authenticated HTTP API (embedded defaults without --config).
    Daemon(daemon::DaemonArgs),
    /// Drive a running daemon: list, add, pause, resume, rm, info, files, peers,
    /// trackers, limits, roots, stats, logs (and more: `seedring remote --help`).
    Remote(remote::RemoteArgs),
    /// Show what a .torrent file or magnet link describes: name, info-hash, pieces,
    /// size, files and trackers.
    Info(info::InfoArgs),
    /// Make a .torrent from a file or a folder, hashing on every core.
    Create(create::CreateArgs),
    /// Download a torrent or magnet into a folder (and seed it with --seed).
    /// Exits 0 once the download is complete and every piece verified.
    Download(download::DownloadArgs),
    /// Ask a torrent's trackers how many seeders and leechers it has (BEP 48 over
    /// HTTP, BEP 15 over UDP).
    Scrape(scrape::ScrapeArgs),
    /// Print the hash of a password for `qbittorrent.password_hash` (the
    /// password is read from the first line of standard input).
    HashPassword,
    /// Check data on disk against a torrent: which pieces are valid, invalid or
    /// missing, and which files are complete. Exits 0 only if everything is complete
    /// and valid.
    Verify(verify::VerifyArgs),
}

/// Exit status for "the command ran, the answer is no" (verify found bad data).
const EXIT_INCOMPLETE: u8 = 1;
/// Exit status for "the command could not run" (bad input, IO error).
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    arenas::two_per_core();
    let files = fd_limit::raise();
    let cli = Cli::parse();
    // The daemon sets up its own logs (a ring for its API, a filter it can change).
    if !matches!(cli.command, Command::Daemon(_)) {
        init_logs(cli.verbose);
        if let Err((soft, why)) = &files {
            tracing::debug!(limit = soft, error = %why, "open-files limit not raised");
        }
    }
    let result = match cli.command {
        Command::Daemon(args) => daemon::run(args, files),
        Command::Remote(args) => remote::run(args),
        Command::Info(args) => info::run(args),
        Command::Create(args) => create::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Download(args) => download::run(args),
        Command::Scrape(args) => scrape::run(args),
        Command::HashPassword => hash_password(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("seedring: error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// `seedring hash-password`: reads a password line, prints its hash in the
/// form qBittorrent and `qbittorrent.password_hash` use.
fn hash_password() -> anyhow::Result<ExitCode> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("password (shown as typed; or pipe it in): ");
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let pass = line.trim_end_matches(['\n', '\r']);
    if pass.is_empty() {
        anyhow::bail!("an empty password is not taken");
    }
    let hash = seedring::daemon::qbit::login::PasswordHash::make(pass);
    println!("{hash}");
    Ok(ExitCode::SUCCESS)
}

/// Loads a .torrent file, refusing overlarge ones before reading them.
fn load_torrent(path: &std::path::Path) -> anyhow::Result<seedring::metainfo::Metainfo> {
    use anyhow::Context;
    let limits = seedring::metainfo::MetainfoLimits::default();
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if len > limits.max_torrent_bytes as u64 {
        anyhow::bail!(
            "{}: {len} bytes is larger than the {}-byte limit for a torrent file",
            path.display(),
            limits.max_torrent_bytes
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    seedring::metainfo::Metainfo::from_bytes_with(&bytes, &limits)
        .with_context(|| format!("{}", path.display()))
}

/// `1.50 GiB`-style sizes for people.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

/// What a command prints on stdout, written in one go when it is done, so that a
/// reader that goes away early (`seedring info x.torrent | head`) ends the command
/// quietly instead of making it fail half-way.
#[derive(Debug, Default)]
struct Out(String);

impl Out {
    fn line(&mut self, text: impl std::fmt::Display) {
        use std::fmt::Write;
        writeln!(self.0, "{text}").expect("writing to a String cannot fail");
    }

    fn emit(self) -> anyhow::Result<()> {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(self.0.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    /// clap's own checks of the whole command line, every subcommand with the
    /// global options it inherits (a subcommand's argument named like a
    /// global one, `url` or `token`, takes the global's value).
    #[test]
    fn the_command_line_is_well_formed() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }

    /// A subcommand's argument named like a global option of a command above
    /// it (`remote`'s `url` or `token`) takes the global's value, which
    /// clap's checks above do not catch.
    #[test]
    fn no_argument_shadows_a_global_option() {
        fn walk(cmd: &clap::Command, globals: &[String], path: &str) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                assert!(
                    !globals.iter().any(|g| g == id),
                    "{path}: argument {id:?} shadows the global option of that name"
                );
            }
            let mut mine = globals.to_vec();
            mine.extend(
                cmd.get_arguments()
                    .filter(|a| a.is_global_set())
                    .map(|a| a.get_id().as_str().to_owned()),
            );
            for sub in cmd.get_subcommands() {
                walk(sub, &mine, &format!("{path} {}", sub.get_name()));
            }
        }
        let cmd = <super::Cli as clap::CommandFactory>::command();
        walk(&cmd, &[], "seedring");
    }
}
