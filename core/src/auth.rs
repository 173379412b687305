//! Sign-in checks shared by SSH and the web page: is the key enrolled for this
//! account, and is this TOTP code right, fresh and not yet used. Failures are counted in the
//! database so the lockout holds across connections, source addresses and nodes, and every
//! refusal is written to the audit log with the source address — the first few per source
//! and minute one by one, the rest as one counted row ([`flood`]), so a flood of refused
//! sign-ins cannot fill the log.

pub mod flood;

use crate::audit::{AuditLog, Event, Kind, Subject};
use crate::clock;
use crate::config::AuthConfig;
use crate::domain::{Role, Username};
use crate::store::{Store, StoreError, UserRecord};
use crate::totp::Totp;
use crate::vault::{Vault, VaultError};
use serde_json::json;

/// Infrastructure failures (the caller must refuse: fail closed).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("TOTP setup: {0}")]
    Totp(String),
    #[error("too many sign-ins at once; try again in a moment")]
    Busy,
}

/// Why a sign-in step was refused. Shown to operators, never in detail to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnknownUser,
    Disabled,
    /// The account's end date has passed.
    Expired,
    WrongRole,
    KeyNotEnrolled,
    Locked,
    WrongCode,
    Replayed,
    WrongPassword,
}

impl Refusal {
    /// Short word for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownUser => "unknown-user",
            Refusal::Disabled => "disabled",
            Refusal::Expired => "expired",
            Refusal::WrongRole => "wrong-role",
            Refusal::KeyNotEnrolled => "key-not-enrolled",
            Refusal::Locked => "locked",
            Refusal::WrongCode => "wrong-code",
            Refusal::Replayed => "replayed-code",
            Refusal::WrongPassword => "wrong-password",
        }
    }
}

/// The sign-in service; clonable.
#[derive(Clone, Debug)]
pub struct AuthService {
    store: Store,
    vault: Vault,
    audit: AuditLog,
    cfg: AuthConfig,
    /// Refusals per source and minute, shared by every clone.
    flood: flood::FloodGate,
    /// Alert rules fed by sign-ins (new source) and wrong codes; none in tests that build
    /// the service alone.
    alerts: Option<crate::alerts::Alerts>,
}

/// The owner string a user's TOTP secret is sealed for.
pub fn totp_owner(user: &Username) -> String {
    format!("totp:{user}")
}

impl AuthService {
    /// Builds the service.
    pub fn new(store: Store, vault: Vault, audit: AuditLog, cfg: AuthConfig) -> Self {
        Self { store, vault, audit, cfg, flood: flood::FloodGate::default(), alerts: None }
    }

    /// The same service, feeding `alerts` with sign-ins and wrong codes.
    pub fn with_alerts(mut self, alerts: crate::alerts::Alerts) -> Self {
        self.alerts = Some(alerts);
        self
    }

    /// First factor over SSH: is the key with `fingerprint` (SHA256:…) enrolled for this
    /// active vendor account? Only vendor accounts connect over SSH. Writes nothing: SSH
    /// clients offer every key they hold, so the caller decides which refusals to audit
    /// (see [`AuthService::audit_refusal`]).
    pub async fn check_ssh_key(&self, name: &Username, fingerprint: &str) -> Result<Result<UserRecord, Refusal>, AuthError> {
        let Some(user) = self.store.user_by_name(name).await? else {
            return Ok(Err(Refusal::UnknownUser));
        };
        if user.disabled {
            return Ok(Err(Refusal::Disabled));
        }
        if user.expired_at(clock::now()) {
            return Ok(Err(Refusal::Expired));
        }
        if user.role != Role::Vendor {
            return Ok(Err(Refusal::WrongRole));
        }
        if !self.store.user_key_fingerprints(user.id).await?.iter().any(|f| f == fingerprint) {
            return Ok(Err(Refusal::KeyNotEnrolled));
        }
        Ok(Ok(user))
    }

    /// Audits a refused sign-in step.
    pub async fn audit_refusal(&self, name: &Username, r: Refusal, peer: &str, via: &str) -> Result<(), AuthError> {
        self.refused(name.as_str(), r, peer, via).await
    }

    /// Audits a refused sign-in for a name that is not a valid account name (web form).
    pub async fn audit_refusal_raw(&self, name: &str, r: Refusal, peer: &str, via: &str) -> Result<(), AuthError> {
        let shown: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
        self.refused(&shown, r, peer, via).await
    }

    /// Audits a sign-in locked out before any secret was checked.
    pub async fn audit_locked(&self, user: &UserRecord, peer: &str, via: &str) -> Result<(), AuthError> {
        let name = user.username.as_str();
        self.audit
            .record(Event::new(name, Kind::AuthLocked, Subject::user(name), json!({
                "peer": peer, "via": via, "attempt_while_locked": true, "locked_until": user.locked_until,
            })))
            .await?;
        Ok(())
    }

    /// Second factor: the TOTP code. On success the step is consumed.
    pub async fn check_totp(&self, name: &Username, code: &str, peer: &str, via: &str) -> Result<Result<UserRecord, Refusal>, AuthError> {
        let now = clock::now();
        let Some(user) = self.store.user_by_name(name).await? else {
            return Ok(Err(Refusal::UnknownUser));
        };
        if user.disabled {
            self.refused(name.as_str(), Refusal::Disabled, peer, via).await?;
            return Ok(Err(Refusal::Disabled));
        }
        if user.expired_at(now) {
            self.refused(name.as_str(), Refusal::Expired, peer, via).await?;
            return Ok(Err(Refusal::Expired));
        }
        if user.locked_at(now) {
            self.audit
                .record(Event::new(name.as_str(), Kind::AuthLocked, Subject::user(name), json!({
                    "peer": peer, "via": via, "attempt_while_locked": true, "locked_until": user.locked_until,
                })))
                .await?;
            return Ok(Err(Refusal::Locked));
        }
        let secret = self.vault.open_bytes(&totp_owner(name), &user.totp_secret)?;
        let totp = Totp::new(secret, &self.cfg.totp_issuer, name.as_str()).map_err(|e| AuthError::Totp(e.to_string()))?;
        let step = totp.matching_step(code, now.max(0) as u64, self.cfg.totp_skew);
        let refusal = match step {
            Some(step) if self.store.accept_totp_step(user.id, step as i64, now).await? => None,
            Some(_) => Some(Refusal::Replayed),
            None => Some(Refusal::WrongCode),
        };
        let Some(refusal) = refusal else {
            self.audit
                .record(Event::new(name.as_str(), Kind::AuthLogin, Subject::user(name), json!({ "peer": peer, "via": via })))
                .await?;
            if let (Some(alerts), Role::Vendor) = (&self.alerts, user.role) {
                alerts.signed_in(name.as_str(), peer, via).await?;
            }
            return Ok(Ok(user));
        };
        let kind = if refusal == Refusal::Replayed { Kind::AuthTotpReplayed } else { Kind::AuthTotpFailed };
        self.count_failure(&user, kind, peer, via, now).await?;
        Ok(Err(refusal))
    }

    /// Counts a wrong password towards the same lockout as wrong codes, and audits it.
    pub async fn count_password_failure(&self, user: &UserRecord, peer: &str, via: &str) -> Result<(), AuthError> {
        self.count_failure(user, Kind::AuthPasswordFailed, peer, via, clock::now()).await
    }

    async fn count_failure(&self, user: &UserRecord, kind: Kind, peer: &str, via: &str, now: i64) -> Result<(), AuthError> {
        let lock_until = now + self.cfg.lockout.0.as_secs() as i64;
        let count = self.store.record_auth_failure(user.id, i64::from(self.cfg.max_failures), lock_until, now).await?;
        let name = user.username.as_str();
        self.audit
            .record(Event::new(name, kind, Subject::user(name), json!({
                "peer": peer, "via": via, "failures": count.failed_attempts,
            })))
            .await?;
        if let (Some(alerts), Kind::AuthTotpFailed) = (&self.alerts, kind) {
            alerts.code_failed(name, peer).await?;
        }
        if count.failed_attempts == i64::from(self.cfg.max_failures) {
            self.audit
                .record(Event::new("system", Kind::AuthLocked, Subject::user(name), json!({
                    "peer": peer, "via": via, "failures": count.failed_attempts, "locked_until": count.locked_until,
                })))
                .await?;
        }
        Ok(())
    }

    async fn refused(&self, name: &str, r: Refusal, peer: &str, via: &str) -> Result<(), AuthError> {
        let decision = self.flood.note(peer, clock::now());
        if let Some(summary) = decision.flush {
            self.write_count(&summary).await?;
        }
        if decision.write {
            self.audit
                .record(Event::new(name, Kind::AuthRefused, Subject::user(name), json!({
                    "peer": peer, "via": via, "reason": r.as_str(),
                })))
                .await?;
        }
        Ok(())
    }

    /// Audits a sign-in under a name that is not of the `VENDOR[:DEVICE]` form at all (what
    /// was typed is kept, control characters removed, at most 64 characters).
    pub async fn audit_bad_name(&self, raw: &str, peer: &str, via: &str) -> Result<(), AuthError> {
        let decision = self.flood.note(peer, clock::now());
        if let Some(summary) = decision.flush {
            self.write_count(&summary).await?;
        }
        if decision.write {
            let shown: String = raw.chars().filter(|c| !c.is_control()).take(64).collect();
            self.audit
                .record(Event::new("unknown", Kind::AuthRefused, Subject::User("?".into()), json!({
                    "peer": peer, "via": via, "reason": "invalid-user-name", "name": shown,
                })))
                .await?;
        }
        Ok(())
    }

    /// Writes the counts of refused sign-ins whose interval is over (the periodic flush).
    pub async fn flush_refusals(&self) -> Result<usize, AuthError> {
        let due = self.flood.due(clock::now());
        for s in &due {
            self.write_count(s).await?;
        }
        Ok(due.len())
    }

    async fn write_count(&self, s: &flood::Summary) -> Result<(), AuthError> {
        self.audit
            .record(Event::new("system", Kind::AuthRefused, Subject::System, json!({
                "peer": s.source, "reason": "aggregated", "count": s.count, "since": s.since,
                "interval_seconds": flood::INTERVAL_SECS,
            })))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
