//! Brokered sessions: active and recent, one session, and stop — graceful by default (the
//! vendor is warned and the session closes after `session.stop_grace`), immediate on
//! request. The broker holding the session learns of the stop through the change feed.

use super::error::{ApiError, ErrorBody};
use super::views::{SessionView, StopBody};
use super::{ApiJson, ApiPath, ApiQuery};
use crate::auth::Authed;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use portcullis_core::approvals::StopMode;
use portcullis_core::domain::{Role, SessionId};
use portcullis_core::store::SessionRecord;
use serde::Deserialize;
use utoipa::IntoParams;

/// Roles that may stop sessions.
pub const STOPPERS: &[Role] = &[Role::Approver, Role::Admin];

/// Filters of the session list.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only active sessions (default true).
    pub active: Option<bool>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<i64>,
}

/// The view of one session (grant and device joined in).
pub async fn view(state: &AppState, s: &SessionRecord) -> Result<SessionView, ApiError> {
    let grant = state.ctx.store.grant(s.grant_id).await?;
    let device = state.ctx.store.device_by_name(&s.device).await?;
    Ok(SessionView::new(s, grant.as_ref(), device.as_ref()))
}

/// Sessions, newest first.
pub async fn find(state: &AppState, active: bool, limit: i64) -> Result<Vec<SessionView>, ApiError> {
    let mut out = Vec::new();
    for s in state.ctx.store.list_sessions(active, limit.clamp(1, 500)).await? {
        out.push(view(state, &s).await?);
    }
    Ok(out)
}

/// List sessions.
#[utoipa::path(get, operation_id = "list_sessions", path = "/api/v1/sessions", tag = "sessions", params(ListQuery),
    responses((status = 200, body = [SessionView]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, a: Authed, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Json<Vec<SessionView>>, ApiError> {
    a.require(super::requests::READERS, "read sessions")?;
    Ok(Json(find(&state, q.active.unwrap_or(true), q.limit.unwrap_or(100)).await?))
}

/// One session.
#[utoipa::path(get, operation_id = "show_sessions", path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = i64, Path, description = "session number")),
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody)))]
pub async fn show(State(state): State<AppState>, a: Authed, ApiPath(id): ApiPath<i64>) -> Result<Json<SessionView>, ApiError> {
    a.require(super::requests::READERS, "read sessions")?;
    let s = state.ctx.store.session(SessionId(id)).await?.ok_or_else(|| ApiError::not_found(format!("session {id} not found")))?;
    Ok(Json(view(&state, &s).await?))
}

/// Parses a stop mode word.
pub fn mode(state: &AppState, word: Option<&str>) -> Result<StopMode, ApiError> {
    match word.unwrap_or("graceful") {
        "graceful" => Ok(StopMode::Graceful(state.ctx.config.session.stop_grace.0)),
        "immediate" => Ok(StopMode::Immediate),
        _ => Err(ApiError::bad_request("mode must be graceful or immediate")),
    }
}

/// Stop a session.
#[utoipa::path(post, operation_id = "stop_sessions", path = "/api/v1/sessions/{id}/stop", tag = "sessions", params(("id" = i64, Path, description = "session number")),
    request_body = StopBody,
    responses((status = 202, body = SessionView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn stop(State(state): State<AppState>, a: Authed, ApiPath(id): ApiPath<i64>, ApiJson(b): ApiJson<StopBody>) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    a.require(STOPPERS, "stop sessions")?;
    let m = mode(&state, b.mode.as_deref())?;
    let s = state.ctx.store.session(SessionId(id)).await?.ok_or_else(|| ApiError::not_found(format!("session {id} not found")))?;
    state.ctx.approvals.stop_session_mode(s.id, &format!("{} ({})", a.name(), a.via()), b.reason.as_deref().unwrap_or(""), m).await?;
    let s = state.ctx.store.session(s.id).await?.ok_or_else(|| ApiError::not_found(format!("session {id} not found")))?;
    Ok((StatusCode::ACCEPTED, Json(view(&state, &s).await?)))
}
