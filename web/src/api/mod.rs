//! The JSON API under `/api/v1`. Every route is registered through [`Routes::add`], which
//! also lists it, so a test can hold the router's routes against the OpenAPI document built
//! from the handlers' annotations ([`openapi`]). Bodies and path parameters go through
//! [`ApiJson`] and [`ApiPath`], so malformed input is answered in the API's error shape.

pub mod access;
pub mod accounts;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod breakglass;
pub mod containments;
pub mod device_changes;
pub mod devices;
/// The API's error answers ([`crate::api_error`], a leaf that the extractors use too).
pub use crate::api_error as error;
pub mod evidence;
pub mod live;
pub mod live_hop;
pub mod live_tail;
pub mod moderation;
pub mod openapi;
pub mod recordings;
pub mod requests;
pub mod sessions;
pub mod users;
pub mod views;
pub mod viewings;

use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use error::ApiError;
use serde::de::DeserializeOwned;

/// The API router and the list of what it serves.
pub struct Routes {
    pub router: Router<AppState>,
    /// `(METHOD, path)` in OpenAPI path syntax.
    pub list: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn add(mut self, methods: &[&'static str], path: &'static str, route: MethodRouter<AppState>) -> Routes {
        self.router = self.router.route(path, route);
        self.list.extend(methods.iter().map(|m| (*m, path)));
        self
    }
}

/// Every API route.
pub fn router() -> Routes {
    Routes { router: Router::new(), list: Vec::new() }
        .add(&["GET"], "/api/v1/openapi.json", get(openapi::serve))
        .add(&["POST"], "/api/v1/auth/login", post(auth::login))
        .add(&["POST"], "/api/v1/auth/logout", post(auth::logout))
        .add(&["POST"], "/api/v1/auth/enrol", post(auth::enrol))
        .add(&["POST"], "/api/v1/auth/refresh", post(auth::refresh))
        .add(&["GET"], "/api/v1/me", get(auth::me))
        .add(&["GET", "POST"], "/api/v1/requests", get(requests::list).post(requests::create))
        .add(&["GET"], "/api/v1/requests/pending-count", get(requests::pending_count))
        .add(&["GET"], "/api/v1/requests/{id}", get(requests::show))
        .add(&["POST"], "/api/v1/requests/{id}/approve", post(requests::approve))
        .add(&["POST"], "/api/v1/requests/{id}/deny", post(requests::deny))
        .add(&["POST"], "/api/v1/requests/{id}/revoke", post(requests::revoke))
        .add(&["GET"], "/api/v1/sessions", get(sessions::list))
        .add(&["GET"], "/api/v1/sessions/{id}", get(sessions::show))
        .add(&["POST"], "/api/v1/sessions/{id}/stop", post(sessions::stop))
        .add(&["GET"], "/api/v1/sessions/{id}/audit", get(sessions::audit))
        .add(&["GET"], "/api/v1/sessions/{id}/recordings", get(recordings::list))
        .add(&["GET"], "/api/v1/sessions/{id}/recordings/{channel}", get(recordings::download))
        .add(&["POST"], "/api/v1/sessions/{id}/evidence", post(evidence::create))
        .add(&["GET"], "/api/v1/sessions/{id}/live", get(live::watch))
        .add(&["POST"], "/api/v1/sessions/{id}/moderation/pause", post(moderation::pause))
        .add(&["POST"], "/api/v1/sessions/{id}/moderation/resume", post(moderation::resume))
        .add(&["GET", "POST"], "/api/v1/users", get(users::list).post(users::create))
        .add(&["GET"], "/api/v1/users/{name}", get(users::show))
        .add(&["POST"], "/api/v1/users/{name}/disable", post(users::disable))
        .add(&["POST"], "/api/v1/users/{name}/enable", post(users::enable))
        .add(&["GET", "POST"], "/api/v1/users/{name}/keys", get(accounts::keys).post(accounts::add_key))
        .add(&["POST"], "/api/v1/users/{name}/keys/remove", post(accounts::remove_key))
        .add(&["POST"], "/api/v1/users/{name}/expiry", post(accounts::expiry))
        .add(&["POST"], "/api/v1/users/{name}/reset-totp", post(accounts::reset_totp))
        .add(&["POST"], "/api/v1/users/{name}/access", post(accounts::access))
        .add(&["GET", "POST"], "/api/v1/devices", get(devices::list).post(devices::create))
        .add(&["GET", "PATCH"], "/api/v1/devices/{name}", get(devices::show).patch(device_changes::edit))
        .add(&["POST"], "/api/v1/devices/{name}/disable", post(device_changes::disable))
        .add(&["POST"], "/api/v1/devices/{name}/enable", post(device_changes::enable))
        .add(&["POST"], "/api/v1/devices/{name}/credential", post(device_changes::rotate))
        .add(&["POST"], "/api/v1/devices/{name}/host-key", post(device_changes::repin))
        .add(&["POST"], "/api/v1/device-inventory", post(device_changes::import))
        .add(&["GET", "POST"], "/api/v1/containments", get(containments::list).post(containments::contain))
        .add(&["GET"], "/api/v1/containments/preview", get(containments::preview))
        .add(&["POST"], "/api/v1/containments/lift", post(containments::lift))
        .add(&["GET"], "/api/v1/audit", get(audit::list))
        .add(&["POST"], "/api/v1/audit/verify", post(audit::verify))
        .add(&["GET"], "/api/v1/alerts", get(alerts::list))
        .add(&["POST"], "/api/v1/alerts/{seq}/acknowledge", post(alerts::acknowledge))
        .add(&["GET"], "/api/v1/breakglass", get(breakglass::list))
        .add(&["GET"], "/api/v1/breakglass/{id}", get(breakglass::show))
        .add(&["POST"], "/api/v1/breakglass/{id}/review", post(breakglass::review))
}

/// A JSON body; malformed JSON, unknown fields and oversized bodies become API errors.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(v) = Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(v))
    }
}

/// A path parameter.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(v) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(v))
    }
}

/// Query parameters.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(v) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(v))
    }
}
