//! Request history: decided requests (approved, denied, expired, revoked), newest first,
//! filtered by state, vendor and device, with who decided, when, and the window granted;
//! approvers and admins can revoke a window that has not ended yet.

use super::error::PageError;
use super::format;
use super::layout::{self, Frame, Notice, Tab};
use super::requests::criticality;
use super::visitor::require;
use super::flash::FlashQuery;
use crate::api::requests::{find, ListQuery, DECIDERS, READERS};
use crate::auth::PageUser;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use portcullis_core::approvals::Approvals;
use portcullis_core::domain::RequestState;
use portcullis_core::store::Store;
use serde::Deserialize;

/// The filters (a GET form).
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    state: String,
    #[serde(default)]
    vendor: String,
    #[serde(default)]
    device: String,
}

/// `GET /history`.
pub async fn list(
    State(frame): State<Frame>,
    State(store): State<Store>,
    State(approvals): State<Approvals>,
    PageUser(user): PageUser,
    filters: Result<Query<Filters>, QueryRejection>,
    flash: Result<Query<FlashQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    require(&user, READERS, "read requests")?;
    let f = filters.map(|Query(f)| f).unwrap_or_default();
    let done = flash.ok().and_then(|Query(q)| q.message());
    let may_revoke = DECIDERS.contains(&user.role());
    let now = portcullis_core::clock::now();
    let q = ListQuery {
        state: Some(f.state.clone()).filter(|s| !s.is_empty()),
        vendor: Some(f.vendor.trim().to_owned()).filter(|s| !s.is_empty()),
        device: Some(f.device.trim().to_owned()).filter(|s| !s.is_empty()),
        limit: Some(300),
    };
    let (rows, notice) = match find(&store, &approvals, &user, &q).await {
        Ok(rows) => (rows, Notice::flash(done)),
        Err(e) if e.status.is_client_error() => (Vec::new(), Notice::error(e.message)),
        Err(e) => return Err(e.into()),
    };
    // Without a state filter, "history" means what was decided.
    let rows: Vec<_> = rows.into_iter().filter(|r| !f.state.is_empty() || r.state != "pending").collect();
    let body = html! {
        h1 { "History" }
        form.filters method="get" action="/history" {
            label {
                "State"
                select name="state" {
                    option value="" selected[f.state.is_empty()] { "any decided" }
                    @for s in RequestState::ALL {
                        option value=(s.as_str()) selected[f.state == s.as_str()] { (s.as_str()) }
                    }
                }
            }
            label { "Vendor" input name="vendor" type="text" value=(f.vendor) autocapitalize="none"; }
            label { "Device" input name="device" type="text" value=(f.device) autocapitalize="none"; }
            button type="submit" { "Filter" }
        }
        @if rows.is_empty() {
            p.empty { "No request matches." }
        } @else {
            div.scroll role="region" aria-label="Requests" tabindex="0" {
                table.history {
                    thead { tr { th { "#" } th { "Vendor" } th { "Device" } th { "State" } th { "Reason" } th { "Asked" } th { "Decided" } th { "Window" } } }
                    tbody {
                        @for r in &rows {
                            tr data-request-id=(r.id) {
                                td { (r.id) }
                                td { (r.vendor) @if !r.org.is_empty() { br; small { (r.org) } } }
                                td { (r.device) br; (criticality(&r.criticality)) }
                                td { span class={ "state state-" (r.state) } { (r.state) } }
                                td.reason { (r.reason) }
                                td { (format::minutes(r.minutes)) br; small { (format::utc(&r.created_at)) } }
                                td {
                                    @if let Some(at) = &r.decided_at { (format::utc(at)) }
                                    @if let Some(by) = &r.decided_by { br; small { "by " (by) } }
                                    @if !r.approvals.is_empty() { br; small { "approved by " (r.approvals.join(", ")) } }
                                    @if let Some(n) = &r.decision_note { br; small.note { (n) } }
                                }
                                td {
                                    @if let Some(g) = &r.grant {
                                        (format::utc(&g.starts_at)) " – " (format::utc(&g.ends_at))
                                        @if let Some(by) = &g.revoked_by { br; small { "revoked by " (by) } }
                                        @if may_revoke && r.state == "approved" && g.revoked_at.is_none() && format::ends_after(&g.ends_at, now) {
                                            form.revoke method="post" action={ "/requests/" (r.id) "/revoke" } {
                                                (layout::csrf(&user))
                                                button.danger type="submit" { "Revoke" }
                                            }
                                        }
                                    } @else { "—" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&frame, &user, Tab::History, "History", notice, body).await.into_response())
}
