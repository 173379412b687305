//! Accounts, for admins: list, show, enrol (the answer carries the TOTP secret or one-time
//! password, shown once), disable and enable. Disabling ends the account's web sign-ins and
//! SSH logins at once.

use portcullis_core::admin::NewUserSpec;
use super::error::{ApiError, ErrorBody};
use super::views::{CreatedUserView, NewUserBody, UserView};
use super::{ApiJson, ApiPath};
use crate::auth::Authed;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use portcullis_core::admin::Admin;
use portcullis_core::domain::{Role, Username};
use portcullis_core::store::Store;

pub(super) const ADMINS: &[Role] = &[Role::Admin];

pub(super) fn name(s: &str) -> Result<Username, ApiError> {
    Username::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// List accounts.
#[utoipa::path(get, operation_id = "list_users", path = "/api/v1/users", tag = "users",
    responses((status = 200, body = [UserView]), (status = 403, body = ErrorBody)))]
pub async fn list(State(store): State<Store>, a: Authed) -> Result<Json<Vec<UserView>>, ApiError> {
    a.require(ADMINS, "manage users")?;
    Ok(Json(store.list_users().await?.iter().map(UserView::from).collect()))
}

/// One account.
#[utoipa::path(get, operation_id = "show_users", path = "/api/v1/users/{name}", tag = "users", params(("name" = String, Path, description = "user name")),
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(State(store): State<Store>, a: Authed, ApiPath(n): ApiPath<String>) -> Result<Json<UserView>, ApiError> {
    a.require(ADMINS, "manage users")?;
    let u = store.user_by_name(&name(&n)?).await?.ok_or_else(|| ApiError::not_found(format!("no user {n}")))?;
    Ok(Json(UserView::from(&u)))
}

/// Enrol an account.
#[utoipa::path(post, operation_id = "create_users", path = "/api/v1/users", tag = "users", request_body = NewUserBody,
    responses((status = 201, body = CreatedUserView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(State(admin): State<Admin>, a: Authed, ApiJson(b): ApiJson<NewUserBody>) -> Result<(StatusCode, Json<CreatedUserView>), ApiError> {
    a.require(ADMINS, "manage users")?;
    let n = name(&b.username)?;
    let role = Role::parse(&b.role).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let actor = a.actor();
    let expires_at = super::accounts::end_date(b.expires_at.as_deref())?;
    let bad = |e: portcullis_core::domain::ParseError| ApiError::bad_request(e.to_string());
    let zones = portcullis_core::domain::ZoneSet::parse(&b.zones.join(",")).map_err(bad)?;
    let permissions = portcullis_core::domain::PermissionSet::parse(&b.permissions.join(",")).map_err(bad)?;
    let spec = NewUserSpec::new(n.clone(), role, &b.org).ssh_keys(b.ssh_keys.to_vec()).expires_at(expires_at).access(zones, permissions);
    let (user, e) = admin.create_user(&actor, spec).await?;
    let vendor = role == Role::Vendor;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUserView {
            user: UserView::from(&user),
            // A web account's secret is replaced at its first sign-in, so only vendors get one here.
            totp_secret: vendor.then(|| e.totp_secret_base32.clone()),
            otpauth_uri: vendor.then(|| e.otpauth_uri.clone()),
            one_time_password: e.one_time_password,
        }),
    ))
}

async fn set_disabled(admin: &Admin, store: &Store, a: &Authed, n: &str, disabled: bool) -> Result<Json<UserView>, ApiError> {
    a.require(ADMINS, "manage users")?;
    let n = name(n)?;
    if disabled && &n == a.name() {
        return Err(ApiError::bad_request("you cannot disable your own account"));
    }
    admin.set_user_disabled(&a.actor(), &n, disabled).await?;
    let u = store.require_user(&n).await?;
    Ok(Json(UserView::from(&u)))
}

/// Disable an account.
#[utoipa::path(post, operation_id = "disable_users", path = "/api/v1/users/{name}/disable", tag = "users", params(("name" = String, Path, description = "user name")),
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn disable(State(admin): State<Admin>, State(store): State<Store>, a: Authed, ApiPath(n): ApiPath<String>) -> Result<Json<UserView>, ApiError> {
    set_disabled(&admin, &store, &a, &n, true).await
}

/// Enable an account again.
#[utoipa::path(post, operation_id = "enable_users", path = "/api/v1/users/{name}/enable", tag = "users", params(("name" = String, Path, description = "user name")),
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn enable(State(admin): State<Admin>, State(store): State<Store>, a: Authed, ApiPath(n): ApiPath<String>) -> Result<Json<UserView>, ApiError> {
    set_disabled(&admin, &store, &a, &n, false).await
}
