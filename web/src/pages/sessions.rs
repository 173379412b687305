//! Live sessions: vendor, device, start, time left in the window. Approvers and admins stop a
//! session through a confirmation page that names the device, warns of the clinical impact
//! for a life-critical device, and offers a graceful stop (the default: the vendor is warned
//! and the session closes after `session.stop_grace`) or an immediate one.

use super::error::PageError;
use super::flash::FlashQuery;
use super::format;
use super::layout::{self, Notice, Tab};
use super::requests::criticality;
use super::visitor::{decides, require};
use crate::api::error::ApiError;
use crate::api::requests::READERS;
use crate::api::sessions::{find, mode, view, STOPPERS};
use crate::api::views::SessionView;
use crate::auth::{Authed, HasCsrf, PageForm, PageUser};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use portcullis_core::approvals::StopMode;
use portcullis_core::domain::SessionId;
use serde::Deserialize;

fn session_card(user: &Authed, s: &SessionView) -> Markup {
    html! {
        article.session data-session-id=(s.id) {
            header {
                h2 { (s.device) }
                @if let Some(c) = &s.criticality { (criticality(c)) }
                span.zone { "session " (s.id) " · request #" (s.request_id) }
            }
            dl {
                dt { "Vendor" } dd { (s.vendor) " from " (s.peer) }
                dt { "Started" } dd { (format::utc(&s.started_at)) }
                dt { "Time left" }
                dd {
                    @match (s.seconds_left, &s.window_ends_at) {
                        (Some(left), Some(end)) => { span.left { (format::secs(left)) } " (window ends " (format::utc(end)) ")" }
                        _ => { "—" }
                    }
                }
                @if let Some(by) = &s.stop_requested_by {
                    dt { "Stopping" }
                    dd.stopping {
                        "requested by " (by)
                        @if let Some(at) = &s.stop_at { ", closes " (format::utc(at)) }
                    }
                }
            }
            @if decides(user) && s.stop_requested_by.is_none() {
                div.actions { a.stop.button.danger href={ "/sessions/" (s.id) "/stop" } { "Stop…" } }
            }
        }
    }
}

/// `GET /sessions`.
pub async fn list(State(state): State<AppState>, PageUser(user): PageUser, flash: Result<Query<FlashQuery>, QueryRejection>) -> Result<Response, PageError> {
    require(&user, READERS, "read sessions")?;
    let sessions = find(&state, true, 200).await?;
    let body = html! {
        h1 { "Active sessions" }
        @if sessions.is_empty() { p.empty { "No vendor is connected to a device." } }
        @for s in &sessions { (session_card(&user, s)) }
    };
    let notice = Notice::flash(flash.ok().and_then(|Query(f)| f.message()));
    Ok(layout::page(&state, &user, Tab::Sessions, "Sessions", notice, body).await.into_response())
}

async fn load(state: &AppState, raw: &str) -> Result<SessionView, PageError> {
    let missing = || PageError::not_found(format!("no session {raw:?}"));
    let id = raw.parse::<i64>().map_err(|_| missing())?;
    let s = state.ctx.store.session(SessionId(id)).await.map_err(ApiError::from)?.ok_or_else(missing)?;
    Ok(view(state, &s).await?)
}

/// `GET /sessions/{id}/stop`: the confirmation page.
pub async fn confirm(State(state): State<AppState>, Path(id): Path<String>, PageUser(user): PageUser) -> Result<Response, PageError> {
    require(&user, STOPPERS, "stop sessions")?;
    let s = load(&state, &id).await?;
    let grace = state.ctx.config.session.stop_grace.0.as_secs() as i64;
    let life_critical = s.criticality.as_deref() == Some("life-critical");
    let body = html! {
        h1 { "Stop the session on " (s.device) "?" }
        p.lead { (s.vendor) " has been connected since " (format::utc(&s.started_at)) "." }
        @if s.ended_at.is_some() {
            p.error role="alert" { "This session has already ended." }
            p { a href="/sessions" { "Back to the sessions" } }
        } @else {
            @if life_critical {
                div.clinical-warning role="alert" {
                    strong { (s.device) " is life-critical." }
                    " The vendor may be in the middle of work on a device in clinical use. Stopping "
                    "now can leave it mid-update or mid-calibration. Check with the clinical team first, "
                    "and prefer a graceful stop so the vendor can finish safely."
                }
            }
            form #confirm-stop .card method="post" action={ "/sessions/" (s.id) "/stop" } {
                (layout::csrf(&user))
                fieldset {
                    legend { "How" }
                    label.choice {
                        input type="radio" name="mode" value="graceful" checked;
                        span { strong { "Graceful" } " — the vendor is warned now, the session closes in " (format::secs(grace)) "." }
                    }
                    label.choice {
                        input type="radio" name="mode" value="immediate";
                        span { strong { "Immediate" } " — every channel closes now." }
                    }
                }
                label {
                    "Reason (kept in the audit log)"
                    input name="reason" type="text" maxlength="500";
                }
                div.row {
                    button.danger type="submit" { "Stop session" }
                    a.button href="/sessions" { "Cancel" }
                }
            }
        }
    };
    Ok(layout::page(&state, &user, Tab::Sessions, "Stop session", Notice::default(), body).await.into_response())
}

/// The stop form.
#[derive(Deserialize)]
pub struct StopForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    reason: String,
}

impl HasCsrf for StopForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /sessions/{id}/stop`.
pub async fn stop(State(state): State<AppState>, Path(id): Path<String>, PageForm { user, form }: PageForm<StopForm>) -> Result<Response, PageError> {
    require(&user, STOPPERS, "stop sessions")?;
    let s = load(&state, &id).await?;
    let m = mode(&state, Some(form.mode.as_str()).filter(|m| !m.is_empty()))?;
    let by = format!("{} ({})", user.name(), user.via());
    state.ctx.approvals.stop_session_mode(SessionId(s.id), &by, form.reason.trim(), m).await.map_err(ApiError::from)?;
    let to = match m {
        StopMode::Graceful(d) => format!("/sessions?done=stopping&id={}&secs={}", s.id, d.as_secs()),
        StopMode::Immediate => format!("/sessions?done=stopped&id={}", s.id),
    };
    Ok(Redirect::to(&to).into_response())
}
