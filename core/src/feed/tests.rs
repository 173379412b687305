#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::audit::{AuditLog, Event, Kind, Subject};
use crate::testdb::{audit_log, stores};
use serde_json::json;

/// Fails a hung test; no test here relies on how long anything takes.
const HUNG: Duration = Duration::from_secs(30);
/// A poll interval no test run lasts, so only notifications can move the feed.
const NEVER: Duration = Duration::from_secs(3600);

fn event(i: usize) -> Event {
    Event::new("tester", Kind::UserCreated, Subject::User(format!("u{i}")), json!({ "i": i }))
}

/// Waits until the feed has published `seq` or more.
async fn wait_for(rx: &mut ChangeRx, seq: i64) {
    tokio::time::timeout(HUNG, rx.wait_for(|v| *v >= seq)).await.expect("feed never reached the row").unwrap();
}

#[test]
fn publish_only_moves_forward() {
    let feed = Feed::new();
    let mut rx = feed.subscribe();
    feed.publish(5);
    assert!(rx.has_changed().unwrap());
    rx.mark_unchanged();
    feed.publish(3);
    feed.publish(5);
    assert!(!rx.has_changed().unwrap());
    assert_eq!(feed.head(), 5);
}

#[tokio::test]
async fn commits_in_this_process_wake_waiters_at_once() {
    for t in stores().await {
        let log = audit_log(&t.store, 0);
        let shutdown = CancellationToken::new();
        let task = spawn(t.store.clone(), log.feed().clone(), t.url.clone(), 0, NEVER, shutdown.clone());
        let mut rx = log.feed().subscribe();
        let seq = log.record(event(1)).await.unwrap();
        wait_for(&mut rx, seq).await;
        // An audited write of several rows, announced by its commit.
        let mut tx = log.begin().await.unwrap();
        tx.append(event(2)).await.unwrap();
        let seq = tx.append(event(3)).await.unwrap();
        assert_eq!(tx.commit().await.unwrap(), seq);
        assert_eq!(log.feed().head(), seq, "{}", t.name);
        shutdown.cancel();
        task.await.unwrap();
    }
}

/// A second, independent store and audit log: another process or node.
async fn other_node(url: &str) -> AuditLog {
    audit_log(&Store::open(url).await.unwrap(), 0)
}

#[tokio::test]
async fn sqlite_safety_net_poll_sees_other_processes() {
    let t = stores().await.remove(0);
    assert_eq!(t.store.backend(), Backend::Sqlite);
    let feed = Feed::new();
    let shutdown = CancellationToken::new();
    let task = spawn(t.store.clone(), feed.clone(), t.url.clone(), 0, Duration::from_millis(20), shutdown.clone());
    let mut rx = feed.subscribe();
    let seq = other_node(&t.url).await.record(event(1)).await.unwrap();
    wait_for(&mut rx, seq).await;
    shutdown.cancel();
    task.await.unwrap();
}

/// The other connections of this test's database that are listening for notifications.
const LISTENING: &str = "FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()";

async fn listeners(store: &Store) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) {LISTENING}")).fetch_one(store.pool()).await.unwrap()
}

async fn wait_listening(store: &Store) {
    let deadline = tokio::time::Instant::now() + HUNG;
    while listeners(store).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the feed never started listening");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn postgres_listen_sees_other_nodes_and_survives_a_dropped_connection() {
    let t = stores().await.remove(1);
    assert_eq!(t.store.backend(), Backend::Postgres);
    let feed = Feed::new();
    let shutdown = CancellationToken::new();
    let task = spawn(t.store.clone(), feed.clone(), t.url.clone(), 0, NEVER, shutdown.clone());
    let mut rx = feed.subscribe();
    wait_listening(&t.store).await;
    let other = other_node(&t.url).await;
    let seq = other.record(event(1)).await.unwrap();
    wait_for(&mut rx, seq).await;

    // The database drops the listening connection; the feed reconnects and keeps working.
    let killed: Vec<bool> =
        sqlx::query_scalar(&format!("SELECT pg_terminate_backend(pid) {LISTENING}")).fetch_all(t.store.pool()).await.unwrap();
    assert!(!killed.is_empty());
    for i in 2..5 {
        let seq = other.record(event(i)).await.unwrap();
        wait_for(&mut rx, seq).await;
    }
    shutdown.cancel();
    task.await.unwrap();
}
