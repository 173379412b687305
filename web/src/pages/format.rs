//! How times and durations read on the pages: UTC times to the minute, and short durations
//! ("1 h 30 min", "45 s") for waits, windows and time left.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An RFC 3339 time as `2026-11-29 11:30 UTC` (the input itself if it does not parse).
pub fn utc(rfc3339: &str) -> String {
    match OffsetDateTime::parse(rfc3339, &Rfc3339) {
        Ok(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
        }
        Err(_) => rfc3339.to_owned(),
    }
}

/// An RFC 3339 time as `2026-11-29 11:30:59 UTC`, for rows where the second matters (the
/// audit log); any other text is returned as it is.
pub fn utc_seconds_if_time(text: &str) -> String {
    match OffsetDateTime::parse(text, &Rfc3339) {
        Ok(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second())
        }
        Err(_) => text.to_owned(),
    }
}

/// Unix seconds as `2026-11-29 11:30:59 UTC`; `None` if out of range.
pub fn unix_seconds(secs: i64) -> Option<String> {
    let t = OffsetDateTime::from_unix_timestamp(secs).ok()?;
    Some(format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second()))
}

/// A duration in seconds, short: `45 s`, `12 min`, `2 h 5 min`, `3 d 4 h`.
pub fn secs(s: i64) -> String {
    let s = s.max(0);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => match (s / 3600, (s % 3600) / 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
        _ => match (s / 86_400, (s % 86_400) / 3600) {
            (d, 0) => format!("{d} d"),
            (d, h) => format!("{d} d {h} h"),
        },
    }
}

/// A number of minutes, short.
pub fn minutes(m: i64) -> String {
    secs(m.saturating_mul(60))
}

/// Whether an RFC 3339 time is after `now` (Unix seconds); unreadable times count as past.
pub fn ends_after(rfc3339: &str, now: i64) -> bool {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).is_ok_and(|t| t.unix_timestamp() > now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_short() {
        assert_eq!(secs(-3), "0 s");
        assert_eq!(secs(45), "45 s");
        assert_eq!(secs(61), "1 min");
        assert_eq!(minutes(90), "1 h 30 min");
        assert_eq!(minutes(120), "2 h");
        assert_eq!(secs(90_000), "1 d 1 h");
    }

    #[test]
    fn times_read_in_utc() {
        assert_eq!(utc("2026-11-29T11:30:59Z"), "2026-11-29 11:30 UTC");
        assert_eq!(utc("2026-11-29T12:30:00+01:00"), "2026-11-29 11:30 UTC");
        assert_eq!(utc("garbage"), "garbage");
        assert_eq!(utc_seconds_if_time("2026-11-29T12:30:59.9+01:00"), "2026-11-29 11:30:59 UTC");
        assert_eq!(utc_seconds_if_time("pump-12"), "pump-12");
    }
}
