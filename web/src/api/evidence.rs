//! Evidence bundles from the web: the same archive as `portcullis evidence export` (session,
//! request, approvals, grant, recordings, the audit chain segment up to a signed checkpoint,
//! a manifest signed with the audit key). The bundle is written to an unnamed temporary file
//! (so a large recording never sits in memory), its row (`evidence.exported`, with the
//! bundle's SHA-256, who and from where) is committed, and only then is the file sent: who
//! took a copy of which recordings is on the record before the copy leaves. Exporting is for
//! auditors and admins, within their zones, and a `phi` device's bundle needs the `phi`
//! permission.

use super::access;
use super::error::{ApiError, ErrorBody};
use super::ApiPath;
use crate::auth::Authed;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use portcullis_core::audit::AuditLog;
use portcullis_core::viewing::Access;
use portcullis_core::clock;
use portcullis_core::domain::SessionId;
use portcullis_core::evidence::{self, EvidenceError};
use portcullis_core::store::Store;
use serde_json::json;
use portcullis_recorder::Hashing;
use std::io::{Seek, SeekFrom, Write};
use tokio_util::io::ReaderStream;
use tracing::error;

/// Builds session `id`'s bundle for `a`: written to an unnamed temporary file while it is
/// hashed, then audited (`evidence.exported` with the bundle's SHA-256), and only then sent.
/// If the row cannot be written, nothing of the bundle leaves.
pub async fn export(store: &Store, recs: &portcullis_core::recstore::RecStore, audit: &AuditLog, a: &Authed, id: i64) -> Result<Response, ApiError> {
    a.require(super::audit::AUDITORS, "export evidence")?;
    let s = access::opening(store, audit, a, id, Access::Export, json!({})).await?;
    let altered = evidence::altered_recordings(store, recs, SessionId(id)).await.map_err(|e| match e {
        e @ EvidenceError::NotFound(_) => ApiError::not_found(e.to_string()),
        other => ApiError::internal(other),
    })?;
    if !altered.is_empty() {
        // An export must not hide that what it carries is no longer what was sealed.
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "altered",
            format!(
                "session {id}: {} recording(s) no longer match the SHA-256 sealed in the audit log ({}); export it with `portcullis evidence export --allow-altered`, which names them in the bundle",
                altered.len(),
                altered.join("; ")
            ),
        ));
    }
    let bundle = evidence::build(store, recs, audit, SessionId(id)).await.map_err(|e| match e {
        e @ EvidenceError::NotFound(_) => ApiError::not_found(e.to_string()),
        other => ApiError::internal(other),
    })?;
    let files = bundle.member_count();
    let signer = audit.signer().clone();
    let written = tokio::task::spawn_blocking(move || {
        let file = tempfile::tempfile().map_err(|e| EvidenceError::Archive(e.to_string()))?;
        let mut out = Hashing::new(std::io::BufWriter::new(file));
        evidence::write_bundle(&bundle, &signer, clock::now_ms(), &mut out)?;
        out.flush().map_err(|e| EvidenceError::Archive(e.to_string()))?;
        let (writer, sha256, bytes) = out.finish();
        let mut file = writer.into_inner().map_err(|e| EvidenceError::Archive(e.to_string()))?;
        file.seek(SeekFrom::Start(0)).map_err(|e| EvidenceError::Archive(e.to_string()))?;
        Ok::<_, EvidenceError>((file, sha256, bytes))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let (file, sha256, bytes) = written.map_err(|e| {
        error!(error = %e, session = id, "evidence export failed");
        ApiError::internal(e)
    })?;
    access::record_opening(audit, a, &s, Access::Export, json!({ "files": files, "bytes": bytes, "sha256": sha256 })).await?;
    let body = Body::from_stream(ReaderStream::new(tokio::fs::File::from_std(file)));
    let disposition = format!("attachment; filename=\"portcullis-session-{id}-evidence.tar.gz\"");
    Ok(([(CONTENT_TYPE, "application/gzip".to_owned()), (CONTENT_LENGTH, bytes.to_string()), (CONTENT_DISPOSITION, disposition)], body).into_response())
}

/// Export a session's evidence bundle (`.tar.gz`; check it offline with `portcullis evidence
/// verify FILE`).
#[utoipa::path(post, operation_id = "export_evidence", path = "/api/v1/sessions/{id}/evidence", tag = "sessions",
    params(("id" = i64, Path, description = "session number")),
    responses((status = 200, description = "the bundle", content_type = "application/gzip"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(State(store): State<Store>, State(recs): State<portcullis_core::recstore::RecStore>, State(audit): State<AuditLog>, a: Authed, ApiPath(id): ApiPath<i64>) -> Result<Response, ApiError> {
    export(&store, &recs, &audit, &a, id).await
}
