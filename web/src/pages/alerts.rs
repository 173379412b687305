//! The alerts page (approvers, auditors, admins): the newest alerts first, each with its
//! severity, rule, vendor, device, session and time, what the rule saw, and an Acknowledge
//! button (a form post with the usual origin and CSRF checks; the acknowledgement is an
//! audited write naming who). An acknowledged alert says who acknowledged it and when; a
//! second acknowledgement is refused and the page says by whom the first was made.

use super::detail;
use super::error::PageError;
use super::flash::FlashQuery;
use super::format;
use super::layout::{self, Frame, Notice, Tab};
use super::visitor::require;
use crate::api::alerts::{AlertItem, ALERT_READERS};
use crate::api::error::ApiError;
use crate::auth::{Authed, CsrfOnly, PageForm, PageUser};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use portcullis_core::alerts::{AckError, Alerts};

/// Alerts listed on the page.
const SHOWN: u32 = 200;

/// The rule in words.
fn rule_label(rule: &str) -> &'static str {
    match rule {
        "outside_window" => "Access outside a maintenance window",
        "bytes_exceeded" => "Bytes per session above the threshold",
        "refusal_burst" => "Burst of refused channels or tunnels",
        "new_source" => "Sign-in from a new source address",
        "unusual_hours" => "Access at unusual hours",
        "failed_codes" => "Repeated wrong one-time codes",
        _ => "Alert",
    }
}

/// The detail without what the other columns already show.
fn facts(a: &AlertItem) -> serde_json::Value {
    let mut d = a.detail.clone();
    if let Some(o) = d.as_object_mut() {
        for k in ["rule", "severity", "vendor", "device", "session", "criticality", "zone"] {
            o.remove(k);
        }
    }
    d
}

fn row(user: &Authed, a: &AlertItem) -> Markup {
    html! {
        tr data-alert=(a.seq) data-severity=(a.severity) data-rule=(a.rule) {
            td { span class={ "sev sev-" (a.severity) } { (a.severity) } }
            td.rule { (rule_label(&a.rule)) br; small { code { (a.kind) } } }
            td.vendor data-label="Vendor" { (a.vendor.clone().unwrap_or_default()) }
            td.device data-label="Device" {
                @if let Some(d) = &a.device {
                    (d)
                    @if let (Some(c), Some(z)) = (a.detail.get("criticality").and_then(|v| v.as_str()), a.detail.get("zone").and_then(|v| v.as_str())) {
                        br; span class={ "crit crit-" (c) } { (c) } " " span.zone { (z) }
                    }
                } @else { span.muted { "—" } }
            }
            td.session data-label="Session" {
                @if let Some(s) = a.session { a href={ "/sessions/" (s) } { "Session " (s) } } @else { span.muted { "—" } }
            }
            td.nowrap data-label="When" { time datetime=(a.time) title=(format::utc_seconds_if_time(&a.time)) { (format::utc(&a.time)) } }
            td.detail data-label="What" { (detail::cell(&facts(a))) }
            td.ack {
                @if let Some(by) = &a.acknowledged_by {
                    span.acked { "Acknowledged by " strong { (by) } }
                    @if let Some(at) = &a.acknowledged_at { br; small { time datetime=(at) { (format::utc(at)) } } }
                } @else {
                    form.inline method="post" action={ "/alerts/" (a.seq) "/acknowledge" } {
                        (layout::csrf(user))
                        button.primary.small type="submit" aria-label={ "Acknowledge alert " (a.seq) } { "Acknowledge" }
                    }
                }
            }
        }
    }
}

async fn render(frame: &Frame, alerts: &Alerts, user: &Authed, notice: Notice) -> Result<Response, PageError> {
    let rows: Vec<AlertItem> = alerts.list(&user.session.user.zones, SHOWN).await.map_err(ApiError::from)?.into_iter().map(AlertItem::from).collect();
    let open = rows.iter().filter(|a| a.acknowledged_by.is_none()).count();
    let body = html! {
        h1 { "Alerts" }
        p.hint { "Ranked by what they mean for patients: the severity follows the device's criticality and zone. Newest first; " (open) " not yet acknowledged." }
        @if rows.is_empty() {
            p.empty { "No alert has fired." }
        } @else {
            div.scroll role="region" aria-label="Alerts" tabindex="0" {
                table.alerts {
                    thead { tr { th { "Severity" } th { "Rule" } th { "Vendor" } th { "Device" } th { "Session" } th { "When" } th { "What" } th { "Status" } } }
                    tbody { @for a in &rows { (row(user, a)) } }
                }
            }
        }
    };
    Ok(layout::page(frame, user, Tab::Alerts, "Alerts", notice, body).await.into_response())
}

/// `GET /alerts`.
pub async fn list(State(frame): State<Frame>, State(alerts): State<Alerts>, PageUser(user): PageUser, flash: Result<Query<FlashQuery>, QueryRejection>) -> Result<Response, PageError> {
    require(&user, ALERT_READERS, "read alerts")?;
    let done = flash.ok().and_then(|Query(q)| q.message());
    render(&frame, &alerts, &user, Notice::flash(done)).await
}

/// `POST /alerts/{seq}/acknowledge`.
pub async fn acknowledge(State(frame): State<Frame>, State(alerts): State<Alerts>, Path(seq): Path<String>, PageForm { user, .. }: PageForm<CsrfOnly>) -> Result<Response, PageError> {
    require(&user, ALERT_READERS, "acknowledge alerts")?;
    let seq: i64 = seq.parse().map_err(|_| PageError::from(ApiError::bad_request("not an alert number")))?;
    match alerts.acknowledge(seq, user.name().as_str(), &user.session.user.zones).await {
        Ok(_) => Ok(Redirect::to(&format!("/alerts?done=acknowledged&id={seq}")).into_response()),
        Err(AckError::Already { by, at, .. }) => {
            let when = format::unix_seconds(at).unwrap_or_default();
            render(&frame, &alerts, &user, Notice::error(format!("Alert {seq} was already acknowledged by {by} at {when}."))).await
        }
        Err(e) => Err(PageError::from(ApiError::from(e))),
    }
}
