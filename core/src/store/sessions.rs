//! Brokered sessions and their recordings: start, end, stop requests made from elsewhere
//! (another process or node), and the sealed SHA-256 of each recording.

use super::{RecordingRecord, SessionRecord, Store, StoreError};
use crate::domain::{GrantId, NodeId, SessionId};
use sqlx::AnyConnection;

pub(crate) const SESSION_SELECT: &str = "SELECT s.id, s.grant_id, g.request_id, u.username AS vendor, u.org AS vendor_org, \
    d.name AS device, d.zone AS zone, d.criticality AS criticality, r.reason AS reason, \
    g.starts_at AS window_starts_at, g.ends_at AS window_ends_at, g.channels AS channels, s.peer, s.state, s.started_at, s.ended_at, s.end_reason, s.stop_requested_at, s.stop_requested_by, s.stop_at, d.phi AS phi \
    FROM sessions s JOIN grants g ON g.id = s.grant_id JOIN users u ON u.id = s.vendor_id JOIN devices d ON d.id = s.device_id \
    JOIN access_requests r ON r.id = g.request_id";

/// The columns [`RecordingRecord::from_row`] reads.
pub(crate) const RECORDING_COLUMNS: &str =
    "id, session_id, channel, kind, path, sha256, bytes, created_at, sealed_at, retained, retained_at, archive_path, object_key, stored_at";

impl Store {
    /// Records a session as started on `node`.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_session(
        &self,
        conn: &mut AnyConnection,
        grant: GrantId,
        vendor_id: i64,
        device_id: i64,
        peer: &str,
        node: &NodeId,
        now: i64,
    ) -> Result<SessionId, StoreError> {
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO sessions (grant_id, vendor_id, device_id, peer, state, started_at, node) \
             VALUES ($1, $2, $3, $4, 'active', $5, $6) RETURNING id",
        )
        .bind(grant.0)
        .bind(vendor_id)
        .bind(device_id)
        .bind(peer)
        .bind(now)
        .bind(node.as_str())
        .fetch_one(conn)
        .await?;
        Ok(SessionId(id))
    }

    /// Marks a session ended; false if it already was.
    pub async fn end_session(&self, conn: &mut AnyConnection, id: SessionId, reason: &str, now: i64) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE sessions SET state = 'ended', ended_at = $1, end_reason = $2 WHERE id = $3 AND state = 'active'")
            .bind(now)
            .bind(reason)
            .bind(id.0)
            .execute(conn)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Asks whichever node holds the session to stop it at `stop_at`; false if not active.
    /// A stop already asked for may be brought forward (graceful, then immediate), never
    /// put off.
    pub async fn request_session_stop(&self, conn: &mut AnyConnection, id: SessionId, by: &str, now: i64, stop_at: i64) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE sessions SET stop_requested_at = $1, stop_requested_by = $2, stop_at = $3 \
             WHERE id = $4 AND state = 'active' AND (stop_at IS NULL OR stop_at > $3)",
        )
        .bind(now)
        .bind(by)
        .bind(stop_at)
        .bind(id.0)
        .execute(conn)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Sessions still active that `node` runs, oldest first; with `unowned`, also those
    /// recorded without a node (started before nodes were recorded).
    pub async fn sessions_left_open(&self, node: &NodeId, unowned: bool) -> Result<Vec<SessionId>, StoreError> {
        let ids = sqlx::query_scalar::<_, i64>(
            "SELECT id FROM sessions WHERE state = 'active' AND (node = $1 OR ($2 = 1 AND node IS NULL)) ORDER BY id",
        )
        .bind(node.as_str())
        .bind(i64::from(unowned))
        .fetch_all(self.pool())
        .await?;
        Ok(ids.into_iter().map(SessionId).collect())
    }

    /// One session.
    pub async fn session(&self, id: SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let q = format!("{SESSION_SELECT} WHERE s.id = $1");
        let row = sqlx::query(&q).bind(id.0).fetch_optional(self.pool()).await?;
        row.as_ref().map(SessionRecord::from_row).transpose()
    }

    /// Sessions, newest first.
    pub async fn list_sessions(&self, active_only: bool, limit: i64) -> Result<Vec<SessionRecord>, StoreError> {
        let q = format!("{SESSION_SELECT} WHERE ($1 = 0 OR s.state = 'active') ORDER BY s.id DESC LIMIT $2");
        let rows = sqlx::query(&q).bind(i64::from(active_only)).bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(SessionRecord::from_row).collect()
    }

    /// Registers a recording file before it is written.
    pub async fn insert_recording(&self, session: SessionId, channel: i64, kind: &str, path: &str, now: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>(
            "INSERT INTO recordings (session_id, channel, kind, path, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(session.0)
        .bind(channel)
        .bind(kind)
        .bind(path)
        .bind(now)
        .fetch_one(self.pool())
        .await?)
    }

    /// A session's recordings, in the order they were made.
    pub async fn recordings_of(&self, session: SessionId) -> Result<Vec<RecordingRecord>, StoreError> {
        let q = format!("SELECT {RECORDING_COLUMNS} FROM recordings WHERE session_id = $1 ORDER BY channel, id");
        let rows = sqlx::query(&q)
            .bind(session.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(RecordingRecord::from_row).collect()
    }

    /// Every recording of every session, oldest first (what a backup's manifest lists).
    pub async fn all_recordings(&self) -> Result<Vec<RecordingRecord>, StoreError> {
        let q = format!("SELECT {RECORDING_COLUMNS} FROM recordings ORDER BY session_id, channel, id");
        let rows = sqlx::query(&q).fetch_all(self.pool()).await?;
        rows.iter().map(RecordingRecord::from_row).collect()
    }

    /// Points a recording at the file where it now is (a restore moved the recordings into
    /// the new data folder); on the caller's audited write. False if there is no such row.
    pub async fn move_recording(&self, conn: &mut AnyConnection, id: i64, path: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE recordings SET path = $1 WHERE id = $2").bind(path).bind(id).execute(conn).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Points an unsealed recording at another file (the frozen copy of a lost node's
    /// recording); false if it was sealed meanwhile.
    pub async fn move_unsealed_recording(&self, conn: &mut AnyConnection, id: i64, path: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE recordings SET path = $1 WHERE id = $2 AND sealed_at IS NULL").bind(path).bind(id).execute(conn).await?;
        Ok(r.rows_affected() == 1)
    }

    /// Stores a finished recording's hash and size; false if it was already sealed (a seal
    /// is never replaced).
    pub async fn seal_recording(&self, conn: &mut AnyConnection, id: i64, sha256: &str, bytes: i64, now: i64) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE recordings SET sha256 = $1, bytes = $2, sealed_at = $3 WHERE id = $4 AND sealed_at IS NULL")
            .bind(sha256)
            .bind(bytes)
            .bind(now)
            .bind(id)
            .execute(conn)
            .await?;
        Ok(r.rows_affected() == 1)
    }
}
