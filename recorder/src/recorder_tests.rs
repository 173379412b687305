//! Unit tests of [`super::Recorder`] and [`super::RecordingHandle`] that need the crate's
//! internals: a queue whose consumer the test holds (backpressure, stall), a writer on a full
//! disk (`/dev/full`), and a writer task that vanishes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// A recorder whose queue (of `capacity` events) is read by the test instead of a writer.
fn detached(
    capacity: usize,
    send_timeout: Duration,
) -> (Recorder, mpsc::Receiver<Command>, watch::Sender<State>) {
    let (tx, rx) = mpsc::channel(capacity);
    let (state_tx, state) = watch::channel(State::Running);
    let recorder = Recorder {
        tx,
        state,
        start: Instant::now(),
        send_timeout,
        budget: Arc::new(Semaphore::new(BYTE_BUDGET)),
    };
    (recorder, rx, state_tx)
}

/// Finding (code reading): recording is asynchronous, so bytes could reach the device before a
/// disk error ended the session, up to a whole queue of events (32 MiB). Bytes queued but not
/// written are capped by the byte budget now: a writer that takes nothing lets no more in.
#[tokio::test]
async fn queued_bytes_are_capped_by_the_budget() {
    let (rec, _rx, _state) = detached(QUEUE_CAPACITY, Duration::from_millis(50));
    let chunk = vec![b'x'; 32 * 1024];
    let mut accepted = 0usize;
    loop {
        match rec.output(&chunk).await {
            Ok(()) => accepted += chunk.len(),
            Err(e) => {
                assert!(matches!(e, RecorderError::Stalled(_)), "{e:?}");
                break;
            }
        }
        assert!(accepted <= BYTE_BUDGET, "{accepted} bytes queued past the budget");
    }
    assert_eq!(accepted, BYTE_BUDGET, "the whole budget is usable");
}

#[tokio::test]
async fn full_queue_makes_senders_wait() {
    let (rec, mut rx, _state) = detached(2, Duration::from_secs(30));
    rec.output(b"1").await.unwrap();
    rec.output(b"2").await.unwrap();
    let third = rec.output(b"3");
    tokio::pin!(third);
    let waited = tokio::time::timeout(Duration::from_millis(100), &mut third).await;
    assert!(waited.is_err(), "send on a full queue did not wait");
    assert!(matches!(rx.recv().await, Some(Command::Data { .. })));
    third.await.unwrap();
}

#[tokio::test]
async fn stalled_writer_is_an_error() {
    let (rec, _rx, _state) = detached(1, Duration::from_millis(50));
    rec.input(b"a").await.unwrap();
    let err = rec.input(b"b").await.unwrap_err();
    assert!(matches!(err, RecorderError::Stalled(_)), "{err:?}");
}

#[tokio::test]
async fn vanished_writer_is_reported() {
    let (rec, rx, state_tx) = detached(4, SEND_TIMEOUT);
    drop(rx);
    drop(state_tx);
    assert!(matches!(
        rec.output(b"x").await,
        Err(RecorderError::WriterGone)
    ));
    let got = tokio::time::timeout(Duration::from_secs(5), rec.failed())
        .await
        .unwrap();
    assert!(matches!(got, RecorderError::WriterGone), "{got:?}");
}

#[tokio::test]
async fn real_queue_has_documented_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, handle) = Recorder::create(&dir.path().join("c.cast"), CastHeader::new(80, 24, 0))
        .await
        .unwrap();
    assert_eq!(rec.queue_capacity(), QUEUE_CAPACITY);
    assert_eq!(QUEUE_CAPACITY, 1024);
    handle.finish().await.unwrap();
}

#[tokio::test]
async fn finished_recording_refuses_events_and_does_not_report_failure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.cast");
    let (rec, handle) = Recorder::create(&path, CastHeader::new(80, 24, 0))
        .await
        .unwrap();
    rec.output(b"before").await.unwrap();
    let seal = handle.finish().await.unwrap();
    assert_eq!(seal.events, 1);
    assert!(matches!(
        rec.output(b"after").await,
        Err(RecorderError::Closed)
    ));
    assert!(rec.failure().is_none());
    let failed = tokio::time::timeout(Duration::from_millis(200), rec.failed()).await;
    assert!(failed.is_err(), "failed() resolved after a normal finish");
}

#[cfg(target_os = "linux")]
async fn open_dev_full() -> Option<DirectFile> {
    let file = std::fs::OpenOptions::new().write(true).open("/dev/full").ok()?;
    Some(DirectFile::over(file, false, FILE_BUFFER))
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn header_on_full_disk_fails_before_session() {
    let Some(file) = open_dev_full().await else {
        return;
    };
    let line = CastHeader::new(80, 24, 0).to_line().unwrap();
    let result = start(file, Path::new("/dev/full"), &line).await;
    assert!(matches!(result, Err(RecorderError::Io { .. })));
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn full_disk_during_session_fails_closed() {
    let Some(file) = open_dev_full().await else {
        return;
    };
    let (rec, handle) = spawn_writer(
        file,
        PathBuf::from("/dev/full"),
        SealHasher::default(),
        SEND_TIMEOUT,
    );
    rec.output(&vec![b'x'; 200_000]).await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(10), rec.failed())
        .await
        .expect("failure was not reported");
    assert!(matches!(err, RecorderError::WriterFailed(_)), "{err:?}");
    assert!(rec.failure().is_some());
    assert!(matches!(
        rec.output(b"more").await,
        Err(RecorderError::WriterFailed(_))
    ));
    assert!(matches!(
        handle.finish().await,
        Err(RecorderError::Io { .. })
    ));
}
