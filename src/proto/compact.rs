//! Compact peer addresses (BEP 23, BEP 7): 4 address bytes and a big-endian port
//! for IPv4, 16 and a port for IPv6, packed back to back. Trackers, peer exchange
//! and (later) the DHT all use them.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Bytes per compact IPv4 address.
pub const V4_LEN: usize = 6;
/// Bytes per compact IPv6 address.
pub const V6_LEN: usize = 18;

/// Why a compact list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("compact addresses of {len} bytes, not a multiple of {width}")]
pub struct CompactError {
    /// The list's length.
    pub len: usize,
    /// The width of one entry (6 or 18).
    pub width: usize,
}

/// The addresses in `b`, entries of `width` bytes ([`V4_LEN`] or [`V6_LEN`]), at
/// most `max` of them (the rest are not read). Port 0 is skipped: nobody listens
/// there.
pub fn decode(b: &[u8], width: usize, max: usize) -> Result<Vec<SocketAddr>, CompactError> {
    debug_assert!(width == V4_LEN || width == V6_LEN);
    if !b.len().is_multiple_of(width) {
        return Err(CompactError {
            len: b.len(),
            width,
        });
    }
    let mut out = Vec::with_capacity((b.len() / width).min(max));
    for c in b.chunks_exact(width).take(max) {
        let (ip, port) = c.split_at(width - 2);
        let ip: IpAddr = if width == V4_LEN {
            Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).into()
        } else {
            Ipv6Addr::from(<[u8; 16]>::try_from(ip).expect("16 bytes")).into()
        };
        let port = u16::from_be_bytes([port[0], port[1]]);
        if port != 0 {
            out.push(SocketAddr::new(ip, port));
        }
    }
    Ok(out)
}

/// Appends `addr` in compact form: 6 bytes for IPv4, 18 for IPv6 (an IPv4-mapped
/// IPv6 address stays IPv6: callers that want it as IPv4 say so first, as the
/// core does for every address it keeps).
pub fn push(out: &mut Vec<u8>, addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Whether `addr` is written in the IPv4 list.
pub fn is_v4(addr: SocketAddr) -> bool {
    addr.is_ipv4()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_families_round_trip() {
        let a: SocketAddr = "10.1.2.3:6881".parse().unwrap();
        let b: SocketAddr = "[2001:db8::7]:51413".parse().unwrap();
        let mut v4 = Vec::new();
        push(&mut v4, a);
        let mut v6 = Vec::new();
        push(&mut v6, b);
        assert_eq!(v4.len(), V4_LEN);
        assert_eq!(v6.len(), V6_LEN);
        assert_eq!(decode(&v4, V4_LEN, 10).unwrap(), vec![a]);
        assert_eq!(decode(&v6, V6_LEN, 10).unwrap(), vec![b]);
        // A mapped address stays in its family: what is read writes out the same.
        let mapped: SocketAddr = "[::ffff:10.1.2.3]:6881".parse().unwrap();
        let mut m = Vec::new();
        push(&mut m, mapped);
        assert!(!is_v4(mapped));
        assert_eq!(decode(&m, V6_LEN, 1).unwrap(), vec![mapped]);
    }

    #[test]
    fn wrong_lengths_port_zero_and_the_cap() {
        assert_eq!(
            decode(&[0; 7], V4_LEN, 10),
            Err(CompactError { len: 7, width: 6 })
        );
        assert!(decode(&[0; 6], V4_LEN, 10).unwrap().is_empty());
        let mut many = Vec::new();
        for i in 0..100u16 {
            push(&mut many, SocketAddr::from(([1, 2, 3, 4], 1000 + i)));
        }
        assert_eq!(decode(&many, V4_LEN, 7).unwrap().len(), 7);
    }
}
