//! Staff sign-in through the hospital's OpenID provider, once the web side has verified the
//! ID token (signature, issuer, audience, expiry, nonce) and mapped the groups to a role.
//! The identity (issuer, `sub`) finds the account through its link and nothing else: no
//! e-mail address or name from the provider ever finds one. An identity seen for the first
//! time gets a new account of the mapped role, named after `preferred_username` when that is
//! a valid name nobody holds, else `sso-` and a hash of the identity; the account has no
//! password (so it cannot use the break-glass form) and a TOTP secret of its own for when
//! the provider's sign-in does not count as multi-factor, shown for enrolment only at the
//! code step of the sign-in that created the account. On every sign-in the role follows
//! the provider's groups. Each link, role change, sign-in and refusal is audited.

use super::{Scope, TotpEnrolment, WebAuth, WebSession};
use crate::audit::{Event, Kind, Subject};
use crate::auth::{totp_owner, AuthError, Refusal};
use crate::clock;
use crate::domain::{Role, Username};
use crate::store::{NewUser, StoreError, UserRecord};
use crate::totp::{self, Totp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const VIA: &str = "web sso";

/// A verified identity from the provider, with the role its groups give.
#[derive(Debug, Clone)]
pub struct SsoIdentity {
    pub issuer: String,
    pub subject: String,
    /// `preferred_username`, only a suggestion for a new account's name.
    pub name_hint: Option<String>,
    pub role: Role,
    /// Whether the provider's sign-in counts as multi-factor (`oidc.mfa_acr`/`mfa_amr`).
    pub provider_mfa: bool,
    /// The token's `acr` and `amr`, for the audit log.
    pub acr: Option<String>,
    pub amr: Vec<String>,
}

/// The outcome of a verified provider sign-in.
#[derive(Debug, Clone)]
pub enum SsoSignIn {
    /// Signed in.
    Done(WebSession),
    /// The local TOTP code is still needed (the provider's sign-in was not multi-factor);
    /// `new_account`: the account was created by this sign-in, so its secret may be shown
    /// for enrolment ([`WebAuth::sso_totp_enrolment`]).
    NeedsCode { user: UserRecord, new_account: bool },
}

/// Why a verified identity may not sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsoRefusal {
    /// The linked account is disabled.
    Disabled,
    /// The linked account is a vendor's (vendors sign in with SSH key and TOTP only).
    Vendor,
}

impl WebAuth {
    /// Signs in the identity: finds (or creates and links) its account, applies the role and
    /// opens a sign-in, or asks for the local code.
    pub async fn sign_in_sso(&self, id: &SsoIdentity, peer: &str) -> Result<Result<SsoSignIn, SsoRefusal>, AuthError> {
        let (user, new_account) = match self.store.user_by_oidc(&id.issuer, &id.subject).await? {
            Some(u) => (u, false),
            None => (self.create_linked(id, peer).await?, true),
        };
        let refusal = if user.disabled {
            Some(SsoRefusal::Disabled)
        } else if user.role == Role::Vendor {
            Some(SsoRefusal::Vendor)
        } else {
            None
        };
        if let Some(r) = refusal {
            let reason = if r == SsoRefusal::Disabled { "account-disabled" } else { "vendor-account" };
            self.audit_sso_refusal(user.username.as_str(), reason, peer, json!({ "issuer": id.issuer, "sub": id.subject })).await?;
            return Ok(Err(r));
        }
        if user.role != id.role {
            let mut tx = self.audit.begin().await?;
            self.store.set_user_role(&mut tx, user.id, id.role).await?;
            let name = user.username.as_str();
            tx.append(Event::new(name, Kind::AuthSsoLinked, Subject::user(name), json!({
                "issuer": id.issuer, "sub": id.subject, "role": id.role.as_str(), "old_role": user.role.as_str(), "peer": peer, "via": VIA,
            })))
            .await?;
            tx.commit().await?;
        }
        let user = self.store.require_user(&user.username).await?;
        if !id.provider_mfa {
            return Ok(Ok(SsoSignIn::NeedsCode { user, new_account }));
        }
        let how = json!({ "mfa": "provider", "acr": id.acr, "amr": id.amr });
        Ok(Ok(SsoSignIn::Done(self.open_sso_session(&user, how, peer).await?)))
    }

    /// The second step when the provider's sign-in was not multi-factor: the account's TOTP
    /// code, under the same single-use and lockout rules as everywhere else.
    pub async fn finish_sso_code(&self, name: &Username, code: &str, peer: &str) -> Result<Result<WebSession, Refusal>, AuthError> {
        match self.auth.check_totp(name, code.trim(), peer, VIA).await? {
            Ok(user) if user.role == Role::Vendor => Ok(Err(Refusal::WrongRole)),
            Ok(user) => Ok(Ok(self.open_sso_session(&user, json!({ "mfa": "local-totp" }), peer).await?)),
            Err(r) => Ok(Err(r)),
        }
    }

    /// The TOTP secret of an account that has never used a code, to enrol at the code step
    /// of the sign-in that created it (the caller asks only then: an older account that never
    /// used a code is not shown its secret by a sign-in that was not multi-factor; an
    /// administrator resets it instead); none once a code was accepted.
    pub async fn sso_totp_enrolment(&self, user: &UserRecord) -> Result<Option<TotpEnrolment>, AuthError> {
        if user.totp_last_step.is_some() {
            return Ok(None);
        }
        let secret = self.vault.open_bytes(&totp_owner(&user.username), &user.totp_secret)?;
        let t = Totp::new(secret, &self.cfg.totp_issuer, user.username.as_str()).map_err(|e| AuthError::Totp(e.to_string()))?;
        Ok(Some(TotpEnrolment { secret_base32: t.secret_base32(), otpauth_uri: t.uri() }))
    }

    /// The account named `name`, if any.
    pub async fn user(&self, name: &Username) -> Result<Option<UserRecord>, AuthError> {
        Ok(self.store.user_by_name(name).await?)
    }

    /// Audits a refused single sign-on (`reason` is a short word; `detail` adds to it).
    pub async fn audit_sso_refusal(&self, actor: &str, reason: &str, peer: &str, detail: Value) -> Result<(), AuthError> {
        let mut d = json!({ "reason": reason, "peer": peer, "via": VIA });
        if let (Some(d), Value::Object(extra)) = (d.as_object_mut(), detail) {
            d.extend(extra);
        }
        self.audit.record(Event::new(actor, Kind::AuthSsoRefused, Subject::System, d)).await?;
        Ok(())
    }

    async fn open_sso_session(&self, user: &UserRecord, how: Value, peer: &str) -> Result<WebSession, AuthError> {
        let s = self.open_session(user, Scope::Full, peer).await?;
        let name = user.username.as_str();
        let mut detail = json!({ "role": user.role.as_str(), "peer": peer, "via": VIA });
        if let (Some(d), Value::Object(how)) = (detail.as_object_mut(), how) {
            d.extend(how);
        }
        self.audit.record(Event::new(name, Kind::AuthSsoLogin, Subject::user(name), detail)).await?;
        Ok(s)
    }

    async fn create_linked(&self, id: &SsoIdentity, peer: &str) -> Result<UserRecord, AuthError> {
        let name = self.free_name(id).await?;
        let secret = totp::generate_secret();
        let sealed = self.vault.seal(&totp_owner(&name), &secret)?;
        let now = clock::now();
        let mut tx = self.audit.begin().await?;
        let new = NewUser { username: &name, role: id.role, org: "", sealed_totp_secret: &sealed, password_hash: None, password_must_change: false };
        let user_id = self.store.insert_user(&mut tx, new, now).await?;
        self.store.insert_oidc_link(&mut tx, &id.issuer, &id.subject, user_id, now).await?;
        tx.append(Event::new(name.as_str(), Kind::AuthSsoLinked, Subject::user(&name), json!({
            "issuer": id.issuer, "sub": id.subject, "role": id.role.as_str(), "created": true, "peer": peer, "via": VIA,
        })))
        .await?;
        tx.commit().await?;
        Ok(self.store.require_user(&name).await?)
    }

    /// `preferred_username` if valid and free, else `sso-` and 12 hex digits of the identity.
    async fn free_name(&self, id: &SsoIdentity) -> Result<Username, AuthError> {
        if let Some(n) = id.name_hint.as_deref().and_then(|h| Username::parse(h.trim()).ok()) {
            if self.store.user_by_name(&n).await?.is_none() {
                return Ok(n);
            }
        }
        let digest = Sha256::digest(format!("{}\n{}", id.issuer, id.subject).as_bytes());
        let fallback = format!("sso-{}", &hex::encode(digest)[..12]);
        match Username::parse(&fallback) {
            Ok(n) if self.store.user_by_name(&n).await?.is_none() => Ok(n),
            _ => Err(StoreError::Exists(format!("user {fallback}")).into()),
        }
    }
}

#[cfg(test)]
mod tests;
