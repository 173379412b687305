//! Break-glass for approvers and admins (the reviewers) and auditors (read only): the
//! openings with their incident, reason, sessions and reviews, the reviews still due, and one
//! review ("justified" or "not justified" with a note), decided by
//! [`portcullis_core::breakglass`] for every surface alike.

use super::error::{ApiError, ErrorBody};
use super::{ApiJson, ApiPath, ApiQuery};
use crate::auth::Authed;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use portcullis_core::breakglass::{BreakGlass, BreakGlassError, BreakGlassRecord, Verdict};
use portcullis_core::clock;
use portcullis_core::domain::{RequestId, Role};
use portcullis_core::store::Store;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Roles that may read break-glass openings.
pub const READERS: &[Role] = &[Role::Approver, Role::Auditor, Role::Admin];
/// Roles that may review (policy narrows it per device).
pub const REVIEWERS: &[Role] = &[Role::Approver, Role::Admin];

/// Which openings to list.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassQuery {
    /// Only those whose review is not finished (the reviews due).
    pub due: Option<bool>,
}

/// One review.
#[derive(Serialize, ToSchema)]
pub struct ReviewView {
    pub reviewer: String,
    /// `justified` or `not-justified`.
    pub verdict: String,
    pub note: String,
    /// RFC 3339.
    pub reviewed_at: String,
}

/// One break-glass opening.
#[derive(Serialize, ToSchema)]
pub struct BreakGlassView {
    /// Its request's id.
    pub id: i64,
    pub vendor: String,
    pub device: String,
    pub zone: String,
    pub criticality: String,
    pub incident: String,
    pub reason: String,
    /// RFC 3339.
    pub opened_at: String,
    /// RFC 3339: both reviews are due by then.
    pub review_due: String,
    pub overdue: bool,
    /// `pending`, `justified` or `not-justified`.
    pub outcome: String,
    pub reviews: Vec<ReviewView>,
    /// The sessions run under its grant (their recordings and audit rows are on their records).
    pub sessions: Vec<i64>,
}

impl From<BreakGlassRecord> for BreakGlassView {
    fn from(b: BreakGlassRecord) -> Self {
        BreakGlassView {
            id: b.request_id.0,
            overdue: b.outcome == "pending" && b.review_due < clock::now(),
            vendor: b.vendor,
            device: b.device,
            zone: b.zone,
            criticality: b.criticality,
            incident: b.incident,
            reason: b.reason,
            opened_at: clock::rfc3339(b.opened_at),
            review_due: clock::rfc3339(b.review_due),
            outcome: b.outcome,
            reviews: b.reviews.into_iter().map(|r| ReviewView { reviewer: r.reviewer, verdict: r.verdict, note: r.note, reviewed_at: clock::rfc3339(r.reviewed_at) }).collect(),
            sessions: b.sessions.into_iter().map(|s| s.0).collect(),
        }
    }
}

/// A review.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// `justified` or `not-justified`.
    pub verdict: String,
    /// Why; required.
    pub note: String,
}

/// What a review led to.
#[derive(Serialize, ToSchema)]
pub struct ReviewedView {
    /// `pending` (one more review needed), `justified` or `not-justified`.
    pub outcome: String,
    /// Whether this review disabled the vendor's account.
    pub account_disabled: bool,
}

impl From<BreakGlassError> for ApiError {
    fn from(e: BreakGlassError) -> Self {
        match e {
            BreakGlassError::Store(e) => e.into(),
            e @ BreakGlassError::NotFound(_) => ApiError::not_found(e.to_string()),
            e @ BreakGlassError::Invalid(_) => ApiError::bad_request(e.to_string()),
            e @ BreakGlassError::NotAllowed(_) => ApiError::forbidden(e.to_string()),
            e @ BreakGlassError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
        }
    }
}

/// Break-glass openings, newest first (`due=true`: the reviews still due).
#[utoipa::path(get, path = "/api/v1/breakglass", operation_id = "list_breakglass", tag = "breakglass", params(BreakGlassQuery),
    responses((status = 200, body = [BreakGlassView]), (status = 403, body = ErrorBody)))]
pub async fn list(State(store): State<Store>, a: Authed, ApiQuery(q): ApiQuery<BreakGlassQuery>) -> Result<Json<Vec<BreakGlassView>>, ApiError> {
    a.require(READERS, "read break-glass sessions")?;
    let rows = store.list_break_glass(q.due.unwrap_or(false), 200).await?;
    Ok(Json(rows.into_iter().filter(|b| a.session.user.zones.covers(&b.zone)).map(BreakGlassView::from).collect()))
}

/// One break-glass opening.
#[utoipa::path(get, path = "/api/v1/breakglass/{id}", operation_id = "show_breakglass", tag = "breakglass",
    params(("id" = i64, Path, description = "the opening's request id")),
    responses((status = 200, body = BreakGlassView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(State(store): State<Store>, a: Authed, ApiPath(id): ApiPath<i64>) -> Result<Json<BreakGlassView>, ApiError> {
    a.require(READERS, "read break-glass sessions")?;
    let b = store.break_glass(RequestId(id)).await?.filter(|b| a.session.user.zones.covers(&b.zone));
    Ok(Json(b.ok_or_else(|| ApiError::not_found(format!("no break-glass #{id}")))?.into()))
}

/// Reviews one break-glass opening as the signed-in approver. Refused (403, audited) for the
/// vendor themselves and for a second review by the same approver.
#[utoipa::path(post, path = "/api/v1/breakglass/{id}/review", operation_id = "review_breakglass", tag = "breakglass",
    params(("id" = i64, Path, description = "the opening's request id")), request_body = ReviewBody,
    responses((status = 200, body = ReviewedView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn review(State(bg): State<BreakGlass>, a: Authed, ApiPath(id): ApiPath<i64>, ApiJson(b): ApiJson<ReviewBody>) -> Result<Json<ReviewedView>, ApiError> {
    a.require(REVIEWERS, "review break-glass sessions")?;
    let verdict = Verdict::parse(&b.verdict).map_err(ApiError::bad_request)?;
    let r = bg.review(RequestId(id), a.name(), verdict, &b.note, &a.via()).await?;
    Ok(Json(ReviewedView { outcome: r.outcome, account_disabled: r.account_disabled }))
}
