//! A device's changes after enrolment, for admins: edit its settings, rotate its credential
//! (it goes in, never out), pin another host key checked some other way, enable it again.
//! Each is one call of the core administration service, so it is checked and audited
//! (old and new values, never a secret) exactly as from the command line or the page.

use super::devices::{bad, view};
use super::error::{ApiError, ErrorBody};
use super::views::DeviceView;
use super::{ApiJson, ApiPath};
use crate::auth::Authed;
use axum::extract::State;
use axum::Json;
use portcullis_core::admin::devices::{DeviceEdit, PinSource};
use portcullis_core::admin::Admin;
use portcullis_core::approvals::Approvals;
use portcullis_core::domain::{Criticality, DeviceName, Role, Zone};
use portcullis_core::store::Store;
use portcullis_core::vault::Credential;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What to change; fields left out keep their value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceEditBody {
    /// `HOST:PORT` of the device's SSH service.
    pub address: Option<String>,
    /// Account the broker logs in with.
    pub login: Option<String>,
    /// `standard`, `high` or `life-critical`.
    pub criticality: Option<String>,
    pub zone: Option<String>,
    /// The full new list of ports a grant may open (empty: none).
    pub tcp_ports: Option<Vec<u16>>,
    /// Tag (`true`) or untag (`false`) the device `phi`.
    pub phi: Option<bool>,
}

/// A new credential: exactly one of a password and an OpenSSH private key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialBody {
    pub password: Option<String>,
    pub private_key: Option<String>,
}

/// Another host key to pin, checked some other way (the device's console, its vendor).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HostKeyBody {
    /// OpenSSH public key line, `TYPE BASE64`.
    pub host_key: String,
}

/// A re-pinned host key.
#[derive(Serialize, ToSchema)]
pub struct RepinView {
    pub device: String,
    /// `SHA256:…` of the key pinned before (absent if it could not be read).
    pub old_fingerprint: Option<String>,
    pub new_fingerprint: String,
}

/// A rotated credential: only its kind.
#[derive(Serialize, ToSchema)]
pub struct CredentialView {
    pub device: String,
    /// `password` or `private-key`.
    pub credential: String,
}


/// Change a device's settings.
#[utoipa::path(patch, operation_id = "edit_devices", path = "/api/v1/devices/{name}", tag = "devices", request_body = DeviceEditBody,
    params(("name" = String, Path, description = "device name")),
    responses((status = 200, body = DeviceView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn edit(
    State(admin): State<Admin>,
    State(approvals): State<Approvals>,
    a: Authed,
    ApiPath(n): ApiPath<String>,
    ApiJson(b): ApiJson<DeviceEditBody>,
) -> Result<Json<DeviceView>, ApiError> {
    a.require(&[Role::Admin], "manage devices")?;
    let name = DeviceName::parse(&n).map_err(bad)?;
    let change = DeviceEdit {
        address: b.address,
        login: b.login,
        criticality: b.criticality.as_deref().map(Criticality::parse).transpose().map_err(bad)?,
        zone: b.zone.as_deref().map(Zone::parse).transpose().map_err(bad)?,
        tcp_ports: b.tcp_ports,
        phi: b.phi,
    };
    let d = admin.edit_device(&a.actor(), &name, change).await?;
    Ok(Json(view(&approvals, &d)))
}

/// Put a new credential for a device into the vault; the old one is never shown.
#[utoipa::path(post, operation_id = "rotate_devices_credential", path = "/api/v1/devices/{name}/credential", tag = "devices", request_body = CredentialBody,
    params(("name" = String, Path, description = "device name")),
    responses((status = 200, body = CredentialView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rotate(State(admin): State<Admin>, a: Authed, ApiPath(n): ApiPath<String>, ApiJson(b): ApiJson<CredentialBody>) -> Result<Json<CredentialView>, ApiError> {
    a.require(&[Role::Admin], "manage devices")?;
    let name = DeviceName::parse(&n).map_err(bad)?;
    let credential = match (b.password, b.private_key) {
        (Some(p), None) => Credential::Password(p),
        (None, Some(k)) => Credential::PrivateKey(k),
        _ => return Err(ApiError::bad_request("give exactly one of password and private_key")),
    };
    admin.rotate_device_credential(&a.actor(), &name, &credential).await?;
    Ok(Json(CredentialView { device: name.to_string(), credential: credential.kind().to_owned() }))
}

/// Pin another host key for a device.
#[utoipa::path(post, operation_id = "repin_devices", path = "/api/v1/devices/{name}/host-key", tag = "devices", request_body = HostKeyBody,
    params(("name" = String, Path, description = "device name")),
    responses((status = 200, body = RepinView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn repin(State(admin): State<Admin>, a: Authed, ApiPath(n): ApiPath<String>, ApiJson(b): ApiJson<HostKeyBody>) -> Result<Json<RepinView>, ApiError> {
    a.require(&[Role::Admin], "manage devices")?;
    let name = DeviceName::parse(&n).map_err(bad)?;
    let done = admin.repin_device(&a.actor(), &name, &b.host_key, PinSource::Given).await?;
    Ok(Json(RepinView { device: name.to_string(), old_fingerprint: done.old_fingerprint, new_fingerprint: done.new_fingerprint }))
}

/// Disable a device: no new requests or sessions.
#[utoipa::path(post, operation_id = "disable_devices", path = "/api/v1/devices/{name}/disable", tag = "devices", params(("name" = String, Path, description = "device name")),
    responses((status = 200, body = DeviceView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn disable(
    State(admin): State<Admin>,
    State(store): State<Store>,
    State(approvals): State<Approvals>,
    a: Authed,
    ApiPath(n): ApiPath<String>,
) -> Result<Json<DeviceView>, ApiError> {
    set_disabled(&admin, &store, &approvals, &a, &n, true).await
}

/// Enable a disabled device again.
#[utoipa::path(post, operation_id = "enable_devices", path = "/api/v1/devices/{name}/enable", tag = "devices", params(("name" = String, Path, description = "device name")),
    responses((status = 200, body = DeviceView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn enable(
    State(admin): State<Admin>,
    State(store): State<Store>,
    State(approvals): State<Approvals>,
    a: Authed,
    ApiPath(n): ApiPath<String>,
) -> Result<Json<DeviceView>, ApiError> {
    set_disabled(&admin, &store, &approvals, &a, &n, false).await
}

/// Disables or enables a device for an admin, and answers its view.
async fn set_disabled(admin: &Admin, store: &Store, approvals: &Approvals, a: &Authed, n: &str, disabled: bool) -> Result<Json<DeviceView>, ApiError> {
    a.require(&[Role::Admin], "manage devices")?;
    let name = DeviceName::parse(n).map_err(bad)?;
    admin.set_device_disabled(&a.actor(), &name, disabled).await?;
    Ok(Json(view(approvals, &store.require_device(&name).await?)))
}

/// An inventory to enrol, all or nothing.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// Check every device and answer what would be enrolled, writing nothing.
    #[serde(default)]
    pub dry_run: bool,
    pub devices: Vec<super::views::NewDeviceBody>,
}

/// One refused device of an inventory.
#[derive(Serialize, ToSchema)]
pub struct ImportError {
    /// 1-based position in `devices`.
    pub line: usize,
    pub error: String,
}

/// What an import did (or, with `dry_run`, would do).
#[derive(Serialize, ToSchema)]
pub struct ImportView {
    pub dry_run: bool,
    /// The devices enrolled (none when anything was refused).
    pub devices: Vec<String>,
    pub errors: Vec<ImportError>,
}

/// Enrol an inventory of devices in one transaction: every device is checked first and each
/// refusal named; only a clean inventory is written.
#[utoipa::path(post, operation_id = "import_devices", path = "/api/v1/device-inventory", tag = "devices", request_body = ImportBody,
    responses((status = 200, body = ImportView), (status = 400, body = ImportView), (status = 403, body = ErrorBody)))]
pub async fn import(State(admin): State<Admin>, a: Authed, ApiJson(b): ApiJson<ImportBody>) -> Result<(axum::http::StatusCode, Json<ImportView>), ApiError> {
    a.require(&[Role::Admin], "manage devices")?;
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    for (i, d) in b.devices.into_iter().enumerate() {
        match super::devices::spec(d) {
            Ok(spec) => rows.push((i + 1, spec)),
            Err(e) => errors.push(ImportError { line: i + 1, error: e.message }),
        }
    }
    let check_only = b.dry_run || !errors.is_empty();
    let names = match admin.import_devices(&a.actor(), rows, check_only).await? {
        Ok(names) => names,
        Err(refused) => {
            errors.extend(refused.into_iter().map(|e| ImportError { line: e.line, error: e.message }));
            Vec::new()
        }
    };
    errors.sort_by_key(|e| e.line);
    let status = if errors.is_empty() { axum::http::StatusCode::OK } else { axum::http::StatusCode::BAD_REQUEST };
    let devices = if errors.is_empty() { names.iter().map(ToString::to_string).collect() } else { Vec::new() };
    Ok((status, Json(ImportView { dry_run: b.dry_run, devices, errors })))
}
