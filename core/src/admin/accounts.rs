//! An account's life after enrolment: a vendor's SSH keys (a new laptop brings a new key; a
//! vendor keeps at least one), the account's end date (a contract's end, after which every
//! sign-in is refused and audited), and a new TOTP secret when an authenticator is lost.
//! Each change is one audited write; the rows hold fingerprints and dates, never a secret.

use super::{Admin, AdminError, Enrolment};
use crate::audit::{Event, Kind, Subject};
use crate::auth::totp_owner;
use crate::clock;
use crate::domain::{Role, Username};
use crate::totp::{self, Totp};
use serde::Serialize;
use serde_json::json;

/// One of an account's SSH keys.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UserKey {
    /// `SHA256:…`, as the broker computes it for a presented key.
    pub fingerprint: String,
    /// The OpenSSH public key line (with its comment).
    pub public_key: String,
    /// Unix seconds.
    pub added_at: i64,
}

impl Admin {
    /// An account's SSH keys, oldest first.
    pub async fn user_keys(&self, name: &Username) -> Result<Vec<UserKey>, AdminError> {
        let user = self.store.require_user(name).await?;
        let keys = self.store.user_keys(user.id).await?;
        Ok(keys.into_iter().map(|(public_key, fingerprint, added_at)| UserKey { fingerprint, public_key, added_at }).collect())
    }

    /// Removes a vendor's key, named by its fingerprint (`SHA256:…`). The last key of an
    /// account is refused: without one the vendor could never sign in again (add the new key
    /// first, or disable the account).
    pub async fn remove_user_key(&self, actor: &str, name: &Username, fingerprint: &str) -> Result<(), AdminError> {
        let user = self.store.require_user(name).await?;
        let fingerprint = fingerprint.trim();
        let mut tx = self.audit.begin().await?;
        let count = self.store.count_user_keys(&mut tx, user.id).await?;
        if !self.store.delete_user_key(&mut tx, user.id, fingerprint).await? {
            return Err(AdminError::NotFound(format!("key {fingerprint} of {name}")));
        }
        if count <= 1 {
            return Err(AdminError::Invalid(format!(
                "{fingerprint} is the last SSH key of {name}, who could then never sign in: add the new key first, or disable the account"
            )));
        }
        tx.append(Event::new(actor, Kind::UserKeyRemoved, Subject::user(name), json!({ "fingerprint": fingerprint, "keys_left": count - 1 }))).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets (or with `None` clears) the date after which the account can no longer sign in.
    /// A date already past ends it at once. The audit row has the old and the new date.
    pub async fn set_user_expiry(&self, actor: &str, name: &Username, expires_at: Option<i64>) -> Result<(), AdminError> {
        let user = self.store.require_user(name).await?;
        if user.expires_at == expires_at {
            return Err(AdminError::Invalid(format!("{name} already has this end date")));
        }
        let mut tx = self.audit.begin().await?;
        if !self.store.set_user_expiry(&mut tx, user.id, expires_at).await? {
            return Err(AdminError::NotFound(format!("user {name}")));
        }
        let detail = json!({ "expires_at": { "old": user.expires_at.map(clock::rfc3339), "new": expires_at.map(clock::rfc3339) } });
        tx.append(Event::new(actor, Kind::UserExpirySet, Subject::user(name), detail)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives an account a new TOTP secret (its authenticator was lost or replaced): the old
    /// codes stop working at once, and its web sign-ins end. Returns the new enrolment, to
    /// show once; a web account keeps its password.
    pub async fn reset_totp(&self, actor: &str, name: &Username) -> Result<Enrolment, AdminError> {
        let user = self.store.require_user(name).await?;
        let secret = totp::generate_secret();
        let generator = Totp::new(secret.clone(), &self.auth_cfg.totp_issuer, name.as_str()).map_err(|e| AdminError::Internal(e.to_string()))?;
        let sealed = self.vault.seal(&totp_owner(name), &secret)?;
        let mut tx = self.audit.begin().await?;
        if !self.store.reset_totp_secret(&mut tx, user.id, &sealed).await? {
            return Err(AdminError::NotFound(format!("user {name}")));
        }
        if user.role != Role::Vendor {
            self.store.revoke_user_web_sessions(&mut tx, user.id, clock::now()).await?;
        }
        tx.append(Event::new(actor, Kind::UserTotpReset, Subject::user(name), json!({ "role": user.role }))).await?;
        tx.commit().await?;
        Ok(Enrolment { totp_secret_base32: generator.secret_base32(), otpauth_uri: generator.uri(), one_time_password: None })
    }
}

#[cfg(test)]
mod tests;
