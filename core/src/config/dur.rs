//! A duration written the human way in the config file and environment (`90s`, `15m`, `1h`).

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// A duration parsed from text such as `15m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl Dur {
    /// Parses `90s`, `15m`, `1h 30m`, …
    pub fn parse(s: &str) -> Result<Dur, String> {
        humantime::parse_duration(s.trim()).map(Dur).map_err(|e| format!("{s:?}: {e}"))
    }
    /// Parses a comma-separated list.
    pub fn parse_list(s: &str) -> Result<Vec<Dur>, String> {
        s.split(',').filter(|p| !p.trim().is_empty()).map(Dur::parse).collect()
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Dur::parse(&s).map_err(serde::de::Error::custom)
    }
}
