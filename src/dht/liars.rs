//! Nodes that hand out peers no one else knows. In a `get_peers` lookup the
//! nodes nearest a torrent hold the peers announced to them, and announcers
//! tell several of them, so honest answers overlap. A node whose answer names
//! [`MIN_VALUES`] peers or more, none of which another node of the same lookup
//! named, while other nodes agree on some, gets a strike; at [`STRIKES`]
//! strikes (from different lookups) it leaves the table and is ignored for
//! [`BAN`]. One odd answer is not enough: an honest node far from the torrent
//! may hold a few peers of its own.

use core::net::IpAddr;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::types::Time;

/// Values an answer must name before it can be judged.
pub const MIN_VALUES: usize = 4;
/// Strikes before a node is ignored.
pub const STRIKES: u8 = 2;
/// How long an address is ignored.
pub const BAN: Duration = Duration::from_secs(60 * 60);
/// Addresses with strikes or bans remembered at most; past that the oldest
/// entry goes.
pub const MAX_REMEMBERED: usize = 1_024;

/// Strikes and bans, per address.
#[derive(Debug, Default, Clone)]
pub struct Liars {
    /// Strikes and when the last was given.
    strikes: BTreeMap<IpAddr, (u8, Time)>,
    /// Until when each banned address is ignored.
    banned: BTreeMap<IpAddr, Time>,
}

impl Liars {
    /// A strike for `ip`; true when it is now banned.
    pub fn strike(&mut self, ip: IpAddr, now: Time) -> bool {
        forget_oldest(&mut self.strikes, |(_, at)| *at, ip);
        let s = self.strikes.entry(ip).or_insert((0, now));
        s.0 = s.0.saturating_add(1);
        s.1 = now;
        if s.0 < STRIKES {
            return false;
        }
        self.strikes.remove(&ip);
        forget_oldest(&mut self.banned, |until| *until, ip);
        self.banned.insert(ip, now + BAN);
        true
    }

    /// Whether `ip` is ignored at `now`.
    pub fn banned(&self, ip: IpAddr, now: Time) -> bool {
        self.banned.get(&ip).is_some_and(|until| now < *until)
    }

    /// Addresses banned now.
    pub fn count(&self, now: Time) -> usize {
        self.banned.values().filter(|u| now < **u).count()
    }
}

/// Makes room for `ip` in `m` by dropping the entry with the smallest `at`.
fn forget_oldest<V>(m: &mut BTreeMap<IpAddr, V>, at: impl Fn(&V) -> Time, ip: IpAddr) {
    if m.len() < MAX_REMEMBERED || m.contains_key(&ip) {
        return;
    }
    if let Some(old) = m.iter().min_by_key(|(_, v)| at(v)).map(|(k, _)| *k) {
        m.remove(&old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banned_at_the_second_strike_for_an_hour_and_bounded() {
        let mut l = Liars::default();
        let ip = IpAddr::from([203, 0, 113, 1]);
        assert!(!l.strike(ip, Time::ZERO));
        assert!(!l.banned(ip, Time::ZERO));
        assert!(l.strike(ip, Time::from_secs(10)));
        assert!(l.banned(ip, Time::from_secs(20)));
        assert!(!l.banned(ip, Time::from_secs(10 + 3600)));
        for i in 0..5_000u32 {
            l.strike(IpAddr::from(i.to_be_bytes()), Time::from_secs(u64::from(i)));
        }
        assert!(l.strikes.len() <= MAX_REMEMBERED && l.banned.len() <= MAX_REMEMBERED);
    }
}
