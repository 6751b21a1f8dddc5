//! Web seed fetches (BEP 19) on the control-plane thread: byte ranges of a
//! torrent's files over HTTP(S) with `Range`, concatenated in order.
//!
//! A range is answered `206` with exactly its bytes, or `200` with the whole
//! file when the range is the whole file (a server without range support);
//! anything else fails the fetch with the reason. Bodies are read only up to
//! what was asked. Redirects: at most 3, HTTP(S) only (the client's policy).

use crate::core::WebRange;

/// The bytes of `ranges`, in order.
pub(crate) async fn fetch(
    client: &reqwest::Client,
    ranges: &[WebRange],
) -> Result<Vec<u8>, String> {
    let total: u64 = ranges.iter().map(|r| r.len).sum();
    let mut out = Vec::with_capacity(usize::try_from(total).map_err(|_| "too large")?);
    for r in ranges {
        let Some(url) = &r.url else {
            // A pad file: zeros, never fetched.
            out.resize(
                out.len() + usize::try_from(r.len).map_err(|_| "too large")?,
                0,
            );
            continue;
        };
        fetch_one(client, url, r.start, r.len, &mut out).await?;
    }
    Ok(out)
}

async fn fetch_one(
    client: &reqwest::Client,
    url: &str,
    start: u64,
    len: u64,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let last = start + len - 1;
    let mut resp = client
        .get(url)
        .header(reqwest::header::RANGE, format!("bytes={start}-{last}"))
        .send()
        .await
        .map_err(|e| format!("{url}: {}", without_url(&e)))?;
    let status = resp.status();
    match status.as_u16() {
        206 => {}
        // The whole file, from a server that ignores ranges: fine if that is
        // what was asked.
        200 if start == 0 && resp.content_length() == Some(len) => {}
        200 => return Err(format!("{url}: the server does not serve byte ranges")),
        _ => return Err(format!("{url}: HTTP {status}")),
    }
    let want = usize::try_from(len).map_err(|_| "too large")?;
    let mut got = 0usize;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("{url}: {}", without_url(&e)))?
    {
        if got + chunk.len() > want {
            return Err(format!("{url}: more bytes than the {len} asked"));
        }
        got += chunk.len();
        out.extend_from_slice(&chunk);
    }
    if got != want {
        return Err(format!("{url}: {got} bytes of the {len} asked"));
    }
    Ok(())
}

/// reqwest's error without the URL it repeats.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(&format!(" ({u})"), "");
    }
    s
}
