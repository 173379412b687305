//! The API's one error shape, `{"error": {"code", "message"}}`, with the status that fits.
//! Domain errors map to 400/403/404/409; anything internal is logged here and answered with
//! a generic 500, so database or file details never reach a client.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use portcullis_core::admin::AdminError;
use portcullis_core::approvals::ApprovalError;
use portcullis_core::auth::AuthError;
use portcullis_core::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// The JSON body of every error.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable word, e.g. `forbidden`, `conflict`.
    pub code: String,
    /// A sentence for the person who asked.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// Logs `detail` and answers with nothing of it.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "web request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; the event was logged")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_owned(), message: self.message } };
        (self.status, Json(body)).into_response()
    }
}

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> Self {
        match e {
            e @ ApprovalError::NotFound(_) => Self::not_found(e.to_string()),
            ApprovalError::Invalid(m) => Self::bad_request(m),
            ApprovalError::NotAllowed(m) => Self::forbidden(m),
            ApprovalError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            ApprovalError::Store(e) => Self::from(e),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(m) => Self::bad_request(m),
            e @ AdminError::NotFound(_) => Self::not_found(e.to_string()),
            AdminError::Exists(m) => Self::new(StatusCode::CONFLICT, "conflict", format!("{m} already exists")),
            AdminError::Store(StoreError::Exists(m)) => Self::new(StatusCode::CONFLICT, "conflict", format!("{m} already exists")),
            AdminError::Store(e @ StoreError::NotFound(_)) => Self::not_found(e.to_string()),
            other => Self::internal(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            e @ StoreError::NotFound(_) => Self::not_found(e.to_string()),
            other => Self::internal(other),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Busy => Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()),
            other => Self::internal(other),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "invalid" };
        // The body text of axum's rejection names the field and what was expected; it holds
        // nothing internal, and it is what a script author needs.
        let mut text = e.body_text();
        text.truncate(300);
        Self::new(status, code, text)
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        Self::bad_request("malformed path parameter")
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        let mut text = e.body_text();
        text.truncate(300);
        Self::bad_request(text)
    }
}
