//! Window enforcement against a real SQLite store (grants and stops made through core's
//! services) and a recording double of the session. Time is tokio's paused clock: the
//! double's clock follows it, so waiting out a window takes no real time. Store writes and
//! the checks they wake happen while the clock runs; it is paused only once the loop is
//! left to wait, since a paused clock jumps ahead while SQLite answers on its own thread.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::testkit::World;
use portcullis_core::approvals::{StopInput, StopMode};
use portcullis_core::domain::ChannelSet;
use std::sync::Mutex;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Longest any test may take on the (paused) clock; far beyond every window used here.
const GUARD: Duration = Duration::from_secs(24 * 3600);

/// A session that records what enforcement does to it, with a clock that follows tokio's.
struct Double {
    cancel: CancellationToken,
    /// Every notice, with the clock when it was given.
    notices: mpsc::Sender<(i64, String)>,
    /// Every `end` call, with the clock.
    ends: Mutex<Vec<(i64, String)>>,
    base_ms: i64,
    start: Instant,
}

impl Double {
    fn new() -> (Arc<Double>, mpsc::Receiver<(i64, String)>) {
        let (tx, rx) = mpsc::channel(16);
        let d = Double { cancel: CancellationToken::new(), notices: tx, ends: Mutex::new(Vec::new()), base_ms: clock::now_ms(), start: Instant::now() };
        (Arc::new(d), rx)
    }

    fn ends(&self) -> Vec<(i64, String)> {
        self.ends.lock().unwrap().clone()
    }
}

impl Watched for Double {
    fn notify_all(&self, text: &str) -> impl Future<Output = ()> + Send {
        let (tx, line) = (self.notices.clone(), (self.now(), text.to_owned()));
        async move {
            tx.send(line).await.unwrap();
        }
    }
    fn end(&self, reason: &str) {
        self.ends.lock().unwrap().push((self.now(), reason.to_owned()));
        self.cancel.cancel();
    }
    fn cancel(&self) -> &CancellationToken {
        &self.cancel
    }
    fn now(&self) -> i64 {
        (self.base_ms + self.start.elapsed().as_millis() as i64) / 1000
    }
}

/// A world with a vendor's running session under a grant of `minutes`.
async fn running(minutes: i64) -> (World, ActiveSession) {
    let w = World::new().await;
    let vendor = w.vendor("jdoe").await;
    let dev = w.device("pump-1").await;
    let grant = w.grant(&vendor, &dev, minutes, &ChannelSet::shell()).await;
    let s = w.session(&vendor, &dev, &grant).await;
    (w, s)
}

/// Starts enforcement on its own task, with a fan-out of its own over the world's store and
/// change feed (its task ends with the test's runtime). Returns once the fan-out made its
/// first read, so that a test may pause the clock: a paused clock jumps ahead while SQLite
/// answers on its own thread, and the read would time out.
async fn spawn(w: &World, s: &ActiveSession, d: &Arc<Double>, warn: Vec<Duration>) -> tokio::task::JoinHandle<()> {
    spawn_with_lease(w, s, d, warn, w.ctx.lease.lost()).await
}

/// [`spawn`], with the node's lease watched through `lease_lost`.
async fn spawn_with_lease(w: &World, s: &ActiveSession, d: &Arc<Double>, warn: Vec<Duration>, lease_lost: watch::Receiver<u64>) -> tokio::task::JoinHandle<()> {
    let feed = w.ctx.audit.feed();
    let fanout = Fanout::new(w.ctx.store.clone(), w.ctx.sessions.node().clone());
    tokio::spawn(fanout.clone().run(feed.subscribe(), CancellationToken::new()));
    let control = fanout.watch(Interest::Session { id: s.id, grant: s.grant.id, vendor: s.grant.vendor_id });
    while fanout.passes() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (d, s, feeds) = (d.clone(), s.clone(), Feeds { control, reachable: feed.reachable(), drain: Default::default(), lease_lost });
    tokio::spawn(async move { enforce(&*d, s, feeds, warn).await })
}

async fn finish(task: tokio::task::JoinHandle<()>) {
    tokio::time::timeout(GUARD, task).await.expect("enforcement did not end").unwrap();
}

async fn next(rx: &mut mpsc::Receiver<(i64, String)>) -> (i64, String) {
    tokio::time::timeout(GUARD, rx.recv()).await.expect("no notice").expect("notices closed")
}

fn drain(rx: &mut mpsc::Receiver<(i64, String)>) -> Vec<(i64, String)> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

#[tokio::test]
async fn warns_at_the_configured_times_and_ends_with_the_window() {
    let (w, s) = running(10).await;
    let ends_at = s.grant.ends_at;
    let (d, mut rx) = Double::new();
    // Given unsorted: the loop orders them.
    let task = spawn(&w, &s, &d, vec![Duration::from_secs(60), Duration::from_secs(300)]).await;
    tokio::time::pause();
    finish(task).await;
    let notices = drain(&mut rx);
    assert_eq!(notices.len(), 3, "{notices:?}");
    assert_eq!(notices[0].0, ends_at - 300);
    assert!(notices[0].1.starts_with("your access window ends in 5m (at "), "{}", notices[0].1);
    assert_eq!(notices[1].0, ends_at - 60);
    assert!(notices[1].1.starts_with("your access window ends in 1m (at "), "{}", notices[1].1);
    assert_eq!(notices[2], (ends_at, "the access window has ended; the session is closed.".to_owned()));
    assert_eq!(d.ends(), vec![(ends_at, "window ended".to_owned())]);
    assert!(d.cancel.is_cancelled());
}

#[tokio::test]
async fn a_warning_already_past_is_not_given() {
    let (w, s) = running(3).await;
    let ends_at = s.grant.ends_at;
    let (d, mut rx) = Double::new();
    let task = spawn(&w, &s, &d, vec![Duration::from_secs(300), Duration::from_secs(60)]).await;
    tokio::time::pause();
    finish(task).await;
    let notices = drain(&mut rx);
    let texts: Vec<&str> = notices.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].starts_with("your access window ends in 1m"), "{texts:?}");
    assert_eq!(texts[1], "the access window has ended; the session is closed.");
    assert_eq!(d.ends(), vec![(ends_at, "window ended".to_owned())]);
}

#[tokio::test]
async fn ends_at_once_when_the_grant_is_revoked() {
    let (w, s) = running(60).await;
    let (d, mut rx) = Double::new();
    let task = spawn(&w, &s, &d, vec![Duration::from_secs(300)]).await;
    w.ctx.approvals.revoke(s.grant.request_id, &w.approver, "test").await.unwrap();
    let (_, text) = next(&mut rx).await;
    assert_eq!(text, "access was revoked by boss; the session is closed.");
    finish(task).await;
    assert_eq!(d.ends().iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>(), ["grant revoked by boss"]);
    assert!(drain(&mut rx).is_empty());
}

#[tokio::test]
async fn an_immediate_stop_ends_at_once() {
    let (w, s) = running(60).await;
    let (d, mut rx) = Double::new();
    let task = spawn(&w, &s, &d, vec![Duration::from_secs(300)]).await;
    w.ctx.approvals.stop_session(StopInput::new(s.id, "boss", "done")).await.unwrap();
    assert_eq!(next(&mut rx).await.1, "the session was stopped by boss.");
    finish(task).await;
    assert_eq!(d.ends().iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>(), ["stopped by boss"]);
}

#[tokio::test]
async fn a_graceful_stop_warns_then_closes_at_its_deadline() {
    let (w, s) = running(60).await;
    let (d, mut rx) = Double::new();
    let task = spawn(&w, &s, &d, vec![Duration::from_secs(300)]).await;
    w.ctx.approvals.stop_session(StopInput::new(s.id, "boss", "maintenance").mode(StopMode::Graceful(Duration::from_secs(90)))).await.unwrap();
    let (_, warning) = next(&mut rx).await;
    assert!(warning.starts_with("boss is stopping this session; it closes in "), "{warning}");
    assert!(warning.ends_with(" s. Save your work."), "{warning}");
    assert!(d.ends().is_empty(), "a graceful stop does not close at once");
    let stop_at = w.ctx.store.session(s.id).await.unwrap().unwrap().stop_at.unwrap();
    tokio::time::pause();
    finish(task).await;
    let (at, text) = next(&mut rx).await;
    assert_eq!(text, "the session was stopped by boss.");
    let ends = d.ends();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].1, "stopped by boss");
    assert!(ends[0].0 >= stop_at && at >= stop_at, "closed at {} before the deadline {stop_at}", ends[0].0);
    assert!(ends[0].0 < s.grant.ends_at - 300, "closed by the window instead of the stop");
}

#[tokio::test]
async fn a_second_stop_brings_the_deadline_forward() {
    let (w, s) = running(60).await;
    let (d, mut rx) = Double::new();
    let task = spawn(&w, &s, &d, vec![Duration::from_secs(300)]).await;
    let ap = &w.ctx.approvals;
    ap.stop_session(StopInput::new(s.id, "boss", "later").mode(StopMode::Graceful(Duration::from_secs(900)))).await.unwrap();
    assert!(next(&mut rx).await.1.starts_with("boss is stopping this session"));
    let first = w.ctx.store.session(s.id).await.unwrap().unwrap().stop_at.unwrap();
    ap.stop_session(StopInput::new(s.id, "ops", "sooner").mode(StopMode::Graceful(Duration::from_secs(120)))).await.unwrap();
    assert!(next(&mut rx).await.1.starts_with("ops is stopping this session"));
    let second = w.ctx.store.session(s.id).await.unwrap().unwrap().stop_at.unwrap();
    assert!(second < first);
    tokio::time::pause();
    finish(task).await;
    assert_eq!(next(&mut rx).await.1, "the session was stopped by ops.");
    let ends = d.ends();
    assert_eq!(ends.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>(), ["stopped by ops"]);
    assert!(ends[0].0 >= second && ends[0].0 < first, "closed at {}, not at the earlier deadline {second}", ends[0].0);
}

#[tokio::test]
async fn a_store_that_cannot_answer_closes_the_session() {
    let (w, s) = running(60).await;
    let (d, mut rx) = Double::new();
    let task = spawn(&w, &s, &d, vec![Duration::from_secs(300)]).await;
    w.ctx.store.close().await;
    // Something changed (elsewhere); the check cannot read the grant.
    let feed = w.ctx.audit.feed();
    feed.publish(feed.head() + 1);
    assert_eq!(next(&mut rx).await.1, UNAVAILABLE_TEXT);
    finish(task).await;
    assert_eq!(d.ends().iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>(), ["store unavailable"]);
}

/// Nothing changes and nobody writes, but the store stops answering (the change feed's
/// read of it fails): the session must not go on unaudited.
#[tokio::test]
async fn a_store_that_stops_answering_closes_the_session_without_any_change() {
    let (w, s) = running(60).await;
    let (d, mut rx) = Double::new();
    let task = spawn(&w, &s, &d, vec![Duration::from_secs(300)]).await;
    w.ctx.audit.feed().set_reachable(false);
    assert_eq!(next(&mut rx).await.1, UNAVAILABLE_TEXT);
    finish(task).await;
    assert_eq!(d.ends().iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>(), ["store unavailable"]);
}

#[tokio::test]
async fn ends_quietly_when_the_session_is_cancelled_elsewhere() {
    let (w, s) = running(60).await;
    let (d, mut rx) = Double::new();
    let task = spawn(&w, &s, &d, vec![Duration::from_secs(300)]).await;
    d.cancel.cancel();
    finish(task).await;
    assert!(d.ends().is_empty());
    assert!(drain(&mut rx).is_empty());
}

#[tokio::test]
async fn ends_at_once_when_the_node_finds_its_lease_taken_over() {
    let (w, s) = running(60).await;
    let (d, mut rx) = Double::new();
    let (lost, lease_lost) = watch::channel(0u64);
    let task = spawn_with_lease(&w, &s, &d, vec![Duration::from_secs(300)], lease_lost).await;
    lost.send_modify(|n| *n += 1);
    finish(task).await;
    assert_eq!(next(&mut rx).await.1, NODE_LOST_TEXT);
    assert_eq!(d.ends().into_iter().map(|(_, r)| r).collect::<Vec<_>>(), vec!["node lost".to_owned()]);
}
