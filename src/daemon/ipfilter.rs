//! The IP filter as the daemon makes it: the config's file (`peers.ip_filter`,
//! read at start, where a file that cannot be read stops the start with why,
//! and again on SIGHUP, where it keeps the filter in force with an error in
//! the log) and the banned addresses (the `banned_ips` setting: the config's,
//! changed over the API), joined and handed to every engine thread.

use std::io::Read;
use std::sync::Arc;

use crate::Engine;
use crate::engine::EngineError;
use crate::ipfilter::IpFilter;

/// The largest filter file read (a full blocklist is about 20 MB of text).
pub const MAX_FILE_BYTES: u64 = 128 << 20;
/// Most entries in `banned_ips`.
pub const MAX_BANNED: usize = 10_000;

/// The first entry of `list` that is not an address, a range or a CIDR block.
pub fn bad_entry(list: &[String]) -> Option<&String> {
    list.iter().find(|e| {
        let p = IpFilter::parse(e);
        p.skipped > 0 || p.filter.is_empty()
    })
}

/// The ranges of the filter file at `path` (empty: none).
pub fn read_file(path: &str) -> Result<IpFilter, String> {
    let path = path.trim();
    if path.is_empty() {
        return Ok(IpFilter::default());
    }
    let why = |e: std::io::Error| format!("peers.ip_filter {path}: {e}");
    let file = std::fs::File::open(path).map_err(why)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(why)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "peers.ip_filter {path}: larger than {} MiB",
            MAX_FILE_BYTES >> 20
        ));
    }
    // Lists are ASCII; anything else on a line makes it a stray one.
    let parsed = IpFilter::parse(&String::from_utf8_lossy(&bytes));
    if parsed.filter.is_empty() {
        return Err(format!(
            "peers.ip_filter {path}: no address range in it ({} lines not read)",
            parsed.skipped
        ));
    }
    if let Some((line, why)) = parsed.first_skipped {
        tracing::warn!(
            path,
            skipped = parsed.skipped,
            first = line,
            why,
            "IP filter: lines not read (they block nothing)"
        );
    }
    Ok(parsed.filter)
}

/// The file's ranges and the banned addresses, as one filter.
pub fn joined(file: &IpFilter, banned: &[String]) -> IpFilter {
    let mut f = IpFilter::parse(&banned.join("\n")).filter;
    f.extend(file);
    f
}

/// Hands the engine the file's ranges and the banned addresses; how many
/// ranges they make.
pub async fn apply(
    engine: &Engine,
    file: &IpFilter,
    banned: &[String],
) -> Result<usize, EngineError> {
    let f = joined(file, banned);
    let ranges = f.len();
    engine.set_ip_filter_async(Arc::new(f)).await?;
    Ok(ranges)
}
