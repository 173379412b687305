//! The `[maintenance]` section: `[[maintenance.windows]]`, the recurring windows in which
//! vendors work on a zone's or a device's equipment. Each entry is checked at load (its
//! recurrence, zone and device names, start time, length and IANA time zone) and a bad one is
//! refused with a message naming it.

use super::ConfigError;
use crate::domain::{DeviceName, Zone};
use crate::maintenance::{Recurrence, WindowSpec, Windows};
use serde::Deserialize;
use std::time::Duration;

/// Maintenance windows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaintenanceConfig {
    pub windows: Vec<WindowEntry>,
}

/// One `[[maintenance.windows]]` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowEntry {
    /// Unique; named in refusals, pages and the audit.
    pub name: String,
    /// The zone whose devices it covers; with `device` too, that device only.
    pub zone: Option<String>,
    pub device: Option<String>,
    /// `day`, weekdays (`tuesday`, `monday, thursday`) or a weekday of the month (`first sunday`).
    pub every: String,
    /// Local start, `HH:MM`.
    pub start: String,
    /// Length (`2h`, `90m`), in wall-clock time.
    pub duration: String,
    /// IANA time zone (`Europe/Berlin`).
    pub time_zone: String,
}

impl MaintenanceConfig {
    /// The checked windows, or the first entry that is wrong and why.
    pub fn windows(&self) -> Result<Windows, ConfigError> {
        let mut out: Vec<WindowSpec> = Vec::new();
        for (i, e) in self.windows.iter().enumerate() {
            let spec = e.check().map_err(|why| ConfigError::Invalid(format!("maintenance.windows[{i}] ({:?}): {why}", e.name)))?;
            if out.iter().any(|w| w.name == spec.name) {
                return Err(ConfigError::Invalid(format!("maintenance.windows[{i}]: the name {:?} is used twice", e.name)));
            }
            out.push(spec);
        }
        Ok(Windows::new(out))
    }
}

impl WindowEntry {
    fn check(&self) -> Result<WindowSpec, String> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err("name must be 1 to 64 characters on one line".into());
        }
        let zone = self.zone.as_deref().map(Zone::parse).transpose().map_err(|e| e.0)?;
        let device = self.device.as_deref().map(DeviceName::parse).transpose().map_err(|e| e.0)?;
        if zone.is_none() && device.is_none() {
            return Err("name a zone, a device or both".into());
        }
        let every = Recurrence::parse(&self.every)?;
        let start: jiff::civil::Time = self.start.trim().parse().map_err(|_| format!("start = {:?} is not a time of day such as \"02:00\"", self.start))?;
        let length = humantime::parse_duration(self.duration.trim()).map_err(|e| format!("duration = {:?}: {e}", self.duration))?;
        if length < Duration::from_secs(60) {
            return Err(format!("duration = {:?}: a window lasts at least a minute", self.duration));
        }
        if length > every.longest() {
            return Err(format!("duration = {:?}: a window recurring {every} lasts at most {}", self.duration, humantime::format_duration(every.longest())));
        }
        let tz_name = self.time_zone.trim();
        let tz = jiff::tz::TimeZone::get(tz_name).map_err(|_| format!("time_zone = {tz_name:?} is not an IANA time zone such as \"Europe/Berlin\""))?;
        Ok(WindowSpec { name: name.to_owned(), zone, device, every, start, length, tz, tz_name: tz_name.to_owned() })
    }
}
