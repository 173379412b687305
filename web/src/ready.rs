//! `GET /readyz`: whether a load balancer should send this node new connections. `200 ready`
//! while the node serves; `503 draining` from the moment SIGTERM starts the drain before a
//! restart (with why, and when the sessions still open will be closed), and while the store
//! does not answer. Cheap (no store read) and open to anyone, like `/healthz`, which stays
//! 200 while the node drains: it is alive, only not taking new work.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::AppState;

#[derive(Serialize)]
pub(crate) struct Ready {
    /// `ready` or `draining` (or `unavailable`: the store does not answer).
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// While draining: when the sessions still open are closed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    closes_at: Option<String>,
}

pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Ready>) {
    if let Some(d) = state.ctx.drain.state() {
        let ready = Ready { status: "draining", reason: Some(d.reason.clone()), closes_at: Some(portcullis_core::clock::rfc3339(d.closes_at)) };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(ready));
    }
    if !state.ctx.audit.feed().is_reachable() {
        let ready = Ready { status: "unavailable", reason: Some("the store does not answer".to_owned()), closes_at: None };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(ready));
    }
    (StatusCode::OK, Json(Ready { status: "ready", reason: None, closes_at: None }))
}
