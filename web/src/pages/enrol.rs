//! The first sign-in: after a one-time password, the user adds the new TOTP secret to an
//! authenticator app (QR code of the `otpauth://` URI, or the secret typed in), chooses a
//! permanent password (twice) and proves the authenticator works with a code. Then the
//! sign-in becomes a full one and the requests page opens.

use super::error::PageError;
use super::layout;
use super::login::with_cookie;
use super::visitor::EnrolUser;
use crate::api::error::ApiError;
use crate::auth::{Authed, EnrolForm, HasCsrf, PageForm};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use maud::{html, Markup};
use crate::auth::token::TokenKeys;
use portcullis_core::webauth::{EnrolRefusal, TotpEnrolment, WebAuth, MIN_PASSWORD_CHARS};
use std::sync::Arc;
use serde::Deserialize;

/// The QR code of `uri` as an `<img>` source (an SVG data URI: the CSP allows `data:` images).
pub fn qr_data_uri(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(220, 220).quiet_zone(true).build();
    Some(format!("data:image/svg+xml;base64,{}", base64::engine::general_purpose::STANDARD.encode(svg)))
}

/// The secret as a QR code and as text, for an authenticator app.
pub fn secret_block(e: &TotpEnrolment) -> Markup {
    html! {
        div.secret {
            @if let Some(src) = qr_data_uri(&e.otpauth_uri) {
                img.qr src=(src) width="220" height="220" alt="QR code of the authenticator secret";
            }
            div {
                p { "Scan the code with your authenticator app, or type this secret:" }
                p { code #totp-secret { (e.secret_base32) } }
                p.hint { "Time-based, 6 digits, every 30 seconds (SHA-1)." }
            }
        }
    }
}

async fn enrol_page(webauth: &WebAuth, user: &Authed, error: Option<&str>) -> Result<Response, PageError> {
    let Some(e) = webauth.pending_enrolment(&user.session).await.map_err(ApiError::from)? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let body = html! {
        h1 { "First sign-in" }
        p.lead { "Welcome, " (user.name().as_str()) ". Set up your authenticator and choose your own password." }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        section.card {
            h2 { "1. Add Portcullis to your authenticator" }
            (secret_block(&e))
        }
        form #enrol .card method="post" action="/enrol" {
            h2 { "2. Choose a password and confirm" }
            input type="hidden" name="_csrf" value=(user.csrf);
            label for="new_password" { "New password (at least " (MIN_PASSWORD_CHARS) " characters)" }
            input #new_password name="new_password" type="password" autocomplete="new-password" required minlength=(MIN_PASSWORD_CHARS);
            label for="new_password2" { "New password again" }
            input #new_password2 name="new_password2" type="password" autocomplete="new-password" required minlength=(MIN_PASSWORD_CHARS);
            label for="code" { "Code shown by the authenticator" }
            input #code name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="8" required;
            button.primary type="submit" { "Finish" }
        }
    };
    Ok((status, layout::bare("First sign-in", body)).into_response())
}

/// `GET /enrol`.
pub async fn form(State(webauth): State<WebAuth>, EnrolUser(user): EnrolUser) -> Result<Response, PageError> {
    enrol_page(&webauth, &user, None).await
}

/// The enrolment form.
#[derive(Deserialize)]
pub struct EnrolFields {
    #[serde(rename = "_csrf")]
    csrf: String,
    new_password: String,
    new_password2: String,
    code: String,
}

impl HasCsrf for EnrolFields {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /enrol`.
pub async fn submit(
    State(webauth): State<WebAuth>,
    State(keys): State<Arc<TokenKeys>>,
    EnrolForm(PageForm { user, form }): EnrolForm<EnrolFields>,
) -> Result<Response, PageError> {
    if form.new_password != form.new_password2 {
        return enrol_page(&webauth, &user, Some("The two passwords differ; type the same password twice.")).await;
    }
    match webauth.finish_enrolment(&user.session, &form.new_password, &form.code, &user.peer).await.map_err(ApiError::from)? {
        Ok(full) => with_cookie(&keys, &full, "/requests?done=enrolled"),
        Err(EnrolRefusal::BadPassword(m)) => enrol_page(&webauth, &user, Some(&format!("Password not accepted: {m}."))).await,
        Err(EnrolRefusal::Code(_)) => enrol_page(&webauth, &user, Some("The code was not accepted; wait for the next code and try again.")).await,
        Err(EnrolRefusal::NotEnrolling) => Ok(Redirect::to("/requests").into_response()),
    }
}
