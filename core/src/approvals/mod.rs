//! Requests, approvals, denials, revocations and stop requests: the decisions of Portcullis,
//! made here once for every interface (SSH lobby, CLI, web). Each decision is one write
//! transaction that checks state, changes it and appends its audit row, so a decision and its
//! record cannot part. Rules enforced here: nobody approves their own request; each approver
//! counts once; life-critical devices need two distinct approvers (policy); a window never
//! exceeds the policy maximum; a request nobody decided in time expires; outside a device's
//! maintenance windows a request is refused, needs one more approver or needs a clinical
//! sign-off (policy), and a grant made inside one ends when it closes; no request is filed or
//! approved for a device under a containment in force (see [`crate::contain`]), and every
//! refusal is in the audit log.

mod input;
mod outside;
mod settle;
mod signoff;

pub use signoff::Signoff;
pub use input::{minutes_text, reason, request_minutes, window_minutes, ApprovalInput, RequestInput, StopInput, StopMode, Window};

use crate::audit::{AuditLog, AuditedWrite, Event, Kind, Subject};
use crate::clock;
use crate::config::ApprovalConfig;
use crate::domain::{RequestId, RequestState, Username};
use crate::policy::Policy;
use crate::store::{GrantRecord, RequestRecord, Store, StoreError};
use outside::WindowCheck;
use settle::{Decider, Next};
use serde_json::json;

/// Longest reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Why a decision could not be made. The message is meant for the person who asked.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    Conflict(String),
}

/// What an approval led to.
#[derive(Debug, Clone)]
pub enum ApproveOutcome {
    /// Recorded; more distinct approvers are needed.
    Recorded { have: i64, need: i64 },
    /// Recorded; the approvals are enough, but the grant also needs a clinical sign-off
    /// (an approver holding `clinical-signoff`) and none of them gives it.
    AwaitingSignoff { have: i64, need: i64 },
    /// The last approval needed: the grant exists now.
    Granted(GrantRecord),
}

impl Window {
    fn check_start(&self, now: i64, max_ahead: i64) -> Result<Option<i64>, ApprovalError> {
        match self.starts_at {
            None => Ok(None),
            // A start a little in the past (clock skew, a slow form) means "now".
            Some(t) if t < now - 300 => Err(ApprovalError::Invalid("the window cannot start in the past".into())),
            Some(t) if t > now + max_ahead => Err(ApprovalError::Invalid(format!(
                "the window can be scheduled at most {} days ahead",
                max_ahead / 86_400
            ))),
            Some(t) => Ok(Some(t.max(now))),
        }
    }
}

/// The decision service; clonable.
#[derive(Clone, Debug)]
pub struct Approvals {
    store: Store,
    audit: AuditLog,
    policy: Policy,
    cfg: ApprovalConfig,
}

impl From<sqlx::Error> for ApprovalError {
    fn from(e: sqlx::Error) -> Self {
        ApprovalError::Store(StoreError::Db(e))
    }
}

impl Approvals {
    /// Builds the service.
    pub fn new(store: Store, audit: AuditLog, policy: Policy, cfg: ApprovalConfig) -> Self {
        Self { store, audit, policy, cfg }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Files a request for a vendor (by the vendor, or by staff on the vendor's behalf);
    /// TCP ports must be ones the device lists.
    pub async fn create_request(&self, input: RequestInput) -> Result<RequestRecord, ApprovalError> {
        let (actor, vendor, device, peer, channels) = (input.actor(), &input.vendor, &input.device, input.peer.as_str(), &input.channels);
        let minutes = input.minutes;
        let reason = input::reason(&input.reason, true).map_err(ApprovalError::Invalid)?;
        let user = self.store.user_by_name(vendor).await?.ok_or_else(|| ApprovalError::NotFound(format!("user {vendor}")))?;
        if user.role != crate::domain::Role::Vendor || user.disabled {
            return Err(ApprovalError::Invalid(format!("{vendor} is not an active vendor account")));
        }
        let dev = self.store.device_by_name(device).await?.filter(|d| !d.disabled);
        let dev = dev.ok_or_else(|| ApprovalError::NotFound(format!("device {device}")))?;
        channels.check_ports(&dev.tcp_ports).map_err(|e| ApprovalError::Invalid(e.0))?;
        let rule = self.policy.rule(dev.criticality, &dev.zone);
        input::request_minutes(minutes, rule.max_minutes).map_err(|e| ApprovalError::Invalid(format!("{device}: {e}")))?;
        let now = clock::now();
        let windows = WindowCheck::new(self.policy.window_status(device, &dev.zone, now), rule.outside_window);
        if let Some(why) = windows.refusal(device.as_str()) {
            self.audit
                .record(Event::new(actor, Kind::RequestRefusedOutsideWindow, Subject::device(device), json!({
                    "vendor": vendor, "why": why, "maintenance_window": windows.audit(), "peer": peer,
                })))
                .await?;
            return Err(ApprovalError::NotAllowed(why));
        }
        let need = rule.approvals + windows.extra_approvers();
        let mut tx = self.audit.begin().await?;
        // Under the device's row lock, so that a containment ordered at this moment either
        // settles this request or is seen here.
        self.store.lock_device(&mut tx, dev.id).await?;
        if let Some(c) = self.store.containment_over(&mut tx, dev.id).await? {
            // Nothing is filed: the refusal is its own row, written once the request's
            // transaction is given up. The vendor is told that, not the incident's reason.
            drop(tx);
            self.audit
                .record(Event::new(actor, Kind::RequestRefusedContained, Subject::device(device), json!({
                    "vendor": vendor, "device": device, "containment": c.id, "scope": c.scope, "peer": peer,
                })))
                .await?;
            return Err(ApprovalError::NotAllowed(format!(
                "{device} is contained by the hospital ({}, containment #{}); no request can be made there until an admin lifts it",
                c.scope, c.id
            )));
        }
        let id = self.store.insert_request(&mut tx, user.id, dev.id, reason, minutes, need, now).await?;
        self.store.set_request_channels(&mut tx, id, channels).await?;
        if let Some(by) = input.filed_by.as_deref().filter(|by| *by != vendor.as_str()) {
            self.store.set_request_filed_by(&mut tx, id, by).await?;
        }
        tx.append(Event::new(actor, Kind::RequestCreated, Subject::Request(id), json!({
                "device": device, "vendor": vendor, "minutes": minutes, "reason": reason, "channels": channels,
                "required_approvals": need, "peer": peer, "maintenance_window": windows.audit(),
            })))
            .await?;
        tx.commit().await?;
        self.store.require_request(id).await.map_err(Into::into)
    }

    /// Records one approval with its window (length, scheduled start) and channels,
    /// creating the grant when enough distinct approvers agree. With several approvers the
    /// grant is what all of them agreed to: the latest start, the shortest length and the
    /// channels common to all. A window never lengthens past the policy.
    pub async fn approve(&self, input: ApprovalInput) -> Result<ApproveOutcome, ApprovalError> {
        let ApprovalInput { id, approver, window, channels, via } = input;
        let (approver, via) = (&approver, via.as_str());
        let who = self.store.user_by_name(approver).await?.ok_or_else(|| ApprovalError::NotFound(format!("user {approver}")))?;
        let req = self.pending_request(id).await?;
        let rule = self.policy.rule(req.criticality, &req.zone);
        let now = clock::now();
        let vendor_active = self.store.user_by_id(req.vendor_id).await?.is_some_and(|v| !v.disabled && !v.expired_at(now));
        let device_active = self.store.device_by_name(&req.device).await?.is_some_and(|d| !d.disabled);
        // The windows at the start this approver asks for (a scheduled start may fall in the next window).
        let asked_start = window.starts_at.unwrap_or(now).max(now);
        let windows_now = WindowCheck::new(self.policy.window_status(&req.device, &req.zone, asked_start), rule.outside_window);
        let refusal = if who.disabled || who.expired_at(now) || !rule.may_approve(who.role) {
            let state = if who.disabled { ", disabled" } else if who.expired_at(now) { ", past its end date" } else { "" };
            Some(format!("{approver} may not approve requests for {} (role {}{state})", req.device, who.role))
        } else if who.id == req.vendor_id {
            Some("nobody may approve their own request".to_owned())
        } else if req.filed_by.as_deref() == Some(approver.as_str()) {
            Some(format!("{approver} filed request #{id} on the vendor's behalf; another approver must decide it"))
        } else if !vendor_active {
            Some(format!("the vendor account {} is disabled or past its end date; its requests cannot be approved", req.vendor))
        } else if !device_active {
            Some(format!("the device {} is disabled; requests for it cannot be approved", req.device))
        } else if req.approvals.contains(approver) {
            Some(format!("{approver} has already approved request #{id}; another approver is needed"))
        } else {
            windows_now.refusal(req.device.as_str())
        };
        if let Some(msg) = refusal {
            self.audit_refusal(id, approver, &msg, via).await?;
            return Err(ApprovalError::NotAllowed(msg));
        }
        if let Some(c) = &channels {
            if !c.is_subset(&req.channels) {
                return Err(ApprovalError::Invalid(format!(
                    "request #{id} asks for {}; an approval may grant those or fewer, not {c}",
                    req.channels
                )));
            }
        }
        let starts_at = window.check_start(now, self.cfg.max_schedule_ahead())?;
        if let Some(length) = window.length {
            input::check_length(length, req.minutes, rule.max_window()).map_err(|why| ApprovalError::Invalid(format!("request #{id}: {why}")))?;
        }
        let secs = window.length.map(|w| w.as_secs() as i64);
        let mut tx = self.audit.begin().await?;
        if !self.store.lock_pending_request(&mut tx, id).await? {
            return Err(ApprovalError::Conflict(format!("request #{id} was decided meanwhile")));
        }
        if let Some(c) = self.store.containment_over(&mut tx, req.device_id).await? {
            let msg = format!("{} is contained ({}, containment #{}); its requests cannot be approved", req.device, c.scope, c.id);
            return Err(self.refuse_within(tx, id, approver, via, ApprovalError::Conflict(msg)).await);
        }
        match self.store.insert_approval(&mut tx, id, who.id, secs, starts_at, now).await {
            Err(StoreError::Exists(_)) => {
                let msg = format!("{approver} has already approved request #{id}; another approver is needed");
                return Err(self.refuse_within(tx, id, approver, via, ApprovalError::NotAllowed(msg)).await);
            }
            other => other?,
        }
        if let Some(c) = &channels {
            self.store.set_approval_channels(&mut tx, id, who.id, c).await?;
        }
        let tally = self.store.approval_tally(&mut tx, id).await?;
        let need = req.required_approvals.max(rule.approvals + windows_now.extra_approvers());
        let by = Decider { name: approver, id: who.id, via, now };
        let next = match self.next_step(&mut tx, &req, &rule, &tally, need, &by).await {
            Err(refused @ ApprovalError::NotAllowed(_)) => return Err(self.refuse_within(tx, id, approver, via, refused).await),
            other => other?,
        };
        tx.append(Event::new(approver.as_str(), Kind::RequestApprovalRecorded, Subject::Request(id), json!({
                "approvals": tally.count, "required": need, "via": via, "window_seconds": secs, "starts_at": starts_at,
                "channels": channels.as_ref().unwrap_or(&req.channels),
                "awaiting_clinical_signoff": matches!(next, Next::AwaitingSignoff),
            })))
            .await?;
        let outcome = match next {
            Next::Short => ApproveOutcome::Recorded { have: tally.count, need },
            Next::AwaitingSignoff => ApproveOutcome::AwaitingSignoff { have: tally.count, need },
            Next::Grant(terms) => ApproveOutcome::Granted(self.make_grant(&mut tx, &req, terms, &by).await?),
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Denies a pending request.
    pub async fn deny(&self, id: RequestId, approver: &Username, reason: &str, via: &str) -> Result<(), ApprovalError> {
        let who = self.store.user_by_name(approver).await?.ok_or_else(|| ApprovalError::NotFound(format!("user {approver}")))?;
        let req = self.pending_request(id).await?;
        if who.disabled || who.expired_at(clock::now()) || !self.policy.rule(req.criticality, &req.zone).may_approve(who.role) {
            let msg = format!("{approver} may not decide requests for {}", req.device);
            self.audit_refusal(id, approver, &msg, via).await?;
            return Err(ApprovalError::NotAllowed(msg));
        }
        let reason = input::reason(reason, true).map_err(|e| ApprovalError::Invalid(format!("a denial: {e}")))?;
        let now = clock::now();
        let mut tx = self.audit.begin().await?;
        if !self.store.set_request_state(&mut tx, id, RequestState::Pending, RequestState::Denied, approver.as_str(), Some(reason), now).await? {
            return Err(ApprovalError::Conflict(format!("request #{id} was decided meanwhile")));
        }
        tx.append(Event::new(approver.as_str(), Kind::RequestDenied, Subject::Request(id), json!({
            "reason": reason, "vendor": req.vendor, "device": req.device, "via": via,
        })))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes an approved request's grant; running sessions under it are then cut.
    /// Approvers, admins and the requesting vendor may revoke.
    pub async fn revoke(&self, id: RequestId, by: &Username, via: &str) -> Result<(), ApprovalError> {
        let who = self.store.user_by_name(by).await?.ok_or_else(|| ApprovalError::NotFound(format!("user {by}")))?;
        let req = self.store.request(id).await?.ok_or_else(|| ApprovalError::NotFound(format!("request #{id}")))?;
        if who.disabled || !(who.role.may_approve() || who.id == req.vendor_id) {
            return Err(ApprovalError::NotAllowed(format!("{by} may not revoke request #{id}")));
        }
        if req.state != RequestState::Approved {
            return Err(ApprovalError::Conflict(format!("request #{id} is {}; only approved requests can be revoked", req.state)));
        }
        let now = clock::now();
        let mut tx = self.audit.begin().await?;
        if !self.store.set_request_state(&mut tx, id, RequestState::Approved, RequestState::Revoked, by.as_str(), None, now).await? {
            return Err(ApprovalError::Conflict(format!("request #{id} changed meanwhile")));
        }
        self.store.revoke_grant(&mut tx, id, by.as_str(), now).await?;
        tx.append(Event::new(by.as_str(), Kind::RequestRevoked, Subject::Request(id), json!({
            "vendor": req.vendor, "device": req.device, "via": via,
        })))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks a pending request expired (nobody decided in time).
    pub async fn expire(&self, id: RequestId, why: &str) -> Result<bool, ApprovalError> {
        let now = clock::now();
        let mut tx = self.audit.begin().await?;
        if !self.store.set_request_state(&mut tx, id, RequestState::Pending, RequestState::Expired, "system", Some(why), now).await? {
            return Ok(false);
        }
        tx.append(Event::new("system", Kind::RequestExpired, Subject::Request(id), json!({ "why": why }))).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Expires every pending request older than the configured time to live.
    pub async fn expire_stale(&self) -> Result<usize, ApprovalError> {
        let cutoff = clock::now() - self.cfg.request_ttl.0.as_secs() as i64;
        let mut n = 0;
        for id in self.store.stale_pending_requests(cutoff).await? {
            if self.expire(id, "nobody decided in time").await? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Asks the node holding a session to stop it: at once, or after warning the vendor
    /// (the session closes `grace` later). A graceful stop may be brought forward to an
    /// immediate one, never put off.
    pub async fn stop_session(&self, input: StopInput) -> Result<(), ApprovalError> {
        let StopInput { id, by, reason, mode } = input;
        let by = by.as_str();
        let reason = input::reason(&reason, false).map_err(ApprovalError::Invalid)?;
        let now = clock::now();
        let stop_at = match mode {
            StopMode::Immediate => now,
            StopMode::Graceful(grace) => now + grace.as_secs() as i64,
        };
        let mut tx = self.audit.begin().await?;
        if !self.store.request_session_stop(&mut tx, id, by, now, stop_at).await? {
            drop(tx);
            return Err(match self.store.session(id).await? {
                None => ApprovalError::NotFound(format!("session {id}")),
                Some(s) if s.ended_at.is_some() => ApprovalError::Conflict(format!("session {id} has already ended")),
                Some(_) => ApprovalError::Conflict(format!("session {id} is already being stopped")),
            });
        }
        tx.append(Event::new(by, Kind::SessionStopRequested, Subject::Session(id), json!({
            "reason": reason, "mode": mode.as_str(), "stop_at": stop_at,
        })))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn pending_request(&self, id: RequestId) -> Result<RequestRecord, ApprovalError> {
        let req = self.store.request(id).await?.ok_or_else(|| ApprovalError::NotFound(format!("request #{id}")))?;
        if req.state != RequestState::Pending {
            return Err(ApprovalError::Conflict(format!("request #{id} is {}, not pending", req.state)));
        }
        if req.created_at + (self.cfg.request_ttl.0.as_secs() as i64) < clock::now() {
            self.expire(id, "nobody decided in time").await?;
            return Err(ApprovalError::Conflict(format!("request #{id} has expired")));
        }
        Ok(req)
    }

    /// Abandons the decision's transaction `tx`, then audits `refused` (a refusal with its
    /// reason) as `who`'s refused decision on request `id`; returns it, or the audit's own
    /// failure. The transaction goes first: it holds the store's write lock that the
    /// refusal's row needs, and nothing it wrote may stay.
    async fn refuse_within(&self, tx: AuditedWrite, id: RequestId, who: &Username, via: &str, refused: ApprovalError) -> ApprovalError {
        drop(tx);
        // A refusal's text is its message alone (`NotAllowed` and `Conflict` display as `{0}`).
        match self.audit_refusal(id, who, &refused.to_string(), via).await {
            Ok(()) => refused,
            Err(e) => e,
        }
    }

    async fn audit_refusal(&self, id: RequestId, who: &Username, msg: &str, via: &str) -> Result<(), ApprovalError> {
        self.audit
            .record(Event::new(who.as_str(), Kind::RequestApprovalRefused, Subject::Request(id), json!({ "why": msg, "via": via })))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
