//! The HTTP routes and the middleware stack around them.

use axum::extract::{DefaultBodyLimit, State};
use axum::response::Html;
use axum::routing::get;
use axum::{middleware, Json, Router};
use serde::Serialize;

use crate::{layers, page, WebState};

/// The app: routes plus middleware (outermost last).
pub(crate) fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .with_state(state)
        .layer(DefaultBodyLimit::max(layers::BODY_LIMIT))
        .layer(middleware::from_fn(layers::limit_body))
        .layer(middleware::from_fn(layers::timeout))
        .layer(middleware::map_response(layers::security_headers))
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

async fn healthz(State(state): State<WebState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: state.version,
    })
}

async fn index(State(state): State<WebState>) -> Html<String> {
    Html(page::landing(&state))
}
