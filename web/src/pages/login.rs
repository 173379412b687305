//! Sign-in and sign-out. The root sends visitors to sign in and signed-in users to the
//! requests. A sign-in form post must come from this site (Origin); a failed sign-in gets one
//! message whatever the reason, so the page never tells which accounts exist (the reason is
//! in the audit log). A first sign-in with a one-time password continues at `/enrol`.

use super::error::PageError;
use super::layout;
use super::visitor::MaybeUser;
use crate::api::error::ApiError;
use crate::auth::token::TokenKeys;
use crate::auth::{cookie, CsrfOnly, Gate, PageForm, Peer};
use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use portcullis_core::clock;
use portcullis_core::webauth::{SignIn, WebAuth, WebSession};
use serde::Deserialize;
use crate::sso::Sso;
use std::sync::Arc;

/// The one message of every failed sign-in.
const FAILED: &str = "Sign-in failed: wrong user name, password or code, or the account is locked.";

/// `GET /`.
pub async fn root(MaybeUser(user): MaybeUser) -> Redirect {
    match user {
        Some(_) => Redirect::to("/requests"),
        None => Redirect::to("/login"),
    }
}

fn login_page(username: &str, error: Option<&str>, sso: bool) -> Markup {
    layout::bare(
        "Sign in",
        html! {
            h1 { "Sign in" }
            p.lead { "For approvers, auditors and administrators. Vendors connect with SSH." }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            @if sso {
                p { a #sso.button.primary href="/login/sso" { "Sign in with the hospital account" } }
                p.hint { "Break-glass: local administrator sign-in with password and code (audited)." }
            }
            form #login .card method="post" action="/login" {
                label for="username" { "User name" }
                input #username name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required value=(username) autofocus[username.is_empty()];
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required autofocus[!username.is_empty()];
                label for="code" { "Authenticator code" }
                input #code name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="8";
                p.hint { "Leave the code empty at your first sign-in with a one-time password." }
                button.primary type="submit" { "Sign in" }
            }
        },
    )
}

/// `GET /login`.
pub async fn form(State(sso): State<Option<Arc<Sso>>>, MaybeUser(user): MaybeUser) -> Response {
    match user {
        Some(_) => Redirect::to("/requests").into_response(),
        None => login_page("", None, sso.is_some()).into_response(),
    }
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    code: String,
}

/// A redirect to `to` that sets the sign-in cookie for `s`.
pub fn with_cookie(keys: &TokenKeys, s: &WebSession, to: &str) -> Result<Response, PageError> {
    let (token, exp) = keys.issue(s).map_err(ApiError::internal)?;
    let value = HeaderValue::from_str(&cookie::set(&token, exp - clock::now())).map_err(ApiError::internal)?;
    let mut resp = Redirect::to(to).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, value);
    Ok(resp)
}

/// `POST /login`.
pub async fn submit(
    State(gate): State<Gate>,
    State(sso): State<Option<Arc<Sso>>>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, PageError> {
    if !gate.same_site(&headers) {
        return Err(ApiError::forbidden("cross-origin sign-in refused").into());
    }
    let Ok(Form(f)) = form else {
        return Ok((StatusCode::BAD_REQUEST, login_page("", Some(FAILED), sso.is_some())).into_response());
    };
    let peer = peer.map(|Extension(p)| p.0.to_string()).unwrap_or_else(|| "unknown".into());
    match gate.webauth.sign_in(&f.username, &f.password, &f.code, &peer).await.map_err(ApiError::from)? {
        Ok(SignIn::Done(s)) => with_cookie(&gate.keys, &s, "/requests"),
        Ok(SignIn::MustEnrol(s, _)) => with_cookie(&gate.keys, &s, "/enrol"),
        Err(_) => Ok((StatusCode::UNAUTHORIZED, login_page(f.username.trim(), Some(FAILED), sso.is_some())).into_response()),
    }
}

/// `POST /logout`: the sign-in ends at once and the cookie is removed.
pub async fn logout(State(webauth): State<WebAuth>, PageForm { user, .. }: PageForm<CsrfOnly>) -> Result<Response, PageError> {
    webauth.sign_out(&user.session, &user.peer).await.map_err(ApiError::from)?;
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie::clear()).map_err(ApiError::internal)?);
    Ok(resp)
}
