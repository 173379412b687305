//! The whole app: API, pages, static assets and health check, wrapped in the middleware
//! every response gets (security headers, body limit, timeout, token renewal).

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use axum::{middleware, Json, Router};
use serde::Serialize;

use crate::{api, layers, pages, AppState};

/// The app: routes plus middleware (outermost last).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .merge(api::router().router)
        .merge(pages::router())
        .layer(middleware::from_fn_with_state(state.clone(), layers::renew_cookie))
        .with_state(state)
        .layer(DefaultBodyLimit::max(layers::BODY_LIMIT))
        .layer(middleware::from_fn(layers::limit_body))
        .layer(middleware::from_fn(layers::timeout))
        .layer(middleware::from_fn(layers::host_from_authority))
        .layer(middleware::map_response(layers::security_headers))
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health { status: "ok", version: state.version })
}
