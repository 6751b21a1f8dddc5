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
