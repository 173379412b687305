//! What the approvals recorded so far make of a pending request, inside the approving
//! transaction: still short of approvers, waiting for a clinical sign-off, refused (a later
//! start carried the grant out of its window, or one more approval without the sign-off), or
//! granted — the window all approvers agreed to (latest start, shortest length, common
//! channels), clipped to the maintenance window it starts in.

use super::outside::WindowCheck;
use super::{signoff, ApprovalError, Approvals};
use crate::audit::{AuditedWrite, Event, Kind, Subject};
use crate::domain::{RequestState, Username};
use crate::policy::Rule;
use crate::store::{GrantRecord, RequestRecord, Tally};
use serde_json::json;

/// Where a request stands after one more approval.
pub(super) enum Next {
    /// More distinct approvers are needed.
    Short,
    /// Enough approvers, but none of them gives the clinical sign-off the window needs.
    AwaitingSignoff,
    /// The grant can be made.
    Grant(Terms),
}

/// The grant the approvers agreed to.
pub(super) struct Terms {
    start: i64,
    length: i64,
    windows: WindowCheck,
    /// Who gave the clinical sign-off, when the grant needs one.
    signoff: Option<Username>,
}

/// Who decides, through which interface, and when.
pub(super) struct Decider<'a> {
    pub name: &'a Username,
    pub id: i64,
    pub via: &'a str,
    pub now: i64,
}

impl Approvals {
    /// Reads what `tally` allows. A refusal is [`ApprovalError::NotAllowed`], for the caller
    /// to audit once it has given up the transaction.
    pub(super) async fn next_step(&self, tx: &mut AuditedWrite, req: &RequestRecord, rule: &Rule, tally: &Tally, need: i64, by: &Decider<'_>) -> Result<Next, ApprovalError> {
        if tally.count < need {
            return Ok(Next::Short);
        }
        let requested = req.minutes * 60;
        let length = tally.min_seconds.map_or(requested, |s| s.min(requested)).min(rule.max_minutes * 60);
        let start = tally.latest_start.unwrap_or(by.now).max(by.now);
        // Another approver's later start may have moved the grant out of the window.
        let windows = WindowCheck::new(self.policy.window_status(&req.device, &req.zone, start), rule.outside_window);
        if let Some(msg) = windows.refusal(req.device.as_str()) {
            return Err(ApprovalError::NotAllowed(msg));
        }
        let signoff = if windows.needs_signoff() {
            let approvers = self.store.approver_accounts(tx, req.id).await?;
            match signoff::signer(&approvers, rule, by.now, by.id) {
                Some(name) => Some(name),
                // The count was met before this approval, which brings no sign-off either.
                None if tally.count > need => return Err(ApprovalError::NotAllowed(signoff::still_needed(req.id))),
                None => return Ok(Next::AwaitingSignoff),
            }
        } else {
            None
        };
        Ok(Next::Grant(Terms { start, length, windows, signoff }))
    }

    /// Makes the grant of `terms` and appends `request.approved`.
    pub(super) async fn make_grant(&self, tx: &mut AuditedWrite, req: &RequestRecord, terms: Terms, by: &Decider<'_>) -> Result<GrantRecord, ApprovalError> {
        let id = req.id;
        let (ends_at, clipped) = terms.windows.clip(terms.start + terms.length);
        if !self.store.set_request_state(tx, id, RequestState::Pending, RequestState::Approved, by.name.as_str(), None, by.now).await? {
            return Err(ApprovalError::Conflict(format!("request #{id} was decided meanwhile")));
        }
        let mut granted = req.channels.clone();
        for narrowed in self.store.approval_channels(tx, id).await? {
            granted = granted
                .intersection(&narrowed)
                .ok_or_else(|| ApprovalError::Conflict(format!("the approvers of request #{id} agreed to no common channel")))?;
        }
        let grant = self.store.insert_grant_channels(tx, req, terms.start, ends_at, &granted).await?;
        tx.append(Event::new(by.name.as_str(), Kind::RequestApproved, Subject::Request(id), json!({
            "grant": grant.id, "vendor": req.vendor, "device": req.device,
            "channels": grant.channels, "requested_channels": req.channels,
            "starts_at": grant.starts_at, "ends_at": grant.ends_at, "via": by.via,
            "maintenance_window": terms.windows.audit(), "clipped_to_window": clipped,
            "clinical_signoff": terms.signoff,
        })))
        .await?;
        Ok(grant)
    }
}
