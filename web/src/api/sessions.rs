//! Brokered sessions: the running ones, a search over all of them (vendor, organisation,
//! device, zone, time, state, text in the reason), one session, and stop — graceful by
//! default (the vendor is warned and the session closes after `session.stop_grace`),
//! immediate on request. The broker holding the session learns of the stop through the
//! change feed. Who may see which session is decided in [`super::access`].

use super::access;
use super::audit::AuditRowView;
use super::error::{ApiError, ErrorBody};
use super::views::{SessionView, StopBody};
use super::{ApiJson, ApiPath, ApiQuery};
use crate::auth::Authed;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use portcullis_core::approvals::{Approvals, StopInput, StopMode};
use portcullis_core::domain::{Role, SessionId, SessionState};
use portcullis_core::store::{SessionSearch, Store};
use portcullis_core::Config;
use std::sync::Arc;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

/// Roles that may stop sessions.
pub const STOPPERS: &[Role] = &[Role::Approver, Role::Admin];

/// Filters of the session list.
#[derive(Deserialize, Serialize, IntoParams, Default, Clone)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only active sessions (`true`, the default when no other filter is given) or every
    /// session (`false`). Same as `state=active` / no `state`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// `active` or `ended`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Part of the vendor's user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// The vendor's organisation, exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// Part of the device's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The device's zone, exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// RFC 3339: sessions running at or after this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// RFC 3339: sessions started at or before this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Text in the request's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Sessions numbered below this one (the next page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
    /// At most this many (default 100, at most 500).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

impl ListQuery {
    /// Whether anything but paging is set (a search rather than the list of running sessions).
    pub fn is_search(&self) -> bool {
        [&self.state, &self.vendor, &self.org, &self.device, &self.zone, &self.since, &self.until, &self.q]
            .iter()
            .any(|v| v.as_deref().is_some_and(|v| !v.trim().is_empty()))
    }
}

fn secs(v: Option<&str>, what: &str) -> Result<Option<i64>, ApiError> {
    Ok(super::audit::ms(v, what)?.map(|ms| ms.div_euclid(1000)))
}

/// Builds the core search from the query, narrowed to what `a` may see.
pub fn to_search(a: &Authed, q: &ListQuery) -> Result<SessionSearch, ApiError> {
    let text = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let state = match q.state.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(w) => Some(SessionState::parse(w).map_err(|_| ApiError::bad_request("state must be active or ended"))?),
        None if q.active.unwrap_or(!q.is_search()) => Some(SessionState::Active),
        None => None,
    };
    for (v, what) in [(&q.vendor, "vendor"), (&q.org, "org"), (&q.device, "device"), (&q.zone, "zone"), (&q.q, "q")] {
        if v.as_deref().is_some_and(|v| v.len() > 200) {
            return Err(ApiError::bad_request(format!("{what} is longer than 200 bytes")));
        }
    }
    Ok(SessionSearch {
        vendor: text(&q.vendor),
        org: text(&q.org),
        device: text(&q.device),
        zone: text(&q.zone),
        since: secs(q.since.as_deref(), "since")?,
        until: secs(q.until.as_deref(), "until")?,
        state,
        text: text(&q.q),
        // The running sessions (no search) are every approver's to see and stop; any search
        // is narrowed to what the approver approved.
        approved_by: access::narrowed_to(a).filter(|_| q.is_search() || q.active == Some(false)),
        // An auditor limited to zones finds, and sees running, only its zones' sessions.
        zones: portcullis_core::viewing::search_zones(&a.session.user),
        before_id: q.before.filter(|b| *b > 0),
        limit: q.limit.unwrap_or(100),
    })
}

/// Sessions matching `q` that `a` may see, newest first (one query).
pub async fn find(store: &Store, a: &Authed, q: &ListQuery) -> Result<Vec<SessionView>, ApiError> {
    Ok(store.search_sessions(&to_search(a, q)?).await?.iter().map(SessionView::from).collect())
}

/// List the running sessions (the default) or search all of them. Approvers see every
/// running session (so they can stop it), and find only the sessions of requests they
/// approved.
#[utoipa::path(get, operation_id = "list_sessions", path = "/api/v1/sessions", tag = "sessions", params(ListQuery),
    responses((status = 200, body = [SessionView]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(store): State<Store>, a: Authed, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Json<Vec<SessionView>>, ApiError> {
    a.require(access::VIEWERS, "read sessions")?;
    Ok(Json(find(&store, &a, &q).await?))
}

/// One session.
#[utoipa::path(get, operation_id = "show_sessions", path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = i64, Path, description = "session number")),
    responses((status = 200, body = SessionView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(State(store): State<Store>, a: Authed, ApiPath(id): ApiPath<i64>) -> Result<Json<SessionView>, ApiError> {
    let s = access::viewable(&store, &a, id).await?;
    let mut view = SessionView::from(&s);
    view.viewed_by = Some(super::viewings::of(&store, s.id.0).await?);
    Ok(Json(view))
}

/// Parses a stop mode word.
pub fn mode(config: &Config, word: Option<&str>) -> Result<StopMode, ApiError> {
    match word.unwrap_or("graceful") {
        "graceful" => Ok(StopMode::Graceful(config.session.stop_grace.0)),
        "immediate" => Ok(StopMode::Immediate),
        _ => Err(ApiError::bad_request("mode must be graceful or immediate")),
    }
}

/// Stop a session.
#[utoipa::path(post, operation_id = "stop_sessions", path = "/api/v1/sessions/{id}/stop", tag = "sessions", params(("id" = i64, Path, description = "session number")),
    request_body = StopBody,
    responses((status = 202, body = SessionView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn stop(
    State(store): State<Store>,
    State(approvals): State<Approvals>,
    State(config): State<Arc<Config>>,
    a: Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<StopBody>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    a.require(STOPPERS, "stop sessions")?;
    let m = mode(&config, b.mode.as_deref())?;
    // Any approver may stop any running session (patient safety), seen or not.
    let s = store.session(SessionId(id)).await?.ok_or_else(|| ApiError::not_found(format!("no session {id}")))?;
    approvals.stop_session(StopInput::new(s.id, &a.actor(), b.reason.as_deref().unwrap_or("")).mode(m)).await?;
    let s = store.session(s.id).await?.ok_or_else(|| ApiError::not_found(format!("no session {id}")))?;
    Ok((StatusCode::ACCEPTED, Json(SessionView::from(&s))))
}

/// The audit rows about session `session` and its request `request`, oldest first (the
/// caller checked access).
pub async fn audit_rows(store: &Store, session: i64, request: i64) -> Result<Vec<AuditRowView>, ApiError> {
    let session = format!("session:{session}");
    let request = format!("request:{request}");
    let rows = portcullis_core::audit::about(store, [&session, &request]).await?;
    Ok(rows.iter().map(AuditRowView::from).collect())
}

/// The audit rows about a session and its request, oldest first, with their chain positions.
#[utoipa::path(get, operation_id = "session_audit", path = "/api/v1/sessions/{id}/audit", tag = "sessions", params(("id" = i64, Path, description = "session number")),
    responses((status = 200, body = [AuditRowView]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn audit(State(store): State<Store>, a: Authed, ApiPath(id): ApiPath<i64>) -> Result<Json<Vec<AuditRowView>>, ApiError> {
    let s = access::viewable(&store, &a, id).await?;
    Ok(Json(audit_rows(&store, s.id.0, s.request_id.0).await?))
}
