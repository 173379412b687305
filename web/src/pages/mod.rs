//! The approvers' pages (server-rendered HTML).

use crate::state::AppState;
use axum::Router;

/// Page routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
