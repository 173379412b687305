//! Leases on SQLite and PostgreSQL: a node whose lease runs out is claimed by one survivor
//! of two racing, its sessions are ended once as `node lost` with their recordings frozen and
//! sealed as truncated; the lost node, coming back, finds its lease taken, cannot end or seal
//! what was closed, and registers afresh; a lease renewed in time, or released at a clean
//! stop, is never claimed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::admin::fixture::World;
use crate::approvals::{ApprovalInput, ApproveOutcome, RequestInput};
use crate::audit::{self, verify, Kind};
use crate::domain::{Criticality, Role, SessionId};
use crate::sessions::{RecordingSeal, SessionStart, NODE_LOST};
use crate::testdb::stores;
use sqlx::Executor;

fn settings(node: &str) -> LeaseSettings {
    LeaseSettings { node: NodeId::parse(node).unwrap(), web_url: format!("https://{node}.test:8443"), heartbeat: Duration::from_secs(1), lease: Duration::from_secs(3) }
}

async fn start_on(w: &World, sessions: &Sessions, vendor: &str, device: &str) -> SessionId {
    let v = w.user(vendor, Role::Vendor).await;
    let nurse = w.user(&format!("{vendor}-ok"), Role::Approver).await;
    let d = w.device(device, Criticality::Standard).await;
    let req = w.approvals.create_request(RequestInput::new(&v, &d, "INC-1", 30).peer("127.0.0.1:1")).await.unwrap();
    let ApproveOutcome::Granted(grant) = w.approvals.approve(ApprovalInput::new(req.id, &nurse, "test")).await.unwrap() else { panic!("not granted") };
    let user = w.store.require_user(&v).await.unwrap();
    let dev = w.store.require_device(&d).await.unwrap();
    sessions.start(SessionStart { user: &user, grant: &grant, device: &dev, peer: "127.0.0.1:1" }).await.unwrap()
}

/// Makes `node`'s lease look as if it was last renewed long ago (by the database's clock).
async fn age_lease(store: &Store, node: &str) {
    store.pool().execute(format!("UPDATE nodes SET renewed_at = renewed_at - 100 WHERE id = '{node}'").as_str()).await.unwrap();
}

#[tokio::test]
async fn one_survivor_closes_a_lost_node_once_and_the_node_coming_back_cannot_undo_it() {
    for t in stores().await {
        let w = World::new(&t);
        let dir = tempfile::tempdir().unwrap();
        let a = settings("node-a");
        let lost_node = Sessions::new(w.store.clone(), w.audit.clone(), a.node.clone());
        let lease_a = Lease::default();
        lease_a.register(&w.store, &a).await.unwrap();
        let session = start_on(&w, &lost_node, "jdoe", "pump-1").await;
        let cast = dir.path().join("1.cast");
        std::fs::write(&cast, b"{\"version\":2}\n[0.1,\"o\",\"a\"]\n").unwrap();
        let rec = w.store.insert_recording(session, 1, "asciicast", &cast.display().to_string(), 0).await.unwrap();

        // Renewed in time: nobody claims it.
        let (b, c) = (Sessions::new(w.store.clone(), w.audit.clone(), NodeId::parse("node-b").unwrap()), Sessions::new(w.store.clone(), w.audit.clone(), NodeId::parse("node-c").unwrap()));
        close_lost(&w.store, &b).await.unwrap();
        assert_eq!(w.store.session(session).await.unwrap().unwrap().state.to_string(), "active", "{}", w.name);

        // Paused past its lease: two survivors race for it.
        age_lease(&w.store, "node-a").await;
        let (rb, rc) = tokio::join!(close_lost(&w.store, &b), close_lost(&w.store, &c));
        rb.unwrap();
        rc.unwrap();
        let row = w.store.session(session).await.unwrap().unwrap();
        assert_eq!((row.state.to_string(), row.end_reason.as_deref()), ("ended".to_owned(), Some(NODE_LOST)), "{}", w.name);
        let rows = audit::about(&w.store, ["system", "system"]).await.unwrap();
        let lost: Vec<_> = rows.iter().filter(|r| r.kind == Kind::NodeLost.as_str()).collect();
        assert_eq!(lost.len(), 1, "{}: {lost:?}", w.name);
        let subject = format!("session:{}", session.0);
        let about = audit::about(&w.store, [&subject, &subject]).await.unwrap();
        let ended: Vec<_> = about.iter().filter(|r| r.kind == Kind::SessionEnded.as_str()).collect();
        assert_eq!(ended.len(), 1, "{}", w.name);
        let d: serde_json::Value = serde_json::from_str(&ended[0].detail).unwrap();
        assert_eq!((d["reason"].as_str(), d["node"].as_str()), (Some(NODE_LOST), Some("node-a")), "{}", w.name);
        let sealed = w.store.recordings_of(session).await.unwrap().into_iter().find(|r| r.id == rec).unwrap();
        assert!(sealed.path.ends_with("1.lost.cast") && sealed.sha256.is_some(), "{}: {sealed:?}", w.name);
        let seal_row = about.iter().find(|r| r.kind == Kind::RecordingSealed.as_str()).unwrap();
        let d: serde_json::Value = serde_json::from_str(&seal_row.detail).unwrap();
        assert_eq!((d["truncated"].as_bool(), d["why"].as_str()), (Some(true), Some(NODE_LOST)), "{}", w.name);

        // The lost node resumes: its writer appends, its end and seal are refused, its lease is
        // taken (its sessions are told to stop) and it registers afresh.
        std::fs::OpenOptions::new().append(true).open(&cast).map(|mut f| std::io::Write::write_all(&mut f, b"[0.2,\"o\",\"late\"]\n")).unwrap().unwrap();
        assert!(lost_node.end("jdoe", session, "client closed").await.is_err());
        let late_seal = RecordingSeal { session, recording_id: rec, channel: 1, what: "terminal", path: cast.display().to_string(), sha256: "00".repeat(32), bytes: 1, events: 1 };
        assert!(lost_node.seal_recording("jdoe", &late_seal).await.is_err());
        let told = lease_a.lost();
        assert!(!lease_a.renew(&w.store, &a).await.unwrap());
        assert!(told.has_changed().unwrap());
        assert!(lease_a.renew(&w.store, &a).await.unwrap(), "{}: registered afresh", w.name);

        // Nothing more to do, for anyone; the record holds.
        close_lost(&w.store, &c).await.unwrap();
        let count = audit::about(&w.store, [&subject, &subject]).await.unwrap().len();
        assert_eq!(count, about.len(), "{}", w.name);
        assert!(verify(&w.store, w.audit.signer()).await.unwrap().ok, "{}", w.name);
        let frozen = portcullis_recorder::seal_file(std::path::Path::new(&sealed.path)).unwrap();
        assert_eq!(Some(frozen.sha256), sealed.sha256, "{}", w.name);
    }
}

#[tokio::test]
async fn a_lease_released_at_a_clean_stop_is_never_claimed() {
    for t in stores().await {
        let w = World::new(&t);
        let a = settings("node-a");
        let lease = Lease::default();
        lease.register(&w.store, &a).await.unwrap();
        let open = start_on(&w, &Sessions::new(w.store.clone(), w.audit.clone(), a.node.clone()), "jdoe", "pump-1").await;
        // A session still open in the store keeps the lease: a survivor must close it.
        assert!(!lease.release(&w.store, &a.node).await.unwrap(), "{}", w.name);
        Sessions::new(w.store.clone(), w.audit.clone(), a.node.clone()).end("jdoe", open, "client closed").await.unwrap();
        assert!(lease.release(&w.store, &a.node).await.unwrap(), "{}", w.name);
        assert!(w.store.node_lease(&a.node).await.unwrap().is_none());
        let b = Sessions::new(w.store.clone(), w.audit.clone(), NodeId::parse("node-b").unwrap());
        close_lost(&w.store, &b).await.unwrap();
        let rows = audit::about(&w.store, ["system", "system"]).await.unwrap();
        assert!(rows.iter().all(|r| r.kind != Kind::NodeLost.as_str()), "{}", w.name);
    }
}

#[test]
fn a_node_takes_others_as_lost_only_after_a_whole_lease_held_without_a_break() {
    let lease = Duration::from_secs(30);
    let t0 = Instant::now();
    let first = Held::renewed(None, t0, lease);
    let steady = Held::renewed(Some(first), t0 + Duration::from_secs(5), lease);
    assert_eq!(steady.since, t0, "a renewal within the lease continues the run");
    // The store was away for longer than a lease: the run starts again at the renewal.
    let back = Held::renewed(Some(steady), t0 + Duration::from_secs(60), lease);
    assert_eq!(back.since, t0 + Duration::from_secs(60));
    let l = Lease::default();
    assert!(!l.settled(Duration::ZERO), "no lease held yet");
    l.renewed_now(lease, true);
    assert!(!l.settled(lease), "just registered");
    assert!(l.settled(Duration::ZERO));
}
