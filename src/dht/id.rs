//! Node ids: 160-bit names in the DHT's XOR metric, and BEP 42's rule tying a
//! node's id to its address (so one machine cannot pick ids next to a target).

use core::net::IpAddr;

/// A node id or an info-hash seen as a point of the id space.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId(pub [u8; 20]);

impl std::fmt::Debug for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")
    }
}

impl NodeId {
    /// The XOR distance to `other`, comparable as a big-endian number.
    pub fn distance(&self, other: &NodeId) -> [u8; 20] {
        let mut d = [0u8; 20];
        for (i, x) in d.iter_mut().enumerate() {
            *x = self.0[i] ^ other.0[i];
        }
        d
    }

    /// How many leading bits `self` and `other` share (160 when equal).
    pub fn shared_prefix(&self, other: &NodeId) -> usize {
        let d = self.distance(other);
        d.iter()
            .position(|&b| b != 0)
            .map_or(160, |i| i * 8 + d[i].leading_zeros() as usize)
    }

    /// A random id whose first `bits` bits are `self`'s and whose next bit
    /// differs (a point in the bucket of ids sharing exactly `bits` bits).
    pub fn random_in_bucket(&self, bits: usize, random: [u8; 20]) -> NodeId {
        let mut id = random;
        for i in 0..bits.min(160) {
            set_bit(&mut id, i, bit(&self.0, i));
        }
        if bits < 160 {
            set_bit(&mut id, bits, !bit(&self.0, bits));
        }
        NodeId(id)
    }
}

fn bit(b: &[u8; 20], i: usize) -> bool {
    b[i / 8] & (0x80 >> (i % 8)) != 0
}

fn set_bit(b: &mut [u8; 20], i: usize, on: bool) {
    if on {
        b[i / 8] |= 0x80 >> (i % 8);
    } else {
        b[i / 8] &= !(0x80 >> (i % 8));
    }
}

/// CRC-32C (Castagnoli), bit by bit: BEP 42 hashes at most 8 bytes per id.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0x82F6_3B78 & mask);
        }
    }
    !crc
}

/// The 21 bits BEP 42 derives from an address and a 3-bit `r`.
fn bep42_prefix(ip: IpAddr, r: u8) -> u32 {
    let mut masked = match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let m = u32::from_be_bytes(v4.octets()) & 0x030f_3fff;
            m.to_be_bytes().to_vec()
        }
        IpAddr::V6(v6) => {
            let hi = u64::from_be_bytes(v6.octets()[..8].try_into().expect("8 bytes"));
            (hi & 0x0103_070f_1f3f_7fff).to_be_bytes().to_vec()
        }
    };
    masked[0] |= (r & 7) << 5;
    crc32c(&masked)
}

/// Whether BEP 42 exempts `ip` (addresses that are not on the internet).
pub fn bep42_exempt(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
    }
}

/// A BEP 42 id for a node at `ip`, the rest of it from `random`.
pub fn bep42_id(ip: IpAddr, random: [u8; 20]) -> NodeId {
    let r = random[19] & 7;
    let [c0, c1, c2, _] = bep42_prefix(ip, r).to_be_bytes();
    let mut id = random;
    id[0] = c0;
    id[1] = c1;
    id[2] = (c2 & 0xf8) | (random[2] & 7);
    id[19] = r;
    NodeId(id)
}

/// Whether `id` is one BEP 42 allows a node at `ip` to have (exempt addresses
/// may have any).
pub fn bep42_valid(id: &NodeId, ip: IpAddr) -> bool {
    if bep42_exempt(ip) {
        return true;
    }
    let [c0, c1, c2, _] = bep42_prefix(ip, id.0[19] & 7).to_be_bytes();
    id.0[0] == c0 && id.0[1] == c1 && id.0[2] & 0xf8 == c2 & 0xf8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn bep42_examples() {
        // The BEP's table: address, r, the id's first three bytes (the third
        // masked to its top five bits).
        for (ip, r, want) in [
            ("124.31.75.21", 1u8, [0x5f, 0xbf, 0xb8]),
            ("21.75.31.124", 6, [0x5a, 0x3c, 0xe8]),
            ("65.23.51.170", 6, [0xa5, 0xd4, 0x30]),
            ("84.124.73.14", 1, [0x1b, 0x03, 0x20]),
            ("43.213.53.83", 2, [0xe5, 0x6f, 0x68]),
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut random = [0x55; 20];
            random[19] = r;
            let id = bep42_id(ip, random);
            assert_eq!([id.0[0], id.0[1], id.0[2] & 0xf8], want, "{ip}");
            assert!(bep42_valid(&id, ip));
            assert!(!bep42_valid(&id, "1.2.3.4".parse().unwrap()));
        }
        assert!(bep42_valid(&NodeId([9; 20]), "10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn distances_and_buckets() {
        let a = NodeId([0; 20]);
        let mut b = [0; 20];
        b[0] = 0x10;
        assert_eq!(a.shared_prefix(&NodeId(b)), 3);
        assert_eq!(a.shared_prefix(&a), 160);
        for bits in [0, 5, 77, 159] {
            let r = a.random_in_bucket(bits, [0xff; 20]);
            assert_eq!(a.shared_prefix(&r), bits);
        }
    }
}
