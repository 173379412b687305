//! Store side of recordings kept in a bucket: which sealed recordings this node still has to
//! upload, and recording where one now is once its object was checked.

use super::sessions::RECORDING_COLUMNS;
use super::{RecordingRecord, Store, StoreError};
use crate::domain::NodeId;
use sqlx::AnyConnection;

impl Store {
    /// Sealed recordings that are not in the bucket yet (nor removed by retention), oldest
    /// first, that `node` has to upload: those of its own sessions (only the node that wrote a
    /// file has it), and the frozen, truncated recordings of a node it claimed as lost (it
    /// sealed them from the recording folder the nodes share). A lost node that comes back
    /// takes its lease afresh, so from then on it uploads whatever of its own is left;
    /// an upload made twice is recorded once.
    pub async fn recordings_to_upload(&self, node: &NodeId, limit: i64) -> Result<Vec<RecordingRecord>, StoreError> {
        let cols = RECORDING_COLUMNS.split(", ").map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", ");
        let q = format!(
            "SELECT {cols} FROM recordings r JOIN sessions s ON s.id = r.session_id \
             WHERE r.sealed_at IS NOT NULL AND r.object_key IS NULL AND r.retained IS NULL \
             AND (s.node = $1 OR (s.end_reason = 'node lost' AND EXISTS (SELECT 1 FROM nodes n WHERE n.id = s.node AND n.lost_by = $1))) \
             ORDER BY r.id LIMIT $2"
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
