//! A page that could not be shown: a short HTML page with the reason and a way back, never a
//! raw error. Messages come from the domain's refusals (meant for the person who asked);
//! internal failures were already logged by [`ApiError::internal`] and read only "internal
//! error".

use super::layout;
use crate::api::error::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

/// Why a page is not shown.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    /// 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError { status: StatusCode::NOT_FOUND, message: message.into() }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError { status: e.status, message: e.message }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = html! {
            h1 { (title) }
            p.error role="alert" { (self.message) }
            p { a href="/requests" { "Back to the requests" } }
        };
        (self.status, layout::bare(title, body)).into_response()
    }
}
