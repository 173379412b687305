//! Wall-clock helpers. All times in the store are Unix seconds (`i64`), so both database
//! back ends hold them the same way; the audit log keeps milliseconds for ordering by eye.

use time::OffsetDateTime;

/// Current time in Unix seconds.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    let t = OffsetDateTime::now_utc();
    t.unix_timestamp() * 1000 + i64::from(t.millisecond())
}

/// Formats Unix seconds as RFC 3339 (UTC); falls back to the number when out of range.
pub fn rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// Formats Unix milliseconds as RFC 3339 with milliseconds (UTC).
pub fn rfc3339_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_ms(1_500), "1970-01-01T00:00:01.5Z");
        assert!(now_ms() / 1000 >= now() - 1);
    }
}
