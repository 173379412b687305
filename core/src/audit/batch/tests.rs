#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::audit::{tail, verify, Event, Kind, Subject};
use crate::store::{Backend, Store};
use crate::testdb::{audit_log, stores};
use serde_json::json;
use sqlx::Executor;
use std::time::{Duration, Instant};

fn event(actor: &str, i: usize) -> Event {
    Event::new(actor, Kind::UserCreated, Subject::User(format!("{actor}-{i}")), json!({ "i": i }))
}

/// Polls `cond` until it holds, failing after a generous deadline.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Holds the chain: an audited write with a row appended and not yet committed. Appends of
/// anyone else (this process's batches included) wait for it on both back ends.
async fn hold_chain(log: &AuditLog) -> crate::audit::AuditedWrite {
    let mut w = log.begin().await.unwrap();
    w.append(event("holder", 0)).await.unwrap();
    w
}

type Caller = tokio::task::JoinHandle<Result<i64, crate::store::StoreError>>;

/// With the chain held: one caller takes the writer's turn and waits for the chain with its
/// own row (`ahead`), while `n` more queue up behind it, caller `i` writing as `actor(i)`.
/// Returns both once the batcher shows them so.
async fn one_ahead_and_queued(log: &AuditLog, n: usize, actor: fn(usize) -> &'static str) -> (Caller, Vec<Caller>) {
    let ahead = tokio::spawn({
        let log = log.clone();
        async move { log.record(event("ahead", 0)).await }
    });
    until("the first batch is being written", || log.batcher.depth() == (0, 1)).await;
    let mut queued = Vec::new();
    for i in 0..n {
        let log = log.clone();
        queued.push(tokio::spawn(async move { log.record(event(actor(i), i)).await }));
    }
    until("the rows are queued", || log.batcher.depth() == (n, n + 1)).await;
    (ahead, queued)
}

/// Where the database refuses a row written by `poison`.
#[derive(Clone, Copy, Debug)]
enum Refused {
    /// At its INSERT, as a constraint or a failing disk refuses a row in the middle of a batch.
    AtInsert,
    /// At COMMIT, after every row of the batch was inserted (a deferred constraint).
    AtCommit,
}

async fn refuse_poison(store: &Store, at: Refused) {
    let sql = match (store.backend(), at) {
        (Backend::Sqlite, Refused::AtInsert) => {
            "CREATE TRIGGER poison BEFORE INSERT ON audit_log WHEN NEW.actor = 'poison' BEGIN SELECT RAISE(ABORT, 'poison refused'); END;"
        }
        // A deferred foreign key that a poison row breaks: SQLite checks it at COMMIT.
        (Backend::Sqlite, Refused::AtCommit) => {
            "CREATE TABLE poison_parent (id INTEGER PRIMARY KEY);
             CREATE TABLE poison_child (parent INTEGER REFERENCES poison_parent (id) DEFERRABLE INITIALLY DEFERRED);
             CREATE TRIGGER poison AFTER INSERT ON audit_log WHEN NEW.actor = 'poison' BEGIN INSERT INTO poison_child VALUES (1); END;"
        }
        (Backend::Postgres, Refused::AtInsert) => {
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'poison refused'; END $$;
             CREATE TRIGGER poison BEFORE INSERT ON audit_log FOR EACH ROW WHEN (NEW.actor = 'poison') EXECUTE FUNCTION poison();"
        }
        (Backend::Postgres, Refused::AtCommit) => {
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'poison refused at commit'; END $$;
             CREATE CONSTRAINT TRIGGER poison AFTER INSERT ON audit_log DEFERRABLE INITIALLY DEFERRED
                 FOR EACH ROW WHEN (NEW.actor = 'poison') EXECUTE FUNCTION poison();"
        }
    };
    store.pool().execute(sql).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_records_get_contiguous_seqs_each_holding_its_own_row() {
    for t in stores().await {
        let log = audit_log(&t.store, 100);
        let mut tasks = Vec::new();
        for w in 0..16 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for i in 0..500 {
                    got.push((log.record(event(&format!("w{w}"), i)).await.unwrap(), w, i));
                }
                got
            }));
        }
        let mut got = Vec::new();
        for task in tasks {
            got.extend(task.await.unwrap());
        }
        got.sort();
        let seqs: Vec<i64> = got.iter().map(|g| g.0).collect();
        assert_eq!(seqs, (1..=8000).collect::<Vec<i64>>(), "{}: distinct, contiguous numbers", t.name);
        let rows = tail(&t.store, 8000).await.unwrap();
        for ((seq, w, i), row) in got.iter().zip(&rows) {
            assert_eq!(row.seq, *seq);
            assert_eq!((row.actor.as_str(), row.subject.as_str()), (format!("w{w}").as_str(), format!("user:w{w}-{i}").as_str()), "{}: row {seq} is its caller's", t.name);
        }
        // Each writer's rows are in the order it wrote them.
        for w in 0..16 {
            let mine: Vec<usize> = got.iter().filter(|g| g.1 == w).map(|g| g.2).collect();
            assert_eq!(mine, (0..500).collect::<Vec<_>>());
        }
        let r = verify(&t.store, log.signer()).await.unwrap();
        assert!(r.ok, "{}: {r:?}", t.name);
        assert_eq!((r.rows, r.checkpoints, r.last_checkpoint_seq), (8000, 80, Some(8000)), "{}: a checkpoint every 100 rows, none missed inside a batch", t.name);
        assert_eq!(*log.feed().subscribe().borrow(), 8000, "{}: the feed has the head", t.name);
    }
}

/// Batches of two nodes (two pools on one database) and audited writes with a change keep one
/// chain: each write's rows stay together, and every number is used once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_and_audited_writes_of_two_nodes_keep_one_chain() {
    for t in stores().await {
        let other = Store::open(&t.url).await.unwrap();
        let logs = [audit_log(&t.store, 0), audit_log(&other, 0)];
        let mut tasks = Vec::new();
        for (n, log) in logs.iter().enumerate() {
            for w in 0..6 {
                let log = log.clone();
                tasks.push(tokio::spawn(async move {
                    let mut seqs = Vec::new();
                    for i in 0..150 {
                        seqs.push(log.record(event(&format!("n{n}w{w}"), i)).await.unwrap());
                    }
                    seqs
                }));
            }
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..40 {
                    let mut w = log.begin().await.unwrap();
                    let a = w.append(event(&format!("n{n}pair"), i)).await.unwrap();
                    let b = w.append(event(&format!("n{n}pair"), i)).await.unwrap();
                    assert_eq!(b, a + 1, "the rows of one write are adjacent");
                    assert_eq!(w.commit().await.unwrap(), b);
                    seqs.extend([a, b]);
                }
                seqs
            }));
        }
        let mut seqs = Vec::new();
        for task in tasks {
            seqs.extend(task.await.unwrap());
        }
        seqs.sort();
        let total = 2 * (6 * 150 + 80);
        assert_eq!(seqs, (1..=total).collect::<Vec<i64>>(), "{}", t.name);
        let r = verify(&t.store, logs[0].signer()).await.unwrap();
        assert!(r.ok && r.rows == total, "{}: {r:?}", t.name);
        other.close().await;
    }
}

/// Hostile: the database refuses one row in the middle of a batch, at its INSERT. Every caller
/// of that batch gets the error, none of its rows exists, and the chain goes on from where it
/// was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_fails_fails_every_caller_and_leaves_nothing() {
    a_batch_refused(Refused::AtInsert).await;
}

/// Hostile: every row of the batch is inserted and its COMMIT fails. Nobody is told a row
/// exists, and none does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_commit_fails_fails_every_caller_and_leaves_nothing() {
    a_batch_refused(Refused::AtCommit).await;
}

async fn a_batch_refused(at: Refused) {
    for t in stores().await {
        let says = match (t.store.backend(), at) {
            (_, Refused::AtInsert) => "poison refused",
            (Backend::Sqlite, Refused::AtCommit) => "FOREIGN KEY constraint failed",
            (Backend::Postgres, Refused::AtCommit) => "poison refused at commit",
        };
        let log = audit_log(&t.store, 0);
        log.record(event("first", 0)).await.unwrap();
        refuse_poison(&t.store, at).await;
        let hold = hold_chain(&log).await;
        // Ten callers queue behind the one ahead, a refused one among them.
        let (ahead, batch) = one_ahead_and_queued(&log, 10, |i| if i == 5 { "poison" } else { "victim" }).await;
        assert_eq!(hold.commit().await.unwrap(), 2);
        assert_eq!(ahead.await.unwrap().unwrap(), 3, "{} {at:?}: the batch before is not affected", t.name);
        for task in batch {
            let e = task.await.unwrap().expect_err("a caller of the failed batch is told so");
            assert!(e.to_string().contains(says), "{} {at:?}: the database's own error: {e}", t.name);
            assert!(matches!(e, StoreError::Db(sqlx::Error::Database(_))), "{} {at:?}: {e:?}", t.name);
        }
        let rows = tail(&t.store, 100).await.unwrap();
        let actors: Vec<&str> = rows.iter().map(|r| r.actor.as_str()).collect();
        assert_eq!(actors, ["first", "holder", "ahead"], "{} {at:?}: nothing of the failed batch is visible", t.name);
        assert_eq!(log.batcher.depth(), (0, 0), "{} {at:?}: every place is given back", t.name);
        assert_eq!(log.record(event("after", 0)).await.unwrap(), 4, "{} {at:?}: the chain goes on", t.name);
        assert!(verify(&t.store, log.signer()).await.unwrap().ok, "{} {at:?}", t.name);
    }
}

/// Hostile: a store that is gone (its pool closed) fails every queued caller, and nobody
/// waits for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_fails_every_caller() {
    for t in stores().await {
        let log = audit_log(&t.store, 0);
        log.record(event("first", 0)).await.unwrap();
        t.store.close().await;
        let mut tasks = Vec::new();
        for i in 0..20 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move { log.record(event("late", i)).await }));
        }
        for task in tasks {
            let e = task.await.unwrap().expect_err("no row can be written");
            assert!(matches!(e, StoreError::Db(sqlx::Error::PoolClosed)), "{}: {e:?}", t.name);
        }
        assert_eq!(log.batcher.depth(), (0, 0), "{}", t.name);
    }
}

/// The queue is bounded: with the chain held, at most QUEUE_MAX rows are queued or being
/// written, the callers beyond wait for a place, and all are written once the chain is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_is_bounded_and_drains() {
    for t in stores().await {
        let log = audit_log(&t.store, 0);
        let hold = hold_chain(&log).await;
        let extra = 40;
        let mut tasks = Vec::new();
        for i in 0..QUEUE_MAX + extra {
            let log = log.clone();
            tasks.push(tokio::spawn(async move { log.record(event("many", i)).await }));
        }
        until("every place is taken", || log.batcher.depth().1 == QUEUE_MAX).await;
        let (waiting, placed) = log.batcher.depth();
        assert!(placed - waiting <= BATCH_MAX, "{}: a batch holds at most {BATCH_MAX} rows", t.name);
        assert!(tasks.iter().all(|t| !t.is_finished()), "{}: nobody is answered while the chain is held", t.name);
        assert_eq!(log.batcher.depth().1, QUEUE_MAX, "{}: the {extra} others wait for a place", t.name);
        hold.commit().await.unwrap();
        let mut seqs = Vec::new();
        for task in tasks {
            seqs.push(task.await.unwrap().unwrap());
        }
        seqs.sort();
        assert_eq!(seqs, (2..=(QUEUE_MAX + extra + 1) as i64).collect::<Vec<_>>(), "{}", t.name);
        assert!(verify(&t.store, log.signer()).await.unwrap().ok, "{}", t.name);
    }
}

#[tokio::test]
async fn a_batch_takes_the_oldest_rows_up_to_its_bound() {
    let batcher = Batcher::default();
    let mut answers = Vec::new();
    for i in 0..BATCH_MAX + 3 {
        let place = Arc::clone(&batcher.places).acquire_owned().await.unwrap();
        let (reply, answer) = oneshot::channel();
        let row = Prepared::of(event("q", i)).unwrap();
        batcher.queue().push_back(Pending { row, reply, place });
        answers.push(answer);
    }
    let first = batcher.take();
    assert_eq!(first.len(), BATCH_MAX);
    assert!(format!("{:?}", first[0]).contains("q-0"), "oldest first");
    let second = batcher.take();
    assert_eq!(second.len(), 3);
    assert!(batcher.take().is_empty());
    assert_eq!(batcher.depth(), (0, BATCH_MAX + 3));
    drop(first);
    assert_eq!(batcher.depth(), (0, 3), "answered (or dropped) rows give their place back");
    drop((second, answers));
}

/// A batch that crosses the checkpoint interval signs one, though its last row is not a
/// multiple of the interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_across_the_interval_is_checkpointed() {
    for t in stores().await {
        let log = audit_log(&t.store, 4);
        let hold = hold_chain(&log).await;
        let (ahead, batch) = one_ahead_and_queued(&log, 4, |_| "b").await;
        hold.commit().await.unwrap();
        assert_eq!(ahead.await.unwrap().unwrap(), 2);
        for task in batch {
            task.await.unwrap().unwrap();
        }
        // Rows 3..=6 were one batch: row 4 is inside it.
        let cps = crate::audit::checkpoints(&t.store).await.unwrap();
        assert_eq!(cps.iter().map(|c| c.seq).collect::<Vec<_>>(), [6], "{}", t.name);
    }
}
