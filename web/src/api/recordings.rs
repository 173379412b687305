//! A session's recordings: the list, each checked against the SHA-256 sealed in the audit log
//! (the same check as `portcullis session verify`), and the files themselves (`.cast` for
//! terminals, `.pcap` for tunnels and file transfer), streamed from disk so a large capture
//! never sits in memory; a recording kept in the bucket is streamed from it, from any node. A file whose hash no longer matches is still served — an
//! investigator may want to see what it says now — and the list says it was altered. Each
//! fetch of a file is an audit row (`recording.downloaded`, or `recording.replayed` for the
//! replay page's player) committed before the first byte ([`deliver`]).

use super::access;
use super::error::{ApiError, ErrorBody};
use super::ApiPath;
use crate::auth::Authed;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::Json;
use portcullis_core::evidence::integrity::{self, RecordingCheck};
use portcullis_core::evidence::EvidenceError;
use portcullis_core::audit::AuditLog;
use portcullis_core::recstore::{Opened, RecStore, RecStoreError};
use portcullis_core::viewing::Access;
use serde_json::json;
use portcullis_core::store::{RecordingRecord, Store};
use serde::Serialize;
use tokio_util::io::ReaderStream;
use utoipa::ToSchema;

/// One recording and whether it is intact.
#[derive(Serialize, ToSchema, Clone)]
pub struct RecordingView {
    /// Its number within the session.
    pub channel: i64,
    /// `asciicast` or `pcap`.
    pub kind: String,
    /// Size when sealed.
    pub bytes: Option<i64>,
    /// The value in the audit log's `recording.sealed` row.
    pub sealed_sha256: Option<String>,
    /// Audit row holding it.
    pub sealed_in_row: Option<i64>,
    /// Recomputed from the file now.
    pub actual_sha256: Option<String>,
    /// `intact`, `mismatch` (altered), `missing`, `deleted` (by retention) or `unsealed`
    /// (still being written).
    pub status: String,
    pub problem: Option<String>,
    /// Where to download it.
    pub url: String,
    /// Where the file is on the server now (`None` once deleted); never sent to clients.
    #[serde(skip)]
    pub path: Option<String>,
}

impl RecordingView {
    fn new(session: i64, c: RecordingCheck) -> RecordingView {
        let status = serde_json::to_value(c.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        RecordingView {
            url: format!("/api/v1/sessions/{session}/recordings/{}", c.channel),
            channel: c.channel,
            kind: c.kind,
            bytes: c.bytes,
            sealed_sha256: c.sealed_sha256,
            sealed_in_row: c.sealed_in_row,
            actual_sha256: c.actual_sha256,
            status,
            problem: c.problem,
            path: c.path,
        }
    }

    /// Whether the file still has its sealed hash.
    pub fn intact(&self) -> bool {
        self.status == "intact"
    }

    /// Whether this is a terminal recording the player can replay.
    pub fn is_cast(&self) -> bool {
        self.kind == "asciicast"
    }

    /// The download's file name.
    pub fn file_name(&self, session: i64) -> String {
        format!("session-{session}-{}.{}", self.channel, extension(&self.kind))
    }
}

fn extension(kind: &str) -> &'static str {
    if kind == "asciicast" {
        "cast"
    } else {
        "pcap"
    }
}

fn evidence_error(e: EvidenceError) -> ApiError {
    match e {
        e @ EvidenceError::NotFound(_) => ApiError::not_found(e.to_string()),
        other => ApiError::internal(other.to_string()),
    }
}

/// Every recording of session `id`, checked (the caller has checked access).
pub async fn checked(store: &Store, recs: &RecStore, id: i64) -> Result<Vec<RecordingView>, ApiError> {
    let checks = integrity::check_session(store, recs, portcullis_core::domain::SessionId(id)).await.map_err(evidence_error)?;
    Ok(checks.into_iter().map(|c| RecordingView::new(id, c)).collect())
}

/// Recording `channel` of session `id`, checked (the caller has checked access).
pub async fn checked_one(store: &Store, recs: &RecStore, id: i64, channel: i64) -> Result<RecordingView, ApiError> {
    integrity::check_recording(store, recs, portcullis_core::domain::SessionId(id), channel)
        .await
        .map_err(evidence_error)?
        .map(|c| RecordingView::new(id, c))
        .ok_or_else(|| ApiError::not_found(format!("session {id} has no recording {channel}")))
}

/// The recordings of a session, each checked against its sealed SHA-256.
#[utoipa::path(get, operation_id = "list_recordings", path = "/api/v1/sessions/{id}/recordings", tag = "sessions",
    params(("id" = i64, Path, description = "session number")),
    responses((status = 200, body = [RecordingView]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(State(store): State<Store>, State(recs): State<RecStore>, a: Authed, ApiPath(id): ApiPath<i64>) -> Result<Json<Vec<RecordingView>>, ApiError> {
    access::viewable(&store, &a, id).await?;
    Ok(Json(checked(&store, &recs, id).await?))
}

/// Opens recording `channel` of session `id` for reading.
async fn open(recs: &RecStore, rec: &RecordingRecord, id: i64, channel: i64) -> Result<Opened, ApiError> {
    recs.open(rec).await.map_err(|e| match e {
        RecStoreError::Gone(_) => ApiError::new(axum::http::StatusCode::GONE, "gone", format!("recording {channel} of session {id} was deleted by the retention policy")),
        RecStoreError::Missing(_) => ApiError::not_found(format!("the file of recording {channel} of session {id} is missing")),
        other => ApiError::internal(other.to_string()),
    })
}

/// The download answer: the file's type, length and name, and its bytes as they are read.
fn respond(rec: &RecordingRecord, opened: Opened, id: i64, channel: i64) -> Response {
    let len = opened.len;
    let (content_type, ext) = if rec.kind == "asciicast" { ("application/x-asciicast", "cast") } else { ("application/vnd.tcpdump.pcap", "pcap") };
    let disposition = format!("attachment; filename=\"session-{id}-{channel}.{ext}\"");
    (
        [(CONTENT_TYPE, content_type.to_owned()), (CONTENT_LENGTH, len.to_string()), (CONTENT_DISPOSITION, disposition)],
        Body::from_stream(ReaderStream::new(opened.reader)),
    )
        .into_response()
}

/// Streams recording `channel` of session `id` to `a` after writing the row of this opening
/// (`recording.downloaded` or `recording.replayed`): the file is opened first (so a missing
/// file writes no row), then the row, then the first byte. A row that cannot be written
/// sends nothing.
pub async fn deliver(store: &Store, recs: &RecStore, audit: &AuditLog, a: &Authed, id: i64, channel: i64, access: Access) -> Result<Response, ApiError> {
    let s = access::opening(store, audit, a, id, access, json!({ "channel": channel })).await?;
    let all = store.recordings_of(s.id).await?;
    let rec = all.iter().find(|r| r.channel == channel).ok_or_else(|| ApiError::not_found(format!("session {id} has no recording {channel}")))?;
    let opened = open(recs, rec, id, channel).await?;
    let detail = json!({ "channel": channel, "recording": rec.kind, "bytes": opened.len, "sealed_sha256": rec.sha256 });
    access::record_opening(audit, a, &s, access, detail).await?;
    Ok(respond(rec, opened, id, channel))
}

/// Download one recording (`.cast` or `.pcap`), as it is on disk now. Each download is an
/// audit row (`recording.downloaded`) written before the first byte is sent.
#[utoipa::path(get, operation_id = "download_recording", path = "/api/v1/sessions/{id}/recordings/{channel}", tag = "sessions",
    params(("id" = i64, Path, description = "session number"), ("channel" = i64, Path, description = "recording number within the session")),
    responses((status = 200, description = "the file", content_type = "application/octet-stream"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub async fn download(State(store): State<Store>, State(recs): State<RecStore>, State(audit): State<AuditLog>, a: Authed, ApiPath((id, channel)): ApiPath<(i64, i64)>) -> Result<Response, ApiError> {
    deliver(&store, &recs, &audit, &a, id, channel, Access::Download).await
}

