//! Approval policy: for a device's criticality and zone, how many distinct approvers a
//! request needs, the longest window an approval may grant, which roles may approve, and what
//! a request outside the device's maintenance windows needs (the windows themselves are
//! [`crate::maintenance`]'s, held here so a reload changes both at once).
//! Enforced here, in the domain, for every way of deciding (SSH lobby, CLI, web), and shown
//! to approvers by the same function so the page never disagrees with the rule.

use crate::config::{OutsideWindow, PolicyConfig, PolicyRule};
use crate::domain::{Criticality, DeviceName, Role, Zone};
use crate::maintenance::{WindowStatus, Windows};
use serde::Serialize;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The policy in force. Clones share it: [`Policy::replace`] (SIGHUP's reload) changes it for
/// every holder at once, and each decision reads one whole version, never a mix.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The current version. A std lock: held only to clone or swap the `Arc`, never across an
    /// `.await`.
    cfg: Arc<RwLock<Arc<Version>>>,
}

/// One version of the policy: the rules and the maintenance windows, replaced together.
#[derive(Debug)]
struct Version {
    rules: PolicyConfig,
    windows: Windows,
}

/// What the policy says for one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Distinct approvers needed before a grant exists.
    pub approvals: i64,
    /// Longest window, in minutes.
    pub max_minutes: i64,
    /// Roles that may approve or deny.
    pub approver_roles: Vec<Role>,
    /// What a request needs while the device's maintenance windows are all closed.
    pub outside_window: OutsideWindow,
    /// Whether break-glass (no prior approval) is allowed on the device.
    pub break_glass: bool,
    /// Longest break-glass session, in minutes.
    pub break_glass_minutes: i64,
    /// Whether a session needs a moderator watching ([`crate::moderation`]): the device
    /// connection opens only when one joins, and the vendor's input pauses when none is left.
    pub moderated: bool,
}

impl Rule {
    /// Whether `role` may decide requests under this rule.
    pub fn may_approve(&self, role: Role) -> bool {
        role.may_approve() && self.approver_roles.contains(&role)
    }

    /// The longest window this rule allows.
    pub fn max_window(&self) -> Duration {
        Duration::from_secs(self.max_minutes.max(0) as u64 * 60)
    }
}

impl Policy {
    /// Builds it from configuration (already checked at load), with no maintenance windows.
    pub fn new(cfg: PolicyConfig) -> Self {
        Self::with_windows(cfg, Windows::default())
    }

    /// Builds it from configuration with the maintenance windows (both checked at load).
    pub fn with_windows(cfg: PolicyConfig, windows: Windows) -> Self {
        Self { cfg: Arc::new(RwLock::new(Arc::new(Version { rules: cfg, windows }))) }
    }

    /// Puts `cfg` and `windows` (checked at load) in force for every clone of this policy; the
    /// decisions after it use the new version, those already made keep what they got.
    pub fn replace(&self, cfg: PolicyConfig, windows: Windows) {
        let new = Arc::new(Version { rules: cfg, windows });
        match self.cfg.write() {
            Ok(mut cur) => *cur = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }

    /// The version in force.
    fn current(&self) -> Arc<Version> {
        match self.cfg.read() {
            Ok(cur) => cur.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The rule for a device of `criticality` in `zone`.
    pub fn rule(&self, criticality: Criticality, zone: &Zone) -> Rule {
        let version = self.current();
        let cfg = &version.rules;
        let mut rule = Rule {
            approvals: i64::from(match criticality {
                Criticality::LifeCritical => cfg.life_critical_approvals,
                Criticality::High => cfg.high_approvals,
                Criticality::Standard => cfg.standard_approvals,
            }),
            max_minutes: i64::from(cfg.max_minutes),
            approver_roles: cfg.approver_roles.clone(),
            outside_window: cfg.outside_window,
            break_glass: cfg.break_glass,
            break_glass_minutes: i64::from(cfg.break_glass_minutes),
            moderated: cfg.moderated.unwrap_or(criticality == Criticality::LifeCritical),
        };
        if let Some(o) = best_override(cfg, criticality, zone) {
            if let Some(n) = o.approvals {
                rule.approvals = i64::from(n);
            }
            if let Some(m) = o.max_minutes {
                rule.max_minutes = i64::from(m);
            }
            if let Some(r) = &o.approver_roles {
                rule.approver_roles = r.clone();
            }
            if let Some(w) = o.outside_window {
                rule.outside_window = w;
            }
            if let Some(b) = o.break_glass {
                rule.break_glass = b;
            }
            if let Some(m) = o.break_glass_minutes {
                rule.break_glass_minutes = i64::from(m);
            }
            if let Some(m) = o.moderated {
                rule.moderated = m;
            }
        }
        // Separation of duties is not configurable away.
        let floor = if criticality == Criticality::LifeCritical { 2 } else { 1 };
        rule.approvals = rule.approvals.max(floor);
        rule.max_minutes = rule.max_minutes.max(1);
        rule.break_glass_minutes = rule.break_glass_minutes.clamp(1, i64::from(crate::config::MAX_BREAK_GLASS_MINUTES));
        rule
    }

    /// The longest window any rule allows (bounds input before the device is known).
    pub fn max_minutes_anywhere(&self) -> i64 {
        let version = self.current();
        let cfg = &version.rules;
        let over = cfg.rules.iter().filter_map(|r| r.max_minutes).max().unwrap_or(0);
        i64::from(cfg.max_minutes.max(over))
    }
}

impl Policy {
    /// Where a device stands against its maintenance windows at `at` (Unix seconds).
    pub fn window_status(&self, device: &DeviceName, zone: &Zone, at: i64) -> WindowStatus {
        self.current().windows.status(device, zone, at)
    }

    /// The maintenance windows in force.
    pub fn windows(&self) -> Windows {
        self.current().windows.clone()
    }
}

/// The most specific `[[policy.rules]]` entry for a device, if any.
fn best_override<'a>(cfg: &'a PolicyConfig, criticality: Criticality, zone: &Zone) -> Option<&'a PolicyRule> {
    let mut best: Option<(u8, &PolicyRule)> = None;
    for r in &cfg.rules {
        let zone_ok = r.zone.as_ref().is_none_or(|z| z == zone);
        let crit_ok = r.criticality.is_none_or(|c| c == criticality);
        if !(zone_ok && crit_ok) {
            continue;
        }
        let score = 2 * u8::from(r.zone.is_some()) + u8::from(r.criticality.is_some());
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, r));
        }
    }
    best.map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn zone(s: &str) -> Zone {
        Zone::parse(s).unwrap()
    }

    #[test]
    fn life_critical_never_below_two() {
        let p = Policy::new(PolicyConfig { life_critical_approvals: 1, ..PolicyConfig::default() });
        assert_eq!(p.rule(Criticality::LifeCritical, &zone("icu")).approvals, 2);
        let r = p.rule(Criticality::Standard, &zone("icu"));
        assert_eq!(r.approvals, 1);
        assert_eq!(r.max_window(), Duration::from_secs(480 * 60));
    }

    #[test]
    fn a_replaced_policy_holds_for_every_clone() {
        let p = Policy::new(PolicyConfig::default());
        let held = p.clone();
        assert_eq!(held.rule(Criticality::High, &zone("lab")).approvals, 1);
        p.replace(PolicyConfig { high_approvals: 3, max_minutes: 30, ..PolicyConfig::default() }, Windows::default());
        let r = held.rule(Criticality::High, &zone("lab"));
        assert_eq!((r.approvals, r.max_minutes), (3, 30));
        assert_eq!(held.max_minutes_anywhere(), 30);
    }

    #[test]
    fn most_specific_rule_wins() {
        let rules = vec![
            PolicyRule { zone: None, criticality: Some(Criticality::High), approvals: Some(2), max_minutes: None, approver_roles: None, outside_window: None, break_glass: None, break_glass_minutes: None, moderated: None },
            PolicyRule { zone: Some(zone("icu")), criticality: None, approvals: None, max_minutes: Some(60), approver_roles: Some(vec![Role::Admin]), outside_window: None, break_glass: None, break_glass_minutes: None, moderated: None },
            PolicyRule { zone: Some(zone("icu")), criticality: Some(Criticality::High), approvals: Some(3), max_minutes: None, approver_roles: None, outside_window: None, break_glass: None, break_glass_minutes: None, moderated: None },
        ];
        let p = Policy::new(PolicyConfig { rules, ..PolicyConfig::default() });
        // zone + criticality beats zone alone: its unset fields fall back to the defaults.
        let icu_high = p.rule(Criticality::High, &zone("icu"));
        assert_eq!((icu_high.approvals, icu_high.max_minutes), (3, 480));
        let icu_std = p.rule(Criticality::Standard, &zone("icu"));
        assert_eq!((icu_std.approvals, icu_std.max_minutes), (1, 60));
        assert!(icu_std.may_approve(Role::Admin) && !icu_std.may_approve(Role::Approver));
        let lab_high = p.rule(Criticality::High, &zone("lab"));
        assert_eq!(lab_high.approvals, 2);
        assert!(lab_high.may_approve(Role::Approver) && !lab_high.may_approve(Role::Vendor));
        assert_eq!(p.max_minutes_anywhere(), 480);
    }

    #[test]
    fn moderation_is_on_for_life_critical_by_default_and_rules_override_it() {
        let p = Policy::new(PolicyConfig::default());
        assert!(p.rule(Criticality::LifeCritical, &zone("icu")).moderated);
        assert!(!p.rule(Criticality::High, &zone("icu")).moderated);
        let rules = vec![PolicyRule { zone: Some(zone("lab")), criticality: None, approvals: None, max_minutes: None, approver_roles: None, outside_window: None, moderated: Some(true), break_glass: None, break_glass_minutes: None }];
        let p = Policy::new(PolicyConfig { moderated: Some(false), rules, ..PolicyConfig::default() });
        assert!(!p.rule(Criticality::LifeCritical, &zone("icu")).moderated);
        assert!(p.rule(Criticality::Standard, &zone("lab")).moderated);
    }
}
