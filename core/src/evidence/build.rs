//! Building a bundle from the store: the session, its request and grant, the recordings
//! (read from where they are now, the archive folder for archived ones), the audit rows about
//! the session and its request, and the contiguous chain segment from the first of those rows
//! to the first signed checkpoint at or after the last one (signing one first if none covers
//! it yet). Then the manifest over all of it, signed with the audit key.

use super::archive::Members;
use super::layout;
use super::manifest::{Manifest, MANIFEST, SIGNATURE};
use super::EvidenceError;
use crate::audit::{self, AuditLog, AuditRow, Checkpoint};
use crate::domain::SessionId;
use crate::store::{RecordingRecord, Store};
use base64::Engine;
use serde::Serialize;

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

/// Builds the members of the bundle of `session`, manifest and signature included.
pub async fn build(store: &Store, log: &AuditLog, session: SessionId) -> Result<Members, EvidenceError> {
    let s = store.session(session).await?.ok_or_else(|| EvidenceError::NotFound(format!("session {session}")))?;
    let request = store.request(s.request_id).await?;
    let grant = store.grant(s.grant_id).await?;
    let recordings = store.recordings_of(session).await?;

    let (segment, involved, checkpoint) = audit_part(store, log, session, &s.request_id.to_string()).await?;

    let mut members = Members::new();
    let mut listed = Vec::new();
    for r in &recordings {
        let (member, absent_because) = add_recording(&mut members, session, r).await;
        listed.push(BundledRecording { record: r, member, absent_because });
    }
    members.insert(layout::SESSION.into(), pretty(&serde_json::json!({ "session": s, "recordings": listed }))?);
    members.insert(layout::REQUEST.into(), pretty(&request)?);
    members.insert(layout::GRANT.into(), pretty(&grant)?);
    let mut rows = Vec::new();
    for row in &segment {
        rows.extend(serde_json::to_vec(row).map_err(|e| EvidenceError::Encode(e.to_string()))?);
        rows.push(b'\n');
    }
    members.insert(layout::AUDIT_ROWS.into(), rows);
    members.insert(layout::AUDIT_INVOLVED.into(), pretty(&involved)?);
    members.insert(layout::AUDIT_CHECKPOINT.into(), pretty(&checkpoint)?);

    let signer = log.signer();
    let public = base64::engine::general_purpose::STANDARD.encode(signer.public_key());
    let manifest = Manifest::of(&members, session.0, crate::clock::now_ms(), signer.key_id(), &public);
    let signature = manifest.sign(signer);
    members.insert(MANIFEST.into(), manifest.canonical());
    members.insert(SIGNATURE.into(), format!("{signature}\n").into_bytes());
    Ok(members)
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

/// Adds a recording's file if it can be read; returns its member name or why it is absent.
async fn add_recording(members: &mut Members, session: SessionId, r: &RecordingRecord) -> (Option<String>, Option<String>) {
    let Some(path) = r.current_path() else {
        return (None, Some(format!("{} by retention", r.retained.as_deref().unwrap_or("removed"))));
    };
    match tokio::fs::read(path).await {
        Ok(data) => {
            let name = layout::recording_name(session.0, r.channel, &r.path);
            members.insert(name.clone(), data);
            (Some(name), None)
        }
        Err(e) => (None, Some(format!("cannot read {path}: {e}"))),
    }
}

fn pretty<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, EvidenceError> {
    let mut out = serde_json::to_vec_pretty(v).map_err(|e| EvidenceError::Encode(e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}
