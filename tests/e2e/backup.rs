//! Backup and restore: `portcullis backup` while `serve` runs and a vendor's session has left
//! audit rows and a sealed recording, then `portcullis restore` onto a fresh folder, where
//! `audit verify` and `session verify` pass and `serve` starts and is ready. The hostile side:
//! a backup whose database, key file or manifest was changed is refused with a message saying
//! which; so is a backup of a log that no longer verifies, and any non-empty target folder.
//! On PostgreSQL the printed `pg_dump` command and `pg_restore` carry the database, and a
//! database that is not the one backed up is refused.

use crate::harness::broker::{number, portcullis_bin, Broker, CLI_TIMEOUT};
use crate::harness::pg::TestDb;
use crate::harness::proc::{self, Output};
use crate::harness::scenario::Setup;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// `portcullis restore --from FROM --data DATA --json` (no configuration of its own).
fn restore(from: &Path, data: &Path) -> Output {
    let mut cmd = Command::new(portcullis_bin());
    cmd.arg("restore").arg("--from").arg(from).arg("--data").arg(data).arg("--json").env_remove("PORTCULLIS_CONFIG").env_remove("PORTCULLIS_STORE_URL");
    proc::run(cmd, CLI_TIMEOUT)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn sha256(p: &Path) -> String {
    proc::tool("sha256sum", &[p.to_str().unwrap()]).split_whitespace().next().unwrap_or("").to_owned()
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn backup_while_serving_restores_onto_a_fresh_folder_that_verifies_and_serves() {
    let s = Setup::new("pump-bk").start();
    let id = s.grant(30, "INC-4711 backup drill");
    s.exec("echo before-the-backup").assert_success();
    let session = s.wait_session_ended(id, WAIT);
    let sid = number(&session["id"]).expect("session id");
    let sealed = s.broker.wait_for_audit("recording.sealed", WAIT, |r| r["subject"] == format!("session:{sid}"));
    let sealed_sha = sealed["detail"]["sha256"].as_str().unwrap().to_owned();

    // Taken while serve runs; the output folder and every file in it are private.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("backup");
    let taken = s.broker.cli_json(&["backup", "--output", out.to_str().unwrap(), "--with-recordings", "--json"]);
    assert_eq!(mode(&out), 0o700, "the backup folder is not 0700");
    let files = files_under(&out);
    for f in &files {
        assert_eq!(mode(f), 0o600, "{} is not 0600", f.display());
    }
    for key in ["keys/vault.key", "keys/audit_ed25519.pk8", "keys/web_token.key", "keys/ssh_host_ed25519", "tls/key.pem", "tls/cert.pem", "portcullis.toml", "portcullis.db"] {
        assert!(out.join(key).is_file(), "the backup lacks {key}: {files:?}");
    }

    // The manifest lists the recording with its sealed hash, and the live log's backup.taken
    // row (written after the snapshot) names the snapshot's head and the manifest's hash.
    let m = manifest(&out);
    let rec = m["recordings"].as_array().unwrap().iter().find(|r| r["session"] == sid).unwrap_or_else(|| panic!("recording of session {sid} not in the manifest: {m}"));
    assert_eq!(rec["sha256"], sealed_sha.as_str(), "{m}");
    assert_eq!(rec["state"], "sealed");
    assert!(rec["copied"].is_string(), "{rec}");
    assert!(m["schema_version"].as_i64().unwrap() >= 9, "{m}");
    assert_eq!(m["portcullis_version"], env!("CARGO_PKG_VERSION"));
    let row = s.broker.wait_for_audit("backup.taken", WAIT, |_| true);
    assert_eq!(row["detail"]["manifest_sha256"], sha256(&out.join("manifest.json")).as_str(), "{row}");
    assert_eq!(row["detail"]["head_seq"], m["audit"]["head_seq"], "{row}");
    assert_eq!(taken["audit"]["head_hash"], m["audit"]["head_hash"]);
    assert!(number(&row["seq"]).unwrap() > number(&m["audit"]["head_seq"]).unwrap(), "the backup.taken row is inside the snapshot: {row}");

    // Restore onto a fresh folder; the original node keeps serving meanwhile.
    let root = tempfile::Builder::new().prefix("portcullis-restored-").tempdir().unwrap();
    let data = root.path().join("data");
    let done = restore(&out, &data);
    done.assert_success();
    let report: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(report["recordings_restored"], 1, "{report}");
    let mut restored = Broker::adopt(root, s.broker.admin.clone());
    assert!(restored.cli_ok(&["audit", "verify"]).contains("audit log intact"));
    let checks = restored.cli_json(&["session", "verify", &sid.to_string(), "--json"]);
    let check = &checks.as_array().unwrap()[0];
    assert_eq!(check["status"], "intact", "{checks}");
    assert!(check["path"].as_str().unwrap().starts_with(data.to_str().unwrap()), "session verify read the original's file, not the restored one: {checks}");
    let last = restored.audit().pop().unwrap();
    assert_eq!(last["kind"], "backup.restored", "{last}");
    assert_eq!(last["detail"]["manifest_sha256"], row["detail"]["manifest_sha256"]);
    // The vendor and the device are there, and the restored node serves.
    let users = restored.cli_json(&["user", "list", "--json"]);
    assert!(users.as_array().unwrap().iter().any(|u| u["username"] == s.vendor.name), "{users}");
    restored.serve(&[]);
    let ready = proc::poll(WAIT, || {
        let code = proc::tool("curl", &["-sk", "-o", "/dev/null", "-w", "%{http_code}", &format!("https://{}/readyz", restored.web_addr())]);
        (code == "200").then_some(())
    });
    assert!(ready.is_some(), "the restored node never became ready:\n{}", restored.server_output());
}

/// A backup of a broker with a few rows; returns the broker (not serving) and the folder.
fn a_backup() -> (Broker, tempfile::TempDir, PathBuf) {
    let broker = Broker::init();
    broker.add_user("acme-jdoe", "approver", None, None);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    broker.cli_ok(&["backup", "--output", out.to_str().unwrap()]);
    (broker, tmp, out)
}

/// A copy of backup `from` under `tmp`, named `name`.
fn copy_of(from: &Path, tmp: &Path, name: &str) -> PathBuf {
    let to = tmp.join(name);
    proc::tool("cp", &["-a", from.to_str().unwrap(), to.to_str().unwrap()]);
    to
}

/// Restore must fail saying `needle`, and leave no folder behind.
fn refused(from: &Path, tmp: &Path, needle: &str) {
    let data = tmp.join(format!("restored-{}", from.file_name().unwrap().to_string_lossy()));
    let out = restore(from, &data);
    out.assert_failure();
    assert!(out.stderr_text().contains(needle), "restore of {} did not say {needle:?}:\n{}", from.display(), out.describe());
    assert!(!data.exists(), "a refused restore left {} behind", data.display());
}

#[test]
fn tampered_backups_are_refused_and_nothing_is_restored() {
    let (_broker, tmp, good) = a_backup();
    let tmp = tmp.path();

    // A row of the database edited (an approver turned admin).
    let db_edited = copy_of(&good, tmp, "db-edited");
    proc::tool("sqlite3", &[db_edited.join("portcullis.db").to_str().unwrap(), "UPDATE users SET role = 'admin' WHERE username = 'acme-jdoe'"]);
    refused(&db_edited, tmp, "the backup's database (portcullis.db) does not match the manifest");

    // The vault key swapped for another.
    let key_swapped = copy_of(&good, tmp, "key-swapped");
    let vault = key_swapped.join("keys/vault.key");
    std::fs::remove_file(&vault).unwrap();
    std::fs::write(&vault, [7u8; 32]).unwrap();
    std::fs::set_permissions(&vault, std::fs::Permissions::from_mode(0o600)).unwrap();
    refused(&key_swapped, tmp, "the backup's vault key (keys/vault.key) does not match the manifest");

    // The manifest changed to match an edited database: its signature no longer verifies.
    let manifest_edited = copy_of(&db_edited, tmp, "manifest-edited");
    let mut m = manifest(&manifest_edited);
    let new_hash = sha256(&manifest_edited.join("portcullis.db"));
    for f in m["files"].as_array_mut().unwrap() {
        if f["role"] == "database" {
            f["sha256"] = Value::from(new_hash.clone());
        }
    }
    std::fs::write(manifest_edited.join("manifest.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    refused(&manifest_edited, tmp, "the manifest's signature does not verify");

    // A manifest without its signature.
    let unsigned = copy_of(&good, tmp, "unsigned");
    std::fs::remove_file(unsigned.join("manifest.sig")).unwrap();
    refused(&unsigned, tmp, "cannot read manifest.sig");

    // The untouched backup still restores, and not into a folder that holds anything.
    let busy = tmp.join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), "mine").unwrap();
    let out = restore(&good, &busy);
    out.assert_failure();
    assert!(out.stderr_text().contains("is not empty"), "{}", out.describe());
    assert_eq!(std::fs::read_to_string(busy.join("notes.txt")).unwrap(), "mine");
    restore(&good, &tmp.join("fresh").join("data")).assert_success();
}

#[test]
fn a_backup_of_a_broken_log_does_not_restore() {
    let broker = Broker::init();
    broker.add_user("acme-jdoe", "approver", None, None);
    // Someone with the database file rewrites a row (past the append-only triggers).
    let db = broker.sqlite_path();
    proc::tool("sqlite3", &[db.to_str().unwrap(), "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'nobody' WHERE seq = 2"]);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    broker.cli_ok(&["backup", "--output", out.to_str().unwrap()]);
    refused(&out, tmp.path(), "the restored audit log does not verify");
}

#[test]
fn backup_refuses_a_folder_that_holds_anything() {
    let broker = Broker::init();
    let tmp = tempfile::tempdir().unwrap();
    let busy = tmp.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("old-backup.db"), "keep me").unwrap();
    let out = broker.cli(&["backup", "--output", busy.to_str().unwrap()]);
    out.assert_failure();
    assert!(out.stderr_text().contains("is not empty"), "{}", out.describe());
    assert_eq!(std::fs::read_to_string(busy.join("old-backup.db")).unwrap(), "keep me");
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);
    // An existing empty folder is fine, and made private.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o755)).unwrap();
    broker.cli_ok(&["backup", "--output", empty.to_str().unwrap()]);
    assert_eq!(mode(&empty), 0o700);
}

#[test]
fn a_database_from_a_newer_release_is_refused_at_start() {
    let broker = Broker::init();
    let db = broker.sqlite_path();
    proc::tool("sqlite3", &[db.to_str().unwrap(), "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'from the future', 1, x'00', 0)"]);
    let out = broker.cli(&["audit", "verify"]);
    out.assert_failure();
    let text = out.stderr_text();
    assert!(text.contains("migrated by a newer Portcullis (schema version 9999") && text.contains("downgrades are not supported"), "{}", out.describe());
    let mut serve = broker.command(&["serve"]);
    serve.env("PORTCULLIS_SSH_LISTEN", "127.0.0.1:0").env("PORTCULLIS_WEB_LISTEN", "127.0.0.1:0").env("PORTCULLIS_METRICS_LISTEN", "127.0.0.1:0");
    let served = proc::run(serve, CLI_TIMEOUT);
    served.assert_failure();
    assert!(served.all_text().contains("downgrades are not supported"), "{}", served.describe());
    // Nothing was changed: the future migration is still the newest.
    let newest = proc::tool("sqlite3", &[db.to_str().unwrap(), "SELECT MAX(version) FROM _sqlx_migrations"]);
    assert_eq!(newest.trim(), "9999");
}

#[test]
fn a_postgres_backup_prints_pg_dump_and_restores_from_pg_restore() {
    let db = TestDb::create();
    let broker = Broker::init_with_store(Some(db.url.clone()));
    broker.add_user("acme-jdoe", "approver", None, None);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    let taken = broker.cli_json(&["backup", "--output", out.to_str().unwrap(), "--json"]);
    // The database is not in the folder; the printed command dumps it there.
    assert!(!out.join("portcullis.db").exists());
    let pg_dump = taken["pg_dump"].as_str().unwrap_or_else(|| panic!("no pg_dump command: {taken}"));
    assert!(pg_dump.starts_with("pg_dump --format=custom "), "{pg_dump}");
    proc::tool("sh", &["-c", pg_dump]);
    let dump = out.join("portcullis.pgdump");
    assert!(dump.is_file(), "{pg_dump} wrote no {}", dump.display());

    // Without the restored database, restore says what to do.
    let root = tempfile::Builder::new().prefix("portcullis-restored-").tempdir().unwrap();
    let data = root.path().join("data");
    let out_no_url = restore(&out, &data);
    out_no_url.assert_failure();
    assert!(out_no_url.stderr_text().contains("--store-url"), "{}", out_no_url.describe());

    let target = TestDb::create();
    let mut load = Command::new("pg_restore");
    load.args(["--no-owner", "--exit-on-error", "--dbname", &target.url, dump.to_str().unwrap()]);
    proc::run(load, CLI_TIMEOUT).assert_success();
    let mut cmd = Command::new(portcullis_bin());
    cmd.arg("restore").arg("--from").arg(&out).arg("--data").arg(&data).args(["--store-url", &target.url, "--json"]).env_remove("PORTCULLIS_CONFIG").env_remove("PORTCULLIS_STORE_URL");
    proc::run(cmd, CLI_TIMEOUT).assert_success();
    let restored = Broker::adopt(root, broker.admin.clone());
    let mut verify = restored.command(&["audit", "verify"]);
    verify.env("PORTCULLIS_STORE_URL", &target.url);
    let verified = proc::run(verify, CLI_TIMEOUT);
    verified.assert_success();
    assert!(verified.stdout_text().contains("audit log intact"), "{}", verified.describe());
    assert_eq!(target.sql("SELECT kind FROM audit_log ORDER BY seq DESC LIMIT 1").trim(), "backup.restored");

    // A database that is not the one backed up (another broker's) is refused.
    let other = TestDb::create();
    let _stranger = Broker::init_with_store(Some(other.url.clone()));
    let mut cmd = Command::new(portcullis_bin());
    let data2 = tmp.path().join("restored-2");
    cmd.arg("restore").arg("--from").arg(&out).arg("--data").arg(&data2).args(["--store-url", &other.url]).env_remove("PORTCULLIS_CONFIG").env_remove("PORTCULLIS_STORE_URL");
    let wrong = proc::run(cmd, CLI_TIMEOUT);
    wrong.assert_failure();
    assert!(wrong.stderr_text().contains("does not hold the audit head the manifest names"), "{}", wrong.describe());
    assert!(!data2.exists());
}

#[test]
fn backups_taken_while_accounts_are_being_added_are_each_one_consistent_moment() {
    let broker = std::sync::Arc::new(Broker::init());
    let writer = {
        let broker = broker.clone();
        std::thread::spawn(move || {
            for i in 0..15 {
                broker.add_user(&format!("approver-{i}"), "approver", None, None);
            }
        })
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut heads = Vec::new();
    for n in 0..3 {
        let out = tmp.path().join(format!("b{n}"));
        let taken = broker.cli_json(&["backup", "--output", out.to_str().unwrap(), "--json"]);
        heads.push((out, taken["audit"].clone()));
    }
    writer.join().unwrap();
    let live = broker.audit();
    for (n, (out, head)) in heads.iter().enumerate() {
        // The snapshot's head is a row of the live log, with the same hash.
        let seq = number(&head["head_seq"]).unwrap();
        let row = live.iter().find(|r| number(&r["seq"]) == Some(seq)).unwrap_or_else(|| panic!("row {seq} not in the live log"));
        assert_eq!(row["hash"], head["head_hash"], "backup {n}: {head}");
        let done = restore(out, &tmp.path().join(format!("r{n}")));
        done.assert_success();
        let report: Value = serde_json::from_slice(&done.stdout).unwrap();
        assert_eq!(number(&report["audit_rows"]), Some(seq + 1), "backup {n}: the restored log is the snapshot plus backup.restored: {report}");
    }
}
