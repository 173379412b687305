//! Recordings kept in an S3-compatible bucket (`[recording] store = "s3"`), against a real
//! S3 server process on loopback (`s3s-fs`), a real vendor session and a real sshd device:
//! the sealed recording is uploaded, checked and recorded, its local copy removed, and a
//! second node on the same PostgreSQL serves it (download, replay page, integrity) while
//! `session verify` and an evidence bundle verify; hostile: the bucket away at seal time
//! (the recording stays local, the log says so, and it is uploaded once the bucket is back),
//! an object altered in the bucket (named by `session verify`, the API and the export), a file
//! changed on disk after its seal (never uploaded), and a wrong key (the node refuses to
//! start, saying why).

use crate::harness::broker::{number, portcullis_bin, Broker};
use crate::harness::browser::{web_user, WebUser};
use crate::harness::pg::TestDb;
use crate::harness::proc::{self, Output};
use crate::harness::s3::S3Server;
use crate::harness::scenario::{Scenario, Setup};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Runs one vendor command through the broker; returns the session id and its
/// `recording.sealed` row.
fn recorded_session(s: &Scenario, marker: &str) -> (u64, Value) {
    let id = s.grant(30, "INC-7301 recordings in the bucket");
    s.exec(&format!("echo {marker}; uname -a")).assert_success();
    let session = s.wait_session_ended(id, Duration::from_secs(30));
    let session_id = number(&session["id"]).expect("session id");
    let sealed = s.broker.wait_for_audit("recording.sealed", Duration::from_secs(30), |r| r["subject"].as_str() == Some(&format!("session:{session_id}")));
    (session_id, sealed)
}

fn sha256_of(path: &Path) -> String {
    proc::tool("sha256sum", &[path.to_str().unwrap()]).split_whitespace().next().unwrap().to_owned()
}

/// Signs `u` in through the API of the node at `web`; returns the bearer token.
fn api_token(broker: &Broker, web: SocketAddr, u: &WebUser) -> String {
    let code = broker.totp(&u.name).next_code();
    let body = serde_json::json!({ "username": u.name, "password": u.password, "code": code }).to_string();
    let out = curl(&["-X", "POST", "-H", "Content-Type: application/json", "--data", &body, &format!("https://{web}/api/v1/auth/login")]);
    out.assert_success();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("login answered no JSON ({e}): {}", out.describe()));
    v["token"].as_str().unwrap_or_else(|| panic!("no token: {v}")).to_owned()
}

fn curl(args: &[&str]) -> Output {
    let mut c = Command::new("curl");
    c.args(["-sS", "-k", "--fail-with-body", "--max-time", "60"]).args(args);
    proc::run(c, Duration::from_secs(90))
}

fn get(web: SocketAddr, token: &str, path: &str) -> Output {
    curl(&["-H", &format!("Authorization: Bearer {token}"), &format!("https://{web}{path}")])
}

/// A store = "s3" node on PostgreSQL: the recording ends up in the bucket with the sealed
/// SHA-256, the local copy is gone, and a second node (the first one stopped) downloads it,
/// shows it intact and replays it, while `session verify` and an exported bundle verify.
/// Then the object is altered in the bucket: every reader names it.
#[test]
fn recordings_go_to_the_bucket_and_another_node_serves_them() {
    let db = TestDb::create();
    let s3 = S3Server::start();
    let mut s = Setup::new("pump-s3").store(&db.url).broker_env(&s3.env()).start();
    let (session, sealed) = recorded_session(&s, "bucket-run-7301");
    let subject = format!("session:{session}");
    let stored = s.broker.wait_for_audit("recording.stored", Duration::from_secs(60), |r| r["subject"].as_str() == Some(&subject));
    let sha = sealed["detail"]["sha256"].as_str().unwrap().to_owned();
    assert_eq!(stored["detail"]["sha256"].as_str(), Some(sha.as_str()), "{stored}");
    assert_eq!(stored["actor"], "system", "{stored}");
    assert!(stored["detail"].get("late").is_none(), "an upload at once is not late: {stored}");
    let key = stored["detail"]["key"].as_str().unwrap().to_owned();
    let channel = sealed["detail"]["channel"].as_u64().unwrap();
    assert_eq!(key, format!("recordings/{session}/{channel}.cast"));
    // In the bucket, byte for byte what was sealed; recorded in the row; gone from disk.
    assert_eq!(s3.keys(), vec![key.clone()]);
    assert_eq!(sha256_of(&s3.object_file(&key)), sha);
    assert_eq!(db.sql(&format!("SELECT object_key FROM recordings WHERE session_id = {session}")).trim(), key);
    let local = sealed["detail"]["path"].as_str().unwrap().to_owned();
    proc::poll_until("the local copy to be removed", Duration::from_secs(30), || (!Path::new(&local).exists()).then_some(()));

    // The node that wrote it stops; another node on the same store serves it from the bucket.
    s.broker.stop();
    let node2 = s.broker.another_node(&[]);
    let auditor = web_user(&s.broker, "auditor-s3", "auditor");
    let token = api_token(&s.broker, node2.web_addr(), &auditor);
    let download = get(node2.web_addr(), &token, &format!("/api/v1/sessions/{session}/recordings/{channel}"));
    download.assert_success();
    assert_eq!(portcullis_core::evidence::sha256_hex(&download.stdout), sha);
    assert!(String::from_utf8_lossy(&download.stdout).contains("bucket-run-7301"));
    let list: Value = serde_json::from_slice(&get(node2.web_addr(), &token, &format!("/api/v1/sessions/{session}/recordings")).stdout).unwrap();
    assert_eq!(list[0]["status"], "intact", "{list}");
    let page = curl(&["-H", &format!("Cookie: __Host-portcullis={token}"), &format!("https://{}/sessions/{session}/replay/{channel}", node2.web_addr())]);
    page.assert_success();
    assert!(page.stdout_text().contains("data-integrity=\"intact\"") && page.stdout_text().contains("id=\"player\""), "{}", page.stdout_text());

    // The command line reads the bucket too: session verify, and a bundle that verifies.
    let checks = s.broker.cli_json(&["session", "verify", &session.to_string(), "--json"]);
    assert_eq!(checks[0]["status"], "intact", "{checks}");
    assert_eq!(checks[0]["path"].as_str(), Some(format!("s3://{}/{key}", crate::harness::s3::BUCKET).as_str()), "{checks}");
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle.tar.gz");
    s.broker.cli_json(&["evidence", "export", "--session", &session.to_string(), "--output", bundle.to_str().unwrap(), "--json"]);
    let mut verify = Command::new(portcullis_bin());
    verify.args(["evidence", "verify"]).arg(&bundle).env("PORTCULLIS_CONFIG", "/nonexistent/portcullis.toml");
    proc::run(verify, Duration::from_secs(60)).assert_success();
    s.broker.cli_ok(&["audit", "verify"]);

    // A backup with the recordings copies this one from the bucket (it is no longer on disk),
    // and its manifest names the object.
    let backup = work.path().join("backup");
    s.broker.cli_json(&["backup", "--output", backup.to_str().unwrap(), "--with-recordings", "--json"]);
    let manifest: Value = serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    let listed = manifest["recordings"].as_array().unwrap().iter().find(|r| number(&r["session"]) == Some(session)).unwrap_or_else(|| panic!("not in the manifest: {manifest}"));
    assert_eq!(listed["state"], "sealed", "{listed}");
    assert_eq!(listed["location"].as_str(), Some(format!("s3://{}/{key}", crate::harness::s3::BUCKET).as_str()), "{listed}");
    let copied = listed["copied"].as_str().unwrap_or_else(|| panic!("the recording was not copied from the bucket: {listed}"));
    assert_eq!(std::fs::read(backup.join(copied)).unwrap(), std::fs::read(s3.object_file(&key)).unwrap());

    // Someone with access to the bucket changes the recording.
    let object = s3.object_file(&key);
    let text = std::fs::read_to_string(&object).unwrap().replace("bucket-run-7301", "bucket-run-0000");
    std::fs::write(&object, text).unwrap();
    let out = s.broker.cli(&["session", "verify", &session.to_string()]);
    assert!(!out.success() && out.all_text().contains(&format!("s3://{}/{key}", crate::harness::s3::BUCKET)), "session verify missed the altered object:\n{}", out.describe());
    let list: Value = serde_json::from_slice(&get(node2.web_addr(), &token, &format!("/api/v1/sessions/{session}/recordings")).stdout).unwrap();
    assert_eq!(list[0]["status"], "mismatch", "{list}");
    let refused = s.broker.cli(&["evidence", "export", "--session", &session.to_string(), "--output", work.path().join("b2.tar.gz").to_str().unwrap()]);
    assert!(!refused.success() && refused.all_text().contains("no longer match"), "{}", refused.describe());
}

/// The bucket is away when the recording is sealed: the recording stays on disk, the audit
/// log says the upload failed, and once the bucket is back the node uploads it (marked late),
/// byte for byte, and only then removes the local copy.
#[test]
fn a_bucket_away_at_seal_keeps_the_recording_until_it_is_back() {
    let mut s3 = S3Server::start();
    let s = Setup::new("vent-s3").broker_env(&s3.env()).start();
    s3.stop();
    let (session, sealed) = recorded_session(&s, "bucket-away-7302");
    let subject = format!("session:{session}");
    let failed = s.broker.wait_for_audit("recording.store_failed", Duration::from_secs(120), |r| r["subject"].as_str() == Some(&subject));
    assert!(failed["detail"]["error"].as_str().is_some_and(|e| !e.is_empty()), "{failed}");
    let sha = sealed["detail"]["sha256"].as_str().unwrap().to_owned();
    let local = sealed["detail"]["path"].as_str().unwrap().to_owned();
    assert_eq!(sha256_of(Path::new(&local)), sha, "the local copy must stay as sealed while the bucket is away");
    assert!(s.broker.audit_of_kind("recording.stored").is_empty());
    // Meanwhile it is still readable, from disk.
    let checks = s.broker.cli_json(&["session", "verify", &session.to_string(), "--json"]);
    assert_eq!(checks[0]["status"], "intact", "{checks}");

    s3.restart();
    let stored = s.broker.wait_for_audit("recording.stored", Duration::from_secs(120), |r| r["subject"].as_str() == Some(&subject));
    assert_eq!(stored["detail"]["late"], true, "{stored}");
    assert_eq!(stored["detail"]["sha256"].as_str(), Some(sha.as_str()), "{stored}");
    let key = stored["detail"]["key"].as_str().unwrap();
    assert_eq!(sha256_of(&s3.object_file(key)), sha);
    proc::poll_until("the local copy to be removed", Duration::from_secs(30), || (!Path::new(&local).exists()).then_some(()));
    // Said once, not at every retry.
    assert_eq!(s.broker.audit_of_kind("recording.store_failed").len(), 1);
    let checks = s.broker.cli_json(&["session", "verify", &session.to_string(), "--json"]);
    assert_eq!(checks[0]["status"], "intact", "{checks}");
}

/// A wrong secret key: `serve` refuses to start and says the bucket refused the key; no key
/// at all: the configuration is refused, naming the variables.
#[test]
fn a_wrong_bucket_key_is_refused_with_a_clear_message() {
    let s3 = S3Server::start();
    let broker = Broker::init();
    for (k, v) in s3.env() {
        broker.set_env(&k, &v);
    }
    broker.set_env("PORTCULLIS_S3_SECRET_ACCESS_KEY", "not-the-secret");
    let serve = |broker: &Broker| {
        let mut cmd = broker.command(&["serve"]);
        cmd.env("PORTCULLIS_SSH_LISTEN", "127.0.0.1:0").env("PORTCULLIS_WEB_LISTEN", "127.0.0.1:0").env("PORTCULLIS_METRICS_LISTEN", "127.0.0.1:0");
        proc::run(cmd, Duration::from_secs(120))
    };
    let out = serve(&broker);
    assert!(!out.success(), "serve started with a wrong key:\n{}", out.describe());
    assert!(out.all_text().contains("refused the access key"), "{}", out.describe());
    assert!(!out.all_text().contains("not-the-secret"), "the secret was printed:\n{}", out.describe());
    broker.set_env("PORTCULLIS_S3_SECRET_ACCESS_KEY", "");
    let out = serve(&broker);
    assert!(!out.success() && out.all_text().contains("PORTCULLIS_S3_SECRET_ACCESS_KEY"), "{}", out.describe());
}

/// A recording changed on the node's disk after it was sealed (while the bucket was away) is
/// never uploaded as if it were the recording: the upload is abandoned, nothing lands in the
/// bucket, the local file stays for the investigation, and `session verify` names it.
#[test]
fn a_recording_changed_on_disk_after_its_seal_is_not_uploaded() {
    let mut s3 = S3Server::start();
    let s = Setup::new("lab-s3").broker_env(&s3.env()).start();
    s3.stop();
    let (session, sealed) = recorded_session(&s, "changed-on-disk-7303");
    let subject = format!("session:{session}");
    s.broker.wait_for_audit("recording.store_failed", Duration::from_secs(120), |r| r["subject"].as_str() == Some(&subject));
    let local = sealed["detail"]["path"].as_str().unwrap().to_owned();
    let text = std::fs::read_to_string(&local).unwrap().replace("changed-on-disk-7303", "changed-on-disk-0000");
    std::fs::write(&local, text).unwrap();
    s3.restart();
    proc::poll_until("the node to refuse the changed file", Duration::from_secs(120), || s.broker.server_output().contains("is no longer what was sealed; not uploaded").then_some(()));
    assert!(s3.keys().is_empty(), "a changed recording reached the bucket: {:?}", s3.keys());
    assert!(s.broker.audit_of_kind("recording.stored").is_empty());
    assert!(Path::new(&local).exists(), "the changed file must stay for the investigation");
    let out = s.broker.cli(&["session", "verify", &session.to_string()]);
    assert!(!out.success() && out.all_text().contains(&local), "{}", out.describe());
}
