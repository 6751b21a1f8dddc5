//! A peer connection's byte stream, whatever carries it: a TCP socket, or a uTP
//! connection living on the uTP thread ([`super::utp`]). The reader and writer
//! tasks, the handshake router and the MSE answerer see only this.

use std::io;

use compio::BufResult;
use compio::io::{AsyncRead, AsyncWriteExt};
use compio::net::{OwnedReadHalf, OwnedWriteHalf, TcpStream};

use super::utp::{UtpReader, UtpStream, UtpWriter};
use crate::core::Transport;

/// A connection's stream.
pub(crate) enum PeerStream {
    Tcp(TcpStream),
    Utp(UtpStream),
}

/// Its reading half.
pub(crate) enum ReadHalf {
    Tcp(OwnedReadHalf<TcpStream>),
    Utp(UtpReader),
}

/// Its writing half.
pub(crate) enum WriteHalf {
    Tcp(OwnedWriteHalf<TcpStream>),
    Utp(UtpWriter),
}

impl PeerStream {
    /// How it travels.
    pub(crate) fn transport(&self) -> Transport {
        match self {
            PeerStream::Tcp(_) => Transport::Tcp,
            PeerStream::Utp(_) => Transport::Utp,
        }
    }

    /// Reads into `buf`'s spare room (0: the peer closed).
    pub(crate) async fn read(&mut self, buf: Vec<u8>) -> BufResult<usize, Vec<u8>> {
        match self {
            PeerStream::Tcp(s) => s.read(buf).await,
            PeerStream::Utp(s) => s.reader.read(buf).await,
        }
    }

    /// Writes all of `buf`.
    pub(crate) async fn write_all(&mut self, buf: Vec<u8>) -> io::Result<()> {
        match self {
            PeerStream::Tcp(s) => s.write_all(buf).await.0,
            PeerStream::Utp(s) => s.writer.write_all(buf).await,
        }
    }

    /// Small messages go out at once (TCP_NODELAY; uTP sends what it has).
    pub(crate) fn nodelay(&self) {
        if let PeerStream::Tcp(s) = self
            && let Err(e) = s.set_nodelay(true)
        {
            tracing::debug!(error = %e, "TCP_NODELAY refused");
        }
    }

    /// The two halves, for a reader task and a writer task.
    pub(crate) fn split(self) -> (ReadHalf, WriteHalf) {
        match self {
            PeerStream::Tcp(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
            }
            PeerStream::Utp(s) => (ReadHalf::Utp(s.reader), WriteHalf::Utp(s.writer)),
        }
    }
}

impl ReadHalf {
    /// Reads into `buf`'s spare room (0: the peer closed).
    pub(crate) async fn read(&mut self, buf: Vec<u8>) -> BufResult<usize, Vec<u8>> {
        match self {
            ReadHalf::Tcp(s) => s.read(buf).await,
            ReadHalf::Utp(s) => s.read(buf).await,
        }
    }
}

impl WriteHalf {
    /// Writes all of `buf`.
    pub(crate) async fn write_all(&mut self, buf: Vec<u8>) -> io::Result<()> {
        match self {
            WriteHalf::Tcp(s) => s.write_all(buf).await.0,
            WriteHalf::Utp(s) => s.write_all(buf).await,
        }
    }
}
