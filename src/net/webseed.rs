//! Web seed fetches (BEP 19) on the control-plane thread: byte ranges of a
//! torrent's files over HTTP(S) with `Range`, handed to the shard in order, in
//! parts, as they arrive (see [`WebPart`]).
//!
//! A range is answered `206` with exactly its bytes, or `200` with the whole
//! file when the range is the whole file (a server without range support);
//! anything else fails the fetch with the reason. Bodies are read only up to
//! what was asked. Redirects: at most 3, HTTP(S) only (the client's policy).

use crate::core::WebRange;

/// What a fetch hands back on its channel, in order: its bytes in parts of
/// about [`PART`], then how it ended.
#[derive(Debug)]
pub(crate) enum WebPart {
    /// The next bytes of the ranges.
    Bytes(Vec<u8>),
    /// The end: `Ok` when every answer was read to its end (that they held the
    /// bytes asked for is the core's check), or what went wrong.
    End(Result<(), String>),
}

/// The size a part is sent at (the last one may be shorter).
const PART: usize = 64 << 10;

/// Parts queued on a fetch's channel before the fetch waits for the shard to
/// take one. While it waits it reads no more of the answer, so TCP holds the
/// server back: a fetch holds at most this many parts, the one it fills and
/// the HTTP client's chunk.
pub(crate) const PARTS_QUEUED: usize = 2;

/// Fetches `ranges` in order and sends their bytes on `tx` as they arrive,
/// then the end. Stops when `tx`'s receiver is gone (the shard no longer
/// wants them), telling no one.
pub(crate) async fn fetch(
    client: &reqwest::Client,
    ranges: &[WebRange],
    tx: &flume::Sender<WebPart>,
) {
    let mut parts = Parts {
        tx,
        buf: Vec::new(),
    };
    let result = match fetch_all(client, ranges, &mut parts).await {
        Ok(()) => Ok(()),
        Err(Stop::Error(why)) => Err(why),
        Err(Stop::Unwanted) => return,
    };
    // What came before a failure is handed over too: its whole blocks count.
    if parts.flush().await.is_err() {
        return;
    }
    if tx.send_async(WebPart::End(result)).await.is_err() {
        tracing::debug!("web seed fetch ended after its asker stopped waiting");
    }
}

/// Why a fetch stops early.
enum Stop {
    Error(String),
    /// The receiver is gone.
    Unwanted,
}

impl From<String> for Stop {
    fn from(why: String) -> Self {
        Stop::Error(why)
    }
}

/// The part being filled, and where full ones go.
struct Parts<'a> {
    tx: &'a flume::Sender<WebPart>,
    buf: Vec<u8>,
}

impl Parts<'_> {
    async fn push(&mut self, mut bytes: &[u8]) -> Result<(), Stop> {
        while !bytes.is_empty() {
            if self.buf.capacity() == 0 {
                self.buf.reserve_exact(PART);
            }
            let take = (PART - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() == PART {
                self.send().await?;
            }
        }
        Ok(())
    }

    async fn send(&mut self) -> Result<(), Stop> {
        let part = std::mem::take(&mut self.buf);
        (self.tx.send_async(WebPart::Bytes(part)).await).map_err(|_| Stop::Unwanted)
    }

    async fn flush(&mut self) -> Result<(), Stop> {
        if !self.buf.is_empty() {
            self.send().await?;
        }
        Ok(())
    }
}

async fn fetch_all(
    client: &reqwest::Client,
    ranges: &[WebRange],
    parts: &mut Parts<'_>,
) -> Result<(), Stop> {
    const ZEROS: [u8; 4096] = [0; 4096];
    for r in ranges {
        let Some(url) = &r.url else {
            // A pad file: zeros, never fetched.
            let mut left = r.len;
            while left > 0 {
                let n = usize::try_from(left).map_or(ZEROS.len(), |l| l.min(ZEROS.len()));
                parts.push(&ZEROS[..n]).await?;
                left -= n as u64;
            }
            continue;
        };
        fetch_one(client, url, r.start, r.len, parts).await?;
    }
    Ok(())
}

async fn fetch_one(
    client: &reqwest::Client,
    url: &str,
    start: u64,
    len: u64,
    parts: &mut Parts<'_>,
) -> Result<(), Stop> {
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
        200 => return Err(format!("{url}: the server does not serve byte ranges").into()),
        _ => return Err(format!("{url}: HTTP {status}").into()),
    }
    let mut got = 0u64;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("{url}: {}", without_url(&e)))?
    {
        got += chunk.len() as u64;
        if got > len {
            return Err(format!("{url}: more bytes than the {len} asked").into());
        }
        parts.push(&chunk).await?;
    }
    if got != len {
        return Err(format!("{url}: {got} bytes of the {len} asked").into());
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

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    use super::*;

    /// A one-connection HTTP server on loopback answering any range request
    /// with `len` bytes (byte `i` is `byte(i)`), 16 KiB a write; its thread
    /// gives what it wrote before the client went away.
    fn server(len: usize) -> (String, std::thread::JoinHandle<usize>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/f", l.local_addr().unwrap());
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let head = format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Length: {len}\r\nContent-Range: bytes 0-{}/{len}\r\n\r\n",
                len - 1
            );
            s.write_all(head.as_bytes()).unwrap();
            let body: Vec<u8> = (0..len).map(byte).collect();
            let mut wrote = 0;
            for c in body.chunks(16 << 10) {
                if s.write_all(c).is_err() {
                    break;
                }
                wrote += c.len();
            }
            wrote
        });
        (url, t)
    }

    fn byte(i: usize) -> u8 {
        u8::try_from(i % 251).expect("under 251")
    }

    fn range(url: &str, len: u64) -> Vec<WebRange> {
        vec![WebRange {
            url: Some(url.to_owned()),
            start: 0,
            len,
        }]
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn the_bytes_come_in_parts_in_order_then_the_end() {
        let len = 1_000_003;
        let (url, server) = server(len);
        let (tx, rx) = flume::bounded(PARTS_QUEUED);
        let client = reqwest::Client::new();
        let got = std::thread::spawn(move || {
            let mut parts = Vec::new();
            while let Ok(p) = rx.recv() {
                parts.push(p);
            }
            parts
        });
        rt().block_on(fetch(&client, &range(&url, len as u64), &tx));
        drop(tx);
        let parts = got.join().unwrap();
        assert_eq!(server.join().unwrap(), len);
        let (last, bytes) = parts.split_last().unwrap();
        assert!(matches!(last, WebPart::End(Ok(()))), "{last:?}");
        let mut all = Vec::new();
        for p in bytes {
            let WebPart::Bytes(b) = p else {
                panic!("{p:?} before the end");
            };
            assert!(b.len() <= PART);
            all.extend_from_slice(b);
        }
        assert_eq!(bytes.len(), len.div_ceil(PART));
        assert!(all.iter().enumerate().all(|(i, b)| *b == byte(i)));
        assert_eq!(all.len(), len);
    }

    #[test]
    fn a_fetch_nobody_waits_for_stops_reading() {
        let len = 64 << 20;
        let (url, server) = server(len);
        let (tx, rx) = flume::bounded(PARTS_QUEUED);
        let client = reqwest::Client::new();
        let reader = std::thread::spawn(move || {
            // Takes one part, then is gone (a removed torrent's web seed).
            let first = rx.recv().unwrap();
            assert!(matches!(first, WebPart::Bytes(_)), "{first:?}");
        });
        rt().block_on(fetch(&client, &range(&url, len as u64), &tx));
        reader.join().unwrap();
        // The fetch returned without reading to the end and closed the
        // connection: what the server got out is what the socket buffers
        // held, far from the 64 MiB.
        let wrote = server.join().unwrap();
        assert!(wrote < len / 4, "{wrote} of {len} bytes written");
        assert!(tx.is_disconnected());
    }
}
