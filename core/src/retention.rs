//! Retention of recordings: sealed recordings older than `[retention] recordings_after` are
//! moved to `archive_dir` or deleted. Each removal is an audit row (`recording.archived` or
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
pub async fn run(store: &Store, log: &AuditLog, cfg: &RetentionConfig, actor: &str, now: i64) -> Result<Vec<Retained>, StoreError> {
    let Some(after) = cfg.recordings_after else { return Ok(Vec::new()) };
    let cutoff = now - after.0.as_secs() as i64;
    let mut out = Vec::new();
    for rec in store.recordings_due(cutoff, BATCH).await? {
        let result = match cfg.action {
            RetentionAction::Archive => archive(store, log, cfg, actor, &rec, now).await,
            RetentionAction::Delete => delete(store, log, actor, &rec, now).await,
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
async fn archive(store: &Store, log: &AuditLog, cfg: &RetentionConfig, actor: &str, rec: &RecordingRecord, now: i64) -> Result<Option<String>, String> {
    let sealed = rec.sha256.clone().unwrap_or_default();
    let from = PathBuf::from(&rec.path);
    let to = archive_target(cfg, rec);
    let (f, t) = (from.clone(), to.clone());
    let copied = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        if let Some(dir) = t.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::copy(&f, &t)?;
        std::fs::File::open(&t)?.sync_all()?;
        Ok(sha256_file(&t)?.0)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
    if copied != sealed {
        let _ = tokio::fs::remove_file(&to).await;
        return Err(format!("{}: SHA-256 differs from the sealed value; left in place", from.display()));
    }
    let to_text = to.display().to_string();
    let detail = json!({ "channel": rec.channel, "path": rec.path, "archive_path": to_text, "sha256": sealed, "age_seconds": now - rec.created_at });
    if !record(store, log, actor, rec, Kind::RecordingArchived, Some(&to_text), detail, now).await.map_err(|e| e.to_string())? {
        return Ok(None);
    }
    tokio::fs::remove_file(&from).await.map_err(|e| format!("archived, but cannot remove {}: {e}", from.display()))?;
    Ok(Some(to_text))
}

/// Records the deletion, then removes the file.
async fn delete(store: &Store, log: &AuditLog, actor: &str, rec: &RecordingRecord, now: i64) -> Result<Option<String>, String> {
    let detail = json!({ "channel": rec.channel, "path": rec.path, "sha256": rec.sha256, "age_seconds": now - rec.created_at });
    if !record(store, log, actor, rec, Kind::RecordingDeleted, None, detail, now).await.map_err(|e| e.to_string())? {
        return Ok(None);
    }
    match tokio::fs::remove_file(&rec.path).await {
        Ok(()) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("recorded as deleted, but cannot remove {}: {e}", rec.path)),
    }
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
