//! The backlog on SQLite and PostgreSQL: rows that meet a store that does not answer wait,
//! in order, and are written marked `late` (the session row keeping when it really ended)
//! once the store answers; the wait is bounded; a row that can never be written is given up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::admin::fixture::World;
use crate::audit::verify;
use crate::testdb::stores;

const PEER: &str = "127.0.0.1:40000";
/// Fails a hung test; nothing here relies on how long anything takes.
const HUNG: Duration = Duration::from_secs(30);

fn seal_of(session: SessionId, recording_id: i64) -> RecordingSeal {
    RecordingSeal { session, recording_id, channel: 1, what: "terminal", path: "/rec/1.cast".into(), sha256: "aa".into(), bytes: 10, events: 2 }
}

#[tokio::test]
async fn rows_wait_while_the_store_is_away_and_are_written_late_in_order() {
    for t in stores().await {
        let w = World::new(&t);
        let (id, vendor) = w.started_session(PEER).await;
        let rec = w.store.insert_recording(id, 1, "asciicast", "/rec/1.cast", 0).await.unwrap();
        let feed = w.audit.feed().clone();
        let backlog = Backlog::new(w.sessions.clone(), feed.clone());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(backlog.clone().run(shutdown.clone()));

        feed.set_reachable(false);
        backlog.seal_recording(&vendor, &seal_of(id, rec)).await;
        backlog.end_session(&vendor, id, "store unavailable").await;
        let ended_at = clock::now();
        assert_eq!(backlog.len(), 2, "{}: both rows wait", w.name);
        assert!(w.audit_of("session.ended").await.is_empty(), "{}", w.name);
        assert!(w.store.session(id).await.unwrap().unwrap().ended_at.is_none(), "{}", w.name);

        feed.set_reachable(true);
        tokio::time::timeout(HUNG, async {
            while !backlog.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the rows were never written");
        let sealed = w.audit_of("recording.sealed").await;
        let ended = w.audit_of("session.ended").await;
        assert_eq!((sealed.len(), ended.len()), (1, 1), "{}", w.name);
        assert!(sealed[0].seq < ended[0].seq, "{}: the seal is written before the end, as they happened", w.name);
        let detail: serde_json::Value = serde_json::from_str(&sealed[0].detail).unwrap();
        assert_eq!(detail["late"], true, "{}: {detail}", w.name);
        let detail: serde_json::Value = serde_json::from_str(&ended[0].detail).unwrap();
        assert_eq!((detail["late"].clone(), detail["reason"].clone()), (serde_json::json!(true), serde_json::json!("store unavailable")), "{}: {detail}", w.name);
        let row = w.store.session(id).await.unwrap().unwrap();
        let at = row.ended_at.unwrap();
        assert!(at <= ended_at, "{}: the session row keeps when it ended ({at}), not when it was written", w.name);
        assert_eq!(detail["ended_at"], at, "{}", w.name);
        assert!(verify(&w.store, w.audit.signer()).await.unwrap().ok, "{}", w.name);

        shutdown.cancel();
        tokio::time::timeout(HUNG, task).await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn while_the_store_answers_rows_are_written_at_once_and_not_marked_late() {
    for t in stores().await {
        let w = World::new(&t);
        let (id, vendor) = w.started_session(PEER).await;
        let backlog = Backlog::new(w.sessions.clone(), w.audit.feed().clone());
        backlog.end_session(&vendor, id, "vendor disconnected").await;
        assert!(backlog.is_empty(), "{}", w.name);
        let ended = w.audit_of("session.ended").await;
        assert_eq!(ended.len(), 1, "{}", w.name);
        assert!(!ended[0].detail.contains("late"), "{}: {}", w.name, ended[0].detail);
    }
}

#[tokio::test]
async fn the_wait_is_bounded_and_a_row_that_cannot_be_written_is_given_up() {
    for t in stores().await {
        let w = World::new(&t);
        let (id, vendor) = w.started_session(PEER).await;
        let feed = w.audit.feed().clone();
        let backlog = Backlog::new(w.sessions.clone(), feed.clone());
        feed.set_reachable(false);
        // A seal of a recording that does not exist: refused for good once the store answers.
        backlog.seal_recording(&vendor, &seal_of(id, 987_654)).await;
        for _ in 0..CAPACITY + 10 {
            backlog.end_session(&vendor, id, "store unavailable").await;
        }
        assert_eq!(backlog.len(), CAPACITY, "{}: no more than CAPACITY rows wait", w.name);

        feed.set_reachable(true);
        backlog.flush().await;
        assert!(backlog.is_empty(), "{}: every row was written or given up", w.name);
        assert!(w.audit_of("recording.sealed").await.is_empty(), "{}", w.name);
        assert_eq!(w.audit_of("session.ended").await.len(), 1, "{}: the session ends once", w.name);
    }
}
