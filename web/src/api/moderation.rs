//! Moderating a moderated session (policy `moderated`, [`portcullis_core::moderation`]): who
//! may ([`check`]: an approver under the device's rule, or an admin, who is neither the
//! vendor nor the approver who filed the request, and who may see the session), the audit
//! rows of a moderator joining and leaving the live view ([`joined`], [`left`]), and
//! `POST /api/v1/sessions/{id}/moderation/pause` and `…/resume`, for a moderator watching
//! now. A moderator watches through the live view's websocket opened with `?moderate=1`
//! ([`super::live`]); the broker holding the session follows the room.

use super::access;
use super::error::{ApiError, ErrorBody};
use super::ApiPath;
use crate::auth::Authed;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use portcullis_core::approvals::Approvals;
use portcullis_core::audit::{AuditLog, Event, Kind, Subject};
use portcullis_core::config::Config;
use portcullis_core::domain::{SessionId, SessionState, Zone};
use portcullis_core::live::LiveHub;
use portcullis_core::moderation::{self, Joined, Left, Presence, Rooms};
use portcullis_core::store::{SessionRecord, Store};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use utoipa::ToSchema;

/// Whether `s` is moderated under the policy in force.
pub fn moderated(approvals: &Approvals, s: &SessionRecord) -> bool {
    Zone::parse(&s.zone).is_ok_and(|z| approvals.policy().rule(s.criticality, &z).moderated)
}

/// Refuses unless `a` may moderate running session `s` from this node.
pub async fn check(store: &Store, approvals: &Approvals, config: &Config, a: &Authed, s: &SessionRecord) -> Result<(), ApiError> {
    if s.state == SessionState::Ended {
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict", format!("session {} has ended", s.id)));
    }
    let zone = Zone::parse(&s.zone).map_err(|_| ApiError::internal("the session's zone is not valid"))?;
    let rule = approvals.policy().rule(s.criticality, &zone);
    let filed_by = store.request(s.request_id).await?.and_then(|r| r.filed_by);
    moderation::may_moderate(a.name().as_str(), a.role(), &rule, s.vendor.as_str(), filed_by.as_deref()).map_err(ApiError::forbidden)?;
    // The room lives in the process holding the session: moderate there.
    if let Some(l) = store.lease_of_session(s.id).await? {
        if l.node != config.node.id {
            return Err(ApiError::new(StatusCode::CONFLICT, "conflict", format!("session {} runs on node {}; moderate it from {}", s.id, l.node, l.web_url)));
        }
    }
    Ok(())
}

/// Joins `a` as moderator of `id`: the rows first ([`joined`]), then the join; `None` when
/// the rows cannot be written (nobody joins unaudited).
pub async fn join(audit: &AuditLog, a: &Authed, rooms: &Rooms, id: SessionId) -> Option<Presence> {
    let now = rooms.get(id);
    let expected = Joined { new_moderator: !now.moderators.contains_key(a.name().as_str()), first: !now.present(), reopened: !now.present() && now.opened };
    if let Err(e) = joined(audit, a, id, expected).await {
        tracing::error!(error = %e.message, session = %id, "cannot audit a moderator joining; not joined");
        return None;
    }
    Some(rooms.join(id, a.name().as_str()).0)
}

/// The row of `a` joining as moderator (written before the join takes effect), and of input
/// resuming when the join ends a pause for want of a moderator.
pub async fn joined(audit: &AuditLog, a: &Authed, id: SessionId, j: Joined) -> Result<(), ApiError> {
    let who = a.name().as_str();
    if j.new_moderator {
        audit.record(Event::new(who, Kind::SessionModeratorJoined, Subject::Session(id), json!({ "moderator": who, "opens_device": j.first && !j.reopened, "via": a.via() }))).await?;
    }
    if j.reopened {
        audit.record(Event::new(who, Kind::SessionInputResumed, Subject::Session(id), json!({ "why": "a moderator joined", "via": a.via() }))).await?;
    }
    Ok(())
}

/// The rows of `a` leaving, and of input pausing when nobody is left of a session still
/// `running` (written after the leave: a view that closes cannot be kept open for want of a
/// row).
pub async fn left(audit: &AuditLog, a: &Authed, id: SessionId, l: Left, grace: std::time::Duration, running: bool) {
    let who = a.name().as_str();
    if l.gone {
        if let Err(e) = audit.record(Event::new(who, Kind::SessionModeratorLeft, Subject::Session(id), json!({ "moderator": who, "via": a.via() }))).await {
            tracing::error!(error = %e, session = %id, "cannot audit a moderator leaving");
        }
    }
    if l.last && running {
        let detail = json!({ "why": "no moderator is watching", "ends_after_seconds": grace.as_secs() });
        if let Err(e) = audit.record(Event::new("system", Kind::SessionInputPaused, Subject::Session(id), detail)).await {
            tracing::error!(error = %e, session = %id, "cannot audit the input pause");
        }
    }
}

/// The vendor's input after a pause or resume.
#[derive(Debug, Serialize, ToSchema)]
pub struct InputView {
    pub session: i64,
    /// Whether the vendor's input reaches the device now.
    pub input_open: bool,
    pub paused_by: Option<String>,
    /// The moderators watching now.
    pub moderators: Vec<String>,
}

/// What the pause and resume handlers read.
#[derive(Clone)]
pub struct Moderating {
    pub store: Store,
    pub approvals: Approvals,
    pub audit: AuditLog,
    pub live: LiveHub,
    pub config: Arc<Config>,
}

impl axum::extract::FromRef<crate::AppState> for Moderating {
    fn from_ref(s: &crate::AppState) -> Moderating {
        Moderating { store: s.ctx.store.clone(), approvals: s.ctx.approvals.clone(), audit: s.ctx.audit.clone(), live: s.ctx.live.clone(), config: s.ctx.config.clone() }
    }
}

/// Refuses unless `a` may moderate session `id` and watches it as moderator now.
async fn watching_moderator(m: &Moderating, a: &Authed, id: i64) -> Result<SessionRecord, ApiError> {
    let s = access::viewable(&m.store, a, id).await?;
    check(&m.store, &m.approvals, &m.config, a, &s).await?;
    if !m.live.moderation().get(s.id).moderators.contains_key(a.name().as_str()) {
        return Err(ApiError::forbidden(format!("only a moderator watching session {id} live may pause or resume its input; join the live view as moderator first")));
    }
    Ok(s)
}

fn view(m: &Moderating, id: SessionId) -> InputView {
    let r = m.live.moderation().get(id);
    InputView { session: id.0, input_open: r.input_open(), paused_by: r.paused_by.clone(), moderators: r.moderators.keys().cloned().collect() }
}

/// Pause the vendor's input to a moderated session (a moderator watching it).
#[utoipa::path(post, operation_id = "pause_session_input", path = "/api/v1/sessions/{id}/moderation/pause", tag = "sessions",
    params(("id" = i64, Path, description = "session number")),
    responses((status = 200, body = InputView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn pause(State(m): State<Moderating>, a: Authed, ApiPath(id): ApiPath<i64>) -> Result<Json<InputView>, ApiError> {
    let s = watching_moderator(&m, &a, id).await?;
    let who = a.name().as_str();
    // The row first: no pause without it (nor a second row for a pause already in force).
    if m.live.moderation().get(s.id).paused_by.is_none() {
        m.audit.record(Event::new(who, Kind::SessionInputPaused, Subject::Session(s.id), json!({ "why": "paused by a moderator", "via": a.via() }))).await?;
        m.live.moderation().pause(s.id, who);
    }
    Ok(Json(view(&m, s.id)))
}

/// Resume the vendor's input to a moderated session (a moderator watching it).
#[utoipa::path(post, operation_id = "resume_session_input", path = "/api/v1/sessions/{id}/moderation/resume", tag = "sessions",
    params(("id" = i64, Path, description = "session number")),
    responses((status = 200, body = InputView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn resume(State(m): State<Moderating>, a: Authed, ApiPath(id): ApiPath<i64>) -> Result<Json<InputView>, ApiError> {
    let s = watching_moderator(&m, &a, id).await?;
    let who = a.name().as_str();
    if m.live.moderation().get(s.id).paused_by.is_some() {
        m.audit.record(Event::new(who, Kind::SessionInputResumed, Subject::Session(s.id), json!({ "why": "resumed by a moderator", "via": a.via() }))).await?;
        m.live.moderation().resume(s.id);
    }
    Ok(Json(view(&m, s.id)))
}
