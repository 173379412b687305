//! Containment of a zone or a device, the incident decision of [`portcullis_core::contain`]:
//! what an order would act on (preview), the order, its lifting, and the list. The rules
//! (admins only, the clinical confirmation, the graceful stop of life-critical sessions,
//! `immediate` with its reason) are core's; refusals of other roles are audited there.

use super::error::{ApiError, ErrorBody};
use super::{ApiJson, ApiQuery};
use crate::auth::Authed;
use crate::state::AppState;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use portcullis_core::clock;
use portcullis_core::contain::{ContainInput, Contained, Containments, LiftInput, Plan};
use portcullis_core::domain::{Criticality, Role, Scope};
use portcullis_core::store::{ContainmentRecord, ScopeRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Who may see containments and previews (staff); only admins may order or lift (core).
pub const VIEWERS: &[Role] = &[Role::Approver, Role::Auditor, Role::Admin];

impl FromRef<AppState> for Containments {
    fn from_ref(s: &AppState) -> Containments {
        Containments::of(&s.ctx)
    }
}

/// A zone or a device.
#[derive(Deserialize, Serialize, IntoParams, ToSchema, Clone)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ScopeQuery {
    /// `zone` or `device`.
    pub kind: String,
    /// The zone's or the device's name.
    pub name: String,
}

impl ScopeQuery {
    fn scope(&self) -> Result<Scope, ApiError> {
        Scope::parse(&self.kind, &self.name).map_err(|e| ApiError::bad_request(e.0))
    }
}

/// Filters of the list.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Lifted ones too (default: only those in force).
    pub all: Option<bool>,
}

/// An order to contain a zone or a device.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainBody {
    /// `zone` or `device`.
    pub kind: String,
    pub name: String,
    /// Why: the incident (required).
    pub reason: String,
    /// Who confirmed the life-critical devices there are safe to disconnect (name and role);
    /// required while a life-critical session runs there.
    pub confirmed_by: Option<String>,
    /// Cut every session at once, life-critical ones too, for this reason (required when given).
    pub immediate: Option<String>,
}

/// The lifting of a containment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiftBody {
    /// `zone` or `device`.
    pub kind: String,
    pub name: String,
    /// Why it may be lifted (required).
    pub reason: String,
}

/// One containment.
#[derive(Serialize, ToSchema)]
pub struct ContainmentView {
    pub id: i64,
    /// `zone` or `device`.
    pub kind: String,
    pub name: String,
    pub ordered_by: String,
    pub reason: String,
    pub confirmed_by: Option<String>,
    /// The reason for cutting every session at once; absent for a graceful order.
    pub immediate: Option<String>,
    pub ordered_at: String,
    pub lifted_at: Option<String>,
    pub lifted_by: Option<String>,
    pub lift_reason: Option<String>,
}

impl From<&ContainmentRecord> for ContainmentView {
    fn from(c: &ContainmentRecord) -> Self {
        ContainmentView {
            id: c.id,
            kind: c.scope.kind().to_owned(),
            name: c.scope.name().to_owned(),
            ordered_by: c.ordered_by.clone(),
            reason: c.reason.clone(),
            confirmed_by: c.confirmed_by.clone(),
            immediate: c.immediate.clone(),
            ordered_at: clock::rfc3339(c.ordered_at),
            lifted_at: c.lifted_at.map(clock::rfc3339),
            lifted_by: c.lifted_by.clone(),
            lift_reason: c.lift_reason.clone(),
        }
    }
}

/// A session an order would stop.
#[derive(Serialize, ToSchema)]
pub struct PlanSessionView {
    pub id: i64,
    pub vendor: String,
    pub device: String,
    pub criticality: String,
    /// `graceful` (life-critical: the vendor is warned first) or `immediate`.
    pub stop: String,
}

/// A request an order would revoke (approved) or deny (pending).
#[derive(Serialize, ToSchema)]
pub struct PlanRequestView {
    pub id: i64,
    pub vendor: String,
    pub device: String,
    pub criticality: String,
    /// The grant's window, for an approved request.
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
}

impl From<&ScopeRequest> for PlanRequestView {
    fn from(r: &ScopeRequest) -> Self {
        PlanRequestView {
            id: r.id.0,
            vendor: r.vendor.to_string(),
            device: r.device.to_string(),
            criticality: r.criticality.to_string(),
            starts_at: r.grant.map(|(_, s, _)| clock::rfc3339(s)),
            ends_at: r.grant.map(|(_, _, e)| clock::rfc3339(e)),
        }
    }
}

/// What an order would act on now.
#[derive(Serialize, ToSchema)]
pub struct PlanView {
    pub kind: String,
    pub name: String,
    /// How many devices the scope holds.
    pub devices: u64,
    /// A life-critical session runs there: the order needs `confirmed_by`.
    pub needs_confirmation: bool,
    /// The graceful stop's length.
    pub grace_seconds: u64,
    /// The containment already in force over this scope.
    pub in_force: Option<ContainmentView>,
    pub stop: Vec<PlanSessionView>,
    pub revoke: Vec<PlanRequestView>,
    pub deny: Vec<PlanRequestView>,
}

impl From<&Plan> for PlanView {
    fn from(p: &Plan) -> Self {
        PlanView {
            kind: p.scope.kind().to_owned(),
            name: p.scope.name().to_owned(),
            devices: p.devices,
            needs_confirmation: p.needs_confirmation(),
            grace_seconds: p.grace_seconds,
            in_force: p.in_force.as_ref().map(ContainmentView::from),
            stop: p
                .sessions
                .iter()
                .map(|s| PlanSessionView {
                    id: s.id.0,
                    vendor: s.vendor.to_string(),
                    device: s.device.to_string(),
                    criticality: s.criticality.to_string(),
                    stop: if s.criticality == Criticality::LifeCritical { "graceful" } else { "immediate" }.to_owned(),
                })
                .collect(),
            revoke: p.granted.iter().map(PlanRequestView::from).collect(),
            deny: p.pending.iter().map(PlanRequestView::from).collect(),
        }
    }
}

/// A session an order stopped.
#[derive(Serialize, ToSchema)]
pub struct StoppedView {
    pub session: i64,
    pub device: String,
    /// `graceful` or `immediate`.
    pub mode: String,
    /// When it closes.
    pub stop_at: String,
}

/// What an order did.
#[derive(Serialize, ToSchema)]
pub struct ContainedView {
    pub id: i64,
    pub kind: String,
    pub name: String,
    /// Approved requests whose grant was revoked.
    pub revoked: Vec<i64>,
    /// Pending requests denied.
    pub settled: Vec<i64>,
    pub stopped: Vec<StoppedView>,
}

impl From<&Contained> for ContainedView {
    fn from(c: &Contained) -> Self {
        ContainedView {
            id: c.id,
            kind: c.scope.kind().to_owned(),
            name: c.scope.name().to_owned(),
            revoked: c.revoked.iter().map(|r| r.0).collect(),
            settled: c.settled.iter().map(|r| r.0).collect(),
            stopped: c.stopped.iter().map(|s| StoppedView { session: s.session.0, device: s.device.clone(), mode: s.mode.to_owned(), stop_at: clock::rfc3339(s.stop_at) }).collect(),
        }
    }
}

/// Containments, newest first (only those in force unless `all`).
#[utoipa::path(get, operation_id = "list_containments", path = "/api/v1/containments", tag = "containments", params(ListQuery),
    responses((status = 200, body = [ContainmentView]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(c): State<Containments>, a: Authed, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Json<Vec<ContainmentView>>, ApiError> {
    a.require(VIEWERS, "read containments")?;
    Ok(Json(c.list(!q.all.unwrap_or(false)).await?.iter().map(ContainmentView::from).collect()))
}

/// What containing a zone or a device would revoke, deny and stop now; changes nothing.
#[utoipa::path(get, operation_id = "preview_containment", path = "/api/v1/containments/preview", tag = "containments", params(ScopeQuery),
    responses((status = 200, body = PlanView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn preview(State(c): State<Containments>, a: Authed, ApiQuery(q): ApiQuery<ScopeQuery>) -> Result<Json<PlanView>, ApiError> {
    a.require(VIEWERS, "preview a containment")?;
    Ok(Json(PlanView::from(&c.preview(&q.scope()?).await?)))
}

/// Contain a zone or a device (admins only): one audited order revokes its grants, denies
/// its pending requests and stops its sessions — life-critical ones gracefully, and only with
/// `confirmed_by` — and refuses new requests there until it is lifted.
#[utoipa::path(post, operation_id = "contain", path = "/api/v1/containments", tag = "containments", request_body = ContainBody,
    responses((status = 201, body = ContainedView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn contain(State(c): State<Containments>, a: Authed, ApiJson(b): ApiJson<ContainBody>) -> Result<(StatusCode, Json<ContainedView>), ApiError> {
    let scope = ScopeQuery { kind: b.kind, name: b.name }.scope()?;
    let input = ContainInput::new(scope, a.name(), &b.reason, &a.via()).confirmed_by(b.confirmed_by.as_deref()).immediate(b.immediate.as_deref());
    let done = c.contain(input).await?;
    Ok((StatusCode::CREATED, Json(ContainedView::from(&done))))
}

/// Lift the containment in force over a zone or a device (admins only).
#[utoipa::path(post, operation_id = "lift_containment", path = "/api/v1/containments/lift", tag = "containments", request_body = LiftBody,
    responses((status = 200, body = ContainmentView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn lift(State(c): State<Containments>, a: Authed, ApiJson(b): ApiJson<LiftBody>) -> Result<Json<ContainmentView>, ApiError> {
    let scope = ScopeQuery { kind: b.kind, name: b.name }.scope()?;
    let id = c.lift(LiftInput::new(scope, a.name(), &b.reason, &a.via())).await?;
    let rows = c.list(false).await?;
    let row = rows.iter().find(|r| r.id == id).ok_or_else(|| ApiError::not_found(format!("no containment #{id}")))?;
    Ok(Json(ContainmentView::from(row)))
}
