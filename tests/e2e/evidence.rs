//! Evidence bundles and recording integrity, end to end: a real vendor session through the
//! broker, `evidence export`, then `evidence verify` offline — intact, and after each kind of
//! tampering inside the archive (a recording byte, an audit row field, a dropped file, a
//! manifest re-signed with another key), each failure named. `session verify` names a
//! recording changed on disk. Retention (archive on SQLite, delete on PostgreSQL) leaves the
//! audit log verifying and the bundle verifying, with the removed recording marked.

use crate::harness::broker::{number, Broker};
use crate::harness::pg::TestDb;
use crate::harness::proc::{self, Output};
use crate::harness::scenario::{Scenario, Setup};
use portcullis_core::audit::{AuditRow, AuditSigner};
use portcullis_core::evidence::{self, Manifest, Members, MANIFEST, SIGNATURE};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Runs one vendor command through the broker and waits until its recording is sealed;
/// returns the session id and the `recording.sealed` row.
fn recorded_session(s: &Scenario) -> (u64, Value) {
    let id = s.grant(30, "INC-7001 evidence");
    s.exec("echo evidence-run; uname -a").assert_success();
    let session = s.wait_session_ended(id, Duration::from_secs(30));
    let session_id = number(&session["id"]).expect("session id");
    let sealed = s.broker.wait_for_audit("recording.sealed", Duration::from_secs(30), |r| {
        r["subject"].as_str() == Some(&format!("session:{session_id}"))
    });
    (session_id, sealed)
}

fn export(broker: &Broker, session: u64, out: &Path) {
    let shown = broker.cli_json(&["evidence", "export", "--session", &session.to_string(), "--output", out.to_str().unwrap(), "--json"]);
    assert!(out.exists(), "export wrote nothing: {shown}");
}

/// `evidence verify` with no configuration and no database reachable.
fn verify(bundle: &Path, extra: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(crate::harness::broker::portcullis_bin());
    cmd.args(["evidence", "verify"]).arg(bundle).args(extra).env("PORTCULLIS_CONFIG", "/nonexistent/portcullis.toml");
    proc::run(cmd, Duration::from_secs(60))
}

fn read(bundle: &Path) -> Members {
    evidence::read_archive(std::fs::File::open(bundle).unwrap()).unwrap()
}

fn write(members: &Members, to: &Path) {
    evidence::write_archive(members, std::fs::File::create(to).unwrap()).unwrap();
}

/// Re-makes the manifest over the (changed) members and signs it with `signer`.
fn resign(members: &mut Members, signer: &AuditSigner) {
    let old: Manifest = serde_json::from_slice(&members[MANIFEST]).unwrap();
    members.remove(MANIFEST);
    members.remove(SIGNATURE);
    use base64::Engine;
    let public = base64::engine::general_purpose::STANDARD.encode(signer.public_key());
    let m = Manifest::of(members, old.session_id, old.created_at, signer.key_id(), &public);
    members.insert(SIGNATURE.into(), m.sign(signer).into_bytes());
    members.insert(MANIFEST.into(), m.canonical());
}

fn assert_fails_naming(out: &Output, needle: &str) {
    assert!(!out.success(), "verify passed a tampered bundle:\n{}", out.describe());
    assert!(out.all_text().contains(needle), "verify did not name {needle:?}:\n{}", out.describe());
}

#[test]
fn evidence_bundle_verifies_and_names_each_tampering() {
    let s = Setup::new("lab-analyzer-7").start();
    let (session, sealed) = recorded_session(&s);
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle.tar.gz");
    export(&s.broker, session, &bundle);
    // Taking a copy is on the record, with who ran the command and what the copy holds.
    let row = s.broker.wait_for_audit("evidence.exported", Duration::from_secs(10), |r| r["subject"] == format!("session:{session}"));
    assert!(row["actor"].as_str().is_some_and(|a| a.starts_with("cli:")), "{row}");
    let sha = crate::harness::proc::tool("sha256sum", &[bundle.to_str().unwrap()]);
    assert_eq!(row["detail"]["sha256"].as_str(), sha.split_whitespace().next(), "{row}");

    // Intact, unpinned: passes but says the key is only self-consistent.
    let out = verify(&bundle, &[]);
    out.assert_success();
    assert!(out.stdout_text().contains("NOT pinned"), "{}", out.describe());

    // Pinned to the installation's audit key.
    let key_file = work.path().join("audit.pub");
    std::fs::write(&key_file, s.broker.cli_ok(&["audit", "public-key"])).unwrap();
    let out = verify(&bundle, &["--public-key", key_file.to_str().unwrap()]);
    out.assert_success();
    assert!(out.stdout_text().contains("checked against the pinned key"), "{}", out.describe());
    let report: Value = serde_json::from_slice(&verify(&bundle, &["--json"]).stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["recordings_verified"].as_u64().unwrap() >= 1, "{report}");

    let members = read(&bundle);
    let cast = format!("recordings/{session}/{}.cast", sealed["detail"]["channel"]);
    assert!(members.contains_key(&cast), "no {cast} in {:?}", members.keys().collect::<Vec<_>>());
    let key_der = std::fs::read(s.broker.data_dir.join("keys/audit_ed25519.pk8")).unwrap();
    let real = AuditSigner::from_pkcs8(&key_der).unwrap();

    // One byte of the recording changed: the manifest catches it …
    let mut m = members.clone();
    let data = m.get_mut(&cast).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0x01;
    let tampered = work.path().join("recording.tar.gz");
    write(&m, &tampered);
    assert_fails_naming(&verify(&tampered, &[]), &format!("{cast}: SHA-256 differs from the manifest"));
    // … and even with the manifest re-made and signed with the real key, the sealed hash does.
    resign(&mut m, &real);
    write(&m, &tampered);
    let sealed_seq = sealed["seq"].as_i64().unwrap();
    assert_fails_naming(&verify(&tampered, &[]), &format!("{cast}: SHA-256 differs from the sealed value in audit row {sealed_seq}"));

    // An audit row's field changed (and the manifest re-signed with the real key).
    let mut m = members.clone();
    let text = String::from_utf8(m["audit/rows.jsonl"].clone()).unwrap();
    let mut rows: Vec<AuditRow> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let victim = rows.iter_mut().find(|r| r.kind == "session.started").expect("a session.started row");
    victim.actor = "mallory".into();
    let victim_seq = victim.seq;
    let lines: String = rows.iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect();
    m.insert("audit/rows.jsonl".into(), lines.into_bytes());
    resign(&mut m, &real);
    let tampered = work.path().join("row.tar.gz");
    write(&m, &tampered);
    assert_fails_naming(&verify(&tampered, &[]), &format!("audit row {victim_seq}: hash does not match its fields"));

    // A file dropped.
    let mut m = members.clone();
    m.remove("request.json");
    let tampered = work.path().join("dropped.tar.gz");
    write(&m, &tampered);
    assert_fails_naming(&verify(&tampered, &[]), "missing file request.json");

    // A file added.
    let mut m = members.clone();
    m.insert("recordings/notes.txt".into(), b"planted".to_vec());
    let tampered = work.path().join("extra.tar.gz");
    write(&m, &tampered);
    assert_fails_naming(&verify(&tampered, &[]), "extra file recordings/notes.txt");

    // Re-signed with another key: refused when the real key is pinned.
    let other = AuditSigner::from_pkcs8(&AuditSigner::generate_pkcs8().unwrap()).unwrap();
    let mut m = members.clone();
    resign(&mut m, &other);
    let tampered = work.path().join("other-key.tar.gz");
    write(&m, &tampered);
    assert_fails_naming(&verify(&tampered, &["--public-key", key_file.to_str().unwrap()]), &format!("expected key {}", real.key_id()));
    assert_fails_naming(&verify(&tampered, &["--key-id", real.key_id()]), &format!("bundle signed with key {}", other.key_id()));

    // A changed byte in the recording on disk: `session verify` names it.
    let ok = s.broker.cli_json(&["session", "verify", &session.to_string(), "--json"]);
    assert!(ok.as_array().unwrap().iter().all(|c| c["status"] == "intact"), "{ok}");
    let on_disk = PathBuf::from(sealed["detail"]["path"].as_str().unwrap());
    let on_disk = if on_disk.is_absolute() { on_disk } else { s.broker.data_dir.join(on_disk) };
    let mut data = std::fs::read(&on_disk).unwrap();
    data[mid] ^= 0x01;
    std::fs::write(&on_disk, &data).unwrap();
    let out = s.broker.cli(&["session", "verify", &session.to_string()]);
    assert!(!out.success(), "session verify passed a changed recording:\n{}", out.describe());
    let named = on_disk.display().to_string();
    assert!(out.all_text().contains(&format!("{named}: SHA-256 differs from the sealed value in audit row {sealed_seq}")), "{}", out.describe());
}

/// Retention with `recordings_after = 0s`, run from the CLI; then the log, the recording
/// (archived) or its record (deleted), and a bundle all still verify.
fn retention_keeps_evidence(s: &Scenario, action: &str) {
    let (session, sealed) = recorded_session(s);
    let archive = s.broker.data_dir.join("archive");
    let mut cmd = s.broker.command(&["retention", "run", "--json"]);
    cmd.env("PORTCULLIS_RETENTION_RECORDINGS_AFTER", "0s").env("PORTCULLIS_RETENTION_ACTION", action);
    let out = proc::run(cmd, Duration::from_secs(60));
    out.assert_success();
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kind = if action == "archive" { "archived" } else { "deleted" };
    assert!(done.as_array().unwrap().iter().any(|r| r["session_id"] == session && r["action"] == kind), "{done}");

    let original = PathBuf::from(sealed["detail"]["path"].as_str().unwrap());
    assert!(!original.exists(), "{} still in the recording folder", original.display());
    let row = s.broker.wait_for_audit(&format!("recording.{kind}"), Duration::from_secs(10), |r| r["subject"].as_str() == Some(&format!("session:{session}")));
    assert_eq!(row["detail"]["sha256"], sealed["detail"]["sha256"], "{row}");
    assert!(row["detail"]["age_seconds"].is_number(), "{row}");

    let verified = s.broker.cli_json(&["audit", "verify", "--json"]);
    assert_eq!(verified["ok"], true, "retention broke the audit chain: {verified}");
    let checks = s.broker.cli_json(&["session", "verify", &session.to_string(), "--json"]);
    let expected = if action == "archive" { "intact" } else { "deleted" };
    assert!(checks.as_array().unwrap().iter().all(|c| c["status"] == expected), "{checks}");
    if action == "archive" {
        let moved = archive.join(session.to_string()).join(original.file_name().unwrap());
        assert!(moved.exists(), "no archived copy at {}", moved.display());
        let sha = proc::tool("sha256sum", &[moved.to_str().unwrap()]);
        assert_eq!(sha.split_whitespace().next(), sealed["detail"]["sha256"].as_str());
    }

    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("b.tar.gz");
    export(&s.broker, session, &bundle);
    let out = verify(&bundle, &["--json"]);
    out.assert_success();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    if action == "delete" {
        let notes = report["notes"].to_string();
        assert!(notes.contains("recording.deleted"), "the deleted recording is not marked: {report}");
    } else {
        assert!(report["recordings_verified"].as_u64().unwrap() >= 1, "{report}");
    }
}

#[test]
fn sqlite_retention_archives_and_evidence_still_verifies() {
    let s = Setup::new("ct-scanner-3").start();
    retention_keeps_evidence(&s, "archive");
}

#[test]
fn postgres_retention_deletes_and_evidence_still_verifies() {
    let db = TestDb::create();
    let s = Setup::new("ct-scanner-4").store(&db.url).start();
    retention_keeps_evidence(&s, "delete");
}

/// Finding: `evidence export` wrote a bundle from a recording that no longer matched its
/// sealed hash without a word. Now it names the mismatch, exits non-zero and writes nothing,
/// unless asked to export anyway; that bundle's manifest says so, and verify reports it.
#[test]
fn exporting_an_altered_recording_is_refused_unless_asked_and_then_said() {
    let s = Setup::new("lab-analyzer-9").start();
    let (session, sealed) = recorded_session(&s);
    let rec = s.broker.data_dir.join(sealed["detail"]["path"].as_str().unwrap());
    let mut bytes = std::fs::read(&rec).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x20;
    std::fs::write(&rec, &bytes).unwrap();

    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle.tar.gz");
    let refused = s.broker.cli(&["evidence", "export", "--session", &session.to_string(), "--output", bundle.to_str().unwrap()]);
    refused.assert_failure();
    assert!(refused.stderr_text().contains("WARNING") && refused.stderr_text().contains("SHA-256"), "{}", refused.describe());
    assert!(refused.all_text().contains("--allow-altered"), "{}", refused.describe());
    assert!(!bundle.exists(), "a bundle was written from an altered recording");

    let allowed = s.broker.cli(&["evidence", "export", "--session", &session.to_string(), "--output", bundle.to_str().unwrap(), "--allow-altered"]);
    allowed.assert_success();
    assert!(allowed.stderr_text().contains("WARNING"), "{}", allowed.describe());
    let manifest: Manifest = serde_json::from_slice(&read(&bundle)[MANIFEST]).unwrap();
    assert_eq!(manifest.altered_at_export.len(), 1, "{manifest:?}");
    let out = verify(&bundle, &[]);
    assert!(out.all_text().contains("exported on purpose although altered"), "{}", out.describe());
}
