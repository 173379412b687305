//! The uploader task of a node with `store = "s3"`: every sealed recording of this node's
//! sessions that is not in the bucket yet is uploaded and checked ([`super::upload`]), then,
//! in one audited write, the row records its object key and the audit log a
//! `recording.stored` row; only after that commit is the local copy removed. A recording that
//! cannot be uploaded (the bucket is away, refuses the key, or the file no longer matches its
//! seal) stays local, is said once in the audit log (`recording.store_failed`) and is tried
//! again at the next pass ([`RETRY`], and whenever a recording is sealed); its
//! `recording.stored` row then says `late`. Nothing is lost: the local file goes only once the
//! bucket is known to hold the sealed bytes. A node started again picks up what it left.

use super::upload::{upload, Sealed};
use super::RecStore;
use crate::audit::{AuditLog, Event, Kind, Subject};
use crate::clock;
use crate::domain::NodeId;
use crate::metrics;
use crate::store::{RecordingRecord, Store, StoreError};
use serde_json::json;
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How often recordings waiting for the bucket are tried again.
pub const RETRY: Duration = Duration::from_secs(5);
/// Recordings looked at per pass.
const BATCH: i64 = 100;
/// The actor of the rows the uploader writes.
const ACTOR: &str = "system";

/// Uploads this node's sealed recordings; see the module documentation.
#[derive(Debug)]
pub struct Uploader {
    store: Store,
    audit: AuditLog,
    recstore: RecStore,
    node: NodeId,
    /// Recordings whose failure is already in the audit log (said once, not at every retry).
    failed: HashSet<i64>,
}

impl Uploader {
    pub fn new(store: Store, audit: AuditLog, recstore: RecStore, node: NodeId) -> Uploader {
        Uploader { store, audit, recstore, node, failed: HashSet::new() }
    }

    /// Passes until `shutdown` (nothing to do without a bucket).
    pub async fn run(mut self, shutdown: CancellationToken) {
        if !self.recstore.has_bucket() {
            return;
        }
        let recstore = self.recstore.clone();
        loop {
            if let Err(e) = self.pass().await {
                warn!(error = %e, "cannot look for recordings to upload");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = recstore.sealed() => {}
                _ = tokio::time::sleep(RETRY) => {}
            }
        }
    }

    /// Uploads what waits; returns how many were stored.
    pub async fn pass(&mut self) -> Result<usize, StoreError> {
        let waiting = self.store.recordings_to_upload(&self.node, BATCH).await?;
        let mut stored = 0;
        let mut left: Vec<&RecordingRecord> = Vec::new();
        for rec in &waiting {
            match self.one(rec).await {
                Ok(()) => stored += 1,
                Err(e) => {
                    warn!(recording = rec.id, session = %rec.session_id, error = %e, "recording not uploaded; it stays local and is tried again");
                    left.push(rec);
                }
            }
        }
        let m = metrics::get();
        m.set_upload_waiting(left.len() as i64);
        let oldest = left.iter().filter_map(|r| r.sealed_at).min();
        m.set_upload_lag(oldest.map(|t| (clock::now() - t).max(0) as f64).unwrap_or(0.0));
        Ok(stored)
    }

    async fn one(&mut self, rec: &RecordingRecord) -> Result<(), String> {
        let Some(bucket) = self.recstore.bucket() else { return Ok(()) };
        let file = Path::new(&rec.path).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| format!("{}.bin", rec.channel));
        let key = bucket.key(rec.session_id.0, &file);
        let (sha256, bytes) = (rec.sha256.clone().unwrap_or_default(), rec.bytes.unwrap_or_default().max(0) as u64);
        let late = self.failed.contains(&rec.id);
        if let Err(e) = upload(bucket, &rec.path, &key, Sealed { sha256: &sha256, bytes }).await {
            metrics::get().upload_failed();
            if self.failed.insert(rec.id) {
                let detail = json!({ "channel": rec.channel, "path": rec.path, "bucket": bucket.name, "key": key, "error": e.to_string() });
                if let Err(e) = self.audit.record(Event::new(ACTOR, Kind::RecordingStoreFailed, Subject::Session(rec.session_id), detail)).await {
                    warn!(error = %e, "cannot write recording.store_failed");
                    self.failed.remove(&rec.id);
                }
            }
            return Err(e.to_string());
        }
        let mut detail = json!({ "channel": rec.channel, "bucket": bucket.name, "key": key, "sha256": sha256, "bytes": bytes, "checked": "size and SHA-256 re-read" });
        if late {
            if let Some(o) = detail.as_object_mut() {
                o.insert("late".into(), json!(true));
            }
        }
        let recorded: Result<bool, StoreError> = async {
            let mut tx = self.audit.begin().await?;
            if !self.store.mark_stored(&mut tx, rec.id, &key, clock::now()).await? {
                return Ok(false);
            }
            tx.append(Event::new(ACTOR, Kind::RecordingStored, Subject::Session(rec.session_id), detail)).await?;
            tx.commit().await?;
            Ok(true)
        }
        .await;
        match recorded {
            // Retention or another pass got there first: the local file is theirs to handle.
            Ok(false) => Ok(()),
            Ok(true) => {
                self.failed.remove(&rec.id);
                info!(recording = rec.id, session = %rec.session_id, key = %key, "recording stored in the bucket");
                if let Err(e) = tokio::fs::remove_file(&rec.path).await {
                    warn!(path = %rec.path, error = %e, "stored in the bucket, but the local copy cannot be removed");
                }
                Ok(())
            }
            Err(e) => Err(format!("uploaded, but cannot record it: {e}")),
        }
    }
}
