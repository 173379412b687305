//! Devices: list and show for everyone who decides or audits (with the policy that applies
//! to each), enrol and disable for admins. Credentials go in, never out.

use super::error::{ApiError, ErrorBody};
use super::views::{DeviceView, NewDeviceBody};
use super::{ApiJson, ApiPath};
use crate::auth::Authed;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use portcullis_core::admin::{Admin, NewDeviceSpec};
use portcullis_core::approvals::Approvals;
use portcullis_core::domain::{Criticality, DeviceName, Role, Zone};
use portcullis_core::store::{DeviceRecord, Store};
use portcullis_core::vault::Credential;

pub(super) fn view(approvals: &Approvals, d: &DeviceRecord) -> DeviceView {
    DeviceView::new(d, &approvals.policy().rule(d.criticality, &d.zone))
}

pub(super) fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// A new device's body as the core takes it.
pub(super) fn spec(b: NewDeviceBody) -> Result<NewDeviceSpec, ApiError> {
    let credential = match (b.password, b.private_key) {
        (Some(p), None) => Credential::Password(p),
        (None, Some(k)) => Credential::PrivateKey(k),
        _ => return Err(ApiError::bad_request("give exactly one of password and private_key")),
    };
    Ok(NewDeviceSpec {
        name: DeviceName::parse(&b.name).map_err(bad)?,
        address: b.address,
        login: b.login,
        credential,
        host_key: b.host_key,
        criticality: Criticality::parse(&b.criticality).map_err(bad)?,
        zone: Zone::parse(&b.zone).map_err(bad)?,
        tcp_ports: b.tcp_ports,
        phi: b.phi,
    })
}

/// List devices.
#[utoipa::path(get, operation_id = "list_devices", path = "/api/v1/devices", tag = "devices",
    responses((status = 200, body = [DeviceView]), (status = 403, body = ErrorBody)))]
pub async fn list(State(store): State<Store>, State(approvals): State<Approvals>, a: Authed) -> Result<Json<Vec<DeviceView>>, ApiError> {
    a.require(super::requests::READERS, "read devices")?;
    Ok(Json(store.list_devices().await?.iter().map(|d| view(&approvals, d)).collect()))
}

/// One device.
#[utoipa::path(get, operation_id = "show_devices", path = "/api/v1/devices/{name}", tag = "devices", params(("name" = String, Path, description = "device name")),
    responses((status = 200, body = DeviceView), (status = 404, body = ErrorBody)))]
pub async fn show(State(store): State<Store>, State(approvals): State<Approvals>, a: Authed, ApiPath(n): ApiPath<String>) -> Result<Json<DeviceView>, ApiError> {
    a.require(super::requests::READERS, "read devices")?;
    let name = DeviceName::parse(&n).map_err(bad)?;
    let d = store.device_by_name(&name).await?.ok_or_else(|| ApiError::not_found(format!("no device {n}")))?;
    Ok(Json(view(&approvals, &d)))
}

/// Enrol a device.
#[utoipa::path(post, operation_id = "create_devices", path = "/api/v1/devices", tag = "devices", request_body = NewDeviceBody,
    responses((status = 201, body = DeviceView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(admin): State<Admin>,
    State(approvals): State<Approvals>,
    a: Authed,
    ApiJson(b): ApiJson<NewDeviceBody>,
) -> Result<(StatusCode, Json<DeviceView>), ApiError> {
    a.require(&[Role::Admin], "manage devices")?;
    let spec = spec(b)?;
    let d = admin.create_device(&a.actor(), spec).await?;
    Ok((StatusCode::CREATED, Json(view(&approvals, &d))))
}

