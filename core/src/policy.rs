//! Approval policy: how many distinct approvers a device's criticality needs and the longest
//! window an approval may grant. Enforced here, in the domain, for every way of approving.

use crate::config::PolicyConfig;
use crate::domain::Criticality;
use std::time::Duration;

/// The policy in force.
#[derive(Debug, Clone)]
pub struct Policy {
    cfg: PolicyConfig,
}

impl Policy {
    /// Builds it from configuration (already validated: life-critical needs at least two).
    pub fn new(cfg: PolicyConfig) -> Self {
        Self { cfg }
    }

    /// Distinct approvers needed before a grant exists.
    pub fn required_approvals(&self, c: Criticality) -> i64 {
        i64::from(match c {
            Criticality::LifeCritical => self.cfg.life_critical_approvals.max(2),
            Criticality::High => self.cfg.high_approvals.max(1),
            Criticality::Standard => self.cfg.standard_approvals.max(1),
        })
    }

    /// Longest window in minutes.
    pub fn max_minutes(&self) -> i64 {
        i64::from(self.cfg.max_minutes)
    }

    /// Clamps a chosen window to the policy maximum.
    pub fn clamp_window(&self, d: Duration) -> Duration {
        d.min(Duration::from_secs(self.max_minutes() as u64 * 60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn life_critical_never_below_two() {
        let p = Policy::new(PolicyConfig { life_critical_approvals: 1, ..PolicyConfig::default() });
        assert_eq!(p.required_approvals(Criticality::LifeCritical), 2);
        assert_eq!(p.required_approvals(Criticality::Standard), 1);
        assert_eq!(p.clamp_window(Duration::from_secs(10 * 3600)), Duration::from_secs(480 * 60));
    }
}
