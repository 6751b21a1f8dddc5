//! Closing a socket whose last operation was cancelled. Dropping a task with
//! a receive or accept pending in io_uring leaves a cancel with the kernel,
//! and the operation, holding the socket, in the runtime until the answer
//! comes; a runtime dropped before it forgets the operation and the socket
//! stays open (its port held) until the process ends. compio's `close` waits
//! for the answer, then closes.

use std::future::Future;
use std::io;
use std::time::Duration;

/// How long a stopping thread waits for its cancelled operations to come back.
pub(crate) const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Awaits `close` (a compio socket's `close()`) for at most [`CLOSE_WAIT`],
/// logging what went wrong; `what` names the socket.
pub(crate) async fn close_when_answered(what: &str, close: impl Future<Output = io::Result<()>>) {
    match compio::time::timeout(CLOSE_WAIT, close).await {
        Ok(Ok(())) => tracing::debug!(socket = what, "closed"),
        Ok(Err(e)) => tracing::warn!(socket = what, error = %e, "closing failed"),
        Err(_) => tracing::warn!(
            socket = what,
            wait = ?CLOSE_WAIT,
            "its cancelled operation never came back; the port stays held"
        ),
    }
}
