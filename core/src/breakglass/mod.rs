//! Break-glass: an account holding the `break-glass` right opens an emergency session without
//! a prior approval, after stating an incident reference and a reason. Decided here once for
//! every surface (the SSH lobby's `break-glass` command, the API). The rules: the policy of
//! the device's criticality and zone must allow it (`break_glass`) and bounds its length
//! (`break_glass_minutes`, never above [`crate::config::MAX_BREAK_GLASS_MINUTES`]; a longer
//! ask is clipped to it); a device under a containment in force refuses it (the incident
//! commander closed it, and an emergency session is exactly what containment must stop);
//! maintenance windows do not apply (the emergency is why there is no window) and their
//! state is recorded. The opening is one audited write: an already-approved request, its
//! grant and the `breakglass.opened` row (critical severity for the SIEM; approvers are
//! notified by [`crate::notify`] from that row). The session then runs and is recorded like
//! any other, cut when the grant ends.
//!
//! Afterwards two distinct approvers review it ([`BreakGlass::review`]): not the vendor, each
//! once. Any "not justified" settles it as not justified at once and disables the vendor's
//! account in the same write (`breakglass.reviewed` and `user.disabled`); two "justified"
//! settle it as justified. [`tasks`] escalates overdue reviews and exports the evidence
//! bundle of each break-glass session when it ends.

mod store;
pub mod tasks;

pub use store::{BreakGlassRecord, ReviewRecord};

use crate::approvals::reason as check_reason;
use crate::audit::{AuditLog, Event, Kind, Subject};
use crate::clock;
use crate::config::BreakGlassConfig;
use crate::domain::{ChannelSet, DeviceName, Permission, RequestId, RequestState, Username};
use crate::policy::Policy;
use crate::store::{GrantRecord, Store, StoreError};
use serde_json::json;

/// Longest incident reference, in characters.
pub const MAX_INCIDENT_CHARS: usize = 100;

/// Why a break-glass decision could not be made; the message is for the person who asked.
#[derive(Debug, thiserror::Error)]
pub enum BreakGlassError {
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

impl From<sqlx::Error> for BreakGlassError {
    fn from(e: sqlx::Error) -> Self {
        BreakGlassError::Store(StoreError::Db(e))
    }
}

/// An emergency opening asked for.
#[derive(Debug, Clone)]
pub struct OpenInput {
    pub vendor: Username,
    pub device: DeviceName,
    /// The hospital's incident reference (ticket, call number).
    pub incident: String,
    pub reason: String,
    /// Minutes asked for; `None`: the policy's maximum. More than the maximum is clipped.
    pub minutes: Option<i64>,
    pub channels: ChannelSet,
    /// Where it came from (`ssh:ADDR`, …), for the audit row.
    pub peer: String,
}

/// What an opening created.
#[derive(Debug, Clone)]
pub struct Opened {
    pub request: RequestId,
    pub grant: GrantRecord,
    /// The minutes granted.
    pub minutes: i64,
    /// Whether the ask was longer than the policy's maximum.
    pub clipped: bool,
    /// Unix seconds by which two approvers must have reviewed it.
    pub review_due: i64,
}

/// A reviewer's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Justified,
    NotJustified,
}

impl Verdict {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Justified => "justified",
            Verdict::NotJustified => "not-justified",
        }
    }

    /// Parses `justified` / `not-justified` (or `not_justified`).
    pub fn parse(s: &str) -> Result<Verdict, String> {
        match s.trim() {
            "justified" => Ok(Verdict::Justified),
            "not-justified" | "not_justified" => Ok(Verdict::NotJustified),
            other => Err(format!("verdict must be justified or not-justified, not {other:?}")),
        }
    }
}

/// What a review led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviewed {
    /// `pending`, `justified` or `not-justified`.
    pub outcome: String,
    /// Whether this review disabled the vendor's account.
    pub account_disabled: bool,
}

/// The break-glass service; clonable.
#[derive(Debug, Clone)]
pub struct BreakGlass {
    store: Store,
    audit: AuditLog,
    policy: Policy,
    cfg: BreakGlassConfig,
}

/// An incident reference: one line, not empty, at most [`MAX_INCIDENT_CHARS`].
pub fn incident(text: &str) -> Result<&str, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("an incident reference is required (the hospital's ticket or call number)".into());
    }
    if text.chars().count() > MAX_INCIDENT_CHARS || text.chars().any(char::is_control) {
        return Err(format!("the incident reference must be one line of at most {MAX_INCIDENT_CHARS} characters"));
    }
    Ok(text)
}

impl BreakGlass {
    pub fn new(store: Store, audit: AuditLog, policy: Policy, cfg: BreakGlassConfig) -> Self {
        Self { store, audit, policy, cfg }
    }

    /// The configuration (review time, evidence folder).
    pub fn config(&self) -> &BreakGlassConfig {
        &self.cfg
    }

    async fn refuse(&self, actor: &str, input: &OpenInput, why: String) -> Result<BreakGlassError, BreakGlassError> {
        self.audit
            .record(Event::new(actor, Kind::BreakGlassRefused, Subject::device(&input.device), json!({
                "vendor": input.vendor, "why": why, "incident": input.incident.trim(), "reason": input.reason.trim(), "peer": input.peer,
            })))
            .await?;
        Ok(BreakGlassError::NotAllowed(why))
    }

    /// Opens an emergency grant; every refusal is audited (`breakglass.refused`).
    pub async fn open(&self, input: OpenInput) -> Result<Opened, BreakGlassError> {
        let actor = input.vendor.as_str();
        let (incident, reason) = match (incident(&input.incident), check_reason(&input.reason, true)) {
            (Ok(i), Ok(r)) => (i.to_owned(), r.to_owned()),
            (Err(e), _) | (_, Err(e)) => return Err(self.refuse(actor, &input, e).await?),
        };
        let now = clock::now();
        let user = self.store.user_by_name(&input.vendor).await?.ok_or_else(|| BreakGlassError::NotFound(format!("user {}", input.vendor)))?;
        if user.disabled || user.expired_at(now) {
            return Err(self.refuse(actor, &input, format!("{} is disabled or past its end date", input.vendor)).await?);
        }
        if !user.permissions.has(Permission::BreakGlass) {
            return Err(self.refuse(actor, &input, format!("{} does not hold the break-glass right; file a request instead", input.vendor)).await?);
        }
        let dev = self.store.device_by_name(&input.device).await?.filter(|d| !d.disabled);
        let Some(dev) = dev else { return Err(self.refuse(actor, &input, format!("no device {}", input.device)).await?) };
        if let Err(e) = input.channels.check_ports(&dev.tcp_ports) {
            return Err(BreakGlassError::Invalid(e.0));
        }
        let rule = self.policy.rule(dev.criticality, &dev.zone);
        if !rule.break_glass {
            let why = format!("policy forbids break-glass on {} ({}, zone {}); file a request instead", dev.name, dev.criticality, dev.zone);
            return Err(self.refuse(actor, &input, why).await?);
        }
        let asked = input.minutes.unwrap_or(rule.break_glass_minutes);
        if asked < 1 {
            return Err(BreakGlassError::Invalid(format!("minutes must be at least 1, not {asked}")));
        }
        let minutes = asked.min(rule.break_glass_minutes);
        let clipped = asked > minutes;
        let window = self.policy.window_status(&dev.name, &dev.zone, now);
        let review_due = now + self.cfg.review_within.0.as_secs() as i64;
        let mut tx = self.audit.begin().await?;
        self.store.lock_device(&mut tx, dev.id).await?;
        if let Some(c) = self.store.containment_over(&mut tx, dev.id).await? {
            drop(tx);
            let why = format!("{} is contained by the hospital ({}, containment #{}); break-glass is refused there too", dev.name, c.scope, c.id);
            return Err(self.refuse(actor, &input, why).await?);
        }
        let text = format!("BREAK-GLASS {incident}: {reason}");
        let id = self.store.insert_request(&mut tx, user.id, dev.id, &text, minutes, 0, now).await?;
        self.store.set_request_channels(&mut tx, id, &input.channels).await?;
        if !self.store.set_request_state(&mut tx, id, RequestState::Pending, RequestState::Approved, "break-glass", Some("break-glass"), now).await? {
            return Err(BreakGlassError::Conflict(format!("request #{id} changed meanwhile")));
        }
        let req = self.store.request_in(&mut tx, id).await?;
        let grant = self.store.insert_grant_channels(&mut tx, &req, now, now + minutes * 60, &input.channels).await?;
        self.store.insert_break_glass(&mut tx, id, &incident, &reason, actor, now, review_due).await?;
        tx.append(Event::new(actor, Kind::BreakGlassOpened, Subject::Request(id), json!({
            "severity": "critical", "vendor": input.vendor, "device": dev.name, "zone": dev.zone, "criticality": dev.criticality,
            "incident": incident, "reason": reason, "grant": grant.id, "channels": grant.channels,
            "starts_at": grant.starts_at, "ends_at": grant.ends_at, "minutes": minutes, "asked_minutes": asked, "clipped": clipped,
            "review_due": review_due, "peer": input.peer, "maintenance_window": window.audit(),
        })))
        .await?;
        tx.commit().await?;
        Ok(Opened { request: id, grant, minutes, clipped, review_due })
    }

    /// Records one retrospective review by `reviewer`; refusals are audited
    /// (`breakglass.review_refused`).
    pub async fn review(&self, id: RequestId, reviewer: &Username, verdict: Verdict, note: &str, via: &str) -> Result<Reviewed, BreakGlassError> {
        let note = check_reason(note, true).map_err(|e| BreakGlassError::Invalid(format!("a review note: {e}")))?.to_owned();
        let bg = self.store.break_glass(id).await?.ok_or_else(|| BreakGlassError::NotFound(format!("break-glass #{id}")))?;
        let who = self.store.user_by_name(reviewer).await?.ok_or_else(|| BreakGlassError::NotFound(format!("user {reviewer}")))?;
        let now = clock::now();
        let criticality = crate::domain::Criticality::parse(&bg.criticality).map_err(|e| BreakGlassError::Invalid(e.0))?;
        let zone = crate::domain::Zone::parse(&bg.zone).map_err(|e| BreakGlassError::Invalid(e.0))?;
        let rule = self.policy.rule(criticality, &zone);
        let refusal = if who.disabled || who.expired_at(now) || !rule.may_approve(who.role) {
            Some(format!("{reviewer} may not review break-glass sessions on {} (role {})", bg.device, who.role))
        } else if who.username.as_str() == bg.vendor {
            Some("nobody may review their own break-glass session".to_owned())
        } else if bg.reviews.iter().any(|r| r.reviewer == reviewer.as_str()) {
            Some(format!("{reviewer} has already reviewed break-glass #{id}; another approver must give the second review"))
        } else if bg.reviews.len() >= 2 {
            Some(format!("break-glass #{id} already has its two reviews ({})", bg.outcome))
        } else {
            None
        };
        if let Some(why) = refusal {
            self.audit
                .record(Event::new(reviewer.as_str(), Kind::BreakGlassReviewRefused, Subject::Request(id), json!({ "why": why, "via": via, "verdict": verdict.as_str() })))
                .await?;
            return Err(BreakGlassError::NotAllowed(why));
        }
        let mut tx = self.audit.begin().await?;
        let Some((outcome, reviews)) = self.store.lock_break_glass(&mut tx, id).await? else {
            return Err(BreakGlassError::NotFound(format!("break-glass #{id}")));
        };
        if reviews.iter().any(|(r, _)| r == reviewer.as_str()) || reviews.len() >= 2 {
            return Err(BreakGlassError::Conflict(format!("break-glass #{id} was reviewed by {reviewer} meanwhile, or has its two reviews")));
        }
        let justified = reviews.iter().filter(|(_, v)| v == Verdict::Justified.as_str()).count() + usize::from(verdict == Verdict::Justified);
        let new_outcome = if outcome == Verdict::NotJustified.as_str() || verdict == Verdict::NotJustified {
            Verdict::NotJustified.as_str()
        } else if justified >= 2 {
            Verdict::Justified.as_str()
        } else {
            "pending"
        };
        self.store.insert_break_glass_review(&mut tx, id, reviewer.as_str(), verdict.as_str(), &note, now, new_outcome).await?;
        let vendor = Username::parse(&bg.vendor).map_err(|e| BreakGlassError::Invalid(e.0))?;
        let disable = verdict == Verdict::NotJustified;
        let account_disabled = disable && self.store.set_user_disabled(&mut tx, &vendor, true).await?;
        tx.append(Event::new(reviewer.as_str(), Kind::BreakGlassReviewed, Subject::Request(id), json!({
            "verdict": verdict.as_str(), "note": note, "outcome": new_outcome, "reviews": reviews.len() + 1,
            "vendor": bg.vendor, "device": bg.device, "incident": bg.incident, "via": via,
            "account_disabled": account_disabled,
        })))
        .await?;
        if account_disabled {
            tx.append(Event::new(reviewer.as_str(), Kind::UserDisabled, Subject::user(&vendor), json!({
                "why": format!("break-glass #{id} reviewed as not justified: {note}"), "break_glass": id, "via": via,
            })))
            .await?;
        }
        tx.commit().await?;
        Ok(Reviewed { outcome: new_outcome.to_owned(), account_disabled })
    }
}

#[cfg(test)]
mod tests;
