//! The fan-out against a real SQLite store: sessions, grants, stops and accounts made through
//! core's services, changes announced by the audit log's own commits. Queries are counted by
//! the fan-out itself, so the bounds below are exact counts, not timings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::state::ActiveSession;
use crate::testkit::World;
use portcullis_core::approvals::StopInput;
use portcullis_core::audit::{Event, Kind, Subject};
use portcullis_core::domain::ChannelSet;
use portcullis_core::store::{GrantRecord, UserRecord};
use std::time::Duration;

/// Longest a test waits for the fan-out to catch up.
const WAIT: Duration = Duration::from_secs(30);

/// How many sessions run at once in these tests.
const SESSIONS: usize = 60;

/// A world with a vendor, a device, one grant and `n` sessions under it.
async fn sessions(n: usize) -> (World, UserRecord, GrantRecord, Vec<ActiveSession>) {
    let w = World::new().await;
    let vendor = w.vendor("jdoe").await;
    let dev = w.device("pump-1").await;
    let grant = w.grant(&vendor, &dev, 60, &ChannelSet::shell()).await;
    let mut all = Vec::new();
    for _ in 0..n {
        all.push(w.session(&vendor, &dev, &grant).await);
    }
    (w, vendor, grant, all)
}

fn fanout(w: &World) -> Fanout {
    Fanout::new(w.ctx.store.clone(), w.ctx.sessions.node().clone())
}

fn of(s: &ActiveSession) -> Interest {
    Interest::Session { id: s.id, grant: s.grant.id, vendor: s.grant.vendor_id }
}

/// Starts the fan-out's task on the world's change feed; cancel the token to stop it.
fn start(w: &World, f: &Fanout) -> (tokio::task::JoinHandle<()>, CancellationToken) {
    let stop = CancellationToken::new();
    (tokio::spawn(f.clone().run(w.ctx.audit.feed().subscribe(), stop.clone())), stop)
}

/// Polls until `f` has completed `n` reads.
async fn passes(f: &Fanout, n: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while f.passes() < n {
        assert!(tokio::time::Instant::now() < deadline, "the fan-out made {} reads, not {n}", f.passes());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An audit row that concerns none of the sessions (something happened elsewhere).
async fn unrelated_row(w: &World, i: usize) {
    w.ctx.audit.record(Event::new("cli:test", Kind::UserUnlocked, Subject::user("someone"), serde_json::json!({ "n": i }))).await.unwrap();
}

async fn next(watch: &mut Watch) -> Verdict {
    tokio::time::timeout(WAIT, watch.changed()).await.expect("no verdict")
}

#[tokio::test]
async fn one_change_costs_one_query_however_many_sessions_run() {
    let (w, _, _, all) = sessions(SESSIONS).await;
    let f = fanout(&w);
    let watches: Vec<Watch> = all.iter().map(|s| f.watch(of(s))).collect();
    assert_eq!(f.watching(), SESSIONS);
    let _task = start(&w, &f);
    // The registrations ask for one read (they were all made before the task started).
    passes(&f, 1).await;
    assert_eq!(f.queries(), 1);
    unrelated_row(&w, 0).await;
    passes(&f, 2).await;
    assert_eq!(f.queries(), 2, "one change, {SESSIONS} sessions: one query");
    // Nothing concerned them: none was woken.
    for mut watch in watches {
        assert!(!watch.rx.has_changed().unwrap());
        assert_eq!(*watch.rx.borrow_and_update(), Verdict::Fine);
    }
}

/// Hostile: a burst of rows (as a busy node writes while many sessions start) must not make
/// each session read the store: the reads follow the changes, never the number of sessions,
/// and changes that arrive during a read are folded into the next one.
#[tokio::test]
async fn a_storm_of_changes_costs_reads_by_change_not_by_session() {
    let (w, vendor, grant, all) = sessions(SESSIONS).await;
    let f = fanout(&w);
    let watches: Vec<Watch> = all.iter().map(|s| f.watch(of(s))).collect();
    let _task = start(&w, &f);
    passes(&f, 1).await;
    const ROWS: usize = 300;
    let writers: Vec<_> = (0..4)
        .map(|k| {
            let w_audit = w.ctx.audit.clone();
            tokio::spawn(async move {
                for i in 0..ROWS / 4 {
                    w_audit.record(Event::new("cli:test", Kind::UserUnlocked, Subject::user("someone"), serde_json::json!({ "k": k, "n": i }))).await.unwrap();
                }
            })
        })
        .collect();
    for t in writers {
        t.await.unwrap();
    }
    // Then one change that concerns them all, which must still reach every session.
    w.ctx.approvals.revoke(grant.request_id, &w.approver, "test").await.unwrap();
    for mut watch in watches {
        // Only the verdict that is news wakes a session: the storm before did not.
        assert_eq!(next(&mut watch).await, Verdict::Revoked("boss".into()));
    }
    let (queries, reads) = (f.queries(), f.passes());
    assert_eq!(queries, reads, "one query per read, whatever the number of sessions");
    assert!(queries <= 1 + ROWS as u64 + 2, "{queries} queries for {ROWS} rows");
    // Each session asking on its own would have made at least one query per session per read.
    assert!(queries < (SESSIONS * ROWS) as u64 / 10);
    let _ = vendor;
}

#[tokio::test]
async fn each_session_gets_only_what_concerns_it() {
    let w = World::new().await;
    let (a, b) = (w.vendor("alice").await, w.vendor("bob").await);
    let dev = w.device("pump-1").await;
    let (ga, gb) = (w.grant(&a, &dev, 60, &ChannelSet::shell()).await, w.grant(&b, &dev, 60, &ChannelSet::shell()).await);
    let (sa, sb1, sb2) = (w.session(&a, &dev, &ga).await, w.session(&b, &dev, &gb).await, w.session(&b, &dev, &gb).await);
    let f = fanout(&w);
    let (mut wa, mut wb1, mut wb2) = (f.watch(of(&sa)), f.watch(of(&sb1)), f.watch(of(&sb2)));
    let mut lobby = f.watch(Interest::Account(b.id));
    let _task = start(&w, &f);
    w.ctx.approvals.stop_session(StopInput::new(sb1.id, "ops", "done")).await.unwrap();
    match next(&mut wb1).await {
        Verdict::Stop { by, .. } => assert_eq!(by, "ops"),
        other => panic!("{other:?}"),
    }
    w.ctx.approvals.revoke(ga.request_id, &w.approver, "test").await.unwrap();
    assert_eq!(next(&mut wa).await, Verdict::Revoked("boss".into()));
    w.admin.set_user_disabled("cli:test", &b.username, true).await.unwrap();
    assert_eq!(next(&mut lobby).await, Verdict::Disabled);
    assert_eq!(next(&mut wb2).await, Verdict::Disabled);
    // The account counts before the stop.
    assert_eq!(next(&mut wb1).await, Verdict::Disabled);
    assert!(!wa.rx.has_changed().unwrap(), "alice's session heard of bob's account");
    // Two kinds of connection: at most two queries a read.
    assert!(f.queries() <= 2 * f.passes());
}

#[tokio::test]
async fn a_store_that_cannot_answer_fails_every_session_closed() {
    let (w, _, _, all) = sessions(5).await;
    let f = fanout(&w);
    let mut watches: Vec<Watch> = all.iter().map(|s| f.watch(of(s))).collect();
    let user = w.vendor("carol").await;
    let mut lobby = f.watch(Interest::Account(user.id));
    let _task = start(&w, &f);
    passes(&f, 1).await;
    w.ctx.store.close().await;
    let feed = w.ctx.audit.feed();
    feed.publish(feed.head() + 1);
    for watch in &mut watches {
        assert_eq!(next(watch).await, Verdict::Unavailable);
    }
    assert_eq!(next(&mut lobby).await, Verdict::Unavailable);
}

/// A session whose row is no longer active on this node is still judged, read on its own:
/// its grant revoked still cuts it.
#[tokio::test]
async fn a_session_the_node_read_misses_is_read_on_its_own() {
    let (w, _, grant, all) = sessions(1).await;
    w.ctx.sessions.end("cli:test", all[0].id, "ended elsewhere").await.unwrap();
    let f = fanout(&w);
    let mut watch = f.watch(of(&all[0]));
    let _task = start(&w, &f);
    passes(&f, 1).await;
    assert_eq!(f.queries(), 1 + 3);
    w.ctx.approvals.revoke(grant.request_id, &w.approver, "test").await.unwrap();
    assert_eq!(next(&mut watch).await, Verdict::Revoked("boss".into()));
}

/// The task gone for any reason but its stop token (an abort here, a panic in production)
/// leaves nobody to enforce windows: every connection, and every later one, is failed.
#[tokio::test]
async fn a_fanout_that_dies_fails_every_session_closed() {
    let (w, _, _, all) = sessions(3).await;
    let f = fanout(&w);
    let mut watches: Vec<Watch> = all.iter().map(|s| f.watch(of(s))).collect();
    let (task, _stop) = start(&w, &f);
    passes(&f, 1).await;
    task.abort();
    let _ = task.await;
    for watch in &mut watches {
        assert_eq!(next(watch).await, Verdict::Unavailable);
    }
    let mut late = f.watch(Interest::Account(all[0].grant.vendor_id));
    assert_eq!(next(&mut late).await, Verdict::Unavailable);
}

#[tokio::test]
async fn a_stopped_fanout_cuts_nobody_and_a_dropped_watch_is_forgotten() {
    let (w, _, _, all) = sessions(2).await;
    let f = fanout(&w);
    let mut keep = f.watch(of(&all[0]));
    let gone = f.watch(of(&all[1]));
    let (task, stop) = start(&w, &f);
    passes(&f, 1).await;
    drop(gone);
    assert_eq!(f.watching(), 1);
    stop.cancel();
    task.await.unwrap();
    assert!(!keep.rx.has_changed().unwrap());
    assert_eq!(*keep.rx.borrow_and_update(), Verdict::Fine);
}
