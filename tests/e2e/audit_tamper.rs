//! Tamper evidence of the audit log, from the point of view of an attacker with database
//! administrator rights: a plain UPDATE or DELETE of an audit row is refused by the
//! database itself; once the attacker drops those triggers and edits or deletes a row,
//! `portcullis audit verify` fails and names that row. An attacker who also holds the audit
//! key's host can cut the log's tail together with its checkpoints, which nothing on the host
//! can tell; the checkpoints `serve` sent to the SIEM can (`audit verify --witness`). On
//! SQLite and on PostgreSQL.

use crate::harness::broker::{number, Broker};
use crate::harness::pg::TestDb;
use crate::harness::proc::{self, Output};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// How the attacker talks to the database.
trait Db {
    /// Runs SQL; returns the outcome (the caller decides whether it must fail).
    fn exec(&self, sql: &str) -> Output;
    /// Drops the triggers that keep the audit table append-only.
    fn drop_guards(&self);
    /// Drops the triggers that keep the checkpoints table append-only.
    fn drop_checkpoint_guards(&self);
}

struct Sqlite(std::path::PathBuf);

impl Db for Sqlite {
    fn exec(&self, sql: &str) -> Output {
        let mut cmd = Command::new("sqlite3");
        cmd.args(["-bail", "-batch"]).arg(&self.0).arg(sql);
        proc::run(cmd, Duration::from_secs(60))
    }
    fn drop_guards(&self) {
        self.exec("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
            .assert_success();
    }
    fn drop_checkpoint_guards(&self) {
        self.exec("DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete;").assert_success();
    }
}

impl Db for TestDb {
    fn exec(&self, sql: &str) -> Output {
        self.try_sql(sql)
    }
    fn drop_guards(&self) {
        self.sql(
            "DROP TRIGGER audit_log_append_only ON audit_log; \
             DROP TRIGGER audit_log_no_truncate ON audit_log;",
        );
    }
    fn drop_checkpoint_guards(&self) {
        self.sql("DROP TRIGGER audit_checkpoints_append_only ON audit_checkpoints; DROP TRIGGER audit_checkpoints_no_truncate ON audit_checkpoints;");
    }
}

/// Makes some audit history and returns a row in the middle of it (never the last, whose
/// deletion only a checkpoint could reveal).
fn history(broker: &Broker) -> i64 {
    for name in ["carol", "dave", "erin", "frank"] {
        broker.add_user(name, "approver", None, None);
    }
    let verify = broker.cli_json(&["audit", "verify", "--json"]);
    assert_eq!(verify["ok"], true, "a fresh log does not verify: {verify}");
    let rows = broker.audit();
    assert!(rows.len() >= 4, "expected several audit rows, got {rows:?}");
    let mut seqs: Vec<i64> = rows
        .iter()
        .map(|r| r["seq"].as_i64().expect("numeric seq"))
        .collect();
    seqs.sort_unstable();
    seqs[seqs.len() / 2]
}

/// Checks that the database refuses changes to the audit table while its guards are there.
fn assert_guarded(db: &dyn Db, broker: &Broker, seq: i64, extra_refusals: &[&str]) {
    let update = format!("UPDATE audit_log SET actor = 'mallory' WHERE seq = {seq}");
    let delete = format!("DELETE FROM audit_log WHERE seq = {seq}");
    for sql in [update.as_str(), delete.as_str()]
        .iter()
        .chain(extra_refusals)
    {
        let out = db.exec(sql);
        assert!(
            !out.success(),
            "the database allowed `{sql}` on the audit log:\n{}",
            out.describe()
        );
    }
    let verify = broker.cli_json(&["audit", "verify", "--json"]);
    assert_eq!(
        verify["ok"], true,
        "a refused change still broke the log: {verify}"
    );
}

/// Runs `audit verify` both ways and checks that it fails naming row `seq`.
fn assert_verify_names(broker: &Broker, seq: i64) {
    let out = broker.cli(&["audit", "verify", "--json"]);
    assert!(
        !out.success(),
        "audit verify passed a tampered log:\n{}",
        out.describe()
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "audit verify --json printed no JSON ({e}):\n{}",
            out.describe()
        )
    });
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(
        number(&report["first_bad_seq"]),
        Some(seq as u64),
        "wrong row named: {report}"
    );
    assert!(
        !report["problem"].as_str().unwrap_or("").is_empty(),
        "no problem stated: {report}"
    );

    let out = broker.cli(&["audit", "verify"]);
    assert!(
        !out.success(),
        "audit verify passed a tampered log:\n{}",
        out.describe()
    );
    assert!(
        out.all_text().contains(&format!("row {seq}")),
        "text report does not name row {seq}:\n{}",
        out.describe()
    );
}

fn edited_row_is_caught(broker: &Broker, db: &dyn Db, extra_refusals: &[&str]) {
    let seq = history(broker);
    assert_guarded(db, broker, seq, extra_refusals);
    db.drop_guards();
    db.exec(&format!(
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = {seq}"
    ))
    .assert_success();
    assert_verify_names(broker, seq);
}

fn deleted_row_is_caught(broker: &Broker, db: &dyn Db, extra_refusals: &[&str]) {
    let seq = history(broker);
    assert_guarded(db, broker, seq, extra_refusals);
    db.drop_guards();
    db.exec(&format!("DELETE FROM audit_log WHERE seq = {seq}"))
        .assert_success();
    assert_verify_names(broker, seq);
}

#[test]
fn sqlite_edited_audit_row_is_caught() {
    let broker = Broker::init();
    let db = Sqlite(broker.sqlite_path());
    edited_row_is_caught(&broker, &db, &[]);
}

#[test]
fn sqlite_deleted_audit_row_is_caught() {
    let broker = Broker::init();
    let db = Sqlite(broker.sqlite_path());
    deleted_row_is_caught(&broker, &db, &[]);
}

#[test]
fn postgres_edited_audit_row_is_caught() {
    let db = TestDb::create();
    let broker = Broker::init_with_store(Some(db.url.clone()));
    edited_row_is_caught(&broker, &db, &["TRUNCATE audit_log"]);
}

#[test]
fn postgres_deleted_audit_row_is_caught() {
    let db = TestDb::create();
    let broker = Broker::init_with_store(Some(db.url.clone()));
    deleted_row_is_caught(&broker, &db, &["TRUNCATE audit_log"]);
}

/// The tail of the log is cut together with every checkpoint over it: alone, the log still
/// verifies (nothing on this host can tell); with the file the SIEM sink received (in
/// `format`), `audit verify --witness` catches the cut.
fn tail_cut_is_caught_from_the_siems_copy(mut broker: Broker, db: &dyn Db, format: &str) {
    let dir = tempfile::tempdir().unwrap();
    let siem = dir.path().join("siem.log");
    let mut config = std::fs::read_to_string(&broker.config).unwrap();
    config.push_str(&format!("\n[[export.sinks]]\nname = \"siem\"\nformat = \"{format}\"\ntarget = \"file://{}\"\n", siem.display()));
    std::fs::write(&broker.config, config).unwrap();
    broker.serve(&[]);
    history(&broker);
    let head = broker.audit().iter().filter_map(|r| r["seq"].as_i64()).max().unwrap();
    let witnessed = proc::poll_until("the SIEM's copy of the checkpoint of the head", Duration::from_secs(60), || {
        let text = std::fs::read_to_string(&siem).unwrap_or_default();
        let seqs: Vec<i64> = text.lines().filter_map(portcullis_core::export::format::checkpoint::parse_line).map(|c| c.seq).collect();
        seqs.contains(&head).then_some(seqs)
    });
    broker.stop();

    let cut = head - 3;
    db.drop_guards();
    db.exec(&format!("DELETE FROM audit_log WHERE seq > {cut}")).assert_success();
    db.drop_checkpoint_guards();
    db.exec(&format!("DELETE FROM audit_checkpoints WHERE seq > {cut}")).assert_success();
    let alone = broker.cli_json(&["audit", "verify", "--json"]);
    assert_eq!(alone["ok"], true, "the cut is visible without a witness after all: {alone}");

    let witness = siem.to_str().unwrap();
    let out = broker.cli(&["audit", "verify", "--witness", witness, "--json"]);
    assert!(!out.success(), "audit verify --witness passed a log cut after row {cut} (the SIEM holds checkpoints {witnessed:?}):\n{}", out.describe());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false, "{report}");
    assert!(!report["problem"].as_str().unwrap_or("").is_empty(), "no problem stated: {report}");
}

#[test]
fn sqlite_tail_cut_is_caught_from_the_siems_syslog_copy() {
    let broker = Broker::init();
    let db = Sqlite(broker.sqlite_path());
    tail_cut_is_caught_from_the_siems_copy(broker, &db, "syslog");
}

#[test]
fn postgres_tail_cut_is_caught_from_the_siems_cef_copy() {
    let db = TestDb::create();
    let broker = Broker::init_with_store(Some(db.url.clone()));
    tail_cut_is_caught_from_the_siems_copy(broker, &db, "cef");
}
