//! One recurring maintenance window and its openings. A window is written in local wall-clock
//! time ("02:00 for 2h, Europe/Berlin"): it opens at the local start and closes at the local
//! start plus the length, both read in the window's time zone by `jiff` with its "compatible"
//! rule. So on a daylight-saving change the wall clock wins: a 02:00–04:00 window on the
//! spring-forward night (02:00 does not exist) runs 03:00–04:00, one hour; on the fall-back
//! night it runs from the first 02:00 to 04:00, three hours.

use super::Recurrence;
use crate::domain::{DeviceName, Zone};
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::Serialize;
use std::time::Duration;

/// A window checked at load.
#[derive(Debug, Clone)]
pub struct WindowSpec {
    /// Unique among the windows; named in refusals and the audit.
    pub name: String,
    /// The zone whose devices it covers (with `device`: that device only, if in the zone).
    pub zone: Option<Zone>,
    /// The device it covers.
    pub device: Option<DeviceName>,
    pub every: Recurrence,
    /// Local start time, in `tz`.
    pub start: Time,
    /// Length in wall-clock time: at least a minute, at most [`Recurrence::longest`].
    pub length: Duration,
    /// An IANA time zone (`Europe/Berlin`).
    pub tz: TimeZone,
    /// `tz`'s name as written.
    pub tz_name: String,
}

/// One opening of a window, in Unix seconds with the text people read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Opening {
    pub window: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub time_zone: String,
    /// `Tue 2027-03-30 02:00 CEST` in the window's zone.
    pub local_start: String,
    /// `04:00 CEST`, with the date when it differs from the start's.
    pub local_end: String,
}

impl Opening {
    /// One line naming the opening in its zone and in UTC.
    pub fn describe(&self) -> String {
        format!(
            "{} from {} to {} ({}), {} to {} UTC",
            self.window,
            self.local_start,
            self.local_end,
            self.time_zone,
            utc(self.starts_at, "%Y-%m-%d %H:%M"),
            utc(self.ends_at, if same_utc_day(self.starts_at, self.ends_at) { "%H:%M" } else { "%Y-%m-%d %H:%M" }),
        )
    }

    /// The local end time alone (`04:00 CEST`), for "inside window X until …".
    pub fn until(&self) -> String {
        let words: Vec<&str> = self.local_end.split(' ').collect();
        words[words.len().saturating_sub(2)..].join(" ")
    }
}

impl WindowSpec {
    /// Whether it covers a device named `device` in `zone`.
    pub fn covers(&self, device: &DeviceName, zone: &Zone) -> bool {
        self.zone.as_ref().is_none_or(|z| z == zone) && self.device.as_ref().is_none_or(|d| d == device) && (self.zone.is_some() || self.device.is_some())
    }

    /// The opening that is running at `now` (Unix seconds) or, if none, the next one.
    pub fn current_or_next(&self, now: i64) -> Option<Opening> {
        if let Recurrence::Once(day) = self.every {
            return self.opening_on(day).filter(|o| o.ends_at > now);
        }
        let today = Timestamp::from_second(now).ok()?.to_zoned_datetime(self.tz.clone()).date();
        // Start a week back (a long window opened days ago may still run) and look two months
        // ahead (a monthly window opens within five weeks).
        let mut day = today.checked_sub(Span::new().days(8)).ok()?;
        for _ in 0..72 {
            if self.every.matches(day) {
                if let Some(o) = self.opening_on(day) {
                    if o.ends_at > now {
                        return Some(o);
                    }
                }
            }
            day = day.tomorrow().ok()?;
        }
        None
    }

    /// The opening that starts on local date `day`.
    pub fn opening_on(&self, day: Date) -> Option<Opening> {
        let start_local = day.to_datetime(self.start);
        let length = Span::new().seconds(i64::try_from(self.length.as_secs()).ok()?);
        let end_local = start_local.checked_add(length).ok()?;
        let start = start_local.to_zoned_datetime(self.tz.clone()).ok()?;
        let end = end_local.to_zoned_datetime(self.tz.clone()).ok()?;
        let end_fmt = if end.date() == start.date() { "%H:%M %Z" } else { "%a %Y-%m-%d %H:%M %Z" };
        Some(Opening {
            window: self.name.clone(),
            starts_at: start.timestamp().as_second(),
            ends_at: end.timestamp().as_second(),
            time_zone: self.tz_name.clone(),
            local_start: start.strftime("%a %Y-%m-%d %H:%M %Z").to_string(),
            local_end: end.strftime(end_fmt).to_string(),
        })
    }

    /// `Tuesdays 02:00 for 2h (Europe/Berlin)`.
    pub fn describe(&self) -> String {
        format!("{} {} for {} ({})", self.every, self.start.strftime("%H:%M"), humantime::format_duration(self.length), self.tz_name)
    }
}

fn utc(t: i64, fmt: &str) -> String {
    Timestamp::from_second(t).map(|t| t.strftime(fmt).to_string()).unwrap_or_default()
}

fn same_utc_day(a: i64, b: i64) -> bool {
    utc(a, "%Y-%m-%d") == utc(b, "%Y-%m-%d")
}
