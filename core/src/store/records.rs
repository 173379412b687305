//! What the store hands back: one plain struct per table (with the names of related rows
//! joined in where callers always need them), built from rows with typed validation so that a
//! corrupt row is an error, not a panic.

use super::StoreError;
use crate::domain::{ChannelSet, Criticality, DeviceName, GrantId, PermissionSet, RequestId, RequestState, Role, SessionId, SessionState, Username, Zone, ZoneSet};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn channels_of(r: &AnyRow, what: &str) -> Result<ChannelSet, StoreError> {
    ChannelSet::parse(&r.try_get::<String, _>("channels")?).map_err(|e| corrupt(what, e))
}

/// An account.
#[derive(Debug, Clone, Serialize)]
pub struct UserRecord {
    pub id: i64,
    pub username: Username,
    pub role: Role,
    pub org: String,
    pub disabled: bool,
    /// Vault-sealed TOTP secret; never serialised.
    #[serde(skip)]
    pub totp_secret: Vec<u8>,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub password_must_change: bool,
    pub totp_last_step: Option<i64>,
    pub failed_attempts: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    /// When the account stops working (Unix seconds), e.g. a vendor's contract end.
    pub expires_at: Option<i64>,
    /// The zones an auditor is limited to; empty: every zone.
    pub zones: ZoneSet,
    /// Rights granted explicitly (`phi`); no role holds any by itself.
    pub permissions: PermissionSet,
}

impl UserRecord {
    /// Whether the account's end date has passed at `now`.
    pub fn expired_at(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.try_get("id")?,
            username: Username::parse(&r.try_get::<String, _>("username")?).map_err(|e| corrupt("user", e))?,
            role: Role::parse(&r.try_get::<String, _>("role")?).map_err(|e| corrupt("user", e))?,
            org: r.try_get("org")?,
            disabled: r.try_get::<i64, _>("disabled")? != 0,
            totp_secret: r.try_get("totp_secret")?,
            password_hash: r.try_get("password_hash")?,
            password_must_change: r.try_get::<i64, _>("password_must_change")? != 0,
            totp_last_step: r.try_get("totp_last_step")?,
            failed_attempts: r.try_get("failed_attempts")?,
            locked_until: r.try_get("locked_until")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
            zones: ZoneSet::parse(&r.try_get::<String, _>("zones")?).map_err(|e| corrupt("user zones", e))?,
            permissions: PermissionSet::parse(&r.try_get::<String, _>("permissions")?).map_err(|e| corrupt("user permissions", e))?,
        })
    }

    /// Whether the account is locked at `now`.
    pub fn locked_at(&self, now: i64) -> bool {
        self.locked_until.is_some_and(|t| t > now)
    }
}

/// A device.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceRecord {
    pub id: i64,
    pub name: DeviceName,
    pub address: String,
    pub login: String,
    /// Vault-sealed credential; never serialised.
    #[serde(skip)]
    pub credential: Vec<u8>,
    /// Pinned host key, OpenSSH one-line form.
    pub host_key: String,
    pub criticality: Criticality,
    pub zone: Zone,
    pub tcp_ports: Vec<u16>,
    pub disabled: bool,
    pub created_at: i64,
    /// Tagged `phi`: its screens can show patient data, so its recordings need the `phi`
    /// permission.
    pub phi: bool,
}

impl DeviceRecord {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        let ports: String = r.try_get("tcp_ports")?;
        let tcp_ports = ports
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<u16>().map_err(|e| corrupt("device ports", e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            id: r.try_get("id")?,
            name: DeviceName::parse(&r.try_get::<String, _>("name")?).map_err(|e| corrupt("device", e))?,
            address: r.try_get("address")?,
            login: r.try_get("login")?,
            credential: r.try_get("credential")?,
            host_key: r.try_get("host_key")?,
            criticality: Criticality::parse(&r.try_get::<String, _>("criticality")?).map_err(|e| corrupt("device", e))?,
            zone: Zone::parse(&r.try_get::<String, _>("zone")?).map_err(|e| corrupt("device", e))?,
            tcp_ports,
            disabled: r.try_get::<i64, _>("disabled")? != 0,
            created_at: r.try_get("created_at")?,
            phi: r.try_get::<i64, _>("phi")? != 0,
        })
    }
}

/// An access request, with the vendor's and device's names and who has approved so far.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub id: RequestId,
    pub vendor_id: i64,
    pub vendor: Username,
    pub org: String,
    pub device_id: i64,
    pub device: DeviceName,
    pub criticality: Criticality,
    pub zone: Zone,
    pub reason: String,
    pub minutes: i64,
    /// The channels asked for.
    pub channels: ChannelSet,
    pub state: RequestState,
    pub required_approvals: i64,
    pub approvals: Vec<Username>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
    /// Who filed it on the vendor's behalf (a party to it, who may not approve it); `None`
    /// when the vendor filed it.
    pub filed_by: Option<String>,
}

impl RequestRecord {
    /// Builds the record; `approvals` is filled in separately.
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: RequestId(r.try_get("id")?),
            vendor_id: r.try_get("vendor_id")?,
            vendor: Username::parse(&r.try_get::<String, _>("vendor")?).map_err(|e| corrupt("request", e))?,
            org: r.try_get("org")?,
            device_id: r.try_get("device_id")?,
            device: DeviceName::parse(&r.try_get::<String, _>("device")?).map_err(|e| corrupt("request", e))?,
            criticality: Criticality::parse(&r.try_get::<String, _>("criticality")?).map_err(|e| corrupt("request", e))?,
            zone: Zone::parse(&r.try_get::<String, _>("zone")?).map_err(|e| corrupt("request", e))?,
            reason: r.try_get("reason")?,
            minutes: r.try_get("minutes")?,
            channels: channels_of(r, "request")?,
            state: RequestState::parse(&r.try_get::<String, _>("state")?).map_err(|e| corrupt("request", e))?,
            required_approvals: r.try_get("required_approvals")?,
            approvals: Vec::new(),
            created_at: r.try_get("created_at")?,
            decided_at: r.try_get("decided_at")?,
            decided_by: r.try_get("decided_by")?,
            decision_note: r.try_get("decision_note")?,
            filed_by: r.try_get("filed_by")?,
        })
    }
}

/// A time-bound grant.
#[derive(Debug, Clone, Serialize)]
pub struct GrantRecord {
    pub id: GrantId,
    pub request_id: RequestId,
    pub vendor_id: i64,
    pub device_id: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    /// The channels granted (never more than were asked for).
    pub channels: ChannelSet,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
}

impl GrantRecord {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: GrantId(r.try_get("id")?),
            request_id: RequestId(r.try_get("request_id")?),
            vendor_id: r.try_get("vendor_id")?,
            device_id: r.try_get("device_id")?,
            starts_at: r.try_get("starts_at")?,
            ends_at: r.try_get("ends_at")?,
            channels: channels_of(r, "grant")?,
            revoked_at: r.try_get("revoked_at")?,
            revoked_by: r.try_get("revoked_by")?,
        })
    }

    /// Whether the grant covers `now`.
    pub fn is_current(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.starts_at <= now && now < self.ends_at
    }
}

/// A brokered session, with names joined in.
#[derive(Debug, Clone, Serialize)]
pub struct SessionRecord {
    pub id: SessionId,
    pub grant_id: GrantId,
    pub request_id: RequestId,
    pub vendor: Username,
    /// The vendor's organisation.
    pub vendor_org: String,
    pub device: DeviceName,
    /// The device's zone.
    pub zone: String,
    pub criticality: Criticality,
    /// The reason the vendor gave in the request.
    pub reason: String,
    /// The grant's window and channels.
    pub window_starts_at: i64,
    pub window_ends_at: i64,
    pub channels: ChannelSet,
    pub peer: String,
    pub state: SessionState,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    pub stop_requested_at: Option<i64>,
    pub stop_requested_by: Option<String>,
    /// When the broker closes a session being stopped (graceful stops warn first).
    pub stop_at: Option<i64>,
    /// The device is tagged `phi` (now, not when the session ran).
    pub phi: bool,
}

impl SessionRecord {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: SessionId(r.try_get("id")?),
            grant_id: GrantId(r.try_get("grant_id")?),
            request_id: RequestId(r.try_get("request_id")?),
            vendor: Username::parse(&r.try_get::<String, _>("vendor")?).map_err(|e| corrupt("session", e))?,
            vendor_org: r.try_get("vendor_org")?,
            device: DeviceName::parse(&r.try_get::<String, _>("device")?).map_err(|e| corrupt("session", e))?,
            zone: r.try_get("zone")?,
            criticality: Criticality::parse(&r.try_get::<String, _>("criticality")?).map_err(|e| corrupt("session", e))?,
            reason: r.try_get("reason")?,
            window_starts_at: r.try_get("window_starts_at")?,
            window_ends_at: r.try_get("window_ends_at")?,
            channels: channels_of(r, "session")?,
            peer: r.try_get("peer")?,
            state: SessionState::parse(&r.try_get::<String, _>("state")?).map_err(|e| corrupt("session", e))?,
            started_at: r.try_get("started_at")?,
            ended_at: r.try_get("ended_at")?,
            end_reason: r.try_get("end_reason")?,
            stop_requested_at: r.try_get("stop_requested_at")?,
            stop_requested_by: r.try_get("stop_requested_by")?,
            stop_at: r.try_get("stop_at")?,
            phi: r.try_get::<i64, _>("phi")? != 0,
        })
    }
}

/// One recording of a session: an asciicast (`asciicast`) or a capture (`pcap`) file.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingRecord {
    pub id: i64,
    pub session_id: SessionId,
    /// Its number within the session (the file is `N.cast` or `N.pcap`).
    pub channel: i64,
    pub kind: String,
    pub path: String,
    /// Set when sealed.
    pub sha256: Option<String>,
    pub bytes: Option<i64>,
    pub created_at: i64,
    pub sealed_at: Option<i64>,
    /// `archived` or `deleted` once retention acted on the file; `None` while it is at `path`.
    pub retained: Option<String>,
    pub retained_at: Option<i64>,
    /// Where an archived file now is.
    pub archive_path: Option<String>,
    /// The object's key in the recording bucket once uploaded and checked (`None` while the
    /// recording is a local file only).
    pub object_key: Option<String>,
    /// When the object was checked and recorded (Unix seconds).
    pub stored_at: Option<i64>,
}

impl RecordingRecord {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.try_get("id")?,
            session_id: SessionId(r.try_get("session_id")?),
            channel: r.try_get("channel")?,
            kind: r.try_get("kind")?,
            path: r.try_get("path")?,
            sha256: r.try_get("sha256")?,
            bytes: r.try_get("bytes")?,
            created_at: r.try_get("created_at")?,
            sealed_at: r.try_get("sealed_at")?,
            retained: r.try_get("retained")?,
            retained_at: r.try_get("retained_at")?,
            archive_path: r.try_get("archive_path")?,
            object_key: r.try_get("object_key")?,
            stored_at: r.try_get("stored_at")?,
        })
    }
}

impl RecordingRecord {
    /// A sealed-looking recording of session 1 at `path`, for tests of the readers.
    #[cfg(test)]
    pub(crate) fn local_for_tests(path: &std::path::Path) -> RecordingRecord {
        RecordingRecord {
            id: 1, session_id: SessionId(1), channel: 1, kind: "asciicast".into(), path: path.display().to_string(), sha256: None, bytes: None,
            created_at: 0, sealed_at: Some(0), retained: None, retained_at: None, archive_path: None, object_key: None, stored_at: None,
        }
    }

    /// Where the file is now: the archive copy once archived, `None` once deleted.
    pub fn current_path(&self) -> Option<&str> {
        match self.retained.as_deref() {
            None => Some(&self.path),
            Some("archived") => self.archive_path.as_deref(),
            Some(_) => None,
        }
    }
}
