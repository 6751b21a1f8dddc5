//! Serving the API's connections: HTTP/1.1 with a deadline on reading each
//! request's headers, a cap on connections at once, and a graceful stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// Time a client has to send a request's headers (a slowloris client is cut off).
pub const HEADER_DEADLINE: Duration = Duration::from_secs(10);
/// Connections served at once. Full: new ones wait in the listen backlog until
/// one ends.
pub const MAX_CONNECTIONS: usize = 512;

/// Serves `router` on `listener` until `stop` turns true; connections under way
/// finish their current request (a graceful stop), for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let (gone_tx, mut gone_rx) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        // An answer sent in parts (the streamed lists: a head, pieces, an
        // end) goes out part by part: with Nagle's algorithm a small part
        // waited for the client's delayed ACK of the one before, 40 ms on
        // Linux (an empty `torrents/info` took 44 ms).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "TCP_NODELAY not set on an API connection");
        }
        let svc =
            router
                .clone()
                .map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                    req
                });
        let mut stop = stop.clone();
        let gone = gone_tx.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_DEADLINE)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "API connection ended");
                    }
                }
                _ = async { stop.wait_for(|s| *s).await.map(drop) } => {
                    conn.as_mut().graceful_shutdown();
                    let _ended_either_way = conn.await;
                }
            }
            drop(permit);
            drop(gone);
        });
    }
    // Wait for the connections (each holds a sender) to finish, within `grace`.
    drop(gone_tx);
    if tokio::time::timeout(grace, gone_rx.recv()).await.is_err() {
        tracing::warn!(
            secs = grace.as_secs_f32(),
            "API connections still open after the grace period: they are dropped"
        );
    }
}
