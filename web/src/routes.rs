//! The whole app: API, pages, static assets and health check, wrapped in the middleware
//! every response gets (request id and tracing span, security headers, body limit, timeout,
//! token renewal).

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::get;
use axum::{middleware, Router};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::Gate;
use crate::{api, health, layers, pages, ready, trace, AppState};

/// The app: routes plus middleware (outermost last).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(ready::readyz))
        .route(api::live_hop::PATH, get(api::live_hop::serve))
        .merge(api::router().router)
        .merge(pages::router())
        .layer(middleware::from_fn_with_state(Gate::from_ref(&state), layers::renew_cookie))
        .with_state(state)
        .layer(DefaultBodyLimit::max(layers::BODY_LIMIT))
        .layer(middleware::from_fn(layers::limit_body))
        .layer(middleware::from_fn(layers::timeout))
        .layer(middleware::from_fn(layers::host_from_authority))
        .layer(middleware::map_response(layers::security_headers))
        .layer(middleware::from_fn(trace::in_request_scope))
        .layer(PropagateRequestIdLayer::new(trace::REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(trace::RequestSpan).on_response(trace::Finished))
        .layer(SetRequestIdLayer::new(trace::REQUEST_ID, trace::NewId))
        .layer(middleware::map_request(trace::drop_unsafe_id))
}
