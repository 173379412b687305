//! Openings across daylight-saving changes (Europe/Berlin spring forward and fall back 2027,
//! America/New_York), monthly rules and how a device's several windows combine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::config::{MaintenanceConfig, WindowEntry};
use jiff::civil::date;
use jiff::tz::TimeZone;

fn entry(name: &str, zone: Option<&str>, device: Option<&str>, every: &str, start: &str, duration: &str, tz: &str) -> WindowEntry {
    WindowEntry {
        name: name.into(),
        zone: zone.map(Into::into),
        device: device.map(Into::into),
        every: every.into(),
        start: start.into(),
        duration: duration.into(),
        time_zone: tz.into(),
    }
}

fn windows(entries: Vec<WindowEntry>) -> Windows {
    MaintenanceConfig { windows: entries }.windows().unwrap()
}

/// Unix seconds of a wall-clock time in `tz`.
fn at(tz: &str, y: i16, m: i8, d: i8, h: i8, min: i8) -> i64 {
    date(y, m, d).at(h, min, 0, 0).to_zoned_datetime(TimeZone::get(tz).unwrap()).unwrap().timestamp().as_second()
}

/// Unix seconds of a UTC time.
fn utc(y: i16, m: i8, d: i8, h: i8, min: i8) -> i64 {
    at("UTC", y, m, d, h, min)
}

fn one(every: &str, start: &str, duration: &str, tz: &str) -> WindowSpec {
    windows(vec![entry("w", Some("icu"), None, every, start, duration, tz)]).all()[0].clone()
}

#[test]
fn berlin_spring_forward_window_runs_from_three_to_four() {
    // 2027-03-28: at 02:00 CET the clocks jump to 03:00 CEST; 02:00 local does not exist.
    let w = one("sunday", "02:00", "2h", "Europe/Berlin");
    let o = w.opening_on(date(2027, 3, 28)).unwrap();
    assert_eq!(o.starts_at, utc(2027, 3, 28, 1, 0), "opens at 03:00 CEST = 01:00 UTC");
    assert_eq!(o.ends_at, utc(2027, 3, 28, 2, 0), "closes at 04:00 CEST = 02:00 UTC");
    assert_eq!(o.ends_at - o.starts_at, 3600, "one hour that night");
    assert_eq!(o.local_start, "Sun 2027-03-28 03:00 CEST");
    assert_eq!(o.local_end, "04:00 CEST");
    // The Sunday before is a plain two hours in CET.
    let before = w.opening_on(date(2027, 3, 21)).unwrap();
    assert_eq!((before.starts_at, before.ends_at - before.starts_at), (utc(2027, 3, 21, 1, 0), 7200));
    // Asked on the Saturday evening, the next opening is that short one.
    let next = w.current_or_next(utc(2027, 3, 27, 20, 0)).unwrap();
    assert_eq!(next, o);
}

#[test]
fn berlin_fall_back_window_runs_three_hours() {
    // 2027-10-31: at 03:00 CEST the clocks go back to 02:00 CET; 02:00 happens twice.
    let w = one("sunday", "02:00", "2h", "Europe/Berlin");
    let o = w.opening_on(date(2027, 10, 31)).unwrap();
    assert_eq!(o.starts_at, utc(2027, 10, 31, 0, 0), "opens at the first 02:00 (CEST)");
    assert_eq!(o.ends_at, utc(2027, 10, 31, 3, 0), "closes at 04:00 CET");
    assert_eq!(o.ends_at - o.starts_at, 3 * 3600);
    assert_eq!((o.local_start.as_str(), o.local_end.as_str()), ("Sun 2027-10-31 02:00 CEST", "04:00 CET"));
    // Inside it during the repeated hour, the window is open until 04:00 CET.
    let status = windows(vec![entry("night", Some("icu"), None, "sunday", "02:00", "2h", "Europe/Berlin")])
        .status(&"pump-1".parse().unwrap(), &"icu".parse().unwrap(), utc(2027, 10, 31, 1, 30));
    match status {
        WindowStatus::Inside(o) => assert_eq!((o.window.as_str(), o.until()), ("night", "04:00 CET".to_owned())),
        other => panic!("{other:?}"),
    }
}

#[test]
fn new_york_changes_on_its_own_dates() {
    // 2027-03-14 in the US (two weeks before Europe): 02:00 EST jumps to 03:00 EDT.
    let w = one("day", "01:30", "90m", "America/New_York");
    let spring = w.opening_on(date(2027, 3, 14)).unwrap();
    assert_eq!(spring.starts_at, utc(2027, 3, 14, 6, 30), "01:30 EST");
    assert_eq!(spring.ends_at, utc(2027, 3, 14, 7, 0), "03:00 EDT: 30 minutes that night");
    let fall = w.opening_on(date(2027, 11, 7)).unwrap();
    assert_eq!(fall.starts_at, utc(2027, 11, 7, 5, 30), "the first 01:30 (EDT)");
    assert_eq!(fall.ends_at, utc(2027, 11, 7, 8, 0), "03:00 EST: two and a half hours");
    // On the European change night New York is unchanged.
    let plain = w.opening_on(date(2027, 3, 28)).unwrap();
    assert_eq!(plain.ends_at - plain.starts_at, 90 * 60);
}

#[test]
fn first_sunday_of_the_month_and_a_window_over_midnight() {
    let w = one("first sunday of the month", "06:00", "4h", "Europe/Berlin");
    // After the March opening, the next is 4 April 2027, in summer time.
    let next = w.current_or_next(utc(2027, 3, 7, 10, 0)).unwrap();
    assert_eq!((next.starts_at, next.ends_at), (at("Europe/Berlin", 2027, 4, 4, 6, 0), at("Europe/Berlin", 2027, 4, 4, 10, 0)));
    assert_eq!(next.describe(), "w from Sun 2027-04-04 06:00 CEST to 10:00 CEST (Europe/Berlin), 2027-04-04 04:00 to 08:00 UTC");
    // A Tuesday window from 22:00 for 4 hours is still open at 01:00 on Wednesday.
    let late = one("tuesday", "22:00", "4h", "Europe/Berlin");
    let o = late.current_or_next(at("Europe/Berlin", 2027, 6, 2, 1, 0)).unwrap();
    assert_eq!(o.starts_at, at("Europe/Berlin", 2027, 6, 1, 22, 0));
    assert_eq!(o.local_end, "Wed 2027-06-02 02:00 CEST");
}

#[test]
fn a_device_stands_against_all_its_windows() {
    let ws = windows(vec![
        entry("zone-tue", Some("icu"), None, "tuesday", "02:00", "2h", "Europe/Berlin"),
        entry("pump-thu", None, Some("pump-1"), "thursday", "02:00", "2h", "Europe/Berlin"),
        entry("lab-only", Some("lab"), Some("pump-1"), "day", "00:00", "24h", "UTC"),
    ]);
    let (pump, other, icu) = ("pump-1".parse().unwrap(), "vent-2".parse().unwrap(), "icu".parse().unwrap());
    assert_eq!(ws.covering(&pump, &icu).map(|w| w.name.as_str()).collect::<Vec<_>>(), ["zone-tue", "pump-thu"]);
    assert_eq!(ws.status(&other, &"ward".parse().unwrap(), 0), WindowStatus::Unrestricted);
    // Wednesday noon: the Thursday device window opens before the next Tuesday.
    let wed = at("Europe/Berlin", 2027, 6, 2, 12, 0);
    match ws.status(&pump, &icu, wed) {
        WindowStatus::Outside(Some(o)) => assert_eq!((o.window.as_str(), o.starts_at), ("pump-thu", at("Europe/Berlin", 2027, 6, 3, 2, 0))),
        other => panic!("{other:?}"),
    }
    match ws.status(&other, &icu, wed) {
        WindowStatus::Outside(Some(o)) => assert_eq!(o.window, "zone-tue"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_entries_are_refused_naming_them() {
    let cases = [
        (entry("a", Some("icu"), None, "fortnightly", "02:00", "2h", "Europe/Berlin"), "fortnightly"),
        (entry("b", Some("ICU!"), None, "day", "02:00", "2h", "Europe/Berlin"), "zone"),
        (entry("c", None, None, "day", "02:00", "2h", "Europe/Berlin"), "a zone, a device or both"),
        (entry("d", Some("icu"), None, "day", "25:00", "2h", "Europe/Berlin"), "time of day"),
        (entry("e", Some("icu"), None, "day", "02:00", "0s", "Europe/Berlin"), "at least a minute"),
        (entry("f", Some("icu"), None, "day", "02:00", "25h", "Europe/Berlin"), "at most 1day"),
        (entry("g", Some("icu"), None, "sunday", "02:00", "8days", "Europe/Berlin"), "at most 7days"),
        (entry("h", Some("icu"), None, "day", "02:00", "2h", "Europe/Berlinn"), "IANA"),
        (entry("i", Some("icu"), None, "day", "02:00", "2h", "CEST"), "IANA"),
    ];
    for (e, says) in cases {
        let name = e.name.clone();
        let err = MaintenanceConfig { windows: vec![e] }.windows().unwrap_err().to_string();
        assert!(err.contains(&format!("({name:?})")) && err.contains(says), "{name}: {err}");
    }
    let twice = MaintenanceConfig { windows: vec![entry("x", Some("icu"), None, "day", "02:00", "2h", "UTC"), entry("x", Some("lab"), None, "day", "02:00", "2h", "UTC")] };
    assert!(twice.windows().unwrap_err().to_string().contains("used twice"));
}

#[test]
fn a_dated_window_opens_once_however_far_ahead() {
    // Agreed months ahead for the night the clocks go forward.
    let ws = windows(vec![entry("firmware", None, Some("pump-1"), "2027-03-28", "02:00", "2h", "Europe/Berlin")]);
    let (pump, icu) = ("pump-1".parse().unwrap(), "icu".parse().unwrap());
    match ws.status(&pump, &icu, utc(2026, 12, 1, 12, 0)) {
        WindowStatus::Outside(Some(o)) => assert_eq!((o.starts_at, o.ends_at, o.local_start.as_str()), (utc(2027, 3, 28, 1, 0), utc(2027, 3, 28, 2, 0), "Sun 2027-03-28 03:00 CEST")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(ws.status(&pump, &icu, utc(2027, 3, 28, 1, 30)), WindowStatus::Inside(_)));
    let after = ws.status(&pump, &icu, utc(2027, 3, 28, 2, 0));
    assert_eq!(after, WindowStatus::Outside(None), "over: the device stays closed");
    assert_eq!(after.describe(), "outside its maintenance windows; none is due to open");
}
