use super::*;

fn t(s: &str) -> ClockTime {
    ClockTime::try_from(s.to_owned()).expect(s)
}

fn sched(from: &str, to: &str, days: ScheduleDays) -> Schedule {
    Schedule {
        from: t(from),
        to: t(to),
        days,
    }
}

const MON: u8 = 0;
const FRI: u8 = 4;
const SAT: u8 = 5;
const SUN: u8 = 6;

fn at(s: &str) -> u16 {
    let c = t(s);
    c.hour() * 60 + c.minute()
}

#[test]
fn clock_times_read_and_write_as_hh_mm() {
    assert_eq!(t("08:05").to_string(), "08:05");
    assert_eq!(t("8:05").to_string(), "08:05");
    assert_eq!(t(" 23:59 ").to_string(), "23:59");
    assert_eq!(t("00:00"), ClockTime::new(0, 0).unwrap());
    for bad in [
        "24:00", "12:60", "12", "12:5", "+1:00", "1:+5", "", "a:bc", "123:00",
    ] {
        let e = ClockTime::try_from(bad.to_owned()).unwrap_err();
        assert!(e.contains("HH:MM"), "{bad}: {e}");
    }
    let json = serde_json::to_string(&t("07:30")).unwrap();
    assert_eq!(json, "\"07:30\"");
    assert!(serde_json::from_str::<ClockTime>("\"25:00\"").is_err());
}

#[test]
fn days_match_qbittorrents_numbers() {
    assert_eq!(ScheduleDays::from_qbit(0), Some(ScheduleDays::EveryDay));
    assert_eq!(ScheduleDays::from_qbit(1), Some(ScheduleDays::Weekdays));
    assert_eq!(ScheduleDays::from_qbit(2), Some(ScheduleDays::Weekends));
    assert_eq!(ScheduleDays::from_qbit(3), Some(ScheduleDays::Monday));
    assert_eq!(ScheduleDays::from_qbit(9), Some(ScheduleDays::Sunday));
    assert_eq!(ScheduleDays::from_qbit(10), None);
    assert_eq!(ScheduleDays::from_qbit(-1), None);
    for n in 0..10 {
        assert_eq!(i64::from(ScheduleDays::from_qbit(n).unwrap().qbit()), n);
    }
    assert!(ScheduleDays::Weekdays.includes(FRI) && !ScheduleDays::Weekdays.includes(SAT));
    assert!(ScheduleDays::Weekends.includes(SUN) && !ScheduleDays::Weekends.includes(MON));
    assert!(ScheduleDays::Saturday.includes(SAT) && !ScheduleDays::Saturday.includes(SUN));
}

#[test]
fn a_daytime_window_holds_from_its_start_to_before_its_end_on_its_days() {
    let s = sched("08:00", "20:00", ScheduleDays::Weekdays);
    assert!(!s.holds(MON, at("07:59")));
    assert!(s.holds(MON, at("08:00")));
    assert!(s.holds(FRI, at("19:59")));
    assert!(!s.holds(FRI, at("20:00")));
    assert!(!s.holds(SAT, at("12:00")));
}

#[test]
fn a_window_past_midnight_belongs_to_the_day_it_opens_on() {
    // Friday night only: 22:00 Friday to 06:00 Saturday.
    let s = sched("22:00", "06:00", ScheduleDays::Friday);
    assert!(s.holds(FRI, at("22:00")));
    assert!(s.holds(FRI, at("23:59")));
    assert!(s.holds(SAT, at("00:00")));
    assert!(s.holds(SAT, at("05:59")));
    assert!(!s.holds(SAT, at("06:00")));
    assert!(!s.holds(SAT, at("22:30")), "Saturday night is not Friday's");
    assert!(
        !s.holds(FRI, at("03:00")),
        "Friday's small hours are Thursday's night"
    );
    // Sunday night runs into Monday (the week wraps).
    let s = sched("23:00", "01:00", ScheduleDays::Sunday);
    assert!(s.holds(MON, at("00:30")));
}

#[test]
fn equal_ends_are_the_whole_day() {
    let s = sched("00:00", "00:00", ScheduleDays::Weekends);
    assert!(s.holds(SAT, 0) && s.holds(SUN, at("23:59")));
    assert!(!s.holds(MON, at("12:00")));
}

#[test]
fn the_follower_switches_at_edges_and_lets_a_hand_switch_stand_between_them() {
    let s = Some(sched("08:00", "20:00", ScheduleDays::EveryDay));
    let mut f = Follower::default();
    // Turned on inside the window: on at once.
    assert_eq!(f.step(s, MON, at("09:00")), Some(true));
    // Nothing more while inside (a switch by hand stands).
    assert_eq!(f.step(s, MON, at("09:01")), None);
    assert_eq!(f.step(s, MON, at("19:59")), None);
    // Leaving: off.
    assert_eq!(f.step(s, MON, at("20:00")), Some(false));
    assert_eq!(f.step(s, MON, at("23:00")), None);
    // Entering the next morning: on.
    assert_eq!(f.step(s, FRI, at("08:00")), Some(true));
    // A changed window is looked at again at once.
    let later = Some(sched("12:00", "13:00", ScheduleDays::EveryDay));
    assert_eq!(f.step(later, FRI, at("08:01")), Some(false));
    // Off: nothing, and on again it decides afresh.
    assert_eq!(f.step(None, FRI, at("12:30")), None);
    assert_eq!(f.step(later, FRI, at("12:30")), Some(true));
}
