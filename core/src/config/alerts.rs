//! The `[alerts]` section: the six alert rules with their thresholds, and the table that turns
//! a device's criticality and zone into an alert's severity. Every rule can be switched off
//! (`false`, or a threshold of 0); everything is checked at load and a bad value is refused
//! with the key named. The section is read from the file only (no environment overrides).

use super::{ConfigError, Dur};
use crate::domain::{AlertSeverity, Criticality, Zone};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Alert rules and severities.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Rule 1: a session starts on a device that has maintenance windows while none is open.
    pub outside_window: bool,
    /// Rule 2: bytes one session may move (both directions, all channels) before it alerts
    /// once; 0 turns the rule off.
    pub bytes_per_session: u64,
    /// Rule 3: refused channels or tunnels of one session (or, before a session, one vendor)
    /// within `refusal_window` that alert; 0 turns the rule off.
    pub refusal_burst: u32,
    pub refusal_window: Dur,
    /// Rule 4: a vendor signs in from a source address the account never used before (the
    /// first sign-in of an account only records its address).
    pub new_source: bool,
    /// Rule 5: a session starts outside `working_days` / `working_hours` in `time_zone`.
    pub unusual_hours: bool,
    /// `HH:MM-HH:MM`, local time; the end is exclusive; an end before the start runs overnight
    /// (`19:00-07:00`, counted on the day it starts).
    pub working_hours: String,
    /// Weekdays in English (`monday` … `sunday`).
    pub working_days: Vec<String>,
    /// IANA time zone of the working hours.
    pub time_zone: String,
    /// Rule 6: wrong TOTP codes for one account within `failed_codes_window` that alert; 0
    /// turns the rule off.
    pub failed_codes: u32,
    pub failed_codes_window: Dur,
    /// Most keys (sessions, vendors, accounts) each burst counter tracks at once; when full,
    /// the key seen least recently is forgotten. Bounds memory under a flood.
    pub max_tracked: usize,
    /// Severity of an alert by the criticality of its device.
    pub severity: SeverityTable,
    /// Severity floors per zone: a device in a listed zone alerts at least at that severity.
    pub zones: BTreeMap<String, AlertSeverity>,
    /// Severity of an alert about no device (a sign-in, wrong codes).
    pub no_device: AlertSeverity,
    /// Least severity sent to the approvers' notification channels; `off` sends none.
    pub notify: NotifyLevel,
    /// The working hours, checked (filled at load; not a file key).
    #[serde(skip)]
    pub hours: Option<WorkingHours>,
}

/// `[alerts.severity]`: criticality → severity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeverityTable {
    #[serde(rename = "life-critical")]
    pub life_critical: AlertSeverity,
    pub high: AlertSeverity,
    pub standard: AlertSeverity,
}

impl Default for SeverityTable {
    fn default() -> Self {
        Self { life_critical: AlertSeverity::Critical, high: AlertSeverity::High, standard: AlertSeverity::Medium }
    }
}

/// Which alerts reach the approvers' notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum NotifyLevel {
    /// None.
    Off,
    /// This severity and the more urgent ones.
    AtLeast(AlertSeverity),
}

impl TryFrom<String> for NotifyLevel {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s == "off" {
            return Ok(NotifyLevel::Off);
        }
        AlertSeverity::parse(&s).map(NotifyLevel::AtLeast).map_err(|e| format!("{} or \"off\"", e.0))
    }
}

impl NotifyLevel {
    /// Whether an alert of `severity` is sent.
    pub fn sends(self, severity: AlertSeverity) -> bool {
        match self {
            NotifyLevel::Off => false,
            NotifyLevel::AtLeast(min) => severity.rank() <= min.rank(),
        }
    }
}

/// Checked working hours.
#[derive(Debug, Clone)]
pub struct WorkingHours {
    pub start: jiff::civil::Time,
    pub end: jiff::civil::Time,
    pub days: Vec<jiff::civil::Weekday>,
    pub tz: jiff::tz::TimeZone,
}

impl WorkingHours {
    /// Whether Unix second `at` falls inside the working hours.
    pub fn contains(&self, at: i64) -> bool {
        let Ok(ts) = jiff::Timestamp::from_second(at) else { return true };
        let local = ts.to_zoned_datetime(self.tz.clone());
        let time = local.time();
        if self.start < self.end {
            return self.days.contains(&local.weekday()) && time >= self.start && time < self.end;
        }
        // Overnight hours (`19:00-07:00`) belong to the day they start on.
        if time >= self.start {
            self.days.contains(&local.weekday())
        } else {
            time < self.end && self.days.contains(&local.weekday().previous())
        }
    }

    /// The local time of `at`, for the alert's detail (`2026-12-01T03:12:00+01:00[Europe/Berlin]`).
    pub fn local(&self, at: i64) -> String {
        jiff::Timestamp::from_second(at).map(|ts| ts.to_zoned_datetime(self.tz.clone()).to_string()).unwrap_or_default()
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            outside_window: true,
            bytes_per_session: 1 << 30,
            refusal_burst: 10,
            refusal_window: Dur(Duration::from_secs(60)),
            new_source: true,
            unusual_hours: true,
            working_hours: "07:00-19:00".into(),
            working_days: ["monday", "tuesday", "wednesday", "thursday", "friday"].map(String::from).to_vec(),
            time_zone: "UTC".into(),
            failed_codes: 5,
            failed_codes_window: Dur(Duration::from_secs(600)),
            max_tracked: 10_000,
            severity: SeverityTable::default(),
            zones: BTreeMap::new(),
            no_device: AlertSeverity::Medium,
            notify: NotifyLevel::AtLeast(AlertSeverity::High),
            hours: None,
        }
    }
}

impl AlertsConfig {
    /// Checks every key and fills [`AlertsConfig::hours`].
    pub fn check(&mut self) -> Result<(), ConfigError> {
        let bad = |m: String| ConfigError::Invalid(format!("alerts.{m}"));
        for zone in self.zones.keys() {
            Zone::parse(zone).map_err(|e| bad(format!("zones: {}", e.0)))?;
        }
        if self.refusal_burst == 1 || self.failed_codes == 1 {
            return Err(bad("refusal_burst and failed_codes count a burst: 0 (off) or at least 2".into()));
        }
        for (key, d) in [("refusal_window", self.refusal_window), ("failed_codes_window", self.failed_codes_window)] {
            if d.0 < Duration::from_secs(1) || d.0 > Duration::from_secs(86_400) {
                return Err(bad(format!("{key} must be between 1s and 24h")));
            }
        }
        if !(16..=1_000_000).contains(&self.max_tracked) {
            return Err(bad("max_tracked must be between 16 and 1000000".into()));
        }
        self.hours = Some(self.working_hours().map_err(bad)?);
        Ok(())
    }

    fn working_hours(&self) -> Result<WorkingHours, String> {
        let (a, b) = self.working_hours.split_once('-').ok_or_else(|| format!("working_hours = {:?} is not \"HH:MM-HH:MM\"", self.working_hours))?;
        let time = |t: &str| t.trim().parse::<jiff::civil::Time>().map_err(|_| format!("working_hours = {:?}: {t:?} is not a time of day", self.working_hours));
        let (start, end) = (time(a)?, time(b)?);
        if start == end {
            return Err(format!("working_hours = {:?}: the start and the end are the same time", self.working_hours));
        }
        let mut days = Vec::new();
        for d in &self.working_days {
            days.push(weekday(d).ok_or_else(|| format!("working_days: {d:?} is not a weekday such as \"monday\""))?);
        }
        if days.is_empty() {
            return Err("working_days: name at least one day (or set unusual_hours = false)".into());
        }
        let tz = jiff::tz::TimeZone::get(self.time_zone.trim()).map_err(|_| format!("time_zone = {:?} is not an IANA time zone such as \"Europe/Berlin\"", self.time_zone))?;
        Ok(WorkingHours { start, end, days, tz })
    }

    /// The severity of an alert about a device of `criticality` in `zone`, or about no device:
    /// the criticality's row of `[alerts.severity]`, raised to the zone's floor if it has one.
    pub fn severity_for(&self, device: Option<(Criticality, &Zone)>) -> AlertSeverity {
        let Some((criticality, zone)) = device else { return self.no_device };
        let base = match criticality {
            Criticality::LifeCritical => self.severity.life_critical,
            Criticality::High => self.severity.high,
            Criticality::Standard => self.severity.standard,
        };
        match self.zones.get(zone.as_str()) {
            Some(floor) => base.max(*floor),
            None => base,
        }
    }
}

fn weekday(s: &str) -> Option<jiff::civil::Weekday> {
    use jiff::civil::Weekday::*;
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "monday" => Monday,
        "tuesday" => Tuesday,
        "wednesday" => Wednesday,
        "thursday" => Thursday,
        "friday" => Friday,
        "saturday" => Saturday,
        "sunday" => Sunday,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn severity_follows_criticality_then_the_zone_floor() {
        let mut c: AlertsConfig = toml::from_str("[zones]\nicu = \"critical\"\n").unwrap();
        c.check().unwrap();
        let ward = Zone::parse("ward").unwrap();
        let icu = Zone::parse("icu").unwrap();
        assert_eq!(c.severity_for(Some((Criticality::LifeCritical, &ward))), AlertSeverity::Critical);
        assert_eq!(c.severity_for(Some((Criticality::High, &ward))), AlertSeverity::High);
        assert_eq!(c.severity_for(Some((Criticality::Standard, &ward))), AlertSeverity::Medium);
        assert_eq!(c.severity_for(Some((Criticality::Standard, &icu))), AlertSeverity::Critical, "the zone floor raises");
        assert_eq!(c.severity_for(None), AlertSeverity::Medium);
        let mut low: AlertsConfig = toml::from_str("no_device = \"low\"\n[zones]\nlab = \"low\"\n").unwrap();
        low.check().unwrap();
        assert_eq!(low.severity_for(Some((Criticality::High, &Zone::parse("lab").unwrap()))), AlertSeverity::High, "a floor never lowers");
        assert_eq!(low.severity_for(None), AlertSeverity::Low);
    }

    #[test]
    fn bad_values_are_refused_by_key() {
        for (text, key) in [
            ("working_hours = \"07:00-07:00\"", "working_hours"),
            ("working_hours = \"7\"", "working_hours"),
            ("working_days = [\"funday\"]", "working_days"),
            ("working_days = []", "working_days"),
            ("time_zone = \"Mars/Olympus\"", "time_zone"),
            ("refusal_burst = 1", "refusal_burst"),
            ("failed_codes_window = \"0s\"", "failed_codes_window"),
            ("max_tracked = 1", "max_tracked"),
            ("[zones]\n\"bad zone!\" = \"high\"", "zones"),
        ] {
            let mut c: AlertsConfig = toml::from_str(text).unwrap();
            let e = c.check().unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
        assert!(toml::from_str::<AlertsConfig>("notify = \"loud\"").is_err());
        assert!(toml::from_str::<AlertsConfig>("[severity]\nstandard = \"urgent\"").is_err());
        assert!(toml::from_str::<AlertsConfig>("bytes_per_sesion = 5").is_err(), "unknown keys are refused");
    }

    #[test]
    fn working_hours_follow_the_time_zone() {
        let mut c: AlertsConfig = toml::from_str("working_hours = \"08:00-17:00\"\ntime_zone = \"Europe/Berlin\"").unwrap();
        c.check().unwrap();
        let h = c.hours.unwrap();
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_second();
        assert!(h.contains(at("2026-12-01T08:30:00Z")), "Tuesday 09:30 in Berlin");
        assert!(!h.contains(at("2026-12-01T06:30:00Z")), "07:30 in Berlin is before 08:00");
        assert!(!h.contains(at("2026-12-01T02:00:00Z")), "03:00 in Berlin");
        assert!(!h.contains(at("2026-12-05T10:00:00Z")), "a Saturday");
        // A night shift: Monday 19:00 to Tuesday 07:00 is Monday's.
        let mut night: AlertsConfig = toml::from_str("working_hours = \"19:00-07:00\"\nworking_days = [\"monday\"]").unwrap();
        night.check().unwrap();
        let n = night.hours.unwrap();
        assert!(n.contains(at("2026-11-30T22:00:00Z")), "Monday 22:00");
        assert!(n.contains(at("2026-12-01T06:59:00Z")), "Tuesday 06:59, still Monday's shift");
        assert!(!n.contains(at("2026-12-01T07:00:00Z")), "Tuesday 07:00, the end is exclusive");
        assert!(!n.contains(at("2026-12-01T22:00:00Z")), "Tuesday 22:00 is Tuesday's, not a working day");
        assert!(!n.contains(at("2026-11-30T06:00:00Z")), "Monday 06:00 belongs to Sunday's shift");
        assert!(NotifyLevel::AtLeast(AlertSeverity::High).sends(AlertSeverity::Critical));
        assert!(!NotifyLevel::AtLeast(AlertSeverity::High).sends(AlertSeverity::Medium));
        assert!(!NotifyLevel::Off.sends(AlertSeverity::Critical));
    }
}
