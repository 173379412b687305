//! `session verify`: recompute each recording's SHA-256 from where it is now (its local file,
//! its object in the bucket, or the archive folder once archived; see `recstore`) and compare it with the value sealed in the audit log's
//! `recording.sealed` row and in the store. Deleted recordings are reported as such.

use super::EvidenceError;
use crate::audit;
use crate::domain::SessionId;
use crate::recstore::{RecStore, RecStoreError};
use crate::store::{RecordingRecord, Store};
use serde::Serialize;

/// Outcome for one recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    /// The file's hash equals the sealed one.
    Intact,
    /// It does not, or the store and the audit log disagree.
    Mismatch,
    /// The file cannot be read.
    Missing,
    /// Deleted by retention (the sealed hash remains).
    Deleted,
    /// Not sealed yet (the channel is still open, or sealing failed).
    Unsealed,
}

/// One recording checked.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingCheck {
    pub channel: i64,
    pub kind: String,
    /// Size when sealed.
    pub bytes: Option<i64>,
    /// Where the file was read from (`None` once deleted).
    pub path: Option<String>,
    /// From the `recording.sealed` audit row (the value the chain protects).
    pub sealed_sha256: Option<String>,
    /// Audit row holding it.
    pub sealed_in_row: Option<i64>,
    /// Recomputed from the file.
    pub actual_sha256: Option<String>,
    pub status: RecordingStatus,
    /// What is wrong, in words.
    pub problem: Option<String>,
}

/// Checks every recording of `session`.
pub async fn check_session(store: &Store, recs: &RecStore, session: SessionId) -> Result<Vec<RecordingCheck>, EvidenceError> {
    check(store, recs, session, None).await
}

/// Checks recording `channel` of `session`; `None` if the session has no such recording.
pub async fn check_recording(store: &Store, recs: &RecStore, session: SessionId, channel: i64) -> Result<Option<RecordingCheck>, EvidenceError> {
    Ok(check(store, recs, session, Some(channel)).await?.pop())
}

async fn check(store: &Store, recs: &RecStore, session: SessionId, only: Option<i64>) -> Result<Vec<RecordingCheck>, EvidenceError> {
    store.session(session).await?.ok_or_else(|| EvidenceError::NotFound(format!("session {session}")))?;
    let subject = format!("session:{session}");
    let rows = audit::about(store, [&subject, &subject]).await?;
    let mut out = Vec::new();
    for rec in store.recordings_of(session).await?.into_iter().filter(|r| only.is_none_or(|c| r.channel == c)) {
        let sealed = rows.iter().filter(|r| r.kind == "recording.sealed").find_map(|r| {
            let d: serde_json::Value = serde_json::from_str(&r.detail).ok()?;
            (d["channel"].as_i64() == Some(rec.channel)).then(|| (r.seq, d["sha256"].as_str().unwrap_or_default().to_owned()))
        });
        out.push(check_one(recs, rec, sealed).await);
    }
    Ok(out)
}

async fn check_one(recs: &RecStore, rec: RecordingRecord, sealed: Option<(i64, String)>) -> RecordingCheck {
    let path = rec.current_path().map(str::to_owned);
    let mut c = RecordingCheck {
        channel: rec.channel,
        kind: rec.kind.clone(),
        bytes: rec.bytes,
        path: path.clone(),
        sealed_sha256: sealed.as_ref().map(|s| s.1.clone()),
        sealed_in_row: sealed.as_ref().map(|s| s.0),
        actual_sha256: None,
        status: RecordingStatus::Intact,
        problem: None,
    };
    let Some((seq, sealed_sha)) = sealed else {
        c.status = RecordingStatus::Unsealed;
        c.problem = Some("no recording.sealed audit row".into());
        return c;
    };
    if rec.sha256.as_deref() != Some(sealed_sha.as_str()) {
        c.status = RecordingStatus::Mismatch;
        c.problem = Some(format!("the store's sha256 differs from the sealed value in audit row {seq}"));
        return c;
    }
    match recs.sha256(&rec).await {
        Ok((actual, _, place)) => {
            if actual != sealed_sha {
                c.status = RecordingStatus::Mismatch;
                c.problem = Some(format!("{place}: SHA-256 differs from the sealed value in audit row {seq}"));
            }
            c.path = Some(place);
            c.actual_sha256 = Some(actual);
        }
        Err(RecStoreError::Gone(_)) => c.status = RecordingStatus::Deleted,
        Err(e) => {
            c.status = RecordingStatus::Missing;
            c.problem = Some(format!("cannot be read: {e}"));
        }
    }
    c
}
