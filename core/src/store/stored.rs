//! Store side of recordings kept in a bucket: which sealed recordings this node still has to
//! upload, and recording where one now is once its object was checked.

use super::sessions::RECORDING_COLUMNS;
use super::{RecordingRecord, Store, StoreError};
use crate::domain::NodeId;
use sqlx::AnyConnection;

impl Store {
    /// Sealed recordings of sessions run on `node` that are not in the bucket yet (nor removed
    /// by retention), oldest first: only the node that wrote a file has it to upload.
    pub async fn recordings_to_upload(&self, node: &NodeId, limit: i64) -> Result<Vec<RecordingRecord>, StoreError> {
        let cols = RECORDING_COLUMNS.split(", ").map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", ");
        let q = format!(
            "SELECT {cols} FROM recordings r JOIN sessions s ON s.id = r.session_id \
             WHERE r.sealed_at IS NOT NULL AND r.object_key IS NULL AND r.retained IS NULL AND s.node = $1 ORDER BY r.id LIMIT $2"
        );
        let rows = sqlx::query(&q).bind(node.as_str()).bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(RecordingRecord::from_row).collect()
    }

    /// Records that recording `id` is now the object `key`; false if it already was in the
    /// bucket (or retention removed it meanwhile).
    pub async fn mark_stored(&self, conn: &mut AnyConnection, id: i64, key: &str, now: i64) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE recordings SET object_key = $1, stored_at = $2 WHERE id = $3 AND object_key IS NULL AND retained IS NULL")
            .bind(key)
            .bind(now)
            .bind(id)
            .execute(conn)
            .await?;
        Ok(r.rows_affected() == 1)
    }
}
