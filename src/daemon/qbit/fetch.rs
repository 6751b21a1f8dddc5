//! `.torrent` files named by URL in `torrents/add` (`urls`), fetched by the
//! daemon as qBittorrent does: `http` and `https` only (redirects too, at most
//! five), 30 s in all, the body capped at the largest `.torrent` seedring
//! takes, no compression asked for.

use std::time::Duration;

use crate::metainfo::MetainfoLimits;

/// How long one fetch may take, redirects and body included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Most redirects followed.
pub const MAX_REDIRECTS: usize = 5;

/// Whether `url` is one the daemon fetches.
pub fn is_web(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The body at `url`, or why not.
pub async fn fetch(url: &str) -> Result<Vec<u8>, String> {
    let cap = MetainfoLimits::default().max_torrent_bytes;
    let policy = reqwest::redirect::Policy::custom(|a| {
        if a.previous().len() >= MAX_REDIRECTS {
            a.error("too many redirects")
        } else if !matches!(a.url().scheme(), "http" | "https") {
            a.error("a redirect to a scheme other than http(s)")
        } else {
            a.follow()
        }
    });
    let client = reqwest::Client::builder()
        .redirect(policy)
        .timeout(FETCH_TIMEOUT)
        .user_agent(concat!("seedring/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("the server answered {}", resp.status()));
    }
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(format!(
            "larger than the {cap}-byte limit for a torrent file"
        ));
    }
    let mut body = Vec::new();
    let mut resp = resp;
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > cap {
            return Err(format!(
                "larger than the {cap}-byte limit for a torrent file"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_are_fetched() {
        assert!(is_web("http://127.0.0.1/x.torrent"));
        assert!(is_web("HTTPS://example.org/x"));
        for no in [
            "file:///etc/passwd",
            "ftp://x/y",
            "magnet:?xt=1",
            "javascript:1",
            "http",
        ] {
            assert!(!is_web(no), "{no}");
        }
    }
}
