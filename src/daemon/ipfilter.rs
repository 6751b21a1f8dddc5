//! The IP filter the config names (`peers.ip_filter`, `peers.banned_ips`):
//! read at start (a file that cannot be read stops the start, with why) and
//! again on SIGHUP (a file that cannot be read then keeps the filter in
//! force, with an error in the log), and handed to every engine thread.

use std::io::Read;
use std::sync::Arc;

use super::config::PeersConfig;
use crate::Engine;
use crate::ipfilter::IpFilter;

/// The largest filter file read (a full blocklist is about 20 MB of text).
pub const MAX_FILE_BYTES: u64 = 128 << 20;

/// The filter of `peers`: the file's ranges and the banned addresses.
pub fn load(peers: &PeersConfig) -> Result<IpFilter, String> {
    let mut filter = IpFilter::parse(&peers.banned_ips.join("\n")).filter;
    let path = peers.ip_filter.trim();
    if path.is_empty() {
        return Ok(filter);
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
    // Lists are ASCII; anything else on a line makes that line a stray one.
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
    filter.extend(&parsed.filter);
    Ok(filter)
}

/// Loads the filter of `peers` and hands it to the engine.
pub async fn apply(engine: &Engine, peers: &PeersConfig) -> Result<usize, String> {
    let filter = load(peers)?;
    let ranges = filter.len();
    engine
        .set_ip_filter_async(Arc::new(filter))
        .await
        .map_err(|e| e.to_string())?;
    Ok(ranges)
}
