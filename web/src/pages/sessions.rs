//! Live sessions: vendor, device, start, time left in the window. Approvers and admins stop a
//! session through a confirmation page that names the device, warns of the clinical impact
//! for a life-critical device, and offers a graceful stop (the default: the vendor is warned
//! and the session closes after `session.stop_grace`) or an immediate one.

use super::error::PageError;
use super::flash::FlashQuery;
use super::format;
use super::layout::{self, Frame, Notice, Tab};
use super::requests::criticality;
use super::visitor::{decides, require};
use crate::api::error::ApiError;
use crate::api::access::{self, VIEWERS};
use crate::api::sessions::{find, mode, ListQuery, STOPPERS};
use crate::api::views::SessionView;
use crate::auth::{Authed, HasCsrf, PageForm, PageUser};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use portcullis_core::approvals::{Approvals, StopInput, StopMode};
use portcullis_core::domain::{Role, SessionId};
use portcullis_core::store::Store;
use portcullis_core::Config;
use std::sync::Arc;
use serde::Deserialize;

fn session_card(user: &Authed, s: &SessionView, viewable: bool) -> Markup {
    html! {
        article.session data-session-id=(s.id) {
            header {
                h2 { (s.device) }
                @if let Some(c) = &s.criticality { (criticality(c)) }
                span.zone { "session " (s.id) " · request #" (s.request_id) }
            }
            dl {
                dt { "Vendor" } dd { (s.vendor) @if !s.vendor_org.is_empty() { " (" (s.vendor_org) ")" } " from " (s.peer) }
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
            div.actions {
                @if viewable {
                    a.button href={ "/sessions/" (s.id) } { "Details" }
                    a.button.watch href={ "/sessions/" (s.id) "/live" } { "Watch live" }
                }
                @if decides(user) && s.stop_requested_by.is_none() {
                    a.stop.button.danger href={ "/sessions/" (s.id) "/stop" } { "Stop…" }
                }
            }
        }
    }
}

fn search_form(q: &ListQuery) -> Markup {
    let val = |o: &Option<String>| o.clone().unwrap_or_default();
    let state = q.state.as_deref().unwrap_or("");
    html! {
        form.filters #session-search method="get" action="/sessions" {
            label { "Vendor" input name="vendor" type="text" value=(val(&q.vendor)) autocapitalize="none"; }
            label { "Organisation" input name="org" type="text" value=(val(&q.org)); }
            label { "Device" input name="device" type="text" value=(val(&q.device)) autocapitalize="none"; }
            label { "Zone" input name="zone" type="text" value=(val(&q.zone)); }
            label { "From (UTC)" input name="since" type="text" value=(val(&q.since)) placeholder="2026-11-01T00:00:00Z"; }
            label { "To (UTC)" input name="until" type="text" value=(val(&q.until)); }
            label {
                "State"
                select name="state" {
                    option value="all" selected[state.is_empty() || state == "all"] { "any" }
                    option value="active" selected[state == "active"] { "running" }
                    option value="ended" selected[state == "ended"] { "ended" }
                }
            }
            label { "Reason contains" input name="q" type="search" value=(val(&q.q)); }
            button type="submit" { "Search" }
        }
    }
}

fn results(sessions: &[SessionView]) -> Markup {
    html! {
        div.scroll role="region" aria-label="Sessions" tabindex="0" {
            table.sessions #session-results {
                thead { tr { th { "#" } th { "Device" } th { "Vendor" } th { "Started (UTC)" } th { "State" } th { "Reason" } } }
                tbody {
                    @for s in sessions {
                        tr data-session-id=(s.id) {
                            td { a href={ "/sessions/" (s.id) } { (s.id) } }
                            td { a href={ "/sessions/" (s.id) } { (s.device) } " " span.zone { (s.zone) } }
                            td { (s.vendor) @if !s.vendor_org.is_empty() { " " span.zone { (s.vendor_org) } } }
                            td { (format::utc(&s.started_at)) }
                            td {
                                @match &s.ended_at {
                                    Some(end) => { "ended " (format::utc(end)) }
                                    None => { strong.running { "running" } }
                                }
                            }
                            td.reason { (s.reason) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /sessions`: the running sessions the visitor may see, then a search over all of them.
pub async fn list(
    State(frame): State<Frame>,
    State(store): State<Store>,
    PageUser(user): PageUser,
    q: Result<Query<ListQuery>, QueryRejection>,
    flash: Result<Query<FlashQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    require(&user, VIEWERS, "read sessions")?;
    let mut q = q.map(|Query(q)| q).unwrap_or_default();
    let mut running = Vec::new();
    for s in find(&store, &user, &ListQuery { limit: Some(200), ..ListQuery::default() }).await? {
        let viewable = access::may_view(&store, &user, SessionId(s.id), &s.zone).await;
        running.push((s, viewable));
    }
    // The search lists every state unless one is chosen; "all" is the form's word for that.
    let shown_state = q.state.clone();
    if q.state.as_deref() == Some("all") {
        q.state = None;
    }
    q.active = Some(false);
    q.limit = Some(q.limit.unwrap_or(PAGE).clamp(1, PAGE));
    let (found, notice) = match find(&store, &user, &q).await {
        Ok(found) => (found, Notice::flash(flash.ok().and_then(|Query(f)| f.message()))),
        Err(e) if e.status == axum::http::StatusCode::BAD_REQUEST => (Vec::new(), Notice::error(e.message)),
        Err(e) => return Err(e.into()),
    };
    let next = found.last().map(|s| s.id).filter(|_| found.len() as i64 >= PAGE);
    let older = next.map(|before| {
        let mut more = q.clone();
        more.state = shown_state.clone();
        more.before = Some(before);
        more.active = None;
        more.limit = None;
        format!("/sessions?{}", serde_urlencoded::to_string(&more).unwrap_or_default())
    });
    q.state = shown_state;
    let body = html! {
        h1 { "Sessions" }
        @if user.role() == Role::Approver {
            p.hint { "You see every running session and may stop it; records, replays and the live view are open to you for the sessions you approved." }
        }
        section.running {
            h2 { "Running now" }
            @if running.is_empty() { p.empty { "No vendor is connected to a device." } }
            @for (s, viewable) in &running { (session_card(&user, s, *viewable)) }
        }
        section.search {
            h2 { "Find a session" }
            (search_form(&q))
            @if found.is_empty() { p.empty { "No session matches." } } @else { (results(&found)) }
            @if let Some(href) = older { p { a href=(href) { "Older sessions →" } } }
        }
    };
    Ok(layout::page(&frame, &user, Tab::Sessions, "Sessions", notice, body).await.into_response())
}

/// Sessions in one page of search results.
const PAGE: i64 = 50;

/// A running session to stop: every approver may stop any (see [`crate::api::access`]).
async fn load_to_stop(store: &Store, raw: &str) -> Result<SessionView, PageError> {
    let missing = || PageError::not_found(format!("no session {raw:?}"));
    let id = raw.parse::<i64>().map_err(|_| missing())?;
    let s = store.session(SessionId(id)).await.map_err(ApiError::from)?.ok_or_else(missing)?;
    Ok(SessionView::from(&s))
}

/// Session `raw` (a number from the path), if `user` may see it.
pub(super) async fn load(store: &Store, user: &Authed, raw: &str) -> Result<SessionView, PageError> {
    let id = raw.parse::<i64>().map_err(|_| PageError::not_found(format!("no session {raw:?}")))?;
    let s = access::viewable(store, user, id).await?;
    Ok(SessionView::from(&s))
}

/// `GET /sessions/{id}/stop`: the confirmation page.
pub async fn confirm(
    State(frame): State<Frame>,
    State(store): State<Store>,
    State(config): State<Arc<Config>>,
    Path(id): Path<String>,
    PageUser(user): PageUser,
) -> Result<Response, PageError> {
    require(&user, STOPPERS, "stop sessions")?;
    let s = load_to_stop(&store, &id).await?;
    let grace = config.session.stop_grace.0.as_secs() as i64;
    let life_critical = s.criticality.as_deref() == Some("life-critical");
    let body = html! {
        h1 { "Stop the session on " (s.device) "?" }
        p.lead { (s.vendor) @if !s.vendor_org.is_empty() { " (" (s.vendor_org) ")" } " has been connected since " (format::utc(&s.started_at)) "." }
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
    Ok(layout::page(&frame, &user, Tab::Sessions, "Stop session", Notice::default(), body).await.into_response())
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
pub async fn stop(
    State(store): State<Store>,
    State(approvals): State<Approvals>,
    State(config): State<Arc<Config>>,
    Path(id): Path<String>,
    PageForm { user, form }: PageForm<StopForm>,
) -> Result<Response, PageError> {
    require(&user, STOPPERS, "stop sessions")?;
    let s = load_to_stop(&store, &id).await?;
    let m = mode(&config, Some(form.mode.as_str()).filter(|m| !m.is_empty()))?;
    let by = user.actor();
    approvals.stop_session(StopInput::new(SessionId(s.id), &by, form.reason.trim()).mode(m)).await.map_err(ApiError::from)?;
    let to = match m {
        StopMode::Graceful(d) => format!("/sessions?done=stopping&id={}&secs={}", s.id, d.as_secs()),
        StopMode::Immediate => format!("/sessions?done=stopped&id={}", s.id),
    };
    Ok(Redirect::to(&to).into_response())
}
