//! Start-up recovery on SQLite and PostgreSQL: the sessions this node left open are ended as
//! `node crashed` with their recordings sealed as truncated from what is on disk; a missing
//! file is said to be missing; another node's sessions are left alone; sessions with no node
//! recorded are closed on SQLite only; a second run writes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::{SessionStart, Sessions, NODE_CRASHED};
use crate::admin::fixture::World;
use crate::approvals::{ApprovalInput, ApproveOutcome, RequestInput};
use crate::audit::verify;
use crate::domain::{Criticality, NodeId, Role, SessionId};
use crate::store::GrantRecord;
use crate::testdb::stores;
use sqlx::Executor;

const PEER: &str = "127.0.0.1:40000";

/// Starts a session on `sessions`' node under a fresh grant for `vendor` on `device`.
async fn start_on(w: &World, sessions: &Sessions, vendor: &str, device: &str) -> SessionId {
    let v = w.user(vendor, Role::Vendor).await;
    let nurse = w.user(&format!("{vendor}-ok"), Role::Approver).await;
    let d = w.device(device, Criticality::Standard).await;
    let req = w.approvals.create_request(RequestInput::new(&v, &d, "INC-1", 30).peer(PEER)).await.unwrap();
    let ApproveOutcome::Granted(grant) = w.approvals.approve(ApprovalInput::new(req.id, &nurse, "test")).await.unwrap() else {
        panic!("not granted")
    };
    let grant: GrantRecord = grant;
    let user = w.store.require_user(&v).await.unwrap();
    let dev = w.store.require_device(&d).await.unwrap();
    sessions.start(SessionStart { user: &user, grant: &grant, device: &dev, peer: PEER }).await.unwrap()
}

fn detail(row: &crate::audit::AuditRow) -> serde_json::Value {
    serde_json::from_str(&row.detail).unwrap()
}

#[tokio::test]
async fn a_restart_closes_what_this_node_left_open_and_nothing_else() {
    for t in stores().await {
        let w = World::new(&t);
        let dir = tempfile::tempdir().unwrap();
        let other = Sessions::new(w.store.clone(), w.audit.clone(), NodeId::parse("other-node").unwrap());
        let mine = start_on(&w, &w.sessions, "jdoe", "pump-1").await;
        let theirs = start_on(&w, &other, "asmith", "pump-2").await;
        let old = start_on(&w, &w.sessions, "bwong", "pump-3").await;
        w.store.pool().execute(format!("UPDATE sessions SET node = NULL WHERE id = {}", old.0).as_str()).await.unwrap();

        // A terminal cut off mid-line, and a capture whose file never made it to disk.
        let cast = dir.path().join("1.cast");
        std::fs::write(&cast, b"{\"version\":2}\n[0.1,\"o\",\"a\"]\n[0.2,\"o\",\"b").unwrap();
        let cast_id = w.store.insert_recording(mine, 1, "asciicast", &cast.display().to_string(), 0).await.unwrap();
        let gone = dir.path().join("2.pcap");
        w.store.insert_recording(mine, 2, "pcap", &gone.display().to_string(), 0).await.unwrap();

        let closed = w.sessions.close_left_open().await.unwrap();
        let want: Vec<SessionId> = if w.name == "sqlite" { vec![mine, old] } else { vec![mine] };
        assert_eq!((closed.sessions.clone(), closed.sealed, closed.missing), (want, 1, 1), "{}", w.name);

        let row = w.store.session(mine).await.unwrap().unwrap();
        assert_eq!((row.state.to_string(), row.end_reason.as_deref()), ("ended".to_owned(), Some(NODE_CRASHED)), "{}", w.name);
        assert_eq!(w.store.session(theirs).await.unwrap().unwrap().state.to_string(), "active", "{}: another node's session", w.name);
        let old_state = w.store.session(old).await.unwrap().unwrap().state.to_string();
        assert_eq!(old_state, if w.name == "sqlite" { "ended" } else { "active" }, "{}: a session with no node", w.name);

        let sealed = w.audit_of("recording.sealed").await;
        assert_eq!(sealed.len(), 1, "{}", w.name);
        let d = detail(&sealed[0]);
        let (sha, bytes) = portcullis_recorder::sha256_file(&cast).unwrap();
        assert_eq!((d["sha256"].as_str(), d["bytes"].as_u64(), d["events"].as_u64()), (Some(sha.as_str()), Some(bytes), Some(1)), "{}: {d}", w.name);
        assert_eq!((d["truncated"].as_bool(), d["why"].as_str(), d["what"].as_str()), (Some(true), Some(NODE_CRASHED), Some("terminal")), "{}", w.name);
        assert_eq!(sealed[0].actor, "system", "{}", w.name);
        let recs = w.store.recordings_of(mine).await.unwrap();
        assert_eq!(recs.iter().find(|r| r.id == cast_id).and_then(|r| r.sha256.clone()), Some(sha), "{}", w.name);
        let failed = w.audit_of("recording.failed").await;
        assert_eq!(failed.len(), 1, "{}", w.name);
        assert!(detail(&failed[0])["error"].as_str().unwrap().contains("missing"), "{}: {}", w.name, failed[0].detail);
        assert!(recs.iter().any(|r| r.channel == 2 && r.sealed_at.is_none() && r.sha256.is_none()), "{}: no hash is made up", w.name);
        let ended = w.audit_of("session.ended").await;
        assert!(ended.iter().all(|r| detail(r)["reason"] == NODE_CRASHED && r.actor == "system"), "{}", w.name);

        let before = w.audit_rows().await.len();
        assert_eq!(w.sessions.close_left_open().await.unwrap(), super::Recovery::default(), "{}: a second restart", w.name);
        assert_eq!(w.audit_rows().await.len(), before, "{}: a second restart writes nothing", w.name);
        assert!(verify(&w.store, w.audit.signer()).await.unwrap().ok, "{}", w.name);
    }
}
