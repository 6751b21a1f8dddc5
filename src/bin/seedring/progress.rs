//! A progress bar for bulk hashing, drawn on stderr only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Runs `work` with a byte counter; while it runs, a bar follows the counter if stderr
/// is a terminal. Nothing is drawn otherwise, so logs and pipes stay clean.
pub fn with_progress<T>(total: u64, label: &str, work: impl FnOnce(&AtomicU64) -> T) -> T {
    let done = AtomicU64::new(0);
    if !std::io::stderr().is_terminal() {
        return work(&done);
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    let finished = AtomicBool::new(false);
    let out = std::thread::scope(|s| {
        s.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                bar.set_position(done.load(Ordering::Relaxed));
                #[allow(clippy::disallowed_methods)] // the CLI's redraw pace, not a shard
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let out = work(&done);
        finished.store(true, Ordering::Relaxed);
        out
    });
    bar.finish_and_clear();
    out
}

/// One status line for a download: a redrawn bar on a terminal, a plain line every
/// five seconds otherwise (logs, pipes, systemd).
pub struct StatusLine {
    bar: Option<ProgressBar>,
    name: String,
    last_plain: std::cell::Cell<u64>,
    ticks: std::cell::Cell<u64>,
}

impl StatusLine {
    pub fn new(name: &str) -> StatusLine {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(1);
            b.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {percent}%")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            b
        });
        StatusLine {
            bar,
            name: name.to_owned(),
            last_plain: std::cell::Cell::new(0),
            ticks: std::cell::Cell::new(0),
        }
    }

    pub fn update(&self, st: &seedring::core::TorrentStats) {
        let eta = st
            .eta_secs
            .map_or_else(|| "-".to_owned(), |s| format!("{}m{:02}s", s / 60, s % 60));
        let line = format!(
            "{} {:?} {:.1}% down {}/s up {}/s peers {} eta {}",
            self.name,
            st.state,
            st.progress * 100.0,
            crate::human_bytes(st.download_rate),
            crate::human_bytes(st.upload_rate),
            st.peers,
            eta
        );
        self.ticks.set(self.ticks.get() + 1);
        match &self.bar {
            Some(b) => {
                b.set_length(st.total_bytes.max(1));
                b.set_position(st.have_bytes);
                b.set_message(line);
            }
            None if self.ticks.get() >= self.last_plain.get() + 20 => {
                self.last_plain.set(self.ticks.get());
                eprintln!("{line}");
            }
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
