//! Unit tests of the writer task's line format: exact event lines, six-decimal times that never
//! go back, UTF-8 carry-over per stream, and held tails written at close.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

async fn writer_on_temp() -> (tempfile::TempDir, PathBuf, Writer) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.cast");
    let file = File::create(&path).await.unwrap();
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
