//! Searching the audit log for the auditor's page and API: by actor, kind, device and time,
//! newest first, a page at a time (`before_seq`). A device matches rows about it (subject
//! `device:NAME`) and rows that name it in their detail (`"device":"NAME"`). Values are bound
//! as parameters; the LIKE pattern escapes its wildcards.

use super::AuditRow;
use crate::domain::DeviceName;
use crate::store::{like_escape, Store, StoreError};

/// Most rows one search returns.
pub const MAX_ROWS: i64 = 500;

/// What to look for; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub actor: Option<String>,
    /// Exact kind (`request.approved`) or a family ending in `.` (`auth.`).
    pub kind: Option<String>,
    pub device: Option<DeviceName>,
    /// Unix milliseconds, inclusive.
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only rows before this sequence number (the next page).
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// The matching rows, newest first.
pub async fn search(store: &Store, s: &Search) -> Result<Vec<AuditRow>, StoreError> {
    let (kind_exact, kind_prefix) = match s.kind.as_deref().filter(|k| !k.is_empty()) {
        Some(k) if k.ends_with('.') => (String::new(), format!("{}%", like_escape(k))),
        Some(k) => (k.to_owned(), String::new()),
        None => (String::new(), String::new()),
    };
    let (dev_subject, dev_detail) = match &s.device {
        Some(d) => (format!("device:{d}"), format!("%\"device\":\"{}\"%", like_escape(d.as_str()))),
        None => (String::new(), String::new()),
    };
    let rows = sqlx::query(
        "SELECT seq, ts, actor, kind, subject, detail, prev_hash, hash FROM audit_log \
         WHERE ($1 = '' OR actor = $1) \
           AND ($2 = '' OR kind = $2) \
           AND ($3 = '' OR kind LIKE $3 ESCAPE '\\') \
           AND ($4 = '' OR subject = $4 OR detail LIKE $5 ESCAPE '\\') \
           AND ($6 = 0 OR ts >= $6) AND ($7 = 0 OR ts <= $7) AND ($8 = 0 OR seq < $8) \
         ORDER BY seq DESC LIMIT $9",
    )
    .bind(s.actor.clone().unwrap_or_default())
    .bind(kind_exact)
    .bind(kind_prefix)
    .bind(dev_subject)
    .bind(dev_detail)
    .bind(s.since_ms.unwrap_or(0))
    .bind(s.until_ms.unwrap_or(0))
    .bind(s.before_seq.unwrap_or(0))
    .bind(s.limit.clamp(1, MAX_ROWS))
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(AuditRow::from_row).collect()
}

/// The latest signed checkpoint, if any.
pub async fn latest_checkpoint(store: &Store) -> Result<Option<super::Checkpoint>, StoreError> {
    let row: Option<(i64, String, i64, String, String)> =
        sqlx::query_as("SELECT seq, hash, ts, key_id, signature FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
            .fetch_optional(store.pool())
            .await?;
    Ok(row.map(|(seq, hash, ts, key_id, signature)| super::Checkpoint { seq, hash, ts, key_id, signature }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::audit::{Event, Kind, Subject};
    use crate::domain::RequestId;
    use crate::testdb::audit_log;
    use crate::testdb::stores;
    use serde_json::json;

    #[tokio::test]
    async fn filters_combine_and_wildcards_are_literal() {
        for t in stores().await {
            let st = &t.store;
            let log = audit_log(st, 0);
            log.record(Event::new("jdoe", Kind::AuthLogin, Subject::user("jdoe"), json!({}))).await.unwrap();
            log.record(Event::new("jdoe", Kind::RequestCreated, Subject::Request(RequestId(1)), json!({"device": "pump-1"}))).await.unwrap();
            log.record(Event::new("nurse", Kind::RequestApproved, Subject::Request(RequestId(1)), json!({"device": "pump-1"}))).await.unwrap();
            log.record(Event::new("nurse", Kind::RequestApproved, Subject::Request(RequestId(2)), json!({"device": "pump_1x"}))).await.unwrap();
            log.record(Event::new("admin", Kind::DeviceDisabled, Subject::device("pump-1"), json!({}))).await.unwrap();
            let find = |s: Search| async move { search(st, &Search { limit: 100, ..s }).await.unwrap().iter().map(|r| r.seq).collect::<Vec<_>>() };
            let pump = DeviceName::parse("pump-1").unwrap();
            assert_eq!(find(Search { device: Some(pump.clone()), ..Default::default() }).await, vec![5, 3, 2], "{}", t.name);
            assert_eq!(find(Search { actor: Some("nurse".into()), ..Default::default() }).await, vec![4, 3]);
            assert_eq!(find(Search { kind: Some("request.".into()), ..Default::default() }).await, vec![4, 3, 2]);
            assert_eq!(find(Search { kind: Some("request.approved".into()), device: Some(pump), ..Default::default() }).await, vec![3]);
            assert_eq!(find(Search { kind: Some("%".into()), ..Default::default() }).await, Vec::<i64>::new(), "a wildcard is literal");
            assert_eq!(find(Search { before_seq: Some(3), ..Default::default() }).await, vec![2, 1]);
            assert_eq!(find(Search { actor: Some("x' OR '1'='1".into()), ..Default::default() }).await, Vec::<i64>::new());
        }
    }
}
