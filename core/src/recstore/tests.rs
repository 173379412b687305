#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The local side of the recording store (the bucket side runs against a real S3 server in
//! the end-to-end tests).

use super::*;
use crate::config::{Config, RecordingStore};

#[tokio::test]
async fn a_local_recording_reads_and_hashes_from_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1.cast");
    std::fs::write(&path, b"abc").unwrap();
    let rec = RecordingRecord::local_for_tests(&path);
    let (sha, bytes, place) = RecStore::local().sha256(&rec).await.unwrap();
    assert_eq!(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!((bytes, place), (3, path.display().to_string()));
}

#[tokio::test]
async fn a_file_gone_with_no_object_is_missing_and_a_deleted_one_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = RecordingRecord::local_for_tests(&dir.path().join("none.cast"));
    assert!(matches!(RecStore::local().open(&rec).await, Err(RecStoreError::Missing(_))));
    // Uploaded to a bucket this process was not given: said so, not silently empty.
    rec.object_key = Some("1/1.cast".into());
    let err = RecStore::local().open(&rec).await.err().unwrap();
    assert!(err.to_string().contains("no [recording.s3]"), "{err}");
    rec.retained = Some("deleted".into());
    assert!(matches!(RecStore::local().open(&rec).await, Err(RecStoreError::Gone(_))));
}

#[tokio::test]
async fn remove_takes_the_file_and_tolerates_its_absence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1.cast");
    std::fs::write(&path, b"abc").unwrap();
    let rec = RecordingRecord::local_for_tests(&path);
    RecStore::local().remove(&rec).await.unwrap();
    assert!(!path.exists());
    RecStore::local().remove(&rec).await.unwrap();
}

fn config(extra: &str, vars: &[(&str, &str)]) -> Result<Config, crate::config::ConfigError> {
    let text = format!("[store]\nurl = \"sqlite://x.db\"\n{extra}");
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_parts(&text, std::path::Path::new("/tmp/p.toml"), &vars)
}

const KEYS: [(&str, &str); 2] = [("PORTCULLIS_S3_ACCESS_KEY_ID", "AKID"), ("PORTCULLIS_S3_SECRET_ACCESS_KEY", "s3cr3t-value")];

#[test]
fn the_bucket_is_configured_with_keys_from_the_environment_only() {
    let s3 = "[recording]\nstore = \"s3\"\n[recording.s3]\nbucket = \"rec\"\nregion = \"us-east-1\"\nendpoint = \"https://s3.example.org\"\n";
    let c = config(s3, &KEYS).unwrap();
    assert_eq!(c.recording.store, RecordingStore::S3);
    assert!(RecStore::from_config(&c.recording).unwrap().has_bucket());
    // The secret never shows in Debug output (logs, panics).
    assert!(!format!("{c:?}").contains("s3cr3t-value"));
    // Without the key in the environment: refused at start, saying where it comes from.
    let err = config(s3, &[]).unwrap_err().to_string();
    assert!(err.contains("PORTCULLIS_S3_ACCESS_KEY_ID"), "{err}");
    // A key in the file is not a key the file may hold.
    assert!(config(&format!("{s3}secret_access_key = \"x\"\n"), &KEYS).is_err());
}

#[test]
fn plain_http_is_refused_except_to_loopback_with_allow_http() {
    let with = |endpoint: &str, allow: bool| format!("[recording]\nstore = \"s3\"\n[recording.s3]\nbucket = \"rec\"\nregion = \"r\"\nendpoint = \"{endpoint}\"\nallow_http = {allow}\n");
    assert!(config(&with("http://127.0.0.1:9000", true), &KEYS).is_ok());
    let err = config(&with("http://s3.example.org", true), &KEYS).unwrap_err().to_string();
    assert!(err.contains("loopback"), "{err}");
    assert!(config(&with("http://127.0.0.1:9000", false), &KEYS).is_err());
}
