//! Sign-in, first-sign-in enrolment, token renewal, sign-out and "who am I". A failed
//! sign-in gets one message whatever the reason, so the answer never tells which accounts
//! exist; the reason is in the audit log.

use super::error::ApiError;
use super::views::{EnrolBody, EnrolmentView, LoginBody, MeView, TokenView};
use super::ApiJson;
use crate::auth::token::TokenKeys;
use crate::auth::{cookie, Authed, Enrolling, Gate, Peer};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use portcullis_core::clock;
use portcullis_core::webauth::{EnrolRefusal, SignIn, TotpEnrolment, WebAuth, WebSession};
use std::sync::Arc;

/// The answer to a successful sign-in: token in the body and in the cookie.
pub fn signed_in(keys: &TokenKeys, s: &WebSession, enrolment: Option<TotpEnrolment>) -> Result<Response, ApiError> {
    let (token, exp) = keys.issue(s).map_err(ApiError::internal)?;
    let body = TokenView {
        token: token.clone(),
        csrf: keys.csrf(&s.id),
        expires_at: clock::rfc3339(exp),
        must_enrol: enrolment.is_some(),
        enrolment: enrolment.map(|e| EnrolmentView { totp_secret: e.secret_base32, otpauth_uri: e.otpauth_uri }),
    };
    let mut resp = Json(body).into_response();
    let v = cookie::set(&token, exp - clock::now()).parse().map_err(ApiError::internal)?;
    resp.headers_mut().insert(header::SET_COOKIE, v);
    Ok(resp)
}

fn failed() -> ApiError {
    ApiError::unauthenticated("sign-in failed: wrong user name, password or code, or the account is locked")
}

/// Sign in with user name, password and TOTP code.
#[utoipa::path(post, operation_id = "auth_login", path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = TokenView), (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody)))]
pub async fn login(State(gate): State<Gate>, peer: Option<Extension<Peer>>, headers: HeaderMap, ApiJson(body): ApiJson<LoginBody>) -> Result<Response, ApiError> {
    if headers.contains_key(header::ORIGIN) && !gate.same_site(&headers) {
        return Err(ApiError::forbidden("cross-origin sign-in refused"));
    }
    let peer = peer.map(|Extension(p)| p.0.to_string()).unwrap_or_else(|| "unknown".into());
    match gate.webauth.sign_in(&body.username, &body.password, &body.code, &peer).await? {
        Ok(SignIn::Done(s)) => signed_in(&gate.keys, &s, None),
        Ok(SignIn::MustEnrol(s, e)) => signed_in(&gate.keys, &s, Some(e)),
        Err(_) => Err(failed()),
    }
}

/// First sign-in: set the permanent password and confirm the authenticator with a code.
#[utoipa::path(post, operation_id = "auth_enrol", path = "/api/v1/auth/enrol", tag = "auth", request_body = EnrolBody,
    responses((status = 200, body = TokenView), (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody)))]
pub async fn enrol(
    State(webauth): State<WebAuth>,
    State(keys): State<Arc<TokenKeys>>,
    Enrolling(a): Enrolling,
    ApiJson(body): ApiJson<EnrolBody>,
) -> Result<Response, ApiError> {
    match webauth.finish_enrolment(&a.session, &body.new_password, &body.code, &a.peer).await? {
        Ok(full) => signed_in(&keys, &full, None),
        Err(EnrolRefusal::BadPassword(m)) => Err(ApiError::bad_request(m)),
        Err(EnrolRefusal::Code(_)) => Err(ApiError::bad_request("the code was not accepted; wait for the next code and try again")),
        Err(EnrolRefusal::NotEnrolling) => Err(ApiError::forbidden("already enrolled")),
    }
}

/// A fresh token for the same sign-in (until the sign-in's own end).
#[utoipa::path(post, operation_id = "auth_refresh", path = "/api/v1/auth/refresh", tag = "auth",
    responses((status = 200, body = TokenView), (status = 401, body = super::error::ErrorBody)))]
pub async fn refresh(State(keys): State<Arc<TokenKeys>>, a: Authed) -> Result<Response, ApiError> {
    signed_in(&keys, &a.session, None)
}

/// Sign out: the token and the cookie stop working at once.
#[utoipa::path(post, operation_id = "auth_logout", path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = super::error::ErrorBody)))]
pub async fn logout(State(webauth): State<WebAuth>, a: Authed) -> Result<Response, ApiError> {
    webauth.sign_out(&a.session, &a.peer).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(header::SET_COOKIE, cookie::clear().parse().map_err(ApiError::internal)?);
    Ok(resp)
}

/// The signed-in user.
#[utoipa::path(get, operation_id = "auth_me", path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = MeView), (status = 401, body = super::error::ErrorBody)))]
pub async fn me(a: Authed) -> Json<MeView> {
    Json(MeView {
        username: a.name().to_string(),
        role: a.role().to_string(),
        org: a.session.user.org.clone(),
        csrf: a.csrf.clone(),
        signed_in_until: clock::rfc3339(a.session.expires_at),
    })
}
