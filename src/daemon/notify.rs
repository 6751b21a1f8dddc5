//! systemd's notify protocol (`Type=notify`): `READY=1` once the API answers,
//! `WATCHDOG=1` while the engine answers, `STOPPING=1` at a stop. Messages go
//! as datagrams to `$NOTIFY_SOCKET` (a path, or an abstract name written with a
//! leading `@`); without it (not run by systemd) nothing is sent.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Sends one message to systemd, if it is listening. A failure is logged once
/// per call site by the caller's choice; it never stops the daemon.
pub fn notify(msg: &str) -> std::io::Result<bool> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(path) => notify_to(&path, msg).map(|()| true),
        None => Ok(false),
    }
}

/// Sends one message to the socket `path` names (`@name`: abstract).
pub fn notify_to(path: &std::ffi::OsStr, msg: &str) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    let bytes = path.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        sock.send_to_addr(msg.as_bytes(), &addr)?;
    } else {
        sock.send_to(msg.as_bytes(), path)?;
    }
    Ok(())
}

/// Sends `msg`, logging (not failing) if systemd cannot be told.
pub fn tell(msg: &str) {
    if let Err(e) = notify(msg) {
        tracing::warn!(error = %e, message = msg, "systemd not notified");
    }
}

/// Half of `$WATCHDOG_USEC`, the interval to ping at, if systemd wants pings
/// (and `$WATCHDOG_PID`, when set, is this process).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Pings the watchdog while the engine answers a cheap question within the
/// interval; a hung engine stops the pings and systemd restarts the daemon.
pub async fn watchdog(engine: crate::Engine, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match tokio::time::timeout(every, engine.connections_async()).await {
            Ok(Ok(_)) => tell("WATCHDOG=1"),
            Ok(Err(e)) => tracing::error!(error = %e, "engine unwell: watchdog not pinged"),
            Err(_) => tracing::error!("engine did not answer: watchdog not pinged"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_a_listening_socket_by_path_or_abstract_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        notify_to(path.as_os_str(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("seedring-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let abstract_listener = UnixDatagram::bind_addr(&addr).unwrap();
        notify_to(std::ffi::OsStr::new(&format!("@{name}")), "WATCHDOG=1").unwrap();
        let n = abstract_listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
    }
}
