//! Reading the audit log in pages, oldest first, so that neither the exporter nor a one-off
//! export ever holds more than one page of rows.

use crate::audit::AuditRow;
use crate::store::{Store, StoreError};

/// Up to `limit` rows with `seq > after`, in chain order.
pub async fn page(store: &Store, after: i64, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, ts, actor, kind, subject, detail, prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(AuditRow::from_row).collect()
}
