//! Retention of recordings: sealed recordings older than `[retention] recordings_after` are
//! moved to `archive_dir` or deleted, wherever they are kept (a local file, or an object in
//! the bucket, read and removed through `recstore`). Each removal is an audit row (`recording.archived` or
//! `recording.deleted`, subject `session:ID`, with the path, the sealed sha256 and the age)
//! and the `recordings` row keeps its sealed hash, so `audit verify` still passes and an
//! archived file still verifies against its seal.
//!
//! Order of work, so that a crash never loses evidence silently: an archive copy is written
//! and checked against the sealed hash *before* the store and the audit log say so, and the
//! original is removed only after that commit; a deletion is recorded first and the file
//! removed after (a crash leaves a file the log says is gone, never the reverse).

use crate::audit::{AuditLog, Event, Kind, Subject};
use crate::config::{RetentionAction, RetentionConfig};
use crate::evidence::sha256_file;
use crate::recstore::RecStore;
use crate::store::{RecordingRecord, Store, StoreError};
use serde::Serialize;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Recordings handled per run (the next run takes the rest).
const BATCH: i64 = 500;

/// One recording retention acted on (or failed to).
#[derive(Debug, Clone, Serialize)]
pub struct Retained {
    pub recording_id: i64,
    pub session_id: i64,
    pub channel: i64,
    /// `archived` or `deleted`; `failed` when nothing changed.
    pub action: String,
    pub path: String,
    pub archive_path: Option<String>,
    pub error: Option<String>,
}

/// Acts on every recording due at `now` (Unix seconds); does nothing when retention is off.
pub async fn run(store: &Store, recs: &RecStore, log: &AuditLog, cfg: &RetentionConfig, actor: &str, now: i64) -> Result<Vec<Retained>, StoreError> {
    let Some(after) = cfg.recordings_after else { return Ok(Vec::new()) };
    let cutoff = now - after.0.as_secs() as i64;
    let mut out = Vec::new();
    for rec in store.recordings_due(cutoff, BATCH).await? {
        let result = match cfg.action {
            RetentionAction::Archive => archive(store, recs, log, cfg, actor, &rec, now).await,
            RetentionAction::Delete => delete(store, recs, log, actor, &rec, now).await,
        };
        let (action, archive_path, error) = match result {
            Ok(archive_path) => (cfg.action.as_str().to_owned(), archive_path, None),
            Err(e) => {
                tracing::warn!(recording = rec.id, error = %e, "retention could not act on a recording");
                ("failed".to_owned(), None, Some(e))
            }
        };
        out.push(Retained { recording_id: rec.id, session_id: rec.session_id.0, channel: rec.channel, action, path: rec.path.clone(), archive_path, error });
    }
    Ok(out)
}

/// Where an archived recording goes: `archive_dir/SESSION/FILE`.
fn archive_target(cfg: &RetentionConfig, rec: &RecordingRecord) -> PathBuf {
    let file = Path::new(&rec.path).file_name().map(|f| f.to_owned()).unwrap_or_else(|| format!("{}.bin", rec.channel).into());
    cfg.archive_dir.join(rec.session_id.to_string()).join(file)
}

/// Copies, checks, records, then removes the original; returns the archive path.
async fn archive(store: &Store, recs: &RecStore, log: &AuditLog, cfg: &RetentionConfig, actor: &str, rec: &RecordingRecord, now: i64) -> Result<Option<String>, String> {
    let sealed = rec.sha256.clone().unwrap_or_default();
    let to = archive_target(cfg, rec);
    let mut opened = recs.open(rec).await.map_err(|e| e.to_string())?;
    let from = opened.place.clone();
    let copy_failed = |e: std::io::Error| format!("cannot copy {from} to {}: {e}", to.display());
    if let Some(dir) = to.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(copy_failed)?;
    }
    let mut out = tokio::fs::File::create(&to).await.map_err(copy_failed)?;
    tokio::io::copy(&mut opened.reader, &mut out).await.map_err(copy_failed)?;
    out.sync_all().await.map_err(copy_failed)?;
    drop(out);
    let t = to.clone();
    let copied = tokio::task::spawn_blocking(move || sha256_file(&t)).await.map_err(|e| e.to_string())?.map_err(copy_failed)?.0;
    if copied != sealed {
        let _ = tokio::fs::remove_file(&to).await;
        return Err(format!("{from}: SHA-256 differs from the sealed value; left in place"));
    }
    let to_text = to.display().to_string();
    let detail = json!({ "channel": rec.channel, "path": rec.path, "object_key": rec.object_key, "archive_path": to_text, "sha256": sealed, "age_seconds": now - rec.created_at });
    if !record(store, log, actor, rec, Kind::RecordingArchived, Some(&to_text), detail, now).await.map_err(|e| e.to_string())? {
        return Ok(None);
    }
    recs.remove(rec).await.map_err(|e| format!("archived, but cannot remove the original: {e}"))?;
    Ok(Some(to_text))
}

/// Records the deletion, then removes the file (and the object).
async fn delete(store: &Store, recs: &RecStore, log: &AuditLog, actor: &str, rec: &RecordingRecord, now: i64) -> Result<Option<String>, String> {
    let detail = json!({ "channel": rec.channel, "path": rec.path, "object_key": rec.object_key, "sha256": rec.sha256, "age_seconds": now - rec.created_at });
    if !record(store, log, actor, rec, Kind::RecordingDeleted, None, detail, now).await.map_err(|e| e.to_string())? {
        return Ok(None);
    }
    recs.remove(rec).await.map_err(|e| format!("recorded as deleted, but cannot remove it: {e}"))
        .map(|()| None)
}

/// Marks the row and appends the audit row in one transaction; false if another node
/// already acted on this recording.
#[allow(clippy::too_many_arguments)]
async fn record(
    store: &Store,
    log: &AuditLog,
    actor: &str,
    rec: &RecordingRecord,
    kind: Kind,
    archive_path: Option<&str>,
    detail: serde_json::Value,
    now: i64,
) -> Result<bool, StoreError> {
    let action = if kind == Kind::RecordingArchived { "archived" } else { "deleted" };
    let mut tx = log.begin().await?;
    if !store.mark_retained(&mut tx, rec.id, action, archive_path, now).await? {
        return Ok(false);
    }
    tx.append(Event::new(actor, kind, Subject::Session(rec.session_id), detail)).await?;
    tx.commit().await?;
    Ok(true)
}
