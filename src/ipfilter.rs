//! The IP filter: address ranges peers are never dialled at nor taken from
//! (a blocklist, and the addresses a user bans by hand).
//!
//! Read from the formats blocklists come in, one entry a line:
//! - eMule `ipfilter.dat`: `first - last , level , description`; a level of
//!   128 or more allows the range (eMule's rule), so it is left out;
//! - PeerGuardian text (`.p2p`): `description:first-last` (IPv4);
//! - an address, a CIDR block (`10.0.0.0/8`, `2001:db8::/32`) or `first-last`.
//!
//! `#` and `//` start comments; a line that fits none of these is skipped and
//! counted, never fatal (real lists carry stray lines). Ranges are kept
//! sorted and merged, one list per family: a lookup is a binary search, and
//! a list of 300,000 ranges costs under 3 MiB, shared by every engine thread.

use std::net::IpAddr;

/// A set of address ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpFilter {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

/// What reading a list found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The ranges.
    pub filter: IpFilter,
    /// Lines that were neither an entry nor a comment.
    pub skipped: usize,
    /// The first such line's number (1-based) and why.
    pub first_skipped: Option<(usize, &'static str)>,
}

impl IpFilter {
    /// Reads a list (see the module's formats).
    pub fn parse(text: &str) -> Parsed {
        let mut p = Parsed::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
                continue;
            }
            match entry(line) {
                Ok(Some((a, b))) => p.filter.insert(a, b),
                Ok(None) => {}
                Err(why) => {
                    p.skipped += 1;
                    p.first_skipped.get_or_insert((n + 1, why));
                }
            }
        }
        p.filter.settle();
        p
    }

    /// Adds the ranges of `other`.
    pub fn extend(&mut self, other: &IpFilter) {
        self.v4.extend_from_slice(&other.v4);
        self.v6.extend_from_slice(&other.v6);
        self.settle();
    }

    /// Whether `ip` is in a range (an IPv4-mapped IPv6 address as its IPv4).
    pub fn blocks(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(v4) => within(&self.v4, u32::from(v4)),
            IpAddr::V6(v6) => within(&self.v6, u128::from(v6)),
        }
    }

    /// How many ranges (after merging).
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether it blocks nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&mut self, a: IpAddr, b: IpAddr) {
        match (a.to_canonical(), b.to_canonical()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => self.v4.push(ordered(u32::from(a), u32::from(b))),
            (IpAddr::V6(a), IpAddr::V6(b)) => self.v6.push(ordered(u128::from(a), u128::from(b))),
            // Families mixed: `entry` refuses these.
            _ => {}
        }
    }

    /// Sorts and merges overlapping and touching ranges.
    fn settle(&mut self) {
        merge(&mut self.v4, |x| x.saturating_add(1));
        merge(&mut self.v6, |x| x.saturating_add(1));
    }
}

fn ordered<T: Ord>(a: T, b: T) -> (T, T) {
    if a <= b { (a, b) } else { (b, a) }
}

/// Sorts `v` and merges ranges that overlap or touch (`next`: the value one
/// up, saturating).
fn merge<T: Copy + Ord>(v: &mut Vec<(T, T)>, next: impl Fn(T) -> T) {
    v.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
    for &(a, b) in v.iter() {
        match out.last_mut() {
            Some(last) if a <= next(last.1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out.shrink_to_fit();
    *v = out;
}

fn within<T: Copy + Ord>(v: &[(T, T)], x: T) -> bool {
    let i = v.partition_point(|r| r.0 <= x);
    i > 0 && v[i - 1].1 >= x
}

/// One line: a range, `None` for a range the list allows (an eMule level of
/// 128 or more), or why it is not an entry.
fn entry(line: &str) -> Result<Option<(IpAddr, IpAddr)>, &'static str> {
    // eMule: `first - last , level , description`.
    if let Some((range, rest)) = line.split_once(',') {
        let level = rest.split(',').next().unwrap_or("").trim();
        let level: u32 = level
            .parse()
            .map_err(|_| "an eMule line's level is not a number")?;
        let r = range_of(range).ok_or("an eMule line's range does not read")?;
        return Ok((level < 128).then_some(r));
    }
    // An address, a block or a range on its own.
    if let Some(r) = range_of(line) {
        return Ok(Some(r));
    }
    // PeerGuardian: `description:first-last` (the description may hold ':').
    if let Some((_, range)) = line.rsplit_once(':')
        && let Some(r) = range_of(range)
    {
        return Ok(Some(r));
    }
    Err("not an address, a range or a list entry")
}

/// `a`, `a-b` (`a - b`) or `a/len`, both ends of one family.
fn range_of(s: &str) -> Option<(IpAddr, IpAddr)> {
    let s = s.trim();
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (ip(a)?, ip(b)?);
        return (a.is_ipv4() == b.is_ipv4()).then_some((a, b));
    }
    if let Some((a, len)) = s.split_once('/') {
        let a = ip(a)?;
        let len: u32 = len.trim().parse().ok()?;
        return Some(match a {
            IpAddr::V4(v4) if len <= 32 => {
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                let lo = u32::from(v4) & mask;
                (
                    IpAddr::from(lo.to_be_bytes()),
                    IpAddr::from((lo | !mask).to_be_bytes()),
                )
            }
            IpAddr::V6(v6) if len <= 128 => {
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                let lo = u128::from(v6) & mask;
                (
                    IpAddr::from(lo.to_be_bytes()),
                    IpAddr::from((lo | !mask).to_be_bytes()),
                )
            }
            _ => return None,
        });
    }
    let a = ip(s)?;
    Some((a, a))
}

/// An address; eMule lists write IPv4 with leading zeros (`001.002.003.004`).
fn ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some(a.to_canonical());
    }
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for o in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 {
            return None;
        }
        *o = part.parse().ok()?;
    }
    parts.next().is_none().then_some(IpAddr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_format_reads_and_stray_lines_are_counted() {
        let text = "\
# a comment
// another
001.002.003.000 - 001.002.003.255 , 000 , Some org
005.000.000.000 - 005.000.000.255 , 200 , allowed by its level
Bad guys:10.1.0.0-10.1.255.255
A name: with colons:11.0.0.1-11.0.0.1
192.168.7.0/24
2001:db8::/32
8.8.8.8
this is not a line
3.3.3.3 - 3.3.3.1 , 100 , reversed
";
        let p = IpFilter::parse(text);
        assert_eq!(
            (p.skipped, p.first_skipped),
            (1, Some((10, "not an address, a range or a list entry")))
        );
        let f = &p.filter;
        for blocked in [
            "1.2.3.0",
            "1.2.3.255",
            "10.1.200.3",
            "11.0.0.1",
            "192.168.7.9",
            "8.8.8.8",
            "2001:db8:ffff::1",
            "3.3.3.2",
            "::ffff:1.2.3.4",
        ] {
            assert!(f.blocks(ip(blocked)), "{blocked}");
        }
        for open in [
            "1.2.4.0",
            "5.0.0.7",
            "11.0.0.2",
            "192.168.8.1",
            "8.8.8.9",
            "2001:db9::1",
            "::1",
        ] {
            assert!(!f.blocks(ip(open)), "{open}");
        }
    }

    #[test]
    fn ranges_merge_and_lookups_find_the_edges() {
        let p = IpFilter::parse("1.0.0.0-1.0.0.9\n1.0.0.10-1.0.0.20\n1.0.0.5-1.0.0.6\n0.0.0.0/0\n");
        assert_eq!(p.filter.len(), 1, "one range covers them all");
        let mut f = IpFilter::parse("10.0.0.1\n10.0.0.3\n").filter;
        assert_eq!(f.len(), 2);
        assert!(!f.blocks(ip("10.0.0.2")));
        f.extend(&IpFilter::parse("10.0.0.2").filter);
        assert_eq!(f.len(), 1);
        assert!(f.blocks(ip("10.0.0.2")) && !f.blocks(ip("10.0.0.4")) && !f.blocks(ip("10.0.0.0")));
        let all6 = IpFilter::parse("::/0").filter;
        assert!(all6.blocks(ip("ffff::1")) && !all6.blocks(ip("1.1.1.1")));
        assert!(IpFilter::default().is_empty());
    }

    #[test]
    fn nonsense_never_panics() {
        for line in [
            "-",
            "/",
            "1.2.3.4/33",
            "::/129",
            "1.2.3.4-::1",
            ",",
            "a,b,c",
            "1.2.3.4/-1",
            "999.1.1.1",
            "1..2.3",
            ":",
            "x:-",
            "1.2.3.4 , 12345678901 , x",
        ] {
            let p = IpFilter::parse(line);
            assert!(p.filter.is_empty() && p.skipped == 1, "{line:?}: {p:?}");
        }
    }
}
