//! The brokered session's lifecycle, decided here once: a session starts under a grant
//! (`session.started`), each of its recordings is sealed with the SHA-256 of its file
//! (`recording.sealed`) — or, when it could not be finished, sealed as truncated with the hash
//! of what is on disk — and the session ends with its reason (`session.ended`). The broker
//! calls these; each is one audited write, so the session row and its audit row never part.
//! Each session is recorded with the node that runs it, so that a node restarting after a
//! crash closes what it left open and nothing else (see `recovery`), and a surviving node
//! closes those of a node that stopped renewing its lease (see `lost`).

use crate::audit::{AuditLog, Event, Kind, Subject};
use crate::clock;
use crate::domain::{NodeId, SessionId};
use crate::store::{DeviceRecord, GrantRecord, Store, StoreError, UserRecord};
use serde_json::json;

/// The session service; clonable.
#[derive(Clone, Debug)]
pub struct Sessions {
    store: Store,
    audit: AuditLog,
    /// The node whose sessions these are: recorded with each session started here.
    node: NodeId,
}

/// A session about to start: who, under which grant, on which device, from where.
#[derive(Debug, Clone, Copy)]
pub struct SessionStart<'a> {
    pub user: &'a UserRecord,
    pub grant: &'a GrantRecord,
    pub device: &'a DeviceRecord,
    /// The vendor's address.
    pub peer: &'a str,
}

/// A finished (or cut-short) recording of one channel of a session.
#[derive(Debug, Clone)]
pub struct RecordingSeal {
    pub session: SessionId,
    /// The recording's row in the store.
    pub recording_id: i64,
    /// Its number within the session.
    pub channel: u32,
    /// What it records: `terminal`, `tunnel` or `sftp`.
    pub what: &'static str,
    pub path: String,
    /// SHA-256 of the file as written, lowercase hex.
    pub sha256: String,
    pub bytes: u64,
    /// Asciicast events or pcap packets.
    pub events: u64,
}

impl Sessions {
    /// Builds the service of node `node`.
    pub fn new(store: Store, audit: AuditLog, node: NodeId) -> Self {
        Self { store, audit, node }
    }

    /// The node these sessions run on.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// Records the start of a session under `s.grant`; returns its id.
    pub async fn start(&self, s: SessionStart<'_>) -> Result<SessionId, StoreError> {
        let mut tx = self.audit.begin().await?;
        let id = self.store.insert_session(&mut tx, s.grant.id, s.user.id, s.device.id, s.peer, &self.node, clock::now()).await?;
        tx.append(Event::new(s.user.username.as_str(), Kind::SessionStarted, Subject::Session(id), json!({
            "device": s.device.name, "grant": s.grant.id, "request": s.grant.request_id, "peer": s.peer, "ends_at": s.grant.ends_at,
        })))
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Records the end of session `id` with its reason; `actor` is the session's vendor. A
    /// session ends once: ending it again (or an unknown one) is refused and writes nothing.
    pub async fn end(&self, actor: &str, id: SessionId, reason: &str) -> Result<(), StoreError> {
        self.end_as_of(actor, id, reason, None).await
    }

    /// Records, once the store is back, the end of session `id` that happened at `ended_at`
    /// (Unix seconds) while it was away: the session row keeps that time, and the audit row
    /// says it was written late and when the session really ended.
    pub async fn end_late(&self, actor: &str, id: SessionId, reason: &str, ended_at: i64) -> Result<(), StoreError> {
        self.end_as_of(actor, id, reason, Some(ended_at)).await
    }

    async fn end_as_of(&self, actor: &str, id: SessionId, reason: &str, late: Option<i64>) -> Result<(), StoreError> {
        let mut tx = self.audit.begin().await?;
        if !self.store.end_session(&mut tx, id, reason, late.unwrap_or_else(clock::now)).await? {
            return Err(StoreError::NotFound(format!("running session {id}")));
        }
        let detail = match late {
            None => json!({ "reason": reason }),
            Some(at) => json!({ "reason": reason, "late": true, "ended_at": at }),
        };
        tx.append(Event::new(actor, Kind::SessionEnded, Subject::Session(id), detail)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Seals a recording that finished cleanly. A recording is sealed once: a second seal is
    /// refused and writes nothing, so the log can never hold two hashes for one file.
    pub async fn seal_recording(&self, actor: &str, seal: &RecordingSeal) -> Result<(), StoreError> {
        self.seal(actor, seal, None, false).await
    }

    /// Seals, once the store is back, a recording that finished (or was cut short, with
    /// `truncated` saying why) while the store could not take its seal; the audit row says it
    /// was written late.
    pub async fn seal_recording_late(&self, actor: &str, seal: &RecordingSeal, truncated: Option<&str>) -> Result<(), StoreError> {
        self.seal(actor, seal, truncated, true).await
    }

    /// Seals a recording that was cut short (its writer failed, or its node stopped without
    /// finishing it), with the hash of what is on disk and why, so that what was kept can
    /// still be proved unaltered later.
    pub async fn mark_truncated(&self, actor: &str, seal: &RecordingSeal, why: &str) -> Result<(), StoreError> {
        self.seal(actor, seal, Some(why), false).await
    }

    async fn seal(&self, actor: &str, seal: &RecordingSeal, truncated: Option<&str>, late: bool) -> Result<(), StoreError> {
        let mut tx = self.audit.begin().await?;
        if !self.store.seal_recording(&mut tx, seal.recording_id, &seal.sha256, seal.bytes as i64, clock::now()).await? {
            return Err(StoreError::Exists(format!("the seal of recording {}", seal.recording_id)));
        }
        tx.append(Event::new(actor, Kind::RecordingSealed, Subject::Session(seal.session), seal_detail(seal, truncated, late))).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The `recording.sealed` row's detail; a truncated seal says so and why, and a seal written
/// after the store came back says it was written late.
fn seal_detail(seal: &RecordingSeal, truncated: Option<&str>, late: bool) -> serde_json::Value {
    let mut detail = json!({
        "channel": seal.channel, "what": seal.what, "path": seal.path, "sha256": seal.sha256,
        "bytes": seal.bytes, "events": seal.events,
    });
    if let Some(obj) = detail.as_object_mut() {
        if let Some(why) = truncated {
            obj.insert("truncated".into(), json!(true));
            obj.insert("why".into(), json!(why));
        }
        if late {
            obj.insert("late".into(), json!(true));
        }
    }
    detail
}

mod lost;
mod reachable;
mod recovery;
pub use lost::{LostNode, NODE_LOST};
pub use recovery::{Recovery, NODE_CRASHED};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod recovery_tests;
