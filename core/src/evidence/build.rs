//! Building a bundle from the store: the session, its request and grant, the recordings
//! (read from where they are now: the local file, the bucket, the archive folder for archived
//! ones), the audit rows about
//! the session and its request, and the contiguous chain segment from the first of those rows
//! to the first signed checkpoint at or after the last one (signing one first if none covers
//! it yet). The manifest over all of it, signed with the audit key, is made while the bundle
//! is written ([`super::stream`]).

use super::archive::Members;
use super::layout;
use super::stream::Bundle;
use super::integrity::RecordingStatus;
use super::EvidenceError;
use crate::audit::{self, AuditLog, AuditRow, Checkpoint};
use crate::domain::SessionId;
use crate::recstore::RecStore;
use crate::store::{RecordingRecord, Store};
use serde::Serialize;
use std::collections::BTreeMap;

/// A recording as `session.json` lists it.
#[derive(Debug, Serialize)]
struct BundledRecording<'a> {
    #[serde(flatten)]
    record: &'a RecordingRecord,
    /// The member holding the file, if it is in the bundle.
    member: Option<String>,
    /// Why it is not, when it is not.
    absent_because: Option<String>,
}

/// Gathers the bundle of `session`: the small members, and the recordings to read while
/// writing ([`super::write_bundle`] adds the manifest and its signature).
pub async fn build(store: &Store, recs: &RecStore, log: &AuditLog, session: SessionId) -> Result<Bundle, EvidenceError> {
    let s = store.session(session).await?.ok_or_else(|| EvidenceError::NotFound(format!("session {session}")))?;
    let request = store.request(s.request_id).await?;
    let grant = store.grant(s.grant_id).await?;
    let recordings = store.recordings_of(session).await?;

    let (segment, involved, checkpoint) = audit_part(store, log, session, &s.request_id.to_string()).await?;

    let mut bundle = Bundle { session_id: session.0, small: Members::new(), files: BTreeMap::new(), recs: recs.clone(), altered: Vec::new() };
    let mut listed = Vec::new();
    for r in &recordings {
        let (member, absent_because) = add_recording(&mut bundle, session, r).await;
        listed.push(BundledRecording { record: r, member, absent_because });
    }
    let small = &mut bundle.small;
    small.insert(layout::SESSION.into(), pretty(&serde_json::json!({ "session": s, "recordings": listed }))?);
    small.insert(layout::REQUEST.into(), pretty(&request)?);
    small.insert(layout::GRANT.into(), pretty(&grant)?);
    let mut rows = Vec::new();
    for row in &segment {
        rows.extend(serde_json::to_vec(row).map_err(|e| EvidenceError::Encode(e.to_string()))?);
        rows.push(b'\n');
    }
    small.insert(layout::AUDIT_ROWS.into(), rows);
    small.insert(layout::AUDIT_INVOLVED.into(), pretty(&involved)?);
    small.insert(layout::AUDIT_CHECKPOINT.into(), pretty(&checkpoint)?);
    Ok(bundle)
}

/// The recordings of `session` that no longer match their sealed SHA-256, or cannot be read,
/// in words; empty when every recording is intact (or was deleted by retention).
pub async fn altered_recordings(store: &Store, recs: &RecStore, session: SessionId) -> Result<Vec<String>, EvidenceError> {
    let checks = super::integrity::check_session(store, recs, session).await?;
    Ok(checks
        .into_iter()
        .filter(|c| matches!(c.status, RecordingStatus::Mismatch | RecordingStatus::Missing))
        .map(|c| c.problem.unwrap_or_else(|| format!("recording {} does not match its sealed SHA-256", c.channel)))
        .collect())
}

/// The chain segment, the involved rows' numbers and the checkpoint ending the segment.
async fn audit_part(store: &Store, log: &AuditLog, session: SessionId, request: &str) -> Result<(Vec<AuditRow>, Vec<i64>, Checkpoint), EvidenceError> {
    let session_subject = format!("session:{session}");
    let request_subject = format!("request:{}", request.trim_start_matches('#'));
    let about = audit::about(store, [&session_subject, &request_subject]).await?;
    let (Some(first), Some(last)) = (about.first().map(|r| r.seq), about.last().map(|r| r.seq)) else {
        return Err(EvidenceError::NotFound(format!("audit rows about session {session}")));
    };
    let checkpoint = match audit::checkpoint_covering(store, last).await? {
        Some(cp) => cp,
        None => {
            log.checkpoint().await?;
            audit::checkpoint_covering(store, last)
                .await?
                .ok_or_else(|| EvidenceError::NotFound(format!("a signed checkpoint covering audit row {last}")))?
        }
    };
    let segment = audit::range(store, first, checkpoint.seq).await?;
    Ok((segment, about.iter().map(|r| r.seq).collect(), checkpoint))
}

/// Adds a recording if it can be opened; returns its member name or why it is absent.
async fn add_recording(bundle: &mut Bundle, session: SessionId, r: &RecordingRecord) -> (Option<String>, Option<String>) {
    if r.current_path().is_none() {
        return (None, Some(format!("{} by retention", r.retained.as_deref().unwrap_or("removed"))));
    }
    match bundle.recs.open(r).await {
        Ok(_) => {
            let name = layout::recording_name(session.0, r.channel, &r.path);
            bundle.files.insert(name.clone(), r.clone());
            (Some(name), None)
        }
        Err(e) => (None, Some(format!("cannot read: {e}"))),
    }
}

fn pretty<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, EvidenceError> {
    let mut out = serde_json::to_vec_pretty(v).map_err(|e| EvidenceError::Encode(e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}
