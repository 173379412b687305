//! The containment confirmation page, for admins: reached from the "Contain…" button of a
//! device's page or of a zone on the devices list, it lists what the order would stop, revoke
//! and deny, flags each running life-critical session (stopped gracefully, after the vendor is
//! warned) and then asks who confirmed the device is safe to disconnect, and offers the
//! immediate cut only with its own reason. The order and its lifting are core's
//! ([`portcullis_core::contain`]), as from the CLI and the API.

use super::admin_devices::ADMINS;
use super::error::PageError;
use super::format;
use super::layout::{self, Frame, Notice, Tab};
use super::requests::criticality;
use super::visitor::require;
use crate::api::containments::{PlanRequestView, PlanView};
use crate::api::error::ApiError;
use crate::auth::{Authed, HasCsrf, PageForm, PageUser};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use portcullis_core::contain::{ContainInput, Containments, LiftInput};
use portcullis_core::domain::Scope;
use serde::Deserialize;

fn scope_of(kind: &str, name: &str) -> Result<Scope, PageError> {
    Scope::parse(kind, name).map_err(|_| PageError::not_found("no such zone or device"))
}

fn requests(title: &str, class: &str, rows: &[PlanRequestView]) -> Markup {
    html! {
        section class=(class) {
            h2 { (title) " (" (rows.len()) ")" }
            @if rows.is_empty() { p.empty { "None." } } @else {
                ul { @for r in rows {
                    li data-request=(r.id) {
                        "#" (r.id) " · " (r.vendor) " on " (r.device) " " (criticality(&r.criticality))
                        @if let (Some(s), Some(e)) = (&r.starts_at, &r.ends_at) { " · " (format::utc(s)) " – " (format::utc(e)) }
                    }
                } }
            }
        }
    }
}

fn plan_body(admin: &Authed, p: &PlanView) -> Markup {
    let action = format!("/admin/contain/{}/{}", p.kind, p.name);
    html! {
        h1 { "Contain " (p.kind) " " (p.name) "?" }
        p.lead { "One audited order: every grant there is revoked, every pending request denied, every running session stopped, and new requests there are refused until an admin lifts the containment. The scope holds " (p.devices) " device" @if p.devices != 1 { "s" } "." }
        @if let Some(c) = &p.in_force {
            div.contained role="status" {
                strong { "Contained since " (format::utc(&c.ordered_at)) " by " (c.ordered_by) "." } " " (c.reason)
            }
            form #lift-containment .card method="post" action={ (action) "/lift" } {
                (layout::csrf(admin))
                label { "Why it may be lifted (kept in the audit log)" input name="reason" type="text" required maxlength="500"; }
                button type="submit" { "Lift the containment" }
            }
        }
        section.stop {
            h2 { "Sessions to stop (" (p.stop.len()) ")" }
            @if p.stop.is_empty() { p.empty { "No vendor is connected there." } } @else {
                ul { @for s in &p.stop {
                    li data-session=(s.id) class={ "stop-" (s.stop) } {
                        "session " (s.id) " · " (s.vendor) " on " (s.device) " " (criticality(&s.criticality)) " · "
                        @if s.stop == "graceful" {
                            strong.life-critical { "life-critical: the vendor is warned and the session closes in " (format::secs(p.grace_seconds as i64)) }
                        } @else { "closed at once" }
                    }
                } }
            }
        }
        (requests("Grants to revoke", "revoke", &p.revoke))
        (requests("Pending requests to deny", "deny", &p.deny))
        @if p.in_force.is_none() {
            form #confirm-contain .card method="post" action=(action) {
                (layout::csrf(admin))
                label { "Reason: the incident (kept in the audit log)" input name="reason" type="text" required maxlength="500" placeholder="INC-8800 ransomware beacon on the ICU VLAN"; }
                @if p.needs_confirmation {
                    div.clinical-warning role="alert" {
                        strong { "A life-critical device is in use by a vendor." }
                        " Before it is disconnected, a clinician responsible for it must confirm that the patient is safe without it. Name them."
                    }
                    label { "Confirmed safe to disconnect by (name and role)" input name="confirmed_by" type="text" required maxlength="500" placeholder="Dr A. Byron, ICU consultant on call"; }
                }
                fieldset.immediate {
                    legend { "Immediate cut (not recommended)" }
                    label.choice {
                        input type="checkbox" name="immediate" value="yes";
                        span { "Cut every session now, life-critical ones too, without the grace." }
                    }
                    label { "Why the grace cannot be waited for (required for an immediate cut)" input name="immediate_reason" type="text" maxlength="500"; }
                }
                div.row {
                    button.danger type="submit" { "Contain " (p.kind) " " (p.name) }
                    a.button href="/admin/devices" { "Cancel" }
                }
            }
        }
    }
}

async fn render(frame: &Frame, c: &Containments, admin: &Authed, scope: &Scope, notice: Notice, status: StatusCode) -> Result<Response, PageError> {
    let plan = PlanView::from(&c.preview(scope).await.map_err(ApiError::from)?);
    let title = format!("Contain {scope}");
    Ok((status, layout::page(frame, admin, Tab::Devices, &title, notice, plan_body(admin, &plan)).await).into_response())
}

/// `GET /admin/contain/{kind}/{name}`.
pub async fn confirm(State(frame): State<Frame>, State(c): State<Containments>, Path((kind, name)): Path<(String, String)>, PageUser(user): PageUser) -> Result<Response, PageError> {
    require(&user, ADMINS, "contain a zone or a device")?;
    render(&frame, &c, &user, &scope_of(&kind, &name)?, Notice::default(), StatusCode::OK).await
}

/// The order form.
#[derive(Deserialize)]
pub struct OrderForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirmed_by: String,
    #[serde(default)]
    immediate: String,
    #[serde(default)]
    immediate_reason: String,
}

impl HasCsrf for OrderForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /admin/contain/{kind}/{name}`: the order. Refused orders come back to the page with
/// the reason (nothing changed); core audits a refusal by role.
pub async fn order(State(frame): State<Frame>, State(c): State<Containments>, Path((kind, name)): Path<(String, String)>, PageForm { user, form }: PageForm<OrderForm>) -> Result<Response, PageError> {
    let scope = scope_of(&kind, &name)?;
    let immediate = (form.immediate == "yes").then_some(form.immediate_reason.as_str());
    let input = ContainInput::new(scope.clone(), user.name(), &form.reason, &user.via()).confirmed_by(Some(form.confirmed_by.as_str())).immediate(immediate);
    match c.contain(input).await {
        Ok(done) => Ok(Redirect::to(&format!("/admin/devices?done=contained&id={}", done.id)).into_response()),
        Err(e) => refused(&frame, &c, &user, &scope, e.into()).await,
    }
}

/// The lift form.
#[derive(Deserialize)]
pub struct LiftForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    reason: String,
}

impl HasCsrf for LiftForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /admin/contain/{kind}/{name}/lift`.
pub async fn lift(State(frame): State<Frame>, State(c): State<Containments>, Path((kind, name)): Path<(String, String)>, PageForm { user, form }: PageForm<LiftForm>) -> Result<Response, PageError> {
    let scope = scope_of(&kind, &name)?;
    match c.lift(LiftInput::new(scope.clone(), user.name(), &form.reason, &user.via())).await {
        Ok(id) => Ok(Redirect::to(&format!("/admin/devices?done=contain-lifted&id={id}")).into_response()),
        Err(e) => refused(&frame, &c, &user, &scope, e.into()).await,
    }
}

async fn refused(frame: &Frame, c: &Containments, user: &Authed, scope: &Scope, e: ApiError) -> Result<Response, PageError> {
    if e.status.is_server_error() || e.status == StatusCode::FORBIDDEN || e.status == StatusCode::NOT_FOUND {
        return Err(e.into());
    }
    render(frame, c, user, scope, Notice::error(e.message), e.status).await
}
