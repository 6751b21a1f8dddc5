//! Writing a peer's TCP socket straight from the shard thread: bytes with
//! `send`, a file's bytes with `sendfile` (the page cache's pages go to the
//! socket without a copy through the process), and a wait for room through the
//! runtime (a poll on io_uring or epoll) when the socket's buffer is full. The
//! socket is nonblocking (`O_NONBLOCK`, set when the connection is attached), so
//! nothing here waits on the thread but a file read the page cache could not
//! answer: callers send from a file only what
//! [`crate::disk_uring::page_cache::resident`] says is cached.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use compio::driver::SharedFd;
use compio::driver::op::{Interest, PollOnce};

/// A peer's TCP socket, shared with its reader and writer halves.
pub(crate) type Sock = SharedFd<socket2::Socket>;

/// Waits until `sock` has room to write.
async fn writable(sock: &Sock) -> io::Result<()> {
    let op = PollOnce::new(sock.clone(), Interest::Writable);
    compio::runtime::submit(op).await.0.map(|_| ())
}

/// One system call's answer: `Ok(Some(n))` bytes went, `Ok(None)` try again
/// when writable.
fn answer(r: isize) -> io::Result<Option<usize>> {
    if r >= 0 {
        return Ok(Some(r.cast_unsigned()));
    }
    let e = io::Error::last_os_error();
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
        _ => Err(e),
    }
}

/// Sends all of `bytes`.
pub(crate) async fn send_all(sock: &Sock, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let fd = sock.as_fd().as_raw_fd();
        // SAFETY: `bytes` is a live slice for the call's length; the kernel only
        // reads it. A closed peer is an error (`MSG_NOSIGNAL`: no SIGPIPE).
        let r = unsafe {
            libc::send(
                fd,
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        };
        match answer(r)? {
            Some(0) => return Err(io::ErrorKind::WriteZero.into()),
            Some(n) => bytes = &bytes[n..],
            None => writable(sock).await?,
        }
    }
    Ok(())
}

/// How far a [`send_file`] got.
pub(crate) enum FileSent {
    /// All of it.
    All,
    /// The kernel could not send from this file (a file system that cannot
    /// splice, a failed read, a file that ended early): the bytes from `offset`
    /// on, `left` of them, must be read and sent as bytes.
    Rest { offset: u64, left: usize },
}

/// Sends `len` bytes at `offset` of `file` with `sendfile`.
pub(crate) async fn send_file(
    sock: &Sock,
    file: BorrowedFd<'_>,
    mut offset: u64,
    mut left: usize,
) -> io::Result<FileSent> {
    while left > 0 {
        let fd = sock.as_fd().as_raw_fd();
        let Ok(mut off) = libc::off_t::try_from(offset) else {
            return Ok(FileSent::Rest { offset, left });
        };
        // SAFETY: `off` is a live local the kernel reads and advances; both
        // descriptors are open for the call (`file` is borrowed, `sock` shared).
        let r = unsafe { libc::sendfile(fd, file.as_raw_fd(), &raw mut off, left) };
        match answer(r) {
            Ok(Some(0)) => return Ok(FileSent::Rest { offset, left }),
            Ok(Some(n)) => {
                offset += n as u64;
                left -= n;
            }
            Ok(None) => writable(sock).await?,
            Err(e) if is_socket_error(&e) => return Err(e),
            // The file's side: no `splice_read` on this file system (`EINVAL`),
            // or a read that failed (`EIO`). The rest goes the long way, whose
            // read tells the core of a failing disk.
            Err(_) => return Ok(FileSent::Rest { offset, left }),
        }
    }
    Ok(FileSent::All)
}

/// Whether a failed `sendfile` failed on the connection (not the file).
fn is_socket_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EPIPE
                | libc::ECONNRESET
                | libc::ECONNABORTED
                | libc::ENOTCONN
                | libc::ESHUTDOWN
                | libc::ETIMEDOUT
                | libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::ENETDOWN
        )
    )
}

/// Holds partial segments back while `on` (`TCP_CORK`): a block's head and its
/// bytes, sent by separate calls, leave in full segments.
pub(crate) fn cork(sock: &Sock, on: bool) {
    let v = libc::c_int::from(on);
    const LEN: libc::socklen_t = 4;
    const _: () = assert!(size_of::<libc::c_int>() == LEN as usize);
    // SAFETY: `v` is a live `c_int` for the call; the kernel reads its size.
    let r = unsafe {
        libc::setsockopt(
            sock.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&raw const v).cast(),
            LEN,
        )
    };
    if r != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "TCP_CORK refused");
    }
}

/// Makes `sock` nonblocking (the calls above rely on it; compio's own reads
/// and writes on it go on as before on io_uring and on epoll).
pub(crate) fn nonblocking(sock: &Sock) -> io::Result<()> {
    let fd = sock.as_fd().as_raw_fd();
    // SAFETY: fcntl on an open descriptor, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
