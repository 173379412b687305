//! What the alerts keep besides the audit log (migration 0015): the source addresses each
//! account signed in from (rule `new_source`) and the acknowledgements. The alerts themselves
//! are read back from the log: the rows whose kind is an alert rule's.

use super::Rule;
use crate::audit::{AuditLog, Event, Kind};
use crate::clock;
use crate::domain::AlertSeverity;
use crate::store::{Store, StoreError};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::Row;

/// Records that `name` signed in from `source` at `now`; returns whether the address is new
/// for the account and how many addresses the account had before.
pub(super) async fn note_source(store: &Store, name: &str, source: &str, now: i64) -> Result<(bool, i64), StoreError> {
    let known: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alert_sources WHERE username = $1").bind(name).fetch_one(store.pool()).await?;
    let r = sqlx::query("INSERT INTO alert_sources (username, source, first_seen) VALUES ($1, $2, $3) ON CONFLICT (username, source) DO NOTHING")
        .bind(name)
        .bind(source)
        .bind(now)
        .execute(store.pool())
        .await?;
    Ok((r.rows_affected() == 1, known))
}

/// One alert as the page and the API show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlertView {
    /// The audit row's seq: the alert's identity.
    pub seq: i64,
    /// Unix milliseconds.
    pub ts: i64,
    /// The rule's name (`failed_codes`, …).
    pub rule: String,
    pub kind: String,
    pub severity: AlertSeverity,
    pub vendor: Option<String>,
    pub device: Option<String>,
    pub session: Option<i64>,
    /// The audit subject (`session:12`, `user:jdoe`).
    pub subject: String,
    /// The whole detail.
    pub detail: Value,
    pub acknowledged_by: Option<String>,
    /// Unix seconds.
    pub acknowledged_at: Option<i64>,
}

/// Why an acknowledgement was refused.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error("no alert {0}")]
    NotFound(i64),
    #[error("alert {seq} was already acknowledged by {by}")]
    Already { seq: i64, by: String, at: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

const SELECT: &str = "SELECT a.seq, a.ts, a.kind, a.subject, a.detail, k.acked_by, k.acked_at FROM audit_log a LEFT JOIN alert_acks k ON k.alert_seq = a.seq";

fn kinds_list() -> String {
    Rule::ALL.iter().map(|r| format!("'{}'", r.kind().as_str())).collect::<Vec<_>>().join(", ")
}

fn view(r: &sqlx::any::AnyRow) -> Result<AlertView, StoreError> {
    let kind: String = r.try_get("kind")?;
    let detail_text: String = r.try_get("detail")?;
    let detail: Value = serde_json::from_str(&detail_text).unwrap_or(Value::Null);
    let text = |k: &str| detail.get(k).and_then(Value::as_str).map(str::to_owned);
    let severity = text("severity").and_then(|s| AlertSeverity::parse(&s).ok()).unwrap_or(AlertSeverity::Medium);
    Ok(AlertView {
        seq: r.try_get("seq")?,
        ts: r.try_get("ts")?,
        rule: Rule::of_kind(&kind).map(|r| r.as_str().to_owned()).unwrap_or_default(),
        kind,
        severity,
        vendor: text("vendor"),
        device: text("device"),
        session: detail.get("session").and_then(Value::as_i64),
        subject: r.try_get("subject")?,
        acknowledged_by: r.try_get("acked_by")?,
        acknowledged_at: r.try_get("acked_at")?,
        detail,
    })
}

/// The most alerts one listing reads.
pub(super) const MOST: u32 = 1000;

/// The newest `limit` alerts (at most [`MOST`]), newest first.
pub(super) async fn list(store: &Store, limit: u32) -> Result<Vec<AlertView>, StoreError> {
    let q = format!("{SELECT} WHERE a.kind IN ({}) ORDER BY a.seq DESC LIMIT $1", kinds_list());
    let rows = sqlx::query(&q).bind(i64::from(limit.min(MOST))).fetch_all(store.pool()).await?;
    rows.iter().map(view).collect()
}

async fn one(store: &Store, seq: i64) -> Result<Option<AlertView>, StoreError> {
    let q = format!("{SELECT} WHERE a.seq = $1 AND a.kind IN ({})", kinds_list());
    let row = sqlx::query(&q).bind(seq).fetch_optional(store.pool()).await?;
    row.as_ref().map(view).transpose()
}

/// Acknowledges alert `seq` as `by` in one audited write.
pub(super) async fn acknowledge(store: &Store, audit: &AuditLog, seq: i64, by: &str, visible: impl Fn(&AlertView) -> bool) -> Result<AlertView, AckError> {
    let alert = one(store, seq).await?.filter(|a| visible(a)).ok_or(AckError::NotFound(seq))?;
    if let (Some(by), Some(at)) = (alert.acknowledged_by, alert.acknowledged_at) {
        return Err(AckError::Already { seq, by, at });
    }
    let now = clock::now();
    let mut w = audit.begin().await?;
    let r = sqlx::query("INSERT INTO alert_acks (alert_seq, acked_by, acked_at) VALUES ($1, $2, $3) ON CONFLICT (alert_seq) DO NOTHING")
        .bind(seq)
        .bind(by)
        .bind(now)
        .execute(&mut *w)
        .await
        .map_err(StoreError::from)?;
    if r.rows_affected() == 0 {
        drop(w);
        let now_acked = one(store, seq).await?.ok_or(AckError::NotFound(seq))?;
        return Err(AckError::Already { seq, by: now_acked.acknowledged_by.unwrap_or_default(), at: now_acked.acknowledged_at.unwrap_or_default() });
    }
    let subject = alert.subject.parse().unwrap_or(crate::audit::Subject::System);
    w.append(Event::new(by, Kind::AlertAcknowledged, subject, json!({ "alert_seq": seq, "rule": alert.rule, "severity": alert.severity })))
        .await?;
    w.commit().await?;
    one(store, seq).await?.ok_or(AckError::NotFound(seq))
}
