//! `ssh.max_startups`, written as OpenSSH writes `MaxStartups`: `start:rate:full`. From
//! `start` connections signing in at once, `rate` percent of new ones are dropped at random,
//! rising linearly to all of them at `full`.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::str::FromStr;

/// Random early drop of new connections while many are signing in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxStartups {
    pub start: usize,
    /// Percent, 0 to 100.
    pub rate: u32,
    pub full: usize,
}

impl Default for MaxStartups {
    /// `30:30:100`: OpenSSH's `10:30:100` with a start above three sources' worth of
    /// `per_source_max_startups`, so that one flooding source alone never makes other
    /// vendors' connections drop.
    fn default() -> Self {
        MaxStartups { start: 30, rate: 30, full: 100 }
    }
}

impl FromStr for MaxStartups {
    type Err = String;

    fn from_str(s: &str) -> Result<MaxStartups, String> {
        let bad = || format!("{s:?}: expected START:RATE:FULL, e.g. 10:30:100 (RATE a percent, START <= FULL)");
        let parts: Vec<&str> = s.trim().split(':').collect();
        let [start, rate, full] = parts.as_slice() else { return Err(bad()) };
        let (start, rate, full) = (start.parse().map_err(|_| bad())?, rate.parse().map_err(|_| bad())?, full.parse().map_err(|_| bad())?);
        if rate > 100 || start > full || full == 0 {
            return Err(bad());
        }
        Ok(MaxStartups { start, rate, full })
    }
}

impl fmt::Display for MaxStartups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.start, self.rate, self.full)
    }
}

impl<'de> Deserialize<'de> for MaxStartups {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_openssh_form_and_refuses_the_rest() {
        assert_eq!("30:30:100".parse::<MaxStartups>(), Ok(MaxStartups::default()));
        assert_eq!("10:30:100".parse::<MaxStartups>(), Ok(MaxStartups { start: 10, rate: 30, full: 100 }));
        assert_eq!(MaxStartups::default().to_string(), "30:30:100");
        for bad in ["", "10", "10:30", "10:101:100", "50:30:10", "a:b:c", "1:2:3:4", "0:0:0"] {
            assert!(bad.parse::<MaxStartups>().is_err(), "{bad:?}");
        }
    }
}
