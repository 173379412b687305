//! The two sets an account's access to recordings is made of: the zones an auditor is limited
//! to (empty: the whole installation) and the permissions granted explicitly (empty: none).
//! Both are stored as comma-separated words and typed as `icu,nicu` / `phi` at the CLI and on
//! the admin page; each word is checked by its own type ([`Zone`], [`Permission`]), and the
//! sets are kept sorted and without repeats, so that one set has one spelling.

use super::{ParseError, Permission, Zone};
use serde::{Serialize, Serializer};
use std::collections::BTreeSet;
use std::fmt;

/// Most zones one account may be limited to.
pub const MAX_ZONES: usize = 64;

/// The zones an account is limited to; empty means every zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneSet(BTreeSet<Zone>);

impl ZoneSet {
    /// Every zone (no limit).
    pub fn everywhere() -> ZoneSet {
        ZoneSet::default()
    }

    /// Parses `icu,nicu` (spaces around names ignored; empty: every zone).
    pub fn parse(s: &str) -> Result<ZoneSet, ParseError> {
        let zones = words(s).map(Zone::parse).collect::<Result<BTreeSet<_>, _>>()?;
        if zones.len() > MAX_ZONES {
            return Err(ParseError(format!("at most {MAX_ZONES} zones")));
        }
        Ok(ZoneSet(zones))
    }

    /// Whether this set puts no limit on zones.
    pub fn is_everywhere(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a session or device in `zone` is within the set.
    pub fn covers(&self, zone: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|z| z.as_str() == zone)
    }

    /// The zones, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &Zone> {
        self.0.iter()
    }
}

/// The permissions an account holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet(BTreeSet<&'static str>);

impl PermissionSet {
    /// Parses `phi` (comma-separated words; empty: none).
    pub fn parse(s: &str) -> Result<PermissionSet, ParseError> {
        Ok(PermissionSet(words(s).map(|w| Permission::parse(w).map(Permission::as_str)).collect::<Result<_, _>>()?))
    }

    /// These permissions.
    pub fn of(permissions: &[Permission]) -> PermissionSet {
        PermissionSet(permissions.iter().map(|p| p.as_str()).collect())
    }

    /// Whether `p` is granted.
    pub fn has(&self, p: Permission) -> bool {
        self.0.contains(p.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// This set with `p` granted.
    pub fn with(mut self, p: Permission) -> PermissionSet {
        self.0.insert(p.as_str());
        self
    }

    /// This set with `p` removed.
    pub fn without(mut self, p: Permission) -> PermissionSet {
        self.0.remove(p.as_str());
        self
    }
}

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|w| !w.is_empty())
}

impl fmt::Display for ZoneSet {
    /// The stored form: `icu,nicu`, or empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(Zone::as_str).collect();
        f.write_str(&names.join(","))
    }
}

impl fmt::Display for PermissionSet {
    /// The stored form: `phi`, or empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.iter().copied().collect::<Vec<_>>().join(","))
    }
}

impl Serialize for ZoneSet {
    /// A list of zone names (empty: every zone).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(Zone::as_str))
    }
}

impl Serialize for PermissionSet {
    /// A list of words.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn zones_parse_sorted_without_repeats_and_empty_is_everywhere() {
        let z = ZoneSet::parse(" nicu, icu ,icu,").unwrap();
        assert_eq!(z.to_string(), "icu,nicu");
        assert!(z.covers("icu") && z.covers("nicu") && !z.covers("radiology") && !z.covers("icu,nicu") && !z.covers(""));
        assert_eq!(serde_json::to_value(&z).unwrap(), serde_json::json!(["icu", "nicu"]));
        let all = ZoneSet::parse("").unwrap();
        assert!(all.is_everywhere() && all.covers("anything"));
        assert_eq!(all, ZoneSet::everywhere());
        for bad in ["ICU", "icu;nicu", "a b", "%", "icu,,_x"] {
            assert!(ZoneSet::parse(bad).is_err(), "{bad:?} accepted");
        }
        let many: Vec<String> = (0..=MAX_ZONES).map(|i| format!("z{i}")).collect();
        assert!(ZoneSet::parse(&many.join(",")).is_err());
    }

    #[test]
    fn permissions_are_closed_words() {
        let p = PermissionSet::parse("phi, phi").unwrap();
        assert!(p.has(Permission::Phi));
        assert_eq!(p.to_string(), "phi");
        assert_eq!(p, PermissionSet::of(&[Permission::Phi]));
        assert!(PermissionSet::parse("").unwrap().is_empty());
        let e = PermissionSet::parse("phi,root").unwrap_err();
        assert!(e.0.contains("root") && e.0.contains("phi"), "{e}");
        assert!(PermissionSet::parse("PHI").is_err());
    }
}
