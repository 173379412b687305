//! The session lifecycle on SQLite and PostgreSQL: a start under a grant, recordings sealed
//! once (cleanly or as truncated), an end written once, every step in the chain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::RecordingSeal;
use crate::admin::fixture::World;
use crate::audit::verify;
use crate::domain::SessionId;
use crate::store::StoreError;
use crate::testdb::stores;

const PEER: &str = "127.0.0.1:40000";

fn seal_of(session: SessionId, recording_id: i64, sha: &str) -> RecordingSeal {
    RecordingSeal {
        session,
        recording_id,
        channel: 1,
        what: "terminal",
        path: "/rec/1.cast".into(),
        sha256: sha.into(),
        bytes: 10,
        events: 2,
    }
}

#[tokio::test]
async fn a_session_starts_seals_and_ends_once_in_the_chain() {
    for t in stores().await {
        let w = World::new(&t);
        let (id, vendor) = w.started_session(PEER).await;
        let row = w.store.session(id).await.unwrap().unwrap();
        assert!(row.ended_at.is_none(), "{}", w.name);
        let start = w.audit_of("session.started").await;
        assert_eq!(start.len(), 1, "{}", w.name);
        assert_eq!((start[0].actor.as_str(), start[0].subject.clone()), (vendor.as_str(), format!("session:{id}")));
        let detail: serde_json::Value = serde_json::from_str(&start[0].detail).unwrap();
        assert_eq!(detail["device"], "pump-1", "{}", w.name);
        assert_eq!(detail["peer"], PEER, "{}", w.name);

        let rec = w.store.insert_recording(id, 1, "asciicast", "/rec/1.cast", 0).await.unwrap();
        w.sessions.seal_recording(&vendor, &seal_of(id, rec, "aa")).await.unwrap();
        let again = w.sessions.seal_recording(&vendor, &seal_of(id, rec, "bb")).await;
        assert!(matches!(again, Err(StoreError::Exists(_))), "{}: a second seal is refused: {again:?}", w.name);
        let sealed = w.audit_of("recording.sealed").await;
        assert_eq!(sealed.len(), 1, "{}: one hash per recording in the log", w.name);
        assert!(sealed[0].detail.contains("\"sha256\":\"aa\"") && !sealed[0].detail.contains("truncated"), "{}", w.name);
        assert_eq!(w.store.recordings_of(id).await.unwrap()[0].sha256.as_deref(), Some("aa"), "{}", w.name);

        w.sessions.end(&vendor, id, "vendor disconnected").await.unwrap();
        let again = w.sessions.end(&vendor, id, "window ended").await;
        assert!(matches!(again, Err(StoreError::NotFound(_))), "{}: a second end is refused: {again:?}", w.name);
        let row = w.store.session(id).await.unwrap().unwrap();
        assert_eq!(row.end_reason.as_deref(), Some("vendor disconnected"), "{}", w.name);
        assert_eq!(w.audit_of("session.ended").await.len(), 1, "{}", w.name);
        assert!(verify(&w.store, w.audit.signer()).await.unwrap().ok, "{}", w.name);
    }
}

#[tokio::test]
async fn a_cut_short_recording_is_sealed_as_truncated_with_why() {
    for t in stores().await {
        let w = World::new(&t);
        let (id, vendor) = w.started_session(PEER).await;
        let rec = w.store.insert_recording(id, 1, "pcap", "/rec/1.pcap", 0).await.unwrap();
        w.sessions.mark_truncated(&vendor, &seal_of(id, rec, "cc"), "disk full").await.unwrap();
        let sealed = w.audit_of("recording.sealed").await;
        let detail: serde_json::Value = serde_json::from_str(&sealed[0].detail).unwrap();
        assert_eq!((detail["truncated"].clone(), detail["why"].clone()), (serde_json::json!(true), serde_json::json!("disk full")), "{}", w.name);
        assert_eq!(detail["sha256"], "cc", "{}", w.name);
        assert!(matches!(w.sessions.mark_truncated(&vendor, &seal_of(id, rec, "dd"), "again").await, Err(StoreError::Exists(_))), "{}", w.name);
    }
}

#[tokio::test]
async fn ending_an_unknown_session_writes_nothing() {
    for t in stores().await {
        let w = World::new(&t);
        let before = w.audit_rows().await.len();
        assert!(matches!(w.sessions.end("jdoe", SessionId(999), "x").await, Err(StoreError::NotFound(_))), "{}", w.name);
        assert_eq!(w.audit_rows().await.len(), before, "{}", w.name);
    }
}
