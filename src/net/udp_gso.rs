//! Runs of datagrams to one address sent with one system call: UDP generic
//! segmentation offload (`UDP_SEGMENT`, Linux 4.18+). The datagrams are laid
//! end to end in one buffer and the kernel cuts it into datagrams of the
//! first one's size (the last may be shorter). uTP's data packets to one peer
//! are all one size, so a window's worth leaves in a handful of `sendmsg`s
//! instead of one `sendto` each (the per-datagram route lookup, netfilter and
//! syscall costs were most of a uTP seeder's profile).
//!
//! Where the kernel or the device refuses segmentation, the batch goes out one
//! datagram at a time and segmentation stays off for the socket's life.

use std::io::{self, IoSlice};
use std::net::SocketAddr;

/// Most datagrams in one send (the kernel's `UDP_MAX_SEGMENTS` is 64 before
/// Linux 6.x and 128 after).
const MAX_SEGMENTS: usize = 64;
/// Most bytes in one send (an IP datagram's limit, less its headers).
const MAX_BYTES: usize = 65_000;

/// Collects datagrams and sends them in runs.
pub(crate) struct GsoSender {
    /// Segmentation is still believed to work.
    enabled: bool,
    buf: Vec<u8>,
    to: Option<SocketAddr>,
    /// The run's datagram size (its first datagram's).
    segment: usize,
    count: usize,
    /// The run ended with a shorter datagram: nothing more can follow it.
    closed: bool,
    /// Datagrams the socket did not take (full buffer, unreachable, ...).
    pub dropped: u64,
}

impl GsoSender {
    pub(crate) fn new() -> GsoSender {
        GsoSender {
            enabled: true,
            buf: Vec::with_capacity(MAX_BYTES),
            to: None,
            segment: 0,
            count: 0,
            closed: false,
            dropped: 0,
        }
    }

    /// Queues `datagram` for `to`; sends the run before it when it cannot join.
    pub(crate) fn push(&mut self, sock: &socket2::Socket, to: SocketAddr, datagram: &[u8]) {
        let joins = self.enabled
            && self.to == Some(to)
            && !self.closed
            && datagram.len() <= self.segment
            && self.count < MAX_SEGMENTS
            && self.buf.len() + datagram.len() <= MAX_BYTES;
        if !joins {
            self.flush(sock);
            self.to = Some(to);
            self.segment = datagram.len();
        }
        self.closed = datagram.len() < self.segment;
        self.buf.extend_from_slice(datagram);
        self.count += 1;
    }

    /// Sends what is queued.
    pub(crate) fn flush(&mut self, sock: &socket2::Socket) {
        let Some(to) = self.to.take() else {
            return;
        };
        let addr = socket2::SockAddr::from(to);
        let sent = if self.count > 1 {
            let control = segment_control(self.segment);
            let bufs = [IoSlice::new(&self.buf)];
            let msg = socket2::MsgHdr::new()
                .with_addr(&addr)
                .with_buffers(&bufs)
                .with_control(&control);
            match sock.sendmsg(&msg, libc::MSG_DONTWAIT) {
                Err(e) if refused_segmentation(&e) => {
                    tracing::info!(error = %e, "utp: no UDP segmentation offload here; one datagram per send");
                    self.enabled = false;
                    self.send_each(sock, &addr)
                }
                other => other.map(|_| ()),
            }
        } else {
            sock.send_to_with_flags(&self.buf, &addr, libc::MSG_DONTWAIT)
                .map(|_| ())
        };
        if let Err(e) = sent {
            let before = self.dropped;
            self.dropped += self.count as u64;
            if (before + 1..=self.dropped).any(u64::is_power_of_two) {
                tracing::debug!(%to, error = %e, dropped_so_far = self.dropped, "utp: datagrams not sent");
            }
        }
        self.buf.clear();
        self.count = 0;
        self.closed = false;
    }

    /// The run one datagram at a time (segmentation refused).
    fn send_each(&self, sock: &socket2::Socket, addr: &socket2::SockAddr) -> io::Result<()> {
        for d in self.buf.chunks(self.segment.max(1)) {
            sock.send_to_with_flags(d, addr, libc::MSG_DONTWAIT)?;
        }
        Ok(())
    }
}

/// Errors that mean segmentation itself is not available (an old kernel, a
/// device without checksum offload), not that this send failed.
fn refused_segmentation(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
    )
}

/// The control message `SOL_UDP`/`UDP_SEGMENT` carrying the segment size, laid
/// out as the kernel reads it on 64-bit Linux: a `cmsghdr` (length, level,
/// type) then the `u16`, padded to eight bytes.
fn segment_control(segment: usize) -> [u8; 24] {
    const HEADER: usize = std::mem::size_of::<libc::cmsghdr>();
    const _: () = assert!(HEADER == 16, "a 64-bit cmsghdr");
    let mut c = [0u8; 24];
    c[..8].copy_from_slice(&((HEADER + 2) as u64).to_ne_bytes());
    c[8..12].copy_from_slice(&libc::SOL_UDP.to_ne_bytes());
    c[12..16].copy_from_slice(&libc::UDP_SEGMENT.to_ne_bytes());
    let seg = u16::try_from(segment).unwrap_or(u16::MAX);
    c[16..18].copy_from_slice(&seg.to_ne_bytes());
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    fn pair() -> (socket2::Socket, UdpSocket) {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let tx: socket2::Socket = UdpSocket::bind("127.0.0.1:0").unwrap().into();
        (tx, rx)
    }

    #[test]
    fn a_run_arrives_as_the_datagrams_it_was_made_of() {
        let (tx, rx) = pair();
        let to = rx.local_addr().unwrap();
        let mut g = GsoSender::new();
        // Ten of 1,000 bytes and a short last one, each marked by its index.
        let sent: Vec<Vec<u8>> = (0..11u8)
            .map(|i| vec![i; if i == 10 { 300 } else { 1000 }])
            .collect();
        for d in &sent {
            g.push(&tx, to, d);
        }
        // After the short one nothing joins: a new run starts.
        g.push(&tx, to, &[99; 1000]);
        g.flush(&tx);
        let mut got = Vec::new();
        let mut buf = [0u8; 2000];
        for _ in 0..12 {
            let n = rx.recv(&mut buf).unwrap();
            got.push(buf[..n].to_vec());
        }
        let mut want = sent.clone();
        want.push(vec![99; 1000]);
        assert_eq!(got, want);
        assert_eq!(g.dropped, 0);
    }

    #[test]
    fn a_dual_stack_socket_sends_runs_to_an_ipv4_peer() {
        // As the daemon's uTP socket: `[::]`, IPv4 peers as mapped addresses.
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let tx = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None).unwrap();
        tx.set_only_v6(false).unwrap();
        tx.bind(&"[::]:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        let port = rx.local_addr().unwrap().port();
        let to = SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.to_ipv6_mapped().into(), port);
        let mut g = GsoSender::new();
        for i in 0..5u8 {
            g.push(&tx, to, &[i; 1200]);
        }
        g.flush(&tx);
        let mut buf = [0u8; 2000];
        for i in 0..5u8 {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i; 1200][..]);
        }
        assert!(g.enabled, "segmentation works over a mapped address");
    }

    #[test]
    fn runs_split_by_address_size_and_count() {
        const _: () = assert!(MAX_SEGMENTS < 67, "67 datagrams make more than one run");
        let (tx, rx) = pair();
        let (_, rx2) = pair();
        let (a, b) = (rx.local_addr().unwrap(), rx2.local_addr().unwrap());
        let mut g = GsoSender::new();
        for i in 0..=66u8 {
            g.push(&tx, a, &[i; 500]);
        }
        g.push(&tx, b, &[7; 600]);
        g.push(&tx, a, &[8; 700]);
        g.flush(&tx);
        let mut buf = [0u8; 2000];
        for i in 0..=66u8 {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i; 500][..]);
        }
        assert_eq!(rx.recv(&mut buf).unwrap(), 700);
        assert_eq!(rx2.recv(&mut buf).unwrap(), 600);
    }
}
