//! Alerts for approvers, auditors and admins: the newest alerts with their severity, rule,
//! vendor, device and session, and the acknowledgement of one (an audited write,
//! `alert.acknowledged`, naming who). Vendors never see them. Acknowledging an alert twice is
//! refused with 409 naming who acknowledged it and when.

use super::error::{ApiError, ErrorBody};
use super::{ApiPath, ApiQuery};
use crate::auth::Authed;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use portcullis_core::alerts::{AckError, AlertView, Alerts};
use portcullis_core::clock;
use portcullis_core::domain::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Roles that may read and acknowledge alerts.
pub const ALERT_READERS: &[Role] = &[Role::Approver, Role::Auditor, Role::Admin];

/// How many alerts to list.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// One alert.
#[derive(Serialize, ToSchema)]
pub struct AlertItem {
    /// The alert's audit row, its identity.
    pub seq: i64,
    /// RFC 3339.
    pub time: String,
    /// `outside_window`, `bytes_exceeded`, `refusal_burst`, `new_source`, `unusual_hours`, `failed_codes`.
    pub rule: String,
    pub kind: String,
    /// `critical`, `high`, `medium` or `low`.
    pub severity: String,
    pub vendor: Option<String>,
    pub device: Option<String>,
    pub session: Option<i64>,
    /// The alert's audit detail.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub acknowledged_by: Option<String>,
    /// RFC 3339.
    pub acknowledged_at: Option<String>,
}

impl From<AlertView> for AlertItem {
    fn from(a: AlertView) -> Self {
        AlertItem {
            seq: a.seq,
            time: clock::rfc3339_ms(a.ts),
            rule: a.rule,
            kind: a.kind,
            severity: a.severity.as_str().to_owned(),
            vendor: a.vendor,
            device: a.device,
            session: a.session,
            detail: a.detail,
            acknowledged_by: a.acknowledged_by,
            acknowledged_at: a.acknowledged_at.map(clock::rfc3339),
        }
    }
}

impl From<AckError> for ApiError {
    fn from(e: AckError) -> Self {
        match e {
            e @ AckError::NotFound(_) => ApiError::not_found(e.to_string()),
            AckError::Already { seq, by, at } => ApiError::new(StatusCode::CONFLICT, "conflict", format!("alert {seq} was already acknowledged by {by} at {}", clock::rfc3339(at))),
            AckError::Store(e) => e.into(),
        }
    }
}

/// The newest alerts, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", operation_id = "list_alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, body = [AlertItem]), (status = 403, body = ErrorBody)))]
pub async fn list(State(alerts): State<Alerts>, a: Authed, ApiQuery(q): ApiQuery<AlertQuery>) -> Result<Json<Vec<AlertItem>>, ApiError> {
    a.require(ALERT_READERS, "read alerts")?;
    let rows = alerts.list(&a.session.user.zones, q.limit.unwrap_or(100)).await?;
    Ok(Json(rows.into_iter().map(AlertItem::from).collect()))
}

/// Acknowledges one alert as the signed-in user.
#[utoipa::path(post, path = "/api/v1/alerts/{seq}/acknowledge", operation_id = "acknowledge_alert", tag = "alerts",
    params(("seq" = i64, Path, description = "the alert's audit row")),
    responses((status = 200, body = AlertItem), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "already acknowledged")))]
pub async fn acknowledge(State(alerts): State<Alerts>, a: Authed, ApiPath(seq): ApiPath<i64>) -> Result<Json<AlertItem>, ApiError> {
    a.require(ALERT_READERS, "acknowledge alerts")?;
    let view = alerts.acknowledge(seq, a.name().as_str(), &a.session.user.zones).await?;
    Ok(Json(view.into()))
}
