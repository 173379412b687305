//! Middleware applied to every response: security headers (a script-free CSP: pages load
//! their script from /static, never inline), a request body size limit, a request timeout,
//! and renewal of the sign-in cookie while the sign-in lasts.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::extract::State;
use portcullis_core::clock;
use portcullis_core::webauth::Scope;

use crate::auth::Gate;

/// The Content-Security-Policy of every response: scripts and styles from this site only,
/// never inline.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The policy of the pages with the session player: the same, plus compiling WebAssembly
/// (the player's terminal emulator is WebAssembly shipped inside its script). It does not
/// allow `eval` of JavaScript.
pub(crate) const PLAYER_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Largest request body accepted, in bytes.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;
/// Longest time a handler may take.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

const SECURITY_HEADERS: [(HeaderName, &str); 5] = [
    (header::CONTENT_SECURITY_POLICY, CSP),
    (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-store"),
];

/// Add the security headers to a response.
pub(crate) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        // A handler that chose its own caching (the static files) or policy (the player's
        // pages) keeps it.
        if (name == header::CACHE_CONTROL || name == header::CONTENT_SECURITY_POLICY) && headers.contains_key(&name) {
            continue;
        }
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Gives an HTTP/2 request the `Host` header an HTTP/1.1 request has. HTTP/2 carries the
/// host in the `:authority` pseudo-header, which hyper puts in the URI and not among the
/// headers; the Origin checks of state-changing requests compare against `Host`, so without
/// this every form post from a browser speaking HTTP/2 would be refused as cross-origin.
pub(crate) async fn host_from_authority(mut request: Request, next: Next) -> Response {
    if !request.headers().contains_key(header::HOST) {
        let authority = request.uri().authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok());
        if let Some(host) = authority {
            request.headers_mut().insert(header::HOST, host);
        }
    }
    next.run(request).await
}

/// Refuse bodies over [`BODY_LIMIT`]: at once when `Content-Length` says
/// so, and while reading for bodies that do not announce their size.
pub(crate) async fn limit_body(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT as u64) {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let request = request.map(|body| Body::new(http_body_util::Limited::new(body, BODY_LIMIT)));
    next.run(request).await
}

/// Answer 408 when a handler takes longer than [`REQUEST_TIMEOUT`].
pub(crate) async fn timeout(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}

/// Re-issues the cookie's token when half its lifetime has passed and the sign-in is still
/// live, so an open page stays signed in while each token stays short-lived.
pub(crate) async fn renew_cookie(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let due = crate::auth::cookie::read(request.headers())
        .and_then(|t| gate.keys.verify(&t))
        .filter(|c| c.scope == "full" && clock::now() - c.iat >= gate.keys.ttl().as_secs() as i64 / 2);
    let mut response = next.run(request).await;
    let Some(claims) = due else { return response };
    if response.headers().contains_key(header::SET_COOKIE) {
        return response; // the handler signed in or out itself
    }
    if let Ok(Some(s)) = gate.webauth.session(&claims.sid).await {
        if s.scope == Scope::Full {
            if let Ok((token, exp)) = gate.keys.issue(&s) {
                if let Ok(v) = HeaderValue::from_str(&crate::auth::cookie::set(&token, exp - clock::now())) {
                    response.headers_mut().append(header::SET_COOKIE, v);
                }
            }
        }
    }
    response
}
