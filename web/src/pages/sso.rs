//! Single sign-on pages. `/login/sso` sends the browser to the hospital's OpenID provider
//! with a fresh state (also put in a short-lived cookie, so the answer must come back to the
//! browser that started it); `/login/sso/callback` verifies the provider's answer
//! ([`crate::sso::Sso::finish`]) and signs the account in ([`WebAuth::sign_in_sso`]), or
//! shows why not (every refusal is audited as `auth.sso.refused`). When the provider's
//! sign-in does not count as multi-factor, `/login/sso/code` asks for the local TOTP code
//! (showing the secret for enrolment only at the code step of the sign-in that created the
//! account).

use super::enrol::secret_block;
use super::error::PageError;
use super::layout;
use super::login::with_cookie;
use crate::api::error::ApiError;
use crate::auth::{Gate, Peer};
use crate::sso::{Refused, Sso};
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::html;
use portcullis_core::webauth::{SsoRefusal, SsoSignIn, WebAuth};
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Cookie carrying the state of the sign-in this browser started.
const STATE_COOKIE: &str = "__Host-portcullis-sso";
/// Cookie naming this browser's pending code step.
const CODE_COOKIE: &str = "__Host-portcullis-sso-code";

fn set_cookie(name: &str, value: &str, max_age: u64) -> String {
    // Lax: the provider's redirect back is a top-level navigation from another site.
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age}")
}

fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn add_cookie(resp: &mut Response, value: &str) -> Result<(), PageError> {
    resp.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(value).map_err(ApiError::internal)?);
    Ok(())
}

fn peer_of(peer: Option<Extension<Peer>>) -> String {
    peer.map(|Extension(p)| p.0.to_string()).unwrap_or_else(|| "unknown".into())
}

fn need(sso: Option<Arc<Sso>>) -> Result<Arc<Sso>, PageError> {
    sso.ok_or_else(|| PageError::not_found("single sign-on is not configured"))
}

/// The page of a refused sign-in.
fn refused_page(message: &str) -> Response {
    let body = html! {
        h1 { "Sign-in refused" }
        p.error #sso-refused role="alert" { (message) }
        p { a href="/login" { "Back to sign-in" } }
    };
    let mut resp = (StatusCode::FORBIDDEN, layout::bare("Sign-in refused", body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(STATE_COOKIE, "", 0)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

async fn refuse(webauth: &WebAuth, sso: &Sso, r: &Refused, peer: &str) -> Result<Response, PageError> {
    let mut detail = json!({ "issuer": sso.issuer() });
    let mut actor = "anonymous".to_owned();
    match r {
        Refused::UnknownGroup(v) | Refused::AmbiguousGroups(v) => {
            detail = json!({ "issuer": v.identity.issuer, "sub": v.identity.subject, "groups": v.groups, "preferred_username": v.identity.name_hint });
            actor = format!("sso:{}", v.identity.subject);
        }
        Refused::Provider(e) | Refused::Exchange(e) | Refused::Unavailable(e) | Refused::Token(_, e) => {
            detail = json!({ "issuer": sso.issuer(), "error": e });
        }
        Refused::State | Refused::Busy => {}
    }
    webauth.audit_sso_refusal(&actor, r.reason(), peer, detail).await.map_err(ApiError::from)?;
    tracing::info!(reason = r.reason(), "single sign-on refused");
    Ok(refused_page(&r.message()))
}

/// `GET /login/sso`: off to the provider.
pub async fn start(State(sso): State<Option<Arc<Sso>>>, State(webauth): State<WebAuth>, peer: Option<Extension<Peer>>) -> Result<Response, PageError> {
    let sso = need(sso)?;
    let (url, state) = match sso.begin().await {
        Ok(x) => x,
        Err(r) => return refuse(&webauth, &sso, &r, &peer_of(peer)).await,
    };
    let mut resp = Redirect::to(&url).into_response();
    add_cookie(&mut resp, &set_cookie(STATE_COOKIE, &state, sso.state_ttl().as_secs()))?;
    Ok(resp)
}

/// What the provider sends back.
#[derive(Deserialize)]
pub struct Callback {
    #[serde(default)]
    state: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    error: Option<String>,
}

/// `GET /login/sso/callback`.
pub async fn callback(
    State(sso): State<Option<Arc<Sso>>>,
    State(gate): State<Gate>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    query: Result<Query<Callback>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let sso = need(sso)?;
    let webauth = &gate.webauth;
    let peer = peer_of(peer);
    let Ok(Query(q)) = query else { return refuse(webauth, &sso, &Refused::State, &peer).await };
    if let Some(e) = q.error {
        let _ = sso.finish(&q.state, None, "").await;
        return refuse(webauth, &sso, &Refused::Provider(e.chars().take(100).collect()), &peer).await;
    }
    let browser_state = read_cookie(&headers, STATE_COOKIE);
    let v = match sso.finish(&q.state, browser_state.as_deref(), &q.code).await {
        Ok(v) => v,
        Err(r) => return refuse(webauth, &sso, &r, &peer).await,
    };
    let id = v.identity;
    let mut resp = match webauth.sign_in_sso(&id, &peer).await.map_err(ApiError::from)? {
        Ok(SsoSignIn::Done(s)) => continue_page(&gate.keys, &s)?,
        Ok(SsoSignIn::NeedsCode { user, new_account }) => {
            let mut raw = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut raw);
            let step = hex::encode(raw);
            if !sso.code_steps.put(step.clone(), (user.username, new_account)) {
                return refuse(webauth, &sso, &Refused::Busy, &peer).await;
            }
            let mut resp = Redirect::to("/login/sso/code").into_response();
            add_cookie(&mut resp, &set_cookie(CODE_COOKIE, &step, 300))?;
            resp
        }
        Err(SsoRefusal::Disabled) => return Ok(refused_page("Your Portcullis account is disabled.")),
        Err(SsoRefusal::Vendor) => return Ok(refused_page("Vendor accounts sign in with SSH, not here.")),
    };
    add_cookie(&mut resp, &set_cookie(STATE_COOKIE, "", 0))?;
    Ok(resp)
}

/// The answer to a signed-in callback: the sign-in cookie and a page that moves on to the
/// requests. Not a redirect: the callback is a navigation started at the provider's site, so
/// a redirect would still count as cross-site and the browser would leave out the
/// `SameSite=Strict` sign-in cookie; the refresh from this page is same-site.
fn continue_page(keys: &crate::auth::token::TokenKeys, s: &portcullis_core::webauth::WebSession) -> Result<Response, PageError> {
    let mut resp = with_cookie(keys, s, "/requests")?;
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().remove(header::LOCATION);
    resp.headers_mut().insert(header::REFRESH, HeaderValue::from_static("0; url=/requests"));
    let body = html! {
        h1 { "Signed in" }
        p { a #continue href="/requests" { "Continue to the requests" } }
    };
    *resp.body_mut() = axum::body::Body::from(layout::bare("Signed in", body).into_string());
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    Ok(resp)
}

async fn code_page(webauth: &WebAuth, sso: &Sso, headers: &HeaderMap, error: Option<&str>) -> Result<Response, PageError> {
    let Some((name, new_account)) = read_cookie(headers, CODE_COOKIE).and_then(|id| sso.code_steps.get(&id)) else {
        return Ok(Redirect::to("/login").into_response());
    };
    let store_user = webauth_user(webauth, &name).await?;
    let enrolment = match &store_user {
        Some(u) if new_account => webauth.sso_totp_enrolment(u).await.map_err(ApiError::from)?,
        _ => None,
    };
    let status = if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    let body = html! {
        h1 { "One more step" }
        p.lead { "Signed in at the identity provider as " (name.as_str()) ". Portcullis also needs your authenticator code." }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        @if let Some(e) = &enrolment {
            section.card {
                h2 { "Add Portcullis to your authenticator" }
                (secret_block(e))
            }
        }
        form #sso-code .card method="post" action="/login/sso/code" {
            label for="code" { "Authenticator code" }
            input #code name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="8" required autofocus;
            button.primary type="submit" { "Sign in" }
        }
    };
    Ok((status, layout::bare("Authenticator code", body)).into_response())
}

async fn webauth_user(webauth: &WebAuth, name: &portcullis_core::domain::Username) -> Result<Option<portcullis_core::store::UserRecord>, PageError> {
    webauth.user(name).await.map_err(|e| ApiError::from(e).into())
}

/// `GET /login/sso/code`.
pub async fn code_form(State(sso): State<Option<Arc<Sso>>>, State(webauth): State<WebAuth>, headers: HeaderMap) -> Result<Response, PageError> {
    let sso = need(sso)?;
    code_page(&webauth, &sso, &headers, None).await
}

/// The code form.
#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

/// `POST /login/sso/code`.
pub async fn code_submit(
    State(sso): State<Option<Arc<Sso>>>,
    State(gate): State<Gate>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    form: Result<Form<CodeForm>, FormRejection>,
) -> Result<Response, PageError> {
    let sso = need(sso)?;
    if !gate.same_site(&headers) {
        return Err(ApiError::forbidden("cross-origin sign-in refused").into());
    }
    let Some(step) = read_cookie(&headers, CODE_COOKIE) else { return Ok(Redirect::to("/login").into_response()) };
    let Some((name, _)) = sso.code_steps.get(&step) else { return Ok(Redirect::to("/login").into_response()) };
    let code = form.map(|Form(f)| f.code).unwrap_or_default();
    match gate.webauth.finish_sso_code(&name, &code, &peer_of(peer)).await.map_err(ApiError::from)? {
        Ok(s) => {
            let _ = sso.code_steps.take(&step);
            let mut resp = with_cookie(&gate.keys, &s, "/requests")?;
            add_cookie(&mut resp, &set_cookie(CODE_COOKIE, "", 0))?;
            Ok(resp)
        }
        Err(_) => code_page(&gate.webauth, &sso, &headers, Some("The code was not accepted (wrong, already used, or the account is locked).")).await,
    }
}
