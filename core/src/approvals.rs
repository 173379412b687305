//! Requests, approvals, denials, revocations and stop requests: the decisions of Portcullis,
//! made here once for every interface (SSH lobby, CLI, web). Each decision is one write
//! transaction that checks state, changes it and appends its audit row, so a decision and its
//! record cannot part. Rules enforced here: nobody approves their own request; each approver
//! counts once; life-critical devices need two distinct approvers (policy); a window never
//! exceeds the policy maximum; a request nobody decided in time expires.

use crate::audit::{AuditLog, Event};
use crate::clock;
use crate::config::ApprovalConfig;
use crate::domain::{ChannelSet, DeviceName, RequestId, RequestState, SessionId, Username};
use crate::policy::Policy;
use crate::store::{GrantRecord, RequestRecord, Store, StoreError};
use serde_json::json;
use std::time::Duration;

/// Longest reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Why a decision could not be made. The message is meant for the person who asked.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0} not found")]
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
    /// The last approval needed: the grant exists now.
    Granted(GrantRecord),
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

    /// A vendor asks for `minutes` of a terminal on `device`.
    pub async fn create_request(&self, vendor: &Username, device: &DeviceName, reason: &str, minutes: i64, peer: &str) -> Result<RequestRecord, ApprovalError> {
        self.create_request_channels(vendor, device, reason, minutes, &ChannelSet::shell(), peer).await
    }

    /// A vendor asks for `minutes` of `channels` on `device`; TCP ports must be ones the
    /// device lists.
    pub async fn create_request_channels(
        &self,
        vendor: &Username,
        device: &DeviceName,
        reason: &str,
        minutes: i64,
        channels: &ChannelSet,
        peer: &str,
    ) -> Result<RequestRecord, ApprovalError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ApprovalError::Invalid("a reason is required (e.g. the ticket number and what you will do)".into()));
        }
        if reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(|c| c.is_control()) {
            return Err(ApprovalError::Invalid(format!("the reason must be one line of at most {MAX_REASON_CHARS} characters")));
        }
        if minutes < 1 || minutes > self.policy.max_minutes() {
            return Err(ApprovalError::Invalid(format!("minutes must be between 1 and {}", self.policy.max_minutes())));
        }
        let user = self.store.user_by_name(vendor).await?.ok_or_else(|| ApprovalError::NotFound(format!("user {vendor}")))?;
        let dev = self.store.device_by_name(device).await?.filter(|d| !d.disabled);
        let dev = dev.ok_or_else(|| ApprovalError::NotFound(format!("device {device}")))?;
        channels.check_ports(&dev.tcp_ports).map_err(|e| ApprovalError::Invalid(e.0))?;
        let need = self.policy.required_approvals(dev.criticality);
        let now = clock::now();
        let mut tx = self.store.begin_write().await?;
        let id = self.store.insert_request(&mut tx, user.id, dev.id, reason, minutes, need, now).await?;
        self.store.set_request_channels(&mut tx, id, channels).await?;
        let seq = self
            .audit
            .record_in(&mut tx, Event::new(vendor.as_str(), "request.created", format!("request:{id}"), json!({
                "device": device, "minutes": minutes, "reason": reason, "channels": channels, "required_approvals": need, "peer": peer,
            })))
            .await?;
        tx.commit().await?;
        self.audit.committed(seq).await?;
        self.store.require_request(id).await.map_err(Into::into)
    }

    /// Records `approver`'s approval of everything asked for, creating the grant when enough
    /// distinct approvers agree. `window` (if given) shortens the requested window; it never
    /// lengthens past the policy.
    pub async fn approve(&self, id: RequestId, approver: &Username, window: Option<Duration>, via: &str) -> Result<ApproveOutcome, ApprovalError> {
        self.approve_channels(id, approver, window, None, via).await
    }

    /// Like [`Approvals::approve`], and `channels` (if given) grants only some of the channels
    /// asked for. The grant holds what every approver agreed to.
    pub async fn approve_channels(
        &self,
        id: RequestId,
        approver: &Username,
        window: Option<Duration>,
        channels: Option<ChannelSet>,
        via: &str,
    ) -> Result<ApproveOutcome, ApprovalError> {
        let who = self.store.user_by_name(approver).await?.ok_or_else(|| ApprovalError::NotFound(format!("user {approver}")))?;
        let req = self.pending_request(id).await?;
        let refusal = if who.disabled || !who.role.may_approve() {
            Some(format!("{approver} may not approve requests (role {}{})", who.role, if who.disabled { ", disabled" } else { "" }))
        } else if who.id == req.vendor_id {
            Some("nobody may approve their own request".to_owned())
        } else if req.approvals.contains(approver) {
            Some(format!("{approver} has already approved request #{id}; another approver is needed"))
        } else {
            None
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
        let secs = window.map(|w| self.policy.clamp_window(w).as_secs().max(1) as i64);
        let now = clock::now();
        let mut tx = self.store.begin_write().await?;
        if !self.store.lock_pending_request(&mut tx, id).await? {
            return Err(ApprovalError::Conflict(format!("request #{id} was decided meanwhile")));
        }
        match self.store.insert_approval(&mut tx, id, who.id, secs, now).await {
            Err(StoreError::Exists(_)) => {
                drop(tx);
                let msg = format!("{approver} has already approved request #{id}; another approver is needed");
                self.audit_refusal(id, approver, &msg, via).await?;
                return Err(ApprovalError::NotAllowed(msg));
            }
            other => other?,
        }
        if let Some(c) = &channels {
            self.store.set_approval_channels(&mut tx, id, who.id, c).await?;
        }
        let (have, min_secs) = self.store.approval_tally(&mut tx, id).await?;
        let need = req.required_approvals;
        let mut seq = self
            .audit
            .record_in(&mut tx, Event::new(approver.as_str(), "request.approval_recorded", format!("request:{id}"), json!({
                "approvals": have, "required": need, "via": via, "window_seconds": secs,
                "channels": channels.as_ref().unwrap_or(&req.channels),
            })))
            .await?;
        let outcome = if have >= need {
            let requested = req.minutes * 60;
            let length = min_secs.map_or(requested, |s| s.min(requested)).min(self.policy.max_minutes() * 60);
            let moved = self.store.set_request_state(&mut tx, id, RequestState::Pending, RequestState::Approved, approver.as_str(), None, now).await?;
            if !moved {
                return Err(ApprovalError::Conflict(format!("request #{id} was decided meanwhile")));
            }
            let mut granted = req.channels.clone();
            for narrowed in self.store.approval_channels(&mut tx, id).await? {
                granted = granted.intersection(&narrowed).ok_or_else(|| {
                    ApprovalError::Conflict(format!("the approvers of request #{id} agreed to no common channel"))
                })?;
            }
            let grant = self.store.insert_grant_channels(&mut tx, &req, now, now + length, &granted).await?;
            seq = self
                .audit
                .record_in(&mut tx, Event::new(approver.as_str(), "request.approved", format!("request:{id}"), json!({
                    "grant": grant.id, "vendor": req.vendor, "device": req.device,
                    "channels": grant.channels, "requested_channels": req.channels,
                    "starts_at": grant.starts_at, "ends_at": grant.ends_at, "via": via,
                })))
                .await?;
            ApproveOutcome::Granted(grant)
        } else {
            ApproveOutcome::Recorded { have, need }
        };
        tx.commit().await?;
        self.audit.committed(seq).await?;
        Ok(outcome)
    }

    /// Denies a pending request.
    pub async fn deny(&self, id: RequestId, approver: &Username, reason: &str, via: &str) -> Result<(), ApprovalError> {
        let who = self.store.user_by_name(approver).await?.ok_or_else(|| ApprovalError::NotFound(format!("user {approver}")))?;
        if who.disabled || !who.role.may_approve() {
            let msg = format!("{approver} may not decide requests");
            self.audit_refusal(id, approver, &msg, via).await?;
            return Err(ApprovalError::NotAllowed(msg));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(ApprovalError::Invalid(format!("a denial needs a reason of 1 to {MAX_REASON_CHARS} characters")));
        }
        let req = self.pending_request(id).await?;
        let now = clock::now();
        let mut tx = self.store.begin_write().await?;
        if !self.store.set_request_state(&mut tx, id, RequestState::Pending, RequestState::Denied, approver.as_str(), Some(reason), now).await? {
            return Err(ApprovalError::Conflict(format!("request #{id} was decided meanwhile")));
        }
        let seq = self
            .audit
            .record_in(&mut tx, Event::new(approver.as_str(), "request.denied", format!("request:{id}"), json!({
                "reason": reason, "vendor": req.vendor, "device": req.device, "via": via,
            })))
            .await?;
        tx.commit().await?;
        self.audit.committed(seq).await?;
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
        let mut tx = self.store.begin_write().await?;
        if !self.store.set_request_state(&mut tx, id, RequestState::Approved, RequestState::Revoked, by.as_str(), None, now).await? {
            return Err(ApprovalError::Conflict(format!("request #{id} changed meanwhile")));
        }
        self.store.revoke_grant(&mut tx, id, by.as_str(), now).await?;
        let seq = self
            .audit
            .record_in(&mut tx, Event::new(by.as_str(), "request.revoked", format!("request:{id}"), json!({
                "vendor": req.vendor, "device": req.device, "via": via,
            })))
            .await?;
        tx.commit().await?;
        self.audit.committed(seq).await?;
        Ok(())
    }

    /// Marks a pending request expired (nobody decided in time).
    pub async fn expire(&self, id: RequestId, why: &str) -> Result<bool, ApprovalError> {
        let now = clock::now();
        let mut tx = self.store.begin_write().await?;
        if !self.store.set_request_state(&mut tx, id, RequestState::Pending, RequestState::Expired, "system", Some(why), now).await? {
            return Ok(false);
        }
        let seq = self
            .audit
            .record_in(&mut tx, Event::new("system", "request.expired", format!("request:{id}"), json!({ "why": why })))
            .await?;
        tx.commit().await?;
        self.audit.committed(seq).await?;
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

    /// Asks the node holding a session to stop it.
    pub async fn stop_session(&self, id: SessionId, by: &str, reason: &str) -> Result<(), ApprovalError> {
        let now = clock::now();
        let mut tx = self.store.begin_write().await?;
        if !self.store.request_session_stop(&mut tx, id, by, now).await? {
            return Err(ApprovalError::Conflict(format!("session {id} is not active (or a stop was already requested)")));
        }
        let seq = self
            .audit
            .record_in(&mut tx, Event::new(by, "session.stop_requested", format!("session:{id}"), json!({ "reason": reason })))
            .await?;
        tx.commit().await?;
        self.audit.committed(seq).await?;
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

    async fn audit_refusal(&self, id: RequestId, who: &Username, msg: &str, via: &str) -> Result<(), ApprovalError> {
        self.audit
            .record(Event::new(who.as_str(), "request.approval_refused", format!("request:{id}"), json!({ "why": msg, "via": via })))
            .await?;
        Ok(())
    }
}
