//! The second factor: wrong TOTP codes are refused and audited, a code's time step is
//! accepted only once, and repeated failures lock the account across connections until an
//! administrator unlocks it.

use crate::harness::scenario::{Setup, VENDOR};
use crate::harness::totp::{unix_now, STEP};
use crate::harness::vendor::Code;
use std::time::Duration;

const AUDIT_WAIT: Duration = Duration::from_secs(30);

/// Whether an audit row is about the vendor (as actor, subject or in its detail).
fn mentions_vendor(row: &serde_json::Value) -> bool {
    row.to_string().contains(VENDOR)
}

#[test]
fn wrong_code_is_refused_and_audited() {
    let s = Setup::new("pump-totp").start();
    let addr = s.broker.ssh_addr();

    let wrong = s.vendor.totp().wrong_code();
    let out = s
        .vendor
        .exec_with(addr, VENDOR, Code::Exactly(wrong), &[], "status");
    out.assert_failure();
    assert!(
        !s.vendor.prompts().is_empty(),
        "ssh was never asked for a code:\n{}",
        out.describe()
    );
    s.broker
        .wait_for_audit("auth.totp.failed", AUDIT_WAIT, mentions_vendor);
    assert!(
        s.broker
            .audit_of_kind("auth.login")
            .iter()
            .all(|r| !mentions_vendor(r)),
        "a login was recorded for a wrong code"
    );

    let out = s.vendor.exec(addr, VENDOR, &[], "status");
    out.assert_success();
    s.broker
        .wait_for_audit("auth.login", AUDIT_WAIT, mentions_vendor);
}

#[test]
fn replayed_code_is_refused_and_audited() {
    let s = Setup::new("pump-replay").start();
    let addr = s.broker.ssh_addr();
    // The next step is valid for the next 30 to 60 seconds: long enough for both attempts,
    // so the second can only fail because it is a replay.
    let step = unix_now() / STEP + 1;
    s.vendor.totp().mark_used(step);
    let code = s.vendor.totp().code_at_step(step);

    let out = s
        .vendor
        .exec_with(addr, VENDOR, Code::Exactly(code.clone()), &[], "status");
    out.assert_success();
    let out = s
        .vendor
        .exec_with(addr, VENDOR, Code::Exactly(code), &[], "status");
    out.assert_failure();
    s.broker
        .wait_for_audit("auth.totp.replayed", AUDIT_WAIT, mentions_vendor);
}

#[test]
fn five_failures_lock_the_account_until_unlocked() {
    let s = Setup::new("pump-lockout")
        .serve_env("PORTCULLIS_AUTH_MAX_FAILURES", "5")
        .serve_env("PORTCULLIS_AUTH_LOCKOUT", "15m")
        .start();
    let addr = s.broker.ssh_addr();

    for attempt in 1..=5 {
        let wrong = s.vendor.totp().wrong_code();
        let out = s
            .vendor
            .exec_with(addr, VENDOR, Code::Exactly(wrong), &[], "status");
        assert!(
            !out.success(),
            "wrong code accepted on attempt {attempt}:\n{}",
            out.describe()
        );
    }
    s.broker
        .wait_for_audit("auth.locked", AUDIT_WAIT, mentions_vendor);
    let failures = s.broker.audit_of_kind("auth.totp.failed");
    assert!(
        failures.iter().filter(|r| mentions_vendor(r)).count() >= 5,
        "{failures:?}"
    );

    // Locked: even the right code is refused, on a new connection.
    let out = s.vendor.exec(addr, VENDOR, &[], "status");
    out.assert_failure();

    s.broker.cli_ok(&["user", "unlock", VENDOR]);
    let out = s.vendor.exec(addr, VENDOR, &[], "status");
    out.assert_success();
}

/// The first factor: a key that is not enrolled never reaches the code prompt, and the
/// refusal is audited once per connection, however many keys the client offers.
#[test]
fn unenrolled_key_is_refused_before_the_code_and_audited_once() {
    let s = Setup::new("pump-key").start();
    let addr = s.broker.ssh_addr();
    let intruder = crate::harness::vendor::Vendor::new(VENDOR);
    let out = intruder.exec_with(addr, VENDOR, Code::Exactly("000000".into()), &[], "status");
    out.assert_failure();
    assert!(intruder.prompts().is_empty(), "a code was asked for an unenrolled key:\n{}", out.describe());
    let row = s.broker.wait_for_audit("auth.refused", AUDIT_WAIT, |r| r["detail"]["reason"] == "key-not-enrolled");
    assert!(mentions_vendor(&row), "{row}");
    let refusals = s.broker.audit_of_kind("auth.refused");
    assert_eq!(refusals.len(), 1, "one connection wrote several refusals: {refusals:?}");
    assert!(s.broker.audit_of_kind("auth.login").is_empty());
    // The enrolled key still works.
    s.lobby("status").assert_success();
}

/// Finding: sixteen plain `ssh` loops wrote 400 `auth.refused` rows in nine seconds. Per
/// source and minute, three refusals are written one by one now and the rest counted into one
/// row when the minute is over; the vendor is not kept out.
#[test]
fn refused_sign_ins_cannot_flood_the_log() {
    let s = Setup::new("pump-refusals").start();
    let addr = s.broker.ssh_addr();
    let intruder = crate::harness::vendor::Vendor::new(VENDOR);
    for _ in 0..12 {
        intruder.exec_with(addr, VENDOR, Code::Exactly("000000".into()), &[], "status").assert_failure();
    }
    let rows = s.broker.audit_of_kind("auth.refused");
    assert!(rows.len() <= 3, "{} refusal rows for 12 refused connections from one address: {rows:?}", rows.len());
    assert!(!rows.is_empty(), "no refusal was audited");
    s.lobby("status").assert_success();
}
