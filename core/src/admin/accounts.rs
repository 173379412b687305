//! An account's life after enrolment: a vendor's SSH keys (a new laptop brings a new key; a
//! vendor keeps at least one), the account's end date (a contract's end, after which every
//! sign-in is refused and audited), and a new TOTP secret when an authenticator is lost.
//! Each change is one audited write; the rows hold fingerprints and dates, never a secret.

use super::{Admin, AdminError, Enrolment};
use crate::audit::{Event, Kind, Subject};
use crate::auth::totp_owner;
use crate::clock;
use crate::domain::{Permission, PermissionSet, Role, Username, ZoneSet};
use crate::store::UserRecord;
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

/// Changes to what an account may see; `None` and empty lists keep it as it is.
#[derive(Debug, Clone, Default)]
pub struct AccessEdit {
    /// The zones an auditor is limited to (an empty set: every zone).
    pub zones: Option<ZoneSet>,
    pub grant: Vec<Permission>,
    pub revoke: Vec<Permission>,
}

/// Refuses zones for any role but auditor (approvers are already limited to what they
/// approved; an administrator could lift its own limit), permissions for vendors, who
/// never sign in on the web, but break-glass, and the clinical sign-off for any account that
/// does not approve.
pub fn check_access(role: Role, zones: &ZoneSet, permissions: &PermissionSet) -> Result<(), AdminError> {
    if !zones.is_everywhere() && role != Role::Auditor {
        return Err(AdminError::Invalid(format!("only auditor accounts are limited to zones; a {role} account is not")));
    }
    if permissions.has(Permission::ClinicalSignoff) && !role.may_approve() {
        return Err(AdminError::Invalid(format!(
            "clinical-signoff is a sign-off given by approving: only approver and admin accounts hold it, not a {role} account"
        )));
    }
    // A vendor (or on-call engineer's vendor account) may hold the break-glass right, nothing else.
    if role == Role::Vendor && Permission::ALL.iter().any(|p| *p != Permission::BreakGlass && permissions.has(*p)) {
        return Err(AdminError::Invalid("vendor accounts never see recordings; the only permission they take is break-glass".into()));
    }
    Ok(())
}

impl Admin {
    /// Changes the zones an account is limited to and the permissions it holds, in one
    /// audited write (`user.access_changed`, with the old and new value of what changed).
    /// Refused when nothing would change. The account's open pages and live views see the
    /// change at their next request or recheck.
    pub async fn set_user_access(&self, actor: &str, name: &Username, edit: AccessEdit) -> Result<UserRecord, AdminError> {
        let user = self.store.require_user(name).await?;
        let zones = edit.zones.unwrap_or_else(|| user.zones.clone());
        let mut permissions = user.permissions.clone();
        for p in &edit.grant {
            permissions = permissions.with(*p);
        }
        for p in &edit.revoke {
            if edit.grant.contains(p) {
                return Err(AdminError::Invalid(format!("{p} cannot be granted and revoked at once")));
            }
            permissions = permissions.without(*p);
        }
        check_access(user.role, &zones, &permissions)?;
        let mut changes = serde_json::Map::new();
        if zones != user.zones {
            changes.insert("zones".into(), json!({ "old": user.zones, "new": zones }));
        }
        if permissions != user.permissions {
            changes.insert("permissions".into(), json!({ "old": user.permissions, "new": permissions }));
        }
        if changes.is_empty() {
            return Err(AdminError::Invalid(format!("nothing to change: {name} already has these zones and permissions")));
        }
        let mut tx = self.audit.begin().await?;
        if !self.store.set_user_access(&mut tx, user.id, &zones, &permissions).await? {
            return Err(AdminError::NotFound(format!("user {name}")));
        }
        tx.append(Event::new(actor, Kind::UserAccessChanged, Subject::user(name), json!({ "changes": changes }))).await?;
        tx.commit().await?;
        Ok(self.store.require_user(name).await?)
    }

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
