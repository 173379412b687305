//! Evidence bundles from the web: the same archive as `portcullis evidence export` (session,
//! request, approvals, grant, recordings, the audit chain segment up to a signed checkpoint,
//! a manifest signed with the audit key), streamed as a download while it is written, so a
//! large recording never sits in memory. Exporting is for auditors and admins, and each
//! completed export is itself an audit row (`evidence.exported`, with the bundle's SHA-256),
//! so who took a copy of which recordings is on the record.

use super::error::{ApiError, ErrorBody};
use super::ApiPath;
use crate::auth::Authed;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use portcullis_core::audit::{AuditLog, Event, Kind, Subject};
use portcullis_core::clock;
use portcullis_core::domain::SessionId;
use portcullis_core::evidence::{self, EvidenceError};
use portcullis_core::request_scope;
use portcullis_core::store::Store;
use serde_json::json;
use portcullis_recorder::Hashing;
use std::io::Write;
use tokio::sync::mpsc;
use tracing::error;

/// Size of the pieces sent to the client.
const PIECE: usize = 64 * 1024;

/// Pieces waiting to be sent (the writer waits when the client reads slowly).
const QUEUE: usize = 8;

/// The blocking writer's end of the response body: buffers a piece and hands it to the body
/// stream (waiting while the queue is full). Wrapped in a [`Hashing`] writer, so the audit row
/// carries the SHA-256 of exactly what was sent.
struct BodyWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    piece: Vec<u8>,
}

impl BodyWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.piece.is_empty() {
            return Ok(());
        }
        let piece = std::mem::replace(&mut self.piece, Vec::with_capacity(PIECE));
        self.tx
            .blocking_send(Ok(Bytes::from(piece)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.piece.extend_from_slice(buf);
        if self.piece.len() >= PIECE {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Builds session `id`'s bundle for `a` and answers with it as it is written; the export is
/// audited once complete.
pub async fn export(store: &Store, recs: &portcullis_core::recstore::RecStore, audit: &AuditLog, a: &Authed, id: i64) -> Result<Response, ApiError> {
    a.require(super::audit::AUDITORS, "export evidence")?;
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
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let signer = audit.signer().clone();
    let failed = tx.clone();
    let writing = tokio::task::spawn_blocking(move || {
        let mut out = Hashing::new(BodyWriter { tx, piece: Vec::with_capacity(PIECE) });
        evidence::write_bundle(&bundle, &signer, clock::now_ms(), &mut out)?;
        out.flush().map_err(|e| EvidenceError::Archive(e.to_string()))?;
        let (_, sha256, bytes) = out.finish();
        Ok::<_, EvidenceError>((sha256, bytes))
    });
    let audit = audit.clone();
    let (actor, via) = (a.name().to_string(), a.via());
    // The export's audit row is written after the answer has begun, by a task of its own:
    // it is still this request's row, so it runs under the request's id.
    let request = request_scope::current();
    let finish = async move {
        match writing.await {
            Ok(Ok((sha256, bytes))) => {
                let ev = Event::new(actor, Kind::EvidenceExported, Subject::Session(SessionId(id)), json!({ "via": via, "files": files, "bytes": bytes, "sha256": sha256 }));
                if let Err(e) = audit.record(ev).await {
                    error!(error = %e, session = id, "cannot audit an evidence export");
                }
            }
            outcome => {
                let why = match outcome {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                    Ok(Ok(_)) => String::new(),
                };
                error!(error = %why, session = id, "evidence export failed");
                // Ends the body with an error, so the client sees a failed download rather
                // than a short file.
                let _ = failed.send(Err(std::io::Error::other(why))).await;
            }
        }
    };
    tokio::spawn(async move {
        match request {
            Some(id) => request_scope::scope(id, finish).await,
            None => finish.await,
        }
    });
    let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let disposition = format!("attachment; filename=\"portcullis-session-{id}-evidence.tar.gz\"");
    Ok(([(CONTENT_TYPE, "application/gzip".to_owned()), (CONTENT_DISPOSITION, disposition)], body).into_response())
}

/// Export a session's evidence bundle (`.tar.gz`; check it offline with `portcullis evidence
/// verify FILE`).
#[utoipa::path(post, operation_id = "export_evidence", path = "/api/v1/sessions/{id}/evidence", tag = "sessions",
    params(("id" = i64, Path, description = "session number")),
    responses((status = 200, description = "the bundle", content_type = "application/gzip"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(State(store): State<Store>, State(recs): State<portcullis_core::recstore::RecStore>, State(audit): State<AuditLog>, a: Authed, ApiPath(id): ApiPath<i64>) -> Result<Response, ApiError> {
    export(&store, &recs, &audit, &a, id).await
}
