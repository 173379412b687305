//! The break-glass tables (migration 0016): one row per emergency opening, the reviews, and
//! the evidence bundles written when its sessions end.

use crate::domain::{RequestId, SessionId};
use crate::store::{Store, StoreError};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

/// One break-glass opening, with what the review page shows.
#[derive(Debug, Clone, Serialize)]
pub struct BreakGlassRecord {
    pub request_id: RequestId,
    pub vendor: String,
    pub device: String,
    pub zone: String,
    pub criticality: String,
    pub incident: String,
    pub reason: String,
    /// Unix seconds.
    pub opened_at: i64,
    pub review_due: i64,
    /// `pending`, `justified` or `not-justified`.
    pub outcome: String,
    pub escalated_at: Option<i64>,
    pub reviews: Vec<ReviewRecord>,
    /// The sessions run under its grant.
    pub sessions: Vec<SessionId>,
}

/// One review.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewRecord {
    pub reviewer: String,
    /// `justified` or `not-justified`.
    pub verdict: String,
    pub note: String,
    pub reviewed_at: i64,
}

const SELECT: &str = "SELECT b.request_id, u.username AS vendor, d.name AS device, d.zone, d.criticality, b.incident, b.reason, \
     b.opened_at, b.review_due, b.outcome, b.escalated_at FROM break_glass b JOIN access_requests r ON r.id = b.request_id \
     JOIN users u ON u.id = r.vendor_id JOIN devices d ON d.id = r.device_id";

fn from_row(r: &sqlx::any::AnyRow) -> Result<BreakGlassRecord, StoreError> {
    Ok(BreakGlassRecord {
        request_id: RequestId(r.try_get("request_id")?),
        vendor: r.try_get("vendor")?,
        device: r.try_get("device")?,
        zone: r.try_get("zone")?,
        criticality: r.try_get("criticality")?,
        incident: r.try_get("incident")?,
        reason: r.try_get("reason")?,
        opened_at: r.try_get("opened_at")?,
        review_due: r.try_get("review_due")?,
        outcome: r.try_get("outcome")?,
        escalated_at: r.try_get("escalated_at")?,
        reviews: Vec::new(),
        sessions: Vec::new(),
    })
}

impl Store {
    /// Records a break-glass opening (in the transaction that creates its grant).
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_break_glass(&self, conn: &mut AnyConnection, id: RequestId, incident: &str, reason: &str, by: &str, now: i64, due: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO break_glass (request_id, incident, reason, opened_by, opened_at, review_due) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id.0)
            .bind(incident)
            .bind(reason)
            .bind(by)
            .bind(now)
            .bind(due)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// One opening with its reviews and sessions.
    pub async fn break_glass(&self, id: RequestId) -> Result<Option<BreakGlassRecord>, StoreError> {
        let q = format!("{SELECT} WHERE b.request_id = $1");
        let Some(row) = sqlx::query(&q).bind(id.0).fetch_optional(self.pool()).await? else { return Ok(None) };
        let mut rec = from_row(&row)?;
        self.fill_break_glass(&mut rec).await?;
        Ok(Some(rec))
    }

    /// Openings, newest first; `pending_only`: those whose review is not finished.
    pub async fn list_break_glass(&self, pending_only: bool, limit: i64) -> Result<Vec<BreakGlassRecord>, StoreError> {
        let filter = if pending_only { "WHERE b.outcome = 'pending'" } else { "" };
        let q = format!("{SELECT} {filter} ORDER BY b.request_id DESC LIMIT $1");
        let rows = sqlx::query(&q).bind(limit).fetch_all(self.pool()).await?;
        let mut out = Vec::new();
        for row in &rows {
            let mut rec = from_row(row)?;
            self.fill_break_glass(&mut rec).await?;
            out.push(rec);
        }
        Ok(out)
    }

    async fn fill_break_glass(&self, rec: &mut BreakGlassRecord) -> Result<(), StoreError> {
        let rows = sqlx::query("SELECT reviewer, verdict, note, reviewed_at FROM break_glass_reviews WHERE request_id = $1 ORDER BY reviewed_at, reviewer")
            .bind(rec.request_id.0)
            .fetch_all(self.pool())
            .await?;
        rec.reviews = rows
            .iter()
            .map(|r| Ok(ReviewRecord { reviewer: r.try_get("reviewer")?, verdict: r.try_get("verdict")?, note: r.try_get("note")?, reviewed_at: r.try_get("reviewed_at")? }))
            .collect::<Result<_, StoreError>>()?;
        let ids: Vec<i64> = sqlx::query_scalar("SELECT s.id FROM sessions s JOIN grants g ON g.id = s.grant_id WHERE g.request_id = $1 ORDER BY s.id")
            .bind(rec.request_id.0)
            .fetch_all(self.pool())
            .await?;
        rec.sessions = ids.into_iter().map(SessionId).collect();
        Ok(())
    }

    /// Locks the opening's row in a write and returns its reviews so far (reviewer, verdict).
    pub async fn lock_break_glass(&self, conn: &mut AnyConnection, id: RequestId) -> Result<Option<(String, Vec<(String, String)>)>, StoreError> {
        let outcome: Option<String> = sqlx::query_scalar("UPDATE break_glass SET outcome = outcome WHERE request_id = $1 RETURNING outcome").bind(id.0).fetch_optional(&mut *conn).await?;
        let Some(outcome) = outcome else { return Ok(None) };
        let rows = sqlx::query("SELECT reviewer, verdict FROM break_glass_reviews WHERE request_id = $1").bind(id.0).fetch_all(&mut *conn).await?;
        let reviews = rows.iter().map(|r| Ok((r.try_get("reviewer")?, r.try_get("verdict")?))).collect::<Result<_, StoreError>>()?;
        Ok(Some((outcome, reviews)))
    }

    /// Adds one review and sets the outcome (in the write that locked the row).
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_break_glass_review(&self, conn: &mut AnyConnection, id: RequestId, reviewer: &str, verdict: &str, note: &str, now: i64, outcome: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO break_glass_reviews (request_id, reviewer, verdict, note, reviewed_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.0)
            .bind(reviewer)
            .bind(verdict)
            .bind(note)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        sqlx::query("UPDATE break_glass SET outcome = $1 WHERE request_id = $2").bind(outcome).bind(id.0).execute(&mut *conn).await?;
        Ok(())
    }

    /// Openings whose review is due before `now`, not finished and not yet escalated.
    pub async fn overdue_break_glass(&self, now: i64) -> Result<Vec<RequestId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT request_id FROM break_glass WHERE outcome = 'pending' AND escalated_at IS NULL AND review_due < $1 ORDER BY request_id")
            .bind(now)
            .fetch_all(self.pool())
            .await?;
        Ok(ids.into_iter().map(RequestId).collect())
    }

    /// Marks an opening escalated; false if another node did it first (or it was reviewed).
    pub async fn claim_escalation(&self, conn: &mut AnyConnection, id: RequestId, now: i64) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE break_glass SET escalated_at = $1 WHERE request_id = $2 AND escalated_at IS NULL AND outcome = 'pending'")
            .bind(now)
            .bind(id.0)
            .execute(conn)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Ended sessions of break-glass grants whose bundle nobody has claimed yet.
    pub async fn break_glass_sessions_to_export(&self) -> Result<Vec<(SessionId, RequestId)>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.id, g.request_id FROM sessions s JOIN grants g ON g.id = s.grant_id JOIN break_glass b ON b.request_id = g.request_id \
             WHERE s.state = 'ended' AND NOT EXISTS (SELECT 1 FROM break_glass_exports e WHERE e.session_id = s.id) ORDER BY s.id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((SessionId(r.try_get("id")?), RequestId(r.try_get("request_id")?)))).collect()
    }

    /// Claims the export of a session's bundle; false if another node claimed it.
    pub async fn claim_break_glass_export(&self, session: SessionId, request: RequestId, now: i64) -> Result<bool, StoreError> {
        let r = sqlx::query("INSERT INTO break_glass_exports (session_id, request_id, claimed_at) VALUES ($1, $2, $3)")
            .bind(session.0)
            .bind(request.0)
            .bind(now)
            .execute(self.pool())
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if crate::store::is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Records where a session's bundle was written (in the write of its audit row).
    pub async fn set_break_glass_export(&self, conn: &mut AnyConnection, session: SessionId, path: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE break_glass_exports SET path = $1 WHERE session_id = $2").bind(path).bind(session.0).execute(conn).await?;
        Ok(())
    }

    /// Whether the request is a break-glass opening.
    pub async fn is_break_glass(&self, id: RequestId) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM break_glass WHERE request_id = $1").bind(id.0).fetch_one(self.pool()).await?;
        Ok(n > 0)
    }
}
