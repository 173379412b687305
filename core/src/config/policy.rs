//! The `[policy]` section: defaults per criticality, the roles that may approve, and
//! `[[policy.rules]]` that override them for a zone, a criticality, or both. Checked at load
//! so a rule that could never match or would weaken separation of duties is an error.

use super::ConfigError;
use crate::domain::{Criticality, Role, Zone};
use serde::Deserialize;

/// Approval policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub life_critical_approvals: u32,
    pub high_approvals: u32,
    pub standard_approvals: u32,
    /// Longest window an approval may grant, in minutes.
    pub max_minutes: u32,
    /// Roles whose members may approve and deny.
    pub approver_roles: Vec<Role>,
    /// What a request for a device covered by maintenance windows needs while none is open
    /// (`[[maintenance.windows]]`). Devices no window covers are never restricted.
    pub outside_window: OutsideWindow,
    /// Whether an account holding the `break-glass` right may open an emergency session
    /// without a prior approval (see [`crate::breakglass`]).
    pub break_glass: bool,
    /// Longest break-glass session, in minutes (at most [`MAX_BREAK_GLASS_MINUTES`]).
    pub break_glass_minutes: u32,
    /// Whether sessions need a moderator watching before the device connection opens (and
    /// to keep typing): unset means on for `life-critical` devices, off for the others.
    pub moderated: Option<bool>,
    /// Overrides; the most specific matching rule wins (zone and criticality, then zone, then
    /// criticality), the first listed among equals.
    pub rules: Vec<PolicyRule>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            life_critical_approvals: 2,
            high_approvals: 1,
            standard_approvals: 1,
            max_minutes: 480,
            approver_roles: vec![Role::Approver, Role::Admin],
            outside_window: OutsideWindow::default(),
            break_glass: true,
            break_glass_minutes: 60,
            moderated: None,
            rules: Vec::new(),
        }
    }
}

/// One override. Unset fields keep the defaults above.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    pub zone: Option<Zone>,
    pub criticality: Option<Criticality>,
    pub approvals: Option<u32>,
    pub max_minutes: Option<u32>,
    pub approver_roles: Option<Vec<Role>>,
    pub outside_window: Option<OutsideWindow>,
    #[serde(default)]
    pub break_glass: Option<bool>,
    #[serde(default)]
    pub break_glass_minutes: Option<u32>,
    pub moderated: Option<bool>,
}

/// The short maximum of a break-glass session, whatever the configuration says: an emergency
/// fix, not a way around approval.
pub const MAX_BREAK_GLASS_MINUTES: u32 = 240;

/// What a request outside a device's maintenance windows needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutsideWindow {
    /// Nothing more than inside: the window only clips grants made inside it.
    Allow,
    /// Refused, naming the next window. The default: a device given windows takes vendor work
    /// only in them unless the policy says otherwise.
    #[default]
    Refuse,
    /// One more distinct approver than the rule asks for.
    ExtraApprover,
    /// Among the grant's distinct approvers, at least one holding the `clinical-signoff`
    /// permission (on top of the rule's count).
    ClinicalSignoff,
}

impl OutsideWindow {
    /// The word written in the configuration and the audit.
    pub fn as_str(self) -> &'static str {
        match self {
            OutsideWindow::Allow => "allow",
            OutsideWindow::Refuse => "refuse",
            OutsideWindow::ExtraApprover => "extra-approver",
            OutsideWindow::ClinicalSignoff => "clinical-signoff",
        }
    }
}

impl PolicyConfig {
    /// Refuses settings that could never work or would weaken separation of duties.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.max_minutes == 0 {
            return bad("policy.max_minutes must be at least 1".into());
        }
        if self.life_critical_approvals < 2 {
            return bad("policy.life_critical_approvals must be at least 2 (separation of duties)".into());
        }
        if self.high_approvals == 0 || self.standard_approvals == 0 {
            return bad("policy approvals must be at least 1".into());
        }
        check_roles("policy.approver_roles", &self.approver_roles)?;
        if !(1..=MAX_BREAK_GLASS_MINUTES).contains(&self.break_glass_minutes) {
            return bad(format!("policy.break_glass_minutes must be from 1 to {MAX_BREAK_GLASS_MINUTES}"));
        }
        for (i, r) in self.rules.iter().enumerate() {
            let at = format!("policy.rules[{i}]");
            if r.zone.is_none() && r.criticality.is_none() {
                return bad(format!("{at} must name a zone, a criticality or both"));
            }
            if r.approvals == Some(0) || r.max_minutes == Some(0) {
                return bad(format!("{at}: approvals and max_minutes must be at least 1"));
            }
            if r.criticality == Some(Criticality::LifeCritical) && r.approvals.is_some_and(|n| n < 2) {
                return bad(format!("{at}: life-critical devices need at least 2 approvers"));
            }
            if r.break_glass_minutes.is_some_and(|m| !(1..=MAX_BREAK_GLASS_MINUTES).contains(&m)) {
                return bad(format!("{at}: break_glass_minutes must be from 1 to {MAX_BREAK_GLASS_MINUTES}"));
            }
            if let Some(roles) = &r.approver_roles {
                check_roles(&format!("{at}.approver_roles"), roles)?;
            }
        }
        Ok(())
    }
}

fn check_roles(at: &str, roles: &[Role]) -> Result<(), ConfigError> {
    if roles.is_empty() {
        return Err(ConfigError::Invalid(format!("{at} must name at least one role")));
    }
    if roles.contains(&Role::Vendor) {
        return Err(ConfigError::Invalid(format!("{at}: vendors may never approve")));
    }
    Ok(())
}
