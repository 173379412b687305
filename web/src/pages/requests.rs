//! Pending requests: who wants which device, why, for how long, how long they have waited,
//! and how many of the approvals the policy requires are in. Approvers and admins approve in
//! one action (the window pre-filled with what was asked, an optional scheduled start) or deny
//! with a reason; auditors see the same list without forms. The core refuses what the rules
//! forbid (own request, a second approval by the same person, a decided request) and the page
//! says so in plain words. Where maintenance windows cover the device, the card says whether
//! one is open (and that the grant ends with it) or which opens next, and whether the grant
//! needs a clinical sign-off there (and who gave it).

use super::error::PageError;
use super::flash::FlashQuery;
use super::format;
use super::layout::{self, Frame, Notice, Tab};
use super::visitor::{decides, require};
use crate::api::error::ApiError;
use crate::api::requests::{find, ListQuery, DECIDERS, READERS};
use crate::api::views::RequestView;
use crate::auth::{Authed, CsrfOnly, HasCsrf, PageForm, PageUser};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use portcullis_core::approvals::{minutes_text, window_minutes, ApprovalInput, Approvals, ApproveOutcome, Window};
use portcullis_core::domain::{ChannelSet, RequestId};
use portcullis_core::store::Store;
use serde::Deserialize;

/// The criticality badge of a device.
pub fn criticality(c: &str) -> Markup {
    html! { span class={ "crit crit-" (c) } { (c) } }
}

fn approve_form(user: &Authed, r: &RequestView) -> Markup {
    let max = r.minutes.min(r.policy.max_minutes).max(1);
    html! {
        form.approve method="post" action={ "/requests/" (r.id) "/approve" } {
            (layout::csrf(user))
            input type="hidden" name="tz_offset" value="0";
            div.row {
                label {
                    "Minutes"
                    input name="minutes" type="number" min="1" max=(max) value=(max) required;
                }
                label {
                    "Start " span.tz-hint { "(UTC)" } ", empty for now"
                    input name="starts_at" type="datetime-local";
                }
            }
            @let asked: Vec<String> = r.channels.split(',').map(str::to_owned).collect();
            @if asked.len() > 1 {
                // Several channels asked for: the approver may grant fewer.
                fieldset.channels {
                    legend { "Grant" }
                    input type="hidden" name="offered" value=(r.channels);
                    @for (i, c) in asked.iter().enumerate() {
                        label.check {
                            input type="checkbox" name={ "grant_" (i) } value=(c) checked;
                            " " (c)
                        }
                    }
                }
            }
            button.primary type="submit" { "Approve" }
        }
    }
}

fn deny_form(user: &Authed, r: &RequestView) -> Markup {
    html! {
        form.deny method="post" action={ "/requests/" (r.id) "/deny" } {
            (layout::csrf(user))
            label {
                "Reason for the vendor"
                input name="reason" type="text" maxlength="500" required placeholder="e.g. not during the night shift";
            }
            button.danger type="submit" { "Deny" }
        }
    }
}

fn request_card(user: &Authed, r: &RequestView) -> Markup {
    let mine = r.approvals.iter().any(|a| a == user.name().as_str());
    let role_may = r.policy.approver_roles.iter().any(|x| x == user.role().as_str());
    html! {
        article.request data-request-id=(r.id) {
            header {
                h2 { "#" (r.id) " " (r.device) }
                (criticality(&r.criticality))
                span.zone { "zone " (r.zone) }
            }
            dl {
                dt { "Requester" } dd { (r.vendor) @if !r.org.is_empty() { " · " (r.org) } }
                dt { "Reason" } dd.reason { (r.reason) }
                dt { "Duration" } dd { (format::minutes(r.minutes)) }
                dt { "Access" } dd.channels { (r.channels) }
                dt { "Waiting" } dd { (format::secs(r.waited_seconds)) " (since " (format::utc(&r.created_at)) ")" }
                dt { "Approvals" }
                dd {
                    span.tally { (r.approvals.len()) " of " (r.approvals_required) " approvals" }
                    @if !r.approvals.is_empty() { " — " span.approvers { (r.approvals.join(", ")) } }
                }
                @if r.policy.moderated {
                    dt { "Moderated" }
                    dd.moderated { "Yes: the device connection opens only when an approver who did not ask for it joins the live view as moderator, and the vendor's input pauses when no moderator watches." }
                }
                @if let Some(w) = &r.maintenance_window {
                    dt { "Maintenance window" }
                    dd.maintenance-window data-state=(w.state) {
                        (w.text)
                        @if w.state == "inside" {
                            br; span.hint { "An approval now grants access until the window closes, not past it." }
                        } @else if r.policy.outside_window == "extra-approver" {
                            br; span.hint { "Outside the window the policy asks for one more approver." }
                        }
                    }
                }
                @if let Some(s) = &r.clinical_signoff {
                    dt { "Clinical sign-off" }
                    dd.clinical-signoff data-given=(s.given_by.is_some()) {
                        @if let Some(by) = &s.given_by {
                            "Given by " (by) "."
                        } @else {
                            "Needed: outside the maintenance window the grant needs an approval by an approver holding clinical-signoff."
                        }
                    }
                }
            }
            @if decides(user) {
                @if !role_may {
                    p.hint { "The policy for this device lets " (r.policy.approver_roles.join(", ")) " decide." }
                } @else {
                    div.actions {
                        @if mine {
                            p.hint { "You approved; another approver must approve too." }
                        } @else {
                            (approve_form(user, r))
                        }
                        (deny_form(user, r))
                    }
                }
            }
        }
    }
}

/// The services the requests page reads.
#[derive(Clone, Copy)]
struct Sources<'a> {
    frame: &'a Frame,
    store: &'a Store,
    approvals: &'a Approvals,
}

/// The requests page with `notice` above it.
async fn render(pages: Sources<'_>, user: &Authed, notice: Notice, status: StatusCode) -> Result<Response, PageError> {
    let q = ListQuery { state: Some("pending".into()), ..ListQuery::default() };
    let mut pending = find(pages.store, pages.approvals, user, &q).await?;
    pending.reverse(); // oldest first: who has waited longest is on top
    let body = html! {
        h1 { "Pending requests" }
        @if pending.is_empty() {
            p.empty { "Nothing is waiting for a decision." }
        }
        @for r in &pending { (request_card(user, r)) }
    };
    Ok((status, layout::page(pages.frame, user, Tab::Requests, "Requests", notice, body).await).into_response())
}

/// `GET /requests`.
pub async fn list(
    State(frame): State<Frame>,
    State(store): State<Store>,
    State(approvals): State<Approvals>,
    PageUser(user): PageUser,
    flash: Result<Query<FlashQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    require(&user, READERS, "read requests")?;
    let notice = Notice::flash(flash.ok().and_then(|Query(f)| f.message()));
    render(Sources { frame: &frame, store: &store, approvals: &approvals }, &user, notice, StatusCode::OK).await
}

/// A domain refusal shown on the requests page; internal failures stay an error page.
async fn refused(pages: Sources<'_>, user: &Authed, e: ApiError) -> Result<Response, PageError> {
    if e.status.is_server_error() {
        return Err(e.into());
    }
    render(pages, user, Notice::error(e.message), e.status).await
}

fn request_id(raw: &str) -> Result<RequestId, PageError> {
    raw.parse::<i64>().map(RequestId).map_err(|_| PageError::not_found(format!("no request {raw:?}")))
}

/// The approval form.
#[derive(Deserialize)]
pub struct ApproveForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    starts_at: String,
    /// The browser's `Date.getTimezoneOffset()` (minutes behind UTC), set by the script;
    /// without it the start is read as UTC.
    #[serde(default)]
    tz_offset: String,
    /// The channels asked for, when there was a choice; `grant_N` fields hold those ticked.
    #[serde(default)]
    offered: String,
    #[serde(flatten)]
    ticked: std::collections::BTreeMap<String, String>,
}

impl HasCsrf for ApproveForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl ApproveForm {
    /// The window the approver chose.
    fn window(&self) -> Result<Window, String> {
        let length = match self.minutes.trim() {
            "" => None,
            m => Some(minutes_text(m).and_then(window_minutes)?),
        };
        let offset: i64 = self.tz_offset.trim().parse().unwrap_or(0).clamp(-24 * 60, 24 * 60);
        let starts_at = match self.starts_at.trim() {
            "" => None,
            s => Some(local_start(s, offset).ok_or("The start must be a date and time, e.g. 2026-12-01 08:00.")?),
        };
        Ok(Window { length, starts_at })
    }

    /// The channels ticked, when the form offered a choice (`None`: grant what was asked).
    fn channels(&self) -> Result<Option<ChannelSet>, String> {
        if self.offered.trim().is_empty() {
            return Ok(None);
        }
        let ticked: Vec<&str> = self.ticked.iter().filter(|(k, _)| k.starts_with("grant_")).map(|(_, v)| v.as_str()).collect();
        if ticked.is_empty() {
            return Err("Tick at least one kind of access to grant, or deny the request.".into());
        }
        ChannelSet::parse(&ticked.join(",")).map(Some).map_err(|e| e.to_string())
    }
}

/// A `datetime-local` value (`YYYY-MM-DDTHH:MM[:SS]`) at `offset` minutes behind UTC, as Unix
/// seconds.
fn local_start(s: &str, offset: i64) -> Option<i64> {
    let long = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let short = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let t = time::PrimitiveDateTime::parse(s, &long).or_else(|_| time::PrimitiveDateTime::parse(s, &short)).ok()?;
    Some(t.assume_utc().unix_timestamp() + offset * 60)
}

/// `POST /requests/{id}/approve`.
pub async fn approve(
    State(frame): State<Frame>,
    State(store): State<Store>,
    State(approvals): State<Approvals>,
    Path(id): Path<String>,
    PageForm { user, form }: PageForm<ApproveForm>,
) -> Result<Response, PageError> {
    let pages = Sources { frame: &frame, store: &store, approvals: &approvals };
    require(&user, DECIDERS, "approve requests")?;
    let id = request_id(&id)?;
    let (window, channels) = match form.window().and_then(|w| form.channels().map(|c| (w, c))) {
        Ok(v) => v,
        Err(m) => return render(pages, &user, Notice::error(m), StatusCode::BAD_REQUEST).await,
    };
    match approvals.approve(ApprovalInput::new(id, user.name(), &user.via()).window(window).channels(channels)).await {
        Ok(ApproveOutcome::Granted(_)) => Ok(Redirect::to(&format!("/requests?done=granted&id={}", id.0)).into_response()),
        Ok(ApproveOutcome::Recorded { have, need }) => {
            Ok(Redirect::to(&format!("/requests?done=recorded&id={}&have={have}&need={need}", id.0)).into_response())
        }
        Ok(ApproveOutcome::AwaitingSignoff { have, need }) => {
            Ok(Redirect::to(&format!("/requests?done=awaiting-signoff&id={}&have={have}&need={need}", id.0)).into_response())
        }
        Err(e) => refused(pages, &user, e.into()).await,
    }
}

/// The denial form.
#[derive(Deserialize)]
pub struct DenyForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    reason: String,
}

impl HasCsrf for DenyForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /requests/{id}/deny`.
pub async fn deny(
    State(frame): State<Frame>,
    State(store): State<Store>,
    State(approvals): State<Approvals>,
    Path(id): Path<String>,
    PageForm { user, form }: PageForm<DenyForm>,
) -> Result<Response, PageError> {
    let pages = Sources { frame: &frame, store: &store, approvals: &approvals };
    require(&user, DECIDERS, "deny requests")?;
    let id = request_id(&id)?;
    match approvals.deny(id, user.name(), &form.reason, &user.via()).await {
        Ok(()) => Ok(Redirect::to(&format!("/requests?done=denied&id={}", id.0)).into_response()),
        Err(e) => refused(pages, &user, e.into()).await,
    }
}

/// `POST /requests/{id}/revoke`: ends an approved request's access at once.
pub async fn revoke(
    State(frame): State<Frame>,
    State(store): State<Store>,
    State(approvals): State<Approvals>,
    Path(id): Path<String>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let pages = Sources { frame: &frame, store: &store, approvals: &approvals };
    require(&user, DECIDERS, "revoke access")?;
    let id = request_id(&id)?;
    match approvals.revoke(id, user.name(), &user.via()).await {
        Ok(()) => Ok(Redirect::to(&format!("/history?done=revoked&id={}", id.0)).into_response()),
        Err(e) => refused(pages, &user, e.into()).await,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn form(minutes: &str, starts_at: &str, tz: &str) -> ApproveForm {
        ApproveForm { csrf: String::new(), minutes: minutes.into(), starts_at: starts_at.into(), tz_offset: tz.into(), offered: String::new(), ticked: Default::default() }
    }

    #[test]
    fn window_from_the_form() {
        let w = form("", "", "").window().unwrap();
        assert_eq!((w.length, w.starts_at), (None, None));
        let w = form("30", "2026-12-01T08:00", "").window().unwrap();
        assert_eq!(w.length, Some(Duration::from_secs(1800)));
        assert_eq!(w.starts_at, Some(1_796_112_000));
        // Central European time (UTC+1): the browser reports -60.
        let w = form("30", "2026-12-01T09:00:00", "-60").window().unwrap();
        assert_eq!(w.starts_at, Some(1_796_112_000));
        assert!(form("0", "", "").window().is_err());
        assert!(form("ten", "", "").window().is_err());
        assert!(form("10", "tomorrow", "").window().is_err());
    }
}
