//! What a scrape reads from the store rather than counts: live sessions on this node by
//! device criticality, pending requests, the time to decision of decided requests, and each delivery cursor's lag behind the audit log
//! (SIEM sinks and notification channels). A read that succeeds also marks the store as
//! reached, which `store_contact_age_seconds` measures; a read that fails counts as a store
//! error and keeps the old values. The node's heartbeat age is the lease's own figure.

use portcullis_core::clock;
use portcullis_core::domain::{Criticality, RequestState};
use portcullis_core::metrics::{Metrics, SinkKind};
use portcullis_core::store::{Store, StoreError};

/// A delivery cursor to report: its kind, its name in `delivery_cursors`, its label.
#[derive(Debug, Clone)]
pub struct Sink {
    pub kind: SinkKind,
    pub cursor: String,
    pub name: String,
}

/// Reads the store's figures into `m` and returns the text format.
pub async fn scrape(m: &Metrics, store: &Store, node: &str, sinks: &[Sink], lease: &portcullis_core::lease::Lease) -> String {
    match read(m, store, node, sinks).await {
        Ok(()) => m.note_store_ok(clock::now_ms()),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the store"),
    }
    m.update_store_contact_age(clock::now_ms());
    m.set_heartbeat_age(lease.age());
    m.encode()
}

async fn read(m: &Metrics, store: &Store, node: &str, sinks: &[Sink]) -> Result<(), StoreError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT d.criticality, COUNT(*) FROM sessions s JOIN devices d ON d.id = s.device_id \
         WHERE s.state = 'active' AND s.node = $1 GROUP BY d.criticality",
    )
    .bind(node)
    .fetch_all(store.pool())
    .await
    .map_err(StoreError::from)?;
    for c in Criticality::ALL {
        let n = rows.iter().find(|(name, _)| name == c.as_str()).map_or(0, |(_, n)| *n);
        m.set_sessions((*c).into(), n);
    }
    m.set_pending(store.count_requests(RequestState::Pending).await?);
    let decided: Vec<i64> = sqlx::query_scalar("SELECT decided_at - created_at FROM access_requests WHERE state IN ('approved', 'denied') AND decided_at IS NOT NULL")
        .fetch_all(store.pool())
        .await
        .map_err(StoreError::from)?;
    m.set_decision_times(&decided);
    let head = store.audit_head().await?;
    let now = clock::now_ms();
    for s in sinks {
        let at = portcullis_core::cursor::position(store, &s.cursor).await?.unwrap_or(head);
        let oldest: Option<i64> = sqlx::query_scalar("SELECT ts FROM audit_log WHERE seq = $1").bind(at + 1).fetch_optional(store.pool()).await.map_err(StoreError::from)?;
        m.set_sink_lag(s.kind, &s.name, (head - at).max(0), oldest.map_or(0.0, |ts| (now - ts).max(0) as f64 / 1000.0));
    }
    Ok(())
}
