//! Evidence bundles from the web: the same archive as `portcullis evidence export` (session,
//! request, approvals, grant, recordings, the audit chain segment up to a signed checkpoint,
//! a manifest signed with the audit key), answered as a download. Exporting is for auditors
//! and admins, and each export is itself an audit row (`evidence.exported`, with the
//! bundle's SHA-256), so who took a copy of which recordings is on the record.

use super::error::{ApiError, ErrorBody};
use super::ApiPath;
use crate::auth::Authed;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use portcullis_core::audit::Event;
use portcullis_core::domain::SessionId;
use portcullis_core::evidence::{self, EvidenceError};
use serde_json::json;

/// Builds session `id`'s bundle for `a`, audits the export and answers with the file.
pub async fn export(state: &AppState, a: &Authed, id: i64) -> Result<Response, ApiError> {
    a.require(super::audit::AUDITORS, "export evidence")?;
    let members = evidence::build(&state.ctx.store, &state.ctx.audit, SessionId(id)).await.map_err(|e| match e {
        EvidenceError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
        other => ApiError::internal(other),
    })?;
    let files = members.len();
    let bytes = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        evidence::write_archive(&members, &mut out).map(|()| out)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let sha256 = evidence::sha256_hex(&bytes);
    state
        .ctx
        .audit
        .record(Event::new(a.name().as_str(), "evidence.exported", format!("session:{id}"), json!({
            "via": a.via(), "files": files, "bytes": bytes.len(), "sha256": sha256,
        })))
        .await?;
    let disposition = format!("attachment; filename=\"portcullis-session-{id}-evidence.tar.gz\"");
    Ok(([(CONTENT_TYPE, "application/gzip".to_owned()), (CONTENT_DISPOSITION, disposition)], bytes).into_response())
}

/// Export a session's evidence bundle (`.tar.gz`; check it offline with `portcullis evidence
/// verify FILE`).
#[utoipa::path(post, operation_id = "export_evidence", path = "/api/v1/sessions/{id}/evidence", tag = "sessions",
    params(("id" = i64, Path, description = "session number")),
    responses((status = 200, description = "the bundle", content_type = "application/gzip"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(State(state): State<AppState>, a: Authed, ApiPath(id): ApiPath<i64>) -> Result<Response, ApiError> {
    export(&state, &a, id).await
}
