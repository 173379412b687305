//! Searching brokered sessions for the auditor's list and API: by vendor, organisation,
//! device, zone, time range, state and free text in the request's reason, newest first, a
//! page at a time (`before_id`). `approved_by` narrows the result to the sessions of requests
//! that user approved, which is all an approver may see. Every value is bound as a parameter;
//! the LIKE patterns escape their wildcards.

use super::sessions::SESSION_SELECT;
use super::{like_escape, SessionRecord, Store, StoreError};
use crate::domain::{SessionState, ZoneSet};

/// Most sessions one search returns.
pub const MAX_SESSIONS: i64 = 500;

/// What to look for; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct SessionSearch {
    /// Part of the vendor's user name (case-insensitive).
    pub vendor: Option<String>,
    /// The vendor's organisation, exactly.
    pub org: Option<String>,
    /// Part of the device's name (case-insensitive).
    pub device: Option<String>,
    /// The device's zone, exactly.
    pub zone: Option<String>,
    /// Unix seconds: sessions still running at or after this moment.
    pub since: Option<i64>,
    /// Unix seconds: sessions started at or before this moment.
    pub until: Option<i64>,
    pub state: Option<SessionState>,
    /// Text that must appear in the request's reason (case-insensitive).
    pub text: Option<String>,
    /// Only sessions whose request this user (id) approved.
    pub approved_by: Option<i64>,
    /// Only sessions on devices in these zones (a zone-limited auditor); empty: every zone.
    pub zones: ZoneSet,
    /// Only sessions numbered below this one (the next page).
    pub before_id: Option<i64>,
    pub limit: i64,
}

fn contains(v: &Option<String>) -> String {
    match v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => format!("%{}%", like_escape(&v.to_lowercase())),
        None => String::new(),
    }
}

fn exact(v: &Option<String>) -> String {
    v.as_deref().map(str::trim).unwrap_or_default().to_owned()
}

impl Store {
    /// The matching sessions, newest first.
    pub async fn search_sessions(&self, s: &SessionSearch) -> Result<Vec<SessionRecord>, StoreError> {
        // A zone limit is one bound parameter per zone (at most `MAX_ZONES`), never text.
        let zones: Vec<&str> = s.zones.iter().map(|z| z.as_str()).collect();
        let in_zones = if zones.is_empty() {
            String::new()
        } else {
            let marks: Vec<String> = (0..zones.len()).map(|i| format!("${}", 12 + i)).collect();
            format!("AND d.zone IN ({}) ", marks.join(", "))
        };
        let q = format!(
            "{SESSION_SELECT} \
             WHERE ($1 = '' OR LOWER(u.username) LIKE $1 ESCAPE '\\') \
               AND ($2 = '' OR u.org = $2) \
               AND ($3 = '' OR LOWER(d.name) LIKE $3 ESCAPE '\\') \
               AND ($4 = '' OR d.zone = $4) \
               AND ($5 = 0 OR s.ended_at IS NULL OR s.ended_at >= $5) \
               AND ($6 = 0 OR s.started_at <= $6) \
               AND ($7 = '' OR s.state = $7) \
               AND ($8 = '' OR LOWER(r.reason) LIKE $8 ESCAPE '\\') \
               AND ($9 = 0 OR EXISTS (SELECT 1 FROM approvals a WHERE a.request_id = g.request_id AND a.approver_id = $9)) \
               AND ($10 = 0 OR s.id < $10) \
               {in_zones}\
             ORDER BY s.id DESC LIMIT $11"
        );
        let mut query = sqlx::query(&q)
            .bind(contains(&s.vendor))
            .bind(exact(&s.org))
            .bind(contains(&s.device))
            .bind(exact(&s.zone))
            .bind(s.since.unwrap_or(0))
            .bind(s.until.unwrap_or(0))
            .bind(s.state.map(|st| st.as_str().to_owned()).unwrap_or_default())
            .bind(contains(&s.text))
            .bind(s.approved_by.unwrap_or(0))
            .bind(s.before_id.unwrap_or(0))
            .bind(s.limit.clamp(1, MAX_SESSIONS));
        for z in zones {
            query = query.bind(z);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(SessionRecord::from_row).collect()
    }

    /// Whether user `approver` (id) approved the request behind `session`, or the session ran
    /// under a break-glass grant (which every approver may review).
    pub async fn approved_session(&self, approver: i64, session: crate::domain::SessionId) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions s JOIN grants g ON g.id = s.grant_id WHERE s.id = $1 AND (\
             EXISTS (SELECT 1 FROM approvals a WHERE a.request_id = g.request_id AND a.approver_id = $2) \
             OR EXISTS (SELECT 1 FROM break_glass b WHERE b.request_id = g.request_id))",
        )
        .bind(session.0)
        .bind(approver)
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }
}
