//! An account's changes after enrolment, for admins: a vendor's SSH keys (list, add, remove —
//! never the last one), its end date, a new TOTP secret (shown once in the answer), and what
//! it may see (an auditor's zones, permissions such as `phi`). Each
//! is one call of the core administration service, checked and audited as from the CLI or the
//! page.

use super::error::{ApiError, ErrorBody};
use super::users::{name, ADMINS};
use super::views::UserView;
use super::{ApiJson, ApiPath};
use crate::auth::Authed;
use axum::extract::State;
use axum::Json;
use portcullis_core::admin::accounts::AccessEdit;
use portcullis_core::admin::Admin;
use portcullis_core::domain::{Permission, ZoneSet};
use portcullis_core::clock;
use portcullis_core::store::Store;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One SSH key of an account.
#[derive(Serialize, ToSchema)]
pub struct KeyView {
    /// `SHA256:…`.
    pub fingerprint: String,
    /// The OpenSSH public key line.
    pub public_key: String,
    pub added_at: String,
}

/// A key to add.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    /// OpenSSH public key line, `TYPE BASE64 [comment]`.
    pub public_key: String,
}

/// A key to remove, by its fingerprint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveKeyBody {
    /// `SHA256:…`, as listed.
    pub fingerprint: String,
}

/// An account's end date.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpiryBody {
    /// RFC 3339 time after which sign-in is refused; null clears it.
    pub expires_at: Option<String>,
}

/// A new TOTP secret, to hand to the account holder once.
#[derive(Serialize, ToSchema)]
pub struct TotpView {
    pub username: String,
    pub totp_secret: String,
    pub otpauth_uri: String,
}

/// An RFC 3339 end date as Unix seconds; absent or empty is none.
pub fn end_date(at: Option<&str>) -> Result<Option<i64>, ApiError> {
    match at.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(|t| Some(t.unix_timestamp()))
            .map_err(|_| ApiError::bad_request("expires_at must be an RFC 3339 time, e.g. 2027-03-31T23:59:59Z")),
    }
}


async fn key_views(admin: &Admin, n: &portcullis_core::domain::Username) -> Result<Vec<KeyView>, ApiError> {
    let keys = admin.user_keys(n).await?;
    Ok(keys.into_iter().map(|k| KeyView { fingerprint: k.fingerprint, public_key: k.public_key, added_at: clock::rfc3339(k.added_at) }).collect())
}

/// An account's SSH keys.
#[utoipa::path(get, operation_id = "list_users_keys", path = "/api/v1/users/{name}/keys", tag = "users", params(("name" = String, Path, description = "user name")),
    responses((status = 200, body = [KeyView]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn keys(State(admin): State<Admin>, a: Authed, ApiPath(n): ApiPath<String>) -> Result<Json<Vec<KeyView>>, ApiError> {
    a.require(ADMINS, "manage users")?;
    Ok(Json(key_views(&admin, &name(&n)?).await?))
}

/// Add an SSH key to a vendor account; answers with all its keys.
#[utoipa::path(post, operation_id = "add_users_keys", path = "/api/v1/users/{name}/keys", tag = "users", request_body = NewKeyBody,
    params(("name" = String, Path, description = "user name")),
    responses((status = 200, body = [KeyView]), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_key(State(admin): State<Admin>, a: Authed, ApiPath(n): ApiPath<String>, ApiJson(b): ApiJson<NewKeyBody>) -> Result<Json<Vec<KeyView>>, ApiError> {
    a.require(ADMINS, "manage users")?;
    let n = name(&n)?;
    admin.add_user_key(&a.actor(), &n, &b.public_key).await?;
    Ok(Json(key_views(&admin, &n).await?))
}

/// Remove one of a vendor's SSH keys (refused for the last one); answers with the rest.
#[utoipa::path(post, operation_id = "remove_users_keys", path = "/api/v1/users/{name}/keys/remove", tag = "users", request_body = RemoveKeyBody,
    params(("name" = String, Path, description = "user name")),
    responses((status = 200, body = [KeyView]), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_key(State(admin): State<Admin>, a: Authed, ApiPath(n): ApiPath<String>, ApiJson(b): ApiJson<RemoveKeyBody>) -> Result<Json<Vec<KeyView>>, ApiError> {
    a.require(ADMINS, "manage users")?;
    let n = name(&n)?;
    admin.remove_user_key(&a.actor(), &n, &b.fingerprint).await?;
    Ok(Json(key_views(&admin, &n).await?))
}

/// Set or clear an account's end date.
#[utoipa::path(post, operation_id = "set_users_expiry", path = "/api/v1/users/{name}/expiry", tag = "users", request_body = ExpiryBody,
    params(("name" = String, Path, description = "user name")),
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn expiry(State(admin): State<Admin>, State(store): State<Store>, a: Authed, ApiPath(n): ApiPath<String>, ApiJson(b): ApiJson<ExpiryBody>) -> Result<Json<UserView>, ApiError> {
    a.require(ADMINS, "manage users")?;
    let n = name(&n)?;
    admin.set_user_expiry(&a.actor(), &n, end_date(b.expires_at.as_deref())?).await?;
    Ok(Json(UserView::from(&store.require_user(&n).await?)))
}

/// Give an account a new TOTP secret: the old codes stop working, web sign-ins end.
#[utoipa::path(post, operation_id = "reset_users_totp", path = "/api/v1/users/{name}/reset-totp", tag = "users", params(("name" = String, Path, description = "user name")),
    responses((status = 200, body = TotpView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reset_totp(State(admin): State<Admin>, a: Authed, ApiPath(n): ApiPath<String>) -> Result<Json<TotpView>, ApiError> {
    a.require(ADMINS, "manage users")?;
    let n = name(&n)?;
    let e = admin.reset_totp(&a.actor(), &n).await?;
    Ok(Json(TotpView { username: n.to_string(), totp_secret: e.totp_secret_base32.clone(), otpauth_uri: e.otpauth_uri.clone() }))
}

/// What an account may see: the zones an auditor is limited to, and permissions to grant or
/// revoke. Fields left out keep their value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessBody {
    /// The zones from now on (auditors only); an empty list lifts the limit.
    pub zones: Option<Vec<String>>,
    /// Permissions to grant (`phi`).
    #[serde(default)]
    pub grant: Vec<String>,
    /// Permissions to revoke.
    #[serde(default)]
    pub revoke: Vec<String>,
}

/// Change the zones an auditor is limited to, or grant and revoke permissions (one audited
/// write, `user.access_changed`).
#[utoipa::path(post, operation_id = "set_users_access", path = "/api/v1/users/{name}/access", tag = "users", request_body = AccessBody,
    params(("name" = String, Path, description = "user name")),
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn access(State(admin): State<Admin>, a: Authed, ApiPath(n): ApiPath<String>, ApiJson(b): ApiJson<AccessBody>) -> Result<Json<UserView>, ApiError> {
    a.require(ADMINS, "manage users")?;
    let n = name(&n)?;
    let bad = |e: portcullis_core::domain::ParseError| ApiError::bad_request(e.to_string());
    let zones = b.zones.map(|z| ZoneSet::parse(&z.join(","))).transpose().map_err(bad)?;
    let words = |w: &[String]| w.iter().map(|p| Permission::parse(p.trim())).collect::<Result<Vec<_>, _>>();
    let edit = AccessEdit { zones, grant: words(&b.grant).map_err(bad)?, revoke: words(&b.revoke).map_err(bad)? };
    let user = admin.set_user_access(&a.actor(), &n, edit).await?;
    Ok(Json(UserView::from(&user)))
}
