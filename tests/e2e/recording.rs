//! Recording: every byte the device sends reaches the vendor unchanged, and the asciicast
//! recording plays back exactly those bytes, including invalid UTF-8 and multi-byte
//! characters; the recording's SHA-256 is sealed into the audit log. The recording is read
//! back twice: by the harness's own decoder (independent of the product's code, so a bug
//! shared by its writer and reader cannot hide) and by `portcullis_recorder::read_cast`.

use crate::harness::broker::number;
use crate::harness::cast::Cast;
use crate::harness::proc;
use crate::harness::scenario::Setup;
use std::path::PathBuf;
use std::time::Duration;

#[test]
fn recording_plays_back_the_exact_bytes_including_invalid_utf8() {
    let s = Setup::new("mri-2").start();
    let id = s.grant(30, "INC-9001 console dump");

    // "café" (é is 0xc3 0xa9), then two bytes that are never valid UTF-8.
    let out = s.exec(r"printf 'caf\303\251 \377\376 end'");
    out.assert_success();
    let expected: &[u8] = b"caf\xc3\xa9 \xff\xfe end";
    assert_eq!(
        out.stdout, expected,
        "the vendor did not get the device's bytes unchanged"
    );

    let session = s.wait_session_ended(id, Duration::from_secs(30));
    let session_id = number(&session["id"]).expect("session id");
    let sealed = s
        .broker
        .wait_for_audit("recording.sealed", Duration::from_secs(30), |r| {
            r["detail"]["path"]
                .as_str()
                .is_some_and(|p| p.contains(&format!("recordings/{session_id}/")))
        });

    let recordings = s
        .broker
        .data_dir
        .join("recordings")
        .join(session_id.to_string());
    let casts: Vec<PathBuf> = std::fs::read_dir(&recordings)
        .unwrap_or_else(|e| panic!("no recordings directory {}: {e}", recordings.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cast"))
        .collect();
    assert_eq!(casts.len(), 1, "expected one .cast for one exec: {casts:?}");
    let cast = Cast::read(&casts[0]);
    assert_eq!(
        cast.output_bytes(),
        expected,
        "the recording does not play back what the vendor received: {:?}",
        cast.events
    );

    // The product's own reader (what replay and export use) agrees.
    let product = portcullis_recorder::read_cast(&casts[0]).unwrap_or_else(|e| {
        panic!(
            "portcullis_recorder cannot read {}: {e}",
            casts[0].display()
        )
    });
    assert_eq!(
        product.output_bytes(),
        expected,
        "portcullis_recorder plays back other bytes"
    );

    // The sealed hash is the hash of that file.
    let sealed_path = sealed["detail"]["path"].as_str().unwrap();
    let sealed_file = std::fs::canonicalize(s.broker.data_dir.join(sealed_path)).unwrap();
    assert_eq!(
        sealed_file,
        std::fs::canonicalize(&casts[0]).unwrap(),
        "{sealed}"
    );
    let sha = proc::tool("sha256sum", &[casts[0].to_str().unwrap()]);
    let sha = sha.split_whitespace().next().unwrap_or("");
    assert_eq!(
        sealed["detail"]["sha256"], sha,
        "sealed hash differs from the file's: {sealed}"
    );
}

/// Fail closed: when the recording cannot be created, the session does not start and
/// nothing reaches the device.
#[test]
fn unrecordable_session_is_refused_before_the_device() {
    let blocker = tempfile::NamedTempFile::new().unwrap();
    // A path below a regular file: no folder can be created there.
    let dir = blocker.path().join("recordings");
    let s = Setup::new("pump-norec")
        .serve_env("PORTCULLIS_RECORDING_DIR", &dir.display().to_string())
        .start();
    s.grant(30, "INC-9002 check");
    let out = s.exec("echo should-not-run");
    assert!(out.code() != Some(0), "{}", out.describe());
    assert!(!out.stdout_text().contains("should-not-run"));
    assert!(out.all_text().contains("cannot be recorded"), "{}", out.describe());
    assert_eq!(s.device.accepted(), 0, "the device was contacted without a recording");
    s.broker.wait_for_audit("recording.failed", Duration::from_secs(30), |_| true);
}
