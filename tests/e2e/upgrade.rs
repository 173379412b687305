//! Upgrades: a data folder written by the previous release (`tests/fixtures/v0.9.0`, made by
//! `scripts/make-upgrade-fixture.sh` from commit 5958a81) is opened by this binary, which
//! takes its database through every migration added since; `audit verify` passes, the
//! accounts and the device read back as that release wrote them, and the log goes on. The
//! PostgreSQL variant loads the same release's plain SQL dump into a fresh database.

use crate::harness::broker::{portcullis_bin, CLI_TIMEOUT};
use crate::harness::pg::TestDb;
use crate::harness::proc::{self, Output};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/v0.9.0")
}

/// The newest migration this source tree carries (whatever has been added since).
fn newest_migration() -> i64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite");
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.split('_').next()?.parse::<i64>().ok())
        .max()
        .unwrap()
}

/// The fixture copied into a fresh folder, the secrets made private again (git keeps no
/// modes), with `keys` taken from `keys_from` when given.
fn copy_fixture(keys_from: Option<&Path>) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    proc::tool("cp", &["-r", fixture().to_str().unwrap(), data.to_str().unwrap()]);
    if let Some(keys) = keys_from {
        std::fs::remove_dir_all(data.join("keys")).unwrap();
        proc::tool("cp", &["-r", keys.to_str().unwrap(), data.join("keys").to_str().unwrap()]);
    }
    for rel in ["portcullis.toml", "keys/vault.key", "keys/audit_ed25519.pk8", "keys/web_token.key", "keys/ssh_host_ed25519", "tls/key.pem"] {
        std::fs::set_permissions(data.join(rel), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    (tmp, data)
}

/// `portcullis ARGS` on the copied folder, with the store at `url`.
fn cli(data: &Path, url: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(portcullis_bin());
    cmd.args(args).arg("--config").arg(data.join("portcullis.toml")).env("PORTCULLIS_STORE_URL", url);
    proc::run(cmd, CLI_TIMEOUT)
}

fn json(data: &Path, url: &str, args: &[&str]) -> Value {
    let out = cli(data, url, args);
    out.assert_success();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no JSON ({e}):\n{}", out.describe()))
}

/// What the previous release wrote reads back, the log verifies, and a new change chains on.
fn reads_back_and_goes_on(data: &Path, url: &str) {
    let report = json(data, url, &["audit", "verify", "--json"]);
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["rows"].as_i64().unwrap() >= 15, "{report}");
    let users = json(data, url, &["user", "list", "--json"]);
    let names: Vec<&str> = users.as_array().unwrap().iter().filter_map(|u| u["username"].as_str()).collect();
    for name in ["admin", "acme-jdoe", "alice", "bob", "carol"] {
        assert!(names.contains(&name), "{name} missing after the upgrade: {users}");
    }
    let vendor = json(data, url, &["user", "show", "acme-jdoe", "--json"]);
    // `--on 2031-12-31` meant through the end of that day.
    assert_eq!(vendor["expires_at"], "2032-01-01T00:00:00Z", "the vendor's end date did not survive: {vendor}");
    assert_eq!(vendor["ssh_key_count"], 2, "{vendor}");
    let device = json(data, url, &["device", "show", "pump-7", "--json"]);
    assert_eq!(device["zone"], "icu-east", "{device}");
    assert_eq!(device["criticality"], "high", "{device}");
    let kinds: Vec<String> = json(data, url, &["audit", "tail", "-n", "1000", "--json"]).as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap().to_owned()).collect();
    for kind in ["system.initialised", "user.key_added", "user.totp_reset", "device.edited", "device.credential_rotated", "device.enabled"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} not in the upgraded log: {kinds:?}");
    }
    // The chain goes on across the upgrade.
    cli(data, url, &["user", "add", "dave", "--role", "approver"]).assert_success();
    let after = json(data, url, &["audit", "verify", "--json"]);
    assert_eq!(after["ok"], true, "{after}");
    assert!(after["rows"].as_i64() > report["rows"].as_i64(), "{after}");
}

#[test]
fn a_sqlite_database_of_the_previous_release_is_migrated_forward_and_verifies() {
    let (_tmp, data) = copy_fixture(None);
    let db = data.join("portcullis.db");
    let version = |db: &Path| proc::tool("sqlite3", &[db.to_str().unwrap(), "SELECT MAX(version) FROM _sqlx_migrations"]).trim().parse::<i64>().unwrap();
    assert_eq!(version(&db), 9, "the fixture is not the previous release's schema");
    reads_back_and_goes_on(&data, &format!("sqlite://{}", db.display()));
    assert_eq!(version(&db), newest_migration(), "not every migration was applied");
}

#[test]
fn a_postgres_dump_of_the_previous_release_is_migrated_forward_and_verifies() {
    let dump = fixture().join("postgres/dump.sql");
    let db = TestDb::create();
    let mut load = Command::new("psql");
    load.args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url, "-f", dump.to_str().unwrap()]);
    proc::run(load, CLI_TIMEOUT).assert_success();
    assert_eq!(db.sql("SELECT MAX(version) FROM _sqlx_migrations").trim(), "9");
    let (_tmp, data) = copy_fixture(Some(&fixture().join("postgres/keys")));
    reads_back_and_goes_on(&data, &db.url);
    assert_eq!(db.sql("SELECT MAX(version) FROM _sqlx_migrations").trim(), newest_migration().to_string());
}
