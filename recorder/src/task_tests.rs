//! Unit tests of the writer task's line format: exact event lines, six-decimal times that never
//! go back, UTF-8 carry-over per stream, and held tails written at close.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

async fn writer_on_temp() -> (tempfile::TempDir, PathBuf, Writer) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.cast");
    let file = DirectFile::create_new(&path, FILE_BUFFER).unwrap();
    let w = Writer::new(file, path.clone(), SealHasher::default());
    (dir, path, w)
}

fn data(stream: Stream, micros: u64, bytes: &[u8]) -> Command {
    let budget = std::sync::Arc::new(tokio::sync::Semaphore::new(1)).try_acquire_owned().unwrap();
    Command::Data {
        stream,
        at: Duration::from_micros(micros),
        bytes: bytes.to_vec(),
        budget,
    }
}

#[tokio::test]
async fn writes_exact_lines_and_never_goes_back_in_time() {
    let (_dir, path, mut w) = writer_on_temp().await;
    w.apply(data(Stream::Output, 1_500_000, b"a\"b"))
        .await
        .unwrap();
    w.apply(data(Stream::Input, 1_000_000, b"\r"))
        .await
        .unwrap();
    w.apply(Command::Resize {
        at: Duration::from_micros(12_345_678),
        cols: 80,
        rows: 24,
    })
    .await
    .unwrap();
    w.apply(Command::Marker {
        at: Duration::from_micros(12_345_679),
        label: "x\ny".into(),
    })
    .await
    .unwrap();
    w.apply(data(Stream::Output, 13_000_000, &[0xf0, 0x9f]))
        .await
        .unwrap();
    w.apply(data(Stream::Output, 13_000_000, b""))
        .await
        .unwrap();
    let seal = w.close().await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        "[1.500000, \"o\", \"a\\\"b\"]\n\
         [1.500000, \"i\", \"\\r\"]\n\
         [12.345678, \"r\", \"80x24\"]\n\
         [12.345679, \"m\", \"x\\ny\"]\n\
         [12.345679, \"o\", \"\\udcf0\\udc9f\"]\n"
    );
    assert_eq!(seal.bytes, text.len() as u64);
    // No header in this file, so the first line counts as the header.
    assert_eq!(seal.events, 4);
}

#[tokio::test]
async fn held_character_completed_by_next_chunk() {
    let (_dir, path, mut w) = writer_on_temp().await;
    w.apply(data(Stream::Output, 0, &[b'a', 0xc3]))
        .await
        .unwrap();
    w.apply(data(Stream::Input, 1, &[0xc3])).await.unwrap();
    w.apply(data(Stream::Output, 2, &[0xa9, b'b']))
        .await
        .unwrap();
    w.apply(data(Stream::Input, 3, &[0xa9])).await.unwrap();
    w.close().await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        "[0.000000, \"o\", \"a\"]\n[0.000002, \"o\", \"éb\"]\n[0.000003, \"i\", \"é\"]\n"
    );
}

/// An idle recording holds no write buffer and no armed timer once its last lines were
/// flushed; the lines are in the file by then, without a close.
#[tokio::test]
async fn a_quiet_recording_flushes_then_holds_no_buffer_and_no_timer() {
    let (_dir, path, mut w) = writer_on_temp().await;
    assert_eq!(w.buf.capacity(), 0, "a buffer before anything was written");
    assert!(w.flush_at.is_none());
    w.apply(data(Stream::Output, 1_000, b"prompt$ ")).await.unwrap();
    assert!(w.flush_at.is_some(), "a written line must arm the flush");
    w.timed_flush().await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "[0.001000, \"o\", \"prompt$ \"]\n");
    assert_eq!(w.buf.capacity(), 0, "the buffer was kept while idle");
    assert!(w.flush_at.is_none(), "a timer stays armed with nothing to flush");
}

/// Lines written by the running task reach the file within the flush interval, with the task
/// still running (no finish asked for): a crash then loses at most that much. So does a line
/// written after that flush.
#[tokio::test]
async fn a_running_task_hands_lines_to_the_file_without_being_finished() {
    let (_dir, path, w) = writer_on_temp().await;
    let (tx, rx) = mpsc::channel(8);
    let (_finish_tx, finish) = oneshot::channel();
    let (state, _state_rx) = watch::channel(State::Running);
    let (done, _done_rx) = oneshot::channel();
    let task = tokio::spawn(w.run(rx, finish, state, done));
    tx.send(data(Stream::Output, 2_000, b"late line")).await.unwrap();
    wait_for_text(&path, "late line").await;
    // The flush timer is moved, not made anew, for the next line: it must fire again.
    tx.send(data(Stream::Output, 3_000, b"later line")).await.unwrap();
    wait_for_text(&path, "later line").await;
    drop(tx);
    task.await.unwrap();
}

/// Waits (up to 20 s, polling) until the file at `path` holds `text`.
async fn wait_for_text(path: &std::path::Path, text: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(path).unwrap().contains(text) {
        assert!(std::time::Instant::now() < deadline, "{text:?} never reached the file");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// More than one buffer's worth is written out in order, byte for byte, and sealed as such:
/// the seal the writer reports (hashed where each buffer is written, across full buffers, a
/// timed flush and the close) is the one recomputed from the file.
#[tokio::test]
async fn a_burst_larger_than_the_buffer_is_written_whole_and_in_order() {
    let (_dir, path, mut w) = writer_on_temp().await;
    let chunk = vec![b'x'; 1000];
    for i in 0..600u64 {
        w.apply(data(Stream::Output, i, &chunk)).await.unwrap();
        if i == 300 {
            w.timed_flush().await.unwrap();
        }
    }
    w.apply(data(Stream::Output, 700, &[b'a', 0xc3])).await.unwrap();
    let seal = w.close().await.unwrap();
    let text = std::fs::read(&path).unwrap();
    assert!(text.len() > 2 * WRITE_BUFFER, "the burst fills the buffer more than twice");
    assert_eq!(text.len() as u64, seal.bytes);
    assert_eq!(String::from_utf8(text).unwrap().lines().count(), 602);
    let from_disk = crate::seal_file(&path).unwrap();
    assert_eq!(seal.sha256, from_disk.sha256);
    assert_eq!(seal.events, from_disk.events);
    assert_eq!(seal.events, 601, "the first line counts as the header");
}
