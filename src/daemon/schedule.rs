//! Alternative speed limits on a timetable: the days and the hours of local
//! time in which the daemon runs on its alternative limits (a seedbox that
//! leaves the line to its owner in the evening, say).
//!
//! The timetable decides only at its edges: when the clock enters or leaves
//! the window (or the schedule is turned on or changed), the alternative
//! limits are switched to match. A switch by hand in between (the web page's
//! button, qBittorrent's `toggleSpeedLimitsMode`) holds until the next edge,
//! as in qBittorrent. Turning the schedule off leaves the limits as they are.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::admin::change_settings_by;
use super::api::Shared;
use super::settings::SettingsPatch;

/// A time of day, minutes since midnight, written `HH:MM` (00:00 to 23:59).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClockTime(u16);

impl ClockTime {
    /// `hour`:`minute`, if both are on the clock.
    pub fn new(hour: u16, minute: u16) -> Option<ClockTime> {
        (hour < 24 && minute < 60).then_some(ClockTime(hour * 60 + minute))
    }

    /// Hours past midnight.
    pub fn hour(self) -> u16 {
        self.0 / 60
    }

    /// Minutes past the hour.
    pub fn minute(self) -> u16 {
        self.0 % 60
    }
}

impl TryFrom<String> for ClockTime {
    type Error = String;

    fn try_from(s: String) -> Result<ClockTime, String> {
        let bad = || format!("{s:?} is not a time of day (HH:MM, 00:00 to 23:59)");
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if !(1..=2).contains(&h.len()) || m.len() != 2 || !digits(h) || !digits(m) {
            return Err(bad());
        }
        let (Ok(h), Ok(m)) = (h.parse(), m.parse()) else {
            return Err(bad());
        };
        ClockTime::new(h, m).ok_or_else(bad)
    }
}

impl From<ClockTime> for String {
    fn from(t: ClockTime) -> String {
        t.to_string()
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())
    }
}

/// The days a schedule's window opens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleDays {
    /// Every day.
    EveryDay,
    /// Monday to Friday.
    Weekdays,
    /// Saturday and Sunday.
    Weekends,
    /// One day of the week.
    Monday,
    /// One day of the week.
    Tuesday,
    /// One day of the week.
    Wednesday,
    /// One day of the week.
    Thursday,
    /// One day of the week.
    Friday,
    /// One day of the week.
    Saturday,
    /// One day of the week.
    Sunday,
}

/// qBittorrent's `scheduler_days` numbers, in order from 0.
const QBIT_DAYS: [ScheduleDays; 10] = [
    ScheduleDays::EveryDay,
    ScheduleDays::Weekdays,
    ScheduleDays::Weekends,
    ScheduleDays::Monday,
    ScheduleDays::Tuesday,
    ScheduleDays::Wednesday,
    ScheduleDays::Thursday,
    ScheduleDays::Friday,
    ScheduleDays::Saturday,
    ScheduleDays::Sunday,
];

impl ScheduleDays {
    /// Whether the window opens on `weekday` (0 Monday to 6 Sunday).
    pub fn includes(self, weekday: u8) -> bool {
        match self {
            ScheduleDays::EveryDay => true,
            ScheduleDays::Weekdays => weekday < 5,
            ScheduleDays::Weekends => weekday >= 5,
            one => QBIT_DAYS[3 + usize::from(weekday % 7)] == one,
        }
    }

    /// qBittorrent's number for these days (`scheduler_days`).
    pub fn qbit(self) -> u8 {
        let i = QBIT_DAYS.iter().position(|d| *d == self).unwrap_or(0);
        u8::try_from(i).unwrap_or(0)
    }

    /// The days qBittorrent's number names, if it names any.
    pub fn from_qbit(n: i64) -> Option<ScheduleDays> {
        QBIT_DAYS.get(usize::try_from(n).ok()?).copied()
    }
}

/// When the alternative limits are in force: from `from` to `to` (past
/// midnight if `to` comes first; the whole day if they are equal) on the
/// days `days` names. A window past midnight belongs to the day it opens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The window opens.
    pub from: ClockTime,
    /// The window closes (the minute itself is outside).
    pub to: ClockTime,
    /// The days it opens on.
    pub days: ScheduleDays,
}

impl Schedule {
    /// Whether the window holds minute `minute` of `weekday` (0 Monday).
    pub fn holds(&self, weekday: u8, minute: u16) -> bool {
        let (from, to) = (self.from.0, self.to.0);
        let yesterday = (weekday + 6) % 7;
        if from == to {
            self.days.includes(weekday)
        } else if from < to {
            self.days.includes(weekday) && from <= minute && minute < to
        } else {
            (minute >= from && self.days.includes(weekday))
                || (minute < to && self.days.includes(yesterday))
        }
    }
}

/// Follows a schedule's edges (the policy above, without a clock: the local
/// time is passed in).
#[derive(Debug, Default)]
pub struct Follower {
    /// The schedule last looked at, and whether its window held then.
    last: Option<(Schedule, bool)>,
}

impl Follower {
    /// Looks at `schedule` (`None`: off) at minute `minute` of `weekday`:
    /// `Some(on)` when the alternative limits should be switched to `on` (the
    /// window was entered or left, or the schedule was turned on or changed),
    /// `None` when a switch by hand stands.
    pub fn step(&mut self, schedule: Option<Schedule>, weekday: u8, minute: u16) -> Option<bool> {
        let Some(s) = schedule else {
            self.last = None;
            return None;
        };
        let inside = s.holds(weekday, minute);
        if self.last == Some((s, inside)) {
            return None;
        }
        self.last = Some((s, inside));
        Some(inside)
    }
}

/// The local day of the week (0 Monday) and minute of the day, in the
/// system's time zone (`TZ`, else `/etc/localtime`; UTC if neither is set).
fn local_now() -> (u8, u16) {
    let now = jiff::ZonedDateTime::now();
    let day = u8::try_from(now.weekday().to_monday_zero_offset()).unwrap_or(0);
    let hour = u16::try_from(now.hour()).unwrap_or(0);
    let minute = u16::try_from(now.minute()).unwrap_or(0);
    (day, hour * 60 + minute)
}

/// Every second: the schedule in the settings followed, the alternative
/// limits switched at its edges (and the switch saved like any setting, so a
/// restart keeps it until the next edge).
pub async fn follow(app: Shared) {
    let mut follower = Follower::default();
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let (schedule, on_now) = {
            let s = app
                .settings
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (s.schedule(), s.alt_limits)
        };
        let (day, minute) = local_now();
        let Some(on) = follower.step(schedule, day, minute) else {
            continue;
        };
        if on == on_now {
            continue;
        }
        let patch = SettingsPatch {
            alt_limits: Some(on),
            ..SettingsPatch::default()
        };
        match change_settings_by(&app, patch, "the schedule").await {
            Ok(_) => tracing::info!(
                on,
                "schedule: alternative speed limits {}",
                if on { "on" } else { "off" }
            ),
            // Said once; the next edge tries again.
            Err(e) => {
                tracing::warn!(error = %e.detail, "schedule: alternative speed limits not switched")
            }
        }
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
