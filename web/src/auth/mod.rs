//! Who is asking. A request is signed in when it carries a valid token — as
//! `Authorization: Bearer` (scripts) or in the sign-in cookie (the page) — whose sign-in row
//! is still live. Requests made with the cookie that change state must also come from this
//! site (Origin) and carry the sign-in's CSRF token: in the `X-CSRF-Token` header for the
//! API ([`Authed`]), or in the `_csrf` form field for pages ([`PageForm`]). Bearer requests
//! need no CSRF token: a browser never attaches one by itself. The extractors read only the
//! [`Gate`] (keys, sign-in rows, allowed origins), from any state that can give one.

pub mod cookie;
pub mod origin;
pub mod token;

use crate::api_error::ApiError;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use portcullis_core::domain::Role;
use portcullis_core::webauth::{Scope, WebAuth, WebSession};
use portcullis_core::Config;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::sync::Arc;
use token::TokenKeys;

/// The client's address, put on every request by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// What checks who is asking: the token keys, the sign-in rows and the allowed origins. The
/// extractors below take it from any state that can give one (`Gate: FromRef<S>`); so do the
/// sign-in handlers and the cookie renewal.
#[derive(Clone, Debug)]
pub struct Gate {
    pub keys: Arc<TokenKeys>,
    pub webauth: WebAuth,
    /// For `web.allowed_origins`.
    pub config: Arc<Config>,
}

impl Gate {
    /// Whether the request comes from this site or an allowed origin ([`origin::allowed`]).
    pub fn same_site(&self, headers: &header::HeaderMap) -> bool {
        origin::allowed(headers, &self.config.web.allowed_origins)
    }
}

/// Header carrying the CSRF token on API calls made with the cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A signed-in user with a full sign-in.
#[derive(Debug, Clone)]
pub struct Authed {
    pub session: WebSession,
    /// Client address, for the audit log.
    pub peer: String,
    /// This sign-in's CSRF token (for pages to embed).
    pub csrf: String,
    /// Whether the token came from the cookie (so the page may refresh it).
    pub by_cookie: bool,
}

impl Authed {
    /// The user name.
    pub fn name(&self) -> &portcullis_core::domain::Username {
        &self.session.user.username
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.session.user.role
    }

    /// `via` for audit rows of decisions made here.
    pub fn via(&self) -> String {
        format!("web {}", self.peer)
    }

    /// Who acted, as audit rows of changes made here name them: `NAME (web PEER)`.
    pub fn actor(&self) -> String {
        format!("{} ({})", self.name(), self.via())
    }

    /// Refuses unless the user has one of `roles`.
    pub fn require(&self, roles: &[Role], what: &str) -> Result<(), ApiError> {
        if roles.contains(&self.role()) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("a {} may not {what}", self.role())))
        }
    }
}

/// Why a request is not signed in; pages turn it into a redirect, the API into JSON.
#[derive(Debug)]
pub enum Refused {
    NotSignedIn(&'static str),
    Forbidden(&'static str),
    Internal(String),
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::NotSignedIn(m) => ApiError::unauthenticated(m),
            Refused::Forbidden(m) => ApiError::forbidden(m),
            Refused::Internal(m) => ApiError::internal(m),
        }
    }
}

fn peer_of(parts: &Parts) -> String {
    parts.extensions.get::<Peer>().map(|p| p.0.to_string()).unwrap_or_else(|| "unknown".into())
}

fn bearer(parts: &Parts) -> Option<String> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

/// Checks the token and its sign-in row; `scope` is the scope the route needs.
pub async fn authenticate(parts: &Parts, gate: &Gate, scope: Scope) -> Result<Authed, Refused> {
    let (token, by_cookie) = match bearer(parts) {
        Some(t) => (t, false),
        None => match cookie::read(&parts.headers) {
            Some(t) => (t, true),
            None => return Err(Refused::NotSignedIn("sign in first")),
        },
    };
    let claims = gate.keys.verify(&token).ok_or(Refused::NotSignedIn("the sign-in token is invalid or has expired"))?;
    let session = gate
        .webauth
        .session(&claims.sid)
        .await
        .map_err(|e| Refused::Internal(e.to_string()))?
        .ok_or(Refused::NotSignedIn("this sign-in has ended; sign in again"))?;
    if session.user.username.as_str() != claims.sub {
        return Err(Refused::NotSignedIn("the sign-in token is invalid or has expired"));
    }
    if session.scope != scope {
        return Err(match session.scope {
            Scope::Enrol => Refused::Forbidden("finish your first sign-in (new password and authenticator) first"),
            Scope::Full => Refused::Forbidden("already enrolled"),
        });
    }
    let csrf = gate.keys.csrf(&session.id);
    Ok(Authed { session, peer: peer_of(parts), csrf, by_cookie })
}

fn unsafe_method(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Origin and CSRF header checks for API calls made with the cookie.
fn check_api_csrf(parts: &Parts, gate: &Gate, a: &Authed) -> Result<(), ApiError> {
    if !a.by_cookie || !unsafe_method(&parts.method) {
        return Ok(());
    }
    if !gate.same_site(&parts.headers) {
        return Err(ApiError::forbidden("cross-origin request refused"));
    }
    let given = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !gate.keys.csrf_ok(&a.session.id, given) {
        return Err(ApiError::forbidden("missing or wrong CSRF token (send the X-CSRF-Token header)"));
    }
    Ok(())
}

impl<S: Send + Sync> FromRequestParts<S> for Authed
where
    Gate: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let gate = &Gate::from_ref(state);
        let a = authenticate(parts, gate, Scope::Full).await?;
        check_api_csrf(parts, gate, &a)?;
        Ok(a)
    }
}

/// A signed-in user opening a websocket. A browser attaches the cookie to a websocket from
/// any site, so with the cookie the Origin must be this site's (or an allowed one) even
/// though the upgrade is a GET: that is what stops another site watching a session through
/// an auditor's browser.
#[derive(Debug, Clone)]
pub struct Watcher(pub Authed);

impl<S: Send + Sync> FromRequestParts<S> for Watcher
where
    Gate: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let gate = &Gate::from_ref(state);
        let a = authenticate(parts, gate, Scope::Full).await?;
        if a.by_cookie && !gate.same_site(&parts.headers) {
            return Err(ApiError::forbidden("cross-origin websocket refused"));
        }
        Ok(Watcher(a))
    }
}

/// A signed-in user whose sign-in may only finish enrolment.
#[derive(Debug, Clone)]
pub struct Enrolling(pub Authed);

impl<S: Send + Sync> FromRequestParts<S> for Enrolling
where
    Gate: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let gate = &Gate::from_ref(state);
        let a = authenticate(parts, gate, Scope::Enrol).await?;
        check_api_csrf(parts, gate, &a)?;
        Ok(Enrolling(a))
    }
}

/// A page visitor who must be signed in: otherwise sent to the sign-in page (or, mid
/// enrolment, to the enrolment page). Only for GET pages; forms use [`PageForm`].
#[derive(Debug, Clone)]
pub struct PageUser(pub Authed);

/// Where a page visitor who may not see the page goes.
pub struct PageRedirect(Response);

impl IntoResponse for PageRedirect {
    fn into_response(self) -> Response {
        self.0
    }
}

fn page_refusal(r: Refused) -> PageRedirect {
    PageRedirect(match r {
        Refused::NotSignedIn(_) => Redirect::to("/login").into_response(),
        Refused::Forbidden(_) => Redirect::to("/enrol").into_response(),
        Refused::Internal(m) => ApiError::internal(m).into_response(),
    })
}

impl<S: Send + Sync> FromRequestParts<S> for PageUser
where
    Gate: FromRef<S>,
{
    type Rejection = PageRedirect;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let gate = &Gate::from_ref(state);
        if unsafe_method(&parts.method) {
            return Err(PageRedirect(ApiError::forbidden("use a form").into_response()));
        }
        authenticate(parts, gate, Scope::Full).await.map(PageUser).map_err(page_refusal)
    }
}

/// Form fields that carry the CSRF token.
pub trait HasCsrf {
    fn csrf(&self) -> &str;
}

/// A form whose only field is the CSRF token (sign-out, revoke, verify).
#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(rename = "_csrf")]
    csrf: String,
}

impl HasCsrf for CsrfOnly {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A page form post: signed in (scope as `S` says), from this site, with the right `_csrf`.
pub struct PageForm<T> {
    pub user: Authed,
    pub form: T,
}

/// Which sign-in scope a page form needs.
pub async fn page_form<T: DeserializeOwned + HasCsrf>(req: Request, gate: &Gate, scope: Scope) -> Result<PageForm<T>, Response> {
    let (parts, body) = req.into_parts();
    let user = authenticate(&parts, gate, scope).await.map_err(|r| page_refusal(r).into_response())?;
    if !gate.same_site(&parts.headers) {
        return Err(ApiError::forbidden("cross-origin request refused").into_response());
    }
    let req = Request::from_parts(parts, body);
    let Form(form) = Form::<T>::from_request(req, &()).await.map_err(|e| ApiError::bad_request(e.body_text()).into_response())?;
    if !gate.keys.csrf_ok(&user.session.id, form.csrf()) {
        return Err(ApiError::forbidden("missing or wrong CSRF token; reload the page and try again").into_response());
    }
    Ok(PageForm { user, form })
}

impl<S: Send + Sync, T: DeserializeOwned + HasCsrf + Send> FromRequest<S> for PageForm<T>
where
    Gate: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let gate = &Gate::from_ref(state);
        page_form(req, gate, Scope::Full).await
    }
}

/// A form post during enrolment.
pub struct EnrolForm<T>(pub PageForm<T>);

impl<S: Send + Sync, T: DeserializeOwned + HasCsrf + Send> FromRequest<S> for EnrolForm<T>
where
    Gate: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let gate = &Gate::from_ref(state);
        page_form(req, gate, Scope::Enrol).await.map(EnrolForm)
    }
}
