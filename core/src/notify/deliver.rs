//! One channel's delivery loop. It follows the audit log's `request.created` rows, and the
//! alert rows at or above `alerts.notify`, after its cursor, in order: for each it takes the
//! lease, builds the notice from the request as stored (or the alert's row), sends it, and
//! moves the cursor on (compare-and-swap). A temporary failure (the receiver down, a 5xx, a
//! timeout) is retried with a doubling wait, the lease renewed before each attempt, until
//! `notify.give_up_after`; a permanent one (the receiver refusing the payload) is not retried.
//! Either way a notification given up is logged, audited as `notify.failed`, and skipped, so
//! one bad notice never holds back the ones after it.
//! When nothing is left, the loop sleeps until the change feed moves (or, when another node
//! holds the lease, until that lease runs out).

use crate::cursor::{self, Claim};
use super::notice::{AlertNotice, Notice};
use super::{Channel, SendError};
use crate::audit::{AuditLog, Event, Kind, Subject};
use crate::alerts::Rule;
use crate::config::{NotifyConfig, NotifyLevel, PublicUrl, MAX_RETRY_WAIT};
use crate::domain::AlertSeverity;
use crate::feed::ChangeRx;
use crate::store::{Store, StoreError};
use crate::clock;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Wait after the database could not be read, before trying again.
const STORE_RETRY: Duration = Duration::from_secs(5);

/// Everything one channel's loop needs.
#[derive(Clone)]
pub(super) struct Worker {
    pub store: Store,
    pub audit: AuditLog,
    pub cfg: Arc<NotifyConfig>,
    pub public_url: PublicUrl,
    pub channel: Arc<Channel>,
    /// This process's name in lease columns.
    pub node: Arc<str>,
    /// Which alerts are sent (`alerts.notify`).
    pub alert_level: NotifyLevel,
}

/// Why a pass stopped.
enum Pass {
    /// Nothing left to send.
    Idle,
    /// Another node holds the lease until then (Unix ms).
    Busy(i64),
    /// Shutting down.
    Stopped,
}

/// What became of one notice.
enum Outcome {
    Delivered,
    /// An alert below `alerts.notify`: not sent, the cursor moves on.
    Skipped,
    GaveUp { attempts: u32, error: String },
    /// The lease went to another node, or shutdown: leave the cursor alone.
    Interrupted,
}

impl Worker {
    /// Runs until `shutdown`.
    pub async fn run(self, mut changes: ChangeRx, shutdown: CancellationToken) {
        let name = self.channel.name();
        loop {
            changes.mark_unchanged();
            let wake_at = match self.pass(&shutdown).await {
                Ok(Pass::Idle) => None,
                Ok(Pass::Busy(until_ms)) => Some(Instant::now() + Duration::from_millis((until_ms - clock::now_ms()).clamp(10, 60_000) as u64)),
                Ok(Pass::Stopped) => break,
                Err(e) => {
                    tracing::warn!(channel = name, error = %e, "notifications: cannot read the store; retrying");
                    Some(Instant::now() + STORE_RETRY)
                }
            };
            let wait_lease = async {
                match wake_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = changes.changed() => if r.is_err() { break },
                _ = wait_lease => {}
            }
        }
        if let Err(e) = cursor::release(&self.store, name, &self.node).await {
            tracing::debug!(channel = name, error = %e, "notifications: cannot release the lease");
        }
    }

    /// How long a lease lasts: one attempt, with room to spare.
    fn lease(&self) -> i64 {
        (self.cfg.timeout.0 * 2 + Duration::from_secs(5)).as_millis() as i64
    }

    async fn claim(&self) -> Result<Claim, StoreError> {
        let now = clock::now_ms();
        cursor::claim(&self.store, self.channel.name(), &self.node, now, now + self.lease()).await
    }

    /// Sends everything after the cursor.
    async fn pass(&self, shutdown: &CancellationToken) -> Result<Pass, StoreError> {
        let name = self.channel.name();
        loop {
            let at = match self.claim().await? {
                Claim::Held { seq } => seq,
                Claim::Busy { until_ms } => return Ok(Pass::Busy(until_ms)),
            };
            let Some(row) = next_row(&self.store, at).await? else {
                cursor::release(&self.store, name, &self.node).await?;
                return Ok(Pass::Idle);
            };
            let seq = row.seq;
            let request = match row.subject.parse::<Subject>() {
                Ok(Subject::Request(id)) if row.kind == "request.created" => Some(id),
                _ => None,
            };
            let outcome = match (request, row.kind.as_str()) {
                (Some(id), _) => match self.store.request(id).await? {
                    Some(r) => self.deliver(&Notice::new(r, &self.public_url), shutdown).await?,
                    None => Outcome::GaveUp { attempts: 0, error: format!("request #{id} is not in the store") },
                },
                (None, "request.created") => Outcome::GaveUp { attempts: 0, error: format!("audit row {seq} names no request ({:?})", row.subject) },
                (None, kind) => {
                    let detail: serde_json::Value = serde_json::from_str(&row.detail).unwrap_or_default();
                    let severity = detail.get("severity").and_then(|s| s.as_str()).and_then(|s| AlertSeverity::parse(s).ok()).unwrap_or(AlertSeverity::Medium);
                    // Break-glass rows are always sent: every approver is told at once.
                    if kind.starts_with("breakglass.") || self.alert_level.sends(severity) {
                        self.deliver(&Notice::Alert(AlertNotice::new(seq, row.ts, kind, detail, &self.public_url)), shutdown).await?
                    } else {
                        Outcome::Skipped
                    }
                }
            };
            match outcome {
                Outcome::Delivered => tracing::info!(channel = name, row = seq, kind = %row.kind, "approvers notified"),
                Outcome::Skipped => {}
                Outcome::GaveUp { attempts, error } => {
                    tracing::error!(channel = name, row = seq, kind = %row.kind, attempts, %error, "notification given up");
                    let detail = json!({ "channel": name, "attempts": attempts, "error": error, "audit_seq": seq });
                    let about = request.map_or(Subject::System, Subject::Request);
                    self.audit.record(Event::new("system", Kind::NotifyFailed, about, detail)).await?;
                }
                Outcome::Interrupted if shutdown.is_cancelled() => return Ok(Pass::Stopped),
                Outcome::Interrupted => continue,
            }
            if !cursor::advance(&self.store, name, &self.node, at, seq, clock::now_ms()).await? {
                tracing::warn!(channel = name, row = seq, "notifications: another node moved the cursor meanwhile");
            }
        }
    }

    /// Sends one notice, retrying temporary failures.
    async fn deliver(&self, notice: &Notice, shutdown: &CancellationToken) -> Result<Outcome, StoreError> {
        let first = Instant::now();
        let mut wait = self.cfg.retry_backoff.0;
        let mut attempts = 0u32;
        loop {
            if !matches!(self.claim().await?, Claim::Held { .. }) {
                return Ok(Outcome::Interrupted);
            }
            attempts += 1;
            let sent = tokio::select! {
                _ = shutdown.cancelled() => return Ok(Outcome::Interrupted),
                sent = tokio::time::timeout(self.cfg.timeout.0, self.channel.send(notice)) => sent,
            };
            let error = match sent {
                Ok(Ok(())) => return Ok(Outcome::Delivered),
                Ok(Err(SendError::Permanent(error))) => return Ok(Outcome::GaveUp { attempts, error }),
                Ok(Err(SendError::Transient(error))) => error,
                Err(_) => format!("no answer within {}", humantime::format_duration(self.cfg.timeout.0)),
            };
            if first.elapsed() + wait > self.cfg.give_up_after.0 {
                return Ok(Outcome::GaveUp { attempts, error: format!("still failing after {attempts} attempts: {error}") });
            }
            tracing::warn!(channel = self.channel.name(), attempts, %error, retry_in = ?wait, "notification failed; will retry");
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(Outcome::Interrupted),
                _ = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(MAX_RETRY_WAIT);
        }
    }
}

/// A row the channel sends: a new request or an alert.
#[derive(sqlx::FromRow)]
struct Row {
    seq: i64,
    ts: i64,
    kind: String,
    subject: String,
    detail: String,
}

/// The first `request.created`, alert or break-glass (opened, review overdue) row after `after`.
async fn next_row(store: &Store, after: i64) -> Result<Option<Row>, StoreError> {
    let alerts = Rule::ALL.iter().map(|r| format!("'{}'", r.kind().as_str())).collect::<Vec<_>>().join(", ");
    let q = format!("SELECT seq, ts, kind, subject, detail FROM audit_log WHERE (kind = 'request.created' OR kind IN ({alerts}) OR kind IN ('breakglass.opened', 'breakglass.review_overdue')) AND seq > $1 ORDER BY seq LIMIT 1");
    Ok(sqlx::query_as(&q).bind(after).fetch_optional(store.pool()).await?)
}
