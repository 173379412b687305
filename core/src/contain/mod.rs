//! Containment: an administrator's incident decision to close a zone or one device. One
//! order revokes every grant there that is not over yet (scheduled ones too), settles every
//! pending request there (denied, naming the containment), and orders every running session
//! there to stop — all in one audited write with one `containment.ordered` row naming what it
//! did, so it happens entirely or not at all. While it is in force new requests there are
//! refused (see [`crate::approvals`]), until an administrator lifts it (`containment.lifted`).
//!
//! Patient safety comes first: a session on a `life-critical` device is stopped gracefully
//! (the vendor is warned and the session closes after `session.stop_grace`), and no order is
//! taken while such a session runs unless it names who confirmed the device is safe to
//! disconnect. `immediate`, with its own reason, cuts every session at once (the confirmation
//! is still required). Sessions on other devices are cut at once: it is an incident. The
//! grant of a session being stopped gracefully is revoked as of its deadline, so it serves no
//! new connection meanwhile (see [`crate::store::SessionControl`]).

mod input;

pub use input::{ContainInput, LiftInput, IMMEDIATE_NEEDS_REASON};

use crate::approvals::ApprovalError;
use crate::audit::{AuditLog, Event, Kind, Subject};
use crate::clock;
use crate::context::Context;
use crate::domain::{Criticality, RequestState, Role, Scope, SessionId, Username};
use crate::store::{ContainmentRecord, NewContainment, ScopeRequest, ScopeSession, Store, StoreError};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// The containment service; clonable.
#[derive(Clone, Debug)]
pub struct Containments {
    store: Store,
    audit: AuditLog,
    /// How long a life-critical session is given after its vendor is warned.
    grace: Duration,
}

/// What an order would act on, read now (the confirmation page, `contain … --dry-run`).
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub scope: Scope,
    /// How many devices the scope holds.
    pub devices: u64,
    /// The containment already in force over exactly this scope.
    pub in_force: Option<ContainmentRecord>,
    /// Requests that would be denied.
    pub pending: Vec<ScopeRequest>,
    /// Approved requests whose grant would be revoked.
    pub granted: Vec<ScopeRequest>,
    /// Sessions that would be stopped.
    pub sessions: Vec<ScopeSession>,
    /// The graceful stop's length, in seconds.
    pub grace_seconds: u64,
}

impl Plan {
    /// Whether a life-critical session runs there: the order then needs a clinical confirmation.
    pub fn needs_confirmation(&self) -> bool {
        self.sessions.iter().any(|s| s.criticality == Criticality::LifeCritical)
    }
}

/// One session an order stopped.
#[derive(Debug, Clone, Serialize)]
pub struct Stopped {
    pub session: SessionId,
    pub device: String,
    /// `graceful` or `immediate`.
    pub mode: &'static str,
    /// When it closes (Unix seconds).
    pub stop_at: i64,
}

/// What an order did.
#[derive(Debug, Clone, Serialize)]
pub struct Contained {
    pub id: i64,
    pub scope: Scope,
    /// Pending requests denied.
    pub settled: Vec<crate::domain::RequestId>,
    /// Approved requests whose grant was revoked.
    pub revoked: Vec<crate::domain::RequestId>,
    pub stopped: Vec<Stopped>,
}

impl Containments {
    /// Builds the service; `grace` is `session.stop_grace`.
    pub fn new(store: Store, audit: AuditLog, grace: Duration) -> Self {
        Self { store, audit, grace }
    }

    /// The service of an opened context.
    pub fn of(ctx: &Context) -> Self {
        Self::new(ctx.store.clone(), ctx.audit.clone(), ctx.config.session.stop_grace.0)
    }

    /// What containing `scope` would act on now; a scope with no device is refused.
    pub async fn preview(&self, scope: &Scope) -> Result<Plan, ApprovalError> {
        let mut conn = self.store.pool().acquire().await.map_err(StoreError::from)?;
        let devices = self.devices_in(scope).await?;
        let (pending, granted) = self.store.requests_in(&mut conn, scope, clock::now()).await?;
        let sessions = self.store.sessions_in(&mut conn, scope).await?;
        let in_force = self.store.containment_in_force(scope).await?;
        Ok(Plan { scope: scope.clone(), devices, in_force, pending, granted, sessions, grace_seconds: self.grace.as_secs() })
    }

    /// Containments, newest first; with `in_force`, only those not lifted.
    pub async fn list(&self, in_force: bool) -> Result<Vec<ContainmentRecord>, ApprovalError> {
        Ok(self.store.containments(in_force, 500).await?)
    }

    /// Orders the containment of `input.scope`: see the module's rules. Refused, with nothing
    /// changed, for anyone but an enabled administrator (audited), without a reason, for an
    /// immediate order without its reason, and without a clinical confirmation while a
    /// life-critical session runs there.
    pub async fn contain(&self, input: ContainInput) -> Result<Contained, ApprovalError> {
        let (reason, confirmed, immediate) = input.checked()?;
        self.check_admin(&input.by, &input.scope, "contain", &input.via).await?;
        self.devices_in(&input.scope).await?;
        if let Some(c) = self.store.containment_in_force(&input.scope).await? {
            return Err(ApprovalError::Conflict(format!("{} is already contained (containment #{} by {})", input.scope, c.id, c.ordered_by)));
        }
        let (by, scope, now) = (input.by.as_str(), &input.scope, clock::now());
        let note = format!("contained: {scope}: {reason}");
        let mut tx = self.audit.begin().await?;
        self.store.lock_scope(&mut tx, scope).await?;
        let new = NewContainment { scope, ordered_by: by, reason: &reason, confirmed_by: confirmed.as_deref(), immediate: immediate.as_deref(), now };
        let id = self.store.insert_containment(&mut tx, new).await.map_err(|e| match e {
            StoreError::Exists(what) => ApprovalError::Conflict(format!("{what} is already in force")),
            other => other.into(),
        })?;
        // Pending first: an approval racing this order then either commits before (and its
        // grant is read below) or finds the request settled.
        let (pending, _) = self.store.requests_in(&mut tx, scope, now).await?;
        let mut settled = Vec::new();
        for r in &pending {
            if self.store.set_request_state(&mut tx, r.id, RequestState::Pending, RequestState::Denied, by, Some(&note), now).await? {
                settled.push(r.id);
            }
        }
        let sessions = self.store.sessions_in(&mut tx, scope).await?;
        let critical: Vec<&ScopeSession> = sessions.iter().filter(|s| s.criticality == Criticality::LifeCritical).collect();
        if !critical.is_empty() && confirmed.is_none() {
            let names: Vec<String> = critical.iter().map(|s| format!("session {} on {}", s.id, s.device)).collect();
            return Err(ApprovalError::Invalid(format!(
                "life-critical sessions are running ({}): name who confirmed the device is safe to disconnect",
                names.join(", ")
            )));
        }
        let mut stopped = Vec::new();
        let mut deadline: HashMap<i64, i64> = HashMap::new();
        for s in &sessions {
            let graceful = immediate.is_none() && s.criticality == Criticality::LifeCritical;
            let at = if graceful { now + self.grace.as_secs() as i64 } else { now };
            self.store.request_session_stop(&mut tx, s.id, by, now, at).await?;
            let at = s.stop_at.map_or(at, |earlier| earlier.min(at));
            if at > now {
                let d = deadline.entry(s.grant_id.0).or_insert(at);
                *d = (*d).max(at);
            }
            stopped.push(Stopped { session: s.id, device: s.device.to_string(), mode: if at > now { "graceful" } else { "immediate" }, stop_at: at });
        }
        let (_, granted) = self.store.requests_in(&mut tx, scope, now).await?;
        let mut revoked = Vec::new();
        for r in &granted {
            if !self.store.set_request_state(&mut tx, r.id, RequestState::Approved, RequestState::Revoked, by, Some(&note), now).await? {
                continue;
            }
            let at = r.grant.and_then(|(g, _, _)| deadline.get(&g.0).copied()).unwrap_or(now);
            self.store.revoke_grant(&mut tx, r.id, by, at).await?;
            revoked.push(r.id);
        }
        tx.append(Event::new(by, Kind::ContainmentOrdered, subject(scope), json!({
            "containment": id, "scope": scope, "reason": reason, "confirmed_by": confirmed, "immediate": immediate.is_some(),
            "immediate_reason": immediate, "via": input.via, "grace_seconds": self.grace.as_secs(),
            "revoked": revoked, "settled": settled, "stopped": stopped,
            "counts": { "revoked": revoked.len(), "settled": settled.len(), "stopped": stopped.len(),
                        "graceful": stopped.iter().filter(|s| s.mode == "graceful").count() },
        })))
        .await?;
        tx.commit().await?;
        Ok(Contained { id, scope: scope.clone(), settled, revoked, stopped })
    }

    /// Lifts the containment in force over `input.scope`; its id. Requests there may be made
    /// again; nothing it revoked or stopped comes back.
    pub async fn lift(&self, input: LiftInput) -> Result<i64, ApprovalError> {
        let reason = crate::approvals::reason(&input.reason, true).map_err(|e| ApprovalError::Invalid(format!("lifting a containment: {e}")))?;
        self.check_admin(&input.by, &input.scope, "lift", &input.via).await?;
        let (by, scope) = (input.by.as_str(), &input.scope);
        let mut tx = self.audit.begin().await?;
        let Some(id) = self.store.lift_containment(&mut tx, scope, by, reason, clock::now()).await? else {
            return Err(ApprovalError::NotFound(format!("containment in force over {scope}")));
        };
        tx.append(Event::new(by, Kind::ContainmentLifted, subject(scope), json!({
            "containment": id, "scope": scope, "reason": reason, "via": input.via,
        })))
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Refuses (and audits the refusal of) anyone but an enabled administrator.
    async fn check_admin(&self, by: &Username, scope: &Scope, action: &str, via: &str) -> Result<(), ApprovalError> {
        let who = self.store.user_by_name(by).await?;
        let now = clock::now();
        let why = match &who {
            None => format!("no user {by}"),
            Some(u) if u.disabled || u.expired_at(now) => format!("{by} is disabled or past its end date"),
            Some(u) if u.role != Role::Admin => format!("{by} may not {action} a containment (role {}); only an admin may", u.role),
            Some(_) => return Ok(()),
        };
        self.audit
            .record(Event::new(by.as_str(), Kind::ContainmentRefused, subject(scope), json!({ "scope": scope, "action": action, "why": why, "via": via })))
            .await?;
        Err(ApprovalError::NotAllowed(why))
    }

    /// How many devices `scope` holds; none is refused (a mistyped zone must not look contained).
    async fn devices_in(&self, scope: &Scope) -> Result<u64, ApprovalError> {
        let n = self.store.list_devices().await?.iter().filter(|d| match scope {
            Scope::Zone(z) => &d.zone == z,
            Scope::Device(n) => &d.name == n,
        }).count() as u64;
        if n == 0 {
            return Err(ApprovalError::NotFound(match scope {
                Scope::Zone(z) => format!("device in zone {z}"),
                Scope::Device(d) => format!("device {d}"),
            }));
        }
        Ok(n)
    }
}

/// The audit subject of an order: the device, or the installation for a zone (the zone is in
/// the detail's `scope`).
fn subject(scope: &Scope) -> Subject {
    match scope {
        Scope::Device(d) => Subject::device(d),
        Scope::Zone(_) => Subject::System,
    }
}

#[cfg(test)]
mod tests;
