//! `seedring daemon`: runs the engine as a service with its HTTP API.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use seedring::daemon::config::{Config, DEFAULT_CONFIG};
use seedring::logring::LogRing;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, reload};

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// The configuration file (TOML). Without one, the embedded defaults:
    /// `--print-config` shows them, with what each key means.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the default configuration, with a comment on every key, and exit.
    #[arg(long)]
    print_config: bool,
}

/// `files`: the open-files limit before and after [`crate::fd_limit::raise`].
pub fn run(args: DaemonArgs, files: Result<(u64, u64), (u64, String)>) -> anyhow::Result<ExitCode> {
    if args.print_config {
        print!("{DEFAULT_CONFIG}");
        return Ok(ExitCode::SUCCESS);
    }
    let cfg = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let ring = LogRing::new(cfg.log.ring_size);
    let set_filter = init_logs(&cfg.log.filter, &ring)?;
    if let Some(p) = &args.config {
        tracing::info!(config = %p.display(), "configuration read");
    } else {
        tracing::info!("no --config: running on the embedded defaults");
    }
    match files {
        Ok((was, now)) if was != now => tracing::info!(was, now, "open-files limit raised"),
        Ok((_, now)) => tracing::info!(limit = now, "open-files limit"),
        Err((limit, why)) => {
            tracing::warn!(limit, error = %why, "open-files limit could not be raised")
        }
    }
    seedring::daemon::run(cfg, args.config, ring, set_filter)?;
    Ok(ExitCode::SUCCESS)
}

/// Logs to standard error (without timestamps under systemd, whose journal adds
/// its own) and to the ring; the filter can be changed while running.
fn init_logs(filter: &str, ring: &LogRing) -> anyhow::Result<seedring::daemon::FilterSetter> {
    let env = std::env::var("SEEDRING_LOG").ok();
    let initial = EnvFilter::try_new(env.as_deref().unwrap_or(filter))
        .with_context(|| format!("log filter {filter:?}"))?;
    let (filter_layer, handle) = reload::Layer::new(initial);
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let ansi = !journald && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi);
    let registry = tracing_subscriber::registry()
        .with(filter_layer)
        .with(ring.layer());
    if journald {
        registry.with(stderr.without_time()).try_init()?;
    } else {
        registry.with(stderr).try_init()?;
    }
    Ok(Box::new(move |f: &str| {
        let new = EnvFilter::try_new(f).map_err(|e| format!("log filter {f:?}: {e}"))?;
        handle.reload(new).map_err(|e| e.to_string())
    }))
}
