//! `GET /api/v1/torrents/{id}/files/{index}`: a file's bytes over HTTP, with
//! Range, while the torrent may still be downloading. The pieces a reader needs
//! next are asked for first (`Engine::set_urgent_async`), in order, and the
//! answer waits for them, with a deadline.

use std::ops::Range;
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::api::{ApiError, Shared};
use super::torrents::torrent_id;
use crate::core::Bitfield;
use crate::metainfo::Info;
use crate::types::InfoHash;

/// Bytes read and sent at a time.
const CHUNK: u64 = 256 << 10;
/// Pieces asked for ahead of the reader, beyond the ones it needs now.
const AHEAD: u32 = 8;
/// How long a reader waits for the bytes it needs before the first byte (then
/// `503`, `Retry-After`) or in the middle of the body (then the body ends early).
const WAIT: Duration = Duration::from_secs(25);
/// How often a waiting reader looks again.
const POLL: Duration = Duration::from_millis(50);

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` against a file of `size` bytes; `None`
/// for several ranges or another unit (the whole file is sent instead, as RFC 9110
/// allows); `Err` when the range cannot be satisfied.
fn parse_range(h: &str, size: u64) -> Option<Result<Range<u64>, ()>> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let r = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return Some(Err(()));
        }
        size.saturating_sub(n)..size
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            size
        } else {
            b.parse::<u64>().ok()?.saturating_add(1).min(size)
        };
        start..end
    };
    Some(if r.start < r.end && r.start < size {
        Ok(r)
    } else {
        Err(())
    })
}

/// Readers' ids (each reader has its own window of urgent pieces).
static NEXT_READER: AtomicU64 = AtomicU64::new(1);

/// Where a streamed file is and what covers it; its reader's window of urgent
/// pieces ends when it goes.
struct Source {
    app: Shared,
    ih: InfoHash,
    reader: u64,
    info: Arc<Info>,
    index: usize,
    path: PathBuf,
}

impl Drop for Source {
    fn drop(&mut self) {
        let (engine, ih, reader) = (self.app.engine.clone(), self.ih, self.reader);
        // Ended (or the client went): the pieces it waited for are no longer urgent.
        // (No runtime: the daemon is stopping, and the window goes with the engine.)
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            if let Err(e) = engine.set_urgent_async(ih, reader, 0..0).await {
                tracing::debug!(error = %e, "a reader's window outlived it");
            }
        });
    }
}

impl Source {
    /// The pieces holding bytes `r` of the file.
    fn pieces(&self, r: &Range<u64>) -> Range<u32> {
        let g = &self.info.geometry;
        let base = g.file_range(self.index).start;
        let len = u64::from(g.piece_length());
        let first = u32::try_from((base + r.start) / len).unwrap_or(u32::MAX);
        let last = u32::try_from((base + r.end - 1) / len).unwrap_or(u32::MAX);
        first..last + 1
    }

    /// Waits until every piece holding bytes `r` is had, asking for them first.
    async fn wait_for(&self, r: &Range<u64>) -> Result<(), ApiError> {
        let app = &self.app;
        let need = self.pieces(r);
        let count = self.info.geometry.piece_count();
        let window = need.start..need.end.saturating_add(AHEAD).min(count);
        let had = |b: &Option<Bitfield>| b.as_ref().is_some_and(|b| need.clone().all(|p| b.get(p)));
        if had(&app.engine.have_async(self.ih).await?) {
            return Ok(());
        }
        app.engine
            .set_urgent_async(self.ih, self.reader, window)
            .await?;
        let waited = tokio::time::timeout(WAIT, async {
            loop {
                tokio::time::sleep(POLL).await;
                if had(&app.engine.have_async(self.ih).await?) {
                    return Ok::<(), ApiError>(());
                }
            }
        })
        .await;
        match waited {
            Ok(r) => r,
            Err(_) => Err(ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                error: "not_yet",
                detail: format!(
                    "pieces {}..{} are not downloaded yet; they are asked for first (try again shortly)",
                    need.start, need.end
                ),
            }),
        }
    }

    async fn read(&self, r: Range<u64>) -> std::io::Result<Bytes> {
        let path = self.path.clone();
        let job = move || {
            let f = std::fs::File::open(&path)?;
            let mut buf = vec![0u8; usize::try_from(r.end - r.start).unwrap_or(0)];
            f.read_exact_at(&mut buf, r.start)?;
            Ok(Bytes::from(buf))
        };
        tokio::task::spawn_blocking(job)
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
    }
}

/// `GET /torrents/{id}/files/{index}`.
pub async fn file(
    State(app): State<Shared>,
    Path((id, index)): Path<(String, usize)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ih = torrent_id(&app, &id).await?;
    let info = app.engine.info_async(ih).await?.ok_or_else(|| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        error: "not_yet",
        detail: "the torrent's metadata has not arrived yet".into(),
    })?;
    let f = info
        .files
        .get(index)
        .filter(|f| f.is_stored())
        .ok_or_else(|| ApiError::not_found(format!("no file {index} in this torrent")))?;
    let size = f.length;
    let engine = app.engine.clone();
    let (root, _) = tokio::task::spawn_blocking(move || engine.torrent_files(ih))
        .await
        .map_err(|e| ApiError::bad(e.to_string()))??;
    // The file's components were sanitised when the torrent was read: the path
    // stays inside the torrent's folder in its root.
    let path = crate::disk_uring::io::file_path(&root.path, &info, index);
    let range = match headers.get(header::RANGE).and_then(|h| h.to_str().ok()) {
        Some(h) => match parse_range(h, size) {
            Some(Ok(r)) => Some(r),
            Some(Err(())) => {
                let mut r = ApiError {
                    status: StatusCode::RANGE_NOT_SATISFIABLE,
                    error: "bad_range",
                    detail: format!("the file has {size} bytes"),
                }
                .into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    r.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(r);
            }
            None => None,
        },
        None => None,
    };
    let whole = 0..size;
    let r = range.clone().unwrap_or(whole);
    let src = Arc::new(Source {
        app,
        ih,
        reader: NEXT_READER.fetch_add(1, Ordering::Relaxed),
        info,
        index,
        path,
    });
    if r.is_empty() {
        return Ok((StatusCode::OK, [(header::CONTENT_LENGTH, "0")]).into_response());
    }
    // The first bytes are there before the answer starts (else 503).
    let first = r.start..(r.start + CHUNK).min(r.end);
    if let Err(e) = src.wait_for(&first).await {
        let mut out = e.into_response();
        if out.status() == StatusCode::SERVICE_UNAVAILABLE {
            out.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        return Ok(out);
    }
    let body = futures_util::stream::unfold((src, r.start, r.end), |(src, pos, end)| async move {
        if pos >= end {
            return None;
        }
        let chunk = pos..(pos + CHUNK).min(end);
        if let Err(e) = src.wait_for(&chunk).await {
            let err = std::io::Error::other(e.detail);
            return Some((Err(err), (src, end, end)));
        }
        let next = chunk.end;
        match src.read(chunk).await {
            Ok(b) => Some((Ok(b), (src, next, end))),
            Err(e) => Some((Err(e), (src, end, end))),
        }
    });
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&(r.end - r.start).to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if range.is_some() {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        let cr = format!("bytes {}-{}/{size}", r.start, r.end - 1);
        if let Ok(v) = HeaderValue::from_str(&cr) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some(Ok(0..100)));
        assert_eq!(parse_range("bytes=900-", 1000), Some(Ok(900..1000)));
        assert_eq!(parse_range("bytes=-100", 1000), Some(Ok(900..1000)));
        assert_eq!(parse_range("bytes=990-5000", 1000), Some(Ok(990..1000)));
        assert_eq!(parse_range("bytes=1000-", 1000), Some(Err(())));
        assert_eq!(parse_range("bytes=5-4", 1000), Some(Err(())));
        assert_eq!(parse_range("bytes=-0", 1000), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
        assert_eq!(parse_range("bytes=x-1", 1000), None);
    }
}
