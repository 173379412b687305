//! One tracing span per HTTP request, named by a request id. The id is this server's own
//! (16 random bytes in hex) unless the client sent an `x-request-id` that is short (at most
//! [`MAX_ID_LEN`] bytes) and of safe characters only (`A-Z a-z 0-9 . _ -`): anything else is
//! dropped before it can reach a log line or an audit row. The answer carries the id back
//! in `x-request-id`, the span records method, path (never the query string, which may hold
//! secrets), status and latency, and the handler runs inside
//! [`portcullis_core::request_scope`] so the audit rows it writes carry the same id.
//!
//! The layers (tower-http's `SetRequestId`, `Trace` and `PropagateRequestId`, plus the two
//! functions here) are put on the router in [`crate::routes`].

use std::time::Duration;

use axum::extract::Request;
use axum::http::{self, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use portcullis_core::request_scope;
use tower_http::request_id::{MakeRequestId, RequestId};
use tower_http::trace::{MakeSpan, OnResponse};
use tracing::field::Empty;
use tracing::Span;

/// The header carrying the request id, both ways.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-sent request id kept.
pub(crate) const MAX_ID_LEN: usize = 64;

/// Whether a client-sent id is safe to keep: short, and of `A-Z a-z 0-9 . _ -` only.
fn acceptable(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= MAX_ID_LEN && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// Removes the client's `x-request-id` unless it is one acceptable value, so that the id
/// kept by `SetRequestId` is always either a safe client id or a new one of ours.
pub(crate) async fn drop_unsafe_id(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let mut sent = headers.get_all(&REQUEST_ID).iter();
    let keep = match (sent.next(), sent.next()) {
        (Some(v), None) => acceptable(v),
        _ => false,
    };
    if !keep {
        headers.remove(&REQUEST_ID);
    }
    request
}

/// Makes a new request id: 16 random bytes in hex.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NewId;

impl MakeRequestId for NewId {
    fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&hex::encode(rand::random::<[u8; 16]>())).ok().map(RequestId::new)
    }
}

/// The span of one request; status and latency are filled in by [`Finished`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &http::Request<B>) -> Span {
        let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
        tracing::info_span!(
            "http",
            method = %request.method(),
            path = request.uri().path(),
            request_id = id,
            status = Empty,
            latency_ms = Empty,
        )
    }
}

/// Records the answer's status and the time taken on the request's span.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Finished;

impl<B> OnResponse<B> for Finished {
    fn on_response(self, response: &http::Response<B>, latency: Duration, span: &Span) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        span.record("status", response.status().as_u16());
        span.record("latency_ms", ms);
        tracing::debug!(status = response.status().as_u16(), latency_ms = ms, "answered");
    }
}

/// Runs the rest of the request inside [`request_scope`] under its id, so audit rows
/// written while handling it name it.
pub(crate) async fn in_request_scope(request: Request, next: Next) -> Response {
    let id = request.extensions().get::<RequestId>().and_then(|r| r.header_value().to_str().ok()).map(str::to_owned);
    match id {
        Some(id) => request_scope::scope(id, next.run(request)).await,
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_safe_ids_are_acceptable() {
        for ok in ["a", "abc-123_x.y", "0123456789abcdef0123456789abcdef", &"x".repeat(MAX_ID_LEN)] {
            assert!(acceptable(&HeaderValue::from_str(ok).unwrap_or(HeaderValue::from_static(""))), "{ok:?}");
        }
        for bad in ["", "a b", "a\"b", "a;b", "a/b", "ü", &"x".repeat(MAX_ID_LEN + 1)] {
            let v = HeaderValue::from_bytes(bad.as_bytes()).unwrap_or(HeaderValue::from_static(""));
            assert!(!acceptable(&v), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn unsafe_or_repeated_ids_are_dropped() {
        let with = |values: &[&'static str]| {
            let mut r = Request::new(axum::body::Body::empty());
            for v in values {
                r.headers_mut().append(REQUEST_ID, HeaderValue::from_static(v));
            }
            r
        };
        let kept = drop_unsafe_id(with(&["abc-1"])).await;
        assert_eq!(kept.headers().get(&REQUEST_ID), Some(&HeaderValue::from_static("abc-1")));
        for sent in [&["a b"][..], &["abc", "def"][..], &[][..]] {
            let r = drop_unsafe_id(with(sent)).await;
            assert!(r.headers().get(&REQUEST_ID).is_none(), "{sent:?}");
        }
    }

    #[test]
    fn new_ids_are_acceptable_and_differ() {
        let req = http::Request::new(());
        let (a, b) = (NewId.make_request_id(&req), NewId.make_request_id(&req));
        let (a, b) = (a.map(|r| r.header_value().clone()), b.map(|r| r.header_value().clone()));
        assert!(a.as_ref().is_some_and(acceptable) && b.as_ref().is_some_and(acceptable));
        assert_ne!(a, b);
    }
}
