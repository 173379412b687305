//! Web sign-in for approvers, auditors and admins: user name, password (Argon2id, checked on
//! the blocking pool) and a TOTP code under the same single-use and lockout rules as SSH.
//! Each sign-in is a row in `web_sessions`; the web side's signed token only names that row,
//! and [`WebAuth::session`] checks it on every request, so signing out or disabling the
//! account ends the token at once. An account still holding its one-time password signs in
//! with the password alone into an `enrol` session that can do one thing: choose a new
//! password and confirm a freshly generated TOTP secret.

use crate::metrics::{SignInChannel, SignInOutcome};
use crate::password;
use crate::audit::{AuditLog, Event, Kind, Subject};
use crate::auth::{totp_owner, AuthError, AuthService, Refusal};
use crate::clock;
use crate::config::AuthConfig;
use crate::domain::{Role, Username};
use crate::store::{Store, UserRecord, WebSessionRecord};
use crate::totp::{self, Totp};
use crate::vault::Vault;
use rand::RngCore;
use serde_json::json;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;

mod sso;
pub use sso::{SsoIdentity, SsoRefusal, SsoSignIn};

/// Password checks running at once; more wait (up to [`HASH_WAIT`]) so a flood of sign-ins
/// cannot take every core (each check costs tens of milliseconds of CPU by design).
const HASH_PERMITS: usize = 4;
/// Longest wait for a password check slot before the sign-in is refused as busy.
const HASH_WAIT: Duration = Duration::from_secs(10);

/// Shortest password accepted at enrolment.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (bounds hashing work).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// What a web sign-in may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything the account's role allows.
    Full,
    /// Only finish enrolment (new password and TOTP).
    Enrol,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Full => "full",
            Scope::Enrol => "enrol",
        }
    }
}

/// A live web sign-in.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// Random id carried by the token.
    pub id: String,
    pub user: UserRecord,
    pub scope: Scope,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A TOTP secret to show once, as a QR code of the URI and as text.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    pub secret_base32: String,
    pub otpauth_uri: String,
}

/// The outcome of a correct sign-in.
#[derive(Debug, Clone)]
pub enum SignIn {
    Done(WebSession),
    MustEnrol(WebSession, TotpEnrolment),
}

/// Why enrolment was not finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrolRefusal {
    /// The new password does not meet the rules; the message says which.
    BadPassword(String),
    /// The code was refused (wrong, replayed, locked).
    Code(Refusal),
    /// The session is not an enrolment session (or the account is already enrolled).
    NotEnrolling,
}

/// The web sign-in service; clonable.
#[derive(Clone, Debug)]
pub struct WebAuth {
    store: Store,
    vault: Vault,
    audit: AuditLog,
    auth: AuthService,
    cfg: AuthConfig,
    session_max: Duration,
    hashing: Arc<Semaphore>,
    /// Single sign-on is configured: a password sign-in is then break-glass.
    sso: bool,
}

const VIA: &str = "web";

impl WebAuth {
    /// Builds the service; sign-ins last at most `session_max`.
    pub fn new(store: Store, vault: Vault, audit: AuditLog, auth: AuthService, cfg: AuthConfig, session_max: Duration) -> Self {
        Self { store, vault, audit, auth, cfg, session_max, hashing: Arc::new(Semaphore::new(HASH_PERMITS)), sso: false }
    }

    /// Marks single sign-on as configured: each password sign-in is then also audited as
    /// `auth.break_glass`.
    pub fn with_sso(mut self, on: bool) -> Self {
        self.sso = on;
        self
    }

    /// Checks name, password and code. Every refusal is audited with `peer`; the caller shows
    /// the user one message whatever the reason, so accounts cannot be probed.
    /// Counted in the metrics by outcome (a store that cannot answer is counted there).
    pub async fn sign_in(&self, name: &str, pass: &str, code: &str, peer: &str) -> Result<Result<SignIn, Refusal>, AuthError> {
        let outcome = self.check_sign_in(name, pass, code, peer).await;
        let counted = match &outcome {
            Ok(Ok(_)) => Some(SignInOutcome::Success),
            Ok(Err(Refusal::WrongPassword | Refusal::WrongCode | Refusal::Replayed)) => Some(SignInOutcome::Failure),
            Ok(Err(_)) => Some(SignInOutcome::Refused),
            Err(_) => None,
        };
        if let Some(o) = counted {
            crate::metrics::get().sign_in(SignInChannel::Web, o);
        }
        outcome
    }

    async fn check_sign_in(&self, name: &str, pass: &str, code: &str, peer: &str) -> Result<Result<SignIn, Refusal>, AuthError> {
        let Ok(Ok(_permit)) = tokio::time::timeout(HASH_WAIT, self.hashing.acquire()).await else {
            return Err(AuthError::Busy);
        };
        let user = match Username::parse(name.trim()) {
            Ok(n) => self.store.user_by_name(&n).await?,
            Err(_) => None,
        };
        let Some(user) = user else {
            // Same work as a real check, so response time does not reveal which names exist.
            check_dummy(pass.to_owned()).await;
            self.auth.audit_refusal_raw(name, Refusal::UnknownUser, peer, VIA).await?;
            return Ok(Err(Refusal::UnknownUser));
        };
        let refusal = if user.disabled {
            Some(Refusal::Disabled)
        } else if user.expired_at(clock::now()) {
            Some(Refusal::Expired)
        } else if user.role == Role::Vendor {
            Some(Refusal::WrongRole)
        } else {
            None
        };
        if let Some(r) = refusal {
            check_dummy(pass.to_owned()).await;
            self.auth.audit_refusal(&user.username, r, peer, VIA).await?;
            return Ok(Err(r));
        }
        if user.locked_at(clock::now()) {
            self.auth.audit_locked(&user, peer, VIA).await?;
            return Ok(Err(Refusal::Locked));
        }
        let Some(phc) = user.password_hash.clone() else {
            self.auth.audit_refusal(&user.username, Refusal::WrongPassword, peer, VIA).await?;
            return Ok(Err(Refusal::WrongPassword));
        };
        if pass.chars().count() > MAX_PASSWORD_CHARS || !check_password(pass.to_owned(), phc).await {
            self.auth.count_password_failure(&user, peer, VIA).await?;
            return Ok(Err(Refusal::WrongPassword));
        }
        if user.password_must_change {
            let enrolment = self.new_totp_secret(&user).await?;
            let session = self.open_session(&user, Scope::Enrol, peer).await?;
            self.audit
                .record(Event::new(user.username.as_str(), Kind::AuthEnrolmentStarted, Subject::user(&user.username), json!({
                    "peer": peer, "via": VIA,
                })))
                .await?;
            return Ok(Ok(SignIn::MustEnrol(session, enrolment)));
        }
        match self.auth.check_totp(&user.username, code.trim(), peer, VIA).await? {
            Ok(user) => {
                if self.sso {
                    let name = user.username.as_str();
                    self.audit
                        .record(Event::new(name, Kind::AuthBreakGlass, Subject::user(name), json!({
                            "role": user.role.as_str(), "peer": peer, "via": VIA,
                        })))
                        .await?;
                }
                Ok(Ok(SignIn::Done(self.open_session(&user, Scope::Full, peer).await?)))
            }
            Err(r) => Ok(Err(r)),
        }
    }

    /// The live sign-in named by `id`: not signed out, not expired, account still enabled.
    pub async fn session(&self, id: &str) -> Result<Option<WebSession>, AuthError> {
        let Some(rec) = self.store.web_session(id).await? else { return Ok(None) };
        if rec.revoked_at.is_some() || rec.expires_at <= clock::now() {
            return Ok(None);
        }
        let Some(user) = self.store.user_by_id(rec.user_id).await? else { return Ok(None) };
        if user.disabled || user.expired_at(clock::now()) || user.role == Role::Vendor {
            return Ok(None);
        }
        let scope = if rec.scope == "full" { Scope::Full } else { Scope::Enrol };
        if scope == Scope::Full && user.password_must_change {
            return Ok(None);
        }
        Ok(Some(WebSession { id: rec.id, user, scope, created_at: rec.created_at, expires_at: rec.expires_at }))
    }

    /// Signs out: the token stops working at once.
    pub async fn sign_out(&self, s: &WebSession, peer: &str) -> Result<(), AuthError> {
        if self.store.revoke_web_session(&s.id, clock::now()).await? {
            let name = s.user.username.as_str();
            self.audit.record(Event::new(name, Kind::AuthLogout, Subject::user(name), json!({ "peer": peer, "via": VIA }))).await?;
        }
        Ok(())
    }

    /// The TOTP secret being enrolled, to show again (e.g. after a reload of the page).
    pub async fn pending_enrolment(&self, s: &WebSession) -> Result<Option<TotpEnrolment>, AuthError> {
        if s.scope != Scope::Enrol || !s.user.password_must_change {
            return Ok(None);
        }
        let secret = self.vault.open_bytes(&totp_owner(&s.user.username), &s.user.totp_secret)?;
        let t = Totp::new(secret, &self.cfg.totp_issuer, s.user.username.as_str()).map_err(|e| AuthError::Totp(e.to_string()))?;
        Ok(Some(TotpEnrolment { secret_base32: t.secret_base32(), otpauth_uri: t.uri() }))
    }

    /// Finishes a first sign-in: the code proves the authenticator holds the new secret, the
    /// new password replaces the one-time one. Returns a full sign-in in place of `s`.
    pub async fn finish_enrolment(&self, s: &WebSession, new_password: &str, code: &str, peer: &str) -> Result<Result<WebSession, EnrolRefusal>, AuthError> {
        if s.scope != Scope::Enrol || !s.user.password_must_change {
            return Ok(Err(EnrolRefusal::NotEnrolling));
        }
        if let Err(msg) = password_rules(new_password, &s.user) {
            return Ok(Err(EnrolRefusal::BadPassword(msg)));
        }
        let user = match self.auth.check_totp(&s.user.username, code.trim(), peer, VIA).await? {
            Ok(u) => u,
            Err(r) => return Ok(Err(EnrolRefusal::Code(r))),
        };
        let hash = password::hash(new_password.to_owned()).await.map_err(AuthError::Totp)?;
        let now = clock::now();
        let mut tx = self.audit.begin().await?;
        self.store.set_password(&mut tx, user.id, &hash, false).await?;
        self.store.revoke_user_web_sessions(&mut tx, user.id, now).await?;
        let name = user.username.as_str();
        tx.append(Event::new(name, Kind::UserEnrolled, Subject::user(name), json!({ "peer": peer, "via": VIA }))).await?;
        tx.commit().await?;
        let user = self.store.require_user(&user.username).await?;
        Ok(Ok(self.open_session(&user, Scope::Full, peer).await?))
    }

    async fn open_session(&self, user: &UserRecord, scope: Scope, peer: &str) -> Result<WebSession, AuthError> {
        let mut raw = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let now = clock::now();
        let max = if scope == Scope::Enrol { self.session_max.min(Duration::from_secs(900)) } else { self.session_max };
        let rec = WebSessionRecord {
            id: hex::encode(raw),
            user_id: user.id,
            scope: scope.as_str().to_owned(),
            peer: peer.to_owned(),
            created_at: now,
            expires_at: now + max.as_secs() as i64,
            revoked_at: None,
        };
        self.store.insert_web_session(&rec).await?;
        Ok(WebSession { id: rec.id, user: user.clone(), scope, created_at: now, expires_at: rec.expires_at })
    }

    async fn new_totp_secret(&self, user: &UserRecord) -> Result<TotpEnrolment, AuthError> {
        let secret = totp::generate_secret();
        let t = Totp::new(secret.clone(), &self.cfg.totp_issuer, user.username.as_str()).map_err(|e| AuthError::Totp(e.to_string()))?;
        let sealed = self.vault.seal(&totp_owner(&user.username), &secret)?;
        self.store.set_totp_secret(user.id, &sealed).await?;
        Ok(TotpEnrolment { secret_base32: t.secret_base32(), otpauth_uri: t.uri() })
    }
}

/// The rules a chosen password must meet; the error says which one failed.
pub fn password_rules(p: &str, user: &UserRecord) -> Result<(), String> {
    let n = p.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        return Err(format!("the password must have {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"));
    }
    if p.chars().any(char::is_control) {
        return Err("the password may not contain control characters".into());
    }
    if p.to_lowercase().contains(&user.username.as_str().to_lowercase()) {
        return Err("the password may not contain the user name".into());
    }
    Ok(())
}

async fn check_password(pass: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || password::verify_blocking(&pass, &phc)).await.unwrap_or(false)
}

async fn check_dummy(pass: String) {
    let _ = tokio::task::spawn_blocking(move || password::verify_blocking(&pass, dummy_hash())).await;
}

/// A valid Argon2id hash of a random password, so unknown accounts cost the same to refuse.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| password::hash_blocking(&password::one_time_password()).unwrap_or_default())
}

#[cfg(test)]
mod tests;
