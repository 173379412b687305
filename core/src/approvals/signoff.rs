//! The clinical sign-off: outside a device's maintenance windows, under `outside_window =
//! "clinical-signoff"`, a grant needs among its distinct approvers at least one account
//! holding the `clinical-signoff` permission, on top of the rule's count of approvals. Whose
//! approval is the sign-off is read here from the approvers' accounts as they stand at the
//! decision: a holder since disabled, past its end date, stripped of the permission or of a
//! role that may approve the device signs off nothing. The lobby, the pages, the API and the
//! CLI show a pending request's sign-off through [`Approvals::signoff`].

use super::outside::WindowCheck;
use super::{ApprovalError, Approvals};
use crate::clock;
use crate::domain::{Permission, RequestId, RequestState, Username};
use crate::policy::Rule;
use crate::store::{RequestRecord, UserRecord};
use serde::Serialize;

/// A pending request's clinical sign-off, when it needs one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signoff {
    /// The approver whose approval is the sign-off; `None` while it is still awaited.
    pub given_by: Option<Username>,
}

/// Why an approval that would add nothing a request still lacks is refused.
pub(super) fn still_needed(id: RequestId) -> String {
    format!("request #{id} needs a clinical sign-off: an approver holding clinical-signoff must approve")
}

/// The approver among `approvers` whose approval signs off: an active account that holds
/// `clinical-signoff` and whose role may approve under `rule`; `deciding` (the account
/// approving now) first, else the earliest.
pub(super) fn signer(approvers: &[UserRecord], rule: &Rule, now: i64, deciding: i64) -> Option<Username> {
    let signs = |u: &&UserRecord| u.permissions.has(Permission::ClinicalSignoff) && !u.disabled && !u.expired_at(now) && rule.may_approve(u.role);
    approvers.iter().filter(signs).min_by_key(|u| u.id != deciding).map(|u| u.username.clone())
}

impl Approvals {
    /// Whether pending request `req`, granted now, would need a clinical sign-off, and who
    /// gave it: `None` when it needs none (no window covers the device, one is open, the
    /// policy says otherwise, or it is no longer pending).
    pub async fn signoff(&self, req: &RequestRecord) -> Result<Option<Signoff>, ApprovalError> {
        if req.state != RequestState::Pending {
            return Ok(None);
        }
        let rule = self.policy.rule(req.criticality, &req.zone);
        let now = clock::now();
        if !WindowCheck::new(self.policy.window_status(&req.device, &req.zone, now), rule.outside_window).needs_signoff() {
            return Ok(None);
        }
        let mut conn = self.store.pool().acquire().await?;
        let approvers = self.store.approver_accounts(&mut conn, req.id).await?;
        Ok(Some(Signoff { given_by: signer(&approvers, &rule, now, 0) }))
    }
}
