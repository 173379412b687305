//! Administration as domain code: enrolling users (TOTP secret sealed by the vault, SSH keys
//! with their fingerprints, a one-time password for web-page accounts) and devices (sealed
//! credential, pinned host key; their later changes in [`devices`]), disabling, enabling and
//! unlocking them. The CLI and the web
//! page both call this, so an enrolment is checked and audited the same way wherever it is
//! made. Each change is one write transaction that also appends its audit row; secrets never
//! reach the audit log, only kinds and fingerprints.

pub mod accounts;
pub mod devices;
pub mod input;

use crate::audit::{AuditLog, Event, Kind, Subject};
use crate::auth::totp_owner;
use crate::password;
use crate::clock;
use crate::config::AuthConfig;
use crate::context::Context;
use crate::domain::{Criticality, DeviceName, PermissionSet, RequestState, Role, Username, Zone, ZoneSet};
use crate::store::{NewUser, Store, StoreError, UserRecord};
use crate::totp::{self, Totp};
use crate::vault::{Credential, Vault, VaultError};
use serde_json::json;

/// Why an administrative change was refused or failed. Messages are for the administrator.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The input was refused; nothing changed.
    #[error("{0}")]
    Invalid(String),
    /// A user, key or device of that name already exists.
    #[error("{0} already exists")]
    Exists(String),
    #[error("no {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("vault: {0}")]
    Vault(#[from] VaultError),
    /// TOTP setup or password hashing failed.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Exists(what) => AdminError::Exists(what),
            StoreError::NotFound(what) => AdminError::NotFound(what),
            other => AdminError::Store(other),
        }
    }
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        AdminError::Store(StoreError::Db(e))
    }
}

/// What a new account holder must be given, once: the TOTP secret (and its `otpauth://` URI
/// for a QR code) and, for web-page accounts, a one-time password. `Debug` shows none of it.
#[derive(Clone)]
pub struct Enrolment {
    /// Base32 TOTP secret, for manual entry in an authenticator app.
    pub totp_secret_base32: String,
    /// `otpauth://totp/…` URI carrying the same secret.
    pub otpauth_uri: String,
    /// Set for approver, auditor and admin accounts: must be changed at first web sign-in.
    pub one_time_password: Option<String>,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment(<secrets>)")
    }
}

/// An account to enrol: name, role and organisation, with the vendor's SSH keys (OpenSSH
/// public key lines) or, for web roles, an optional permanent password.
#[derive(Clone)]
pub struct NewUserSpec {
    pub name: Username,
    pub role: Role,
    pub org: String,
    /// Vendors only.
    pub ssh_keys: Vec<String>,
    /// Web roles only; `None` gives a one-time password to change at first sign-in.
    pub password: Option<String>,
    /// When the account stops working (Unix seconds), e.g. the end of a vendor's contract.
    pub expires_at: Option<i64>,
    /// Auditors only: the zones it is limited to (empty: every zone).
    pub zones: ZoneSet,
    /// Rights granted explicitly (not to vendors).
    pub permissions: PermissionSet,
}

impl NewUserSpec {
    /// An account with no SSH key and a one-time password (web roles).
    pub fn new(name: Username, role: Role, org: impl Into<String>) -> Self {
        Self { name, role, org: org.into(), ssh_keys: Vec::new(), password: None, expires_at: None, zones: ZoneSet::everywhere(), permissions: PermissionSet::default() }
    }

    /// Limited to these zones (auditors) and holding these permissions.
    pub fn access(mut self, zones: ZoneSet, permissions: PermissionSet) -> Self {
        self.zones = zones;
        self.permissions = permissions;
        self
    }

    /// Stops working at `expires_at` (Unix seconds).
    pub fn expires_at(mut self, expires_at: Option<i64>) -> Self {
        self.expires_at = expires_at;
        self
    }

    /// With these SSH public key lines (vendors).
    pub fn ssh_keys(mut self, keys: Vec<String>) -> Self {
        self.ssh_keys = keys;
        self
    }

    /// With a permanent password instead of a one-time one (web roles).
    pub fn password(mut self, password: Option<String>) -> Self {
        self.password = password;
        self
    }
}

impl std::fmt::Debug for NewUserSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUserSpec").field("name", &self.name).field("role", &self.role).field("org", &self.org).field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

/// A device to enrol.
#[derive(Debug, Clone)]
pub struct NewDeviceSpec {
    pub name: DeviceName,
    /// `HOST:PORT` of the device's SSH service.
    pub address: String,
    /// Account the broker logs in with.
    pub login: String,
    /// How the broker authenticates; sealed before it is stored.
    pub credential: Credential,
    /// OpenSSH public key line the device must present (`TYPE BASE64[ comment]`).
    pub host_key: String,
    pub criticality: Criticality,
    pub zone: Zone,
    /// Ports a grant may open with `ssh -L` (besides the shell and file transfer).
    pub tcp_ports: Vec<u16>,
    /// Tagged `phi`: its screens can show patient data.
    pub phi: bool,
}

/// The administration service; clonable.
#[derive(Clone, Debug)]
pub struct Admin {
    store: Store,
    vault: Vault,
    audit: AuditLog,
    auth_cfg: AuthConfig,
}

impl Admin {
    /// Builds the service.
    pub fn new(store: Store, vault: Vault, audit: AuditLog, auth_cfg: AuthConfig) -> Self {
        Self { store, vault, audit, auth_cfg }
    }

    /// Builds the service from an opened context.
    pub fn from_context(ctx: &Context) -> Self {
        Self::new(ctx.store.clone(), ctx.vault.clone(), ctx.audit.clone(), ctx.config.auth.clone())
    }

    /// Enrols an account. Vendors get their SSH keys (OpenSSH public key lines) and a TOTP
    /// secret; the other roles get a TOTP secret and a one-time password for the web page
    /// (stored as an Argon2id hash, to be changed at first sign-in) and may not have SSH keys.
    /// A given password (web roles only) is permanent, for automation, instead.
    pub async fn create_user(&self, actor: &str, spec: NewUserSpec) -> Result<(UserRecord, Enrolment), AdminError> {
        let NewUserSpec { name, role, org, ssh_keys, password, expires_at, zones, permissions } = spec;
        let name = &name;
        accounts::check_access(role, &zones, &permissions)?;
        if role == Role::Vendor && password.is_some() {
            return Err(AdminError::Invalid("vendor accounts sign in over SSH and take no password".into()));
        }
        if let Some(p) = &password {
            let n = p.chars().count();
            if !(crate::webauth::MIN_PASSWORD_CHARS..=crate::webauth::MAX_PASSWORD_CHARS).contains(&n) || p.chars().any(char::is_control) {
                return Err(AdminError::Invalid(format!(
                    "the password must be one line of {} to {} characters",
                    crate::webauth::MIN_PASSWORD_CHARS,
                    crate::webauth::MAX_PASSWORD_CHARS
                )));
            }
        }
        let org = input::check_org(&org).map_err(AdminError::Invalid)?;
        if role == Role::Vendor && ssh_keys.is_empty() {
            return Err(AdminError::Invalid(
                "a vendor account signs in with an SSH key and a code: give at least one SSH public key (the .pub file)".into(),
            ));
        }
        if role != Role::Vendor && !ssh_keys.is_empty() {
            return Err(AdminError::Invalid(format!(
                "only vendor accounts connect over SSH; a {role} account signs in on the web page and takes no SSH key"
            )));
        }
        let keys = ssh_keys
            .iter()
            .enumerate()
            .map(|(i, line)| input::parse_public_key(line, &format!("SSH key #{}", i + 1)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(AdminError::Invalid)?;
        let secret = totp::generate_secret();
        let generator = Totp::new(secret.clone(), &self.auth_cfg.totp_issuer, name.as_str())
            .map_err(|e| AdminError::Internal(e.to_string()))?;
        let sealed = self.vault.seal(&totp_owner(name), &secret)?;
        let one_time = (role != Role::Vendor && password.is_none()).then(password::one_time_password);
        let hash = match one_time.clone().or(password) {
            Some(p) => Some(password::hash(p).await.map_err(AdminError::Internal)?),
            None => None,
        };
        let now = clock::now();
        let mut tx = self.audit.begin().await?;
        let new = NewUser {
            username: name,
            role,
            org: &org,
            sealed_totp_secret: &sealed,
            password_hash: hash.as_deref(),
            password_must_change: one_time.is_some(),
        };
        let id = self.store.insert_user(&mut tx, new, now).await?;
        for k in &keys {
            self.store.insert_user_key(&mut tx, id, &k.line, &k.fingerprint, now).await?;
        }
        if expires_at.is_some() {
            self.store.set_user_expiry(&mut tx, id, expires_at).await?;
        }
        if !zones.is_everywhere() || !permissions.is_empty() {
            self.store.set_user_access(&mut tx, id, &zones, &permissions).await?;
        }
        let fingerprints: Vec<&str> = keys.iter().map(|k| k.fingerprint.as_str()).collect();
        let detail = json!({
            "role": role, "org": org, "ssh_keys": fingerprints,
            "one_time_password": one_time.is_some(), "password": hash.is_some(),
            "expires_at": expires_at.map(clock::rfc3339),
            "zones": zones, "permissions": permissions,
        });
        tx.append(Event::new(actor, Kind::UserCreated, Subject::user(name), detail)).await?;
        tx.commit().await?;
        let user = self.store.require_user(name).await?;
        let enrolment = Enrolment { totp_secret_base32: generator.secret_base32(), otpauth_uri: generator.uri(), one_time_password: one_time };
        Ok((user, enrolment))
    }

    /// Adds an SSH public key to a vendor account; returns its fingerprint.
    pub async fn add_user_key(&self, actor: &str, name: &Username, line: &str) -> Result<String, AdminError> {
        let key = input::parse_public_key(line, "SSH key").map_err(AdminError::Invalid)?;
        let user = self.store.require_user(name).await?;
        if user.role != Role::Vendor {
            return Err(AdminError::Invalid(format!("{name} is a {} account; only vendor accounts take SSH keys", user.role)));
        }
        let mut tx = self.audit.begin().await?;
        self.store.insert_user_key(&mut tx, user.id, &key.line, &key.fingerprint, clock::now()).await?;
        let detail = json!({ "fingerprint": key.fingerprint });
        tx.append(Event::new(actor, Kind::UserKeyAdded, Subject::user(name), detail)).await?;
        tx.commit().await?;
        Ok(key.fingerprint)
    }

    /// Disables (`true`) or re-enables (`false`) an account. Disabling ends the account's
    /// web sign-ins and revokes its open grants in the same write, each audited as
    /// `request.revoked`, so its sessions and tunnels end through the same path as any
    /// revocation (the broker also ends a disabled account's connections outright).
    pub async fn set_user_disabled(&self, actor: &str, name: &Username, disabled: bool) -> Result<(), AdminError> {
        let user = self.store.require_user(name).await?;
        let now = clock::now();
        let grants = if disabled { self.store.open_grants_of(user.id, now).await? } else { Vec::new() };
        let mut tx = self.audit.begin().await?;
        if !self.store.set_user_disabled(&mut tx, name, disabled).await? {
            return Err(AdminError::NotFound(format!("user {name}")));
        }
        if disabled {
            self.store.revoke_user_web_sessions(&mut tx, user.id, now).await?;
        }
        for g in &grants {
            if self.store.set_request_state(&mut tx, g.request_id, RequestState::Approved, RequestState::Revoked, actor, Some("account disabled"), now).await? {
                self.store.revoke_grant(&mut tx, g.request_id, actor, now).await?;
                tx.append(Event::new(actor, Kind::RequestRevoked, Subject::Request(g.request_id), json!({ "vendor": name, "why": "account disabled", "via": "admin" })))
                    .await?;
            }
        }
        let kind = if disabled { Kind::UserDisabled } else { Kind::UserEnabled };
        tx.append(Event::new(actor, kind, Subject::user(name), json!({}))).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Clears an account's lockout and failure count.
    pub async fn unlock_user(&self, actor: &str, name: &Username) -> Result<(), AdminError> {
        let before = self.store.require_user(name).await?;
        let mut tx = self.audit.begin().await?;
        if !self.store.unlock_user(&mut tx, name).await? {
            return Err(AdminError::NotFound(format!("user {name}")));
        }
        let detail = json!({ "failed_attempts": before.failed_attempts, "was_locked": before.locked_at(clock::now()) });
        tx.append(Event::new(actor, Kind::UserUnlocked, Subject::user(name), detail)).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
mod tests;
