//! End-to-end tests of a recording's life: fail-closed creation, sealing and tamper detection,
//! finishing by dropping every `Recorder`, many concurrent senders, file permissions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use portcullis_recorder::{read_cast, seal_file, CastHeader, Recorder, RecorderError};

#[tokio::test]
async fn create_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("a.cast");
    let err = Recorder::create(&missing, CastHeader::new(80, 24, 0))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RecorderError::Io {
                action: "create",
                ..
            }
        ),
        "{err:?}"
    );

    let existing = dir.path().join("taken.cast");
    std::fs::write(&existing, b"earlier recording").unwrap();
    let err = Recorder::create(&existing, CastHeader::new(80, 24, 0))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RecorderError::Io {
                action: "create",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&existing).unwrap(), b"earlier recording");
}

#[tokio::test]
async fn header_is_on_disk_before_the_session_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("early.cast");
    let (_rec, handle) = Recorder::create(&path, CastHeader::new(80, 24, 5))
        .await
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("{\"version\":2,") && text.ends_with('\n'),
        "{text}"
    );
    handle.finish().await.unwrap();
}

#[tokio::test]
async fn seal_matches_file_and_detects_one_changed_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.cast");
    let (rec, handle) = Recorder::create(&path, CastHeader::new(80, 24, 0))
        .await
        .unwrap();
    for i in 0..100 {
        rec.output(format!("line {i}\r\n").as_bytes())
            .await
            .unwrap();
    }
    let seal = handle.finish().await.unwrap();
    assert_eq!(seal.path, path);
    assert_eq!(seal.events, 100);
    assert_eq!(seal.sha256.len(), 64);
    assert_eq!(seal.bytes, std::fs::metadata(&path).unwrap().len());
    assert_eq!(seal_file(&path).unwrap(), seal);

    let mut data = std::fs::read(&path).unwrap();
    let at = data.len() / 2;
    data[at] ^= 0x01;
    std::fs::write(&path, &data).unwrap();
    let tampered = seal_file(&path).unwrap();
    assert_eq!(tampered.bytes, seal.bytes);
    assert_ne!(tampered.sha256, seal.sha256);
}

#[tokio::test]
async fn dropping_all_recorders_finishes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.cast");
    let (rec, handle) = Recorder::create(&path, CastHeader::new(80, 24, 0))
        .await
        .unwrap();
    drop(handle); // dropping the handle alone must not end the recording
    let clone = rec.clone();
    rec.output(b"one ").await.unwrap();
    drop(rec);
    clone.output(&[b't', b'w', b'o', 0xc3]).await.unwrap();
    drop(clone);
    // The held 0xc3 is only written when the writer finishes on its own.
    let mut found = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let cast = read_cast(&path).unwrap();
        if cast.output_bytes().len() == 8 {
            found = Some(cast);
            break;
        }
    }
    let cast = found.expect("writer did not finish after the last recorder was dropped");
    assert_eq!(cast.output_bytes(), b"one two\xc3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clones_keep_every_event_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.cast");
    let (rec, handle) = Recorder::create(&path, CastHeader::new(80, 24, 0))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for t in 0..4u8 {
        let rec = rec.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..3000 {
                rec.output(&[b'a' + t]).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let seal = handle.finish().await.unwrap();
    assert_eq!(seal.events, 12_000);
    let cast = read_cast(&path).unwrap();
    let out = cast.output_bytes();
    for t in 0..4u8 {
        assert_eq!(out.iter().filter(|&&b| b == b'a' + t).count(), 3000);
    }
    assert!(cast.events.windows(2).all(|p| p[0].time <= p[1].time));
    assert!(matches!(
        rec.output(b"late").await,
        Err(RecorderError::Closed)
    ));
}

#[cfg(unix)]
#[tokio::test]
async fn recording_is_private_to_the_broker() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.cast");
    let (_rec, handle) = Recorder::create(&path, CastHeader::new(80, 24, 0))
        .await
        .unwrap();
    handle.finish().await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
