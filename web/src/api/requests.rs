//! Access requests: list and filter, show, file on a vendor's behalf, approve (now or
//! scheduled, up to the policy maximum), deny with a reason, revoke. Every decision is the
//! core's `Approvals` service, the same one the SSH lobby and the CLI call.

use super::error::{ApiError, ErrorBody};
use super::views::{ApproveBody, ApproveView, CountView, DenyBody, GrantView, NewRequestBody, RequestView, SignoffView, WindowView};
use portcullis_core::clock;
use super::{ApiJson, ApiPath, ApiQuery};
use crate::auth::Authed;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use portcullis_core::approvals::{window_minutes, ApprovalInput, Approvals, ApproveOutcome, RequestInput, Window};
use portcullis_core::domain::{ChannelSet, DeviceName, RequestId, RequestState, Role, Username};
use portcullis_core::store::{RequestRecord, Store};
use serde::Deserialize;
use utoipa::IntoParams;

/// Roles that may read requests.
pub const READERS: &[Role] = &[Role::Approver, Role::Admin, Role::Auditor];
/// Roles that may decide (the policy may narrow this per device).
pub const DECIDERS: &[Role] = &[Role::Approver, Role::Admin];

/// Filters of the request list.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `pending`, `approved`, `denied`, `expired` or `revoked`.
    pub state: Option<String>,
    /// Only this vendor's requests.
    pub vendor: Option<String>,
    /// Only requests for this device.
    pub device: Option<String>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<i64>,
}

/// Builds the view of one request (grant and policy joined in).
pub async fn view(store: &Store, approvals: &Approvals, r: &RequestRecord) -> Result<RequestView, ApiError> {
    let grant = if r.state == RequestState::Approved || r.state == RequestState::Revoked {
        store.grant_of_request(r.id).await?
    } else {
        None
    };
    let rule = approvals.policy().rule(r.criticality, &r.zone);
    let mut view = RequestView::new(r, grant.as_ref(), &rule);
    if r.state == RequestState::Pending {
        view.maintenance_window = WindowView::of(&approvals.policy().window_status(&r.device, &r.zone, clock::now()));
        view.clinical_signoff = approvals.signoff(r).await?.map(SignoffView::from);
    }
    Ok(view)
}

/// Lists requests matching the filters that `viewer` may see (an auditor limited to zones:
/// those of its zones' devices), newest first.
pub async fn find(store: &Store, approvals: &Approvals, viewer: &Authed, q: &ListQuery) -> Result<Vec<RequestView>, ApiError> {
    let zones = &viewer.session.user.zones;
    let st = q.state.as_deref().filter(|s| !s.is_empty()).map(RequestState::parse).transpose().map_err(|e| ApiError::bad_request(e.to_string()))?;
    let vendor_id = match q.vendor.as_deref().filter(|s| !s.is_empty()) {
        Some(v) => {
            let name = Username::parse(v).map_err(|e| ApiError::bad_request(e.to_string()))?;
            match store.user_by_name(&name).await? {
                Some(u) => Some(u.id),
                None => return Ok(Vec::new()),
            }
        }
        None => None,
    };
    let device = q.device.as_deref().filter(|s| !s.is_empty()).map(DeviceName::parse).transpose().map_err(|e| ApiError::bad_request(e.to_string()))?;
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let mut out = Vec::new();
    for r in store.list_requests(st, vendor_id, limit).await? {
        if device.as_ref().is_none_or(|d| *d == r.device) && zones.covers(r.zone.as_str()) {
            out.push(view(store, approvals, &r).await?);
        }
    }
    Ok(out)
}

/// List requests.
#[utoipa::path(get, operation_id = "list_requests", path = "/api/v1/requests", tag = "requests", params(ListQuery),
    responses((status = 200, body = [RequestView]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(store): State<Store>,
    State(approvals): State<Approvals>,
    a: Authed,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<RequestView>>, ApiError> {
    a.require(READERS, "read requests")?;
    Ok(Json(find(&store, &approvals, &a, &q).await?))
}

/// Number of pending requests (the page's badge).
#[utoipa::path(get, operation_id = "pending_count_requests", path = "/api/v1/requests/pending-count", tag = "requests",
    responses((status = 200, body = CountView), (status = 401, body = ErrorBody)))]
pub async fn pending_count(State(store): State<Store>, State(approvals): State<Approvals>, a: Authed) -> Result<Json<CountView>, ApiError> {
    a.require(READERS, "read requests")?;
    if !a.session.user.zones.is_everywhere() {
        // Counted from what this auditor may see, so the badge says nothing of other zones.
        let pending = find(&store, &approvals, &a, &ListQuery { state: Some("pending".into()), limit: Some(500), ..ListQuery::default() }).await?;
        return Ok(Json(CountView { count: pending.len() as i64 }));
    }
    Ok(Json(CountView { count: store.count_requests(RequestState::Pending).await? }))
}

/// One request.
#[utoipa::path(get, operation_id = "show_requests", path = "/api/v1/requests/{id}", tag = "requests", params(("id" = i64, Path, description = "request number")),
    responses((status = 200, body = RequestView), (status = 404, body = ErrorBody)))]
pub async fn show(State(store): State<Store>, State(approvals): State<Approvals>, a: Authed, ApiPath(id): ApiPath<i64>) -> Result<Json<RequestView>, ApiError> {
    a.require(READERS, "read requests")?;
    let missing = || ApiError::not_found(format!("no request #{id}"));
    let r = store.request(RequestId(id)).await?.ok_or_else(missing)?;
    // Another zone's request is answered like one that does not exist.
    if !a.session.user.zones.covers(r.zone.as_str()) {
        return Err(missing());
    }
    Ok(Json(view(&store, &approvals, &r).await?))
}

/// File a request on a vendor's behalf (e.g. after a phone call).
#[utoipa::path(post, operation_id = "create_requests", path = "/api/v1/requests", tag = "requests", request_body = NewRequestBody,
    responses((status = 201, body = RequestView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(
    State(store): State<Store>,
    State(approvals): State<Approvals>,
    a: Authed,
    ApiJson(b): ApiJson<NewRequestBody>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    a.require(DECIDERS, "file requests")?;
    let vendor = Username::parse(&b.vendor).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let device = DeviceName::parse(&b.device).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let channels = channels(b.channels.as_deref())?.unwrap_or_else(ChannelSet::shell);
    let r = approvals.create_request(RequestInput::new(&vendor, &device, &b.reason, b.minutes).channels(&channels).peer(&a.via()).filed_by(a.name().as_str())).await?;
    Ok((StatusCode::CREATED, Json(view(&store, &approvals, &r).await?)))
}

/// Parses a channel list (`shell,files,tcp:104`); empty or absent is `None`.
pub fn channels(list: Option<&str>) -> Result<Option<ChannelSet>, ApiError> {
    match list.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => ChannelSet::parse(s).map(Some).map_err(|e| ApiError::bad_request(e.to_string())),
    }
}

/// Parses an approval's window.
pub fn window(minutes: Option<i64>, starts_at: Option<&str>) -> Result<Window, ApiError> {
    let length = minutes.map(window_minutes).transpose().map_err(ApiError::bad_request)?;
    let starts_at = match starts_at.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| ApiError::bad_request("starts_at must be an RFC 3339 time, e.g. 2026-12-01T08:00:00Z"))?
                .unix_timestamp(),
        ),
    };
    Ok(Window { length, starts_at })
}

/// Approve, with a window of at most what was asked (and the policy maximum), starting now or
/// at `starts_at`, for the channels asked or fewer. With several approvers required the
/// approval is recorded until the last; the grant is what all of them agreed to.
#[utoipa::path(post, operation_id = "approve_requests", path = "/api/v1/requests/{id}/approve", tag = "requests", params(("id" = i64, Path, description = "request number")),
    request_body = ApproveBody,
    responses((status = 200, body = ApproveView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn approve(
    State(store): State<Store>,
    State(approvals): State<Approvals>,
    a: Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<ApproveBody>,
) -> Result<Json<ApproveView>, ApiError> {
    a.require(DECIDERS, "approve requests")?;
    let w = window(b.minutes, b.starts_at.as_deref())?;
    let c = channels(b.channels.as_deref())?;
    let out = approvals.approve(ApprovalInput::new(RequestId(id), a.name(), &a.via()).window(w).channels(c)).await?;
    Ok(Json(match out {
        ApproveOutcome::Recorded { have, need } => ApproveView { outcome: "recorded".into(), approvals: have, approvals_required: need, grant: None },
        ApproveOutcome::AwaitingSignoff { have, need } => {
            ApproveView { outcome: "awaiting-clinical-signoff".into(), approvals: have, approvals_required: need, grant: None }
        }
        ApproveOutcome::Granted(g) => {
            let r = store.require_request(RequestId(id)).await?;
            ApproveView { outcome: "granted".into(), approvals: r.approvals.len() as i64, approvals_required: r.required_approvals, grant: Some(GrantView::from(&g)) }
        }
    }))
}

/// Deny, with a reason the vendor sees.
#[utoipa::path(post, operation_id = "deny_requests", path = "/api/v1/requests/{id}/deny", tag = "requests", params(("id" = i64, Path, description = "request number")),
    request_body = DenyBody,
    responses((status = 200, body = RequestView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn deny(
    State(store): State<Store>,
    State(approvals): State<Approvals>,
    a: Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<DenyBody>,
) -> Result<Json<RequestView>, ApiError> {
    a.require(DECIDERS, "deny requests")?;
    approvals.deny(RequestId(id), a.name(), &b.reason, &a.via()).await?;
    let r = store.require_request(RequestId(id)).await?;
    Ok(Json(view(&store, &approvals, &r).await?))
}

/// Revoke an approved request's grant; its sessions are cut at once.
#[utoipa::path(post, operation_id = "revoke_requests", path = "/api/v1/requests/{id}/revoke", tag = "requests", params(("id" = i64, Path, description = "request number")),
    responses((status = 200, body = RequestView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke(State(store): State<Store>, State(approvals): State<Approvals>, a: Authed, ApiPath(id): ApiPath<i64>) -> Result<Json<RequestView>, ApiError> {
    a.require(DECIDERS, "revoke access")?;
    approvals.revoke(RequestId(id), a.name(), &a.via()).await?;
    let r = store.require_request(RequestId(id)).await?;
    Ok(Json(view(&store, &approvals, &r).await?))
}
