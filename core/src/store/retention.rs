//! Store side of recording retention: which sealed recordings are old enough to be moved or
//! deleted, and marking one as archived or deleted. The row and its sealed `sha256` stay.

use super::sessions::RECORDING_COLUMNS;
use super::{RecordingRecord, Store, StoreError};
use sqlx::AnyConnection;

impl Store {
    /// Sealed recordings made at or before `cutoff` (Unix seconds) that retention has not
    /// acted on yet, oldest first.
    pub async fn recordings_due(&self, cutoff: i64, limit: i64) -> Result<Vec<RecordingRecord>, StoreError> {
        let q = format!(
            "SELECT {RECORDING_COLUMNS} FROM recordings \
             WHERE sealed_at IS NOT NULL AND retained IS NULL AND created_at <= $1 ORDER BY id LIMIT $2"
        );
        let rows = sqlx::query(&q).bind(cutoff).bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(RecordingRecord::from_row).collect()
    }

    /// Marks a recording archived (with its new place) or deleted; false if retention had
    /// already acted on it (another node got there first).
    pub async fn mark_retained(
        &self,
        conn: &mut AnyConnection,
        id: i64,
        action: &str,
        archive_path: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE recordings SET retained = $1, archive_path = $2, retained_at = $3 WHERE id = $4 AND retained IS NULL")
            .bind(action)
            .bind(archive_path)
            .bind(now)
            .bind(id)
            .execute(conn)
            .await?;
        Ok(r.rows_affected() == 1)
    }
}
