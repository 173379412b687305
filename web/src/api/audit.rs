//! The audit log for auditors and admins: search by actor, kind, device and time with each
//! row's chain position and hashes, and the same verification `portcullis audit verify` runs,
//! with the latest signed checkpoint.

use super::error::{ApiError, ErrorBody};
use super::ApiQuery;
use crate::auth::Authed;
use axum::extract::State;
use axum::Json;
use portcullis_core::audit::{self, AuditLog, AuditRow, Search};
use portcullis_core::store::Store;
use portcullis_core::clock;
use portcullis_core::domain::{DeviceName, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Roles that may read the audit log.
pub const AUDITORS: &[Role] = &[Role::Auditor, Role::Admin];

/// Filters of the audit search.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub actor: Option<String>,
    /// A kind (`request.approved`) or a family ending in a dot (`auth.`).
    pub kind: Option<String>,
    pub device: Option<String>,
    /// RFC 3339, inclusive.
    pub since: Option<String>,
    pub until: Option<String>,
    /// Rows before this chain position (the next page).
    pub before: Option<i64>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<i64>,
}

/// One audit row with its chain position.
#[derive(Serialize, ToSchema)]
pub struct AuditRowView {
    pub seq: i64,
    pub time: String,
    pub actor: String,
    pub kind: String,
    pub subject: String,
    /// The row's detail object.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl From<&AuditRow> for AuditRowView {
    fn from(r: &AuditRow) -> Self {
        AuditRowView {
            seq: r.seq,
            time: clock::rfc3339_ms(r.ts),
            actor: r.actor.clone(),
            kind: r.kind.clone(),
            subject: r.subject.clone(),
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::String(r.detail.clone())),
            prev_hash: r.prev_hash.clone(),
            hash: r.hash.clone(),
        }
    }
}

/// The outcome of a verification.
#[derive(Serialize, ToSchema)]
pub struct VerifyView {
    pub ok: bool,
    pub rows: i64,
    pub checkpoints: i64,
    pub last_checkpoint_seq: Option<i64>,
    pub last_checkpoint_time: Option<String>,
    pub key_id: Option<String>,
    /// Rows after the latest checkpoint, not yet covered by a signature.
    pub unsigned_tail: i64,
    pub first_bad_seq: Option<i64>,
    pub problem: Option<String>,
}

/// Parses an optional RFC 3339 time into Unix milliseconds.
pub(crate) fn ms(s: Option<&str>, what: &str) -> Result<Option<i64>, ApiError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(t) => time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map(|t| Some((t.unix_timestamp_nanos() / 1_000_000) as i64))
            .map_err(|_| ApiError::bad_request(format!("{what} must be an RFC 3339 time"))),
    }
}

/// Builds the core search from the query.
pub fn to_search(q: &AuditQuery) -> Result<Search, ApiError> {
    let device = q.device.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(DeviceName::parse).transpose().map_err(|e| ApiError::bad_request(e.to_string()))?;
    let text = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let kind = text(&q.kind);
    if kind.as_deref().is_some_and(|k| k.len() > 64 || !k.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')) {
        return Err(ApiError::bad_request("kind is lower-case words with dots, e.g. request.approved or auth."));
    }
    Ok(Search {
        actor: text(&q.actor),
        kind,
        device,
        since_ms: ms(q.since.as_deref(), "since")?,
        until_ms: ms(q.until.as_deref(), "until")?,
        before_seq: q.before.filter(|b| *b > 0),
        limit: q.limit.unwrap_or(100),
    })
}

/// Search the audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", operation_id = "search_audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = [AuditRowView]), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(store): State<Store>, a: Authed, ApiQuery(q): ApiQuery<AuditQuery>) -> Result<Json<Vec<AuditRowView>>, ApiError> {
    a.require(AUDITORS, "read the audit log")?;
    super::access::require_whole_log(&a, "read the whole audit log")?;
    let rows = audit::search(&store, &to_search(&q)?).await?;
    Ok(Json(rows.iter().map(AuditRowView::from).collect()))
}

/// Runs the verification of `portcullis audit verify`.
pub async fn run_verify(store: &Store, log: &AuditLog) -> Result<VerifyView, ApiError> {
    let r = audit::verify(store, log.signer()).await?;
    let cp = audit::latest_checkpoint(store).await?;
    Ok(VerifyView {
        ok: r.ok,
        rows: r.rows,
        checkpoints: r.checkpoints,
        last_checkpoint_seq: r.last_checkpoint_seq,
        last_checkpoint_time: cp.as_ref().map(|c| clock::rfc3339_ms(c.ts)),
        key_id: cp.map(|c| c.key_id),
        unsigned_tail: r.unsigned_tail,
        first_bad_seq: r.first_bad_seq,
        problem: r.problem,
    })
}

/// Verify the whole chain and the signed checkpoints.
#[utoipa::path(post, path = "/api/v1/audit/verify", operation_id = "verify_audit", tag = "audit",
    responses((status = 200, body = VerifyView), (status = 403, body = ErrorBody)))]
pub async fn verify(State(store): State<Store>, State(log): State<AuditLog>, a: Authed) -> Result<Json<VerifyView>, ApiError> {
    a.require(AUDITORS, "verify the audit log")?;
    super::access::require_whole_log(&a, "verify the whole audit log")?;
    Ok(Json(run_verify(&store, &log).await?))
}
