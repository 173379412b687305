//! Start-up recovery: a node that stopped without finishing its sessions (killed, power lost)
//! left them `active` in the store, their recordings unsealed. Before it accepts anything
//! again, `serve` closes them: each recording still unsealed is sealed as truncated with the
//! SHA-256 of what is on disk (a file that is not there is said to be missing, and no hash is
//! made up for it), then the session ends with the reason `node crashed` — all of one session
//! in one audited write, by the actor `system`. Only the sessions recorded under this node's id
//! are touched, so a node of a cluster never closes another's; sessions started before nodes
//! were recorded (no node) are closed on SQLite only, where one node owns the store. A second
//! run finds nothing left open and writes nothing.

use super::{seal_detail, RecordingSeal, Sessions};
use crate::audit::{self, Event, Kind, Subject};
use crate::clock;
use crate::domain::SessionId;
use crate::store::{Backend, RecordingRecord, StoreError};
use portcullis_recorder::pcap::seal_capture_file;
use portcullis_recorder::{seal_file, Seal};
use serde_json::json;
use std::path::PathBuf;

/// The end reason, and the truncation reason of the recordings, of a session closed at start-up.
pub const NODE_CRASHED: &str = "node crashed";

/// The actor of the rows written by the recovery, as of the node's other own actions.
pub(super) const ACTOR: &str = "system";

/// What a recovery closed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Sessions ended as `node crashed`.
    pub sessions: Vec<SessionId>,
    /// Recordings sealed as truncated.
    pub sealed: usize,
    /// Recordings whose file was not there (audited as `recording.failed`, left unsealed).
    pub missing: usize,
}

/// One unsealed recording as found on disk.
pub(super) struct Found {
    rec: RecordingRecord,
    /// What it records, for the audit row.
    what: &'static str,
    /// The file its seal covers and the seal, or why there is none.
    on_disk: Result<(String, Seal), String>,
}

/// How the unsealed recordings of a session are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reach {
    /// Hashed where they are: their writer was this node's previous run, which is dead.
    InPlace,
    /// Frozen first ([`super::reachable::freeze`]): their writer may only have paused.
    Frozen,
}

impl Sessions {
    /// Closes the sessions this node left open (see the module documentation).
    pub async fn close_left_open(&self) -> Result<Recovery, StoreError> {
        let unowned = self.store.backend() == Backend::Sqlite;
        let mut out = Recovery::default();
        for id in self.store.sessions_left_open(&self.node, unowned).await? {
            let found = self.find_recordings(id, Reach::InPlace).await?;
            let (sealed, missing) = (found.iter().filter(|f| f.on_disk.is_ok()).count(), found.iter().filter(|f| f.on_disk.is_err()).count());
            if self.close_cut_short(id, &found, NODE_CRASHED, json!({ "reason": NODE_CRASHED, "node": self.node })).await? {
                out.sessions.push(id);
                out.sealed += sealed;
                out.missing += missing;
            }
        }
        Ok(out)
    }

    /// The unsealed recordings of `id`, each hashed from disk.
    pub(super) async fn find_recordings(&self, id: SessionId, reach: Reach) -> Result<Vec<Found>, StoreError> {
        let subject = Subject::Session(id).to_string();
        let tunnels: Vec<i64> = audit::about(&self.store, [&subject, &subject])
            .await?
            .iter()
            .filter(|r| r.kind == Kind::TunnelOpened.as_str())
            .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.detail).ok()?["channel"].as_i64())
            .collect();
        let mut found = Vec::new();
        for rec in self.store.recordings_of(id).await?.into_iter().filter(|r| r.sealed_at.is_none()) {
            let cast = rec.kind == "asciicast";
            let what = match (cast, tunnels.contains(&rec.channel)) {
                (true, _) => "terminal",
                (false, true) => "tunnel",
                (false, false) => "sftp",
            };
            let on_disk = match reach {
                Reach::InPlace => {
                    let path = PathBuf::from(&rec.path);
                    tokio::task::spawn_blocking(move || if cast { seal_file(&path) } else { seal_capture_file(&path) })
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| r.map_err(|e| e.to_string()))
                        .map(|seal| (rec.path.clone(), seal))
                }
                Reach::Frozen => super::reachable::freeze(&rec).await.map(|r| (r.path, r.seal)),
            };
            found.push(Found { rec, what, on_disk });
        }
        Ok(found)
    }

    /// Seals `found` as truncated (`why`) and ends `id` with the same reason and `ended` as the
    /// detail of its `session.ended` row, in one audited write; false (and nothing written)
    /// if the session was no longer active.
    pub(super) async fn close_cut_short(&self, id: SessionId, found: &[Found], why: &str, ended: serde_json::Value) -> Result<bool, StoreError> {
        let now = clock::now();
        let mut tx = self.audit.begin().await?;
        for f in found {
            let channel = u32::try_from(f.rec.channel).unwrap_or_default();
            match &f.on_disk {
                Ok((path, seal)) => {
                    if *path != f.rec.path && !self.store.move_unsealed_recording(&mut tx, f.rec.id, path).await? {
                        continue;
                    }
                    if !self.store.seal_recording(&mut tx, f.rec.id, &seal.sha256, seal.bytes as i64, now).await? {
                        continue;
                    }
                    let sealed = RecordingSeal {
                        session: id,
                        recording_id: f.rec.id,
                        channel,
                        what: f.what,
                        path: path.clone(),
                        sha256: seal.sha256.clone(),
                        bytes: seal.bytes,
                        events: seal.events,
                    };
                    tx.append(Event::new(ACTOR, Kind::RecordingSealed, Subject::Session(id), seal_detail(&sealed, Some(why), false))).await?;
                }
                Err(e) => {
                    let detail = json!({ "channel": channel, "what": f.what, "path": f.rec.path, "error": format!("{why}; the recording is missing: {e}") });
                    tx.append(Event::new(ACTOR, Kind::RecordingFailed, Subject::Session(id), detail)).await?;
                }
            }
        }
        if !self.store.end_session(&mut tx, id, why, now).await? {
            return Ok(false);
        }
        tx.append(Event::new(ACTOR, Kind::SessionEnded, Subject::Session(id), ended)).await?;
        tx.commit().await?;
        Ok(true)
    }
}
