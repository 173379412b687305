//! The break-glass page (approvers and admins review; auditors read): every emergency opening,
//! the reviews still due first, each with its incident reference, reason, vendor and device,
//! the sessions run under it with their recordings (Replay links) and their file and tunnel
//! audit rows, the reviews given, and a review form ("justified" or "not justified" with a
//! note; a form post with the usual origin and CSRF checks). The decision and its refusals
//! (the vendor's own session, a second review by one approver) are the core's.

use super::error::PageError;
use super::flash::FlashQuery;
use super::format;
use super::layout::{self, Frame, Notice, Tab};
use super::visitor::require;
use crate::api::breakglass::{BreakGlassView, READERS, REVIEWERS};
use crate::api::error::ApiError;
use crate::auth::{Authed, HasCsrf, PageForm, PageUser};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use portcullis_core::breakglass::{BreakGlass, Verdict};
use portcullis_core::domain::RequestId;
use portcullis_core::recstore::RecStore;
use portcullis_core::store::Store;
use serde::Deserialize;

/// Openings listed.
const SHOWN: i64 = 100;

/// One session's recordings and file/tunnel rows.
async fn session_block(store: &Store, recs: &RecStore, id: i64, request: i64) -> Result<Markup, ApiError> {
    let recordings = crate::api::recordings::checked(store, recs, id).await?;
    let rows = crate::api::sessions::audit_rows(store, id, request).await?;
    let moves: Vec<_> = rows.iter().filter(|r| r.kind.starts_with("sftp.") || r.kind.starts_with("tunnel.") || r.kind.starts_with("session.")).collect();
    Ok(html! {
        div.bg-session data-session=(id) {
            h4 { a href={ "/sessions/" (id) } { "Session " (id) } }
            p {
                @for r in &recordings {
                    @if r.kind == "asciicast" && r.status != "deleted" {
                        a.button.replay href={ "/sessions/" (id) "/replay/" (r.channel) } { "Replay channel " (r.channel) } " "
                    }
                }
                @if recordings.is_empty() { span.muted { "No channel was recorded." } }
            }
            @if moves.is_empty() {
                p.empty { "No file or tunnel audit row." }
            } @else {
                table.audit.bg-rows {
                    thead { tr { th { "#" } th { "Time" } th { "Kind" } th { "Detail" } } }
                    tbody {
                        @for r in &moves {
                            tr data-kind=(r.kind) {
                                td { (r.seq) }
                                td.nowrap { time datetime=(r.time) { (format::utc_seconds_if_time(&r.time)) } }
                                td { code { (r.kind) } }
                                td.detail { (super::detail::cell(&r.detail)) }
                            }
                        }
                    }
                }
            }
        }
    })
}

async fn card(store: &Store, recs: &RecStore, user: &Authed, b: &BreakGlassView) -> Result<Markup, ApiError> {
    let mut sessions = Vec::new();
    for s in &b.sessions {
        sessions.push(session_block(store, recs, *s, b.id).await?);
    }
    let mine = b.vendor == user.name().as_str();
    let reviewed = b.reviews.iter().any(|r| r.reviewer == user.name().as_str());
    Ok(html! {
        article.card.breakglass data-breakglass=(b.id) data-outcome=(b.outcome) data-overdue=(b.overdue) {
            h3 {
                "Break-glass #" (b.id) " · " (b.device)
                " " span class={ "crit crit-" (b.criticality) } { (b.criticality) } " " span.zone { (b.zone) }
                " " span class={ "outcome outcome-" (b.outcome) } { (b.outcome) }
                @if b.overdue { " " span.sev.sev-high { "review overdue" } }
            }
            dl.facts {
                dt { "Vendor" } dd.vendor { (b.vendor) }
                dt { "Incident" } dd.incident { (b.incident) }
                dt { "Reason" } dd.reason { (b.reason) }
                dt { "Opened" } dd { time datetime=(b.opened_at) { (format::utc(&b.opened_at)) } }
                dt { "Review due" } dd { time datetime=(b.review_due) { (format::utc(&b.review_due)) } }
            }
            h4 { "Sessions" }
            @if sessions.is_empty() { p.empty { "The vendor has not connected (yet)." } }
            @for s in &sessions { (s) }
            h4 { "Reviews (" (b.reviews.len()) " of 2)" }
            @if b.reviews.is_empty() { p.empty { "None yet." } }
            ul.reviews {
                @for r in &b.reviews {
                    li data-reviewer=(r.reviewer) data-verdict=(r.verdict) { strong { (r.reviewer) } ": " (r.verdict) " — " q { (r.note) } " " small { (format::utc(&r.reviewed_at)) } }
                }
            }
            @if REVIEWERS.contains(&user.role()) && b.reviews.len() < 2 && !mine && !reviewed {
                form.review method="post" action={ "/breakglass/" (b.id) "/review" } {
                    (layout::csrf(user))
                    fieldset {
                        legend { "Your review" }
                        label { input type="radio" name="verdict" value="justified" required; " Justified" }
                        label { input type="radio" name="verdict" value="not-justified"; " Not justified (disables the vendor's account)" }
                    }
                    label { "Note " input type="text" name="note" required maxlength="500"; }
                    button.primary type="submit" { "Record review" }
                }
            }
        }
    })
}

async fn render(frame: &Frame, store: &Store, recs: &RecStore, user: &Authed, notice: Notice) -> Result<Response, PageError> {
    let rows: Vec<BreakGlassView> = store.list_break_glass(false, SHOWN).await.map_err(ApiError::from)?.into_iter().filter(|b| user.session.user.zones.covers(&b.zone)).map(BreakGlassView::from).collect();
    let (due, done): (Vec<_>, Vec<_>) = rows.into_iter().partition(|b| b.outcome == "pending");
    let mut cards = Vec::new();
    for b in due.iter().chain(done.iter()) {
        cards.push(card(store, recs, user, b).await?);
    }
    let body = html! {
        h1 { "Break-glass" }
        p.hint { "Emergency sessions opened without a prior approval. Two distinct approvers review each one; any \"not justified\" disables the vendor's account. " (due.len()) " review(s) due." }
        @if cards.is_empty() { p.empty { "No break-glass session." } }
        @for c in &cards { (c) }
    };
    Ok(layout::page(frame, user, Tab::BreakGlass, "Break-glass", notice, body).await.into_response())
}

/// `GET /breakglass`.
pub async fn list(State(frame): State<Frame>, State(store): State<Store>, State(recs): State<RecStore>, PageUser(user): PageUser, flash: Result<Query<FlashQuery>, QueryRejection>) -> Result<Response, PageError> {
    require(&user, READERS, "read break-glass sessions")?;
    let done = flash.ok().and_then(|Query(q)| q.message());
    render(&frame, &store, &recs, &user, Notice::flash(done)).await
}

/// The review form.
#[derive(Deserialize)]
pub struct ReviewForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    note: String,
}

impl HasCsrf for ReviewForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /breakglass/{id}/review`.
pub async fn review(
    State(frame): State<Frame>,
    State(store): State<Store>,
    State(recs): State<RecStore>,
    State(bg): State<BreakGlass>,
    Path(id): Path<String>,
    PageForm { user, form }: PageForm<ReviewForm>,
) -> Result<Response, PageError> {
    require(&user, REVIEWERS, "review break-glass sessions")?;
    let id: i64 = id.parse().map_err(|_| PageError::from(ApiError::bad_request("not a break-glass number")))?;
    let verdict = match Verdict::parse(&form.verdict) {
        Ok(v) => v,
        Err(e) => return render(&frame, &store, &recs, &user, Notice::error(e)).await,
    };
    match bg.review(RequestId(id), user.name(), verdict, &form.note, &user.via()).await {
        Ok(r) if r.account_disabled => Ok(Redirect::to(&format!("/breakglass?done=breakglass-disabled&id={id}")).into_response()),
        Ok(_) => Ok(Redirect::to(&format!("/breakglass?done=breakglass-reviewed&id={id}")).into_response()),
        Err(e) => render(&frame, &store, &recs, &user, Notice::error(e.to_string())).await,
    }
}
